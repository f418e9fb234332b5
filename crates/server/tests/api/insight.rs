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

on_both_backends!(a_segment_counts_the_customers_its_filter_selects);

/// One customer per row: orders placed that many days ago, each worth `total`; a
/// promotional RCS consent or not; a locale.
struct Shopper {
    days_ago: &'static [i64],
    total: &'static str,
    rcs_promotional: bool,
    locale: &'static str,
}

const SHOPPERS: [Shopper; 6] = [
    Shopper {
        days_ago: &[400, 200, 10],
        total: "50.00",
        rcs_promotional: true,
        locale: "es-ES",
    },
    Shopper {
        days_ago: &[100, 40],
        total: "20.00",
        rcs_promotional: true,
        locale: "en-US",
    },
    Shopper {
        days_ago: &[5],
        total: "200.00",
        rcs_promotional: false,
        locale: "es-ES",
    },
    Shopper {
        days_ago: &[300],
        total: "15.00",
        rcs_promotional: true,
        locale: "en-US",
    },
    Shopper {
        days_ago: &[90, 60, 30, 29],
        total: "10.00",
        rcs_promotional: false,
        locale: "fr-FR",
    },
    Shopper {
        days_ago: &[],
        total: "0",
        rcs_promotional: true,
        locale: "es-ES",
    },
];

async fn count(app: &TestApp, filter: serde_json::Value) -> i64 {
    let response = app
        .api_post(
            "/api/v1/segments/preview",
            &json!({ "filter": filter, "sample": 3 }),
        )
        .await;
    assert_eq!(response.status(), 200, "{filter}");
    let body = json(response).await;
    assert!(body["sample"].as_array().unwrap().len() <= 3);
    body["count"].as_i64().unwrap()
}

async fn a_segment_counts_the_customers_its_filter_selects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = chrono::Utc::now();
    for (i, s) in SHOPPERS.iter().enumerate() {
        let customer = json!({
            "email": format!("s{i}@example.com"), "locale": s.locale,
            "consents": [{"purpose": "promotional", "channel": "rcs", "granted": s.rcs_promotional}]
        });
        if s.days_ago.is_empty() {
            // A contact with no order: known through an order that was then cancelled.
            let mut body = order(&format!("G-{i}"), "1.00", &now.to_rfc3339(), "cancelled");
            body["customer"] = customer.clone();
            place(&app, &body).await;
        }
        for (n, days) in s.days_ago.iter().enumerate() {
            let at = now - chrono::Duration::days(*days) - chrono::Duration::hours(1);
            let mut body = order(
                &format!("G-{i}-{n}"),
                s.total,
                &at.to_rfc3339(),
                "confirmed",
            );
            body["customer"] = customer.clone();
            place(&app, &body).await;
        }
    }

    // Each filter with the count worked out by hand from the table above.
    let cases = [
        ("orders.count >= 2", 3),
        ("orders.count = 0", 1),
        ("consent.promotional.rcs", 4),
        ("not consent.promotional.rcs", 2),
        ("consent.transactional.rcs", 6),
        ("customer.locale = 'es-ES' and orders.count >= 1", 2),
        ("customer.locale != 'es-ES'", 3),
        ("orders.spent >= 100", 2),
        ("orders.average > 40", 2),
        ("orders.days_since_last <= 10", 2),
        ("orders.days_since_last >= 30", 2),
        ("orders.days_since_last = 29", 1),
        ("not orders.days_since_last <= 10", 4),
        ("orders.days_since_first > 365", 1),
        // Any number of days is an answer, not an overflow.
        ("orders.days_since_last >= 1e12", 0),
        ("orders.days_since_last < 1e12", 5),
        ("predicted.days_to_next_order > -1e300", 0),
        ("orders.spent >= 1e300 or rfm.recency < -1e300", 0),
        // The customer with no order has spent nothing, which is under 20.
        (
            "(customer.locale = 'fr-FR' or orders.spent < 20) and contact.email",
            3,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(count(&app, json!(text)).await, expected, "{text}");
    }

    // The same filter in JSON, and its text form given back.
    let response = app
        .api_post(
            "/api/v1/segments/preview",
            &json!({"filter": {"and": [{"is": "consent.promotional.rcs"},
                {"compare": {"attribute": "orders.count", "op": ">=", "value": 2}}]}}),
        )
        .await;
    let body = json(response).await;
    assert_eq!(body["count"], 2);
    assert_eq!(
        body["text"],
        "consent.promotional.rcs and orders.count >= 2"
    );

    // Scores take part once a scoring run has given them.
    assert_eq!(count(&app, json!("rfm.monetary >= 1")).await, 0);
    tidings::scoring::rescore(&app.store, now, 20_000)
        .await
        .unwrap();
    assert_eq!(count(&app, json!("rfm.monetary >= 1")).await, 5);

    // A consent decision recorded later counts from then on.
    let first = json(app.api_get("/api/v1/orders?external_id=G-0-0").await).await;
    let customer = first["customer_id"].as_i64().unwrap();
    let support = tidings::cli::create_api_key(
        &app.store,
        "helpdesk",
        tidings::http::api::Scope::Support,
        &store::Actor::cli(),
    )
    .await
    .unwrap();
    let refused = app
        .client
        .post(app.url(&format!("/api/v1/customers/{customer}/consents")))
        .bearer_auth(&support)
        .json(&json!({"purpose": "promotional", "channel": "rcs", "granted": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    assert_eq!(count(&app, json!("consent.promotional.rcs")).await, 3);
    assert_eq!(count(&app, json!("not consent.promotional.rcs")).await, 3);

    // Faults are named, not answered with a 500.
    let bad = app
        .api_post(
            "/api/v1/segments/preview",
            &json!({"filter": "orders.count >= 'x'"}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let message = json(bad).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("column 1") && message.contains("is a number"),
        "{message}"
    );
    let bad = app
        .api_post(
            "/api/v1/segments/preview",
            &json!({"filter": {"or": [{"is": "orders.count"}]}}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let message = json(bad).await["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("or[0].is"), "{message}");
}
