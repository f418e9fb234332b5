//! Platform webhooks with the platforms' real payloads and signatures.

use serde_json::{json, Value};

use crate::helpers::{fixture, inner_fixture, json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_shopify_order_gives_its_timeline_and_a_confirmation,
    a_replayed_delivery_changes_nothing,
    a_bad_signature_is_refused_and_nothing_is_stored,
    malformed_payloads_get_a_clear_error,
    a_fulfillment_and_its_events_move_the_order_to_delivered,
    an_event_before_its_order_waits_and_is_applied_later,
    a_refund_lands_on_the_timeline_and_is_announced,
    a_woocommerce_order_is_confirmed_and_its_ping_ignored,
    an_easypost_tracker_updates_the_shipment_with_that_tracking_code,
    a_shopify_customer_is_stored_with_consent,
    copies_of_a_delivery_in_one_commit_are_stored_once_with_their_body,
);

async fn a_shopify_order_gives_its_timeline_and_a_confirmation(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let body = serde_json::to_vec(&inner_fixture("shopify-order.json")).unwrap();

    // Act
    let response = app.post_shopify("orders/create", &body, "wh-1").await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["status"], "accepted");
    assert_eq!(app.drain().await, 1);
    let order = app.order("shopify", "450789469").await;
    assert_eq!(order.number, "#1001");
    assert_eq!(order.total_minor, 40994);
    assert_eq!(order.currency, "USD");
    assert_eq!(order.line_items.len(), 3);
    // The one fulfillment failed: a voided label, so the order is confirmed, not shipped.
    assert_eq!(order.status.as_str(), "confirmed");
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].status.as_str(), "cancelled");
    let statuses: Vec<_> = order
        .timeline
        .iter()
        .map(|e| e.raw_status.as_str())
        .collect();
    assert_eq!(statuses, ["created", "authorized", "fulfillment:failure"]);
    assert_eq!(app.templates_sent(order.id).await, ["confirmed"]);
    let customer = app
        .store
        .get_customer(order.customer_id.unwrap())
        .await
        .unwrap();
    assert_eq!(customer.email.as_deref(), Some("bob.norman@hostmail.com"));
    // 555 numbers are fictional: dropped rather than stored or refused.
    assert_eq!(customer.phone, None);
    assert!(customer
        .consents
        .iter()
        .any(|c| c.channel == "email" && !c.granted));
}

async fn a_replayed_delivery_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = serde_json::to_vec(&inner_fixture("shopify-order.json")).unwrap();
    app.post_shopify("orders/create", &body, "wh-1").await;
    app.drain().await;
    let before = app.order("shopify", "450789469").await;

    // The same delivery again, and the same content as a new delivery (orders/updated).
    let replay = app.post_shopify("orders/create", &body, "wh-1").await;
    assert_eq!(json(replay).await["status"], "duplicate");
    app.post_shopify("orders/updated", &body, "wh-2").await;
    app.drain().await;

    let after = app.order("shopify", "450789469").await;
    assert_eq!(after.timeline.len(), before.timeline.len());
    assert_eq!(after.status, before.status);
    assert_eq!(app.templates_sent(after.id).await, ["confirmed"]);
    assert_eq!(app.store.inbox_counts().await.unwrap().done, 2);
}

async fn a_bad_signature_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = fixture("shopify-order.json");

    let forged = app
        .client
        .post(app.url("/webhooks/shopify"))
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Webhook-Id", "wh-forged")
        .header(
            "X-Shopify-Hmac-Sha256",
            tidings::http::webhooks::sign_base64("wrong", &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let unsigned = app
        .client
        .post(app.url("/webhooks/easypost"))
        .body(fixture("easypost-tracker-updated.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(forged.status(), 401);
    assert_eq!(json(forged).await["error"]["code"], "unauthorized");
    assert_eq!(unsigned.status(), 401);
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(counts.pending + counts.done + counts.failed, 0);
}

async fn malformed_payloads_get_a_clear_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut order = inner_fixture("shopify-order.json");
    order.as_object_mut().unwrap().remove("currency");
    let missing_currency = serde_json::to_vec(&order).unwrap();
    order["currency"] = json!("USD");
    order["line_items"][1]["price"] = json!("19.999");
    let bad_price = serde_json::to_vec(&order).unwrap();

    let not_json = app
        .post_shopify("orders/create", b"{not json", "wh-a")
        .await;
    let no_currency = app
        .post_shopify("orders/create", &missing_currency, "wh-b")
        .await;
    let too_precise = app.post_shopify("orders/create", &bad_price, "wh-c").await;

    assert_eq!(not_json.status(), 400);
    assert_eq!(json(not_json).await["error"]["code"], "malformed_body");
    assert_eq!(no_currency.status(), 422);
    let message = json(no_currency).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("currency"), "{message}");
    assert_eq!(too_precise.status(), 422);
    let message = json(too_precise).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.starts_with("line_items[1].price"), "{message}");
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(counts.pending + counts.done + counts.failed, 0);
}

