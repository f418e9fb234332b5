//! How to reach Twilio's Messaging API, and the checks that run once when the client is
//! built.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use thiserror::Error;

/// Twilio's REST API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Everything a [`TwilioClient`](super::TwilioClient) needs.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// The API's base URL: [`DEFAULT_BASE_URL`], or an emulator's `http://` URL. A path
    /// in it is kept as a prefix of `/2010-04-01/…`.
    pub base_url: String,
    /// The account the messages are sent from (`AC…`); it is part of every path.
    pub account_sid: String,
    /// How the client authenticates.
    pub credentials: TwilioCredentials,
    /// Who the messages come from.
    pub sender: Sender,
    /// Where Twilio reports each message's status, such as
    /// `https://track.example/webhooks/sms`; each send adds its `message_id` to the
    /// query. None asks for no reports.
    pub status_callback: Option<String>,
    /// The longest one HTTP request may take, connecting included.
    pub request_timeout: Duration,
}

impl TwilioConfig {
    /// Twilio's endpoint and the default timeout, with no status callback.
    pub fn new(
        account_sid: impl Into<String>,
        credentials: TwilioCredentials,
        sender: Sender,
    ) -> TwilioConfig {
        TwilioConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            account_sid: account_sid.into(),
            credentials,
            sender,
            status_callback: None,
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// The HTTP Basic credentials of API calls.
#[derive(Clone)]
pub enum TwilioCredentials {
    /// The account SID as user and its auth token as password. The auth token also
    /// keys the webhooks' signatures.
    AuthToken(SecretString),
    /// An API key (`SK…`) and its secret, which can be revoked on their own; the
    /// account SID still names the account in the path.
    ApiKey {
        /// The key's SID.
        sid: String,
        /// The key's secret.
        secret: SecretString,
    },
}

impl fmt::Debug for TwilioCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secrets stay out of debug output and so out of logs.
        match self {
            TwilioCredentials::AuthToken(_) => f.write_str("AuthToken(<redacted>)"),
            TwilioCredentials::ApiKey { sid, .. } => f
                .debug_struct("ApiKey")
                .field("sid", sid)
                .finish_non_exhaustive(),
        }
    }
}

/// Who a message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A number (E.164) or alphanumeric sender id on the account: `From`.
    From(String),
    /// A Messaging Service (`MG…`), which picks a sender from its pool and handles
    /// opt-outs and sticky senders: `MessagingServiceSid`.
    MessagingService(String),
}

/// Why a Twilio client cannot be built from its configuration.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A required value is empty.
    #[error("the Twilio {0} is empty; set it to the value from the Twilio console")]
    Missing(&'static str),
    /// A URL that does not parse, or is not http(s).
    #[error("the Twilio {field} {url:?} is not usable: {problem}")]
    BadUrl {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An https URL in a build without TLS.
    #[error(
        "the Twilio {field} {url} is https, but this build has no TLS; build \
         tidings-channels with its rustls-tls feature"
    )]
    NoTls {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for Twilio: {0}")]
    Http(reqwest::Error),
}

/// Parses a configured URL, refusing what cannot carry API paths.
pub(crate) fn parse_url(field: &'static str, text: &str) -> Result<Url, BuildError> {
    let bad = |problem: &str| BuildError::BadUrl {
        field,
        url: text.to_string(),
        problem: problem.to_string(),
    };
    let url = Url::parse(text.trim()).map_err(|error| bad(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("give an http:// or https:// URL"));
    }
    // The status callback is a URL Twilio calls, not this client: TLS here only
    // matters for the API itself.
    if field == "base_url" && url.scheme() == "https" && !cfg!(feature = "rustls-tls") {
        return Err(BuildError::NoTls {
            field,
            url: text.to_string(),
        });
    }
    Ok(url)
}

/// `value` trimmed, or [`BuildError::Missing`] when nothing is left.
pub(crate) fn required(field: &'static str, value: &str) -> Result<String, BuildError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(BuildError::Missing(field));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_cannot_carry_api_paths_are_refused_by_field() {
        for text in [
            "",
            "not a url",
            "mailto:sms@example.com",
            "ftp://example.com/",
        ] {
            let error = parse_url("base_url", text).expect_err(text);
            assert!(error.to_string().contains("base_url"), "{error}");
        }
    }

    #[test]
    fn debug_output_leaves_secrets_out() {
        let token = TwilioCredentials::AuthToken(SecretString::from("s3cret-token"));
        let key = TwilioCredentials::ApiKey {
            sid: "SK123".into(),
            secret: SecretString::from("s3cret-key"),
        };
        let debug = format!("{token:?} {key:?}");
        assert!(debug.contains("SK123"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
