//! What a failed Twilio call means for the caller, decided from Twilio's answer.
//!
//! The sorting follows [`crate::rbm::RbmError`] so that a dispatcher treats every channel
//! alike; Twilio's own error code (<https://www.twilio.com/docs/api/errors>) decides
//! where the HTTP status alone would not.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use thiserror::Error;

use crate::retry::RetryableError;

/// Twilio's codes for a `To` number SMS cannot reach: 21211 "Invalid 'To' Phone
/// Number", 21612 "The 'To' phone number is not currently reachable via SMS", 21614
/// "'To' number is not a valid mobile number" (a landline).
const UNREACHABLE_CODES: [u32; 3] = [21211, 21612, 21614];

/// Twilio's code for a recipient who texted STOP to the sender.
pub const OPTED_OUT_CODE: u32 = 21610;

/// Why a Twilio call failed, sorted by what the caller does next.
///
/// Messages never contain the phone number (Twilio's own are scrubbed of it): they are
/// safe to log.
#[derive(Debug, Error)]
pub enum TwilioError {
    /// SMS cannot reach the number: invalid, not a mobile, or not routable now. Fall
    /// back to another channel.
    #[error(
        "the number cannot be reached by SMS (Twilio {code}: {message}); fall back to \
             another channel"
    )]
    NotReachable {
        /// Twilio's error code.
        code: u32,
        /// Twilio's explanation.
        message: String,
    },

    /// The customer texted STOP to this sender (Twilio 21610): Twilio refuses every
    /// message until they text START. Record the opt-out and do not retry.
    #[error(
        "the customer has opted out of SMS from this sender (Twilio 21610); they must \
             text START to opt back in"
    )]
    OptedOut,

    /// Twilio refused the request itself (400, or another 4xx with no rule of its own):
    /// sending it again fails the same way. Dead-letter it with Twilio's code.
    #[error("Twilio rejected the message (HTTP {status}, code {}): {message}{}",
        code.map_or_else(|| "none".to_string(), |c| c.to_string()),
        more_info.as_deref().map(|m| format!(" (see {m})")).unwrap_or_default())]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// Twilio's error code, such as 21408 (region not enabled), when it gave one.
        code: Option<u32>,
        /// Twilio's explanation.
        message: String,
        /// The page Twilio points to for the code.
        more_info: Option<String>,
    },

    /// A passing failure: throttling (429), a server error (5xx), a timeout or a broken
    /// connection. Try again later, and not before `retry_after` when Twilio gave one.
    /// Twilio takes no idempotency key: after a timeout the message may have gone out,
    /// and a retry may send it twice.
    #[error("the Twilio call failed for now ({reason}); try again later")]
    Retryable {
        /// Twilio's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What failed, for the log.
        reason: String,
    },

    /// Twilio refused the credentials (401), or they may not do this (403).
    #[error(
        "Twilio refused the credentials (HTTP {status}: {message}); check sms.account_sid \
             and sms.auth_token, or the API key and secret"
    )]
    Unauthorized {
        /// The HTTP status code.
        status: u16,
        /// Twilio's explanation.
        message: String,
    },

    /// Twilio answered in a way this client does not understand (an unreadable success
    /// body, a redirect). Treat as permanent and look at the log.
    #[error("Twilio's answer to {operation} could not be understood: {detail}")]
    UnexpectedResponse {
        /// The call that got the answer.
        operation: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl TwilioError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TwilioError::Retryable { .. })
    }

    /// How long Twilio asked us to wait before trying again, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TwilioError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Twilio's error code, when the answer carried one.
    pub fn code(&self) -> Option<u32> {
        match self {
            TwilioError::NotReachable { code, .. } => Some(*code),
            TwilioError::OptedOut => Some(OPTED_OUT_CODE),
            TwilioError::Rejected { code, .. } => *code,
            _ => None,
        }
    }
}

impl RetryableError for TwilioError {
    fn is_retryable(&self) -> bool {
        TwilioError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        TwilioError::retry_after(self)
    }
}

/// Twilio's JSON error: `{"code", "message", "more_info", "status"}`.
#[derive(Debug, Default, Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    #[serde(default)]
    message: String,
    more_info: Option<String>,
}

/// Sorts a non-success answer from Twilio into what the caller does next.
pub(crate) fn classify(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> TwilioError {
    let error = twilio_error(status, body);
    let code = status.as_u16();
    match (code, error.code) {
        (_, Some(OPTED_OUT_CODE)) => TwilioError::OptedOut,
        (400..=499, Some(twilio)) if UNREACHABLE_CODES.contains(&twilio) => {
            TwilioError::NotReachable {
                code: twilio,
                message: error.message,
            }
        }
        (401 | 403, _) => TwilioError::Unauthorized {
            status: code,
            message: error.message,
        },
        // 408 is the server giving up on a slow request: as passing as a 5xx.
        (408 | 429 | 500..=599, _) => TwilioError::Retryable {
            retry_after: retry_after(headers, SystemTime::now()),
            reason: format!("HTTP {code}: {}", error.message),
        },
        (400..=499, _) => TwilioError::Rejected {
            status: code,
            code: error.code,
            message: error.message,
            more_info: error.more_info,
        },
        _ => TwilioError::UnexpectedResponse {
            operation,
            detail: format!("HTTP {status}"),
        },
    }
}

/// Twilio's error with its message scrubbed of phone numbers, or a stand-in built from
/// the status line when the body is not Twilio's JSON (a proxy's page).
fn twilio_error(status: StatusCode, body: &[u8]) -> TwilioErrorBody {
    let mut error = serde_json::from_slice::<TwilioErrorBody>(body).unwrap_or_default();
    if error.message.trim().is_empty() {
        error.message = excerpt(body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no explanation given")
                .to_string()
        });
    }
    error.message = scrub_numbers(&error.message);
    error
}

