//! Google's RBM (RCS Business Messaging) API v1 over REST.
//!
//! One [`RbmClient`] acts for one agent through the partner's service account. Each call
//! either succeeds or fails with an [`RbmError`] that says what to do next: fall back to
//! another channel, dead-letter, or retry later (see [`crate::retry`]). The client itself
//! repeats a call only once, after a 401, with a fresh token.

mod auth;
mod capabilities;
mod config;
mod error;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use domain::PhoneNumber;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{redirect, Client, Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

use auth::TokenSource;
use capabilities::{CapabilitiesBody, CapabilityCache};
use config::parse_url;
use error::{classify, transport};

pub use auth::{KeyError, KeyFileError, ServiceAccountKey, DEFAULT_TOKEN_URL, RBM_SCOPE};
pub use capabilities::{CapabilityCacheConfig, Feature, Reachability};
pub use config::{BuildError, RbmConfig, DEFAULT_BASE_URL};
pub use error::RbmError;

/// The most numbers one `users:batchGet` call takes.
pub const MAX_BATCH_USERS: usize = 10_000;

/// A client of the RBM API for one agent. Cheap to clone: clones share the HTTP
/// connections, the access token and the capability cache.
#[derive(Clone)]
pub struct RbmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client,
    base_url: Url,
    agent_id: String,
    tokens: TokenSource,
    /// Recent capability answers. A std mutex: it is never held across an await.
    capabilities: Mutex<CapabilityCache>,
}

/// What became of a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The message was withdrawn before delivery. A DELIVERED event may still arrive if
    /// delivery raced the revocation.
    Revoked,
    /// Google had already delivered it (404), or no longer knows it.
    AlreadyDelivered,
}

/// An event the agent shows in the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "eventType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentEvent {
    /// Marks the user's message as read.
    Read {
        /// The user's message, by the id it arrived with.
        #[serde(rename = "messageId")]
        message_id: String,
    },
    /// Shows the agent typing; ephemeral, not queued for an offline user.
    IsTyping,
}

/// The answer to a `users:batchGet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchReach {
    /// The numbers the agent can reach over RCS now (on carriers where it has launched).
    pub reachable_users: Vec<PhoneNumber>,
    /// The size of Google's random sample of the numbers asked (about 75% of them; 0 when
    /// fewer than 500 were asked).
    pub total_random_sample_user_count: u64,
    /// How many of the sample have RCS, whether or not the agent has launched on their
    /// carrier: an estimate of the reach once it has.
    pub reachable_random_sample_user_count: u64,
}

/// The body of a `users:batchGet`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchGetBody<'a> {
    users: &'a [PhoneNumber],
    agent_id: &'a str,
}

/// One HTTP call to the API, kept so that it can be sent again after a 401.
struct Call {
    operation: &'static str,
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}

