//! The GSMA MaaP chatbot API (FNW.11, "RCS MaaP Chatbot API Specifications") of an
//! operator's or aggregator's chatbot platform.
//!
//! One [`MaapClient`] acts for one bot on one platform. Its surface parallels
//! [`crate::rbm::RbmClient`] so that a dispatcher can drive either: [`MaapClient::send`]
//! takes the same [`AgentMessage`] and Tidings' message UUID, and every failure is a
//! [`MaapError`] sorted like [`crate::rbm::RbmError`] (fall back, dead-letter, or retry
//! later with [`crate::retry`]). The client itself repeats a call only once, after a 401,
//! with a fresh OAuth token.
//!
//! Where MaaP differs from RBM:
//! - the message id travels in the body (`RCSMessage.msgId`). Tidings sends its own UUID
//!   there, so that the platform's status notifications name the message as Tidings
//!   knows it; a platform that assigns its own id anyway answers with it, and
//!   [`Sent::msg_id`] says so.
//! - revoking and read receipts both set a message's status
//!   (`PUT …/messages/{msgId}/status`).
//! - capabilities are RCS service tags ([`Capability`]), not RBM feature names.

mod auth;
mod body;
mod capabilities;
mod config;
mod error;

use std::fmt;
use std::sync::Arc;

use domain::rcs::AgentMessage;
use domain::PhoneNumber;
use reqwest::header::CONTENT_TYPE;
use reqwest::{redirect, Client, Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use auth::TokenSource;
use body::{MessageContact, RcsMessage, SendBody};
use capabilities::CapabilitiesBody;
use config::parse_url;
use error::{classify, transport};

pub use capabilities::{Capability, Reachability};
pub use config::{BuildError, ClientAuth, ClientCredentials, MaapAuth, MaapConfig};
pub use error::MaapError;

/// A client of one bot's MaaP chatbot API. Cheap to clone: clones share the HTTP
/// connections and the access token.
#[derive(Clone)]
pub struct MaapClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client,
    base_url: Url,
    bot_id: String,
    tokens: TokenSource,
}

/// What the platform said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The id the platform keeps the message under: Tidings' own UUID, unless the
    /// platform assigned another (its status notifications will then carry that one).
    pub msg_id: String,
    /// The platform's status for the message, usually `pending`, when it gave one.
    pub status: Option<String>,
}

/// What became of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The platform cancelled the message before delivery. A `delivered` notification
    /// may still arrive if delivery raced the cancellation.
    Revoked,
    /// The platform no longer holds the message (404): delivered, expired, or unknown.
    NotHeld,
}

/// The platform's answer to a send (`{"RCSMessage": {"msgId", "status"}}`).
#[derive(Deserialize)]
struct SendAnswer {
    #[serde(rename = "RCSMessage")]
    rcs_message: SendAnswerMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendAnswerMessage {
    msg_id: Option<String>,
    status: Option<String>,
}

/// One HTTP call to the API, kept so that it can be sent again after a 401.
struct Call {
    operation: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}

/// An answer, read whole: MaaP's answers are small.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl MaapClient {
    /// Builds a client; it makes no request until the first call.
    ///
    /// # Errors
    /// When the bot id or a credential is empty, a URL is unusable, or the HTTP client
    /// cannot be set up.
    pub fn new(config: MaapConfig) -> Result<MaapClient, BuildError> {
        let bot_id = config.bot_id.trim().to_string();
        if bot_id.is_empty() {
            return Err(BuildError::MissingBotId);
        }
        let base_url = parse_url("base_url", &config.base_url)?;
        let http = Client::builder()
            .timeout(config.request_timeout)
            // Following a redirect would carry the bearer token to wherever it points.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("tidings/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        let margin = config.token_refresh_margin;
        let tokens = token_source(http.clone(), config.auth, margin)?;
        let inner = Inner {
            http,
            base_url,
            bot_id,
            tokens,
        };
        Ok(MaapClient {
            inner: Arc::new(inner),
        })
    }

    /// The bot this client acts for.
    pub fn bot_id(&self) -> &str {
        &self.inner.bot_id
    }

