//! Customer metrics, kept current as orders arrive, change and are cancelled.

use serde_json::json;

use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(a_customers_metrics_follow_their_orders);

fn order(external_id: &str, total: &str, placed_at: &str, status: &str) -> serde_json::Value {
    json!({
        "external_id": external_id,
        "number": format!("#{external_id}"),
        "currency": "EUR",
        "total": total,
        "placed_at": placed_at,
        "status": status,
        "customer": {"email": "ana@example.es"},
    })
}

async fn metrics(app: &TestApp, order_id: i64) -> serde_json::Value {
    let read = json(app.api_get(&format!("/api/v1/orders/{order_id}")).await).await;
    let customer_id = read["customer_id"]
        .as_i64()
        .expect("the order has a customer");
    let customer = json(
        app.api_get(&format!("/api/v1/customers/{customer_id}"))
            .await,
    )
    .await;
    customer["metrics"].clone()
}

async fn place(app: &TestApp, body: &serde_json::Value) -> i64 {
    let response = app.api_post("/api/v1/orders", body).await;
    assert!(response.status().is_success(), "{}", response.status());
    json(response).await["id"].as_i64().unwrap()
}

async fn a_customers_metrics_follow_their_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let first = place(
        &app,
        &order("M-1", "60.00", "2026-10-01T10:00:00Z", "confirmed"),
    )
    .await;
    let m = metrics(&app, first).await;
    assert_eq!(m["orders"], 1);
    assert_eq!(m["spent_minor"], 6000);
    assert_eq!(m["mean_days_between"], serde_json::Value::Null);

    place(
        &app,
        &order("M-2", "20.00", "2026-10-11T10:00:00Z", "confirmed"),
    )
    .await;
    let third = place(
        &app,
        &order("M-3", "10.00", "2026-10-31T10:00:00Z", "confirmed"),
    )
    .await;
    let m = metrics(&app, third).await;
    assert_eq!(m["orders"], 3);
    assert_eq!(m["spent_minor"], 9000);
    assert_eq!(m["average_order_minor"], 3000);
    assert_eq!(m["mean_days_between"], 15.0);
    assert!(m["first_order_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-10-01"));
    assert!(m["last_order_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-10-31"));

    // A corrected total, then a cancellation: the last order stops counting.
    place(
        &app,
        &order("M-3", "12.50", "2026-10-31T10:00:00Z", "confirmed"),
    )
    .await;
    assert_eq!(metrics(&app, third).await["spent_minor"], 9250);
    place(
        &app,
        &order("M-3", "12.50", "2026-10-31T10:00:00Z", "cancelled"),
    )
    .await;
    let m = metrics(&app, third).await;
    assert_eq!(m["orders"], 2, "{m}");
    assert_eq!(m["spent_minor"], 8000);
    assert!(m["last_order_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-10-11"));
    assert_eq!(m["mean_days_between"], 10.0);
}