/// An answer, read whole: RBM's answers are small.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RbmClient {
    /// Builds a client; it makes no request until the first call.
    ///
    /// # Errors
    /// When the agent id is empty, a URL is unusable, or the HTTP client cannot be set up.
    pub fn new(config: RbmConfig) -> Result<RbmClient, BuildError> {
        let agent_id = config.agent_id.trim().to_string();
        if agent_id.is_empty() {
            return Err(BuildError::MissingAgentId);
        }
        let base_url = parse_url("base_url", &config.base_url)?;
        let token_url = parse_url("token_url", &config.token_url)?;
        let http = Client::builder()
            .timeout(config.request_timeout)
            // Google's API does not redirect; following one would send the token along.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("tidings/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        let tokens = TokenSource::new(
            http.clone(),
            token_url,
            config.service_account,
            config.token_refresh_margin,
        );
        let capabilities = Mutex::new(CapabilityCache::new(config.capability_cache));
        let inner = Inner {
            http,
            base_url,
            agent_id,
            tokens,
            capabilities,
        };
        Ok(RbmClient {
            inner: Arc::new(inner),
        })
    }

    /// The agent this client acts for.
    pub fn agent_id(&self) -> &str {
        &self.inner.agent_id
    }

    /// Sends an AgentMessage (`body`) to `phone` under `message_id`.
    ///
    /// Safe to repeat with the same `message_id`: Google ignores an id the agent has
    /// already used, so a retry after a timeout cannot deliver twice.
    ///
    /// # Errors
    /// [`RbmError::NotReachable`] when the phone has no RCS for this agent, which is
    /// remembered as its capabilities (see [`RbmClient::known_unreachable`]); otherwise
    /// as described on [`RbmError`].
    #[tracing::instrument(name = "rbm send", skip_all, fields(message_id = %message_id))]
    pub async fn send(
        &self,
        phone: &PhoneNumber,
        message_id: Uuid,
        body: &impl Serialize,
    ) -> Result<(), RbmError> {
        let body = serde_json::to_vec(body).map_err(RbmError::Encode)?;
        let message_id = message_id.to_string();
        let url = self.phone_url(phone, &["agentMessages"], &[("messageId", &message_id)]);
        let sent = self
            .call(Call {
                operation: "send",
                method: Method::POST,
                url,
                body: Some(body),
            })
            .await;
        if let Err(RbmError::NotReachable) = &sent {
            self.capability_cache().insert(
                phone.as_str(),
                Reachability::NotReachable,
                Instant::now(),
            );
        }
        sent.map(drop)
    }

    /// Whether the phone with E.164 number `e164` (as [`PhoneNumber::as_str`] writes it)
    /// answered 404, to a send or a capability check, within the cache's negative time
    /// to live: sending to it over RCS again would only answer 404 again. Answers from
    /// memory alone, never calling Google; a number in another form is simply not known.
    pub fn known_unreachable(&self, e164: &str) -> bool {
        let remembered = self.capability_cache().get(e164, Instant::now());
        matches!(remembered, Some(Reachability::NotReachable))
    }

    /// Withdraws a message Google has not delivered yet.
    ///
    /// # Errors
    /// As described on [`RbmError`]; a 404 is not an error but
    /// [`Revocation::AlreadyDelivered`].
    #[tracing::instrument(name = "rbm revoke", skip_all, fields(message_id = %message_id))]
    pub async fn revoke(
        &self,
        phone: &PhoneNumber,
        message_id: Uuid,
    ) -> Result<Revocation, RbmError> {
        let message_id = message_id.to_string();
        let url = self.phone_url(phone, &["agentMessages", &message_id], &[]);
        let call = Call {
            operation: "revoke",
            method: Method::DELETE,
            url,
            body: None,
        };
        match self.call(call).await {
            Ok(_) => Ok(Revocation::Revoked),
            Err(RbmError::NotReachable) => Ok(Revocation::AlreadyDelivered),
            Err(error) => Err(error),
        }
    }

    /// Shows `event` (read receipt, typing) to the user under `event_id`; like sends,
    /// safe to repeat with the same id.
    ///
    /// # Errors
    /// [`RbmError::NotReachable`] when the phone has no RCS; otherwise as on [`RbmError`].
    #[tracing::instrument(name = "rbm agent event", skip_all, fields(event_id = %event_id))]
    pub async fn agent_event(
        &self,
        phone: &PhoneNumber,
        event_id: Uuid,
        event: &AgentEvent,
    ) -> Result<(), RbmError> {
        let body = serde_json::to_vec(event).map_err(RbmError::Encode)?;
        let event_id = event_id.to_string();
        let url = self.phone_url(phone, &["agentEvents"], &[("eventId", &event_id)]);
        self.call(Call {
            operation: "agent event",
            method: Method::POST,
            url,
            body: Some(body),
        })
        .await?;
        Ok(())
    }

    /// Asks Google what `phone` supports, and remembers the answer for
    /// [`RbmClient::capabilities_cached`].
    ///
    /// # Errors
    /// As described on [`RbmError`]; a 404 is not an error but
    /// [`Reachability::NotReachable`].
    #[tracing::instrument(name = "rbm capabilities", skip_all, fields(request_id))]
    pub async fn capabilities(&self, phone: &PhoneNumber) -> Result<Reachability, RbmError> {
        let request_id = Uuid::new_v4().to_string();
        tracing::Span::current().record("request_id", request_id.as_str());
        let url = self.phone_url(phone, &["capabilities"], &[("requestId", &request_id)]);
        let call = Call {
            operation: "capabilities",
            method: Method::GET,
            url,
            body: None,
        };
        let answer = match self.call(call).await {
            Ok(body) => Reachability::Reachable {
                features: parse::<CapabilitiesBody>("capabilities", &body)?.features,
            },
            Err(RbmError::NotReachable) => Reachability::NotReachable,
            Err(error) => return Err(error),
        };
        self.capability_cache()
            .insert(phone.as_str(), answer.clone(), Instant::now());
        Ok(answer)
    }

    /// What `phone` supports, from memory when a recent answer is there, else from
    /// Google. Two calls for the same phone at the same moment may both ask Google.
    ///
    /// # Errors
    /// As [`RbmClient::capabilities`].
    pub async fn capabilities_cached(&self, phone: &PhoneNumber) -> Result<Reachability, RbmError> {
        let remembered = self.capability_cache().get(phone.as_str(), Instant::now());
        if let Some(answer) = remembered {
            tracing::debug!("capability answer from the cache");
            return Ok(answer);
        }
        self.capabilities(phone).await
    }

    /// Forgets the remembered capabilities of `phone`, for when something newer is known
    /// (the customer just wrote to the agent over RCS).
    pub fn forget_capabilities(&self, phone: &PhoneNumber) {
        self.capability_cache().remove(phone.as_str());
    }

    /// Which of `phones` the agent can reach over RCS, in one call of at most
    /// [`MAX_BATCH_USERS`] numbers. Google requires a regional `base_url` for this call
    /// and limits it to 600 a minute. An empty list is answered without a call.
    ///
    /// # Errors
    /// [`RbmError::BatchTooLarge`] past [`MAX_BATCH_USERS`] numbers, before any request;
    /// otherwise as described on [`RbmError`] (a wrong region is a 400).
    #[tracing::instrument(name = "rbm batch get", skip_all, fields(numbers = phones.len()))]
    pub async fn batch_get(&self, phones: &[PhoneNumber]) -> Result<BatchReach, RbmError> {
        if phones.len() > MAX_BATCH_USERS {
            return Err(RbmError::BatchTooLarge {
                count: phones.len(),
                max: MAX_BATCH_USERS,
            });
        }
        if phones.is_empty() {
            return Ok(BatchReach::default());
        }
        let body = BatchGetBody {
            users: phones,
            agent_id: &self.inner.agent_id,
        };
        let body = serde_json::to_vec(&body).map_err(RbmError::Encode)?;
        let call = Call {
            operation: "batch get",
            method: Method::POST,
            url: self.url(&["v1", "users:batchGet"], &[]),
            body: Some(body),
        };
        let answer = self.call(call).await?;
        parse("batch get", &answer)
    }

    /// `{base}/v1/phones/{E.164}/{tail…}?{query…}&agentId={agent}`.
    fn phone_url(&self, phone: &PhoneNumber, tail: &[&str], query: &[(&str, &str)]) -> Url {
        let mut segments = vec!["v1", "phones", phone.as_str()];
        segments.extend_from_slice(tail);
        let mut query = query.to_vec();
        query.push(("agentId", &self.inner.agent_id));
        self.url(&segments, &query)
    }

    /// The base URL with `segments` appended (each escaped as one path segment) and
    /// `query` as its query string.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base_url.clone();
        // The base was checked to be an http(s) URL, which always has a path to extend.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Makes `call` with the current token, and once more with a new token if Google
    /// answers 401 (the token was revoked or expired early); returns a success's body.
    async fn call(&self, call: Call) -> Result<Vec<u8>, RbmError> {
        let tokens = &self.inner.tokens;
        let bearer = tokens.bearer().await?;
        let mut reply = self.attempt(&call, &bearer).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            tracing::warn!("Google refused the access token; fetching a new one");
            let bearer = tokens.replace(&bearer).await?;
            reply = self.attempt(&call, &bearer).await?;
        }
        tracing::debug!(status = reply.status.as_u16(), "RBM answered");
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

    async fn attempt(&self, call: &Call, bearer: &SecretString) -> Result<Reply, RbmError> {
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

    fn capability_cache(&self) -> MutexGuard<'_, CapabilityCache> {
        // The cache holds no invariant a panicking holder could break halfway.
        self.inner
            .capabilities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for RbmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RbmClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("agent_id", &self.inner.agent_id)
            .finish_non_exhaustive()
    }
}

