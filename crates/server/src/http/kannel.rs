//! `GET|POST /webhooks/kannel`: delivery reports from a Kannel smsbox; and
//! `GET|POST /webhooks/kannel/inbound`: the texts customers send, from an smsbox
//! `sms-service` whose `get-url` points there.
//!
//! Kannel signs nothing, so both URLs carry a shared secret (`sms.dlr_secret`) in their
//! query, compared here in constant time. Once verified, the report or text is stored
//! (see [`crate::ingest::kannel`]) and processed from the store. Kannel calls with GET;
//! a POST is read the same way, from the query.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::Uri;
use axum::Json;
use channels::sms::kannel::{ANSWER_PARAM, SECRET_PARAM, STATUS_PARAM};
use channels::sms::MESSAGE_ID_PARAM;
use chrono::{DateTime, Utc};
use domain::PhoneNumber;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::webhooks::accept;
use super::AppState;
use crate::ingest::kannel::{self, Mo, Report};

/// The parameters the `sms-service`'s `get-url` passes, with Kannel's escape codes.
const MO_ID_PARAM: &str = "id";
const MO_FROM_PARAM: &str = "from";
const MO_TO_PARAM: &str = "to";
const MO_TEXT_PARAM: &str = "text";
const MO_SENT_AT_PARAM: &str = "ts";

/// `GET|POST /webhooks/kannel`.
#[tracing::instrument(name = "kannel webhook", skip_all, fields(topic, delivery_id))]
pub async fn webhook(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let params: Vec<(String, String)> = query_params(&uri);
    verify(&state, &params)?;

    let report = report(&params)?;
    store(&state, kannel::stored_body(&report, Utc::now())).await
}

/// `GET|POST /webhooks/kannel/inbound`: one text a customer sent, as smsbox's
/// `sms-service` passes it: `?id=%I&from=%p&to=%P&text=%a&ts=%T&secret=…`.
#[tracing::instrument(name = "kannel inbound", skip_all, fields(topic, delivery_id))]
pub async fn inbound(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Json<Value>> {
    let params: Vec<(String, String)> = query_params(&uri);
    verify(&state, &params)?;

    let mo = mo(&params, &state.config.default_region)?;
    store(&state, kannel::stored_mo_body(&mo, Utc::now())).await
}

/// Checks that a stored document parses, then stores it under its key, once.
async fn store(state: &AppState, stored: Vec<u8>) -> ApiResult<Json<Value>> {
    let key = kannel::key(&stored)?;
    let span = tracing::Span::current();
    span.record("topic", key.topic.as_str());
    span.record("delivery_id", key.delivery_id.as_str());
    kannel::parse(&stored)?;
    let body = Bytes::from(stored);
    accept(state, kannel::SOURCE, key.delivery_id, key.topic, body).await
}

/// Checks the query's secret against `sms.dlr_secret`, in constant time.
fn verify(state: &AppState, params: &[(String, String)]) -> ApiResult<()> {
    let expected = dlr_secret(state)?;
    let given = param(params, SECRET_PARAM).unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        return Ok(());
    }
    tracing::warn!("kannel webhook refused: the secret does not match");
    Err(ApiError::Unauthorized(format!(
        "the {SECRET_PARAM} parameter is missing or does not match sms.dlr_secret"
    )))
}

/// The text the verified query describes; the sender is read with `region` as the
/// default, since an SMSC may pass national numbers.
fn mo(params: &[(String, String)], region: &str) -> ApiResult<Mo> {
    let required = |name: &str| {
        param(params, name)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| ApiError::Unprocessable(format!("{name}: is required")))
    };
    let id = required(MO_ID_PARAM)?;
    if id.contains('%') || id.len() > 100 {
        return Err(ApiError::Unprocessable(format!(
            "{MO_ID_PARAM}: {id:?} is not a message id; set id=%I in the sms-service's get-url"
        )));
    }
    let from = required(MO_FROM_PARAM)?;
    let from = PhoneNumber::parse(from, region).map_err(|e| {
        ApiError::Unprocessable(format!(
            "{MO_FROM_PARAM}: {from:?} is not a phone number: {e}"
        ))
    })?;
    let sent_at = match param(params, MO_SENT_AT_PARAM).filter(|t| !t.is_empty()) {
        None => None,
        Some(ts) => Some(unix_time(ts)?),
    };
    Ok(Mo {
        id: id.to_string(),
        from,
        to: param(params, MO_TO_PARAM).map(str::to_string),
        text: param(params, MO_TEXT_PARAM).unwrap_or_default().to_string(),
        sent_at,
    })
}

fn unix_time(ts: &str) -> ApiResult<DateTime<Utc>> {
    ts.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| {
            ApiError::Unprocessable(format!(
                "{MO_SENT_AT_PARAM}: {ts:?} is not a Unix time; set ts=%T in the get-url"
            ))
        })
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

    #[test]
    fn an_mo_needs_an_id_and_a_sender_and_reads_national_numbers_in_the_region() {
        let query = "id=b00c8ee3&from=06+12+34+56+78&to=36111&text=Bonjour&ts=1796403181";
        let mo = mo(&params(query), "FR").unwrap();
        assert_eq!(mo.from.as_str(), "+33612345678");
        assert_eq!(mo.text, "Bonjour");
        assert_eq!(mo.to.as_deref(), Some("36111"));
        assert_eq!(mo.sent_at.unwrap().timestamp(), 1_796_403_181);

        let bad = |query: &str| super::mo(&params(query), "US").unwrap_err().to_string();
        assert!(bad("from=%2B16135550123&text=hi").contains("id: is required"));
        assert!(bad("id=%25I&from=%2B16135550123").contains("id=%I"));
        assert!(bad("id=1&text=hi").contains("from: is required"));
        assert!(bad("id=1&from=hello").contains("not a phone number"));
        assert!(bad("id=1&from=%2B16135550123&ts=%25T").contains("ts=%T"));
    }
}
