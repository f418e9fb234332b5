//! What a failed sendsms call means for the caller, decided from smsbox's answer.
//!
//! smsbox answers in plain text: `202 0: Accepted for delivery` (or `3: Queued for later
//! delivery`), `403 Authorization failed for sendsms`, `403 Number(s) has/have been
//! denied by white- and/or black-lists.`, `400` for a missing field, `503` when it
//! cannot reach bearerbox. The sorting follows [`crate::sms::TwilioError`].

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use thiserror::Error;

use super::Accepted;
use crate::retry::RetryableError;

/// Why a Kannel send failed, sorted by what the caller does next.
///
/// Kannel has no opt-out list of its own, so there is no `OptedOut` here: STOP replies
/// reach Tidings as inbound messages, if the operator routes them.
#[derive(Debug, Error)]
pub enum KannelError {
    /// Kannel's white- or black-list denies the number. Fall back to another channel.
    #[error("Kannel denies the number ({message}); fall back to another channel")]
    NotReachable {
        /// Kannel's answer.
        message: String,
    },

    /// smsbox refused the request itself (a 4xx other than 401/403, 408, 429): sending
    /// it again fails the same way. Dead-letter it.
    #[error("Kannel rejected the message (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// Kannel's answer.
        message: String,
    },

    /// A passing failure: a server error (smsbox cannot reach bearerbox), throttling, a
    /// timeout or a broken connection. Try again later. Kannel takes no idempotency key:
    /// after a timeout the message may have gone out, and a retry may send it twice.
    #[error("the Kannel call failed for now ({reason}); try again later")]
    Retryable {
        /// A `Retry-After`, when a proxy in front of smsbox sent one.
        retry_after: Option<Duration>,
        /// What failed, for the log.
        reason: String,
    },

    /// smsbox refused the username and password (or the sending IP).
    #[error(
        "Kannel refused the credentials (HTTP {status}: {message}); check sms.username \
         and sms.password against kannel.conf's sendsms-user and its allowed IPs"
    )]
    Unauthorized {
        /// The HTTP status code.
        status: u16,
        /// Kannel's answer.
        message: String,
    },

    /// An answer this client does not understand (a redirect). Treat as permanent and
    /// look at the log.
    #[error("Kannel's answer could not be understood: {detail}")]
    UnexpectedResponse {
        /// What was wrong with it.
        detail: String,
    },
}

impl KannelError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, KannelError::Retryable { .. })
    }

    /// How long to wait before trying again, when the answer said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            KannelError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl RetryableError for KannelError {
    fn is_retryable(&self) -> bool {
        KannelError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        KannelError::retry_after(self)
    }
}

/// Kannel's acceptance, or the error its answer means.
pub(super) fn read_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Accepted, KannelError> {
    let message = excerpt(body).unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("no explanation given")
            .to_string()
    });
    let code = status.as_u16();
    Err(match code {
        200..=299 => {
            return Ok(Accepted {
                status: code,
                answer: message,
            })
        }
        401 | 403 if is_list_denial(&message) => KannelError::NotReachable { message },
        401 | 403 => KannelError::Unauthorized {
            status: code,
            message,
        },
        408 | 429 | 500..=599 => KannelError::Retryable {
            retry_after: retry_after(headers),
            reason: format!("HTTP {code}: {message}"),
        },
        400..=499 => KannelError::Rejected {
            status: code,
            message,
        },
        _ => KannelError::UnexpectedResponse {
            detail: format!("HTTP {status}: {message}"),
        },
    })
}

/// Whether smsbox refused the number by its `white-list`/`black-list` settings.
fn is_list_denial(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("white-") || message.contains("black-list")
}

/// The start of the answer, enough to recognise it in a log. smsbox's answers are fixed
/// sentences that never quote the number.
fn excerpt(body: &[u8]) -> Option<String> {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_CHARS).collect())
}

/// `Retry-After` in seconds; smsbox sends none, but a proxy in front of it may.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// A request that got no answer (refused connection, timeout, reset). The URL, which
/// holds the password, is left out of the error.
pub(super) fn transport(error: reqwest::Error) -> KannelError {
    let error = error.without_url();
    let what = if error.is_connect() {
        "could not connect to smsbox"
    } else if error.is_timeout() {
        "timed out (the message may have been sent)"
    } else {
        "failed in transit (the message may have been sent)"
    };
    let mut reason = format!("{what}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    KannelError::Retryable {
        retry_after: None,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, body: &str) -> Result<Accepted, KannelError> {
        let status = StatusCode::from_u16(status).expect("a status");
        read_answer(status, &HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn accepted_and_queued_answers_are_successes() {
        let accepted = read(202, "0: Accepted for delivery\n").expect("accepted");
        assert_eq!(accepted.answer, "0: Accepted for delivery");
        assert_eq!(read(200, "Sent.").expect("sent").status, 200);
        assert!(read(202, "3: Queued for later delivery").is_ok());
    }

    #[test]
    fn refusals_are_sorted_like_twilios() {
        assert!(matches!(
            read(403, "Authorization failed for sendsms"),
            Err(KannelError::Unauthorized { status: 403, .. })
        ));
        assert!(matches!(
            read(
                403,
                "Number(s) has/have been denied by white- and/or black-lists."
            ),
            Err(KannelError::NotReachable { .. })
        ));
        assert!(matches!(
            read(400, "Missing receiver number, rejected"),
            Err(KannelError::Rejected { status: 400, .. })
        ));
        for status in [408, 429, 500, 503] {
            let error = read(status, "Sending failed.").expect_err("a failure");
            assert!(error.is_retryable(), "{status}: {error}");
        }
        assert!(matches!(
            read(302, ""),
            Err(KannelError::UnexpectedResponse { .. })
        ));
    }

    #[test]
    fn a_retry_after_from_a_proxy_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().expect("a header value"));
        let error =
            read_answer(StatusCode::SERVICE_UNAVAILABLE, &headers, b"").expect_err("a failure");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(error.to_string().contains("Service Unavailable"), "{error}");
    }
}
