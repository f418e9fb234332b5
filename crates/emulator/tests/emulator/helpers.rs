//! An emulator on 127.0.0.1 trusting the test service account, a webhook receiver that
//! stands in for the agent, and one method per call the tests make.
//!
//! The service-account keys are the RBM client's test fixtures: the emulator verifies
//! assertions with the public half of `service-account.json`, and
//! `other-service-account.json` names the same account with an unrelated key.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use channels::{RbmClient, RbmConfig, ServiceAccountKey};
use domain::PhoneNumber;
use emulator::{
    EmulatorConfig, PhoneConfig, RetryConfig, RunningEmulator, ServiceAccount, RBM_SCOPE,
};
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Sha256, Sha512};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The agent every test emulator hosts.
pub const AGENT_ID: &str = "tidings-test-agent";
/// The key of every webhook signature.
pub const CLIENT_TOKEN: &str = "tidings-test-client-token";
/// The longest any test waits for something to happen before it fails.
pub const PATIENCE: Duration = Duration::from_secs(5);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../channels/tests/fixtures");

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The service account the emulator trusts, with the private key to sign as it.
pub fn trusted_key() -> ServiceAccountKey {
    ServiceAccountKey::from_json(&fixture("service-account.json")).expect("the fixture key")
}

/// The same account's address with a key the emulator has never seen.
pub fn untrusted_key() -> ServiceAccountKey {
    ServiceAccountKey::from_json(&fixture("other-service-account.json")).expect("the other key")
}

/// A phone number as the RBM client takes it.
pub fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164, "US").unwrap_or_else(|e| panic!("test number {e164}: {e}"))
}

/// An online RCS phone that reads every message 100 ms after it arrives.
pub fn reading_phone(number: &str) -> PhoneConfig {
    PhoneConfig {
        delivery_delay_ms: 20,
        read_after_ms: Some(100),
        ..PhoneConfig::rcs(number)
    }
}

/// A phone with RCS that is off the network, so messages to it wait.
pub fn offline_phone(number: &str) -> PhoneConfig {
    PhoneConfig {
        online: false,
        delivery_delay_ms: 20,
        read_after_ms: None,
        ..PhoneConfig::rcs(number)
    }
}

/// The test agent with `phones`, the fixture service account, no rate limits, and quick
/// webhook retries.
pub fn config(phones: Vec<PhoneConfig>) -> EmulatorConfig {
    let account = ServiceAccount {
        client_email: trusted_key().client_email().to_string(),
        public_key_pem: fixture("service-account-pub.pem"),
    };
    EmulatorConfig {
        agent_id: AGENT_ID.to_string(),
        client_token: CLIENT_TOKEN.to_string(),
        service_accounts: vec![account],
        agent_rate: None,
        user_rate: None,
        webhook_retry: RetryConfig {
            initial_backoff_ms: 20,
            max_backoff_ms: 100,
            give_up_after_secs: 30,
            timeout_ms: 2_000,
        },
        phones,
        ..EmulatorConfig::default()
    }
}

/// An HTTP answer: its status and its body as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// Checks the answer is Google's error model with `code` and `status`, and returns
    /// its message.
    #[track_caller]
    pub fn error(&self, code: u16, status: &str) -> &str {
        assert_eq!(self.status, code, "the answer: {}", self.body);
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "the answer: {}", self.body);
        assert_eq!(error["status"], status, "the answer: {}", self.body);
        error["message"].as_str().expect("an error message")
    }

    /// Checks the answer is a 200 and returns its body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "the answer: {}", self.body);
        &self.body
    }
}

/// An emulator serving on 127.0.0.1, and an access token from its `/token`.
pub struct TestEmulator {
    pub running: RunningEmulator,
    /// A client that does not follow redirects, so tests see them.
    pub http: reqwest::Client,
    token: String,
}

