//! The RBM client against a fake Google on 127.0.0.1: token handling, URLs and bodies,
//! and how each kind of answer is classified.

mod support;

use std::time::Duration;

use channels::{
    AgentEvent, BatchReach, CapabilityCacheConfig, Feature, RbmClient, RbmError, Reachability,
    RetryPolicy, Revocation, MAX_BATCH_USERS,
};
use domain::PhoneNumber;
use reqwest::Method;
use serde_json::json;
use support::{FakeGoogle, Scripted, AGENT_ID, OTHER_KEY_FILE};
use uuid::Uuid;

fn phone() -> PhoneNumber {
    PhoneNumber::parse("+16136120707", "US").expect("a valid number")
}

fn other_phone() -> PhoneNumber {
    PhoneNumber::parse("+442079460958", "GB").expect("a valid number")
}

fn message() -> serde_json::Value {
    json!({
        "contentMessage": {"text": "Your order #1042 has shipped."},
        "messageTrafficType": "TRANSACTION",
    })
}

async fn send(client: &RbmClient) -> Result<(), RbmError> {
    client.send(&phone(), Uuid::new_v4(), &message()).await
}

// --- Requests as Google documents them ---

#[tokio::test]
async fn a_send_posts_the_message_to_agent_messages_with_its_ids() {
    // Arrange
    let google = FakeGoogle::start().await;
    let client = google.client();
    let message_id = Uuid::new_v4();

    // Act
    client
        .send(&phone(), message_id, &message())
        .await
        .expect("sent");

    // Assert
    let calls = google.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, Method::POST);
    assert_eq!(call.path, "/v1/phones/+16136120707/agentMessages");
    let query = format!("messageId={message_id}&agentId={AGENT_ID}");
    assert_eq!(call.query.as_deref(), Some(query.as_str()));
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert_eq!(call.body, Some(message()));
    assert_eq!(call.bearer.as_deref(), Some("token-1"));
}

#[tokio::test]
async fn a_revocation_deletes_the_message_and_reads_200_and_404() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let message_id = Uuid::new_v4();

    google.respond(Scripted::ok(json!({})));
    let first = client.revoke(&phone(), message_id).await.expect("revoked");
    let gone = "Requested entity was not found.";
    google.respond(Scripted::error(404, "NOT_FOUND", gone));
    let second = client.revoke(&phone(), message_id).await.expect("answered");

    assert_eq!(first, Revocation::Revoked);
    assert_eq!(second, Revocation::AlreadyDelivered);
    let calls = google.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.method, Method::DELETE);
        let path = format!("/v1/phones/+16136120707/agentMessages/{message_id}");
        assert_eq!(call.path, path);
        assert_eq!(call.query.as_deref(), Some("agentId=tidings-test-agent"));
        assert_eq!(call.body, None);
    }
}

#[tokio::test]
async fn agent_events_post_read_and_typing_bodies() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let (read_id, typing_id) = (Uuid::new_v4(), Uuid::new_v4());
    let read = AgentEvent::Read {
        message_id: "MsX7f3hT2qRkP".to_string(),
    };

    client
        .agent_event(&phone(), read_id, &read)
        .await
        .expect("read receipt");
    client
        .agent_event(&phone(), typing_id, &AgentEvent::IsTyping)
        .await
        .expect("typing");

    let calls = google.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|call| call.method == Method::POST));
    assert!(calls
        .iter()
        .all(|call| call.path == "/v1/phones/+16136120707/agentEvents"));
    let read_query = format!("eventId={read_id}&agentId={AGENT_ID}");
    assert_eq!(calls[0].query.as_deref(), Some(read_query.as_str()));
    let read_body = json!({"eventType": "READ", "messageId": "MsX7f3hT2qRkP"});
    assert_eq!(calls[0].body, Some(read_body));
    let typing_query = format!("eventId={typing_id}&agentId={AGENT_ID}");
    assert_eq!(calls[1].query.as_deref(), Some(typing_query.as_str()));
    assert_eq!(calls[1].body, Some(json!({"eventType": "IS_TYPING"})));
}

