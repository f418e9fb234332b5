//! A stand-in for an operator's MaaP chatbot platform on 127.0.0.1: an OAuth 2.0 token
//! endpoint for client credentials, and the chatbot API under `/bot/v1/{botId}`.
//!
//! The token endpoint checks the grant type and the client's credentials (HTTP Basic, or
//! in the form). The API accepts only tokens it issued (or the configured static one),
//! records every call, checks a send's body against FNW.11's shape — one content key,
//! MaaP's names and never RBM's — and answers from a script of responses, or as the
//! platform would when the script is empty: 202 with the message's id and `pending` for
//! a send, 204 for a status change, a capability list for a capability query.

// Each test binary uses its own part of the fake.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use channels::maap::{ClientAuth, ClientCredentials, MaapAuth, MaapClient, MaapConfig};
use secrecy::SecretString;
use serde_json::{json, Value};

pub const BOT_ID: &str = "tidings-bot";
pub const CLIENT_ID: &str = "tidings-client";
pub const CLIENT_SECRET: &str = "client-secret-for-tests";
pub const STATIC_TOKEN: &str = "static-token-for-tests";

/// One call the fake API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub bearer: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// One token request the fake token endpoint received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `user:password` of an HTTP Basic header, decoded.
    pub basic: Option<String>,
    pub form: HashMap<String, String>,
}

/// A response the fake API gives to the next call.
#[derive(Debug, Clone)]
pub struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Scripted {
    pub fn json(status: u16, body: Value) -> Scripted {
        Scripted {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// An error in the OMA REST form many MaaP platforms use.
    pub fn service_exception(status: u16, id: &str, text: &str, part: &str) -> Scripted {
        let exception = json!({"messageId": id, "text": text, "variables": [part]});
        Scripted::json(
            status,
            json!({"requestError": {"serviceException": exception}}),
        )
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Scripted {
        self.headers.push((name, value.to_string()));
        self
    }
}

struct Fake {
    token_lifetime_secs: AtomicU64,
    token_delay_ms: AtomicU64,
    tokens_issued: AtomicUsize,
    token_script: Mutex<VecDeque<Scripted>>,
    token_requests: Mutex<Vec<TokenRequest>>,
    valid_tokens: Mutex<HashSet<String>>,
    calls: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Scripted>>,
}

pub struct FakeMaap {
    pub address: String,
    fake: Arc<Fake>,
}

impl FakeMaap {
    pub async fn start() -> FakeMaap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("local address"));
        let fake = Arc::new(Fake {
            token_lifetime_secs: AtomicU64::new(3600),
            token_delay_ms: AtomicU64::new(0),
            tokens_issued: AtomicUsize::new(0),
            token_script: Mutex::new(VecDeque::new()),
            token_requests: Mutex::new(Vec::new()),
            valid_tokens: Mutex::new(HashSet::from([STATIC_TOKEN.to_string()])),
            calls: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
        });
        let app = Router::new()
            .route("/oauth/token", post(token))
            .fallback(api)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeMaap { address, fake }
    }

    pub fn base_url(&self) -> String {
        format!("{}/bot/v1", self.address)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.address)
    }

    /// Client credentials for this fake, sent with HTTP Basic.
    pub fn credentials(&self) -> ClientCredentials {
        let secret = SecretString::from(CLIENT_SECRET);
        ClientCredentials::new(self.token_url(), CLIENT_ID, secret)
    }

    /// A client using OAuth client credentials.
    pub fn client(&self) -> MaapClient {
        self.client_with(MaapAuth::ClientCredentials(self.credentials()))
    }

    /// A client with the static token the fake always accepts.
    pub fn static_client(&self) -> MaapClient {
        self.client_with(MaapAuth::StaticBearer(SecretString::from(STATIC_TOKEN)))
    }

    pub fn client_with(&self, auth: MaapAuth) -> MaapClient {
        MaapClient::new(MaapConfig::new(self.base_url(), BOT_ID, auth)).expect("a client")
    }

    pub fn form_credentials(&self) -> MaapAuth {
        let mut credentials = self.credentials();
        credentials.client_auth = ClientAuth::Form;
        credentials.scope = Some("botmessage".into());
        MaapAuth::ClientCredentials(credentials)
    }

    /// Queues the answer to the next API call.
    pub fn respond(&self, response: Scripted) {
        self.fake.script.lock().expect("script").push_back(response);
    }

    /// Queues the answer to the next token request.
    pub fn respond_to_token_request(&self, response: Scripted) {
        let mut script = self.fake.token_script.lock().expect("token script");
        script.push_back(response);
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.fake
            .token_lifetime_secs
            .store(seconds, Ordering::SeqCst);
    }

    pub fn set_token_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).expect("a short delay");
        self.fake.token_delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Makes every token issued so far invalid, as when the platform revokes them.
    pub fn revoke_tokens(&self) {
        let mut tokens = self.fake.valid_tokens.lock().expect("tokens");
        tokens.retain(|token| token == STATIC_TOKEN);
    }

    pub fn tokens_issued(&self) -> usize {
        self.fake.tokens_issued.load(Ordering::SeqCst)
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.fake.token_requests.lock().expect("requests").clone()
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.fake.calls.lock().expect("calls").clone()
    }
}

