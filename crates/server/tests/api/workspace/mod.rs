//! The team workspace: users and sessions, roles, API keys and the audit log.

mod access;
mod audit;
mod login;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Response};
use tidings::http::access::Role;

use crate::helpers::TestApp;

/// A logged-in person: their session cookie and the CSRF token of their forms.
pub struct Session {
    pub email: String,
    pub cookie: String,
    pub csrf: String,
}

/// A client that shows redirects instead of following them, so tests see each
/// response's cookies and `Location`.
pub fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of cookie `name` set by a response, if any (empty when it is deleted).
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (n, value) = first.split_once('=')?;
            (n == name).then(|| value.to_string())
        })
}

/// The value of the first hidden `csrf` field of a page.
pub fn form_csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Adds a user with `role` and a known password; their email.
pub async fn add_user(app: &TestApp, role: Role) -> String {
    let email = format!(
        "{}-{}@shop.example",
        role.as_str(),
        uuid::Uuid::new_v4().simple()
    );
    tidings::cli::add_user(&app.store, &email, role, PASSWORD, &store::Actor::cli())
        .await
        .expect("a user");
    email
}

pub const PASSWORD: &str = "a long test password";

/// Posts the login form as a browser would; the answer to the post.
pub async fn post_login(app: &TestApp, email: &str, password: &str) -> Response {
    let client = no_redirects();
    let form = client.get(app.url("/app/login")).send().await.unwrap();
    let pairing = set_cookie(&form, "tidings_login").expect("the login form's cookie");
    let csrf = form_csrf(&form.text().await.unwrap());
    client
        .post(app.url("/app/login"))
        .header(COOKIE, format!("tidings_login={pairing}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Logs in and reads the session's CSRF token off the home page.
pub async fn log_in(app: &TestApp, email: &str, password: &str) -> Session {
    let answer = post_login(app, email, password).await;
    assert_eq!(answer.status(), 303, "logging in as {email}");
    let token = set_cookie(&answer, "tidings_session").expect("a session cookie");
    let cookie = format!("tidings_session={token}");
    let home = no_redirects()
        .get(app.url("/app"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let csrf = form_csrf(&home.text().await.unwrap());
    Session {
        email: email.to_string(),
        cookie,
        csrf,
    }
}

/// A new user with `role`, logged in.
pub async fn session_as(app: &TestApp, role: Role) -> Session {
    let email = add_user(app, role).await;
    log_in(app, &email, PASSWORD).await
}

impl Session {
    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        no_redirects()
            .get(app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Posts a workspace form with the session's CSRF token added.
    pub async fn post_form(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        no_redirects()
            .post(app.url(path))
            .header(COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}
