//! Who is asking: API keys on `/api/v1`, session cookies on `/api/v1` and `/app`, and
//! the middleware that checks every request against the table in `access`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use store::{Actor, ActorKind, ApiKey, Session};

use super::access::{access_for, Access, Permission, Role, Scope};
use super::error::ApiError;
use super::pages;
use super::AppState;

/// The cookie that carries a session's token.
pub const SESSION_COOKIE: &str = "tidings_session";
/// How long a session lasts after logging in.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// Forms carry the session's CSRF token in this field; API calls made with a session
/// cookie carry it in the `X-CSRF-Token` header.
pub const CSRF_FIELD: &str = "csrf";
/// The most a workspace form may weigh; the middleware reads it to check its token.
const FORM_LIMIT: usize = 64 * 1024;

/// The caller of a request that passed `authorize`.
#[derive(Clone, Debug)]
pub enum Principal {
    User(Session),
    Key(ApiKey),
}

impl Principal {
    /// Whether the caller may do `permission`; an unknown role or scope may do nothing.
    pub fn permits(&self, permission: Permission) -> bool {
        match self {
            Principal::User(session) => {
                Role::parse(&session.user.role).is_some_and(|r| r.permits(permission))
            }
            Principal::Key(key) => Scope::parse(&key.scope).is_some_and(|s| s.permits(permission)),
        }
    }

    /// The caller as the audit log names them.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User(session) => Actor {
                kind: ActorKind::User,
                id: Some(session.user.id),
                name: session.user.email.clone(),
            },
            Principal::Key(key) => Actor {
                kind: ActorKind::ApiKey,
                id: Some(key.id),
                name: key.name.clone(),
            },
        }
    }

    /// The session, when a person (not a key) is asking.
    pub fn session(&self) -> Option<&Session> {
        match self {
            Principal::User(session) => Some(session),
            Principal::Key(_) => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "a handler asked for the caller of a route authorize did not guard"
            ))
        })
    }
}

/// Where a refusal is shown: JSON for the API, a page for the workspace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Surface {
    Api,
    App,
}

/// Checks every request against [`super::access::RULES`]: public routes pass; others
/// need a live key or session whose role or scope has the permission, and a session's
/// writes need its CSRF token. A route without an entry is refused.
pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(path) = request.extensions().get::<MatchedPath>() else {
        return next.run(request).await;
    };
    let path = path.as_str().to_string();
    let surface = if path.starts_with("/app") {
        Surface::App
    } else {
        Surface::Api
    };
    let permission = match access_for(request.method(), &path) {
        Some(Access::Public) => return next.run(request).await,
        Some(Access::Requires(permission)) => permission,
        None => {
            tracing::error!(route = path, "the route has no entry in the access table");
            let message = format!("{} {path} is not open to anyone", request.method());
            return refuse(surface, ApiError::Forbidden(message));
        }
    };
    match admit(&state, surface, permission, request).await {
        Ok(request) => next.run(request).await,
        Err(response) => response,
    }
}

/// The request with its [`Principal`] attached, or the response that refuses it.
async fn admit(
    state: &AppState,
    surface: Surface,
    permission: Permission,
    request: Request,
) -> Result<Request, Response> {
    let principal = match identify(state, surface, request.headers()).await {
        Ok(Some(principal)) => principal,
        Ok(None) if surface == Surface::App && request.method() == Method::GET => {
            return Err(Redirect::to("/app/login").into_response());
        }
        Ok(None) => {
            let message = match surface {
                Surface::Api => "send an API key as Authorization: Bearer <key>, or log in",
                Surface::App => "log in first at /app/login",
            };
            return Err(refuse(surface, ApiError::Unauthorized(message.into())));
        }
        Err(error) => return Err(refuse(surface, error)),
    };
    if !principal.permits(permission) {
        let who = match &principal {
            Principal::User(s) => format!("the {} role", s.user.role),
            Principal::Key(k) => format!("a key with scope {}", k.scope),
        };
        let message = format!("{who} may not do this ({permission:?})");
        return Err(refuse(surface, ApiError::Forbidden(message)));
    }
    let mut request = match principal.session() {
        Some(session) if !is_safe(request.method()) => {
            check_csrf(surface, &session.csrf_token, request).await?
        }
        _ => request,
    };
    request.extensions_mut().insert(principal);
    Ok(request)
}

/// The caller of a request: a Bearer key (API only) or a session cookie.
async fn identify(
    state: &AppState,
    surface: Surface,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        if surface == Surface::App {
            let message = "workspace pages take a login, not an API key".to_string();
            return Err(ApiError::Unauthorized(message));
        }
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be Bearer <key>".into())
            })?;
        let key = state
            .store
            .find_api_key(secret.trim())
            .await?
            .ok_or_else(|| ApiError::Unauthorized("the API key is unknown or revoked".into()))?;
        tracing::Span::current().record("api_key_id", key.id);
        return Ok(Some(Principal::Key(key)));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = state.store.find_session(&token).await?;
    if let Some(session) = &session {
        tracing::Span::current().record("user_id", session.user.id);
    }
    Ok(session.map(Principal::User))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A session's write must carry its CSRF token: in the form's `csrf` field on pages,
