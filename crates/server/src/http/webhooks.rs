//! Platform webhooks: verify the signature on the raw bytes, check the payload parses,
//! store the raw delivery durably, acknowledge. Processing happens from the store.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;
use store::{Accepted, Delivery};
use unicode_normalization::UnicodeNormalization;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::ingest::{easypost, shopify, woocommerce};

type HmacSha256 = Hmac<Sha256>;

/// `POST /webhooks/shopify`.
#[tracing::instrument(name = "shopify webhook", skip_all, fields(topic, delivery_id))]
pub async fn shopify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    // Shopify's newer Events delivery drops the `X-` prefix.
    let header = |name: &str| {
        header_str(&headers, &format!("x-{name}")).or_else(|| header_str(&headers, name))
    };
    let signature =
        header("shopify-hmac-sha256").ok_or_else(|| missing_signature("X-Shopify-Hmac-Sha256"))?;
    let secret = secret_for(&state.config.shopify.webhook_secret, "shopify")?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| bad_signature())?;
    verify(secret.expose_secret().as_bytes(), &body, &expected)?;

    let topic = header("shopify-topic").ok_or_else(|| missing_header("X-Shopify-Topic"))?;
    let delivery_id = header("shopify-webhook-id")
        .or_else(|| header("shopify-event-id"))
        .ok_or_else(|| missing_header("X-Shopify-Webhook-Id"))?;
    record_ids(&topic, &delivery_id);
    shopify::parse(&topic, &body, &state.parse_context())?;
    accept(&state, shopify::SOURCE, delivery_id, topic, body).await
}

/// `POST /webhooks/woocommerce`.
#[tracing::instrument(name = "woocommerce webhook", skip_all, fields(topic, delivery_id))]
pub async fn woocommerce(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    // The creation ping carries nothing to store, so there is nothing to verify.
    if woocommerce::is_ping(&body) {
        return Ok(Json(json!({ "status": "ok" })));
    }
    let signature = header_str(&headers, "x-wc-webhook-signature")
        .ok_or_else(|| missing_signature("X-WC-Webhook-Signature"))?;
    let secret = secret_for(&state.config.woocommerce.webhook_secret, "woocommerce")?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| bad_signature())?;
    verify(secret.expose_secret().as_bytes(), &body, &expected)?;

    let topic = header_str(&headers, "x-wc-webhook-topic")
        .ok_or_else(|| missing_header("X-WC-Webhook-Topic"))?;
    let delivery_id = header_str(&headers, "x-wc-webhook-delivery-id")
        .ok_or_else(|| missing_header("X-WC-Webhook-Delivery-ID"))?;
    record_ids(&topic, &delivery_id);
    woocommerce::parse(&topic, &body, &state.parse_context())?;
    accept(&state, woocommerce::SOURCE, delivery_id, topic, body).await
}

/// `POST /webhooks/easypost`.
#[tracing::instrument(name = "easypost webhook", skip_all, fields(topic, delivery_id))]
pub async fn easypost(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let signature = header_str(&headers, "x-hmac-signature")
        .ok_or_else(|| missing_signature("X-Hmac-Signature"))?;
    let secret = secret_for(&state.config.easypost.webhook_secret, "easypost")?;
    let hex_digest = signature
        .trim()
        .strip_prefix("hmac-sha256-hex=")
        .ok_or_else(bad_signature)?;
    let expected = hex::decode(hex_digest).map_err(|_| bad_signature())?;
    // EasyPost keys the HMAC with the secret in Unicode NFKD form.
    let key: String = secret.expose_secret().nfkd().collect();
    verify(key.as_bytes(), &body, &expected)?;

    let event: Value = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "malformed_body",
        message: format!("body is not valid JSON: {e}"),
    })?;
    let delivery_id = event["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unprocessable("id: is required".into()))?;
    let topic = event["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    record_ids(&topic, &delivery_id);
    easypost::parse(&body)?;
    accept(&state, easypost::SOURCE, delivery_id, topic, body).await
}

fn record_ids(topic: &str, delivery_id: &str) {
    let span = tracing::Span::current();
    span.record("topic", topic);
    span.record("delivery_id", delivery_id);
}

pub(super) async fn accept(
    state: &AppState,
    source: &str,
    delivery_id: String,
    topic: String,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let delivery = Delivery {
        source: source.to_string(),
        delivery_id,
        topic,
        body: body.to_vec(),
        received_at: Utc::now(),
    };
    let status = match state.ingest.accept(delivery).await? {
        Accepted::New => "accepted",
        Accepted::Duplicate => "duplicate",
    };
    Ok(Json(json!({ "status": status })))
}

pub(super) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|v| !v.is_empty())
}

fn secret_for<'a>(secret: &'a Option<SecretString>, platform: &str) -> ApiResult<&'a SecretString> {
    secret.as_ref().ok_or_else(|| {
        tracing::warn!(platform, "webhook refused: no secret configured");
        ApiError::Unauthorized(format!(
            "the {platform} webhook secret is not configured on this server, \
             so deliveries cannot be verified"
        ))
    })
}

/// Checks an HMAC-SHA256 of `body` in constant time.
fn verify(key: &[u8], body: &[u8], expected: &[u8]) -> ApiResult<()> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|e| ApiError::Internal(e.into()))?;
    mac.update(body);
    mac.verify_slice(expected).map_err(|_| bad_signature())
}

fn bad_signature() -> ApiError {
    ApiError::Unauthorized("the signature does not match the body for the configured secret".into())
}

fn missing_signature(header: &str) -> ApiError {
    ApiError::Unauthorized(format!("the {header} header is missing"))
}

fn missing_header(header: &str) -> ApiError {
    ApiError::BadRequest {
        code: "missing_header",
        message: format!("the {header} header is required"),
    }
}

/// Signs a body as Shopify and WooCommerce do: base64 of the HMAC-SHA256.
pub fn sign_base64(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Signs a body as EasyPost does: `hmac-sha256-hex=` and the hex digest, keyed by the
/// NFKD form of the secret.
pub fn sign_easypost(secret: &str, body: &[u8]) -> String {
    let key: String = secret.nfkd().collect();
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!(
        "hmac-sha256-hex={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easypost_signature_matches_the_published_test_vector() {
        let body = include_str!("../../tests/fixtures/easypost-tracker-updated.json");
        let signature = sign_easypost("sécret", body.trim_end_matches('\n').as_bytes());
        assert_eq!(
            signature,
            "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
        );
    }
}