#[tokio::test]
async fn a_capability_check_gets_the_features_with_a_fresh_request_id() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let features = json!({"features": ["RICHCARD_STANDALONE", "ACTION_DIAL", "NEW_THING"]});
    google.respond(Scripted::ok(features.clone()));
    google.respond(Scripted::ok(features));

    let answer = client.capabilities(&phone()).await.expect("an answer");
    client
        .capabilities(&phone())
        .await
        .expect("a second answer");

    let expected = vec![
        Feature::RichcardStandalone,
        Feature::ActionDial,
        Feature::Other("NEW_THING".to_string()),
    ];
    assert_eq!(answer, Reachability::Reachable { features: expected });
    let calls = google.calls();
    assert_eq!(calls.len(), 2, "capabilities() always asks Google");
    let mut request_ids = Vec::new();
    for call in &calls {
        assert_eq!(call.method, Method::GET);
        assert_eq!(call.path, "/v1/phones/+16136120707/capabilities");
        let query = call.query.as_deref().expect("a query");
        let (request_id, agent) = query.split_once('&').expect("two parameters");
        let request_id = request_id
            .strip_prefix("requestId=")
            .expect("requestId first");
        Uuid::parse_str(request_id).expect("a UUID request id");
        assert_eq!(agent, "agentId=tidings-test-agent");
        request_ids.push(request_id.to_string());
    }
    assert_ne!(request_ids[0], request_ids[1]);
}

#[tokio::test]
async fn batch_get_posts_the_numbers_and_the_agent_in_the_body() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    google.respond(Scripted::ok(json!({
        "reachableUsers": ["+16136120707"],
        "totalRandomSampleUserCount": 1500,
        "reachableRandomSampleUserCount": 1100,
    })));

    let reach = client
        .batch_get(&[phone(), other_phone()])
        .await
        .expect("an answer");

    let expected = BatchReach {
        reachable_users: vec![phone()],
        total_random_sample_user_count: 1500,
        reachable_random_sample_user_count: 1100,
    };
    assert_eq!(reach, expected);
    let calls = google.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, Method::POST);
    assert_eq!(calls[0].path, "/v1/users:batchGet");
    assert_eq!(calls[0].query, None);
    let body = json!({"users": ["+16136120707", "+442079460958"], "agentId": AGENT_ID});
    assert_eq!(calls[0].body, Some(body));
}

#[tokio::test]
async fn batch_get_refuses_more_than_ten_thousand_numbers_without_calling() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let phones: Vec<PhoneNumber> = (0..=MAX_BATCH_USERS)
        .map(|n| PhoneNumber::from_e164_unchecked(format!("+1613{n:07}")))
        .collect();

    let error = client
        .batch_get(&phones)
        .await
        .expect_err("too many numbers");
    let empty = client.batch_get(&[]).await.expect("an empty answer");

    assert!(matches!(
        error,
        RbmError::BatchTooLarge {
            count: 10_001,
            max: 10_000
        }
    ));
    assert!(error.to_string().contains("at most 10000"), "{error}");
    assert_eq!(empty, BatchReach::default());
    assert!(google.calls().is_empty());
    assert_eq!(google.tokens_issued(), 0);
}

// --- Tokens ---

#[tokio::test]
async fn the_token_is_fetched_once_and_reused_across_calls() {
    let google = FakeGoogle::start().await;
    let client = google.client();

    for _ in 0..3 {
        send(&client).await.expect("sent");
    }
    client.capabilities(&phone()).await.expect("an answer");

    assert_eq!(google.tokens_issued(), 1);
    let calls = google.calls();
    assert_eq!(calls.len(), 4);
    assert!(calls
        .iter()
        .all(|call| call.bearer.as_deref() == Some("token-1")));
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_fetch() {
    let google = FakeGoogle::start().await;
    // A slow token endpoint keeps every caller waiting on the same fetch.
    google.set_token_delay(Duration::from_millis(200));
    let client = google.client();

    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = client.clone();
        sends.spawn(async move { send(&client).await });
    }
    while let Some(result) = sends.join_next().await {
        result.expect("the task ran").expect("sent");
    }

    assert_eq!(google.tokens_issued(), 1);
    assert_eq!(google.calls().len(), 8);
}

#[tokio::test]
async fn the_token_is_fetched_again_once_it_nears_expiry() {
    let google = FakeGoogle::start().await;
    // A 4 s token is used for half its life, since the 5 min margin exceeds it.
    google.set_token_lifetime(4);
    let client = google.client();

    send(&client).await.expect("first send");
    send(&client).await.expect("second send");
    let before = google.tokens_issued();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    send(&client).await.expect("third send");

    assert_eq!(before, 1);
    assert_eq!(google.tokens_issued(), 2);
    let bearers: Vec<_> = google.calls().into_iter().map(|call| call.bearer).collect();
    let expected = ["token-1", "token-1", "token-2"].map(|t| Some(t.to_string()));
    assert_eq!(bearers, expected);
}