async fn token(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let delay = fake.token_delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let request = TokenRequest {
        basic: basic_credentials(&headers),
        form,
    };
    fake.token_requests
        .lock()
        .expect("requests")
        .push(request.clone());

    let scripted = fake.token_script.lock().expect("token script").pop_front();
    if let Some(scripted) = scripted {
        return respond(scripted);
    }
    if let Err(problem) = check_token_request(&request) {
        let body = json!({"error": "invalid_client", "error_description": problem});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let n = fake.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let access_token = format!("maap-token-{n}");
    fake.valid_tokens
        .lock()
        .expect("tokens")
        .insert(access_token.clone());
    let expires_in = fake.token_lifetime_secs.load(Ordering::SeqCst);
    let body =
        json!({"access_token": access_token, "token_type": "bearer", "expires_in": expires_in});
    Json(body).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(encoded).ok()?;
    String::from_utf8(decoded).ok()
}

fn check_token_request(request: &TokenRequest) -> Result<(), String> {
    let grant_type = request.form.get("grant_type").map(String::as_str);
    if grant_type != Some("client_credentials") {
        return Err(format!("Unsupported grant type {grant_type:?}"));
    }
    let expected = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    let in_form = match (
        request.form.get("client_id"),
        request.form.get("client_secret"),
    ) {
        (Some(id), Some(secret)) => Some(format!("{id}:{secret}")),
        _ => None,
    };
    match request.basic.clone().or(in_form) {
        Some(given) if given == expected => Ok(()),
        Some(_) => Err("Unknown client or wrong secret".into()),
        None => Err("No client authentication".into()),
    }
}

async fn api(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = record(&method, &uri, &headers, &body);
    let bearer = recorded.bearer.clone();
    fake.calls.lock().expect("calls").push(recorded.clone());

    let known =
        bearer.is_some_and(|token| fake.valid_tokens.lock().expect("tokens").contains(&token));
    if !known {
        let body = json!({"error": {"code": 401, "message": "Invalid access token"}});
        return respond(Scripted::json(401, body));
    }
    let scripted = fake.script.lock().expect("script").pop_front();
    respond(scripted.unwrap_or_else(|| answer(&recorded)))
}

fn record(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Recorded {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Recorded {
        method: method.clone(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        bearer: header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(Into::into)),
        content_type: header("content-type"),
        body: (!body.is_empty()).then(|| serde_json::from_slice(body).expect("a JSON body")),
    }
}

/// What the platform answers to a well-formed call, by route.
fn answer(call: &Recorded) -> Scripted {
    let prefix = format!("/bot/v1/{BOT_ID}/");
    let Some(route) = call.path.strip_prefix(&prefix) else {
        return Scripted::json(404, json!({"error": {"message": "No such bot"}}));
    };
    let body = call.body.clone().unwrap_or(Value::Null);
    let segments: Vec<&str> = route.split('/').collect();
    match (call.method.as_str(), segments.as_slice()) {
        ("POST", ["messages"]) => match check_send(&body) {
            Ok(msg_id) => accepted(&msg_id),
            Err(part) => Scripted::service_exception(
                400,
                "SVC0002",
                "Invalid input value for message part %1",
                &part,
            ),
        },
        ("PUT", ["messages", _, "status"]) => match body["RCSMessage"]["status"].as_str() {
            Some("cancelled" | "displayed") => Scripted::json(204, Value::Null),
            _ => Scripted::service_exception(400, "SVC0002", "Invalid status %1", "status"),
        },
        ("GET", ["contactCapabilities"]) => Scripted::json(
            200,
            json!({"capabilities": ["chatBotCommunication", "chat", "fileTransfer"]}),
        ),
        _ => Scripted::json(404, json!({"error": {"message": "No such resource"}})),
    }
}

fn accepted(msg_id: &str) -> Scripted {
    Scripted::json(
        202,
        json!({"RCSMessage": {"msgId": msg_id, "status": "pending"}}),
    )
}

/// Checks a send against FNW.11's shape; the error names the part at fault.
pub fn check_send(body: &Value) -> Result<String, String> {
    let contact = body["messageContact"]["userContact"].as_str().unwrap_or("");
    if !contact.starts_with('+') {
        return Err("messageContact.userContact".into());
    }
    let message = &body["RCSMessage"];
    let msg_id = message["msgId"].as_str().ok_or("RCSMessage.msgId")?;
    let contents = ["textMessage", "richcardMessage", "fileMessage"];
    let present = contents.iter().filter(|key| message.get(**key).is_some());
    if present.count() != 1 {
        return Err("RCSMessage".into());
    }
    check_names(message, "RCSMessage")?;
    Ok(msg_id.to_string())
}

/// Keys of Google RBM's model that have no place in a MaaP body.
const RBM_KEYS: [&str; 16] = [
    "text",
    "postbackData",
    "contentMessage",
    "richCard",
    "standaloneCard",
    "carouselCard",
    "cardContent",
    "cardContents",
    "contentInfo",
    "thumbnailImageAlignment",
    "dialAction",
    "openUrlAction",
    "viewLocationAction",
    "shareLocationAction",
    "createCalendarEventAction",
    "latLong",
];

/// Walks the message: no RBM key anywhere, chips with a `displayText` and a
/// `postback.data`, media heights and card widths with MaaP's suffixes.
fn check_names(value: &Value, path: &str) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{path}.{key}");
                if RBM_KEYS.contains(&key.as_str()) {
                    return Err(here);
                }
                check_field(key, child, &here)?;
                check_names(child, &here)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_names(item, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

fn check_field(key: &str, value: &Value, path: &str) -> Result<(), String> {
    let fine = match key {
        "reply" | "action" => {
            value["displayText"].is_string() && value["postback"]["data"].is_string()
        }
        "height" => value.as_str().is_some_and(|h| h.ends_with("_HEIGHT")),
        "cardWidth" => value.as_str().is_some_and(|w| w.ends_with("_WIDTH")),
        _ => true,
    };
    if fine {
        Ok(())
    } else {
        Err(path.to_string())
    }
}

fn respond(scripted: Scripted) -> Response {
    let status = StatusCode::from_u16(scripted.status).expect("a status code");
    let mut response = if scripted.body == "null" {
        status.into_response()
    } else {
        let json = [("content-type", "application/json")];
        (status, json, scripted.body).into_response()
    };
    for (name, value) in scripted.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    response
}
