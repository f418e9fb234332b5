//! Logging in and out: cookies, stored hashes, CSRF, rate limits, disabled users and
//! password changes.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;
use sha2::{Digest, Sha256};
use tidings::http::access::Role;

use super::{add_user, log_in, no_redirects, post_login, session_as, set_cookie, PASSWORD};
use crate::helpers::{Backend, Options, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_user_logs_in_and_out_and_only_the_token_hash_is_stored,
    a_disabled_user_cannot_log_in_and_loses_their_sessions,
    a_changed_password_replaces_the_old_one,
);

/// How many sessions rows hold this exact `token_hash`.
async fn sessions_with_hash(app: &TestApp, hash: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM sessions WHERE token_hash = $1";
    if app.database_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(hash)
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(hash)
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

async fn a_user_logs_in_and_out_and_only_the_token_hash_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = add_user(&app, Role::Support).await;

    let wrong = post_login(&app, &email, "not the password").await;
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie(&wrong, "tidings_session").is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("email or password is wrong"));

    // Any case of the email logs in.
    let answer = post_login(&app, &email.to_uppercase(), PASSWORD).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/app");
    let header = answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("tidings_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(
            header.contains(attribute),
            "{attribute} missing from {header}"
        );
    }
    let token = set_cookie(&answer, "tidings_session").unwrap();
    assert_eq!(
        sessions_with_hash(&app, &token).await,
        0,
        "the raw token is stored"
    );
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    assert_eq!(sessions_with_hash(&app, &hash).await, 1);

    let session = log_in(&app, &email, PASSWORD).await;
    let out = session.post_form(&app, "/app/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(set_cookie(&out, "tidings_session").as_deref(), Some(""));
    let after = session.get(&app, "/app").await;
    assert_eq!(
        after.status(),
        303,
        "the session still opens pages after logout"
    );
}

async fn a_disabled_user_cannot_log_in_and_loses_their_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = session_as(&app, Role::Owner).await;
    let email = add_user(&app, Role::Marketing).await;
    let theirs = log_in(&app, &email, PASSWORD).await;
    let (user, _) = app.store.user_credentials(&email).await.unwrap().unwrap();

    let path = format!("/app/users/{}", user.id);
    let disabled = owner.post_form(&app, &path, &[("disabled", "true")]).await;
    assert_eq!(disabled.status(), 200);

    assert_eq!(theirs.get(&app, "/app").await.status(), 303);
    assert_eq!(post_login(&app, &email, PASSWORD).await.status(), 401);
    // The owner cannot lock the workspace by disabling themselves.
    let (me, _) = app
        .store
        .user_credentials(&owner.email)
        .await
        .unwrap()
        .unwrap();
    let own = format!("/app/users/{}", me.id);
    let refused = owner.post_form(&app, &own, &[("disabled", "true")]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("cannot demote or disable yourself"));
}

async fn a_changed_password_replaces_the_old_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = add_user(&app, Role::Analyst).await;
    let session = log_in(&app, &email, PASSWORD).await;
    let other = log_in(&app, &email, PASSWORD).await;

    let short = [("current", PASSWORD), ("new", "short")];
    let refused = session.post_form(&app, "/app/password", &short).await;
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("at least 12 characters"));
    let wrong = [
        ("current", "a wrong password"),
        ("new", "another long password"),
    ];
    assert_eq!(
        session
            .post_form(&app, "/app/password", &wrong)
            .await
            .status(),
        422
    );

    let good = [("current", PASSWORD), ("new", "another long password")];
    let changed = session.post_form(&app, "/app/password", &good).await;
    assert_eq!(changed.status(), 200);
    assert!(changed
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));

    assert_eq!(
        session.get(&app, "/app").await.status(),
        200,
        "this session goes on"
    );
    assert_eq!(
        other.get(&app, "/app").await.status(),
        303,
        "other sessions end"
    );
    assert_eq!(post_login(&app, &email, PASSWORD).await.status(), 401);
    assert_eq!(
        post_login(&app, &email, "another long password")
            .await
            .status(),
        303
    );
    let entries = app
        .store
        .list_audit(&store::AuditFilter {
            action: Some("user.password".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, email);
    assert!(
        !format!("{:?}", entries[0]).contains("argon2"),
        "the hash is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_per_account_with_retry_after() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let email = add_user(&app, Role::It).await;
    for _ in 0..5 {
        assert_eq!(post_login(&app, &email, "guess").await.status(), 401);
    }
    // Even the right password is refused until the window passes.
    let limited = post_login(&app, &email, PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&wait), "Retry-After {wait}");
    assert!(limited
        .text()
        .await
        .unwrap()
        .contains("too many failed logins"));
    // Another account from the same address still logs in.
    let other = add_user(&app, Role::It).await;
    assert_eq!(post_login(&app, &other, PASSWORD).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_the_sessions_csrf_token_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = session_as(&app, Role::Owner).await;

    let form = no_redirects()
        .post(app.url("/app/keys"))
        .header(COOKIE, &owner.cookie)
        .form(&[("name", "sneaky"), ("scope", "owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 403);
    let forged = [("csrf", "0000"), ("name", "sneaky"), ("scope", "owner")];
    let forged = no_redirects()
        .post(app.url("/app/keys"))
        .header(COOKIE, &owner.cookie)
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(app
        .store
        .list_api_keys()
        .await
        .unwrap()
        .iter()
        .all(|k| k.name != "sneaky"));

    let template = json!({"contentMessage": {"text": "Hi {{ order.number }}"}});
    let api = no_redirects()
        .put(app.url("/api/v1/templates/shipped/en"))
        .header(COOKIE, &owner.cookie)
        .json(&template)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    let with_token = no_redirects()
        .put(app.url("/api/v1/templates/shipped/en"))
        .header(COOKIE, &owner.cookie)
        .header("x-csrf-token", &owner.csrf)
        .json(&template)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_only_when_the_browser_came_over_tls() {
    let app = TestApp::spawn_configured(Backend::Sqlite, Options { processor: false }, |c| {
        c.public_url = "http://127.0.0.1:8080".into();
    })
    .await;
    let email = add_user(&app, Role::Analyst).await;
    let answer = post_login(&app, &email, PASSWORD).await;
    let header = answer.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        header.contains("HttpOnly") && !header.contains("Secure"),
        "{header}"
    );

    // Behind a proxy that ends TLS, the proxy's X-Forwarded-Proto makes them Secure.
    let proxied = no_redirects()
        .get(app.url("/app/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let header = proxied.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        header.starts_with("tidings_login=") && header.contains("; Secure"),
        "{header}"
    );
}
