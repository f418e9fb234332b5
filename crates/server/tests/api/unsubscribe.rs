//! `/unsubscribe/{token}`: RFC 8058's one-click unsubscribe, which withdraws promotional
//! email consent on a POST and only asks on a GET.

use serde_json::json;

use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    opening_the_link_asks_and_changes_nothing,
    a_one_click_post_unsubscribes_once_however_often_it_comes,
    bad_requests_are_refused_and_change_nothing,
);

/// A customer with an email who placed an order: their id and unsubscribe token.
async fn customer(app: &TestApp) -> (i64, String) {
    let body = json!({
        "external_id": "U-1", "number": "#U1", "currency": "USD", "total": "10.00",
        "placed_at": "2026-11-20T10:00:00Z", "status": "confirmed",
        "customer": {"email": "ana@example.com", "first_name": "Ana"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "10.00"}]
    });
    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let order_id = json(created).await["id"].as_i64().unwrap();
    let customer_id = app
        .store
        .get_order(order_id)
        .await
        .unwrap()
        .customer_id
        .unwrap();
    let token = app.store.unsubscribe_token(customer_id).await.unwrap();
    (customer_id, token.expect("every customer has a token"))
}

async fn one_click(app: &TestApp, token: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/unsubscribe/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The customer's email consent records: granted or not, and where from.
async fn email_consent(app: &TestApp, customer_id: i64) -> Vec<(String, bool, String)> {
    let customer = app.store.get_customer(customer_id).await.unwrap();
    let email = customer
        .consents
        .into_iter()
        .filter(|c| c.channel == "email");
    email.map(|c| (c.purpose, c.granted, c.source)).collect()
}

async fn opening_the_link_asks_and_changes_nothing(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let (customer_id, token) = customer(&app).await;

    // Act
    let page = app
        .client
        .get(app.url(&format!("/unsubscribe/{token}")))
        .send()
        .await;
    let page = page.unwrap();

    // Assert
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form method="post">"#), "{html}");
    assert!(
        html.contains(r#"name="List-Unsubscribe" value="One-Click""#),
        "{html}"
    );
    assert!(email_consent(&app, customer_id).await.is_empty());
}

async fn a_one_click_post_unsubscribes_once_however_often_it_comes(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let (customer_id, token) = customer(&app).await;

    // Act
    let first = one_click(&app, &token, "List-Unsubscribe=One-Click").await;
    let again = one_click(&app, &token, "List-Unsubscribe=One-Click").await;

    // Assert
    assert_eq!(first.status(), 200);
    assert_eq!(again.status(), 200);
    assert!(first.text().await.unwrap().contains("unsubscribed"));
    assert_eq!(
        email_consent(&app, customer_id).await,
        [(
            "promotional".to_string(),
            false,
            "email:unsubscribe".to_string()
        )]
    );
}

async fn bad_requests_are_refused_and_change_nothing(backend: Backend) {
    // Arrange
    let app = TestApp::spawn(backend).await;
    let (customer_id, token) = customer(&app).await;
    let unknown = "0123456789abcdef0123456789abcdef";

    // Act
    let no_body = one_click(&app, &token, "").await;
    let wrong_body = one_click(&app, &token, "List-Unsubscribe=Yes").await;
    let unknown_token = one_click(&app, unknown, "List-Unsubscribe=One-Click").await;
    let not_a_token = one_click(&app, "../etc", "List-Unsubscribe=One-Click").await;
    let unknown_page = app
        .client
        .get(app.url(&format!("/unsubscribe/{unknown}")))
        .send();

    // Assert
    assert_eq!(no_body.status(), 400);
    assert_eq!(wrong_body.status(), 400);
    assert_eq!(unknown_token.status(), 404);
    assert_eq!(not_a_token.status(), 404);
    assert_eq!(unknown_page.await.unwrap().status(), 404);
    assert!(email_consent(&app, customer_id).await.is_empty());
}
