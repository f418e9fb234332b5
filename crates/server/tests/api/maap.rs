//! `POST /webhooks/maap`: a MaaP platform's notifications, authenticated by the shared
//! secret, stored once, and turned into receipts and inbound messages.

use serde_json::{json, Value};
use tidings::ingest::maap::notification;

use crate::helpers::{json, Backend, Options, TestApp};
use crate::on_both_backends;

const WEBHOOK_SECRET: &str = "maap-test-webhook-secret";
const PHONE: &str = "+16136120707";

on_both_backends!(
    delivered_and_displayed_statuses_move_the_message_to_read,
    a_failed_status_fails_the_message_but_never_undoes_a_delivery,
    an_inbound_text_lands_in_the_store_for_its_customer,
    taps_locations_and_files_are_kept_as_what_they_are,
    bad_or_missing_credentials_are_refused_and_nothing_is_stored,
    a_server_without_a_webhook_secret_refuses_everything,
    malformed_notifications_name_the_field,
    replayed_notifications_change_nothing,
    a_stop_from_a_maap_phone_revokes_rcs_consent_and_is_acknowledged_once,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, Options { processor: false }, |config| {
        config.maap.webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
    })
    .await
}

/// Posts `body` with `authorization` as the Authorization header, if any.
async fn post_with(app: &TestApp, body: &[u8], authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/maap"))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    request.send().await.expect("request sent")
}

/// Posts a notification as a platform registered with the right secret does.
async fn post(app: &TestApp, notification: &Value) -> reqwest::Response {
    let body = serde_json::to_vec(notification).unwrap();
    post_with(app, &body, Some(&format!("Bearer {WEBHOOK_SECRET}"))).await
}

fn status(msg_id: &str, status: &str, at: &str) -> Value {
    let message = json!({"msgId": msg_id, "status": status, "timestamp": at});
    notification("messageStatus", PHONE, message)
}

fn user_message(msg_id: &str, content: Value) -> Value {
    let mut message = content;
    message["msgId"] = json!(msg_id);
    message["timestamp"] = json!("2026-12-01T10:05:00.000Z");
    notification("message", PHONE, message)
}

