//! The RBM v1 REST API, on Google's paths, behind bearer-token auth.

mod events;
mod messages;
mod reach;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::Router;
use uuid::Uuid;

use crate::auth::require_bearer;
use crate::error::{ApiError, ApiResult};
use crate::files::{self, MAX_FILE_BYTES};
use crate::phones::is_e164;
use crate::state::{Shared, World};

/// A request's query string as the handlers receive it.
pub type QueryParams = Result<Query<HashMap<String, String>>, QueryRejection>;

/// A phone number path segment as the handlers receive it.
pub type PhonePath = Result<Path<String>, PathRejection>;

/// Room for a 250 KB message with its limit checked by validation, not by a cut-off.
const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Every RBM v1 route.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let phone = "/v1/phones/{phone}";
    Router::new()
        .route(&format!("{phone}/agentMessages"), post(messages::create))
        .route(
            &format!("{phone}/agentMessages/{{message_id}}"),
            delete(messages::revoke),
        )
        .route(&format!("{phone}/agentEvents"), post(events::create))
        .route(&format!("{phone}/capabilities"), get(reach::capabilities))
        .route(&format!("{phone}/testers"), post(reach::invite_tester))
        .route("/v1/users:batchGet", post(reach::batch_get))
        .route("/v1/files", post(files::create_from_url))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .route(
            "/upload/v1/files",
            post(files::upload).layer(DefaultBodyLimit::max(MAX_FILE_BYTES)),
        )
        .route_layer(from_fn_with_state(shared, require_bearer))
}

/// The query parameters, or a 400 when the query string does not parse.
pub fn params(query: QueryParams) -> ApiResult<HashMap<String, String>> {
    query
        .map(|Query(params)| params)
        .map_err(|e| ApiError::invalid(format!("the query string does not parse: {e}")))
}

/// The phone number in the path, checked to be E.164.
pub fn phone_param(path: PhonePath) -> ApiResult<String> {
    let Path(number) = path.map_err(|e| ApiError::invalid(format!("bad path: {e}")))?;
    if !is_e164(&number) {
        return Err(ApiError::invalid(
            "the phone number in the path is not E.164; write it as +16135550123",
        ));
    }
    Ok(number)
}

/// Checks the `agentId` parameter names this emulator's agent.
pub fn check_agent(shared: &Shared, params: &HashMap<String, String>) -> ApiResult<()> {
    let Some(agent) = params.get("agentId").filter(|a| !a.is_empty()) else {
        return Err(ApiError::invalid(
            "agentId is missing; every RBM call names the agent it acts for",
        ));
    };
    if *agent != shared.settings.agent_id {
        return Err(ApiError::forbidden(format!(
            "the service account may not act for agent {agent:?}; this emulator hosts {:?}",
            shared.settings.agent_id
        )));
    }
    Ok(())
}

/// A required id parameter (`messageId`, `eventId`), which must be a UUID.
pub fn uuid_param(params: &HashMap<String, String>, name: &str) -> ApiResult<String> {
    let value = params.get(name).map(String::as_str).unwrap_or_default();
    if value.is_empty() {
        return Err(ApiError::invalid(format!(
            "{name} is missing; give a new UUID per call"
        )));
    }
    if Uuid::parse_str(value).is_err() {
        return Err(ApiError::invalid(format!("{name} {value:?} is not a UUID")));
    }
    Ok(value.to_string())
}

/// A 404 unless `number` is a known phone with RCS.
pub fn check_reachable(world: &World, number: &str) -> ApiResult<()> {
    match world.phones.get(number) {
        Some(phone) if phone.config.rcs => Ok(()),
        _ => Err(ApiError::not_reachable()),
    }
}
