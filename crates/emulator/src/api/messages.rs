//! `phones.agentMessages`: create (send) and delete (revoke).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{
    check_agent, check_reachable, params, phone_param, uuid_param, PhonePath, QueryParams,
};
use crate::delivery;
use crate::error::{ApiError, ApiResult};
use crate::phones::{AgentMessageRecord, MessageState, Phone};
use crate::state::{Shared, World};
use crate::validate::{self, parse_duration};
use crate::webhook::timestamp;

/// `POST /v1/phones/{phone}/agentMessages?messageId=&agentId=`.
#[tracing::instrument(name = "agent message", skip_all, fields(message_id))]
pub async fn create(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    query: QueryParams,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let params = params(query)?;
    check_agent(&shared, &params)?;
    let message_id = uuid_param(&params, "messageId")?;
    tracing::Span::current().record("message_id", message_id.as_str());
    if let Some(first) = reused(&mut shared.world(), &message_id) {
        tracing::debug!("a reused message id; answering as the first time");
        return Ok(Json(first));
    }

    let now = Utc::now();
    let body = validate::agent_message(&body, now).map_err(|r| ApiError::invalid(r.message()))?;
    let (record, answer, delay) = {
        let mut world = shared.world();
        // A retry may have raced the first call past the check above.
        if let Some(first) = reused(&mut world, &message_id) {
            return Ok(Json(first));
        }
        check_reachable(&world, &phone)?;
        check_features(&world.phones[&phone], &body)?;
        take_rate(&mut world, &phone)?;
        record(&mut world, &phone, &message_id, body, now)?
    };
    delivery::accept(&shared, &phone, &record, delay);
    tracing::debug!("accepted an agent message");
    Ok(Json(answer))
}

/// The first answer for a message id used before, counting the reuse.
fn reused(world: &mut World, message_id: &str) -> Option<Value> {
    let first = world.used_ids.get(message_id).cloned()?;
    world.stats.repeated_message_ids += 1;
    Some(first)
}

/// Stores the accepted message and the answer a reuse of its id gets.
fn record(
    world: &mut World,
    phone: &str,
    message_id: &str,
    body: Value,
    now: DateTime<Utc>,
) -> ApiResult<(AgentMessageRecord, Value, Duration)> {
    let expire_time = expire_time(&body, now);
    let answer = answer(phone, message_id, &body, now, expire_time);
    let record = AgentMessageRecord {
        message_id: message_id.to_string(),
        body,
        state: MessageState::Pending,
        received_at: now,
        delivered_at: None,
        read_at: None,
        expire_time,
        seq: world.next_seq(),
    };
    let device = world.phone_mut(phone).ok_or_else(ApiError::not_reachable)?;
    device.messages.push(record.clone());
    device.touch();
    let delay = Duration::from_millis(device.config.delivery_delay_ms);
    world
        .used_ids
        .insert(message_id.to_string(), answer.clone());
    world.stats.messages_accepted += 1;
    Ok((record, answer, delay))
}

/// The resource as Google echoes it: the input plus its name and send time, with a
/// `ttl` turned into the `expireTime` it stands for.
fn answer(
    phone: &str,
    message_id: &str,
    body: &Value,
    now: DateTime<Utc>,
    expire_time: Option<DateTime<Utc>>,
) -> Value {
    let mut answer = body.clone();
    if let Value::Object(fields) = &mut answer {
        fields.remove("ttl");
        fields.insert(
            "name".into(),
            format!("phones/{phone}/agentMessages/{message_id}").into(),
        );
        fields.insert("sendTime".into(), timestamp(now).into());
        if let Some(expire_time) = expire_time {
            fields.insert("expireTime".into(), timestamp(expire_time).into());
        }
    }
    answer
}