impl TestEmulator {
    /// Starts an emulator with `config` and trades a signed assertion for a token.
    pub async fn start(config: EmulatorConfig) -> TestEmulator {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let running = emulator::Emulator::start(listener, config)
            .await
            .expect("the emulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PATIENCE)
            .build()
            .expect("an HTTP client");
        let mut started = TestEmulator {
            running,
            http,
            token: String::new(),
        };
        let grant = started.request_token(&trusted_key_pem()).await;
        started.token = grant.ok()["access_token"]
            .as_str()
            .expect("an access token")
            .to_string();
        started
    }

    /// Starts an emulator whose webhook is a fresh receiver.
    pub async fn with_webhook(config: EmulatorConfig) -> (TestEmulator, Webhook) {
        let webhook = Webhook::start().await;
        let config = EmulatorConfig {
            webhook_url: Some(webhook.url()),
            ..config
        };
        (TestEmulator::start(config).await, webhook)
    }

    /// The access token the tests' calls carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// An RBM client for the test agent signing with `key`.
    pub fn client_with(&self, key: ServiceAccountKey) -> RbmClient {
        let mut config = RbmConfig::new(AGENT_ID, key);
        config.base_url = self.running.base_url();
        config.token_url = self.running.token_url();
        config.request_timeout = PATIENCE;
        RbmClient::new(config).expect("an RBM client")
    }

    /// An RBM client for the test agent with the trusted key.
    pub fn client(&self) -> RbmClient {
        self.client_with(trusted_key())
    }

    /// `POST /token` with an assertion for this endpoint signed by the PKCS#8
    /// `private_key_pem`.
    pub async fn request_token(&self, private_key_pem: &str) -> Answer {
        let audience = self.running.token_url();
        self.post_assertion(&assertion(private_key_pem, &audience))
            .await
    }

    /// `POST /token` with `assertion`.
    pub async fn post_assertion(&self, assertion: &str) -> Answer {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ];
        let request = self.http.post(self.running.token_url()).form(&form);
        answer(request).await
    }

    /// `agentMessages.create` of `body` to `phone` under `message_id`.
    pub async fn send(&self, phone: &str, message_id: &str, body: &Value) -> Answer {
        let path = format!("/v1/phones/{phone}/agentMessages");
        let query = [("messageId", message_id), ("agentId", AGENT_ID)];
        let request = self.authorized(self.http.post(self.url(&path)).query(&query));
        answer(request.json(body)).await
    }

    /// Sends `body` under a new id, checks it was accepted, and returns the id.
    pub async fn send_ok(&self, phone: &str, body: &Value) -> String {
        let message_id = Uuid::new_v4().to_string();
        self.send(phone, &message_id, body).await.ok();
        message_id
    }

    /// `agentEvents.create` of `body` to `phone` under `event_id`.
    pub async fn agent_event(&self, phone: &str, event_id: &str, body: &Value) -> Answer {
        let path = format!("/v1/phones/{phone}/agentEvents");
        let query = [("eventId", event_id), ("agentId", AGENT_ID)];
        let request = self.authorized(self.http.post(self.url(&path)).query(&query));
        answer(request.json(body)).await
    }

    /// `POST {path}` on the RBM API with a JSON body and the access token.
    pub async fn post_api(&self, path: &str, body: &Value) -> Answer {
        let request = self.authorized(self.http.post(self.url(path)));
        answer(request.json(body)).await
    }

    /// `GET {path}` on the RBM API with the access token.
    pub async fn get_api(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        let request = self.authorized(self.http.get(self.url(path)).query(query));
        answer(request).await
    }

    /// `agentMessages.delete` (revoke) of `message_id` on `phone`.
    pub async fn revoke(&self, phone: &str, message_id: &str) -> Answer {
        let path = format!("/v1/phones/{phone}/agentMessages/{message_id}");
        let request = self
            .http
            .delete(self.url(&path))
            .query(&[("agentId", AGENT_ID)]);
        answer(self.authorized(request)).await
    }

    /// `GET {path}` on the control API.
    pub async fn inspect(&self, path: &str) -> Value {
        answer(self.http.get(self.url(path))).await.ok().clone()
    }

    /// A phone as the inspection API shows it.
    pub async fn phone(&self, number: &str) -> Value {
        self.inspect(&format!("/emulator/phones/{number}")).await
    }

    /// `{method} {path}` on the control API with a JSON body.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: &Value) -> Answer {
        answer(self.http.request(method, self.url(path)).json(body)).await
    }

    /// Takes a phone on or off the network.
    pub async fn set_online(&self, number: &str, online: bool) {
        let path = format!("/emulator/phones/{number}/online");
        let body = json!({ "online": online });
        self.control(reqwest::Method::PUT, &path, &body).await.ok();
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.token)
    }
}

/// Sends `request` and reads the answer.
pub async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body }
}

/// The trusted key's private half, as PEM.
pub fn trusted_key_pem() -> String {
    private_key_pem("service-account.json")
}

/// The untrusted key's private half, as PEM.
pub fn untrusted_key_pem() -> String {
    private_key_pem("other-service-account.json")
}

