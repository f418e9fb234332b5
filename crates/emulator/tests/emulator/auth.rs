//! The token endpoint and the bearer check in front of the RBM API.

use channels::{RbmError, Reachability};
use emulator::{EmulatorConfig, ServiceAccount};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    answer, assertion, config, number, reading_phone, trusted_key, trusted_key_pem, untrusted_key,
    untrusted_key_pem, TestEmulator, AGENT_ID,
};

const PHONE: &str = "+16136120707";

fn capabilities_path() -> String {
    format!("/v1/phones/{PHONE}/capabilities")
}

#[tokio::test]
async fn an_assertion_signed_with_the_configured_key_gets_a_working_token() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;

    // Act
    let grant = emulator.request_token(&trusted_key_pem()).await;

    // Assert
    let grant = grant.ok();
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 3600);
    let token = grant["access_token"].as_str().expect("an access token");
    assert!(token.starts_with("ya29."), "{token}");
    let request_id = Uuid::new_v4().to_string();
    let query = [("requestId", request_id.as_str()), ("agentId", AGENT_ID)];
    let request = emulator.http.get(emulator.url(&capabilities_path()));
    let call = answer(request.query(&query).bearer_auth(token)).await;
    assert!(call.ok()["features"].is_array(), "{}", call.body);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;

    // Act
    let refused = emulator.request_token(&untrusted_key_pem()).await;
    let through_client = emulator
        .client_with(untrusted_key())
        .capabilities(&number(PHONE))
        .await;

    // Assert
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"], "invalid_grant");
    assert_eq!(refused.body["error_description"], "Invalid JWT Signature.");
    match through_client {
        Err(RbmError::Unauthorized { message }) => {
            assert!(message.contains("invalid_grant"), "{message}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

/// The public half of a PKCS#8 private key, as PEM.
fn public_half(private_key_pem: &str) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(private_key_pem).expect("a PKCS#8 key");
    let public = key.to_public_key();
    public.to_public_key_pem(LineEnding::LF).expect("PEM")
}

#[tokio::test]
async fn every_key_of_a_service_account_with_several_is_trusted() {
    // Arrange: the account's current key and the one rotated in, as Google keeps both
    // valid until the old one is deleted.
    let email = trusted_key().client_email().to_string();
    let account = |private_key_pem: String| ServiceAccount {
        client_email: email.clone(),
        public_key_pem: public_half(&private_key_pem),
    };
    let config = EmulatorConfig {
        service_accounts: vec![account(trusted_key_pem()), account(untrusted_key_pem())],
        ..config(vec![reading_phone(PHONE)])
    };
    let emulator = TestEmulator::start(config).await;

    // Act
    let current = emulator.request_token(&trusted_key_pem()).await;
    let rotated_in = emulator.request_token(&untrusted_key_pem()).await;

    // Assert
    assert_eq!(current.ok()["token_type"], "Bearer");
    assert_eq!(rotated_in.ok()["token_type"], "Bearer");
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let elsewhere = assertion(&trusted_key_pem(), "https://tokens.example.com/token");

    // Act
    let refused = emulator.post_assertion(&elsewhere).await;

    // Assert
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"], "invalid_grant");
    let description = refused.body["error_description"]
        .as_str()
        .unwrap_or_default();
    assert!(description.contains("tokens.example.com"), "{description}");
}

#[tokio::test]
async fn the_rbm_client_signs_in_and_calls_the_api() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let client = emulator.client();
    let body = json!({"contentMessage": {"text": "Your order has shipped."}});

    // Act
    let sent = client.send(&number(PHONE), Uuid::new_v4(), &body).await;
    let reach = client.capabilities(&number(PHONE)).await;

    // Assert
    sent.expect("the message was accepted");
    assert!(
        matches!(reach, Ok(Reachability::Reachable { .. })),
        "{reach:?}"
    );
    let phone = emulator.phone(PHONE).await;
    assert_eq!(phone["messages"][0]["body"], body);
}

#[tokio::test]
async fn a_call_without_a_valid_bearer_gets_401_unauthenticated() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let path = format!("/v1/phones/{PHONE}/agentMessages");
    let query = [
        ("messageId", Uuid::new_v4().to_string()),
        ("agentId", AGENT_ID.to_string()),
    ];
    let body = json!({"contentMessage": {"text": "Shipped"}});
    let send = || {
        emulator
            .http
            .post(emulator.url(&path))
            .query(&query)
            .json(&body)
    };

    // Act
    let without = answer(send()).await;
    let made_up = answer(send().bearer_auth("ya29.made-up")).await;
    let basic = answer(send().basic_auth("agent", Some("password"))).await;

    // Assert
    for refused in [&without, &made_up, &basic] {
        let message = refused.error(401, "UNAUTHENTICATED");
        assert!(message.contains("/token"), "{message}");
    }
    let phone = emulator.phone(PHONE).await;
    assert_eq!(phone["messages"], json!([]));
}