/// When delivery stops, from a validated body's `ttl` or `expireTime`.
fn expire_time(body: &Value, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(ttl) = body["ttl"].as_str().and_then(parse_duration) {
        let micros = (ttl * 1e6).round() as i64;
        return Some(now + TimeDelta::microseconds(micros));
    }
    let text = body["expireTime"].as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A 400 when the message uses something the phone cannot show, as Google refuses it.
fn check_features(phone: &Phone, body: &Value) -> ApiResult<()> {
    let mut needed = Vec::new();
    required_features(body, &mut needed);
    match needed
        .into_iter()
        .find(|feature| !phone.has_feature(feature))
    {
        Some(missing) => Err(ApiError::invalid(format!(
            "the phone does not support {missing}, which this message needs; check its \
             capabilities first and send something simpler"
        ))),
        None => Ok(()),
    }
}

/// The features a validated body relies on, found by the keys that need them.
fn required_features(value: &Value, needed: &mut Vec<&'static str>) {
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                let feature = match key.as_str() {
                    "standaloneCard" => Some("RICHCARD_STANDALONE"),
                    "carouselCard" => Some("RICHCARD_CAROUSEL"),
                    "dialAction" => Some("ACTION_DIAL"),
                    "viewLocationAction" => Some("ACTION_VIEW_LOCATION"),
                    "shareLocationAction" => Some("ACTION_SHARE_LOCATION"),
                    "createCalendarEventAction" => Some("ACTION_CREATE_CALENDAR_EVENT"),
                    "openUrlAction" if inner["application"] == "WEBVIEW" => {
                        Some("ACTION_OPEN_URL_IN_WEBVIEW")
                    }
                    "openUrlAction" => Some("ACTION_OPEN_URL"),
                    _ => None,
                };
                needed.extend(feature);
                required_features(inner, needed);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| required_features(item, needed)),
        _ => {}
    }
}

/// Takes one call from the agent's bucket and the user's; a 429 when either is empty.
fn take_rate(world: &mut World, phone: &str) -> ApiResult<()> {
    let now = Instant::now();
    if let Some(bucket) = &mut world.agent_bucket {
        if !bucket.take(now) {
            return Err(ApiError::exhausted(
                "The agent has exceeded its sending rate; slow down and retry later.",
            ));
        }
    }
    let user = world.phones.get_mut(phone).and_then(|p| p.bucket.as_mut());
    if let Some(bucket) = user {
        if !bucket.take(now) {
            // The refused call does not count against the agent.
            if let Some(agent) = &mut world.agent_bucket {
                agent.give_back();
            }
            return Err(ApiError::exhausted(
                "TOO_MANY_REQUESTS - the agent has reached the allowed traffic limit for \
                 this user; wait before messaging them again",
            ));
        }
    }
    Ok(())
}

/// `DELETE /v1/phones/{phone}/agentMessages/{message_id}?agentId=`.
#[tracing::instrument(name = "revoke agent message", skip_all, fields(message_id))]
pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let Path((phone, message_id)) =
        path.map_err(|e| ApiError::invalid(format!("bad path: {e}")))?;
    let phone = phone_param(Ok(Path(phone)))?;
    let params = params(query)?;
    check_agent(&shared, &params)?;
    tracing::Span::current().record("message_id", message_id.as_str());
    let mut world = shared.world();
    check_reachable(&world, &phone)?;
    let device = world
        .phone_mut(&phone)
        .ok_or_else(ApiError::not_reachable)?;
    let Some(message) = device.message_mut(&message_id) else {
        return Err(ApiError::not_found(
            "no message with this id was sent to this phone",
        ));
    };
    match message.state {
        MessageState::Pending => {
            message.state = MessageState::Revoked;
            device.touch();
            tracing::debug!("revoked a message before delivery");
            Ok(Json(json!({})))
        }
        MessageState::Revoked | MessageState::Expired => Ok(Json(json!({}))),
        MessageState::Delivered | MessageState::Read => Err(ApiError::not_found(
            "the message was already delivered and can no longer be revoked",
        )),
    }
}
