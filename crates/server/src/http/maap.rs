//! `POST /webhooks/maap`: an operator's MaaP chatbot platform notifying the bot.
//!
//! FNW.11 defines no signature for these notifications, and the MaaP platforms' own SDKs
//! check none. So the platform is registered with a shared secret (`maap.webhook_secret`)
//! that it sends as `Authorization: Bearer <secret>` on every notification (MaaP
//! platforms let the bot's webhook carry fixed credentials), and Tidings compares it in
//! constant time. Serve the webhook over https, or the secret travels in the clear; an
//! IP allow-list of the platform's addresses in front of Tidings adds a second check.
//!
//! As with RBM, the answer comes as soon as the notification is on disk; it is
//! processed from the store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ApiResult};
use super::webhooks::{accept, header_str};
use super::AppState;
use crate::ingest::maap;

/// `POST /webhooks/maap`.
#[tracing::instrument(name = "maap webhook", skip_all, fields(topic, delivery_id))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let secret = webhook_secret(&state)?;
    authenticate(&headers, secret)?;

    let key = maap::key(&body)?;
    let span = tracing::Span::current();
    span.record("topic", key.topic.as_str());
    span.record("delivery_id", key.delivery_id.as_str());
    maap::parse(&body)?;
    accept(&state, maap::SOURCE, key.delivery_id, key.topic, body).await
}

fn webhook_secret(state: &AppState) -> ApiResult<&SecretString> {
    state.config.maap.webhook_secret.as_ref().ok_or_else(|| {
        tracing::warn!("maap webhook refused: no webhook secret configured");
        ApiError::Unauthorized(
            "the MaaP webhook secret (maap.webhook_secret) is not configured on this server, \
             so notifications cannot be verified"
                .into(),
        )
    })
}

/// Checks `Authorization: Bearer <secret>`.
fn authenticate(headers: &HeaderMap, secret: &SecretString) -> ApiResult<()> {
    let value = header_str(headers, header::AUTHORIZATION.as_str()).ok_or_else(|| {
        ApiError::Unauthorized(
            "the Authorization header is missing; the MaaP platform must send \
             `Authorization: Bearer <maap.webhook_secret>`"
                .into(),
        )
    })?;
    let offered = bearer_token(&value).ok_or_else(|| {
        ApiError::Unauthorized("the Authorization header is not a Bearer token".into())
    })?;
    if !same_secret(offered, secret.expose_secret()) {
        tracing::warn!("maap webhook refused: the bearer token is not the webhook secret");
        return Err(ApiError::Unauthorized(
            "the bearer token is not the configured MaaP webhook secret (maap.webhook_secret)"
                .into(),
        ));
    }
    Ok(())
}

/// The token of a `Bearer` authorization; the scheme's case does not matter (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Compares digests rather than the secrets themselves, so that neither the contents
/// nor the length of the configured secret shows in the comparison's timing.
fn same_secret(offered: &str, expected: &str) -> bool {
    let offered = Sha256::digest(offered.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    offered.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(value).expect("a header value");
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn only_the_configured_secret_as_a_bearer_token_passes() {
        let secret = SecretString::from("maap-hook-secret");
        let check = |value: &str| authenticate(&with_authorization(value), &secret).is_ok();
        assert!(check("Bearer maap-hook-secret"));
        assert!(check("bearer  maap-hook-secret "));
        assert!(!check("Bearer maap-hook-secreT"));
        assert!(!check("Bearer maap-hook-secret-and-more"));
        assert!(!check("Basic maap-hook-secret"));
        assert!(!check("Bearer "));
        assert!(!check("maap-hook-secret"));
        assert!(authenticate(&HeaderMap::new(), &secret).is_err());
    }
}
