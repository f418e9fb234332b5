//! Who the agent can reach: `phones.getCapabilities`, `users.batchGet` and tester
//! invitations.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{
    check_agent, check_reachable, params, phone_param, uuid_param, PhonePath, QueryParams,
};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// The most numbers one `users:batchGet` takes.
const MAX_BATCH_USERS: usize = 10_000;

/// Below this many numbers, Google takes no random sample.
const MIN_SAMPLED_USERS: usize = 500;

/// `GET /v1/phones/{phone}/capabilities?requestId=&agentId=`.
pub async fn capabilities(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let params = params(query)?;
    check_agent(&shared, &params)?;
    uuid_param(&params, "requestId")?;
    let world = shared.world();
    check_reachable(&world, &phone)?;
    let features = world.phones[&phone].config.features.clone();
    Ok(Json(json!({ "features": features })))
}

/// `POST /v1/users:batchGet` with `{"users": [...], "agentId"}`.
pub async fn batch_get(
    State(shared): State<Arc<Shared>>,
    query: QueryParams,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let mut params = params(query)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received: {e}")))?;
    if let Some(agent) = body["agentId"].as_str() {
        params.insert("agentId".into(), agent.to_string());
    }
    check_agent(&shared, &params)?;
    let users = users(&body)?;

    let mut world = shared.world();
    if let Some(bucket) = &mut world.batch_bucket {
        if !bucket.take(Instant::now()) {
            return Err(ApiError::exhausted(
                "users:batchGet is limited to 600 calls a minute; wait before the next one",
            ));
        }
    }
    let reachable = |number: &&str| world.phones.get(*number).is_some_and(|p| p.config.rcs);
    let reachable_users: Vec<&str> = users.iter().copied().filter(reachable).collect();
    let sample: Vec<&str> = match users.len() >= MIN_SAMPLED_USERS {
        true => users.iter().copied().filter(|n| in_sample(n)).collect(),
        false => Vec::new(),
    };
    let reachable_sample = sample.iter().copied().filter(reachable).count();
    Ok(Json(json!({
        "reachableUsers": reachable_users,
        "totalRandomSampleUserCount": sample.len(),
        "reachableRandomSampleUserCount": reachable_sample,
    })))
}

fn users(body: &Value) -> ApiResult<Vec<&str>> {
    let Some(fields) = body.as_object() else {
        return Err(ApiError::invalid(
            "the body must be a JSON object with users",
        ));
    };
    if let Some(key) = fields
        .keys()
        .find(|k| !["users", "agentId"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "{key}: unknown field; the body takes users and agentId"
        )));
    }
    let Some(list) = body["users"].as_array() else {
        return Err(ApiError::invalid(
            "users: missing; give a list of E.164 numbers",
        ));
    };
    if list.len() > MAX_BATCH_USERS {
        return Err(ApiError::invalid(format!(
            "users: {} numbers; at most {MAX_BATCH_USERS} allowed per call",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, user)| {
            user.as_str()
                .ok_or_else(|| ApiError::invalid(format!("users[{i}]: expected a string")))
        })
        .collect()
}

/// Google samples about 75% of the numbers; a hash of the number decides, so the
/// same number is always in or out.
fn in_sample(number: &str) -> bool {
    Sha256::digest(number.as_bytes())[0] % 4 != 0
}

/// `POST /v1/phones/{phone}/testers?agentId=`: invites the phone to test the agent.
pub async fn invite_tester(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let params = params(query)?;
    check_agent(&shared, &params)?;
    let mut world = shared.world();
    check_reachable(&world, &phone)?;
    let device = world
        .phone_mut(&phone)
        .ok_or_else(ApiError::not_reachable)?;
    device.tester = Some("PENDING".to_string());
    device.touch();
    Ok(Json(json!({
        "name": format!("phones/{phone}/testers"),
        "inviteStatus": "PENDING",
    })))
}
