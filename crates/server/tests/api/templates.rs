//! The template API: listing, saving with validation, and previews to RBM JSON.

use serde_json::{json, Value};
use tidings::http::api::Scope;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn admin_key(app: &TestApp) -> String {
    tidings::cli::create_api_key(&app.store, "admin", Scope::Admin, &store::Actor::cli())
        .await
        .unwrap()
}

async fn put(app: &TestApp, key: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn preview(app: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/templates/{key}/preview")))
        .bearer_auth(&app.api_key)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn text_of(preview: &Value) -> String {
    preview["message"]["contentMessage"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn every_status_has_english_and_spanish_templates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let listed: Value = app.api_get("/api/v1/templates").await.json().await.unwrap();
    let pairs: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().into(),
                t["locale"].as_str().unwrap().into(),
            )
        })
        .collect();
    for key in domain::template::KEYS {
        for locale in ["en", "es"] {
            assert!(
                pairs.contains(&(key.to_string(), locale.to_string())),
                "{key}/{locale}"
            );
        }
    }
}

async fn a_preview_renders_an_order_to_rbm_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order = json!({
        "external_id": "T-1", "number": "#T1", "currency": "EUR", "total": "12.50",
        "placed_at": "2026-11-20T10:00:00Z", "status": "confirmed",
        "customer": {"phone": "+34612345678", "first_name": "Lucía", "locale": "es-ES"},
        "line_items": [{"title": "Taza", "quantity": 1, "unit_price": "12.50"}]
    });
    let created: Value = app
        .api_post("/api/v1/orders", &order)
        .await
        .json()
        .await
        .unwrap();
    let order_id = created["id"].as_i64().unwrap();

    // The customer's locale picks the Spanish template, with Spanish money.
    let (status, spanish) = preview(&app, "confirmed", &json!({"order_id": order_id})).await;
    assert_eq!(status, 200, "{spanish}");
    assert_eq!(spanish["locale"], "es");
    let text = text_of(&spanish);
    assert!(text.contains("Lucía") && text.contains("#T1"), "{text}");
    assert!(text.contains("12,50"), "{text}");
    let url = &spanish["message"]["contentMessage"]["suggestions"][0]["action"]["openUrlAction"];
    let tracking = format!(
        "https://track.example/t/{}",
        created["tracking_token"].as_str().unwrap()
    );
    assert_eq!(url["url"], tracking.as_str());

    let (_, english) = preview(
        &app,
        "confirmed",
        &json!({"order_id": order_id, "locale": "en"}),
    )
    .await;
    assert_eq!(english["locale"], "en");
    assert!(
        text_of(&english).contains("received your order #T1"),
        "{english}"
    );

    let (status, missing) = preview(&app, "confirmed", &json!({"order_id": 999_999})).await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = preview(&app, "no_such_key", &json!({})).await;
    assert_eq!(status, 404);
}

async fn a_saved_template_is_validated_and_then_used(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = admin_key(&app).await;
    let path = "/api/v1/templates/confirmed/en";
    let good = json!({
        "messageTrafficType": "TRANSACTION",
        "contentMessage": {"text": "Thanks! Order {{ order.number }} is confirmed."}
    });

    // An ingest key may not change templates.
    let refused = put(&app, &app.api_key, path, &good).await;
    assert_eq!(refused.status(), 403);

    // A template that breaks RBM's limits is refused with the path and the limit.
    let long = json!({"contentMessage": {"text": "x", "suggestions": [
        {"reply": {"text": "{{ 'a' * 30 }}", "postbackData": "p"}}]}});
    let refused = put(&app, &admin, path, &long).await;
    assert_eq!(refused.status(), 422);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].to_string();
    assert!(message.contains("suggestions[0]"), "{message}");
    assert!(message.contains("25"), "{message}");

    // One that does not compile names the line.
    let broken = json!({"contentMessage": {"text": "{% if order.number %}open"}});
    let refused = put(&app, &admin, path, &broken).await;
    assert_eq!(refused.status(), 422);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].to_string();
    assert!(message.contains("contentMessage.text"), "{message}");

    let saved = put(&app, &admin, path, &good).await;
    assert_eq!(saved.status(), 200);
    let (_, rendered) = preview(&app, "confirmed", &json!({"locale": "en"})).await;
    assert_eq!(rendered["origin"], "stored");
    assert_eq!(text_of(&rendered), "Thanks! Order #1042 is confirmed.");

    // It survives a restart: the saved set is loaded from the store.
    let app = app
        .restart(crate::helpers::Options { processor: false })
        .await;
    let (_, rendered) = preview(&app, "confirmed", &json!({"locale": "en"})).await;
    assert_eq!(text_of(&rendered), "Thanks! Order #1042 is confirmed.");
}

async fn a_draft_previews_without_being_saved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let draft = json!({"contentMessage": {"text": "Draft for {{ order.number }}"}});
    let (status, rendered) = preview(&app, "shipped", &json!({"body": draft})).await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(text_of(&rendered), "Draft for #1042");

    let (_, saved) = preview(&app, "shipped", &json!({})).await;
    assert_eq!(saved["origin"], "builtin");
}

on_both_backends!(
    every_status_has_english_and_spanish_templates,
    a_preview_renders_an_order_to_rbm_json,
    a_saved_template_is_validated_and_then_used,
    a_draft_previews_without_being_saved,
);
