//! Who the agent can reach and what it may show them: `capabilities`,
//! `users:batchGet`, `agentEvents` and `files.create`.

use channels::{AgentEvent, Feature, Reachability};
use emulator::{EmulatorConfig, PhoneConfig, RateLimit};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{config, number, reading_phone, TestEmulator, AGENT_ID};

const PHONE: &str = "+16136120707";
const OTHER_PHONE: &str = "+16136120708";
const NO_RCS: &str = "+16136120700";
const UNKNOWN: &str = "+16136120709";

fn new_id() -> String {
    Uuid::new_v4().to_string()
}

#[tokio::test]
async fn capabilities_list_the_features_of_a_phone_with_rcs() {
    // Arrange
    let phone = PhoneConfig {
        features: vec!["RICHCARD_STANDALONE".into(), "ACTION_DIAL".into()],
        ..reading_phone(PHONE)
    };
    let phones = vec![phone, PhoneConfig::without_rcs(NO_RCS)];
    let emulator = TestEmulator::start(config(phones)).await;
    let client = emulator.client();
    let path = format!("/v1/phones/{PHONE}/capabilities");

    // Act
    let reach = client.capabilities(&number(PHONE)).await;
    let no_rcs = client.capabilities(&number(NO_RCS)).await;
    let unknown = client.capabilities(&number(UNKNOWN)).await;
    let request_id = new_id();
    let raw = emulator
        .get_api(&path, &[("requestId", &request_id), ("agentId", AGENT_ID)])
        .await;
    let no_request_id = emulator.get_api(&path, &[("agentId", AGENT_ID)]).await;
    let not_uuid = [("requestId", "request-1"), ("agentId", AGENT_ID)];
    let not_uuid = emulator.get_api(&path, &not_uuid).await;

    // Assert
    let features = vec![Feature::RichcardStandalone, Feature::ActionDial];
    assert_eq!(
        reach.expect("answered"),
        Reachability::Reachable { features }
    );
    assert_eq!(no_rcs.expect("answered"), Reachability::NotReachable);
    assert_eq!(unknown.expect("answered"), Reachability::NotReachable);
    let expected = json!({"features": ["RICHCARD_STANDALONE", "ACTION_DIAL"]});
    assert_eq!(raw.ok(), &expected);
    let message = no_request_id.error(400, "INVALID_ARGUMENT");
    assert!(message.contains("requestId is missing"), "{message}");
    let message = not_uuid.error(400, "INVALID_ARGUMENT");
    assert!(message.contains("is not a UUID"), "{message}");
}

#[tokio::test]
async fn batch_get_names_the_users_with_rcs() {
    // Arrange
    let phones = vec![
        reading_phone(PHONE),
        reading_phone(OTHER_PHONE),
        PhoneConfig::without_rcs(NO_RCS),
    ];
    let emulator = TestEmulator::start(config(phones)).await;
    let asked = [PHONE, NO_RCS, OTHER_PHONE, UNKNOWN];

    // Act
    let numbers: Vec<_> = asked.iter().map(|n| number(n)).collect();
    let through_client = emulator.client().batch_get(&numbers).await;
    let raw = emulator
        .post_api(
            "/v1/users:batchGet",
            &json!({"users": asked, "agentId": AGENT_ID}),
        )
        .await;
    let odd = json!({"users": asked, "agentId": AGENT_ID, "region": "eu"});
    let refused = emulator.post_api("/v1/users:batchGet", &odd).await;

    // Assert
    let reach = through_client.expect("answered");
    assert_eq!(
        reach.reachable_users,
        vec![number(PHONE), number(OTHER_PHONE)]
    );
    // Google samples only lists of 500 numbers or more.
    assert_eq!(reach.total_random_sample_user_count, 0);
    let expected = json!({
        "reachableUsers": [PHONE, OTHER_PHONE],
        "totalRandomSampleUserCount": 0,
        "reachableRandomSampleUserCount": 0,
    });
    assert_eq!(raw.ok(), &expected);
    let message = refused.error(400, "INVALID_ARGUMENT");
    assert!(message.contains("region: unknown field"), "{message}");
}