/// The start of a body that is not Twilio's JSON, enough to recognise it in a log.
fn excerpt(body: &[u8]) -> Option<String> {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_CHARS).collect())
}

/// `text` with every phone number in it (a run of seven or more digits, with the `+`,
/// spaces, dashes, dots and brackets between them) replaced by `<number>`: Twilio's
/// messages quote the `To` number, which must not reach logs. Error codes have five
/// digits and stay.
pub(crate) fn scrub_numbers(text: &str) -> String {
    const MIN_DIGITS: usize = 7;
    const SEPARATORS: &[char] = &[' ', '-', '(', ')', '.'];
    let flush = |run: &mut String, out: &mut String| {
        let number = run.trim_end_matches(SEPARATORS);
        if number.bytes().filter(u8::is_ascii_digit).count() >= MIN_DIGITS {
            let after = &run[number.len()..];
            out.push_str("<number>");
            out.push_str(after);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        let starts = c.is_ascii_digit() || c == '+';
        let continues = c.is_ascii_digit() || SEPARATORS.contains(&c);
        if (run.is_empty() && starts) || (!run.is_empty() && continues) {
            run.push(c);
            continue;
        }
        flush(&mut run, &mut out);
        if starts {
            run.push(c);
        } else {
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The `Retry-After` header as a wait from `now`: either delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    // A date already past means "now".
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A request that got no answer (refused connection, timeout, reset). It may pass; but
/// unless the connection was never made, Twilio may have taken the message already.
pub(crate) fn transport(operation: &'static str, error: reqwest::Error) -> TwilioError {
    let error = error.without_url();
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_timeout() {
        "timed out (the message may have been sent)"
    } else {
        "failed in transit (the message may have been sent)"
    };
    TwilioError::Retryable {
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

    fn twilio_body(code: u32, message: &str) -> Vec<u8> {
        let more_info = format!("https://www.twilio.com/docs/errors/{code}");
        let body = json!({"code": code, "message": message, "more_info": more_info,
            "status": 400});
        body.to_string().into_bytes()
    }

    fn classify_plain(status: u16, body: &[u8]) -> TwilioError {
        let status = StatusCode::from_u16(status).expect("a valid status code");
        classify("send", status, &HeaderMap::new(), body)
    }

    #[test]
    fn an_invalid_or_landline_number_is_not_reachable_and_its_digits_are_scrubbed() {
        for code in UNREACHABLE_CODES {
            let body = twilio_body(code, "The 'To' number +15005550001 is not a valid number.");
            match classify_plain(400, &body) {
                TwilioError::NotReachable { code: got, message } => {
                    assert_eq!(got, code);
                    assert_eq!(message, "The 'To' number <number> is not a valid number.");
                }
                other => panic!("expected NotReachable, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_opted_out_customer_is_its_own_case() {
        let body = twilio_body(21610, "Attempt to send to unsubscribed recipient");
        let error = classify_plain(400, &body);
        assert!(matches!(error, TwilioError::OptedOut));
        assert_eq!(error.code(), Some(21610));
        assert!(!error.is_retryable());
    }

    #[test]
    fn other_client_errors_are_rejected_with_twilios_code() {
        let body = twilio_body(21408, "Permission to send an SMS has not been enabled");
        let error = classify_plain(400, &body);
        match &error {
            TwilioError::Rejected {
                status,
                code,
                more_info,
                ..
            } => {
                assert_eq!((*status, *code), (400, Some(21408)));
                assert_eq!(
                    more_info.as_deref(),
                    Some("https://www.twilio.com/docs/errors/21408")
                );
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
        assert!(error.to_string().contains("code 21408"), "{error}");
    }

    #[test]
    fn refused_credentials_are_unauthorized() {
        let body = twilio_body(20003, "Authenticate");
        assert!(matches!(
            classify_plain(401, &body),
            TwilioError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            classify_plain(403, b""),
            TwilioError::Unauthorized { status: 403, .. }
        ));
    }

    #[test]
    fn throttling_and_server_errors_are_retryable_with_retry_after() {
        for status in [408, 429, 500, 502, 503] {
            assert!(classify_plain(status, b"").is_retryable(), "{status}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let body = twilio_body(20429, "Too Many Requests");
        let error = classify("send", StatusCode::TOO_MANY_REQUESTS, &headers, &body);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        let date = "Sun, 06 Nov 1994 08:50:07 GMT";
        headers.insert(RETRY_AFTER, HeaderValue::from_static(date));
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("a date");
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
    }

    #[test]
    fn a_body_that_is_not_twilios_json_still_explains_itself() {
        match classify_plain(502, b"<html>502 Bad Gateway</html>") {
            TwilioError::Retryable { reason, .. } => assert!(reason.contains("Bad Gateway")),
            other => panic!("expected Retryable, got {other:?}"),
        }
        assert!(matches!(
            classify_plain(302, b""),
            TwilioError::UnexpectedResponse { .. }
        ));
    }

    #[test]
    fn scrubbing_keeps_codes_and_short_numbers() {
        assert_eq!(
            scrub_numbers("Error 21211: +1 (613) 555-0123 and 6135550123. Tried 3 times"),
            "Error 21211: <number> and <number>. Tried 3 times"
        );
    }
}
