//! The REST API: keys, writes, reads and errors.

use serde_json::json;

use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    an_order_created_over_rest_can_be_read_with_its_timeline,
    keys_are_required_and_scoped,
    invalid_fields_are_named_in_the_error,
    an_idempotency_key_makes_a_retry_harmless,
    an_older_event_does_not_move_the_status_back,
    the_tracking_page_opens_by_token_only,
    concurrent_writes_to_one_order_all_succeed,
);

fn order_body() -> serde_json::Value {
    json!({
        "external_id": "A-1001",
        "number": "#A1001",
        "currency": "EUR",
        "total": "59.90",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {
            "email": "ana@example.es", "phone": "+34 612 34 56 78", "locale": "es_ES",
            "time_zone": "Europe/Madrid",
            "consents": [{"purpose": "promotional", "channel": "rcs", "granted": true}]
        },
        "line_items": [{"sku": "MUG-1", "title": "Mug", "quantity": 2, "unit_price": "29.95"}],
        "shipping_address": {"city": "Madrid", "country": "ES"}
    })
}

async fn an_order_created_over_rest_can_be_read_with_its_timeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = order_body();
    // A national number takes the configured default region (US here).
    body["customer"]["phone"] = json!("(613) 612-0707");

    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let created = json(created).await;
    let id = created["id"].as_i64().unwrap();
    let tracking_url = created["tracking_url"].as_str().unwrap();
    assert!(tracking_url.starts_with("https://track.example/t/"));
    assert_eq!(tracking_url.len(), "https://track.example/t/".len() + 32);

    let updated = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(
        updated.status(),
        200,
        "the same source and external id update the order"
    );

    let found = json(app.api_get("/api/v1/orders?external_id=A-1001").await).await;
    assert_eq!(found["id"], id);
    let missing = app
        .api_get("/api/v1/orders?source=shopify&external_id=A-1001")
        .await;
    assert_eq!(missing.status(), 404);
    let no_id = app.api_get("/api/v1/orders?source=api").await;
    assert_eq!(no_id.status(), 422);

    let read = json(app.api_get(&format!("/api/v1/orders/{id}")).await).await;
    assert_eq!(read["status"], "confirmed");
    assert_eq!(read["total_minor"], 5990);
    assert_eq!(read["timeline"].as_array().unwrap().len(), 2);
    let customer_id = read["customer_id"].as_i64().unwrap();
    let customer = json(
        app.api_get(&format!("/api/v1/customers/{customer_id}"))
            .await,
    )
    .await;
    assert_eq!(customer["phone"], "+16136120707");
    assert_eq!(customer["locale"], "es-ES");
    assert_eq!(customer["time_zone"], "Europe/Madrid");
    assert_eq!(customer["consents"][0]["channel"], "rcs");
    assert_eq!(
        customer["consents"].as_array().unwrap().len(),
        1,
        "a repeat adds no record"
    );
}

async fn keys_are_required_and_scoped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let read_key = tidings::cli::create_api_key(
        &app.store,
        "reader",
        tidings::http::api::Scope::Read,
        &store::Actor::cli(),
    )
    .await
    .unwrap();

    let anonymous = app
        .client
        .post(app.url("/api/v1/orders"))
        .json(&order_body())
        .send()
        .await
        .unwrap();
    let wrong = app
        .client
        .get(app.url("/api/v1/orders/1"))
        .bearer_auth("tid_nope")
        .send()
        .await
        .unwrap();
    let reader_writes = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&read_key)
        .json(&order_body())
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(json(anonymous).await["error"]["code"], "unauthorized");
    assert_eq!(wrong.status(), 401);
    assert_eq!(reader_writes.status(), 403);
}

