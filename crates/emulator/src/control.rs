//! The inspection and control API under `/emulator`: what tests and people use to see
//! what each phone received and to act as its user.
//!
//! It needs no token: the emulator is a local tool, and this API stands for what a
//! person does with a phone in hand.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{phone_param, PhonePath};
use crate::config::{PhoneConfig, UserAction, UserFile};
use crate::delivery::{self, Choice};
use crate::error::{ApiError, ApiResult};
use crate::files;
use crate::state::Shared;
use crate::webhook::{self, Registration};

/// Every control route.
pub fn router() -> Router<Arc<Shared>> {
    let phone = "/emulator/phones/{phone}";
    Router::new()
        .route("/emulator/phones", get(list_phones).post(add_phone))
        .route(phone, get(show_phone))
        .route(&format!("{phone}/revision"), get(revision))
        .route(&format!("{phone}/online"), put(set_online))
        .route(&format!("{phone}/read"), post(read))
        .route(&format!("{phone}/tap"), post(tap))
        .route(&format!("{phone}/text"), post(text))
        .route(&format!("{phone}/location"), post(location))
        .route(&format!("{phone}/file"), post(file))
        .route("/emulator/stats", get(stats))
        .route("/emulator/webhook", get(show_webhook).put(set_webhook))
        .route("/emulator/webhook/deliveries", get(deliveries))
        .route("/emulator/webhook/register", post(register))
        .route("/emulator/files/{id}", get(files::download))
}

/// A JSON body of the control API, or a 400 saying what is wrong with it.
type Body<T> = Result<Json<T>, JsonRejection>;

fn body<T>(body: Body<T>) -> ApiResult<T> {
    body.map(|Json(value)| value)
        .map_err(|rejection| ApiError::invalid(rejection.body_text()))
}

async fn list_phones(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let world = shared.world();
    Json(json!(world.phones.values().collect::<Vec<_>>()))
}

async fn add_phone(
    State(shared): State<Arc<Shared>>,
    config: Body<PhoneConfig>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let config = body(config)?;
    shared.add_phone(config)?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn show_phone(State(shared): State<Arc<Shared>>, path: PhonePath) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let world = shared.world();
    let device = world.phones.get(&phone).ok_or_else(unknown_phone)?;
    Ok(Json(json!(device)))
}

async fn revision(State(shared): State<Arc<Shared>>, path: PhonePath) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let world = shared.world();
    let device = world.phones.get(&phone).ok_or_else(unknown_phone)?;
    Ok(Json(json!({ "revision": device.revision })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Online {
    online: bool,
}

async fn set_online(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    online: Body<Online>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let Online { online } = body(online)?;
    delivery::set_online(&shared, &phone, online)?;
    Ok(Json(json!({ "online": online })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageRef {
    message_id: String,
}

async fn read(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    message: Body<MessageRef>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let MessageRef { message_id } = body(message)?;
    if !delivery::read(&shared, &phone, &message_id) {
        return Err(ApiError::precondition(
            "no delivered, unread message with this id on this phone",
        ));
    }
    Ok(Json(json!({})))
}

/// Which suggestion to tap: by label or by position, on a given message or the newest
/// one that has it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Tap {
    message_id: Option<String>,
    text: Option<String>,
    index: Option<usize>,
}

async fn tap(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    tap: Body<Tap>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let tap = body(tap)?;
    let choice = match (tap.text, tap.index) {
        (Some(text), None) => Choice::Label(text),
        (None, Some(index)) => Choice::Index(index),
        _ => return Err(ApiError::invalid("give either text (the label) or index")),
    };
    let id = delivery::tap(&shared, &phone, tap.message_id.as_deref(), &choice)?;
    Ok(Json(json!({ "messageId": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

async fn text(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    text: Body<Text>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let Text { text } = body(text)?;
    act(&shared, &phone, UserAction::Text(text))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Location {
    latitude: f64,
    longitude: f64,
}

async fn location(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    location: Body<Location>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    let Location {
        latitude,
        longitude,
    } = body(location)?;
    act(
        &shared,
        &phone,
        UserAction::ShareLocation {
            latitude,
            longitude,
        },
    )
}

async fn file(
    State(shared): State<Arc<Shared>>,
    path: PhonePath,
    file: Body<UserFile>,
) -> ApiResult<Json<Value>> {
    let phone = phone_param(path)?;
    act(&shared, &phone, UserAction::SendFile(body(file)?))
}

fn act(shared: &Shared, phone: &str, action: UserAction) -> ApiResult<Json<Value>> {
    let id = delivery::act(shared, phone, None, &action)?;
    Ok(Json(json!({ "messageId": id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    url: Option<String>,
}

/// `GET /emulator/stats`: messages accepted and message ids reused.
async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(shared.world().stats).unwrap_or_default())
}

async fn show_webhook(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "url": shared.world().webhook_url }))
}

async fn set_webhook(
    State(shared): State<Arc<Shared>>,
    webhook: Body<Webhook>,
) -> ApiResult<Json<Value>> {
    let Webhook { url } = body(webhook)?;
    if let Some(problem) = url.as_deref().and_then(crate::validate::http_uri_problem) {
        return Err(ApiError::invalid(format!("url: {problem}")));
    }
    shared.world().webhook_url = url.clone();
    Ok(Json(json!({ "url": url })))
}

async fn deliveries(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!(shared.world().deliveries))
}

/// Runs the registration handshake against the configured webhook.
async fn register(State(shared): State<Arc<Shared>>) -> ApiResult<Json<Registration>> {
    let url = shared.world().webhook_url.clone();
    let Some(url) = url else {
        return Err(ApiError::precondition(
            "no webhook URL is set; PUT one to /emulator/webhook first",
        ));
    };
    Ok(Json(webhook::register(&shared, &url).await))
}

fn unknown_phone() -> ApiError {
    ApiError::not_found("no phone with this number; add it through POST /emulator/phones")
}
