//! Logging in and out, and changing one's password.

use askama::Template;
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use store::UserChange;

use super::auth::{self, Principal, MIN_PASSWORD_LEN, SESSION_COOKIE, SESSION_TTL};
use super::error::ApiError;
use super::pages::{error_page, error_page_with, render, Chrome};
use super::AppState;

/// Before a session exists, the login form's CSRF token is paired with this cookie.
const LOGIN_COOKIE: &str = "tidings_login";

#[derive(Template)]
#[template(path = "app/login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    error: Option<String>,
    email: String,
    csrf: String,
}

/// `GET /app/login`: the form, or the workspace for someone already logged in.
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(_)) = state.store.find_session(&token).await {
            return Redirect::to("/app").into_response();
        }
    }
    let secure = auth::over_tls(&state, &headers);
    login_form(secure, StatusCode::OK, String::new(), None)
}

/// The form with a fresh CSRF token and its cookie.
fn login_form(secure: bool, status: StatusCode, email: String, error: Option<String>) -> Response {
    let csrf = auth::random_token(16);
    let cookie = auth::set_cookie(secure, LOGIN_COOKIE, &csrf, 3600);
    let page = LoginPage {
        chrome: None,
        error,
        email,
        csrf,
    };
    let mut response = render(status, &page);
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The login form as posted.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

/// `POST /app/login`: checks the password under the rate limits and opens a session.
#[tracing::instrument(name = "log in", skip_all, fields(user_id))]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let paired = auth::cookie(&headers, LOGIN_COOKIE).is_some_and(|c| auth::same(&c, &form.csrf));
    if !paired {
        let message = "the login form expired: reload the page and log in again";
        return error_page_with(StatusCode::FORBIDDEN, message);
    }
    let addr = auth::client_addr(&extensions);
    let secure = auth::over_tls(&state, &headers);
    if let Err(wait) = state.logins.check(&form.email, addr) {
        tracing::warn!("login refused by the rate limit");
        return auth::too_many_logins(wait);
    }
    match check_credentials(&state, &form.email, &form.password).await {
        Ok(Some(user)) => {
            state.logins.record_success(&form.email);
            tracing::Span::current().record("user_id", user.id);
            open_session(&state, secure, user.id).await
        }
        Ok(None) => {
            state.logins.record_failure(&form.email, addr);
            tracing::info!("login failed");
            let error = "The email or password is wrong, or the account is disabled.";
            login_form(
                secure,
                StatusCode::UNAUTHORIZED,
                form.email,
                Some(error.into()),
            )
        }
        Err(error) => error_page(error),
    }
}

/// The enabled user with this email and password.
async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<store::User>, ApiError> {
    let Some((user, hash)) = state.store.user_credentials(email).await? else {
        // Hash anyway, so that an unknown email takes as long as a wrong password.
        auth::hash_password(password).await?;
        return Ok(None);
    };
    let matches = auth::verify_password(password, &hash).await;
    Ok((matches && user.disabled_at.is_none()).then_some(user))
}

async fn open_session(state: &AppState, secure: bool, user_id: i64) -> Response {
    let token = auth::random_token(32);
    let csrf = auth::random_token(32);
    let expires_at = chrono::Utc::now() + SESSION_TTL;
    if let Err(error) = state
        .store
        .create_session(user_id, &token, &csrf, expires_at)
        .await
    {
        return error_page(error.into());
    }
    let max_age = SESSION_TTL.num_seconds();
    let mut response = Redirect::to("/app").into_response();
    let cookies = [
        auth::set_cookie(secure, SESSION_COOKIE, &token, max_age),
        auth::set_cookie(secure, LOGIN_COOKIE, "", 0),
    ];
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `POST /app/logout`: ends the session.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE) {
        if let Err(error) = state.store.delete_session(&token).await {
            return error_page(error.into());
        }
    }
    let mut response = Redirect::to("/app/login").into_response();
    let secure = auth::over_tls(&state, &headers);
    if let Ok(value) = auth::set_cookie(secure, SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Template)]
#[template(path = "app/password.html")]
struct PasswordPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    min_len: usize,
}

fn password_page(principal: &Principal, notice: Option<&str>, error: Option<String>) -> Response {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = PasswordPage {
        chrome: Chrome::for_page(principal, "/app/password"),
        notice: notice.map(str::to_string),
        error,
        min_len: MIN_PASSWORD_LEN,
    };
    render(status, &page)
}

/// `GET /app/password`.
pub async fn password(principal: Principal) -> Response {
    password_page(&principal, None, None)
}

/// The password form as posted.
#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

/// `POST /app/password`: checks the current password, stores the new one's hash and
/// ends the user's other sessions.
#[tracing::instrument(name = "change password", skip_all, fields(user_id))]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(session) = principal.session() else {
        return error_page(ApiError::Unauthorized("log in first".into()));
    };
    tracing::Span::current().record("user_id", session.user.id);
    match set_password(&state, &principal, session, &form).await {
        Ok(()) => password_page(&principal, Some("Your password was changed."), None),
        Err(ApiError::Unprocessable(message)) => password_page(&principal, None, Some(message)),
        Err(error) => error_page(error),
    }
}

async fn set_password(
    state: &AppState,
    principal: &Principal,
    session: &store::Session,
    form: &PasswordForm,
) -> Result<(), ApiError> {
    let (_, hash) = state
        .store
        .user_credentials(&session.user.email)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
    if !auth::verify_password(&form.current, &hash).await {
        return Err(ApiError::Unprocessable(
            "the current password is wrong".into(),
        ));
    }
    auth::check_new_password(&form.new).map_err(ApiError::Unprocessable)?;
    let hash = auth::hash_password(&form.new).await?;
    let change = UserChange::Password {
        hash: &hash,
        keep_session: Some(session.id),
    };
    state
        .store
        .change_user(session.user.id, &change, &principal.actor())
        .await?;
    tracing::info!("password changed");
    Ok(())
}
