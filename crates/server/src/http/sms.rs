//! `POST /webhooks/sms`: Twilio's status callbacks and inbound messages.
//!
//! Twilio signs each request with `X-Twilio-Signature`, an HMAC of the URL it called
//! and the form's parameters keyed by the account's auth token. The URL is rebuilt from
//! `public_url` and the path and query as received, since behind a proxy the server
//! does not see the address Twilio called. Once verified, the form is stored (see
//! [`crate::ingest::sms`]) and processed from the store; the answer is an empty TwiML
//! document, which tells Twilio to send no reply.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use channels::sms::twilio::signature;
use channels::sms::MESSAGE_ID_PARAM;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::webhooks::{accept, header_str};
use super::AppState;
use crate::ingest::sms;

/// The answer to every accepted request: TwiML that does nothing.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// `POST /webhooks/sms`.
#[tracing::instrument(name = "sms webhook", skip_all, fields(topic, delivery_id))]
pub async fn webhook(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let token = auth_token(&state)?;
    check_form(&headers)?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let signature = header_str(&headers, "x-twilio-signature")
        .ok_or_else(|| ApiError::Unauthorized("the X-Twilio-Signature header is missing".into()))?;
    let url = signed_url(&state.config.public_url, &uri);
    if !signature::verify(token.expose_secret(), &url, &params, &signature) {
        tracing::warn!("sms webhook refused: the signature does not match");
        return Err(ApiError::Unauthorized(format!(
            "the X-Twilio-Signature does not match this request to {url} for the \
             configured sms.auth_token; check that public_url is the address Twilio calls"
        )));
    }

    let message_id = message_id(&uri)?;
    let stored = sms::stored_body(message_id.as_deref(), &params, Utc::now());
    let key = sms::key(&stored)?;
    let span = tracing::Span::current();
    span.record("topic", key.topic.as_str());
    span.record("delivery_id", key.delivery_id.as_str());
    sms::parse(&stored)?;
    let Json(stored) = accept(
        &state,
        sms::SOURCE,
        key.delivery_id,
        key.topic,
        Bytes::from(stored),
    )
    .await?;
    // Twilio reads nothing but TwiML, so whether this was new or a replay goes to the log.
    let outcome = stored["status"].as_str().unwrap_or_default();
    tracing::debug!(outcome, "sms webhook delivery stored");
    Ok(([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response())
}

fn auth_token(state: &AppState) -> ApiResult<&SecretString> {
    state.config.sms.auth_token.as_ref().ok_or_else(|| {
        tracing::warn!("sms webhook refused: no auth token configured");
        ApiError::Unauthorized(
            "the Twilio auth token (sms.auth_token) is not configured on this server, so \
             requests cannot be verified"
                .into(),
        )
    })
}

/// A 400 unless the body is a form, as Twilio sends it; a missing type is let through
/// to the signature check.
fn check_form(headers: &HeaderMap) -> ApiResult<()> {
    let Some(content_type) = header_str(headers, header::CONTENT_TYPE.as_str()) else {
        return Ok(());
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        code: "malformed_body",
        message: format!(
            "the body is {essence}; Twilio's webhooks are application/x-www-form-urlencoded"
        ),
    })
}

/// The URL Twilio called: the public base URL, then the path and query as received.
fn signed_url(public_url: &str, uri: &Uri) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path_and_query}", public_url.trim_end_matches('/'))
}

/// Tidings' message id from the status callback URL's query, when it has one.
fn message_id(uri: &Uri) -> ApiResult<Option<String>> {
    let query = uri.query().unwrap_or_default();
    let found = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == MESSAGE_ID_PARAM)
        .map(|(_, value)| value.into_owned());
    match found {
        Some(id) if Uuid::parse_str(&id).is_err() => Err(ApiError::Unprocessable(format!(
            "{MESSAGE_ID_PARAM}: {id:?} in the callback URL is not a message id (a UUID)"
        ))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_signed_url_is_the_public_url_with_the_path_and_raw_query() {
        let uri: Uri = "/webhooks/sms?message_id=abc&x=a%20b".parse().unwrap();
        assert_eq!(
            signed_url("https://track.example/", &uri),
            "https://track.example/webhooks/sms?message_id=abc&x=a%20b"
        );
    }

    #[test]
    fn the_message_id_must_be_a_uuid_when_present() {
        let id = "0190a6d2-0000-7000-8000-000000000001";
        let uri: Uri = format!("/webhooks/sms?message_id={id}").parse().unwrap();
        assert_eq!(message_id(&uri).unwrap().as_deref(), Some(id));
        let none: Uri = "/webhooks/sms".parse().unwrap();
        assert_eq!(message_id(&none).unwrap(), None);
        let bad: Uri = "/webhooks/sms?message_id=42".parse().unwrap();
        assert!(message_id(&bad)
            .unwrap_err()
            .to_string()
            .contains("message_id"));
    }

    #[test]
    fn only_forms_are_taken() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            check_form(&headers).is_ok()
        };
        assert!(with("application/x-www-form-urlencoded; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(check_form(&HeaderMap::new()).is_ok());
    }
}
