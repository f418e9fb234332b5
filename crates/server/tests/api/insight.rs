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

on_both_backends!(scoring_ranks_customers_and_predicts_their_next_orders);

/// 40 customers: the i-th bought i % 5 + 1 times, every (i % 7 + 2) weeks from a start
/// that moves with i, each order worth 10 + i euros. Customer 39 spends the most.
async fn scoring_ranks_customers_and_predicts_their_next_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let start = chrono::Utc::now() - chrono::Duration::days(400);
    let mut last_order_of = Vec::new();
    for i in 0..40i64 {
        let mut id = 0;
        for n in 0..(i % 5 + 1) {
            let at = start + chrono::Duration::days(i * 3 + n * 7 * (i % 7 + 2));
            let mut body = order(
                &format!("S-{i}-{n}"),
                &format!("{}.00", 10 + i),
                "",
                "confirmed",
            );
            body["placed_at"] = json!(at.to_rfc3339());
            body["customer"]["email"] = json!(format!("c{i}@example.com"));
            id = place(&app, &body).await;
        }
        last_order_of.push(id);
    }

    let report = tidings::scoring::rescore(&app.store, chrono::Utc::now(), 20_000)
        .await
        .expect("scoring runs");
    assert_eq!(report.customers, 40);
    assert!(
        report.models.is_some(),
        "40 customers, 32 of them repeaters, are enough to fit"
    );

    let top = metrics(&app, last_order_of[39]).await;
    assert_eq!(top["rfm"]["monetary"], 5, "{top}");
    let one_order = metrics(&app, last_order_of[0]).await;
    assert_eq!(one_order["rfm"]["frequency"], 1);
    assert_eq!(one_order["rfm"]["monetary"], 1);
    for customer in [&top, &one_order] {
        let p_alive = customer["p_alive"].as_f64().expect("a probability");
        assert!(p_alive > 0.0 && p_alive <= 1.0, "{customer}");
        assert!(customer["expected_orders_90d"].as_f64().unwrap() >= 0.0);
        assert!(customer["scored_at"].is_string());
    }
    // After a single order, a customer is alive by the model's definition: BG/NBD
    // customers stop only right after a repeat purchase.
    assert_eq!(one_order["p_alive"], 1.0);
}

on_both_backends!(with_too_little_history_rfm_is_scored_alone);

async fn with_too_little_history_rfm_is_scored_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = place(
        &app,
        &order("T-1", "10.00", "2026-10-01T10:00:00Z", "confirmed"),
    )
    .await;

    let report = tidings::scoring::rescore(&app.store, chrono::Utc::now(), 20_000)
        .await
        .expect("scoring runs");
    assert!(report.models.is_none());
    let m = metrics(&app, id).await;
    assert_eq!(m["rfm"]["monetary"], 1, "{m}");
    assert_eq!(m["p_alive"], serde_json::Value::Null);
}
