//! What a failed RBM call means for the caller, decided from Google's answer.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use thiserror::Error;

use crate::retry::RetryableError;

/// Why an RBM call failed, sorted by what the caller does next.
///
/// Messages never contain the phone number: they are safe to log.
#[derive(Debug, Error)]
pub enum RbmError {
    /// Google cannot reach this phone over RCS (404): no RCS, RCS turned off, or a carrier
    /// where the agent has not launched. Fall back to another channel.
    #[error("the phone cannot be reached over RCS now; fall back to another channel")]
    NotReachable,

    /// Google refused the request itself (400, or another 4xx with no rule of its own):
    /// sending it again fails the same way. Dead-letter it with Google's text.
    #[error("Google rejected the request (HTTP {code} {status}): {message}")]
    Rejected {
        /// The HTTP status code.
        code: u16,
        /// Google's status name, such as `INVALID_ARGUMENT`.
        status: String,
        /// Google's explanation.
        message: String,
    },

    /// A passing failure: throttling (429), a server error (5xx), a timeout or a broken
    /// connection. Try again later, and not before `retry_after` when Google gave one.
    #[error("the RBM call failed for now ({reason}); try again later")]
    Retryable {
        /// Google's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What failed, for the log.
        reason: String,
    },

    /// Google refused the service account's credentials even with a fresh token, or the
    /// token endpoint refused the service account.
    #[error(
        "Google refused the service account ({message}); check that the key is current and \
         not disabled in the Google Cloud console"
    )]
    Unauthorized {
        /// What Google or the token endpoint said.
        message: String,
    },

    /// The service account may not act for this agent (403).
    #[error(
        "Google forbids this call ({message}); check the agent id and that the service \
         account belongs to the agent's partner account"
    )]
    Forbidden {
        /// Google's explanation.
        message: String,
    },

    /// More numbers than `users:batchGet` takes in one call; nothing was sent.
    #[error("users:batchGet takes at most {max} numbers; split these {count} into several calls")]
    BatchTooLarge {
        /// The numbers asked for.
        count: usize,
        /// The most one call takes.
        max: usize,
    },

    /// The message body could not be written as JSON; nothing was sent.
    #[error("the request body cannot be written as JSON: {0}")]
    Encode(serde_json::Error),

    /// Google answered in a way this client does not understand (an unreadable success
    /// body, a redirect). Treat as permanent and look at the log.
    #[error("Google's answer to {operation} could not be understood: {detail}")]
    UnexpectedResponse {
        /// The call that got the answer.
        operation: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl RbmError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RbmError::Retryable { .. })
    }

    /// How long Google asked us to wait before trying again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RbmError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl RetryableError for RbmError {
    fn is_retryable(&self) -> bool {
        RbmError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        RbmError::retry_after(self)
    }
}

/// Google's JSON error model: `{"error": {"code", "message", "status", "details"?}}`.
#[derive(Debug, Default, Deserialize)]
struct GoogleErrorBody {
    error: GoogleError,
}

#[derive(Debug, Default, Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

/// Sorts a non-success answer from the RBM API into what the caller does next.
pub(crate) fn classify(
    operation: &'static str,
    code: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> RbmError {
    let error = google_error(code, body);
    match code.as_u16() {
        401 => RbmError::Unauthorized {
            message: error.message,
        },
        403 => RbmError::Forbidden {
            message: error.message,
        },
        404 => RbmError::NotReachable,
        // 408 is the server giving up on a slow request: as passing as a 5xx.
        408 | 429 | 500..=599 => RbmError::Retryable {
            retry_after: retry_after(headers, SystemTime::now()),
            reason: format!("HTTP {} {}: {}", code.as_u16(), error.status, error.message),
        },
        400..=499 => RbmError::Rejected {
            code: code.as_u16(),
            status: error.status,
            message: error.message,
        },
        _ => RbmError::UnexpectedResponse {
            operation,
            detail: format!("HTTP {code}"),
        },
    }
}

/// Google's error, or a stand-in built from the status line when the body is not
/// Google's JSON (a proxy's or load balancer's page).
fn google_error(code: StatusCode, body: &[u8]) -> GoogleError {
    let parsed = serde_json::from_slice::<GoogleErrorBody>(body).map(|body| body.error);
    let mut error = parsed.unwrap_or_default();
    if error.status.is_empty() {
        error.status = code
            .canonical_reason()
            .unwrap_or("unknown status")
            .to_string();
    }
    if error.message.is_empty() {
        error.message = excerpt(body);
    }
    error
}

/// The start of a body that is not Google's JSON, enough to recognise it in a log.
fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no explanation given".to_string();
    }
    text.chars().take(MAX_CHARS).collect()
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

