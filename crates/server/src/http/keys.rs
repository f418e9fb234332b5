//! The API keys page: create a key with a scope (its secret shown once) and revoke one.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use store::ApiKeyListing;

use super::access::Scope;
use super::auth::Principal;
use super::error::ApiError;
use super::pages::{error_page, render, Chrome};
use super::AppState;

#[derive(Template)]
#[template(path = "app/keys.html")]
struct KeysPage {
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    secret: Option<String>,
    scopes: Vec<&'static str>,
    keys: Vec<ApiKeyListing>,
}

/// What a keys page shows besides the list.
#[derive(Default)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    secret: Option<String>,
}

async fn keys_page(state: &AppState, principal: &Principal, outcome: Outcome) -> Response {
    let keys = match state.store.list_api_keys().await {
        Ok(keys) => keys,
        Err(error) => return error_page(error.into()),
    };
    let status = if outcome.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = KeysPage {
        chrome: Chrome::for_page(principal, "/app/keys"),
        notice: outcome.notice,
        error: outcome.error,
        secret: outcome.secret,
        scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        keys,
    };
    render(status, &page)
}

/// `GET /app/keys`.
pub async fn list(State(state): State<AppState>, principal: Principal) -> Response {
    keys_page(&state, &principal, Outcome::default()).await
}

/// The new-key form as posted.
#[derive(Deserialize)]
pub struct NewKey {
    name: String,
    scope: String,
}

/// `POST /app/keys`: creates a key and shows its secret this once.
#[tracing::instrument(name = "create API key", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<NewKey>,
) -> Response {
    let name = form.name.trim();
    let outcome = match (
        name.is_empty() || name.len() > 100,
        Scope::parse(&form.scope),
    ) {
        (true, _) => Outcome {
            error: Some("the name must be 1 to 100 characters".into()),
            ..Outcome::default()
        },
        (false, None) => Outcome {
            error: Some(format!("{:?} is not a scope", form.scope)),
            ..Outcome::default()
        },
        (false, Some(scope)) => {
            match crate::cli::create_api_key(&state.store, name, scope, &principal.actor()).await {
                Ok(secret) => Outcome {
                    notice: Some(format!(
                        "Key {name:?} created with scope {}.",
                        scope.as_str()
                    )),
                    secret: Some(secret),
                    ..Outcome::default()
                },
                Err(error) => return error_page(ApiError::Internal(error)),
            }
        }
    };
    keys_page(&state, &principal, outcome).await
}

/// `POST /app/keys/{id}/revoke`.
#[tracing::instrument(name = "revoke API key", skip_all, fields(api_key = %id))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error_page(ApiError::NotFound(format!("API key {id:?} not found")));
    };
    let notice = match state.store.revoke_api_key(id, &principal.actor()).await {
        Ok(true) => "The key was revoked; requests with it are refused from now on.",
        Ok(false) => "The key was already revoked.",
        Err(error) => return error_page(error.into()),
    };
    let outcome = Outcome {
        notice: Some(notice.into()),
        ..Outcome::default()
    };
    keys_page(&state, &principal, outcome).await
}