async fn invalid_fields_are_named_in_the_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        ("customer.phone", json!({"customer": {"phone": "12"}})),
        (
            "customer.time_zone",
            json!({"customer": {"time_zone": "Mars/Base"}}),
        ),
        ("customer.email", json!({"customer": {"email": "nobody"}})),
        ("currency", json!({"currency": "EURO"})),
        ("total", json!({"total": "1.234"})),
        (
            "line_items[0].quantity",
            json!({"line_items": [{"title": "x", "quantity": 0, "unit_price": "1"}]}),
        ),
        ("status", json!({"status": "teleported"})),
    ];
    for (field, patch) in cases {
        let mut body = order_body();
        for (key, value) in patch.as_object().unwrap() {
            if let (Some(target), Some(patch)) = (body[key].as_object_mut(), value.as_object()) {
                target.extend(patch.clone());
            } else {
                body[key] = value.clone();
            }
        }
        let response = app.api_post("/api/v1/orders", &body).await;
        assert_eq!(response.status(), 422, "{field}");
        let message = json(response).await["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.starts_with(field), "{field}: {message}");
    }

    let missing = app
        .api_post("/api/v1/orders", &json!({"external_id": "x"}))
        .await;
    assert_eq!(missing.status(), 422);
    assert!(json(missing).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("currency"));
    let unknown = app.api_get("/api/v1/orders/999999").await;
    assert_eq!(unknown.status(), 404);
    let not_a_number = app.api_get("/api/v1/orders/abc").await;
    assert_eq!(not_a_number.status(), 404);
    let bad_event = app.api_post("/api/v1/orders/abc/events", &json!({})).await;
    assert_eq!(bad_event.status(), 404);
}

async fn an_idempotency_key_makes_a_retry_harmless(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = json(app.api_post("/api/v1/orders", &order_body()).await).await["id"]
        .as_i64()
        .unwrap();
    let event =
        json!({"status": "delayed", "happened_at": "2026-11-21T10:00:00Z", "detail": "storm"});

    for _ in 0..2 {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/orders/{id}/events")))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "retry-1")
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    let order = app.store.get_order(id).await.unwrap();
    assert_eq!(order.status.as_str(), "delayed");
    assert_eq!(app.templates_sent(id).await, ["confirmed", "delayed"]);
}

async fn an_older_event_does_not_move_the_status_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = json(app.api_post("/api/v1/orders", &order_body()).await).await["id"]
        .as_i64()
        .unwrap();
    let shipment = json!({"carrier": "Correos", "tracking_number": "PQ1", "events": [
        {"status": "in_transit", "happened_at": "2026-11-21T08:00:00Z"}]});
    let response = app
        .api_post(&format!("/api/v1/orders/{id}/shipments"), &shipment)
        .await;
    assert_eq!(response.status(), 201);

    for (status, at) in [
        ("delivered", "2026-11-23T12:00:00Z"),
        ("out_for_delivery", "2026-11-23T08:00:00Z"),
    ] {
        let event = json!({"status": status, "happened_at": at, "shipment": "PQ1"});
        app.api_post(&format!("/api/v1/orders/{id}/events"), &event)
            .await;
    }

    let order = json(app.api_get(&format!("/api/v1/orders/{id}")).await).await;
    assert_eq!(order["status"], "delivered");
    let timeline: Vec<_> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["raw_status"].clone())
        .collect();
    assert_eq!(
        timeline,
        [
            "placed",
            "confirmed",
            "in_transit",
            "out_for_delivery",
            "delivered"
        ]
    );
    assert_eq!(
        app.templates_sent(id).await,
        ["confirmed", "shipped", "delivered"]
    );
}

async fn the_tracking_page_opens_by_token_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json(app.api_post("/api/v1/orders", &order_body()).await).await;
    let token = created["tracking_token"].as_str().unwrap();

    let page = app
        .client
        .get(app.url(&format!("/t/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("#A1001"));
    let unknown = app
        .client
        .get(app.url(&format!("/t/{}", "0".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

async fn concurrent_writes_to_one_order_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = app
            .client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&app.api_key);
        requests.spawn(request.json(&order_body()).send());
    }
    let responses = requests.join_all().await;

    for response in responses {
        let status = response.expect("request sent").status();
        assert!(status.is_success(), "{status}");
    }
    let order = app.order("api", "A-1001").await;
    assert_eq!(order.timeline.len(), 2, "placed and confirmed, once each");
    assert_eq!(app.templates_sent(order.id).await, ["confirmed"]);
}
