//! Changes made through the API, the pages and the command line land in the audit log
//! with who, what, and the subject before and after; the log reads back filtered and
//! in pages.

use reqwest::header::COOKIE;
use serde_json::{json, Value};
use tidings::http::access::{Role, Scope};

use super::{no_redirects, session_as};
use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    template_key_user_and_consent_changes_are_audited,
    api_keys_are_created_shown_once_and_revoked_on_the_page,
);

/// `GET /api/v1/audit?{query}` with an owner key.
async fn audit_response(app: &TestApp, query: &str) -> reqwest::Response {
    let actor = store::Actor::cli();
    let owner = tidings::cli::create_api_key(&app.store, "auditor", Scope::Owner, &actor)
        .await
        .unwrap();
    app.client
        .get(app.url(&format!("/api/v1/audit?{query}")))
        .bearer_auth(owner)
        .send()
        .await
        .unwrap()
}

async fn audit(app: &TestApp, query: &str) -> Value {
    let response = audit_response(app, query).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn template_key_user_and_consent_changes_are_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let marketing = session_as(&app, Role::Marketing).await;

    // A template saved twice by marketing, through the API with their session.
    for text in ["First {{ order.number }}", "Second {{ order.number }}"] {
        let saved = no_redirects()
            .put(app.url("/api/v1/templates/shipped/en"))
            .header(COOKIE, &marketing.cookie)
            .header("x-csrf-token", &marketing.csrf)
            .json(&json!({"contentMessage": {"text": text}}))
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200);
    }
    let saves = audit(&app, "action=template.save").await;
    let entries = saves["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let newest = &entries[0];
    assert_eq!(newest["actor"], marketing.email.as_str());
    assert_eq!(newest["actor_kind"], "user");
    assert_eq!(newest["subject"], "template:shipped/en");
    assert_eq!(
        newest["before"]["contentMessage"]["text"],
        "First {{ order.number }}"
    );
    assert_eq!(
        newest["after"]["contentMessage"]["text"],
        "Second {{ order.number }}"
    );
    assert!(entries[1]["before"].is_null());

    // A role change by the owner on the users page.
    let owner = session_as(&app, Role::Owner).await;
    let added = owner
        .post_form(
            &app,
            "/app/users",
            &[("email", "New.Hire@Shop.example"), ("role", "analyst")],
        )
        .await;
    assert_eq!(added.status(), 200);
    let page = added.text().await.unwrap();
    assert!(page.contains("One-time password"), "{page}");
    let (hire, _) = app
        .store
        .user_credentials("new.hire@shop.example")
        .await
        .unwrap()
        .unwrap();
    let path = format!("/app/users/{}", hire.id);
    assert_eq!(
        owner
            .post_form(&app, &path, &[("role", "support")])
            .await
            .status(),
        200
    );
    let roles = audit(&app, &format!("subject=user:{}", hire.id)).await;
    let entries = roles["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.role", "user.add"]);
    assert_eq!(entries[0]["before"]["role"], "analyst");
    assert_eq!(entries[0]["after"]["role"], "support");
    assert_eq!(entries[0]["actor"], owner.email.as_str());

    // A consent edit by a support key.
    let order = json!({"external_id": "C-1", "number": "#C1", "currency": "USD",
        "total": "5.00", "placed_at": "2026-11-20T10:00:00Z", "status": "confirmed",
        "customer": {"email": "ana@shop.example", "first_name": "Ana"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "5.00"}]});
    let customer = json(app.api_post("/api/v1/orders", &order).await).await["customer_id"]
        .as_i64()
        .unwrap();
    let support =
        tidings::cli::create_api_key(&app.store, "helpdesk", Scope::Support, &store::Actor::cli())
            .await
            .unwrap();
    let url = app.url(&format!("/api/v1/customers/{customer}/consents"));
    let edit = |body: Value| {
        app.client
            .post(&url)
            .bearer_auth(&support)
            .json(&body)
            .send()
    };
    let bad = edit(json!({"purpose": "gossip", "channel": "sms", "granted": true}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let granted = json!({"purpose": "promotional", "channel": "sms", "granted": true});
    assert_eq!(edit(granted).await.unwrap().status(), 200);
    let consent = audit(&app, &format!("subject=customer:{customer}")).await;
    let entry = &consent["entries"][0];
    assert_eq!(entry["action"], "consent.edit");
    assert_eq!(entry["actor_kind"], "api_key");
    assert_eq!(entry["actor"], "helpdesk");
    assert_eq!(entry["after"]["granted"], true);

    // Filters by actor and time, and pages that follow one another.
    let by_owner = audit(&app, &format!("actor={}", owner.email)).await;
    assert_eq!(by_owner["entries"].as_array().unwrap().len(), 2);
    let future = audit(&app, "since=2999-01-01T00:00:00Z").await;
    assert!(future["entries"].as_array().unwrap().is_empty());
    let first = audit(&app, "limit=2").await;
    let next = first["next"].as_str().expect("a next page").to_string();
    let query = next.split_once('?').unwrap().1;
    let second = audit(&app, query).await;
    let first_ids: Vec<i64> = ids(&first);
    let second_ids: Vec<i64> = ids(&second);
    assert_eq!(second_ids.len(), 2);
    assert!(
        second_ids.iter().all(|id| *id < first_ids[1]),
        "{first_ids:?} {second_ids:?}"
    );
    let bad_time = audit_response(&app, "since=yesterday").await;
    assert_eq!(bad_time.status(), 422);
    assert!(bad_time.text().await.unwrap().contains("since"));
    let bad_kind = audit_response(&app, "kind=gossip").await;
    assert_eq!(bad_kind.status(), 422);

    // By kind: every user change, and nothing else.
    let users = audit(&app, "kind=user").await;
    let actions: Vec<&str> = users["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user.role") && actions.contains(&"user.add"),
        "{actions:?}"
    );
    assert!(
        actions.iter().all(|a| a.starts_with("user.")),
        "{actions:?}"
    );
    // An ingest key may not read the log.
    let refused = app.api_get("/api/v1/audit").await;
    assert_eq!(refused.status(), 403);

    // The page shows the same, for IT.
    let it = session_as(&app, Role::It).await;
    let page = it.get(&app, "/app/audit?kind=consent").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("consent.edit") && html.contains("helpdesk"));
    assert!(!html.contains("template.save"), "the filter was ignored");
}

