//! Every route the router serves, with every method, for every role and key scope and
//! without credentials: 403 where the table says no (with nothing of the data in the
//! answer), 401 or the login page without credentials, never 401/403 where it says yes,
//! and refused for everyone where the table has no entry.

use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::json;
use tidings::http::access::{access_for, Access, Permission, Role, Scope, RULES};

use super::{no_redirects, session_as, Session};
use crate::helpers::{json, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(every_route_answers_each_role_and_scope_as_the_table_says);

/// Who may do what, written out from the product's statement of roles, so that a change
/// to the matrix in the code must be made here too.
fn expected_roles(permission: Permission) -> &'static [&'static str] {
    const ALL: &[&str] = &["owner", "marketing", "it", "support", "analyst"];
    match permission {
        Permission::ReadData | Permission::ReadTemplates | Permission::OwnAccount => ALL,
        Permission::WriteOrders | Permission::RedriveMessages => &["owner", "it"],
        Permission::EditTemplates => &["owner", "marketing"],
        Permission::EditConsent => &["owner", "support"],
        Permission::ManageKeys | Permission::ReadAudit => &["owner", "it"],
        Permission::ManageUsers => &["owner"],
    }
}

#[test]
fn the_roles_match_the_product_matrix() {
    for rule in RULES {
        let Access::Requires(permission) = rule.access else {
            continue;
        };
        for role in Role::ALL {
            let expected = expected_roles(permission).contains(&role.as_str());
            assert_eq!(
                role.permits(permission),
                expected,
                "{role:?} {permission:?}"
            );
        }
    }
}

#[test]
fn every_route_has_an_access_rule_and_every_rule_a_route() {
    let paths = tidings::http::route_paths();
    for path in &paths {
        assert!(
            RULES.iter().any(|r| r.path == *path),
            "{path} has no entry in http::access::RULES: add one"
        );
    }
    for rule in RULES {
        assert!(
            paths.contains(&rule.path),
            "{} {} is in the access table but not served",
            rule.method,
            rule.path
        );
    }
}

/// What the walk asks as.
enum Caller<'a> {
    Nobody,
    User(Role, &'a Session),
    Key(Scope, &'a str),
}

/// Ids that exist, so that an allowed request could return data and a refused one is
/// checked for leaking it.
struct Fixture {
    order_id: i64,
    customer_id: i64,
    user_id: i64,
    key_id: i64,
}

const SECRET_MARK: &str = "LEAKCHECK";

async fn fixture(app: &TestApp) -> Fixture {
    let order = json!({"external_id": format!("{SECRET_MARK}-1"), "number": "#LK1",
        "currency": "USD", "total": "5.00", "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {"email": "leakcheck@shop.example", "first_name": "Leakcheck"},
        "line_items": [{"title": "Leakcheck mug", "quantity": 1, "unit_price": "5.00"}]});
    let created = json(app.api_post("/api/v1/orders", &order).await).await;
    let order_id = created["id"].as_i64().expect("an order id");
    let customer_id = created["customer_id"].as_i64().expect("a customer id");
    let user = tidings::cli::add_user(
        &app.store,
        "target@shop.example",
        Role::Analyst,
        super::PASSWORD,
        &store::Actor::cli(),
    )
    .await
    .unwrap();
    let secret =
        tidings::cli::create_api_key(&app.store, "target", Scope::Read, &store::Actor::cli())
            .await
            .unwrap();
    let key_id = app.store.find_api_key(&secret).await.unwrap().unwrap().id;
    Fixture {
        order_id,
        customer_id,
        user_id: user.id,
        key_id,
    }
}

fn concrete(path: &str, ids: &Fixture) -> String {
    let id = if path.starts_with("/api/v1/orders") {
        ids.order_id.to_string()
    } else if path.starts_with("/api/v1/customers") {
        ids.customer_id.to_string()
    } else if path.starts_with("/app/users") {
        ids.user_id.to_string()
    } else if path.starts_with("/app/keys") {
        ids.key_id.to_string()
    } else {
        uuid::Uuid::nil().to_string()
    };
    path.replace("{id}", &id)
        .replace("{key}", "shipped")
        .replace("{locale}", "en")
}

async fn send(app: &TestApp, method: &str, path: &str, caller: &Caller<'_>) -> (u16, String) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = no_redirects().request(method.clone(), app.url(path));
    let page = path.starts_with("/app");
    if method != Method::GET {
        request = if page {
            let csrf = match caller {
                Caller::User(_, session) => session.csrf.as_str(),
                _ => "",
            };
            request.form(&[("csrf", csrf)])
        } else {
            request.json(&json!({}))
        };
    }
    request = match caller {
        Caller::Nobody => request,
        Caller::User(_, session) => request
            .header(COOKIE, &session.cookie)
            .header("x-csrf-token", &session.csrf),
        Caller::Key(_, secret) => request.bearer_auth(secret),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        format!("{location}{}", response.text().await.unwrap()),
    )
}

/// The methods the walk tries on every route the router serves: those in the table
/// must answer as it says, the others must be refused for everyone.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn every_route_answers_each_role_and_scope_as_the_table_says(backend: Backend) {
    // Arrange: data to leak, a session per role, a key per scope.
    let app = TestApp::spawn(backend).await;
    let ids = fixture(&app).await;
    let mut sessions = Vec::new();
    for role in Role::ALL {
        sessions.push((role, session_as(&app, role).await));
    }
    let mut keys = Vec::new();
    for scope in Scope::ALL {
        let name = format!("walk-{}", scope.as_str());
        let secret = tidings::cli::create_api_key(&app.store, &name, scope, &store::Actor::cli())
            .await
            .unwrap();
        keys.push((scope, secret));
    }

    // Act and assert: every route the router serves, with every method.
    let mut guarded = 0;
    for route in tidings::http::route_paths() {
        for method in METHODS {
            let verb = Method::from_bytes(method.as_bytes()).unwrap();
            match access_for(&verb, route) {
                Some(Access::Public) => {}
                Some(Access::Requires(permission)) => {
                    walk_guarded(&app, &ids, &sessions, &keys, method, route, permission).await;
                    guarded += 1;
                }
                None => walk_unlisted(&app, &ids, &sessions, &keys, method, route).await,
            }
        }
    }
    let in_table = RULES
        .iter()
        .filter(|r| matches!(r.access, Access::Requires(_)))
        .count();
    assert_eq!(
        guarded, in_table,
        "a guarded rule names a route the router lacks"
    );
}

