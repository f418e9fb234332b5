//! Google's service-account OAuth flow as the emulator plays it: `POST /token` trades
//! a signed RS256 assertion for an access token, and every API call must carry one.
//!
//! Assertions are checked as Google checks them: the signature against the public key
//! of the service account named in `iss`, the audience, the RBM scope, and a lifetime
//! of at most an hour that covers now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::FormRejection;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::time::Instant;
use uuid::Uuid;

use crate::config::EmulatorConfig;
use crate::error::ApiError;
use crate::state::{ConfigError, Shared};

/// The OAuth scope every RBM call needs.
pub const RBM_SCOPE: &str = "https://www.googleapis.com/auth/rcsbusinessmessaging";

/// The grant type of a signed-JWT assertion (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The longest an assertion may live, as Google allows.
const MAX_ASSERTION_SECONDS: u64 = 3600;

/// How far a client's clock may run ahead of the emulator's.
const CLOCK_SKEW_SECONDS: u64 = 60;

/// The token endpoint's and the API's view of credentials.
pub struct Authority {
    accounts: Vec<(String, VerifyingKey<Sha256>)>,
    audiences: Vec<String>,
    accept_any_bearer: bool,
    token_lifetime: Duration,
    /// Issued access tokens and when each expires.
    tokens: Mutex<HashMap<String, Instant>>,
}

