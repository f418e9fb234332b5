//! Simulated phones as the agent's webhook hears of them: deliveries and reads,
//! scripted replies, expiry and revocation, each in Google's signed Pub/Sub envelope.

use channels::Revocation;
use emulator::{PhoneConfig, ScriptStep, UserAction};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{
    config, number, offline_phone, reading_phone, TestEmulator, AGENT_ID, PATIENCE,
};

const PHONE: &str = "+16136120707";

fn text(text: &str) -> Value {
    json!({"contentMessage": {"text": text}, "messageTrafficType": "TRANSACTION"})
}

/// A text with a reply chip labelled `Track` and a dial action.
fn with_chips() -> Value {
    json!({
        "contentMessage": {
            "text": "Your order #1042 has shipped.",
            "suggestions": [
                {"reply": {"text": "Track", "postbackData": "track:1042"}},
                {"action": {
                    "text": "Call us",
                    "postbackData": "call",
                    "dialAction": {"phoneNumber": "+16136120700"},
                }},
            ],
        },
        "messageTrafficType": "TRANSACTION",
    })
}

/// Checks an RBM time: RFC 3339, within the test's patience of now.
#[track_caller]
fn assert_recent(time: &Value) {
    let text = time
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {time}"));
    let time = chrono::DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time");
    let age = chrono::Utc::now().signed_duration_since(time);
    let patience = chrono::TimeDelta::from_std(PATIENCE).expect("a short wait");
    assert!(age >= chrono::TimeDelta::zero() && age < patience, "{text}");
}

/// Checks a UserEvent about agent message `message_id` from [`PHONE`].
#[track_caller]
fn assert_user_event(data: &Value, event_type: &str, message_id: &str) {
    assert_eq!(data["senderPhoneNumber"], PHONE, "{data}");
    assert_eq!(data["eventType"], event_type, "{data}");
    assert_eq!(data["messageId"], message_id, "{data}");
    assert_eq!(data["agentId"], AGENT_ID, "{data}");
    assert!(
        data["eventId"].as_str().is_some_and(|id| !id.is_empty()),
        "{data}"
    );
    assert_recent(&data["sendTime"]);
}

/// Checks the Pub/Sub push envelope around a notice of `kind` (`event`, `message`).
#[track_caller]
fn assert_envelope(envelope: &Value, kind: &str) {
    let message = &envelope["message"];
    let attributes = &message["attributes"];
    assert_eq!(attributes["business_id"], AGENT_ID, "{envelope}");
    assert_eq!(attributes["product"], "RBM", "{envelope}");
    assert_eq!(attributes["type"], kind, "{envelope}");
    let id = message["messageId"].as_str().expect("a Pub/Sub message id");
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(message["message_id"], id);
    assert_recent(&message["publishTime"]);
    assert_eq!(message["publish_time"], message["publishTime"]);
    let subscription = envelope["subscription"].as_str().expect("a subscription");
    assert!(subscription.starts_with("projects/"), "{subscription}");
}

#[tokio::test]
async fn delivered_then_read_arrive_signed_in_pubsub_envelopes() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![reading_phone(PHONE)])).await;

    // Act
    let id = emulator
        .send_ok(PHONE, &text("Your order has shipped."))
        .await;
    let (read, read_envelope) = webhook.wait_for_event("READ", &id).await;

    // Assert
    assert_eq!(webhook.events_about(&id), ["DELIVERED", "READ"]);
    let (delivered, delivered_envelope) = webhook.wait_for_event("DELIVERED", &id).await;
    assert_user_event(&delivered, "DELIVERED", &id);
    assert_user_event(&read, "READ", &id);
    assert_ne!(delivered["eventId"], read["eventId"]);
    assert_envelope(&delivered_envelope, "event");
    assert_envelope(&read_envelope, "event");
    assert_eq!(
        delivered_envelope["message"]["attributes"]["event_type"],
        "DELIVERED"
    );
    assert_eq!(read_envelope["message"]["attributes"]["event_type"], "READ");
    let message = &emulator.phone(PHONE).await["messages"][0];
    assert_eq!(message["state"], "READ");
    assert_recent(&message["readAt"]);
}

