//! The users page, for the owner: add a user with a role, change roles, disable.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use store::{User, UserChange};

use super::access::Role;
use super::auth::Principal;
use super::error::ApiError;
use super::pages::{error_page, render, Chrome};
use super::AppState;

#[derive(Template)]
#[template(path = "app/users.html")]
struct UsersPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    password: Option<String>,
    roles: Vec<&'static str>,
    users: Vec<User>,
}

#[derive(Default)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    password: Option<String>,
}

async fn users_page(state: &AppState, principal: &Principal, outcome: Outcome) -> Response {
    let users = match state.store.list_users().await {
        Ok(users) => users,
        Err(error) => return error_page(error.into()),
    };
    let status = if outcome.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = UsersPage {
        chrome: Chrome::for_page(principal, "/app/users"),
        notice: outcome.notice,
        error: outcome.error,
        password: outcome.password,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        users,
    };
    render(status, &page)
}

/// `GET /app/users`.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Response {
    users_page(&state, &principal, Outcome::default()).await
}

/// The new-user form as posted.
#[derive(Deserialize)]
pub struct NewUser {
    email: String,
    role: String,
}

/// `POST /app/users`: adds a user with a one-time password shown this once.
#[tracing::instrument(name = "add user", skip_all)]
pub async fn add(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<NewUser>,
) -> Response {
    let outcome = match add_user(&state, &principal, &form).await {
        Ok(password) => Outcome {
            notice: Some(format!("{} was added.", form.email.trim())),
            password: Some(password),
            ..Outcome::default()
        },
        Err(ApiError::Unprocessable(message)) => Outcome {
            error: Some(message),
            ..Outcome::default()
        },
        Err(error) => return error_page(error),
    };
    users_page(&state, &principal, outcome).await
}

async fn add_user(
    state: &AppState,
    principal: &Principal,
    form: &NewUser,
) -> Result<String, ApiError> {
    let role = Role::parse(&form.role)
        .ok_or_else(|| ApiError::Unprocessable(format!("{:?} is not a role", form.role)))?;
    let password = super::auth::generate_password();
    crate::cli::add_user(
        &state.store,
        &form.email,
        role,
        &password,
        &principal.actor(),
    )
    .await
    .map_err(|e| ApiError::Unprocessable(format!("{e:#}")))?;
    Ok(password)
}

/// A change to a user as posted: a role, or disabled `true`/`false`.
#[derive(Deserialize)]
pub struct EditUser {
    role: Option<String>,
    disabled: Option<String>,
}

/// `POST /app/users/{id}`: changes a user's role or disables (enables) them.
#[tracing::instrument(name = "change user", skip_all, fields(user_id = %id))]
pub async fn change(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<EditUser>,
) -> Response {
    let outcome = match change_user(&state, &principal, &id, &form).await {
        Ok(user) => Outcome {
            notice: Some(format!("{} was changed.", user.email)),
            ..Outcome::default()
        },
        Err(ApiError::Unprocessable(message)) => Outcome {
            error: Some(message),
            ..Outcome::default()
        },
        Err(error) => return error_page(error),
    };
    users_page(&state, &principal, outcome).await
}

async fn change_user(
    state: &AppState,
    principal: &Principal,
    id: &str,
    form: &EditUser,
) -> Result<User, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("user {id:?} not found")))?;
    let change = match (&form.role, form.disabled.as_deref()) {
        (Some(role), None) => {
            let role = Role::parse(role)
                .ok_or_else(|| ApiError::Unprocessable(format!("{role:?} is not a role")))?;
            UserChange::Role(role.as_str())
        }
        (None, Some("true")) => UserChange::Disabled(true),
        (None, Some("false")) => UserChange::Disabled(false),
        _ => {
            let message = "send either a role or disabled=true|false".to_string();
            return Err(ApiError::Unprocessable(message));
        }
    };
    // The owner cannot lock themselves out: someone must remain able to manage users.
    let own = principal.session().is_some_and(|s| s.user.id == id);
    if own
        && !matches!(
            change,
            UserChange::Role("owner") | UserChange::Disabled(false)
        )
    {
        let message = "you cannot demote or disable yourself; ask another owner".to_string();
        return Err(ApiError::Unprocessable(message));
    }
    Ok(state
        .store
        .change_user(id, &change, &principal.actor())
        .await?)
}