/// Creates a confirmed order for a customer with [`PHONE`]: its id and customer's id.
async fn order_with_customer(app: &TestApp) -> (i64, i64) {
    let body = json!({
        "external_id": "M-1",
        "number": "#M1",
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
    let order = app.store.get_order(order_id).await.unwrap();
    (order_id, order.customer_id.expect("a customer"))
}

/// The id of the order's one queued message: the `msgId` Tidings sends it under.
async fn queued_message_id(app: &TestApp, order_id: i64) -> String {
    let outbox = app.store.list_outbox(order_id).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    outbox[0].id.to_string()
}

async fn message_state(app: &TestApp, order_id: i64) -> store::MessageView {
    let mut messages = app.store.list_messages(order_id).await.unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

async fn stored_deliveries(app: &TestApp) -> i64 {
    let counts = app.store.inbox_counts().await.unwrap();
    counts.pending + counts.done + counts.failed
}

async fn delivered_and_displayed_statuses_move_the_message_to_read(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (order_id, _) = order_with_customer(&app).await;
    let msg_id = queued_message_id(&app, order_id).await;

    // Act
    let delivered = post(&app, &status(&msg_id, "delivered", "2026-12-01T10:00:00Z")).await;
    let displayed = post(&app, &status(&msg_id, "displayed", "2026-12-01T10:02:00Z")).await;
    app.drain().await;

    // Assert
    assert_eq!(delivered.status(), 200);
    assert_eq!(json(delivered).await["status"], "accepted");
    assert_eq!(json(displayed).await["status"], "accepted");
    let message = message_state(&app, order_id).await;
    assert_eq!(message.state, "read");
    let delivered_at = message.delivered_at.expect("a delivery time").to_rfc3339();
    assert_eq!(delivered_at, "2026-12-01T10:00:00+00:00");
    let read_at = message.read_at.expect("a read time").to_rfc3339();
    assert_eq!(read_at, "2026-12-01T10:02:00+00:00");
}

async fn a_failed_status_fails_the_message_but_never_undoes_a_delivery(backend: Backend) {
    let app = app(backend).await;
    let (order_id, _) = order_with_customer(&app).await;
    let msg_id = queued_message_id(&app, order_id).await;

    post(&app, &status(&msg_id, "failed", "2026-12-01T10:00:00Z")).await;
    app.drain().await;
    let failed = message_state(&app, order_id).await.state;
    // A late delivery report wins over the failure, and a second failure changes nothing.
    post(&app, &status(&msg_id, "delivered", "2026-12-01T10:01:00Z")).await;
    post(&app, &status(&msg_id, "FAILED", "2026-12-01T10:02:00Z")).await;
    app.drain().await;

    assert_eq!(failed, "failed");
    assert_eq!(message_state(&app, order_id).await.state, "delivered");
}

async fn an_inbound_text_lands_in_the_store_for_its_customer(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;
    let text = user_message("Xs8CI3tdf", json!({"textMessage": "where is my order?"}));

    // Act
    let answer = post(&app, &text).await;
    app.drain().await;

    // Assert
    assert_eq!(answer.status(), 200);
    let inbound = app.store.list_inbound(customer_id).await.unwrap();
    assert_eq!(inbound.len(), 1);
    let message = &inbound[0];
    assert_eq!(message.body, "where is my order?");
    assert_eq!(message.kind, "text");
    assert_eq!(message.channel, "rcs");
    assert_eq!(message.provider_message_id, "Xs8CI3tdf");
    assert_eq!(message.sent_at.to_rfc3339(), "2026-12-01T10:05:00+00:00");
}

async fn taps_locations_and_files_are_kept_as_what_they_are(backend: Backend) {
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;
    let tap = json!({"suggestedResponse": {"response": {"reply": {
        "displayText": "Track it", "postback": {"data": "track:M-1"}}}}});
    let mut response = user_message("r-1", tap);
    response["event"] = json!("response");
    let place = json!({"geolocationPushMessage": {"pos": "45.4215 -75.6972"}});
    let file = json!({"fileMessage": {"fileUrl": "https://maap.example/f/9",
        "fileMIMEType": "image/jpeg", "fileName": "parcel.jpg", "fileSize": 52000}});

    for notification in [
        response,
        user_message("l-1", place),
        user_message("f-1", file),
    ] {
        assert_eq!(post(&app, &notification).await.status(), 200);
    }
    app.drain().await;

    let inbound = app.store.list_inbound(customer_id).await.unwrap();
    let kinds: Vec<_> = inbound.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["suggestion", "location", "file"]);
    let bodies: Vec<_> = inbound.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "Track it",
            "Shared a location: 45.42150, -75.69720",
            "Sent a file: parcel.jpg"
        ]
    );
}