fn private_key_pem(file: &str) -> String {
    let json: Value = serde_json::from_str(&fixture(file)).expect("a key file");
    json["private_key"]
        .as_str()
        .expect("a private key")
        .to_string()
}

/// A service-account assertion for the RBM scope and `audience`, made here rather than
/// by the RBM client, so the token endpoint is checked against an independent signer.
pub fn assertion(private_key_pem: &str, audience: &str) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(private_key_pem).expect("a PKCS#8 key");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let claims = json!({
        "iss": trusted_key().client_email(),
        "scope": RBM_SCOPE,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = SigningKey::<Sha256>::new(key).sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// Polls `probe` until it returns something, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// One post the webhook received.
#[derive(Clone, Debug)]
pub struct Post {
    /// The `X-Goog-Signature` header.
    pub signature: Option<String>,
    /// The Pub/Sub envelope.
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
}

impl Post {
    /// The decoded `message.data`, after checking its signature as an agent must.
    #[track_caller]
    pub fn data(&self) -> Value {
        let encoded = self.body["message"]["data"]
            .as_str()
            .unwrap_or_else(|| panic!("no message.data in {}", self.body));
        let data = STANDARD.decode(encoded).expect("message.data is base64");
        let signature = self.signature.as_deref().expect("an X-Goog-Signature");
        assert_eq!(signature, expected_signature(&data), "a forged signature");
        serde_json::from_slice(&data).expect("message.data is JSON")
    }
}

/// base64(HMAC-SHA512(client token, data)), as Google documents the signature.
fn expected_signature(data: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(CLIENT_TOKEN.as_bytes()).expect("any key");
    mac.update(data);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// What the receiver shares with its handler.
#[derive(Clone, Default)]
struct Inbox {
    posts: Arc<Mutex<Vec<Post>>>,
    /// How many of the next posts to answer 500, to make the emulator retry.
    failures_left: Arc<AtomicUsize>,
}

/// A stand-in for the agent's webhook on 127.0.0.1: records every post and answers the
/// registration handshake with the secret.
pub struct Webhook {
    url: String,
    inbox: Inbox,
    server: JoinHandle<()>,
}

impl Webhook {
    /// Starts the receiver.
    pub async fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/rbm", listener.local_addr().expect("an address"));
        let inbox = Inbox::default();
        let app = Router::new()
            .route("/rbm", post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the webhook serves");
        });
        Webhook { url, inbox, server }
    }

    /// Where the receiver listens.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answers the next `count` posts with a 500.
    pub fn fail_next(&self, count: usize) {
        self.inbox.failures_left.store(count, Ordering::SeqCst);
    }

    /// Every post so far, including those answered 500.
    pub fn posts(&self) -> Vec<Post> {
        let posts = self
            .inbox
            .posts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        posts.clone()
    }

    /// The decoded data of every post answered 200 so far, signatures checked.
    pub fn received(&self) -> Vec<Value> {
        let posts = self.posts().into_iter().filter(|post| post.status == 200);
        posts.map(|post| post.data()).collect()
    }

    /// Waits for a post answered 200 whose data `matches`; returns the data and the
    /// envelope.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> (Value, Value) {
        eventually(what, || async {
            self.posts()
                .into_iter()
                .filter(|post| post.status == 200)
                .map(|post| (post.data(), post.body))
                .find(|(data, _)| matches(data))
        })
        .await
    }

    /// Waits for the user event `event_type` about agent message `message_id`.
    pub async fn wait_for_event(&self, event_type: &str, message_id: &str) -> (Value, Value) {
        let what = format!("{event_type} of {message_id}");
        self.wait_for(&what, |data| {
            data["eventType"] == event_type && data["messageId"] == message_id
        })
        .await
    }

    /// The event types received about agent message `message_id`, in order.
    pub fn events_about(&self, message_id: &str) -> Vec<String> {
        self.received()
            .iter()
            .filter(|data| data["messageId"] == message_id)
            .filter_map(|data| data["eventType"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The console's registration handshake: answer with the secret's raw value.
    if body["clientToken"] == CLIENT_TOKEN {
        let secret = body["secret"].as_str().unwrap_or_default().to_string();
        return (StatusCode::OK, secret).into_response();
    }
    let signature = headers
        .get("x-goog-signature")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let failing = inbox
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = match failing {
        true => StatusCode::INTERNAL_SERVER_ERROR,
        false => StatusCode::OK,
    };
    let post = Post {
        signature,
        body,
        status: status.as_u16(),
    };
    inbox
        .posts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(post);
    status.into_response()
}
