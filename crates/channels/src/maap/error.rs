//! What a failed MaaP call means for the caller, decided from the platform's answer.
//!
//! The sorting follows [`crate::rbm::RbmError`] so that a dispatcher treats both channels
//! alike: 404 falls back to another channel, other 4xx dead-letter with the platform's
//! reason, 408/429/5xx and broken connections retry (after `Retry-After` when given).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use thiserror::Error;

use crate::retry::RetryableError;

/// Why a MaaP call failed, sorted by what the caller does next.
///
/// Messages never contain the phone number: they are safe to log.
#[derive(Debug, Error)]
pub enum MaapError {
    /// The platform cannot reach this contact over RCS (404): no RCS, or not on this
    /// operator's network. Fall back to another channel.
    #[error("the contact cannot be reached over RCS now; fall back to another channel")]
    NotReachable,

    /// The platform refused the request itself (400, or another 4xx with no rule of its
    /// own): sending it again fails the same way. Dead-letter it with the reason.
    #[error("the MaaP platform rejected the request (HTTP {code}): {reason}")]
    Rejected {
        /// The HTTP status code.
        code: u16,
        /// The platform's explanation, as far as it gave one.
        reason: String,
    },

    /// A passing failure: throttling (429), a server error (5xx), a timeout or a broken
    /// connection. Try again later, and not before `retry_after` when the platform gave
    /// one.
    #[error("the MaaP call failed for now ({reason}); try again later")]
    Retryable {
        /// The platform's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What failed, for the log.
        reason: String,
    },

    /// The platform refused the bot's credentials: a static token it no longer accepts,
    /// a fresh OAuth token it refused too, or client credentials the token endpoint
    /// refused.
    #[error(
        "the MaaP platform refused the bot's credentials ({message}); check maap.client_id \
         and maap.client_secret, or replace maap.access_token"
    )]
    Unauthorized {
        /// What the platform or its token endpoint said.
        message: String,
    },

    /// The credentials are good but may not act for this bot (403).
    #[error(
        "the MaaP platform forbids this call ({message}); check maap.bot_id and that the \
         credentials belong to that bot"
    )]
    Forbidden {
        /// The platform's explanation.
        message: String,
    },

    /// The message holds something MaaP has no form for (a file uploaded to Google RBM);
    /// nothing was sent.
    #[error("the message cannot be sent over MaaP: {0}")]
    Unsupported(String),

    /// The request body could not be written as JSON; nothing was sent.
    #[error("the request body cannot be written as JSON: {0}")]
    Encode(serde_json::Error),

    /// The platform answered in a way this client does not understand (a redirect, an
    /// unreadable capability list). Treat as permanent and look at the log.
    #[error("the MaaP platform's answer to {operation} could not be understood: {detail}")]
    UnexpectedResponse {
        /// The call that got the answer.
        operation: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl MaapError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MaapError::Retryable { .. })
    }

    /// How long the platform asked us to wait before trying again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MaapError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl RetryableError for MaapError {
    fn is_retryable(&self) -> bool {
        MaapError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        MaapError::retry_after(self)
    }
}

/// Sorts a non-success answer from the platform into what the caller does next.
pub(crate) fn classify(
    operation: &'static str,
    code: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> MaapError {
    let reason = platform_reason(code, body);
    match code.as_u16() {
        401 => MaapError::Unauthorized { message: reason },
        403 => MaapError::Forbidden { message: reason },
        404 => MaapError::NotReachable,
        // 408 is the server giving up on a slow request: as passing as a 5xx.
        408 | 429 | 500..=599 => MaapError::Retryable {
            retry_after: retry_after(headers, SystemTime::now()),
            reason: format!("HTTP {}: {reason}", code.as_u16()),
        },
        400..=499 => MaapError::Rejected {
            code: code.as_u16(),
            reason,
        },
        _ => MaapError::UnexpectedResponse {
            operation,
            detail: format!("HTTP {code}"),
        },
    }
}

/// The platform's explanation of a failure, from whichever error shape it used.
///
/// FNW.11 does not pin one down, so the shapes platforms are seen to use are all read:
/// `{"error": {"message"}}`, `{"error": "...", "error_description"}`, the OMA
/// `{"requestError": {"serviceException"|"policyException": {"messageId", "text",
/// "variables"}}}`, and `{"message"}`. Anything else (a proxy's page) is quoted.
pub(crate) fn platform_reason(code: StatusCode, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let reason = parsed.as_ref().and_then(|value| {
        error_object(value)
            .or_else(|| oma_exception(value))
            .or_else(|| text_at(value, "message"))
    });
    match reason {
        Some(reason) => reason,
        None => excerpt(body).unwrap_or_else(|| {
            let name = code.canonical_reason().unwrap_or("unknown status");
            format!("{name}, no explanation given")
        }),
    }
}

/// `{"error": {"message", "status"?}}` or the OAuth form `{"error", "error_description"}`.
fn error_object(value: &Value) -> Option<String> {
    let error = value.get("error")?;
    if let Some(code) = error.as_str() {
        return Some(match text_at(value, "error_description") {
            Some(description) => format!("{code}: {description}"),
            None => code.to_string(),
        });
    }
    let message = text_at(error, "message")?;
    Some(match text_at(error, "status") {
        Some(status) => format!("{status}: {message}"),
        None => message,
    })
}

/// The OMA REST error: `SVC0002: Invalid input value for message part RCSMessage`, with
/// the `%1`, `%2`… placeholders filled from `variables`.
fn oma_exception(value: &Value) -> Option<String> {
    let request_error = value.get("requestError")?;
    let exception = request_error
        .get("serviceException")
        .or_else(|| request_error.get("policyException"))?;
    let mut text = text_at(exception, "text")?;
    let variables = exception["variables"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Backwards, so that %1 does not eat the start of %10.
    for (n, variable) in variables.iter().enumerate().rev() {
        let variable = variable.as_str().unwrap_or_default();
        text = text.replace(&format!("%{}", n + 1), variable);
    }
    Some(match text_at(exception, "messageId") {
        Some(id) => format!("{id}: {text}"),
        None => text,
    })
}

fn text_at(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)?
        .as_str()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

/// The start of a body that is no known error shape, enough to recognise it in a log.
fn excerpt(body: &[u8]) -> Option<String> {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_CHARS).collect())
}

