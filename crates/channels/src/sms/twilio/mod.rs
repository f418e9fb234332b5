//! Twilio's Programmable Messaging REST API: `POST /2010-04-01/Accounts/{AccountSid}/
//! Messages.json`, a form body, HTTP Basic auth, a JSON answer.
//!
//! One [`TwilioClient`] sends for one account from one sender. A send either succeeds,
//! with Twilio's message SID, or fails with a [`TwilioError`] sorted like
//! [`crate::rbm::RbmError`]: fall back to another channel, dead-letter, or retry later
//! (see [`crate::retry`]). The client never retries on its own.

mod config;
mod error;
pub mod signature;

use std::fmt;
use std::sync::Arc;

use domain::PhoneNumber;
use reqwest::header::HeaderMap;
use reqwest::{redirect, Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use config::{parse_url, required};
use error::{classify, transport};

pub use config::{BuildError, Sender, TwilioConfig, TwilioCredentials, DEFAULT_BASE_URL};
pub use error::{TwilioError, OPTED_OUT_CODE};
pub use signature::{sign, verify, SIGNATURE_HEADER};

use super::status_callback_url;

/// A client of one Twilio account's Messages API. Cheap to clone: clones share the HTTP
/// connections.
#[derive(Clone)]
pub struct TwilioClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
    messages_url: Url,
    /// The Basic auth user: the account SID or the API key SID.
    user: String,
    password: SecretString,
    sender: Sender,
    status_callback: Option<Url>,
}

/// What Twilio said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Twilio's id for the message (`SM…`), which its status callbacks carry as
    /// `MessageSid`.
    pub sid: String,
    /// Twilio's status for it, usually `queued` (or `accepted` through a Messaging
    /// Service).
    pub status: String,
    /// How many SMS parts Twilio bills, when it said.
    pub segments: Option<u32>,
}

/// The fields of Twilio's Message resource the client reads.
#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    #[serde(default)]
    status: String,
    /// A string of digits in Twilio's answers.
    num_segments: Option<String>,
}

impl TwilioClient {
    /// Builds a client; it makes no request until the first send.
    ///
    /// # Errors
    /// When the account SID, a credential or the sender is empty, a URL is unusable,
    /// or the HTTP client cannot be set up.
    pub fn new(config: TwilioConfig) -> Result<TwilioClient, BuildError> {
        let account_sid = required("account_sid", &config.account_sid)?;
        let messages_url = messages_url(&parse_url("base_url", &config.base_url)?, &account_sid);
        let (user, password) = match config.credentials {
            TwilioCredentials::AuthToken(token) => (account_sid, token),
            TwilioCredentials::ApiKey { sid, secret } => (required("API key SID", &sid)?, secret),
        };
        if password.expose_secret().is_empty() {
            return Err(BuildError::Missing("auth token or API key secret"));
        }
        let sender = match config.sender {
            Sender::From(from) => Sender::From(required("from number", &from)?),
            Sender::MessagingService(sid) => {
                Sender::MessagingService(required("messaging service SID", &sid)?)
            }
        };
        let status_callback = config
            .status_callback
            .map(|url| parse_url("status_callback", &url))
            .transpose()?;
        let http = Client::builder()
            .timeout(config.request_timeout)
            // Following a redirect would carry the credentials to wherever it points.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("tidings/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        let inner = Inner {
            http,
            messages_url,
            user,
            password,
            sender,
            status_callback,
        };
        Ok(TwilioClient {
            inner: Arc::new(inner),
        })
    }

    /// Sends `body` to `to` as Tidings' message `message_id`, whose status Twilio then
    /// reports to the status callback with `message_id` in its query.
    ///
    /// Twilio takes no idempotency key, so a retry after a timeout may send twice; see
    /// [`TwilioError::Retryable`].
    ///
    /// # Errors
    /// [`TwilioError::NotReachable`] for a number SMS cannot reach,
    /// [`TwilioError::OptedOut`] for a customer who texted STOP; otherwise as described
    /// on [`TwilioError`].
    #[tracing::instrument(name = "twilio send", skip_all, fields(message_id = %message_id))]
    pub async fn send(
        &self,
        to: &PhoneNumber,
        message_id: Uuid,
        body: &str,
    ) -> Result<Sent, TwilioError> {
        let form = self.form(to, message_id, body);
        let operation = "send";
        let response = self
            .inner
            .http
            .post(self.inner.messages_url.clone())
            .basic_auth(&self.inner.user, Some(self.inner.password.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport(operation, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let answer = response
            .bytes()
            .await
            .map_err(|e| transport(operation, e))?;
        tracing::debug!(status = status.as_u16(), "Twilio answered");
        read_answer(operation, status, &headers, &answer)
    }

    /// The form fields of a send.
    fn form(&self, to: &PhoneNumber, message_id: Uuid, body: &str) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", to.as_str().to_string()), ("Body", body.to_string())];
        form.push(match &self.inner.sender {
            Sender::From(from) => ("From", from.clone()),
            Sender::MessagingService(sid) => ("MessagingServiceSid", sid.clone()),
        });
        if let Some(callback) = &self.inner.status_callback {
            let url = status_callback_url(callback, message_id);
            form.push(("StatusCallback", url.to_string()));
        }
        form
    }
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("messages_url", &self.inner.messages_url.as_str())
            .field("user", &self.inner.user)
            .field("sender", &self.inner.sender)
            .finish_non_exhaustive()
    }
}