/// A request that got no answer (refused connection, timeout, reset) can pass: the
/// operations are safe to repeat, sends and events because Google ignores a reused id.
pub(crate) fn transport(operation: &'static str, error: reqwest::Error) -> RbmError {
    // The URL holds the phone number, which must stay out of error messages and logs.
    let error = error.without_url();
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed in transit"
    };
    RbmError::Retryable {
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

    fn google_body(code: u16, status: &str, message: &str) -> Vec<u8> {
        let body =
            serde_json::json!({"error": {"code": code, "message": message, "status": status}});
        body.to_string().into_bytes()
    }

    fn classify_plain(code: u16, body: &[u8]) -> RbmError {
        let code = StatusCode::from_u16(code).expect("a valid status code");
        classify("send", code, &HeaderMap::new(), body)
    }

    #[test]
    fn a_404_means_the_phone_is_not_reachable() {
        let body = google_body(
            404,
            "NOT_FOUND",
            "The specified phone number cannot be reached by RBM at this time.",
        );
        assert!(matches!(classify_plain(404, &body), RbmError::NotReachable));
    }

    #[test]
    fn a_400_is_rejected_with_googles_status_and_message() {
        let body = google_body(
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'agent_message.text'",
        );
        match classify_plain(400, &body) {
            RbmError::Rejected {
                code,
                status,
                message,
            } => {
                assert_eq!(code, 400);
                assert_eq!(status, "INVALID_ARGUMENT");
                assert_eq!(message, "Invalid value at 'agent_message.text'");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn other_client_errors_are_rejected_too() {
        let body = google_body(409, "ALREADY_EXISTS", "exists");
        assert!(matches!(
            classify_plain(409, &body),
            RbmError::Rejected { code: 409, .. }
        ));
    }

    #[test]
    fn auth_failures_keep_googles_message() {
        let body = google_body(403, "PERMISSION_DENIED", "Agent not owned by partner");
        match classify_plain(403, &body) {
            RbmError::Forbidden { message } => assert_eq!(message, "Agent not owned by partner"),
            other => panic!("expected Forbidden, got {other:?}"),
        }
        assert!(matches!(
            classify_plain(401, b""),
            RbmError::Unauthorized { .. }
        ));
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for code in [408, 429, 500, 502, 503, 504] {
            let error = classify_plain(code, b"");
            assert!(error.is_retryable(), "{code} should be retryable");
        }
        for code in [400, 401, 403, 404, 409] {
            assert!(
                !classify_plain(code, b"").is_retryable(),
                "{code} is permanent"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_googles_json_still_explains_itself() {
        let body = b"<html><body>502 Bad Gateway</body></html>";
        match classify_plain(502, body) {
            RbmError::Retryable { reason, .. } => {
                assert!(reason.contains("Bad Gateway"), "{reason}");
                assert!(reason.contains("HTTP 502"), "{reason}");
            }
            other => panic!("expected Retryable, got {other:?}"),
        }
        match classify_plain(400, b"") {
            RbmError::Rejected {
                status, message, ..
            } => {
                assert_eq!(status, "Bad Request");
                assert_eq!(message, "no explanation given");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn a_redirect_is_unexpected() {
        assert!(matches!(
            classify_plain(302, b""),
            RbmError::UnexpectedResponse {
                operation: "send",
                ..
            }
        ));
    }

    fn headers_with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(value).expect("a valid header value");
        headers.insert(RETRY_AFTER, value);
        headers
    }

    #[test]
    fn retry_after_reads_seconds() {
        let headers = headers_with_retry_after(" 2 ");
        let wait = retry_after(&headers, SystemTime::now());
        assert_eq!(wait, Some(Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_reads_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("a date");
        let headers = headers_with_retry_after("Sun, 06 Nov 1994 08:50:07 GMT");
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        // A date in the past means no wait at all.
        let headers = headers_with_retry_after("Sun, 06 Nov 1994 08:00:00 GMT");
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_ignores_what_it_cannot_read() {
        for value in ["soon", "-3", "1.5", ""] {
            let headers = headers_with_retry_after(value);
            assert_eq!(retry_after(&headers, SystemTime::now()), None, "{value:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), SystemTime::now()), None);
    }

    #[test]
    fn a_429_carries_its_retry_after() {
        let headers = headers_with_retry_after("7");
        let error = classify("send", StatusCode::TOO_MANY_REQUESTS, &headers, b"");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }
}
