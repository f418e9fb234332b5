//! `GET|POST /webhooks/kannel`: Kannel's delivery reports, verified by the `secret`
//! in the DLR URL, stored once per message and report type, and turned into receipts;
//! and the whole loop through a real Kannel when one is installed.

#[path = "../../../channels/tests/kannel_gateway/mod.rs"]
mod kannel_gateway;

use std::time::Duration;

use channels::sms::kannel::{KannelClient, KannelConfig};
use domain::PhoneNumber;
use secrecy::SecretString;
use uuid::Uuid;

use crate::helpers::{json, Backend, Options, TestApp};
use crate::on_both_backends;

const DLR_SECRET: &str = "kannel-api-test-dlr-secret-42";
const PHONE: &str = "+16136120808";

on_both_backends!(
    a_report_with_the_secret_is_stored_once_per_type,
    a_wrong_or_missing_secret_is_refused_and_nothing_is_stored,
    a_server_without_a_dlr_secret_refuses_everything,
    delivered_moves_the_message_and_a_later_failure_never_undoes_it,
    malformed_reports_name_the_parameter,
    a_message_sent_through_kannel_is_delivered_by_its_report,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, Options { processor: false }, |config| {
        config.sms.dlr_secret = Some(DLR_SECRET.to_string().into());
    })
    .await
}

/// Calls the webhook as Kannel does, with `query` after the `?`.
async fn report(app: &TestApp, query: &str) -> reqwest::Response {
    let url = app.url(&format!("/webhooks/kannel?{query}"));
    app.client.get(url).send().await.expect("request sent")
}

/// The query Kannel sends for `message_id` and report `status`.
fn dlr(message_id: &str, status: u8) -> String {
    format!("message_id={message_id}&status={status}&answer=ACK%2F&secret={DLR_SECRET}")
}

async fn stored_deliveries(app: &TestApp) -> i64 {
    let counts = app.store.inbox_counts().await.unwrap();
    counts.pending + counts.done + counts.failed
}

/// Creates a confirmed order for a customer with [`PHONE`], and returns its id and its
/// one queued message's id.
async fn order_with_message(app: &TestApp) -> (i64, String) {
    let body = serde_json::json!({
        "external_id": "K-1",
        "number": "#K1",
        "currency": "USD",
        "total": "42.00",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {"phone": PHONE, "first_name": "Ana", "locale": "en"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "42.00"}]
    });
    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let order_id = json(created).await["id"].as_i64().unwrap();
    let outbox = app.store.list_outbox(order_id).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    (order_id, outbox[0].id.to_string())
}

async fn message_state(app: &TestApp, order_id: i64) -> store::MessageView {
    let mut messages = app.store.list_messages(order_id).await.unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

async fn a_report_with_the_secret_is_stored_once_per_type(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let id = "0190a6d2-0000-7000-8000-000000000001";

    // Act
    let submitted = report(&app, &dlr(id, 8)).await;
    let delivered = report(&app, &dlr(id, 1)).await;
    let replayed = report(&app, &dlr(id, 1)).await;
    let posted = app
        .client
        .post(app.url(&format!("/webhooks/kannel?{}", dlr(id, 2))))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(json(submitted).await["status"], "accepted");
    assert_eq!(json(delivered).await["status"], "accepted");
    assert_eq!(json(replayed).await["status"], "duplicate");
    assert_eq!(json(posted).await["status"], "accepted");
    assert_eq!(stored_deliveries(&app).await, 3);
}

async fn a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let id = "0190a6d2-0000-7000-8000-000000000001";

    let missing = report(&app, &format!("message_id={id}&status=1")).await;
    let wrong = report(&app, &format!("message_id={id}&status=1&secret=guess")).await;
    let prefix = &DLR_SECRET[..10];
    let short = report(&app, &format!("message_id={id}&status=1&secret={prefix}")).await;

    for answer in [missing, wrong, short] {
        assert_eq!(answer.status(), 401);
        assert_eq!(json(answer).await["error"]["code"], "unauthorized");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_server_without_a_dlr_secret_refuses_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let answer = report(&app, &dlr("0190a6d2-0000-7000-8000-000000000001", 1)).await;

    assert_eq!(answer.status(), 401);
    let message = json(answer).await["error"]["message"].to_string();
    assert!(message.contains("sms.dlr_secret"), "{message}");
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn delivered_moves_the_message_and_a_later_failure_never_undoes_it(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (order_id, message_id) = order_with_message(&app).await;

    // Act
    for status in [4, 8, 1] {
        assert_eq!(report(&app, &dlr(&message_id, status)).await.status(), 200);
    }
    app.drain().await;
    let delivered = message_state(&app, order_id).await;
    report(&app, &dlr(&message_id, 2)).await;
    app.drain().await;

    // Assert
    assert_eq!(delivered.state, "delivered");
    assert!(delivered.delivered_at.is_some());
    assert_eq!(message_state(&app, order_id).await.state, "delivered");
}

async fn malformed_reports_name_the_parameter(backend: Backend) {
    let app = app(backend).await;
    let secret = format!("secret={DLR_SECRET}");
    let id = "0190a6d2-0000-7000-8000-000000000001";

    let cases = [
        (format!("status=1&{secret}"), "message_id"),
        (format!("message_id=42&status=1&{secret}"), "message_id"),
        (format!("message_id={id}&{secret}"), "status"),
        // What arrives when Kannel did not replace the escape code.
        (format!("message_id={id}&status=%25d&{secret}"), "status"),
    ];

    for (query, parameter) in cases {
        let answer = report(&app, &query).await;
        assert_eq!(answer.status(), 422, "{query}");
        let message = json(answer).await["error"]["message"].to_string();
        assert!(message.contains(parameter), "{query}: {message}");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_message_sent_through_kannel_is_delivered_by_its_report(backend: Backend) {
    // Arrange
    let Some(kannel) = kannel_gateway::Kannel::start() else {
        return;
    };
    let app = app(backend).await;
    let (order_id, message_id) = order_with_message(&app).await;
    let password = SecretString::from(kannel_gateway::PASSWORD);
    let mut config = KannelConfig::new(
        &kannel.sendsms_url,
        kannel_gateway::USERNAME,
        password,
        "Shop",
    );
    config.dlr_url = Some(app.url("/webhooks/kannel"));
    config.dlr_secret = Some(SecretString::from(DLR_SECRET));
    let client = KannelClient::new(config).expect("a client");
    let to = PhoneNumber::parse(PHONE, "US").expect("a number");

    // Act
    let id = Uuid::parse_str(&message_id).expect("a UUID");
    client
        .send(&to, id, "Your order #K1 is confirmed")
        .await
        .expect("Kannel accepts the message");

    // Assert: fakesmsc got it, and its delivery report (1) reached the webhook.
    kannel.wait_for_message("Your order #K1 is confirmed");
    // Kannel calls the DLR URL for the SMSC's acknowledgement (8) and the delivery (1),
    // in either order; the 8 changes nothing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        app.drain().await;
        let state = message_state(&app, order_id).await.state;
        if state == "delivered" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message is {state}, not delivered, after 5s\n{}",
            kannel.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
