//! The SMS side of the inspection and control API: what phones received and texted,
//! what was posted, and a phone's user texting back.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::handset::reply;
use crate::api::{phone_param, PhonePath};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Every SMS control route.
pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/emulator/phones/{phone}/sms",
            post(text_back).get(phone_messages),
        )
        .route("/emulator/sms/messages", get(messages))
        .route("/emulator/sms/posts", get(posts))
        .route("/emulator/sms/webhook", get(show_webhook).put(set_webhook))
}

/// A JSON body of the control API, or a 400 saying what is wrong with it.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(value)| value)
        .map_err(|rejection| ApiError::invalid(rejection.body_text()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    body: String,
}

/// `POST /emulator/phones/{phone}/sms`: the phone's user texts the business.
async fn text_back(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    text: Result<Json<Text>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let Text { body: text } = body(text)?;
    let sid = reply(&shared, &phone, &text)?;
    Ok(Json(json!({ "sid": sid })))
}

/// `GET /emulator/phones/{phone}/sms`: the texts to and from one phone.
async fn phone_messages(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let world = shared.world();
    if !world.phones.contains_key(&phone) {
        return Err(ApiError::not_found(
            "no phone with this number; add it through POST /emulator/phones",
        ));
    }
    let texts: Vec<_> = world.sms.of_phone(&phone).collect();
    Ok(Json(json!(texts)))
}

/// `GET /emulator/sms/messages`: every text, both ways.
async fn messages(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().sms.messages))
}

/// `GET /emulator/sms/posts`: every status callback and inbound post.
async fn posts(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().sms.posts))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    url: Option<String>,
}

async fn show_webhook(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "url": shared.world().sms.webhook_url }))
}

/// `PUT /emulator/sms/webhook`: where texts from phones go.
async fn set_webhook(
    State(shared): State<Arc<Shared>>,
    webhook: Result<Json<Webhook>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Webhook { url } = body(webhook)?;
    if let Some(problem) = url.as_deref().and_then(crate::validate::http_uri_problem) {
        return Err(ApiError::invalid(format!("url: {problem}")));
    }
    shared.world().sms.webhook_url = url.clone();
    Ok(Json(json!({ "url": url })))
}