#[tokio::test]
async fn scripted_replies_arrive_as_user_messages() {
    // Arrange
    let step = |action| ScriptStep {
        after_ms: 30,
        action,
    };
    let phone = PhoneConfig {
        read_after_ms: None,
        script: vec![
            step(UserAction::Text("Where is it now?".to_string())),
            step(UserAction::TapSuggestion("Track".to_string())),
        ],
        ..reading_phone(PHONE)
    };
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![phone])).await;

    // Act
    let first = emulator
        .send_ok(PHONE, &text("Your order has shipped."))
        .await;
    let is_text = |data: &Value| data.get("text").is_some();
    let (typed, typed_envelope) = webhook.wait_for("the scripted text", is_text).await;
    let second = emulator.send_ok(PHONE, &with_chips()).await;
    let is_tap = |data: &Value| data.get("suggestionResponse").is_some();
    let (tapped, tapped_envelope) = webhook.wait_for("the scripted tap", is_tap).await;

    // Assert
    assert_eq!(typed["text"], "Where is it now?");
    assert_eq!(typed["senderPhoneNumber"], PHONE);
    assert_eq!(typed["agentId"], AGENT_ID);
    assert_recent(&typed["sendTime"]);
    let user_id = typed["messageId"].as_str().expect("a user message id");
    assert!(!user_id.is_empty() && user_id != first, "{user_id}");
    assert_envelope(&typed_envelope, "message");
    assert_eq!(
        typed_envelope["message"]["attributes"]["message_type"],
        "TEXT"
    );
    let response = json!({"postbackData": "track:1042", "text": "Track", "type": "REPLY"});
    assert_eq!(tapped["suggestionResponse"], response);
    assert_eq!(
        tapped_envelope["message"]["attributes"]["message_type"],
        "SUGGESTION_RESPONSE"
    );
    // Tapping a chip opens the message: the agent hears it was read.
    webhook.wait_for_event("READ", &second).await;
}

#[tokio::test]
async fn a_message_past_its_ttl_on_an_offline_phone_is_revoked_with_a_server_event() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![offline_phone(PHONE)])).await;
    let mut body = text("Your parcel is at the depot.");
    body["ttl"] = json!("0.2s");

    // Act
    let id = emulator.send_ok(PHONE, &body).await;
    let is_expiry = |data: &Value| data["eventType"] == "TTL_EXPIRATION_REVOKED";
    let (expired, envelope) = webhook.wait_for("the TTL expiry", is_expiry).await;
    emulator.set_online(PHONE, true).await;
    let later = emulator
        .send_ok(PHONE, &text("It is back on its way."))
        .await;
    webhook.wait_for_event("DELIVERED", &later).await;

    // Assert
    // Server events name the phone `phoneNumber`, not `senderPhoneNumber`.
    assert_eq!(expired["phoneNumber"], PHONE, "{expired}");
    assert_eq!(expired.get("senderPhoneNumber"), None, "{expired}");
    assert_eq!(expired["messageId"], id.as_str());
    assert_eq!(expired["agentId"], AGENT_ID);
    assert!(expired["eventId"].as_str().is_some_and(|e| !e.is_empty()));
    assert_recent(&expired["sendTime"]);
    assert_eq!(envelope["message"]["attributes"]["business_id"], AGENT_ID);
    assert_eq!(webhook.events_about(&id), ["TTL_EXPIRATION_REVOKED"]);
    let phone = emulator.phone(PHONE).await;
    assert_eq!(phone["messages"][0]["state"], "EXPIRED");
    assert_eq!(phone["messages"][1]["state"], "DELIVERED");
}

#[tokio::test]
async fn a_message_revoked_before_delivery_never_arrives() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![offline_phone(PHONE)])).await;
    let client = emulator.client();
    let id = Uuid::new_v4();
    let body = text("Your order has shipped.");
    client.send(&number(PHONE), id, &body).await.expect("sent");

    // Act
    let revoked = client.revoke(&number(PHONE), id).await;
    emulator.set_online(PHONE, true).await;
    let later = emulator.send_ok(PHONE, &text("Sorry, wrong parcel.")).await;
    webhook.wait_for_event("DELIVERED", &later).await;

    // Assert
    assert_eq!(revoked.expect("answered"), Revocation::Revoked);
    assert_eq!(webhook.events_about(&id.to_string()), Vec::<String>::new());
    let phone = emulator.phone(PHONE).await;
    assert_eq!(phone["messages"][0]["messageId"], id.to_string());
    assert_eq!(phone["messages"][0]["state"], "REVOKED");
}

#[tokio::test]
async fn a_delivered_message_can_no_longer_be_revoked() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![reading_phone(PHONE)])).await;
    let id = emulator
        .send_ok(PHONE, &text("Your order has shipped."))
        .await;
    webhook.wait_for_event("DELIVERED", &id).await;

    // Act
    let raw = emulator.revoke(PHONE, &id).await;
    let uuid = Uuid::parse_str(&id).expect("a UUID");
    let through_client = emulator.client().revoke(&number(PHONE), uuid).await;
    let unknown = emulator.revoke(PHONE, &Uuid::new_v4().to_string()).await;

    // Assert
    let message = raw.error(404, "NOT_FOUND");
    assert!(message.contains("already delivered"), "{message}");
    assert_eq!(
        through_client.expect("answered"),
        Revocation::AlreadyDelivered
    );
    unknown.error(404, "NOT_FOUND");
    let state = &emulator.phone(PHONE).await["messages"][0]["state"];
    assert!(state == "DELIVERED" || state == "READ", "{state}");
}