impl Authority {
    /// Parses the configured public keys.
    pub fn new(config: &EmulatorConfig) -> Result<Authority, ConfigError> {
        let accounts = config
            .service_accounts
            .iter()
            .map(|account| {
                let key = parse_public_key(&account.public_key_pem).map_err(|problem| {
                    ConfigError::BadKey {
                        email: account.client_email.clone(),
                        problem,
                    }
                })?;
                Ok((account.client_email.clone(), VerifyingKey::new(key)))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Authority {
            accounts,
            audiences: config.token_audiences.clone(),
            accept_any_bearer: config.accept_any_bearer,
            token_lifetime: Duration::from_secs(config.token_lifetime_secs.max(1)),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `token` is one this emulator issued and has not expired.
    fn accepts(&self, token: &str) -> bool {
        if self.accept_any_bearer {
            return !token.trim().is_empty();
        }
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    fn issue(&self) -> String {
        let token = format!(
            "ya29.emulator.{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.retain(|_, expiry| *expiry > now);
        tokens.insert(token.clone(), now + self.token_lifetime);
        token
    }
}

fn parse_public_key(pem: &str) -> Result<RsaPublicKey, String> {
    if pem.contains("BEGIN RSA PUBLIC KEY") {
        return RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| e.to_string());
    }
    RsaPublicKey::from_public_key_pem(pem).map_err(|e| e.to_string())
}

/// An OAuth error answer (RFC 6749 §5.2).
struct OAuthError {
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn grant(description: impl Into<String>) -> OAuthError {
        OAuthError {
            error: "invalid_grant",
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, "refused a token request");
        let body = json!({"error": self.error, "error_description": self.description});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// `POST /token`: a signed assertion in, an access token out.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let own_url = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}{}", uri.path()));
    match grant(&shared.auth, own_url.as_deref(), form) {
        Ok(token) => {
            let lifetime = shared.auth.token_lifetime.as_secs();
            tracing::info!("issued an access token");
            let body = json!({
                "access_token": token,
                "expires_in": lifetime,
                "token_type": "Bearer",
            });
            Json(body).into_response()
        }
        Err(error) => error.into_response(),
    }
}

fn grant(
    auth: &Authority,
    own_url: Option<&str>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<String, OAuthError> {
    let Form(form) = form.map_err(|rejection| OAuthError {
        error: "invalid_request",
        description: format!("the body is not a form: {rejection}"),
    })?;
    let grant_type = form.get("grant_type").map(String::as_str);
    if grant_type != Some(JWT_BEARER_GRANT) {
        return Err(OAuthError {
            error: "unsupported_grant_type",
            description: format!("grant_type must be {JWT_BEARER_GRANT}, not {grant_type:?}"),
        });
    }
    let Some(assertion) = form.get("assertion") else {
        return Err(OAuthError {
            error: "invalid_request",
            description: "the form has no assertion; send the signed JWT in it".into(),
        });
    };
    verify_assertion(auth, own_url, assertion, unix_now())?;
    Ok(auth.issue())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Checks a JWT assertion: header, signature, then claims.
fn verify_assertion(
    auth: &Authority,
    own_url: Option<&str>,
    assertion: &str,
    now: u64,
) -> Result<(), OAuthError> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(OAuthError::grant(
            "the assertion is not a JWT of three parts",
        ));
    };
    let header_json = decode_part("header", header)?;
    if header_json["alg"] != "RS256" {
        let alg = &header_json["alg"];
        return Err(OAuthError::grant(format!(
            "the JWT alg is {alg}; sign it with RS256"
        )));
    }
    let claims_json = decode_part("claims", claims)?;
    let issuer = claims_json["iss"].as_str().unwrap_or_default();
    check_signature(auth, issuer, header, claims, signature)?;
    check_claims(auth, own_url, &claims_json, now)
}

fn decode_part(name: &str, part: &str) -> Result<Value, OAuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| OAuthError::grant(format!("the JWT {name} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| OAuthError::grant(format!("the JWT {name} is not a JSON object")))
}

/// Checks the JWT is signed by one of `issuer`'s keys.
fn check_signature(
    auth: &Authority,
    issuer: &str,
    header: &str,
    claims: &str,
    signature: &str,
) -> Result<(), OAuthError> {
    // An account may be listed once per key: Google keeps several keys of one account
    // valid at a time so that they can be rotated, and takes a signature by any of them.
    let mut keys = auth
        .accounts
        .iter()
        .filter(|(email, _)| email == issuer)
        .map(|(_, key)| key)
        .peekable();
    if keys.peek().is_none() {
        return Err(OAuthError::grant(format!(
            "the issuer {issuer:?} is not a service account this emulator trusts; add its \
             client_email and public key to serviceAccounts"
        )));
    }
    match keys.any(|key| signed_by(key, header, claims, signature)) {
        true => Ok(()),
        false => Err(OAuthError::grant("Invalid JWT Signature.")),
    }
}

/// Whether `signature` is `key`'s RS256 signature of the JWT's first two parts.
fn signed_by(key: &VerifyingKey<Sha256>, header: &str, claims: &str, signature: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    let signed = format!("{header}.{claims}");
    key.verify(signed.as_bytes(), &signature).is_ok()
}

fn check_claims(
    auth: &Authority,
    own_url: Option<&str>,
    claims: &Value,
    now: u64,
) -> Result<(), OAuthError> {
    let audience = claims["aud"].as_str().unwrap_or_default();
    let known = auth.audiences.iter().any(|a| a == audience) || own_url == Some(audience);
    if !known {
        return Err(OAuthError::grant(format!(
            "the audience {audience:?} is not this token endpoint; set aud to its URL"
        )));
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|scope| scope == RBM_SCOPE) {
        return Err(OAuthError::grant(format!(
            "the scope {scopes:?} does not include {RBM_SCOPE}"
        )));
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(OAuthError::grant(
            "iat and exp must be whole seconds since 1970",
        ));
    };
    check_lifetime(iat, exp, now)
}

fn check_lifetime(iat: u64, exp: u64, now: u64) -> Result<(), OAuthError> {
    if exp <= iat || exp - iat > MAX_ASSERTION_SECONDS {
        return Err(OAuthError::grant(format!(
            "Invalid JWT: exp must be after iat and at most {MAX_ASSERTION_SECONDS}s later \
             (iat {iat}, exp {exp})"
        )));
    }
    if iat > now + CLOCK_SKEW_SECONDS || exp <= now {
        return Err(OAuthError::grant(format!(
            "Invalid JWT: the token is not valid now (iat {iat}, exp {exp}, now {now}); \
             check the client's clock"
        )));
    }
    Ok(())
}

/// Refuses API calls without an access token this emulator accepts.
pub async fn require_bearer(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match bearer {
        Some(token) if shared.auth.accepts(token) => next.run(request).await,
        Some(_) => ApiError::unauthenticated(
            "The access token is unknown or expired; get a new one from the emulator's \
             /token endpoint.",
        )
        .into_response(),
        None => ApiError::unauthenticated(
            "The request has no access token; send one from the emulator's /token \
             endpoint as Authorization: Bearer <token>.",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_lives_at_most_an_hour_and_covers_now() {
        let now = 1_700_000_000;
        assert!(check_lifetime(now, now + 3600, now).is_ok());
        assert!(check_lifetime(now - 10, now + 100, now).is_ok());
        assert!(check_lifetime(now, now + 3601, now).is_err());
        assert!(check_lifetime(now, now, now).is_err());
        assert!(check_lifetime(now - 7200, now - 3600, now).is_err());
        assert!(check_lifetime(now + 600, now + 1200, now).is_err());
    }
}
