//! How strictly `agentMessages.create` judges a call: unknown fields, unreachable
//! phones, reused ids, features the phone lacks, and the agent's and users' rates.

use channels::RbmError;
use emulator::{EmulatorConfig, PhoneConfig, RateLimit, NOT_REACHABLE};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{config, number, reading_phone, TestEmulator, AGENT_ID};

const PHONE: &str = "+16136120707";
const OTHER_PHONE: &str = "+16136120708";
const THIRD_PHONE: &str = "+16136120709";
const NO_RCS: &str = "+16136120700";

fn text(text: &str) -> Value {
    json!({"contentMessage": {"text": text}, "messageTrafficType": "TRANSACTION"})
}

fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// The texts of the messages a phone holds, oldest first.
async fn texts_on(emulator: &TestEmulator, phone: &str) -> Vec<String> {
    let phone = emulator.phone(phone).await;
    let messages = phone["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .map(|m| {
            m["body"]["contentMessage"]["text"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn unknown_fields_are_refused_and_each_is_named() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let body = json!({
        "contentMessage": {
            "text": "Shipped",
            "colour": "red",
            "suggestions": [{"reply": {"text": "Track", "postbackData": "t", "icon": "x"}}],
        },
        "priority": "HIGH",
    });

    // Act
    let answer = emulator.send(PHONE, &new_id(), &body).await;

    // Assert
    let message = answer.error(400, "INVALID_ARGUMENT");
    for field in [
        "contentMessage.colour",
        "contentMessage.suggestions[0].reply.icon",
        "priority",
    ] {
        assert!(
            message.contains(&format!("{field}: unknown field")),
            "{message}"
        );
    }
    assert_eq!(texts_on(&emulator, PHONE).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_phone_without_rcs_or_unknown_gets_404_not_found() {
    // Arrange
    let phones = vec![reading_phone(PHONE), PhoneConfig::without_rcs(NO_RCS)];
    let emulator = TestEmulator::start(config(phones)).await;

    // Act
    let no_rcs = emulator.send(NO_RCS, &new_id(), &text("Shipped")).await;
    let unknown = emulator
        .send(OTHER_PHONE, &new_id(), &text("Shipped"))
        .await;
    let through_client = emulator
        .client()
        .send(&number(NO_RCS), Uuid::new_v4(), &text("Shipped"))
        .await;

    // Assert
    assert_eq!(no_rcs.error(404, "NOT_FOUND"), NOT_REACHABLE);
    assert_eq!(unknown.error(404, "NOT_FOUND"), NOT_REACHABLE);
    assert!(
        matches!(through_client, Err(RbmError::NotReachable)),
        "{through_client:?}"
    );
    assert_eq!(texts_on(&emulator, NO_RCS).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_reused_message_id_is_ignored_and_answered_as_the_first_time() {
    // Arrange
    let phones = vec![reading_phone(PHONE), reading_phone(OTHER_PHONE)];
    let (emulator, webhook) = TestEmulator::with_webhook(config(phones)).await;
    let id = new_id();

    // Act
    let first = emulator.send(PHONE, &id, &text("First")).await;
    let again = emulator.send(PHONE, &id, &text("Second")).await;
    // Ids are the agent's, not the phone's: another phone cannot take it either.
    let elsewhere = emulator.send(OTHER_PHONE, &id, &text("Third")).await;

    // Assert
    assert_eq!(first.ok()["contentMessage"]["text"], "First");
    assert_eq!(again.ok(), first.ok());
    assert_eq!(elsewhere.ok(), first.ok());
    webhook.wait_for_event("READ", &id).await;
    assert_eq!(texts_on(&emulator, PHONE).await, vec!["First"]);
    assert_eq!(texts_on(&emulator, OTHER_PHONE).await, Vec::<String>::new());
    assert_eq!(webhook.events_about(&id), vec!["DELIVERED", "READ"]);
}

#[tokio::test]
async fn an_accepted_message_is_echoed_with_its_name_and_expiry() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let id = new_id();
    let mut body = text("Shipped");
    body["ttl"] = json!("60s");

    // Act
    let answer = emulator.send(PHONE, &id, &body).await;

    // Assert
    let echoed = answer.ok();
    let name = format!("phones/{PHONE}/agentMessages/{id}");
    assert_eq!(echoed["name"], name);
    assert_eq!(echoed["contentMessage"], body["contentMessage"]);
    assert_eq!(echoed["messageTrafficType"], "TRANSACTION");
    assert_eq!(echoed.get("ttl"), None, "ttl is input-only: {echoed}");
    let time = |key: &str| {
        let text = echoed[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {echoed}"));
        chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time")
    };
    assert_eq!((time("expireTime") - time("sendTime")).num_seconds(), 60);
}

#[tokio::test]
async fn ids_and_the_agent_are_checked_before_anything_is_sent() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let path = format!("/v1/phones/{PHONE}/agentMessages");
    let post = |query: &'static [(&'static str, &'static str)]| {
        let url = emulator.url(&path);
        crate::helpers::answer(
            emulator
                .http
                .post(url)
                .query(query)
                .bearer_auth(emulator.token())
                .json(&text("Shipped")),
        )
    };
    const UUID: &str = "0b5fd6a6-3f59-4e4e-9d59-2f6f4d1c0e3a";

    // Act
    let no_id = post(&[("agentId", AGENT_ID)]).await;
    let not_uuid = post(&[("messageId", "order-1042"), ("agentId", AGENT_ID)]).await;
    let no_agent = post(&[("messageId", UUID)]).await;
    let other_agent = post(&[("messageId", UUID), ("agentId", "someone-else")]).await;

    // Assert
    assert!(no_id.error(400, "INVALID_ARGUMENT").contains("messageId"));
    assert!(not_uuid
        .error(400, "INVALID_ARGUMENT")
        .contains("not a UUID"));
    assert!(no_agent.error(400, "INVALID_ARGUMENT").contains("agentId"));
    assert!(other_agent
        .error(403, "PERMISSION_DENIED")
        .contains("someone-else"));
    assert_eq!(texts_on(&emulator, PHONE).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_message_needing_a_feature_the_phone_lacks_is_refused() {
    // Arrange
    let phone = PhoneConfig {
        features: vec!["RICHCARD_STANDALONE".to_string()],
        ..reading_phone(PHONE)
    };
    let emulator = TestEmulator::start(config(vec![phone])).await;
    let card = |title: &str| json!({"title": title});
    let carousel = json!({"contentMessage": {"richCard": {"carouselCard": {
        "cardWidth": "MEDIUM",
        "cardContents": [card("Boots"), card("Socks")],
    }}}});
    let standalone = json!({"contentMessage": {"richCard": {"standaloneCard": {
        "cardOrientation": "VERTICAL",
        "cardContent": card("Boots"),
    }}}});

    // Act
    let refused = emulator.send(PHONE, &new_id(), &carousel).await;
    let accepted = emulator.send(PHONE, &new_id(), &standalone).await;

    // Assert
    let message = refused.error(400, "INVALID_ARGUMENT");
    assert!(message.contains("RICHCARD_CAROUSEL"), "{message}");
    accepted.ok();
}

/// Three phones and the rates given.
fn limited(agent: Option<RateLimit>, user: Option<RateLimit>) -> EmulatorConfig {
    let phones = [PHONE, OTHER_PHONE, THIRD_PHONE]
        .map(reading_phone)
        .to_vec();
    EmulatorConfig {
        agent_rate: agent,
        user_rate: user,
        ..config(phones)
    }
}

/// Two calls at once, then (practically) none: a refill every 100 seconds.
const TWO_AT_ONCE: RateLimit = RateLimit {
    burst: 2,
    per_second: 0.01,
};

#[tokio::test]
async fn past_the_agent_rate_a_send_gets_429_resource_exhausted() {
    // Arrange
    let emulator = TestEmulator::start(limited(Some(TWO_AT_ONCE), None)).await;

    // Act
    let first = emulator.send(PHONE, &new_id(), &text("One")).await;
    let second = emulator.send(OTHER_PHONE, &new_id(), &text("Two")).await;
    let third = emulator.send(THIRD_PHONE, &new_id(), &text("Three")).await;
    let through_client = emulator
        .client()
        .send(&number(THIRD_PHONE), Uuid::new_v4(), &text("Four"))
        .await;

    // Assert
    first.ok();
    second.ok();
    let message = third.error(429, "RESOURCE_EXHAUSTED");
    assert!(message.contains("sending rate"), "{message}");
    assert!(
        matches!(through_client, Err(RbmError::Retryable { .. })),
        "{through_client:?}"
    );
    assert_eq!(texts_on(&emulator, THIRD_PHONE).await, Vec::<String>::new());
}

#[tokio::test]
async fn past_a_users_limit_only_that_user_gets_429() {
    // Arrange
    let emulator = TestEmulator::start(limited(None, Some(TWO_AT_ONCE))).await;

    // Act
    let first = emulator.send(PHONE, &new_id(), &text("One")).await;
    let second = emulator.send(PHONE, &new_id(), &text("Two")).await;
    let third = emulator.send(PHONE, &new_id(), &text("Three")).await;
    let other_user = emulator.send(OTHER_PHONE, &new_id(), &text("Hello")).await;

    // Assert
    first.ok();
    second.ok();
    let message = third.error(429, "RESOURCE_EXHAUSTED");
    assert!(message.contains("traffic limit"), "{message}");
    other_user.ok();
    assert_eq!(texts_on(&emulator, PHONE).await, vec!["One", "Two"]);
}