async fn bad_or_missing_credentials_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let body = serde_json::to_vec(&user_message("m-1", json!({"textMessage": "hi"}))).unwrap();

    let unsigned = post_with(&app, &body, None).await;
    let wrong = post_with(&app, &body, Some("Bearer not-the-secret")).await;
    let longer = format!("Bearer {WEBHOOK_SECRET}x");
    let prefixed = post_with(&app, &body, Some(&longer)).await;
    let basic = format!("Basic {WEBHOOK_SECRET}");
    let other_scheme = post_with(&app, &body, Some(&basic)).await;

    for answer in [unsigned, wrong, prefixed, other_scheme] {
        assert_eq!(answer.status(), 401);
        assert_eq!(json(answer).await["error"]["code"], "unauthorized");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_server_without_a_webhook_secret_refuses_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = serde_json::to_vec(&user_message("m-1", json!({"textMessage": "hi"}))).unwrap();

    let answer = post_with(&app, &body, Some(&format!("Bearer {WEBHOOK_SECRET}"))).await;

    assert_eq!(answer.status(), 401);
    let message = json(answer).await["error"]["message"].to_string();
    assert!(message.contains("maap.webhook_secret"), "{message}");
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn malformed_notifications_name_the_field(backend: Backend) {
    let app = app(backend).await;
    let auth = format!("Bearer {WEBHOOK_SECRET}");

    let not_json = post_with(&app, b"{oops", Some(&auth)).await;
    assert_eq!(not_json.status(), 400);
    assert_eq!(json(not_json).await["error"]["code"], "malformed_body");

    let no_status_id = notification("messageStatus", PHONE, json!({"status": "delivered"}));
    let no_event = json!({"RCSMessage": {"msgId": "m-1", "textMessage": "hi"}});
    let mut bad_phone = user_message("m-2", json!({"textMessage": "hi"}));
    bad_phone["messageContact"]["userContact"] = json!("12");
    let bad_place = user_message("m-3", json!({"geolocationPushMessage": {"pos": "north"}}));
    let empty = user_message("m-4", json!({}));
    let cases = [
        (no_status_id, "RCSMessage.msgId"),
        (no_event, "event"),
        (bad_phone, "messageContact.userContact"),
        (bad_place, "RCSMessage.geolocationPushMessage.pos"),
        (empty, "RCSMessage.textMessage"),
    ];
    for (notification, field) in cases {
        let answer = post(&app, &notification).await;
        assert_eq!(answer.status(), 422, "{field}");
        let error = json(answer).await;
        assert_eq!(error["error"]["code"], "invalid_field");
        let message = error["error"]["message"].as_str().unwrap().to_string();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{field}: {message}"
        );
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn replayed_notifications_change_nothing(backend: Backend) {
    let app = app(backend).await;
    let (order_id, customer_id) = order_with_customer(&app).await;
    let msg_id = queued_message_id(&app, order_id).await;
    let delivered = status(&msg_id, "delivered", "2026-12-01T10:00:00Z");
    let text = user_message("u-1", json!({"textMessage": "thanks!"}));
    post(&app, &delivered).await;
    post(&app, &text).await;
    app.drain().await;
    let before = message_state(&app, order_id).await;
    let stored = stored_deliveries(&app).await;

    let replays = [post(&app, &delivered).await, post(&app, &text).await];
    app.drain().await;

    for replay in replays {
        assert_eq!(replay.status(), 200);
        assert_eq!(json(replay).await["status"], "duplicate");
    }
    let after = message_state(&app, order_id).await;
    assert_eq!(after.state, before.state);
    assert_eq!(after.history.len(), before.history.len());
    assert_eq!(app.store.list_inbound(customer_id).await.unwrap().len(), 1);
    assert_eq!(stored_deliveries(&app).await, stored);
}

async fn a_stop_from_a_maap_phone_revokes_rcs_consent_and_is_acknowledged_once(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;
    let stop = user_message("stop-1", json!({"textMessage": "Stop!"}));

    // Act: the platform delivers it twice.
    assert_eq!(post(&app, &stop).await.status(), 200);
    assert_eq!(post(&app, &stop).await.status(), 200);
    app.drain().await;

    // Assert
    let customer = app.store.get_customer(customer_id).await.unwrap();
    let rcs: Vec<(&str, bool, &str)> = customer
        .consents
        .iter()
        .filter(|c| c.channel == "rcs")
        .map(|c| (c.purpose.as_str(), c.granted, c.source.as_str()))
        .collect();
    assert_eq!(rcs, [("promotional", false, "keyword")]);
    let messages = app.store.list_customer_messages(customer_id).await.unwrap();
    let replies: Vec<&str> = messages
        .iter()
        .filter(|m| m.order_id.is_none())
        .map(|m| m.template_key.as_str())
        .collect();
    assert_eq!(replies, ["opt_out_ack"]);
}