#[tokio::test]
async fn a_tap_on_an_offline_phone_is_refused_and_changes_nothing() {
    // Arrange
    let phone = PhoneConfig {
        read_after_ms: None,
        ..reading_phone(PHONE)
    };
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![phone])).await;
    let id = emulator.send_ok(PHONE, &with_chips()).await;
    webhook.wait_for_event("DELIVERED", &id).await;
    emulator.set_online(PHONE, false).await;
    let tap = format!("/emulator/phones/{PHONE}/tap");

    // Act
    let refused = emulator
        .control(Method::POST, &tap, &json!({"text": "Track"}))
        .await;
    let state = emulator.phone(PHONE).await["messages"][0]["state"].clone();
    // Anything the refused tap sent would arrive before what the phone sends next.
    emulator.set_online(PHONE, true).await;
    let text = format!("/emulator/phones/{PHONE}/text");
    let later = json!({"text": "Never mind"});
    emulator.control(Method::POST, &text, &later).await.ok();
    webhook
        .wait_for("the later text", |data| data["text"] == "Never mind")
        .await;

    // Assert
    let message = refused.error(409, "FAILED_PRECONDITION");
    assert!(message.contains("offline"), "{message}");
    assert_eq!(state, "DELIVERED");
    assert_eq!(webhook.events_about(&id), ["DELIVERED"]);
    let sent = webhook.received();
    assert!(sent
        .iter()
        .all(|data| data.get("suggestionResponse").is_none()));
}

#[tokio::test]
async fn a_webhook_that_fails_is_retried_until_it_answers_200() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![reading_phone(PHONE)])).await;
    webhook.fail_next(2);

    // Act
    let id = emulator
        .send_ok(PHONE, &text("Your order has shipped."))
        .await;
    webhook.wait_for_event("READ", &id).await;

    // Assert
    let posts = webhook.posts();
    let statuses: Vec<u16> = posts.iter().map(|post| post.status).collect();
    assert_eq!(statuses, [500, 500, 200, 200]);
    // A retry is the same notice again, not a new one.
    assert_eq!(posts[0].body, posts[2].body);
    assert_eq!(webhook.events_about(&id), ["DELIVERED", "READ"]);
    let deliveries = emulator.inspect("/emulator/webhook/deliveries").await;
    let attempts: Vec<&Value> = deliveries[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|attempt| &attempt["status"])
        .collect();
    assert_eq!(attempts, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(deliveries[0]["state"], "DELIVERED");
}

#[tokio::test]
async fn the_registration_handshake_sends_the_client_token_and_wants_the_secret() {
    // Arrange
    let (emulator, _webhook) = TestEmulator::with_webhook(config(Vec::new())).await;

    // Act
    let path = "/emulator/webhook/register";
    let registration = emulator.control(Method::POST, path, &json!({})).await;

    // Assert
    let expected = json!({"registered": true, "status": 200, "problem": null});
    assert_eq!(registration.ok(), &expected);
}

#[tokio::test]
async fn the_webhook_can_be_moved_while_the_emulator_runs() {
    // Arrange
    let (emulator, first) = TestEmulator::with_webhook(config(vec![reading_phone(PHONE)])).await;
    let second = crate::helpers::Webhook::start().await;
    let before = emulator.send_ok(PHONE, &text("One")).await;
    first.wait_for_event("READ", &before).await;

    // Act
    let moved = json!({"url": second.url()});
    let moved = emulator
        .control(Method::PUT, "/emulator/webhook", &moved)
        .await;
    let relative = json!({"url": "rbm.example.com/hook"});
    let refused = emulator
        .control(Method::PUT, "/emulator/webhook", &relative)
        .await;
    let after = emulator.send_ok(PHONE, &text("Two")).await;
    second.wait_for_event("READ", &after).await;

    // Assert
    assert_eq!(moved.ok()["url"], second.url());
    let message = refused.error(400, "INVALID_ARGUMENT");
    assert!(message.starts_with("url: "), "{message}");
    assert_eq!(first.events_about(&after), Vec::<String>::new());
    assert_eq!(second.events_about(&before), Vec::<String>::new());
    let shown = emulator.inspect("/emulator/webhook").await;
    assert_eq!(shown["url"], second.url());
}