/// The order fixture without its (failed) fulfillment, so shipping starts afresh.
fn unfulfilled_order() -> Vec<u8> {
    let mut order = inner_fixture("shopify-order.json");
    order["fulfillments"] = json!([]);
    serde_json::to_vec(&order).unwrap()
}

fn fulfillment_event(status: &str, happened_at: &str) -> Vec<u8> {
    let mut event = inner_fixture("shopify-fulfillment_event.json");
    event["order_id"] = json!(450789469);
    event["fulfillment_id"] = json!(255858046);
    event["status"] = json!(status);
    event["happened_at"] = json!(happened_at);
    event["admin_graphql_api_id"] = Value::Null;
    serde_json::to_vec(&event).unwrap()
}

async fn a_fulfillment_and_its_events_move_the_order_to_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.post_shopify("orders/create", &unfulfilled_order(), "wh-1")
        .await;
    let fulfillment = fixture("shopify-fulfillment.json");
    assert_eq!(
        app.post_shopify("fulfillments/create", &fulfillment, "wh-2")
            .await
            .status(),
        200
    );
    let steps = [
        ("in_transit", "2024-08-01T10:00:00Z"),
        ("out_for_delivery", "2024-08-03T07:00:00Z"),
        ("delivered", "2024-08-03T15:00:00Z"),
        // A late, older scan: on the timeline at its own time, status unchanged.
        ("in_transit", "2024-08-02T09:00:00Z"),
    ];
    for (i, (status, at)) in steps.iter().enumerate() {
        let body = fulfillment_event(status, at);
        let id = format!("wh-ev-{i}");
        assert_eq!(
            app.post_shopify("fulfillment_events/create", &body, &id)
                .await
                .status(),
            200
        );
    }
    app.drain().await;

    let order = app.order("shopify", "450789469").await;
    assert_eq!(order.status.as_str(), "delivered");
    assert_eq!(
        order.shipments[0].tracking_number.as_deref(),
        Some("1Z2345")
    );
    let times: Vec<_> = order.timeline.iter().map(|e| e.happened_at).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline is in time order"
    );
    assert_eq!(
        app.templates_sent(order.id).await,
        ["confirmed", "shipped", "out_for_delivery", "delivered"]
    );
}

async fn an_event_before_its_order_waits_and_is_applied_later(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let event = fulfillment_event("in_transit", "2024-08-01T10:00:00Z");
    app.post_shopify("fulfillment_events/create", &event, "wh-early")
        .await;
    app.drain().await;
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(counts.pending, 1, "kept for a retry, not dropped");

    app.post_shopify("orders/create", &unfulfilled_order(), "wh-order")
        .await;
    app.drain().await;
    // Retries are spaced out; process as if their time had come.
    app.drain_ahead(chrono::Duration::minutes(5)).await;

    let order = app.order("shopify", "450789469").await;
    assert_eq!(order.status.as_str(), "in_transit");
    assert_eq!(app.store.inbox_counts().await.unwrap().pending, 0);
}

async fn a_refund_lands_on_the_timeline_and_is_announced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.post_shopify("orders/create", &unfulfilled_order(), "wh-1")
        .await;
    let refund = serde_json::to_vec(&inner_fixture("shopify-refund.json")).unwrap();
    app.post_shopify("refunds/create", &refund, "wh-2").await;
    app.post_shopify("refunds/create", &refund, "wh-2-retry")
        .await;
    app.drain().await;

    let order = app.order("shopify", "450789469").await;
    let refund = order
        .timeline
        .iter()
        .find(|e| e.status.map(|s| s.as_str()) == Some("refunded"));
    let detail = refund.expect("a refund entry").detail.clone().unwrap();
    assert_eq!(detail, "Refund of 209.00 USD: it broke during shipping");
    assert_eq!(
        app.templates_sent(order.id).await,
        ["confirmed", "refunded"]
    );
}

