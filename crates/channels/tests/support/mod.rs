//! A stand-in for Google on 127.0.0.1: the OAuth token endpoint and the RBM API.
//!
//! The token endpoint checks every assertion the way Google does: the signature against
//! the public half of the test key, and the header and claims. The API accepts only
//! tokens it issued, records every call, and answers from a script of responses (200
//! `{}` when the script is empty).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use channels::{RbmClient, RbmConfig, ServiceAccountKey};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};

pub const AGENT_ID: &str = "tidings-test-agent";
pub const KEY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/service-account.json"
);
pub const OTHER_KEY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/other-service-account.json"
);
const PUBLIC_KEY: &str = include_str!("../fixtures/service-account-pub.pem");
const CLIENT_EMAIL: &str = "rbm-sender@tidings-test.iam.gserviceaccount.com";
const KEY_ID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const SCOPE: &str = "https://www.googleapis.com/auth/rcsbusinessmessaging";

/// One call the fake RBM API received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub bearer: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

/// A response the fake RBM API gives to the next call.
#[derive(Debug, Clone)]
pub struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Scripted {
    pub fn ok(body: Value) -> Scripted {
        Scripted {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// An error in Google's JSON error model.
    pub fn error(code: u16, status: &str, message: &str) -> Scripted {
        let body = json!({"error": {"code": code, "message": message, "status": status}});
        Scripted {
            status: code,
            ..Scripted::ok(body)
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Scripted {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Scripted {
        self.delay = delay;
        self
    }
}

struct Fake {
    token_url: String,
    verifier: VerifyingKey<Sha256>,
    token_lifetime_secs: AtomicU64,
    token_delay_ms: AtomicU64,
    tokens_issued: AtomicUsize,
    assertions_refused: AtomicUsize,
    valid_tokens: Mutex<HashSet<String>>,
    calls: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Scripted>>,
}

pub struct FakeGoogle {
    pub base_url: String,
    pub token_url: String,
    fake: Arc<Fake>,
}

impl FakeGoogle {
    pub async fn start() -> FakeGoogle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let base_url = format!("http://{address}");
        let token_url = format!("{base_url}/token");
        let public = RsaPublicKey::from_public_key_pem(PUBLIC_KEY).expect("the public key");
        let fake = Arc::new(Fake {
            token_url: token_url.clone(),
            verifier: VerifyingKey::new(public),
            token_lifetime_secs: AtomicU64::new(3600),
            token_delay_ms: AtomicU64::new(0),
            tokens_issued: AtomicUsize::new(0),
            assertions_refused: AtomicUsize::new(0),
            valid_tokens: Mutex::new(HashSet::new()),
            calls: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
        });
        let app = Router::new()
            .route("/token", post(token))
            .fallback(api)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGoogle {
            base_url,
            token_url,
            fake,
        }
    }

    /// A configuration pointing at this fake, with the test key and agent.
    pub fn config(&self) -> RbmConfig {
        self.config_with_key(KEY_FILE)
    }

    pub fn config_with_key(&self, key_file: &str) -> RbmConfig {
        let key = ServiceAccountKey::from_file(key_file).expect("the fixture key file");
        let mut config = RbmConfig::new(AGENT_ID, key);
        config.base_url = self.base_url.clone();
        config.token_url = self.token_url.clone();
        config
    }

    pub fn client(&self) -> RbmClient {
        RbmClient::new(self.config()).expect("a client")
    }

    /// Queues the answer to the next API call.
    pub fn respond(&self, response: Scripted) {
        self.fake.script.lock().expect("script").push_back(response);
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.fake
            .token_lifetime_secs
            .store(seconds, Ordering::SeqCst);
    }

    pub fn set_token_delay(&self, delay: Duration) {
        self.fake
            .token_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes every token issued so far invalid, as when Google revokes them.
    pub fn revoke_tokens(&self) {
        self.fake.valid_tokens.lock().expect("tokens").clear();
    }

    pub fn tokens_issued(&self) -> usize {
        self.fake.tokens_issued.load(Ordering::SeqCst)
    }

    pub fn assertions_refused(&self) -> usize {
        self.fake.assertions_refused.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.fake.calls.lock().expect("calls").clone()
    }
}

async fn token(
    State(fake): State<Arc<Fake>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let delay = fake.token_delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;

    if let Err(problem) = check_token_request(&fake, &form) {
        fake.assertions_refused.fetch_add(1, Ordering::SeqCst);
        let body = json!({"error": "invalid_grant", "error_description": problem});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let n = fake.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let access_token = format!("token-{n}");
    fake.valid_tokens
        .lock()
        .expect("tokens")
        .insert(access_token.clone());
    let expires_in = fake.token_lifetime_secs.load(Ordering::SeqCst);
    let body =
        json!({"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"});
    Json(body).into_response()
}

fn check_token_request(fake: &Fake, form: &HashMap<String, String>) -> Result<(), String> {
    let grant_type = form.get("grant_type").map(String::as_str);
    if grant_type != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err(format!("Unsupported grant type {grant_type:?}"));
    }
    let assertion = form.get("assertion").ok_or("No assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("The assertion is not a JWT".to_string());
    };
    verify_signature(fake, header, claims, signature)?;
    check_header(&decode(header)?)?;
    check_claims(fake, &decode(claims)?)
}

fn verify_signature(
    fake: &Fake,
    header: &str,
    claims: &str,
    signature: &str,
) -> Result<(), String> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    let signature = Signature::try_from(signature.as_slice()).map_err(|e| e.to_string())?;
    let signed = format!("{header}.{claims}");
    fake.verifier
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())
}

fn check_header(header: &Value) -> Result<(), String> {
    let expected = json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID});
    if *header != expected {
        return Err(format!("Unexpected JWT header {header}"));
    }
    Ok(())
}

fn check_claims(fake: &Fake, claims: &Value) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let iat = claims["iat"].as_u64().ok_or("No iat")?;
    let exp = claims["exp"].as_u64().ok_or("No exp")?;
    let fields_match = claims["iss"] == CLIENT_EMAIL
        && claims["scope"] == SCOPE
        && claims["aud"] == fake.token_url.as_str();
    if !fields_match {
        return Err(format!("Unexpected claims {claims}"));
    }
    if exp != iat + 3600 || iat.abs_diff(now) > 60 {
        return Err(format!("Invalid JWT: iat {iat}, exp {exp}, now {now}"));
    }
    Ok(())
}

fn decode(part: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

async fn api(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let bearer =
        header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string));
    let recorded = Recorded {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        bearer: bearer.clone(),
        content_type: header("content-type"),
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).expect("a JSON body")),
    };
    fake.calls.lock().expect("calls").push(recorded);

    let known =
        bearer.is_some_and(|token| fake.valid_tokens.lock().expect("tokens").contains(&token));
    if !known {
        let message = "Request had invalid authentication credentials.";
        return respond(Scripted::error(401, "UNAUTHENTICATED", message)).await;
    }
    let scripted = fake.script.lock().expect("script").pop_front();
    respond(scripted.unwrap_or_else(|| Scripted::ok(json!({})))).await
}

async fn respond(scripted: Scripted) -> Response {
    tokio::time::sleep(scripted.delay).await;
    let status = StatusCode::from_u16(scripted.status).expect("a status code");
    let json = [("content-type", "application/json")];
    let mut response = (status, json, scripted.body).into_response();
    for (name, value) in scripted.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    response
}
