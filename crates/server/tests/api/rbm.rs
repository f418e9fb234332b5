//! `POST /webhooks/rbm`: Google's handshake, signatures, de-duplication of what
//! Google redelivers, and the unsubscribe a phone sends as a text and an event.

use base64::Engine;
use serde_json::{json, Value};
use tidings::http::rbm::sign;

use crate::helpers::{Backend, Options, TestApp};
use crate::on_both_backends;

const CLIENT_TOKEN: &str = "rbm-test-client-token";

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, Options { processor: false }, |config| {
        config.rbm.client_token = Some(CLIENT_TOKEN.to_string().into());
    })
    .await
}

/// Google's Pub/Sub push envelope around `data`.
fn envelope(data: &Value, kind: &str) -> (Value, Vec<u8>) {
    let bytes = serde_json::to_vec(data).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let body = json!({
        "message": {
            "attributes": {"business_id": "shop@rbm.goog", "product": "RBM", "type": kind},
            "data": encoded, "messageId": "4000000000000001", "publishTime": "2026-12-01T10:00:00Z"
        },
        "subscription": "projects/rbm-shop/subscriptions/rbm-agent-subscription"
    });
    (body, bytes)
}

async fn post(app: &TestApp, body: &Value, signature: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/webhooks/rbm")).json(body);
    if let Some(signature) = signature {
        request = request.header("X-Goog-Signature", signature);
    }
    request.send().await.unwrap()
}

fn user_text(message_id: &str, text: &str) -> Value {
    json!({
        "senderPhoneNumber": "+16135550123", "messageId": message_id,
        "sendTime": "2026-12-01T10:00:00.123Z", "agentId": "shop@rbm.goog", "text": text
    })
}

async fn the_handshake_echoes_the_secret_for_our_token_only(backend: Backend) {
    let app = app(backend).await;
    let ours = json!({"clientToken": CLIENT_TOKEN, "secret": "1234567890"});
    let answer = post(&app, &ours, None).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "1234567890");

    let theirs = json!({"clientToken": "someone-else", "secret": "1234567890"});
    assert_eq!(post(&app, &theirs, None).await.status(), 401);
}

async fn unsigned_or_missigned_deliveries_are_refused_and_not_stored(backend: Backend) {
    let app = app(backend).await;
    let (body, data) = envelope(&user_text("m-1", "hello"), "message");

    assert_eq!(post(&app, &body, None).await.status(), 401);
    let wrong = sign("not-the-token", &data);
    assert_eq!(post(&app, &body, Some(&wrong)).await.status(), 401);
    // A signature over other data does not carry over.
    let other = sign(CLIENT_TOKEN, b"{}");
    assert_eq!(post(&app, &body, Some(&other)).await.status(), 401);

    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(
        counts.pending + counts.done + counts.failed,
        0,
        "{counts:?}"
    );
}

async fn a_server_without_a_client_token_refuses_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (body, data) = envelope(&user_text("m-1", "hello"), "message");
    let answer = post(&app, &body, Some(&sign(CLIENT_TOKEN, &data))).await;
    assert_eq!(answer.status(), 401);
    let error: Value = answer.json().await.unwrap();
    assert!(error["error"]["message"]
        .to_string()
        .contains("rbm.client_token"));
}

async fn malformed_deliveries_get_a_clear_error(backend: Backend) {
    let app = app(backend).await;
    let no_data = json!({"message": {"attributes": {}}});
    let answer = post(&app, &no_data, Some("AAAA")).await;
    assert_eq!(answer.status(), 422);
    let error: Value = answer.json().await.unwrap();
    assert!(error["error"]["message"]
        .to_string()
        .contains("message.data"));

    let not_json = app
        .client
        .post(app.url("/webhooks/rbm"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
}

async fn a_redelivered_message_is_stored_once(backend: Backend) {
    let app = app(backend).await;
    let (body, data) = envelope(&user_text("m-7", "where is my order"), "message");
    let signature = sign(CLIENT_TOKEN, &data);
    for _ in 0..3 {
        assert_eq!(post(&app, &body, Some(&signature)).await.status(), 200);
    }
    app.drain_ahead(chrono::Duration::zero()).await;

    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.done, counts.failed),
        (0, 1, 0),
        "{counts:?}"
    );
}