#[tokio::test]
async fn a_401_fetches_one_new_token_and_retries_once() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    send(&client).await.expect("first send");
    google.revoke_tokens();

    send(&client).await.expect("sent after a new token");

    assert_eq!(google.tokens_issued(), 2);
    let bearers: Vec<_> = google.calls().into_iter().map(|call| call.bearer).collect();
    let expected = ["token-1", "token-1", "token-2"].map(|t| Some(t.to_string()));
    assert_eq!(bearers, expected);
}

#[tokio::test]
async fn concurrent_401s_share_one_new_token() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    send(&client).await.expect("first send");
    google.revoke_tokens();

    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = client.clone();
        sends.spawn(async move { send(&client).await });
    }
    while let Some(result) = sends.join_next().await {
        result
            .expect("the task ran")
            .expect("sent after a new token");
    }

    assert_eq!(google.tokens_issued(), 2);
    let retried = google
        .calls()
        .into_iter()
        .filter(|call| call.bearer.as_deref() == Some("token-2"));
    assert_eq!(retried.count(), 4);
}

#[tokio::test]
async fn a_second_401_is_unauthorized_after_one_refresh() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let refused = "Request had invalid authentication credentials.";
    google.respond(Scripted::error(401, "UNAUTHENTICATED", refused));
    google.respond(Scripted::error(401, "UNAUTHENTICATED", refused));

    let error = send(&client).await.expect_err("refused twice");

    assert!(matches!(&error, RbmError::Unauthorized { message } if message == refused));
    assert_eq!(google.tokens_issued(), 2);
    assert_eq!(google.calls().len(), 2);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    let google = FakeGoogle::start().await;
    let config = google.config_with_key(OTHER_KEY_FILE);
    let client = RbmClient::new(config).expect("a client");

    let error = send(&client).await.expect_err("no token");

    assert_eq!(google.assertions_refused(), 1);
    assert_eq!(google.tokens_issued(), 0);
    assert!(google.calls().is_empty());
    let RbmError::Unauthorized { message } = &error else {
        panic!("expected Unauthorized, got {error:?}");
    };
    assert!(
        message.contains("invalid_grant: Invalid JWT Signature."),
        "{message}"
    );
    assert!(message.contains("HTTP 400"), "{message}");
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_retryable() {
    let google = FakeGoogle::start().await;
    let mut config = google.config();
    config.token_url = format!("http://{}/token", closed_port().await);
    let client = RbmClient::new(config).expect("a client");

    let error = send(&client).await.expect_err("no token");

    assert!(error.is_retryable(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("token request could not connect"),
        "{error}"
    );
    assert!(google.calls().is_empty());
}

// --- Answers sorted into decisions ---

#[tokio::test]
async fn a_404_means_the_phone_is_not_reachable() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let text = "The specified phone number cannot be reached by RBM at this time.";
    google.respond(Scripted::error(404, "NOT_FOUND", text));

    let error = send(&client).await.expect_err("not reachable");

    assert!(matches!(error, RbmError::NotReachable), "{error:?}");
}

#[tokio::test]
async fn a_400_is_rejected_with_googles_message() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let text = "Invalid JSON payload received. Unknown name \"txt\" at 'agent_message'.";
    google.respond(Scripted::error(400, "INVALID_ARGUMENT", text));

    let error = send(&client).await.expect_err("rejected");

    let RbmError::Rejected {
        code,
        status,
        message,
    } = &error
    else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(
        (*code, status.as_str(), message.as_str()),
        (400, "INVALID_ARGUMENT", text)
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_429_is_retryable_after_the_seconds_google_asks() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let text = "Quota exceeded for quota metric 'Agent messages'.";
    google.respond(Scripted::error(429, "RESOURCE_EXHAUSTED", text).header("retry-after", "2"));

    let error = send(&client).await.expect_err("throttled");

    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert!(error.to_string().contains("RESOURCE_EXHAUSTED"), "{error}");
}