/// A method the table has no entry for: refused (or not allowed) for everyone, whoever
/// asks, with nothing of the data in the answer.
async fn walk_unlisted(
    app: &TestApp,
    ids: &Fixture,
    sessions: &[(Role, Session)],
    keys: &[(Scope, String)],
    method: &str,
    route: &str,
) {
    let path = concrete(route, ids);
    let mut callers = vec![Caller::Nobody];
    callers.extend(sessions.iter().map(|(role, s)| Caller::User(*role, s)));
    callers.extend(
        keys.iter()
            .map(|(scope, k)| Caller::Key(*scope, k.as_str())),
    );
    for caller in &callers {
        let (status, body) = send(app, method, &path, caller).await;
        assert!(
            matches!(status, 401 | 403 | 405),
            "{method} {path} has no access rule but answered {status}: {body}"
        );
        assert_no_leak(&body, method, &path);
    }
}

/// A method the table guards with `permission`: anonymous callers are sent to log in
/// (pages) or refused with 401, roles and scopes answer as the matrix says.
async fn walk_guarded(
    app: &TestApp,
    ids: &Fixture,
    sessions: &[(Role, Session)],
    keys: &[(Scope, String)],
    method: &str,
    route: &str,
    permission: Permission,
) {
    let path = concrete(route, ids);
    let page = route.starts_with("/app");

    // Nobody: 401, or the login page for a page one opens.
    let (status, body) = send(app, method, &path, &Caller::Nobody).await;
    if page && method == "GET" {
        assert_eq!(status, 303, "{method} {path} unauthenticated");
        assert!(body.starts_with("/app/login"), "{body}");
    } else {
        assert_eq!(status, 401, "{method} {path} unauthenticated: {body}");
    }
    assert_no_leak(&body, method, &path);

    for (role, session) in sessions {
        // Logging out would end the session the walk goes on with: use a fresh one.
        let fresh;
        let session = if route == "/app/logout" {
            fresh = session_as(app, *role).await;
            &fresh
        } else {
            session
        };
        let caller = Caller::User(*role, session);
        let allowed = expected_roles(permission).contains(&role.as_str());
        check(app, method, &path, &caller, allowed).await;
    }
    for (scope, secret) in keys {
        let caller = Caller::Key(*scope, secret);
        if page {
            // Keys open no pages: the workspace takes a login.
            let (status, body) = send(app, method, &path, &caller).await;
            assert_eq!(status, 401, "{method} {path} with a key: {body}");
            assert_no_leak(&body, method, &path);
        } else {
            check(app, method, &path, &caller, scope.permits(permission)).await;
        }
    }
}

async fn check(app: &TestApp, method: &str, path: &str, caller: &Caller<'_>, allowed: bool) {
    let who = match caller {
        Caller::Nobody => "nobody".to_string(),
        Caller::User(role, _) => format!("role {}", role.as_str()),
        Caller::Key(scope, _) => format!("key scope {}", scope.as_str()),
    };
    let (status, body) = send(app, method, path, caller).await;
    if allowed {
        assert!(
            !matches!(status, 401 | 403 | 405) && status < 500,
            "{method} {path} as {who} was refused or failed with {status}: {body}"
        );
    } else {
        assert_eq!(status, 403, "{method} {path} as {who}: {body}");
        assert_no_leak(&body, method, path);
    }
}

fn assert_no_leak(body: &str, method: &str, path: &str) {
    let lower = body.to_lowercase();
    for secret in [
        SECRET_MARK.to_lowercase().as_str(),
        "target@shop.example",
        "tdk_",
    ] {
        assert!(
            !lower.contains(secret),
            "{method} {path} refused but showed {secret}: {body}"
        );
    }
}