/// Reads a success's body as `T`.
fn parse<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, RbmError> {
    serde_json::from_slice(body).map_err(|error| RbmError::UnexpectedResponse {
        operation,
        detail: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_FILE: &str = include_str!("../../tests/fixtures/service-account.json");

    fn client(base_url: &str, agent_id: &str) -> Result<RbmClient, BuildError> {
        let key = ServiceAccountKey::from_json(KEY_FILE).expect("the fixture key");
        let mut config = RbmConfig::new(agent_id, key);
        config.base_url = base_url.to_string();
        config.token_url = "http://127.0.0.1:9/token".to_string();
        RbmClient::new(config)
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::parse("+16136120707", "US").expect("a valid number")
    }

    #[test]
    fn urls_keep_the_base_path_and_escape_the_query() {
        let client = client("http://127.0.0.1:8080/emulator", "shop agent@rbm").expect("client");
        let url = client.phone_url(&phone(), &["agentMessages"], &[("messageId", "m-1")]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/emulator/v1/phones/+16136120707/agentMessages\
             ?messageId=m-1&agentId=shop+agent%40rbm"
        );
        let url = client.url(&["v1", "users:batchGet"], &[]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/emulator/v1/users:batchGet"
        );
    }

    #[test]
    fn a_phone_cannot_escape_its_path_segment() {
        let client = client("http://127.0.0.1:8080", "agent").expect("client");
        let odd = PhoneNumber::from_e164_unchecked("+1/../../admin?x".to_string());
        let url = client.phone_url(&odd, &["capabilities"], &[]);
        assert_eq!(
            url.path(),
            "/v1/phones/+1%2F..%2F..%2Fadmin%3Fx/capabilities"
        );
    }

    #[test]
    fn a_client_needs_an_agent_id() {
        let error = client("http://127.0.0.1:8080", "  ").expect_err("no agent id");
        assert!(matches!(error, BuildError::MissingAgentId));
    }

    #[test]
    fn agent_events_have_googles_shape() {
        let read = AgentEvent::Read {
            message_id: "MxABC".to_string(),
        };
        let read = serde_json::to_value(&read).expect("JSON");
        assert_eq!(
            read,
            serde_json::json!({"eventType": "READ", "messageId": "MxABC"})
        );
        let typing = serde_json::to_value(AgentEvent::IsTyping).expect("JSON");
        assert_eq!(typing, serde_json::json!({"eventType": "IS_TYPING"}));
    }

    #[test]
    fn a_batch_answer_may_leave_out_empty_fields() {
        let reach: BatchReach = serde_json::from_str("{}").expect("an empty answer");
        assert_eq!(reach, BatchReach::default());
    }
}
