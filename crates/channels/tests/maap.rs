//! The MaaP client against a fake operator platform on 127.0.0.1: the request shapes
//! FNW.11 gives (paths, bearer token, JSON names), OAuth client credentials, and how
//! each kind of answer is classified.

mod fake_maap;

use std::time::Duration;

use channels::maap::{
    Capability, MaapAuth, MaapClient, MaapConfig, MaapError, Reachability, Revocation, Sent,
};
use domain::rcs::{
    AgentContentMessage, AgentMessage, CardContent, CardWidth, Media, MediaHeight, RichCard,
    Suggestion, TrafficType, UploadedRbmFile,
};
use domain::PhoneNumber;
use fake_maap::{FakeMaap, Scripted, BOT_ID, CLIENT_ID, CLIENT_SECRET, STATIC_TOKEN};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

fn phone() -> PhoneNumber {
    PhoneNumber::parse("+16136120707", "US").expect("a valid number")
}

fn shipped() -> AgentMessage {
    AgentMessage::new(
        AgentContentMessage::text("Your order #1042 has shipped.")
            .with_suggestion(Suggestion::reply("Stop updates", "stop:1042")),
    )
    .with_traffic_type(TrafficType::Transaction)
}

async fn send(client: &MaapClient) -> Result<Sent, MaapError> {
    client.send(&phone(), Uuid::new_v4(), &shipped()).await
}

fn messages_path() -> String {
    format!("/bot/v1/{BOT_ID}/messages")
}

// --- Requests as FNW.11 gives them ---

#[tokio::test]
async fn a_send_posts_the_rcs_message_to_the_bots_messages_under_tidings_id() {
    // Arrange
    let platform = FakeMaap::start().await;
    let client = platform.static_client();
    let message_id = Uuid::new_v4();

    // Act
    let sent = client
        .send(&phone(), message_id, &shipped())
        .await
        .expect("sent");

    // Assert
    assert_eq!(sent.msg_id, message_id.to_string());
    assert_eq!(sent.status.as_deref(), Some("pending"));
    let calls = platform.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, Method::POST);
    assert_eq!(call.path, messages_path());
    assert_eq!(call.query, None);
    assert_eq!(call.bearer.as_deref(), Some(STATIC_TOKEN));
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    let expected = json!({
        "messageContact": {"userContact": "+16136120707"},
        "RCSMessage": {
            "msgId": message_id.to_string(),
            "textMessage": "Your order #1042 has shipped.",
            "suggestedChipList": {"suggestions": [
                {"reply": {"displayText": "Stop updates", "postback": {"data": "stop:1042"}}}
            ]},
        },
    });
    assert_eq!(call.body, Some(expected));
}

#[tokio::test]
async fn a_carousel_reaches_the_platform_in_maaps_shape() {
    let platform = FakeMaap::start().await;
    let client = platform.static_client();
    let card = |title: &str| {
        CardContent::new()
            .with_title(title)
            .with_media(Media::from_url(
                MediaHeight::Short,
                "https://cdn.example/a.png",
            ))
            .with_suggestion(Suggestion::open_url("Buy", "buy", "https://shop.example"))
    };
    let carousel = RichCard::carousel(CardWidth::Medium, [card("Mug"), card("Plate")]);
    let message = AgentMessage::new(AgentContentMessage::rich_card(carousel));

    let sent = client.send(&phone(), Uuid::new_v4(), &message).await;

    // The fake refuses any body that is not FNW.11's shape with a 400.
    sent.expect("accepted");
    let body = platform.calls()[0].body.clone().expect("a body");
    let carousel = &body["RCSMessage"]["richcardMessage"]["message"]["generalPurposeCardCarousel"];
    assert_eq!(carousel["layout"]["cardWidth"], "MEDIUM_WIDTH");
    assert_eq!(carousel["content"][1]["title"], "Plate");
    assert_eq!(carousel["content"][0]["media"]["height"], "SHORT_HEIGHT");
    assert_eq!(
        carousel["content"][0]["media"]["mediaContentType"],
        "image/png"
    );
}