/// The `Retry-After` header as a wait from `now`: either delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    // A date already past means "now".
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A request that got no answer (refused connection, timeout, reset) can pass. A send
/// repeated after one carries the same `msgId`, so a platform that keeps the chatbot's
/// id can drop the copy.
pub(crate) fn transport(operation: &'static str, error: reqwest::Error) -> MaapError {
    // The URL may hold the phone number (capability queries), which must stay out of
    // error messages and logs.
    let error = error.without_url();
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed in transit"
    };
    MaapError::Retryable {
        retry_after: None,
        reason: format!("{operation} {what}: {}", error_chain(&error)),
    }
}

/// An error and its causes on one line, since reqwest's own message names only the
/// outermost layer ("error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn classify_plain(code: u16, body: &[u8]) -> MaapError {
        let code = StatusCode::from_u16(code).expect("a valid status code");
        classify("send", code, &HeaderMap::new(), body)
    }

    fn reason_of(code: u16, body: Value) -> String {
        let code = StatusCode::from_u16(code).expect("a valid status code");
        platform_reason(code, body.to_string().as_bytes())
    }

    #[test]
    fn a_404_means_the_contact_is_not_reachable() {
        assert!(matches!(classify_plain(404, b""), MaapError::NotReachable));
    }

    #[test]
    fn a_400_is_rejected_with_the_platforms_reason() {
        let body = json!({"error": {"code": 400, "message": "textMessage too long"}});
        match classify_plain(400, body.to_string().as_bytes()) {
            MaapError::Rejected { code, reason } => {
                assert_eq!(code, 400);
                assert_eq!(reason, "textMessage too long");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert!(matches!(
            classify_plain(409, b""),
            MaapError::Rejected { code: 409, .. }
        ));
    }

    #[test]
    fn each_known_error_shape_gives_its_reason() {
        let google_like = json!({"error": {"message": "bad", "status": "INVALID_ARGUMENT"}});
        assert_eq!(reason_of(400, google_like), "INVALID_ARGUMENT: bad");
        let oauth = json!({"error": "invalid_client", "error_description": "unknown id"});
        assert_eq!(reason_of(401, oauth), "invalid_client: unknown id");
        let oma = json!({"requestError": {"serviceException": {
            "messageId": "SVC0002",
            "text": "Invalid input value for message part %1",
            "variables": ["RCSMessage.textMessage"]}}});
        assert_eq!(
            reason_of(400, oma),
            "SVC0002: Invalid input value for message part RCSMessage.textMessage"
        );
        let policy = json!({"requestError": {"policyException": {
            "messageId": "POL0001", "text": "A policy error occurred"}}});
        assert_eq!(reason_of(403, policy), "POL0001: A policy error occurred");
        assert_eq!(reason_of(400, json!({"message": "nope"})), "nope");
    }

    #[test]
    fn a_body_of_no_known_shape_still_explains_itself() {
        let code = StatusCode::BAD_GATEWAY;
        let page = b"<html><body>502 Bad Gateway</body></html>";
        assert!(platform_reason(code, page).contains("502 Bad Gateway"));
        assert_eq!(
            platform_reason(StatusCode::BAD_REQUEST, b"  "),
            "Bad Request, no explanation given"
        );
    }

    #[test]
    fn throttling_and_server_errors_are_retryable_and_the_rest_is_not() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(classify_plain(code, b"").is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!classify_plain(code, b"").is_retryable(), "{code}");
        }
        assert!(matches!(
            classify_plain(302, b""),
            MaapError::UnexpectedResponse { .. }
        ));
    }

    #[test]
    fn a_429_carries_its_retry_after_in_seconds_or_as_a_date() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let error = classify("send", StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));

        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("a date");
        let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT");
        headers.insert(RETRY_AFTER, date);
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