#[tokio::test]
async fn read_receipts_and_typing_reach_the_phone() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let path = format!("/emulator/phones/{PHONE}/text");
    let written = json!({"text": "Is my order late?"});
    let user = emulator.control(Method::POST, &path, &written).await;
    let user_message = user.ok()["messageId"].as_str().expect("an id").to_string();
    let client = emulator.client();
    let read = AgentEvent::Read {
        message_id: user_message.clone(),
    };

    // Act
    let read = client
        .agent_event(&number(PHONE), Uuid::new_v4(), &read)
        .await;
    let typing = client
        .agent_event(&number(PHONE), Uuid::new_v4(), &AgentEvent::IsTyping)
        .await;

    // Assert
    read.expect("READ accepted");
    typing.expect("IS_TYPING accepted");
    let events = emulator.phone(PHONE).await["agentEvents"].clone();
    let shown: Vec<(&Value, &Value)> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|event| (&event["eventType"], &event["messageId"]))
        .collect();
    let expected = [
        (&json!("READ"), &json!(user_message)),
        (&json!("IS_TYPING"), &Value::Null),
    ];
    assert_eq!(shown, expected);
}

#[tokio::test]
async fn agent_events_are_judged_as_strictly_as_messages() {
    // Arrange
    let phones = vec![reading_phone(PHONE), PhoneConfig::without_rcs(NO_RCS)];
    let emulator = TestEmulator::start(config(phones)).await;
    let typing = json!({"eventType": "IS_TYPING"});

    // Act
    let no_rcs = emulator.agent_event(NO_RCS, &new_id(), &typing).await;
    let delivered = json!({"eventType": "DELIVERED", "messageId": "Mx1"});
    let wrong_type = emulator.agent_event(PHONE, &new_id(), &delivered).await;
    let bare_read = json!({"eventType": "READ"});
    let no_message = emulator.agent_event(PHONE, &new_id(), &bare_read).await;
    let coloured = json!({"eventType": "IS_TYPING", "colour": "red"});
    let unknown_field = emulator.agent_event(PHONE, &new_id(), &coloured).await;

    // Assert
    assert_eq!(no_rcs.error(404, "NOT_FOUND"), emulator::NOT_REACHABLE);
    for (answer, field) in [
        (&wrong_type, "eventType"),
        (&no_message, "messageId"),
        (&unknown_field, "colour"),
    ] {
        let message = answer.error(400, "INVALID_ARGUMENT");
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
    }
    assert_eq!(emulator.phone(PHONE).await["agentEvents"], json!([]));
}

#[tokio::test]
async fn a_reused_event_id_is_ignored_and_answered_as_the_first_time() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let id = new_id();
    let typing = json!({"eventType": "IS_TYPING"});

    // Act
    let first = emulator.agent_event(PHONE, &id, &typing).await;
    let again = emulator.agent_event(PHONE, &id, &typing).await;

    // Assert
    assert_eq!(first.ok()["eventType"], "IS_TYPING");
    assert_eq!(again.ok(), first.ok());
    let events = &emulator.phone(PHONE).await["agentEvents"];
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
}

#[tokio::test]
async fn agent_events_count_against_the_agents_rate() {
    // Arrange
    let config = EmulatorConfig {
        agent_rate: Some(RateLimit {
            burst: 1,
            per_second: 0.01,
        }),
        ..config(vec![reading_phone(PHONE)])
    };
    let emulator = TestEmulator::start(config).await;
    let message = json!({"contentMessage": {"text": "Shipped"}});

    // Act
    let sent = emulator.send(PHONE, &new_id(), &message).await;
    let typing = json!({"eventType": "IS_TYPING"});
    let refused = emulator.agent_event(PHONE, &new_id(), &typing).await;

    // Assert
    sent.ok();
    refused.error(429, "RESOURCE_EXHAUSTED");
    assert_eq!(emulator.phone(PHONE).await["agentEvents"], json!([]));
}