#[tokio::test]
async fn a_revocation_puts_the_cancelled_status_and_reads_404_as_not_held() {
    let platform = FakeMaap::start().await;
    let client = platform.static_client();
    let message_id = Uuid::new_v4();

    let first = client.revoke(message_id).await.expect("revoked");
    let gone = json!({"error": {"message": "Unknown message"}});
    platform.respond(Scripted::json(404, gone));
    let second = client.revoke(message_id).await.expect("answered");

    assert_eq!(first, Revocation::Revoked);
    assert_eq!(second, Revocation::NotHeld);
    for call in platform.calls() {
        assert_eq!(call.method, Method::PUT);
        let path = format!("/bot/v1/{BOT_ID}/messages/{message_id}/status");
        assert_eq!(call.path, path);
        assert_eq!(
            call.body,
            Some(json!({"RCSMessage": {"status": "cancelled"}}))
        );
    }
}

#[tokio::test]
async fn a_read_receipt_puts_the_displayed_status_on_the_customers_message() {
    let platform = FakeMaap::start().await;
    let client = platform.static_client();

    client.mark_read("Xs8CI3tdf").await.expect("marked read");

    let call = &platform.calls()[0];
    assert_eq!(call.method, Method::PUT);
    assert_eq!(
        call.path,
        format!("/bot/v1/{BOT_ID}/messages/Xs8CI3tdf/status")
    );
    assert_eq!(
        call.body,
        Some(json!({"RCSMessage": {"status": "displayed"}}))
    );
}

#[tokio::test]
async fn a_capability_query_asks_by_user_contact_and_reads_404_as_not_reachable() {
    let platform = FakeMaap::start().await;
    let client = platform.static_client();

    let reachable = client.capabilities(&phone()).await.expect("an answer");
    platform.respond(Scripted::json(
        404,
        json!({"error": {"message": "Not RCS"}}),
    ));
    let unreachable = client.capabilities(&phone()).await.expect("an answer");

    assert!(reachable.supports(&Capability::ChatBotCommunication));
    assert!(reachable.supports(&Capability::FileTransfer));
    assert_eq!(unreachable, Reachability::NotReachable);
    let call = &platform.calls()[0];
    assert_eq!(call.method, Method::GET);
    assert_eq!(call.path, format!("/bot/v1/{BOT_ID}/contactCapabilities"));
    // `+` written as %2B: a bare `+` in a query would read as a space.
    assert_eq!(call.query.as_deref(), Some("userContact=%2B16136120707"));
    assert_eq!(call.body, None);
}

#[tokio::test]
async fn a_platform_that_assigns_its_own_id_says_so_in_the_answer() {
    let platform = FakeMaap::start().await;
    let client = platform.static_client();
    let answer = json!({"RCSMessage": {"msgId": "MzJmajlmamVz", "status": "pending"}});
    platform.respond(Scripted::json(202, answer));

    let sent = send(&client).await.expect("sent");

    assert_eq!(sent.msg_id, "MzJmajlmamVz");
}

#[tokio::test]
async fn a_file_uploaded_to_rbm_is_refused_without_calling_the_platform() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    let file = UploadedRbmFile::new("files/rbm-only");
    let message = AgentMessage::new(AgentContentMessage::uploaded_file(file));

    let error = client
        .send(&phone(), Uuid::new_v4(), &message)
        .await
        .expect_err("unsupported");

    assert!(matches!(error, MaapError::Unsupported(_)), "{error:?}");
    assert!(!error.is_retryable());
    assert!(platform.calls().is_empty());
    assert_eq!(platform.tokens_issued(), 0);
}

// --- Tokens ---

#[tokio::test]
async fn client_credentials_fetch_one_token_with_basic_auth_and_reuse_it() {
    let platform = FakeMaap::start().await;
    let client = platform.client();

    for _ in 0..3 {
        send(&client).await.expect("sent");
    }
    client.capabilities(&phone()).await.expect("an answer");

    assert_eq!(platform.tokens_issued(), 1);
    let requests = platform.token_requests();
    assert_eq!(requests.len(), 1);
    let expected = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    assert_eq!(requests[0].basic.as_deref(), Some(expected.as_str()));
    assert_eq!(requests[0].form["grant_type"], "client_credentials");
    assert!(!requests[0].form.contains_key("client_secret"));
    let calls = platform.calls();
    assert_eq!(calls.len(), 4);
    assert!(calls
        .iter()
        .all(|call| call.bearer.as_deref() == Some("maap-token-1")));
}