    /// Sends `message` to `phone` under Tidings' `message_id` (`RCSMessage.msgId`).
    ///
    /// A retry after a timeout carries the same id, so a platform that keeps the
    /// chatbot's id can drop the copy; FNW.11 does not promise that it does.
    ///
    /// # Errors
    /// [`MaapError::Unsupported`] before any request when the message names a file
    /// uploaded to RBM; [`MaapError::NotReachable`] when the phone has no RCS on this
    /// platform; otherwise as described on [`MaapError`].
    #[tracing::instrument(
        name = "maap send",
        skip_all,
        fields(message_id = %message_id, bot_id = %self.inner.bot_id)
    )]
    pub async fn send(
        &self,
        phone: &PhoneNumber,
        message_id: Uuid,
        message: &AgentMessage,
    ) -> Result<Sent, MaapError> {
        let ours = message_id.to_string();
        let body = SendBody {
            message_contact: MessageContact {
                user_contact: phone.as_str(),
            },
            rcs_message: RcsMessage::from_agent_message(message, ours.clone())?,
        };
        let body = serde_json::to_vec(&body).map_err(MaapError::Encode)?;
        let answer = self
            .call(Call {
                operation: "send",
                method: Method::POST,
                url: self.url(&["messages"], &[]),
                body: Some(body),
            })
            .await?;
        Ok(sent(&answer, ours))
    }

    /// Cancels a message the platform has not delivered yet (status `cancelled`).
    ///
    /// # Errors
    /// As described on [`MaapError`]; a 404 is not an error but [`Revocation::NotHeld`].
    #[tracing::instrument(name = "maap revoke", skip_all, fields(message_id = %message_id))]
    pub async fn revoke(&self, message_id: Uuid) -> Result<Revocation, MaapError> {
        let msg_id = message_id.to_string();
        match self.set_status("revoke", &msg_id, "cancelled").await {
            Ok(()) => Ok(Revocation::Revoked),
            Err(MaapError::NotReachable) => Ok(Revocation::NotHeld),
            Err(error) => Err(error),
        }
    }

    /// Tells the customer their message was read (status `displayed`), by the `msgId`
    /// it arrived with.
    ///
    /// # Errors
    /// [`MaapError::NotReachable`] when the platform does not know the message (404);
    /// otherwise as described on [`MaapError`].
    #[tracing::instrument(name = "maap mark read", skip_all, fields(msg_id = %msg_id))]
    pub async fn mark_read(&self, msg_id: &str) -> Result<(), MaapError> {
        self.set_status("mark read", msg_id, "displayed").await
    }

    /// Asks the platform which RCS services `phone` supports.
    ///
    /// # Errors
    /// As described on [`MaapError`]; a 404 is not an error but
    /// [`Reachability::NotReachable`].
    #[tracing::instrument(
        name = "maap capabilities",
        skip_all,
        fields(bot_id = %self.inner.bot_id)
    )]
    pub async fn capabilities(&self, phone: &PhoneNumber) -> Result<Reachability, MaapError> {
        let query = [("userContact", phone.as_str())];
        let call = Call {
            operation: "capabilities",
            method: Method::GET,
            url: self.url(&["contactCapabilities"], &query),
            body: None,
        };
        let body = match self.call(call).await {
            Ok(body) => body,
            Err(MaapError::NotReachable) => return Ok(Reachability::NotReachable),
            Err(error) => return Err(error),
        };
        let parsed = serde_json::from_slice::<CapabilitiesBody>(&body).map_err(|error| {
            MaapError::UnexpectedResponse {
                operation: "capabilities",
                detail: error.to_string(),
            }
        })?;
        Ok(Reachability::Reachable {
            capabilities: parsed.capabilities,
        })
    }

    /// `PUT {base}/{bot}/messages/{msgId}/status` with `{"RCSMessage": {"status"}}`.
    async fn set_status(
        &self,
        operation: &'static str,
        msg_id: &str,
        status: &str,
    ) -> Result<(), MaapError> {
        let body = json!({"RCSMessage": {"status": status}});
        let body = serde_json::to_vec(&body).map_err(MaapError::Encode)?;
        self.call(Call {
            operation,
            method: Method::PUT,
            url: self.url(&["messages", msg_id, "status"], &[]),
            body: Some(body),
        })
        .await?;
        Ok(())
    }

    /// `{base}/{bot}/{segments…}?{query…}`, each segment escaped as one path segment.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base_url.clone();
        // The base was checked to be an http(s) URL, which always has a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .push(&self.inner.bot_id)
                .extend(segments);
        }
        if !query.is_empty() {
            // Form encoding writes the `+` of an E.164 number as %2B, as it must: a
            // bare `+` in a query reads as a space.
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Makes `call` with the current token, and once more with a new token if the
    /// platform answers 401 and the token is one that can be renewed; returns a
    /// success's body.
    async fn call(&self, call: Call) -> Result<Vec<u8>, MaapError> {
        let tokens = &self.inner.tokens;
        let bearer = tokens.bearer().await?;
        let mut reply = self.attempt(&call, &bearer).await?;
        if reply.status == StatusCode::UNAUTHORIZED && tokens.renewable() {
            tracing::warn!("the MaaP platform refused the access token; fetching a new one");
            let bearer = tokens.replace(&bearer).await?;
            reply = self.attempt(&call, &bearer).await?;
        }
        tracing::debug!(status = reply.status.as_u16(), "the MaaP platform answered");
        if reply.status.is_success() {
            return Ok(reply.body);
        }
        Err(classify(
            call.operation,
            reply.status,
            &reply.headers,
            &reply.body,
        ))
    }

    async fn attempt(&self, call: &Call, bearer: &SecretString) -> Result<Reply, MaapError> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(bearer.expose_secret());
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport(call.operation, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(call.operation, e))?;
        Ok(Reply {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

impl fmt::Debug for MaapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaapClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("bot_id", &self.inner.bot_id)
            .finish_non_exhaustive()
    }
}

/// The token source the configured credentials call for.
fn token_source(
    http: Client,
    auth: MaapAuth,
    refresh_margin: std::time::Duration,
) -> Result<TokenSource, BuildError> {
    match auth {
        MaapAuth::StaticBearer(token) => {
            if token.expose_secret().trim().is_empty() {
                return Err(BuildError::MissingCredential("access token"));
            }
            Ok(TokenSource::Static(token))
        }
        MaapAuth::ClientCredentials(credentials) => {
            let token_url = parse_url("token_url", &credentials.token_url)?;
            if credentials.client_id.trim().is_empty() {
                return Err(BuildError::MissingCredential("client id"));
            }
            Ok(TokenSource::fetched(
                http,
                token_url,
                credentials,
                refresh_margin,
            ))
        }
    }
}

/// What a send's answer says. The body is read leniently: the platform took the
/// message (2xx), and failing the send over an unreadable receipt would send it twice.
fn sent(answer: &[u8], ours: String) -> Sent {
    let message = serde_json::from_slice::<SendAnswer>(answer)
        .map(|answer| answer.rcs_message)
        .ok();
    let (theirs, status) = message.map_or((None, None), |m| (m.msg_id, m.status));
    let msg_id = match theirs {
        Some(theirs) if theirs != ours => {
            tracing::warn!(
                platform_msg_id = %theirs,
                "the MaaP platform gave the message its own id; its status notifications \
                 will not match Tidings' message id"
            );
            theirs
        }
        _ => ours,
    };
    Sent { msg_id, status }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_url: &str, bot_id: &str) -> Result<MaapClient, BuildError> {
        let auth = MaapAuth::StaticBearer(SecretString::from("token"));
        MaapClient::new(MaapConfig::new(base_url, bot_id, auth))
    }

    #[test]
    fn urls_put_the_bot_after_the_base_path_and_escape_each_segment() {
        let client = client("http://127.0.0.1:9/rcs/bot/v1/", "shop bot").expect("a client");
        let url = client.url(&["messages", "a/b", "status"], &[]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/rcs/bot/v1/shop%20bot/messages/a%2Fb/status"
        );
        let url = client.url(&["contactCapabilities"], &[("userContact", "+16136120707")]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/rcs/bot/v1/shop%20bot/contactCapabilities\
             ?userContact=%2B16136120707"
        );
    }

    #[test]
    fn a_client_needs_a_bot_id_and_credentials() {
        let error = client("http://127.0.0.1:9", "  ").expect_err("no bot id");
        assert!(matches!(error, BuildError::MissingBotId));
        let empty = MaapAuth::StaticBearer(SecretString::from(" "));
        let error = MaapClient::new(MaapConfig::new("http://127.0.0.1:9", "bot", empty))
            .expect_err("no token");
        assert!(error.to_string().contains("access token"), "{error}");
        let credentials = ClientCredentials::new("nope", "bot", SecretString::from("s"));
        let auth = MaapAuth::ClientCredentials(credentials);
        let error = MaapClient::new(MaapConfig::new("http://127.0.0.1:9", "bot", auth))
            .expect_err("a bad token URL");
        assert!(error.to_string().contains("token_url"), "{error}");
    }

    #[test]
    fn a_send_answer_is_read_leniently() {
        let ours = "0190a6d2-0000-7000-8000-000000000001".to_string();
        let kept = format!(r#"{{"RCSMessage":{{"msgId":"{ours}","status":"pending"}}}}"#);
        let answer = sent(kept.as_bytes(), ours.clone());
        assert_eq!(answer.msg_id, ours);
        assert_eq!(answer.status.as_deref(), Some("pending"));

        let theirs = sent(br#"{"RCSMessage":{"msgId":"Xs8CI3tdf"}}"#, ours.clone());
        assert_eq!(theirs.msg_id, "Xs8CI3tdf");
        assert_eq!(sent(b"", ours.clone()).msg_id, ours);
    }
}