#[tokio::test]
async fn a_file_uploaded_as_bytes_is_served_as_it_came() {
    // Arrange
    let emulator = TestEmulator::start(config(Vec::new())).await;
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n not really an image".to_vec();
    let upload = |content_type: &str, body: Vec<u8>| {
        let request = emulator
            .http
            .post(emulator.url("/upload/v1/files"))
            .query(&[("agentId", AGENT_ID)])
            .bearer_auth(emulator.token())
            .header("content-type", content_type)
            .body(body);
        crate::helpers::answer(request)
    };

    // Act
    let created = upload("image/png", image.clone()).await;
    let refused = upload("text/plain", b"hello".to_vec()).await;
    let name = created.ok()["name"].as_str().expect("a name").to_string();
    let id = name.strip_prefix("files/").expect("a files/ name");
    let download = emulator
        .http
        .get(emulator.url(&format!("/emulator/files/{id}")));
    let download = download.send().await.expect("an answer");

    // Assert
    let message = refused.error(400, "INVALID_ARGUMENT");
    assert!(message.contains("text/plain"), "{message}");
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.bytes().await.expect("the bytes").to_vec(), image);
}

#[tokio::test]
async fn a_file_created_by_url_is_named_and_can_be_sent() {
    // Arrange
    let emulator = TestEmulator::start(config(vec![reading_phone(PHONE)])).await;
    let file_url = "https://cdn.example.com/boots.jpg";
    let file = json!({
        "fileUrl": file_url,
        "thumbnailUrl": "https://cdn.example.com/boots-thumb.jpg",
        "contentDescription": "Walking boots",
        "agentId": AGENT_ID,
    });

    // Act
    let created = emulator.post_api("/v1/files", &file).await;
    let name = created.ok()["name"].as_str().expect("a name").to_string();
    let message = json!({"contentMessage": {"uploadedRbmFile": {"fileName": name}}});
    let sent = emulator.send(PHONE, &new_id(), &message).await;
    let id = name.strip_prefix("files/").expect("a files/ name");
    let download = emulator
        .http
        .get(emulator.url(&format!("/emulator/files/{id}")));
    let download = download.send().await.expect("an answer");

    // Assert
    assert!(id.len() >= 8 && !id.contains('/'), "{name}");
    sent.ok();
    assert!(download.status().is_redirection(), "{}", download.status());
    let location = download.headers().get("location").expect("a Location");
    assert_eq!(location, file_url);
}

#[tokio::test]
async fn files_create_refuses_what_google_refuses() {
    // Arrange
    let emulator = TestEmulator::start(config(Vec::new())).await;
    let with = |fields: Value| {
        let mut body = json!({"agentId": AGENT_ID});
        body.as_object_mut()
            .expect("an object")
            .extend(fields.as_object().expect("fields").clone());
        body
    };

    // Act
    let relative = json!({"fileUrl": "cdn.example.com/boots.jpg"});
    let relative = emulator.post_api("/v1/files", &with(relative)).await;
    let missing = emulator.post_api("/v1/files", &with(json!({}))).await;
    let odd = json!({"fileUrl": "https://cdn.example.com/a.jpg", "mimeType": "image/jpeg"});
    let unknown = emulator.post_api("/v1/files", &with(odd)).await;
    let no_agent = json!({"fileUrl": "https://cdn.example.com/a.jpg"});
    let no_agent = emulator.post_api("/v1/files", &no_agent).await;

    // Assert
    for (answer, field) in [
        (&relative, "fileUrl"),
        (&missing, "fileUrl"),
        (&unknown, "mimeType"),
        (&no_agent, "agentId"),
    ] {
        let message = answer.error(400, "INVALID_ARGUMENT");
        assert!(message.starts_with(field), "{message}");
    }
}
