//! `GET|POST /webhooks/kannel`: delivery reports from a Kannel smsbox.
//!
//! Kannel signs nothing, so the DLR URL the client gives it carries a shared secret
//! (`sms.dlr_secret`) in its query, compared here in constant time. Once verified, the
//! report is stored (see [`crate::ingest::kannel`]) and processed from the store.
//! Kannel calls with GET; a POST is read the same way, from the query.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::Uri;
use axum::Json;
use channels::sms::kannel::{ANSWER_PARAM, SECRET_PARAM, STATUS_PARAM};
use channels::sms::MESSAGE_ID_PARAM;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::webhooks::accept;
use super::AppState;
use crate::ingest::kannel::{self, Report};

/// `GET|POST /webhooks/kannel`.
#[tracing::instrument(name = "kannel webhook", skip_all, fields(topic, delivery_id))]
pub async fn webhook(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let expected = dlr_secret(&state)?;
    let params: Vec<(String, String)> = query_params(&uri);
    let given = param(&params, SECRET_PARAM).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        tracing::warn!("kannel webhook refused: the secret does not match");
        return Err(ApiError::Unauthorized(format!(
            "the {SECRET_PARAM} parameter is missing or does not match sms.dlr_secret"
        )));
    }

    let report = report(&params)?;
    let stored = kannel::stored_body(&report, Utc::now());
    let key = kannel::key(&stored)?;
    let span = tracing::Span::current();
    span.record("topic", key.topic.as_str());
    span.record("delivery_id", key.delivery_id.as_str());
    kannel::parse(&stored)?;
    accept(
        &state,
        kannel::SOURCE,
        key.delivery_id,
        key.topic,
        Bytes::from(stored),
    )
    .await
}

fn dlr_secret(state: &AppState) -> ApiResult<&SecretString> {
    state
        .config
        .sms
        .dlr_secret
        .as_ref()
        .filter(|secret| !secret.expose_secret().is_empty())
        .ok_or_else(|| {
            tracing::warn!("kannel webhook refused: no DLR secret configured");
            ApiError::Unauthorized(
                "the Kannel DLR secret (sms.dlr_secret) is not configured on this server, \
                 so reports cannot be verified"
                    .into(),
            )
        })
}

fn query_params(uri: &Uri) -> Vec<(String, String)> {
    let query = uri.query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The report the verified query describes.
fn report(params: &[(String, String)]) -> ApiResult<Report> {
    let message_id = param(params, MESSAGE_ID_PARAM)
        .ok_or_else(|| ApiError::Unprocessable(format!("{MESSAGE_ID_PARAM}: is required")))?;
    if Uuid::parse_str(message_id).is_err() {
        return Err(ApiError::Unprocessable(format!(
            "{MESSAGE_ID_PARAM}: {message_id:?} is not a message id (a UUID)"
        )));
    }
    let status = param(params, STATUS_PARAM)
        .ok_or_else(|| ApiError::Unprocessable(format!("{STATUS_PARAM}: is required")))?;
    let status = status.trim().parse().map_err(|_| {
        ApiError::Unprocessable(format!(
            "{STATUS_PARAM}: {status:?} is not a Kannel report type (a number)"
        ))
    })?;
    let answer = param(params, ANSWER_PARAM)
        .filter(|answer| !answer.is_empty())
        .map(str::to_string);
    Ok(Report {
        message_id: message_id.to_string(),
        status,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Vec<(String, String)> {
        let uri: Uri = format!("/webhooks/kannel?{query}").parse().unwrap();
        query_params(&uri)
    }

    #[test]
    fn a_report_needs_a_uuid_and_a_numeric_status() {
        let id = "0190a6d2-0000-7000-8000-000000000001";
        let report = report(&params(&format!(
            "message_id={id}&status=1&answer=id%3A1+stat%3ADELIVRD&secret=s"
        )))
        .unwrap();
        assert_eq!(report.status, 1);
        assert_eq!(report.answer.as_deref(), Some("id:1 stat:DELIVRD"));

        let bad = |query: &str| super::report(&params(query)).unwrap_err().to_string();
        assert!(bad("status=1").contains("message_id"));
        assert!(bad("message_id=42&status=1").contains("UUID"));
        assert!(bad(&format!("message_id={id}")).contains("status"));
        assert!(bad(&format!("message_id={id}&status=%25d")).contains("status"));
    }
}