async fn a_woocommerce_order_is_confirmed_and_its_ping_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ping = app
        .client
        .post(app.url("/webhooks/woocommerce"))
        .body("webhook_id=12")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    let body = fixture("woocommerce-order.json");
    let response = app.post_woocommerce("order.created", &body, "d-1").await;
    assert_eq!(response.status(), 200);
    let mut completed: Value = serde_json::from_slice(&body).unwrap();
    completed["status"] = json!("completed");
    completed["date_completed_gmt"] = json!("2017-03-23T10:00:00");
    let completed = serde_json::to_vec(&completed).unwrap();
    app.post_woocommerce("order.updated", &completed, "d-2")
        .await;
    app.drain().await;

    let order = app.order("woocommerce", "727").await;
    assert_eq!(order.total_minor, 2935);
    assert_eq!(order.line_items.len(), 2);
    assert_eq!(order.line_items[0].unit_price_minor, 300);
    assert_eq!(order.status.as_str(), "fulfilled");
    assert_eq!(app.templates_sent(order.id).await, ["confirmed", "shipped"]);
    let customer = app
        .store
        .get_customer(order.customer_id.unwrap())
        .await
        .unwrap();
    assert_eq!(customer.email.as_deref(), Some("john.doe@example.com"));
}

async fn an_easypost_tracker_updates_the_shipment_with_that_tracking_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .api_post(
            "/api/v1/orders",
            &json!({"external_id": "E-1", "currency": "USD", "total": "10.00",
                    "placed_at": "2024-07-30T12:00:00Z", "status": "confirmed"}),
        )
        .await;
    let order_id = json(created).await["id"].as_i64().unwrap();
    let shipment = json!({"carrier": "FedEx", "tracking_number": "1"});
    app.api_post(&format!("/api/v1/orders/{order_id}/shipments"), &shipment)
        .await;

    // The published fixture, byte for byte, signed as EasyPost signs it.
    let body = fixture("easypost-tracker-updated.json");
    let body = body.strip_suffix(b"\n").unwrap_or(&body).to_vec();
    assert_eq!(app.post_easypost(&body).await.status(), 200);
    assert_eq!(
        json(app.post_easypost(&body).await).await["status"],
        "duplicate"
    );
    app.drain().await;

    let order = app.store.get_order(order_id).await.unwrap();
    assert_eq!(order.status.as_str(), "in_transit");
    let eta = order.shipments[0].estimated_delivery.unwrap();
    assert_eq!(eta.to_rfc3339(), "2024-08-05T00:00:00+00:00");
    let scans = order
        .timeline
        .iter()
        .filter(|e| e.source == "easypost")
        .count();
    assert_eq!(scans, 7, "every tracking detail once");
    assert_eq!(app.templates_sent(order_id).await, ["confirmed", "shipped"]);
}

async fn a_shopify_customer_is_stored_with_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = serde_json::to_vec(&inner_fixture("shopify-customer.json")).unwrap();
    app.post_shopify("customers/create", &body, "wh-c").await;
    // An unfollowed topic is acknowledged and ignored.
    let other = app.post_shopify("products/create", b"{}", "wh-p").await;
    assert_eq!(other.status(), 200);
    app.drain().await;

    let order_body = unfulfilled_order();
    app.post_shopify("orders/create", &order_body, "wh-o").await;
    app.drain().await;
    let order = app.order("shopify", "450789469").await;
    let customer = app
        .store
        .get_customer(order.customer_id.unwrap())
        .await
        .unwrap();
    assert_eq!(customer.external_id.as_deref(), Some("207119551"));
    assert_eq!(customer.first_name.as_deref(), Some("Bob"));
    assert_eq!(customer.order_ids, [order.id]);
}

async fn copies_of_a_delivery_in_one_commit_are_stored_once_with_their_body(backend: Backend) {
    // Arrange: a batch as the writer commits it when a platform retries at once.
    let app = TestApp::spawn(backend).await;
    let order = serde_json::to_vec(&inner_fixture("shopify-order.json")).unwrap();
    let delivery = |id: &str, body: &[u8]| store::Delivery {
        source: "shopify".into(),
        delivery_id: id.into(),
        topic: "orders/create".into(),
        body: body.to_vec(),
        received_at: chrono::Utc::now(),
    };
    let batch = [
        delivery("wh-a", &order),
        delivery("wh-a", b"a second copy, never stored"),
        delivery("wh-b", b"{}"),
    ];

    // Act
    let first = app.store.accept_deliveries(&batch).await.unwrap();
    let again = app.store.accept_deliveries(&batch[..1]).await.unwrap();

    // Assert: one row per id, and the stored body is the first copy's.
    use store::Accepted::{Duplicate, New};
    assert_eq!(first, [New, Duplicate, New]);
    assert_eq!(again, [Duplicate]);
    assert_eq!(app.drain().await, 2);
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.failed),
        (1, 1),
        "wh-b's body is not an order"
    );
    assert_eq!(app.order("shopify", "450789469").await.number, "#1001");
}