/// in `X-CSRF-Token` on the API. The form is read here and handed on intact.
async fn check_csrf(
    surface: Surface,
    expected: &str,
    request: Request,
) -> Result<Request, Response> {
    let wrong = || {
        let message = "the form's security token is missing or stale: reload the page and \
                       try again"
            .to_string();
        refuse(surface, ApiError::Forbidden(message))
    };
    if surface == Surface::Api {
        let sent = request
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        return match sent {
            Some(sent) if same(sent, expected) => Ok(request),
            _ => Err(wrong()),
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        let message = format!("the form is larger than {FORM_LIMIT} bytes");
        refuse(
            surface,
            ApiError::BadRequest {
                code: "too_large",
                message,
            },
        )
    })?;
    let sent = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    match sent {
        Some(sent) if same(&sent, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(wrong()),
    }
}

/// Compares secrets in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn refuse(surface: Surface, error: ApiError) -> Response {
    match surface {
        Surface::Api => error.into_response(),
        Surface::App => pages::error_page(error),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// Whether the browser reached Tidings over TLS: `public_url` is https, or a proxy that
/// ends TLS in front of Tidings says so in `X-Forwarded-Proto`. A forged header can only
/// make a cookie stricter, so it needs no trust.
pub fn over_tls(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    forwarded || state.config.public_url.starts_with("https://")
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, `Secure` when the browser
/// reached Tidings over TLS (see [`over_tls`]). `max_age` 0 deletes the cookie.
pub fn set_cookie(secure: bool, name: &str, value: &str, max_age: i64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// `bytes` random bytes from the operating system's generator, in hex.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// A one-time password to hand a new user: 16 letters and digits, about 95 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The shortest password Tidings accepts.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Checks a new password; the error says what to change.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_LEN} characters long"
        ));
    }
    if password.len() > 1024 {
        return Err("the password must be at most 1024 bytes long".into());
    }
    Ok(())
}

/// An argon2id hash in PHC form, computed off the async threads (it takes a while on
/// purpose).
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| anyhow::anyhow!("encoding a password salt: {e}"))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches a stored PHC hash; a hash that does not parse matches
/// nothing.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// The client's address, when the server was started with connection info.
pub fn client_addr(parts: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    parts.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Failed logins per account and per client address in a sliding window: past the
/// limit, logins are refused with 429 until the oldest failure leaves the window.
#[derive(Clone)]
pub struct LoginLimiter {
    /// Failure times by `account:<email>` and `addr:<ip>`, oldest first.
    failures: Arc<Mutex<HashMap<String, VecDeque<Instant>>>>,
    window: Duration,
    per_account: usize,
    per_addr: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl LoginLimiter {
    /// At most `per_account` failures for one email and `per_addr` from one address
    /// within `window`.
    pub fn new(window: Duration, per_account: usize, per_addr: usize) -> LoginLimiter {
        LoginLimiter {
            failures: Arc::default(),
            window,
            per_account,
            per_addr,
        }
    }

    fn keys(email: &str, addr: Option<std::net::IpAddr>) -> Vec<(String, bool)> {
        let mut keys = vec![(format!("account:{}", email.trim().to_lowercase()), true)];
        if let Some(addr) = addr {
            keys.push((format!("addr:{addr}"), false));
        }
        keys
    }

    /// `Err(wait)` when either limit is reached: try again after `wait`.
    pub fn check(&self, email: &str, addr: Option<std::net::IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = None;
        for (key, is_account) in LoginLimiter::keys(email, addr) {
            let limit = if is_account {
                self.per_account
            } else {
                self.per_addr
            };
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| now - *t >= self.window) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let left = self.window - (now - times[0]);
                    wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed login against the account and the address.
    pub fn record_failure(&self, email: &str, addr: Option<std::net::IpAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget idle entries now and then, so guessed emails do not pile up.
        if failures.len() > 10_000 {
            let window = self.window;
            failures.retain(|_, t| t.back().is_some_and(|last| last.elapsed() < window));
        }
        for (key, _) in LoginLimiter::keys(email, addr) {
            failures.entry(key).or_default().push_back(Instant::now());
        }
    }

    /// Forgets an account's failures after it logged in.
    pub fn record_success(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&format!("account:{}", email.trim().to_lowercase()));
    }
}

/// A 429 that says when to try again.
pub fn too_many_logins(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let message = format!(
        "too many failed logins for this account or from this address: try again in \
         {seconds} seconds"
    );
    let mut response = pages::error_page_with(StatusCode::TOO_MANY_REQUESTS, &message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_refuses_past_the_limit_and_says_how_long_to_wait() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 2, 3);
        let addr = Some("10.0.0.1".parse().unwrap());
        assert!(limiter.check("a@x", addr).is_ok());
        limiter.record_failure("A@x", addr);
        limiter.record_failure("a@x", addr);
        let wait = limiter.check("a@x", addr).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        // Another account from the same address: one failure left before the address
        // limit.
        assert!(limiter.check("b@x", addr).is_ok());
        limiter.record_failure("b@x", addr);
        assert!(limiter.check("c@x", addr).is_err());
        assert!(limiter.check("c@x", None).is_ok());
        limiter.record_success("a@x");
        assert!(limiter.check("a@x", None).is_ok());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; tidings_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[tokio::test]
    async fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash).await);
        assert!(!verify_password("correct horse battery!", &hash).await);
        assert!(!verify_password("anything", "not a PHC string").await);
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let a = generate_password();
        assert!(check_new_password(&a).is_ok());
        assert_ne!(a, generate_password());
    }
}