/// A customer with the phone [`user_text`] sends from, who placed an order; their id.
async fn customer(app: &TestApp) -> i64 {
    let body = json!({
        "external_id": "B-1", "number": "#B1", "currency": "USD", "total": "10.00",
        "placed_at": "2026-11-20T10:00:00Z", "status": "confirmed",
        "customer": {"phone": "+16135550123", "first_name": "Ana"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "10.00"}]
    });
    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let order_id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let order = app.store.get_order(order_id).await.unwrap();
    order.customer_id.unwrap()
}

fn user_event(event_id: &str, event_type: &str) -> Value {
    json!({
        "senderPhoneNumber": "+16135550123", "eventType": event_type, "eventId": event_id,
        "sendTime": "2026-12-01T10:00:01.000Z", "agentId": "shop@rbm.goog"
    })
}

async fn an_unsubscribe_sent_as_text_and_event_is_acknowledged_once(backend: Backend) {
    // Arrange: Google Messages' Unsubscribe menu sends both.
    let app = app(backend).await;
    let customer_id = customer(&app).await;
    let (text, text_data) = envelope(&user_text("m-stop", "STOP"), "message");
    let (event, event_data) = envelope(&user_event("e-unsub", "UNSUBSCRIBE"), "event");

    // Act
    let posted = post(&app, &text, Some(&sign(CLIENT_TOKEN, &text_data))).await;
    assert_eq!(posted.status(), 200);
    let posted = post(&app, &event, Some(&sign(CLIENT_TOKEN, &event_data))).await;
    assert_eq!(posted.status(), 200);
    app.drain_ahead(chrono::Duration::zero()).await;

    // Assert
    let consent = app.store.get_customer(customer_id).await.unwrap().consents;
    let rcs: Vec<(&str, bool)> = consent
        .iter()
        .filter(|c| c.channel == "rcs")
        .map(|c| (c.purpose.as_str(), c.granted))
        .collect();
    assert_eq!(rcs, [("promotional", false)]);
    let messages = app.store.list_customer_messages(customer_id).await.unwrap();
    let replies: Vec<&str> = messages
        .iter()
        .filter(|m| m.order_id.is_none())
        .map(|m| m.template_key.as_str())
        .collect();
    assert_eq!(replies, ["opt_out_ack"]);
}

async fn a_subscribe_event_grants_consent_again_and_is_confirmed(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let customer_id = customer(&app).await;
    let (stop, stop_data) = envelope(&user_event("e-1", "UNSUBSCRIBE"), "event");
    let (start, start_data) = envelope(&user_event("e-2", "SUBSCRIBE"), "event");

    // Act
    post(&app, &stop, Some(&sign(CLIENT_TOKEN, &stop_data))).await;
    post(&app, &start, Some(&sign(CLIENT_TOKEN, &start_data))).await;
    app.drain_ahead(chrono::Duration::zero()).await;

    // Assert
    let consent = app.store.get_customer(customer_id).await.unwrap().consents;
    let sources: Vec<(bool, &str)> = consent
        .iter()
        .map(|c| (c.granted, c.source.as_str()))
        .collect();
    assert_eq!(
        sources,
        [(false, "rcs:unsubscribe"), (true, "rcs:subscribe")]
    );
    let messages = app.store.list_customer_messages(customer_id).await.unwrap();
    let replies: Vec<&str> = messages
        .iter()
        .filter(|m| m.order_id.is_none())
        .map(|m| m.template_key.as_str())
        .collect();
    assert_eq!(replies, ["opt_out_ack", "opt_in_ack"]);
}

on_both_backends!(
    an_unsubscribe_sent_as_text_and_event_is_acknowledged_once,
    a_subscribe_event_grants_consent_again_and_is_confirmed,
    the_handshake_echoes_the_secret_for_our_token_only,
    unsigned_or_missigned_deliveries_are_refused_and_not_stored,
    a_server_without_a_client_token_refuses_everything,
    malformed_deliveries_get_a_clear_error,
    a_redelivered_message_is_stored_once,
);