#[tokio::test]
async fn form_credentials_and_a_scope_go_in_the_token_request_body() {
    let platform = FakeMaap::start().await;
    let client = platform.client_with(platform.form_credentials());

    send(&client).await.expect("sent");

    let request = &platform.token_requests()[0];
    assert_eq!(request.basic, None);
    assert_eq!(request.form["client_id"], CLIENT_ID);
    assert_eq!(request.form["client_secret"], CLIENT_SECRET);
    assert_eq!(request.form["scope"], "botmessage");
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_fetch() {
    let platform = FakeMaap::start().await;
    // A slow token endpoint keeps every caller waiting on the same fetch.
    platform.set_token_delay(Duration::from_millis(200));
    let client = platform.client();

    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = client.clone();
        sends.spawn(async move { send(&client).await });
    }
    while let Some(result) = sends.join_next().await {
        result.expect("the task ran").expect("sent");
    }

    assert_eq!(platform.tokens_issued(), 1);
    assert_eq!(platform.calls().len(), 8);
}

#[tokio::test]
async fn the_token_is_fetched_again_once_it_nears_expiry() {
    let platform = FakeMaap::start().await;
    // A 4 s token is used for half its life, since the 60 s margin exceeds it.
    platform.set_token_lifetime(4);
    let client = platform.client();

    send(&client).await.expect("first send");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    send(&client).await.expect("second send");

    let bearers: Vec<_> = platform.calls().into_iter().map(|c| c.bearer).collect();
    let expected = ["maap-token-1", "maap-token-2"].map(|t| Some(t.to_string()));
    assert_eq!(bearers, expected);
}

#[tokio::test]
async fn a_401_fetches_one_new_token_and_retries_once() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    send(&client).await.expect("first send");
    platform.revoke_tokens();

    send(&client).await.expect("sent after a new token");

    assert_eq!(platform.tokens_issued(), 2);
    let bearers: Vec<_> = platform.calls().into_iter().map(|c| c.bearer).collect();
    let expected = ["maap-token-1", "maap-token-1", "maap-token-2"].map(|t| Some(t.to_string()));
    assert_eq!(bearers, expected);
}

#[tokio::test]
async fn a_second_401_is_unauthorized_after_one_refresh() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    let refused = json!({"error": {"message": "Token not accepted for this bot"}});
    platform.respond(Scripted::json(401, refused.clone()));
    platform.respond(Scripted::json(401, refused));

    let error = send(&client).await.expect_err("refused twice");

    let MaapError::Unauthorized { message } = &error else {
        panic!("expected Unauthorized, got {error:?}");
    };
    assert_eq!(message, "Token not accepted for this bot");
    assert_eq!(platform.tokens_issued(), 2);
    assert_eq!(platform.calls().len(), 2);
}

#[tokio::test]
async fn a_refused_static_token_is_unauthorized_without_a_retry() {
    let platform = FakeMaap::start().await;
    let auth = MaapAuth::StaticBearer(SecretString::from("expired-static-token"));
    let client = platform.client_with(auth);

    let error = send(&client).await.expect_err("refused");

    assert!(matches!(error, MaapError::Unauthorized { .. }), "{error:?}");
    assert!(error.to_string().contains("maap.access_token"), "{error}");
    assert_eq!(platform.calls().len(), 1);
    assert!(platform.token_requests().is_empty());
}

#[tokio::test]
async fn refused_client_credentials_are_unauthorized_with_the_endpoints_reason() {
    let platform = FakeMaap::start().await;
    let mut credentials = platform.credentials();
    credentials.client_secret = SecretString::from("wrong");
    let client = platform.client_with(MaapAuth::ClientCredentials(credentials));

    let error = send(&client).await.expect_err("no token");

    let MaapError::Unauthorized { message } = &error else {
        panic!("expected Unauthorized, got {error:?}");
    };
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(
        message.contains("invalid_client: Unknown client or wrong secret"),
        "{message}"
    );
    assert!(
        !message.contains("wrong\""),
        "the secret stays out: {message}"
    );
    assert!(platform.calls().is_empty());
}

