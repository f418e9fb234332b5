//! Messages for operators: what was sent about an order, what happened to one message
//! and why, the dead letters, and sending one again.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use store::MessageView;
use uuid::Uuid;

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::AppState;

/// `GET /api/v1/orders/{id}/messages`: every message about an order, with each one's
/// status history (deferrals, re-routes and failures with their reasons) and attempts.
pub async fn for_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let order_id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("order {id:?} not found")))?;
    state.store.get_order(order_id).await?;
    Ok(Json(state.store.list_messages(order_id).await?))
}

/// `GET /api/v1/messages/{id}`: one message, and why it was or was not sent.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    Ok(Json(state.store.get_message(message_id(&id)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Most messages listed; 100 by default, at most 1,000.
    limit: Option<i64>,
}

/// `GET /api/v1/messages/dead-letters`: messages that failed for good, newest first.
pub async fn dead_letters(
    State(state): State<AppState>,
    Query(query): Query<DeadLetterQuery>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable(
            "limit: must be between 1 and 1000".into(),
        ));
    }
    Ok(Json(state.store.dead_letters(limit).await?))
}

/// `POST /api/v1/messages/{id}/redrive`: queue a dead letter again, due now.
#[tracing::instrument(name = "redrive message", skip_all, fields(message_id = %id))]
pub async fn redrive(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let id = message_id(&id)?;
    if !state.store.redrive_message(id, &principal.actor()).await? {
        let message = state.store.get_message(id).await?;
        return Err(ApiError::Unprocessable(format!(
            "message {id} is {}, not failed: only dead letters are sent again",
            message.state
        )));
    }
    tracing::info!("dead letter queued again");
    Ok((
        StatusCode::ACCEPTED,
        Json(state.store.get_message(id).await?),
    ))
}

fn message_id(raw: &str) -> ApiResult<Uuid> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("message {raw:?} not found")))
}
