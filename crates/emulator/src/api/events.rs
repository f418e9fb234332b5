//! `phones.agentEvents.create`: read receipts and typing indicators from the agent.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{
    check_agent, check_reachable, params, phone_param, uuid_param, PhonePath, QueryParams,
};
use crate::error::{ApiError, ApiResult};
use crate::phones::AgentEventRecord;
use crate::webhook::timestamp;

/// `POST /v1/phones/{phone}/agentEvents?eventId=&agentId=`.
#[tracing::instrument(name = "agent event", skip_all, fields(event_id))]
pub async fn create(
    State(shared): State<Arc<crate::state::Shared>>,
    path: PhonePath,
    query: QueryParams,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let params = params(query)?;
    check_agent(&shared, &params)?;
    let event_id = uuid_param(&params, "eventId")?;
    tracing::Span::current().record("event_id", event_id.as_str());
    let (event_type, message_id) = parse_event(&body)?;

    let mut world = shared.world();
    // Message and event ids share one space: either reused is ignored.
    if let Some(first) = world.used_ids.get(&event_id) {
        return Ok(Json(first.clone()));
    }
    check_reachable(&world, &phone)?;
    if let Some(bucket) = &mut world.agent_bucket {
        if !bucket.take(Instant::now()) {
            return Err(ApiError::exhausted(
                "The agent has exceeded its sending rate; slow down and retry later.",
            ));
        }
    }
    let now = Utc::now();
    let seq = world.next_seq();
    let mut answer = json!({
        "name": format!("phones/{phone}/agentEvents/{event_id}"),
        "eventType": event_type,
        "sendTime": timestamp(now),
    });
    if let Some(message_id) = &message_id {
        answer["messageId"] = message_id.as_str().into();
    }
    // TODO(emulator): IS_TYPING to an offline phone is dropped by Google and READ is
    // queued; the emulator records both at once.
    let device = world
        .phone_mut(&phone)
        .ok_or_else(ApiError::not_reachable)?;
    device.agent_events.push(AgentEventRecord {
        event_id: event_id.clone(),
        event_type: event_type.to_string(),
        message_id,
        received_at: now,
        seq,
    });
    device.touch();
    world.used_ids.insert(event_id, answer.clone());
    Ok(Json(answer))
}

/// The event type and, for READ, the user message it marks.
fn parse_event(body: &[u8]) -> ApiResult<(&'static str, Option<String>)> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received: {e}")))?;
    let Some(fields) = body.as_object() else {
        return Err(ApiError::invalid("the AgentEvent must be a JSON object"));
    };
    if let Some(key) = fields
        .keys()
        .find(|k| !["eventType", "messageId"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "{key}: unknown field; an AgentEvent takes eventType and messageId"
        )));
    }
    let message_id = match &body["messageId"] {
        Value::Null => None,
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        _ => return Err(ApiError::invalid("messageId: must be a non-empty string")),
    };
    match (body["eventType"].as_str(), message_id) {
        (Some("READ"), Some(id)) => Ok(("READ", Some(id))),
        (Some("READ"), None) => Err(ApiError::invalid(
            "messageId: missing; a READ event names the user message it marks read",
        )),
        (Some("IS_TYPING"), id) => Ok(("IS_TYPING", id)),
        (other, _) => Err(ApiError::invalid(format!(
            "eventType: {other:?} is not one of READ, IS_TYPING"
        ))),
    }
}