#[tokio::test]
async fn a_token_endpoint_in_trouble_is_retryable() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    let busy = Scripted::json(503, json!({"error": "temporarily_unavailable"}));
    platform.respond_to_token_request(busy.header("retry-after", "3"));

    let error = send(&client).await.expect_err("no token");

    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    assert!(platform.calls().is_empty());
}

// --- Answers sorted into decisions ---

#[tokio::test]
async fn a_404_means_the_contact_is_not_reachable() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    platform.respond(Scripted::json(
        404,
        json!({"error": {"message": "Not RCS"}}),
    ));

    let error = send(&client).await.expect_err("not reachable");

    assert!(matches!(error, MaapError::NotReachable), "{error:?}");
}

#[tokio::test]
async fn a_400_is_rejected_with_the_platforms_reason() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    platform.respond(Scripted::service_exception(
        400,
        "SVC0002",
        "Invalid input value for message part %1",
        "RCSMessage.textMessage",
    ));

    let error = send(&client).await.expect_err("rejected");

    let MaapError::Rejected { code, reason } = &error else {
        panic!("expected Rejected, got {error:?}");
    };
    assert_eq!(*code, 400);
    assert_eq!(
        reason,
        "SVC0002: Invalid input value for message part RCSMessage.textMessage"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_429_is_retryable_after_the_seconds_the_platform_asks() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    let throttled = json!({"error": {"message": "Too many messages for this bot"}});
    platform.respond(Scripted::json(429, throttled).header("retry-after", "2"));

    let error = send(&client).await.expect_err("throttled");

    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert!(error.to_string().contains("Too many messages"), "{error}");
}

#[tokio::test]
async fn a_500_is_retryable_and_a_403_forbidden() {
    let platform = FakeMaap::start().await;
    let client = platform.client();
    platform.respond(Scripted::json(
        500,
        json!({"error": {"message": "Internal"}}),
    ));
    let forbidden = json!({"error": {"message": "Bot not launched on this network"}});
    platform.respond(Scripted::json(403, forbidden));

    let server_error = send(&client).await.expect_err("server error");
    let refused = send(&client).await.expect_err("forbidden");

    assert!(
        matches!(
            server_error,
            MaapError::Retryable {
                retry_after: None,
                ..
            }
        ),
        "{server_error:?}"
    );
    assert!(
        matches!(&refused, MaapError::Forbidden { message } if message.contains("launched")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_unreachable_platform_is_retryable_and_names_no_phone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed = listener.local_addr().expect("local address");
    drop(listener);
    let auth = MaapAuth::StaticBearer(SecretString::from(STATIC_TOKEN));
    let config = MaapConfig::new(format!("http://{closed}/bot/v1"), BOT_ID, auth);
    let client = MaapClient::new(config).expect("a client");

    let error = client
        .capabilities(&phone())
        .await
        .expect_err("no connection");

    assert!(error.is_retryable(), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("capabilities could not connect"), "{text}");
    assert!(!text.contains("6136120707"), "{text}");
}

// --- Every message the content model allows ---

/// Every valid RBM message proptest can build (files uploaded to RBM aside) reaches the
/// platform as a body the fake accepts: one content key, MaaP's names, no RBM key.
#[test]
fn any_valid_message_translates_to_a_body_the_platform_accepts() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let platform = runtime.block_on(FakeMaap::start());
    let client = runtime.block_on(async { platform.static_client() });
    let mut runner = TestRunner::new(Config::with_cases(64));
    let strategy = domain::rcs::strategies::content_message();
    let accepted = std::sync::atomic::AtomicUsize::new(0);

    let result = runner.run(&strategy, |content| {
        let message = AgentMessage::new(content);
        let sent = runtime.block_on(client.send(&phone(), Uuid::new_v4(), &message));
        match sent {
            Ok(_) => {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(MaapError::Unsupported(_)) => Ok(()),
            Err(error) => Err(TestCaseError::fail(format!("{error}"))),
        }
    });

    result.expect("every valid message is accepted");
    // Files uploaded to RBM are refused; most generated messages must still go out.
    let accepted = accepted.into_inner();
    assert!(
        accepted >= 16,
        "only {accepted} of 64 messages were sendable"
    );
}