/// `{base}/2010-04-01/Accounts/{account_sid}/Messages.json`, each segment escaped.
fn messages_url(base: &Url, account_sid: &str) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    // The base was checked to be an http(s) URL, which always has a path to extend.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty()
            .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
    }
    url
}

/// A success's Message resource, or the error the answer means.
fn read_answer(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Sent, TwilioError> {
    if !status.is_success() {
        return Err(classify(operation, status, headers, body));
    }
    let resource: MessageResource =
        serde_json::from_slice(body).map_err(|error| TwilioError::UnexpectedResponse {
            operation,
            detail: error.to_string(),
        })?;
    Ok(Sent {
        sid: resource.sid,
        status: resource.status,
        segments: resource.num_segments.and_then(|n| n.trim().parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str) -> TwilioConfig {
        let token = TwilioCredentials::AuthToken(SecretString::from("token"));
        let mut config = TwilioConfig::new("AC123", token, Sender::From("+15005550006".into()));
        config.base_url = base_url.to_string();
        config
    }

    #[test]
    fn the_messages_url_keeps_the_base_path_and_escapes_the_sid() {
        let base = Url::parse("http://127.0.0.1:9/twilio/?x=1").expect("a URL");
        assert_eq!(
            messages_url(&base, "AC/../x").as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC%2F..%2Fx/Messages.json"
        );
    }

    #[test]
    fn a_client_needs_its_account_credentials_and_sender() {
        let mut missing_sid = config("http://127.0.0.1:9");
        missing_sid.account_sid = " ".into();
        let error = TwilioClient::new(missing_sid).expect_err("no account SID");
        assert!(error.to_string().contains("account_sid"), "{error}");

        let mut no_sender = config("http://127.0.0.1:9");
        no_sender.sender = Sender::MessagingService(String::new());
        assert!(TwilioClient::new(no_sender).is_err());

        let mut bad_callback = config("http://127.0.0.1:9");
        bad_callback.status_callback = Some("not a url".into());
        let error = TwilioClient::new(bad_callback).expect_err("a bad callback URL");
        assert!(error.to_string().contains("status_callback"), "{error}");
    }

    #[test]
    fn the_form_carries_the_sender_and_the_callback_with_the_message_id() {
        let mut config = config("http://127.0.0.1:9");
        config.sender = Sender::MessagingService("MG1".into());
        config.status_callback = Some("https://track.example/webhooks/sms".into());
        let client = TwilioClient::new(config).expect("a client");
        let to = PhoneNumber::parse("+16135550123", "US").expect("a number");
        let id = Uuid::nil();
        let form = client.form(&to, id, "Hi");
        let expected = [
            ("To", "+16135550123".to_string()),
            ("Body", "Hi".to_string()),
            ("MessagingServiceSid", "MG1".to_string()),
            (
                "StatusCallback",
                format!("https://track.example/webhooks/sms?message_id={id}"),
            ),
        ];
        assert_eq!(form, expected);
    }

    #[test]
    fn a_success_answer_gives_the_sid_status_and_segments() {
        let body = br#"{"sid": "SM1", "status": "queued", "num_segments": "2", "to": "+1"}"#;
        let sent = read_answer("send", StatusCode::CREATED, &HeaderMap::new(), body);
        let sent = sent.expect("a success");
        assert_eq!((sent.sid.as_str(), sent.status.as_str()), ("SM1", "queued"));
        assert_eq!(sent.segments, Some(2));
        let unreadable = read_answer("send", StatusCode::CREATED, &HeaderMap::new(), b"{}");
        assert!(matches!(
            unreadable,
            Err(TwilioError::UnexpectedResponse { .. })
        ));
    }
}