fn ids(page: &Value) -> Vec<i64> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

async fn api_keys_are_created_shown_once_and_revoked_on_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let it = session_as(&app, Role::It).await;

    let created = it
        .post_form(
            &app,
            "/app/keys",
            &[("name", "warehouse"), ("scope", "ingest")],
        )
        .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let start = html.find("tdk_").expect("the secret is shown");
    let secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(secret.len(), 52);
    let listing = it.get(&app, "/app/keys").await.text().await.unwrap();
    assert!(!listing.contains(&secret), "the secret is shown twice");

    let works = app
        .client
        .get(app.url("/api/v1/queue"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), 200);
    let key = app.store.find_api_key(&secret).await.unwrap().unwrap();
    let revoke = format!("/app/keys/{}/revoke", key.id);
    let revoked = it.post_form(&app, &revoke, &[]).await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked.text().await.unwrap().contains("was revoked"));
    let refused = app
        .client
        .get(app.url("/api/v1/queue"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let log = audit(&app, &format!("subject=api_key:{}", key.id)).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["api_key.revoke", "api_key.create"]);
    assert_eq!(log["entries"][1]["actor"], it.email.as_str());
    assert_eq!(log["entries"][1]["after"]["scope"], "ingest");
    assert!(
        !log.to_string().contains(&secret),
        "the secret is in the audit log"
    );
}