#[tokio::test]
async fn a_500_is_retryable() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    google.respond(Scripted::error(
        500,
        "INTERNAL",
        "Internal error encountered.",
    ));

    let error = send(&client).await.expect_err("server error");

    assert!(
        matches!(
            error,
            RbmError::Retryable {
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_403_is_forbidden() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let text = "The caller does not have permission";
    google.respond(Scripted::error(403, "PERMISSION_DENIED", text));

    let error = send(&client).await.expect_err("forbidden");

    assert!(matches!(&error, RbmError::Forbidden { message } if message == text));
    assert_eq!(google.tokens_issued(), 1, "a 403 is not a token problem");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_retryable() {
    let google = FakeGoogle::start().await;
    let mut config = google.config();
    config.request_timeout = Duration::from_millis(500);
    let client = RbmClient::new(config).expect("a client");
    // A first call fetches the token, so that only the slow answer meets the timeout.
    send(&client).await.expect("first send");
    google.respond(Scripted::ok(json!({})).after(Duration::from_secs(3)));

    let error = send(&client).await.expect_err("timed out");

    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("send timed out"), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_keeps_the_number_out_of_the_message() {
    let google = FakeGoogle::start().await;
    let mut config = google.config();
    config.base_url = format!("http://{}", closed_port().await);
    let client = RbmClient::new(config).expect("a client");

    let error = send(&client).await.expect_err("no connection");

    assert!(error.is_retryable(), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("send could not connect"), "{text}");
    assert!(
        !text.contains("6136120707"),
        "the phone number leaked: {text}"
    );
}

#[tokio::test]
async fn the_retry_policy_resends_with_the_same_message_id() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    google.respond(Scripted::error(
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
    ));
    let (phone, message, message_id) = (phone(), message(), Uuid::new_v4());
    let policy = RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_secs(1),
        max_attempts: 3,
    };

    policy
        .run(|| client.send(&phone, message_id, &message))
        .await
        .expect("sent on the second attempt");

    let calls = google.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].query, calls[1].query);
    let id = format!("messageId={message_id}&");
    assert!(calls[0]
        .query
        .as_deref()
        .is_some_and(|q| q.starts_with(&id)));
}

// --- The capability cache ---

#[tokio::test]
async fn cached_capabilities_are_answered_without_calling_google() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    google.respond(Scripted::ok(json!({"features": ["REVOCATION"]})));

    let first = client
        .capabilities_cached(&phone())
        .await
        .expect("from Google");
    let second = client
        .capabilities_cached(&phone())
        .await
        .expect("from the cache");

    assert_eq!(first, second);
    assert!(second.supports(&Feature::Revocation));
    assert_eq!(google.calls().len(), 1);
}

#[tokio::test]
async fn not_reachable_answers_are_cached_too() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    let text = "The specified phone number cannot be reached by RBM at this time.";
    google.respond(Scripted::error(404, "NOT_FOUND", text));

    let first = client
        .capabilities_cached(&phone())
        .await
        .expect("from Google");
    let second = client
        .capabilities_cached(&phone())
        .await
        .expect("from the cache");
    // Another phone is not covered by the first one's answer.
    client
        .capabilities_cached(&other_phone())
        .await
        .expect("from Google");

    assert_eq!(first, Reachability::NotReachable);
    assert_eq!(second, Reachability::NotReachable);
    assert_eq!(google.calls().len(), 2);
}

#[tokio::test]
async fn cached_capabilities_expire_after_their_ttl() {
    let google = FakeGoogle::start().await;
    let mut config = google.config();
    config.capability_cache = CapabilityCacheConfig {
        positive_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_millis(200),
        max_entries: 100,
    };
    let client = RbmClient::new(config).expect("a client");
    google.respond(Scripted::error(404, "NOT_FOUND", "Not reachable."));
    google.respond(Scripted::ok(json!({"features": ["RICHCARD_CAROUSEL"]})));

    let first = client
        .capabilities_cached(&phone())
        .await
        .expect("from Google");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = client
        .capabilities_cached(&phone())
        .await
        .expect("from Google again");
    let third = client
        .capabilities_cached(&phone())
        .await
        .expect("from the cache");

    assert_eq!(first, Reachability::NotReachable);
    assert!(second.supports(&Feature::RichcardCarousel));
    assert_eq!(third, second);
    assert_eq!(google.calls().len(), 2);
}

#[tokio::test]
async fn a_forgotten_phone_is_asked_about_again() {
    let google = FakeGoogle::start().await;
    let client = google.client();
    google.respond(Scripted::error(404, "NOT_FOUND", "Not reachable."));

    client
        .capabilities_cached(&phone())
        .await
        .expect("from Google");
    client.forget_capabilities(&phone());
    let answer = client
        .capabilities_cached(&phone())
        .await
        .expect("from Google again");

    assert_eq!(answer, Reachability::Reachable { features: vec![] });
    assert_eq!(google.calls().len(), 2);
}

/// An address where nothing listens: bound, then released.
async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("local address")
}
