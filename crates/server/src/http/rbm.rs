//! `POST /webhooks/rbm`: Google's RBM pushes, and the registration handshake.
//!
//! Google posts one Pub/Sub envelope per user message, user event or server event. The
//! decoded `message.data` is what Google signs (`X-Goog-Signature`: base64 HMAC-SHA512
//! keyed by the client token) and what is stored; processing happens from the store,
//! so the answer comes as soon as the delivery is on disk, as Google asks.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha512;

use super::error::{ApiError, ApiResult};
use super::webhooks::{accept, header_str};
use super::AppState;
use crate::ingest::rbm;

type HmacSha512 = Hmac<Sha512>;

/// `POST /webhooks/rbm`.
#[tracing::instrument(name = "rbm webhook", skip_all, fields(topic, delivery_id))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let token = client_token(&state)?;
    let envelope: Value = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        code: "malformed_body",
        message: format!("body is not valid JSON: {e}"),
    })?;
    if let Some(secret) = handshake_secret(&envelope, token)? {
        tracing::info!("rbm webhook registration confirmed");
        return Ok(([(header::CONTENT_TYPE, "text/plain")], secret).into_response());
    }

    let data = envelope_data(&envelope)?;
    let signature = header_str(&headers, "x-goog-signature")
        .ok_or_else(|| ApiError::Unauthorized("the X-Goog-Signature header is missing".into()))?;
    verify(token, &data, &signature)?;

    let delivery_id = rbm::delivery_id(&data)?;
    let topic = topic(&envelope);
    let span = tracing::Span::current();
    span.record("topic", topic.as_str());
    span.record("delivery_id", delivery_id.as_str());
    rbm::parse(&data)?;
    let answer = accept(&state, rbm::SOURCE, delivery_id, topic, Bytes::from(data)).await?;
    Ok(answer.into_response())
}

fn client_token(state: &AppState) -> ApiResult<&SecretString> {
    state.config.rbm.client_token.as_ref().ok_or_else(|| {
        tracing::warn!("rbm webhook refused: no client token configured");
        ApiError::Unauthorized(
            "the RBM client token (rbm.client_token) is not configured on this server, \
             so deliveries cannot be verified"
                .into(),
        )
    })
}

/// The secret to echo when the body is Google's registration handshake
/// (`{"clientToken", "secret"}`) for our client token.
fn handshake_secret(envelope: &Value, token: &SecretString) -> ApiResult<Option<String>> {
    let (Some(offered), Some(secret)) = (
        envelope["clientToken"].as_str(),
        envelope["secret"].as_str(),
    ) else {
        return Ok(None);
    };
    let expected = token.expose_secret().as_bytes();
    if !constant_time_eq(offered.as_bytes(), expected) {
        return Err(ApiError::Unauthorized(
            "the handshake's clientToken is not the one configured (rbm.client_token)".into(),
        ));
    }
    Ok(Some(secret.to_string()))
}

fn envelope_data(envelope: &Value) -> ApiResult<Vec<u8>> {
    let data = envelope["message"]["data"].as_str().ok_or_else(|| {
        ApiError::Unprocessable("message.data: is required (a Pub/Sub push envelope)".into())
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::Unprocessable(format!("message.data: is not base64: {e}")))
}

/// Checks Google's signature of the decoded data in constant time.
fn verify(token: &SecretString, data: &[u8], signature: &str) -> ApiResult<()> {
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| bad_signature())?;
    let mut mac = HmacSha512::new_from_slice(token.expose_secret().as_bytes())
        .map_err(|e| ApiError::Internal(e.into()))?;
    mac.update(data);
    mac.verify_slice(&expected).map_err(|_| bad_signature())
}

fn bad_signature() -> ApiError {
    ApiError::Unauthorized(
        "the X-Goog-Signature does not match the message data for the configured client token"
            .into(),
    )
}

/// The envelope's `type` attribute (`message`, `event`...) as the stored topic.
fn topic(envelope: &Value) -> String {
    envelope["message"]["attributes"]["type"]
        .as_str()
        .unwrap_or("rbm")
        .chars()
        .take(64)
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Signs decoded RBM data as Google does: base64 of the HMAC-SHA512 keyed by the client
/// token. For tests, the emulator and the demo.
pub fn sign(client_token: &str, data: &[u8]) -> String {
    let mut mac =
        HmacSha512::new_from_slice(client_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"senderPhoneNumber":"+14155550100","eventType":"READ","eventId":"e-1","messageId":"m-1","agentId":"shop@rbm.goog"}"#;

    #[test]
    fn the_signature_matches_one_computed_by_openssl() {
        // printf '%s' "$DATA" | openssl dgst -sha512 -hmac demo-client-token -binary | base64
        let expected = "wKtN2FnPN2hTE6i3iy97/Xy6LflM0r+g/gQ4nkCr0dZrGDXa/ryKPaeho2zajaCSzeOKp4m\
                        KQvpSu3dsKcRZ6w==";
        assert_eq!(sign("demo-client-token", DATA.as_bytes()), expected);
        let token = SecretString::from("demo-client-token");
        assert!(verify(&token, DATA.as_bytes(), expected).is_ok());
        assert!(verify(&token, b"tampered", expected).is_err());
        assert!(verify(&SecretString::from("other"), DATA.as_bytes(), expected).is_err());
    }

    #[test]
    fn only_our_client_token_completes_the_handshake() {
        let token = SecretString::from("demo-client-token");
        let offer = |t: &str| serde_json::json!({"clientToken": t, "secret": "s-123"});
        assert_eq!(
            handshake_secret(&offer("demo-client-token"), &token).unwrap(),
            Some("s-123".into())
        );
        assert!(handshake_secret(&offer("demo-client-tokeN"), &token).is_err());
        assert_eq!(
            handshake_secret(&serde_json::json!({"message": {}}), &token).unwrap(),
            None
        );
    }
}
