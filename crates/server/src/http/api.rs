//! The REST API under `/api/v1/`. Who may call what is decided before a handler runs,
//! by `auth::authorize` and the table in `access`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use domain::{Command, OrderRef, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;
use store::{Accepted, CustomerView, Delivery, OrderView};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::ingest::rest::{EventBody, OrderBody, ShipmentBody};

pub use super::access::Scope;

/// An order as the API shows it: the stored view plus its tracking page URL.
#[derive(Serialize)]
pub struct OrderResponse {
    #[serde(flatten)]
    pub order: OrderView,
    pub tracking_url: String,
}

pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    // PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        let message = "text fields must not contain NUL (\\u0000) characters".to_string();
        return Err(ApiError::Unprocessable(message));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::BadRequest {
                code: "malformed_body",
                message: format!("body is not valid JSON: {e}"),
            }
        } else {
            ApiError::Unprocessable(e.to_string())
        }
    })
}

fn parse_id(raw: &str, what: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("{what} {raw:?} not found")))
}

/// `POST /api/v1/orders`: create or update an order by source and external id.
#[tracing::instrument(name = "upsert order", skip_all, fields(order_id))]
pub async fn upsert_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<OrderResponse>)> {
    let payload: OrderBody = parse_json(&body)?;
    let command = payload.into_command(&state.config.default_region)?;
    let Command::UpsertOrder(input) = &command else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "an order body made another command"
        )));
    };
    let existed = state.store.order_id_by_ref(&input.order).await?.is_some();
    let order_id = ingest(&state, &headers, "order.upsert", &body, &command).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(order_response(&state, order_id).await?)))
}

/// `POST /api/v1/orders/{id}/shipments`.
#[tracing::instrument(name = "add shipment", skip_all, fields(order_id = %id))]
pub async fn add_shipment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<OrderResponse>)> {
    let to_command = |order| Ok(parse_json::<ShipmentBody>(&body)?.into_command(order)?);
    write_to_order(&state, &id, &headers, &body, "shipment.upsert", to_command).await
}

/// `POST /api/v1/orders/{id}/events`.
#[tracing::instrument(name = "add event", skip_all, fields(order_id = %id))]
pub async fn add_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<OrderResponse>)> {
    let to_command = |order| Ok(parse_json::<EventBody>(&body)?.into_command(order)?);
    write_to_order(&state, &id, &headers, &body, "event.add", to_command).await
}

/// The steps every write to an existing order shares: find the order, build the command
/// from the body, apply it, answer with the order.
async fn write_to_order(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    topic: &str,
    to_command: impl FnOnce(OrderRef) -> ApiResult<Command>,
) -> ApiResult<(StatusCode, Json<OrderResponse>)> {
    let order = state.store.get_order(parse_id(id, "order")?).await?;
    let command = to_command(order_ref_of(&order))?;
    let order_id = ingest(state, headers, topic, body, &command).await?;
    Ok((
        StatusCode::CREATED,
        Json(order_response(state, order_id).await?),
    ))
}

/// Query of `GET /api/v1/orders`: an order by the id its source gave it.
#[derive(serde::Deserialize)]
pub struct OrderLookup {
    source: Option<String>,
    external_id: Option<String>,
}

/// `GET /api/v1/orders?source=S&external_id=E`: the order a source knows as `E`.
#[tracing::instrument(name = "find order", skip_all, fields(order_id))]
pub async fn find_order(
    State(state): State<AppState>,
    lookup: Result<Query<OrderLookup>, QueryRejection>,
) -> ApiResult<Json<OrderResponse>> {
    let Query(lookup) = lookup.map_err(|e| ApiError::BadRequest {
        code: "malformed_query",
        message: e.body_text(),
    })?;
    let external_id = lookup
        .external_id
        .ok_or_else(|| ApiError::Unprocessable("external_id: is required".into()))?;
    let source = lookup.source.unwrap_or_else(|| "api".into());
    let source = Source::parse(&source)
        .ok_or_else(|| ApiError::Unprocessable(format!("source: {source:?} is not a source")))?;
    let order_ref = OrderRef {
        source,
        external_id,
    };
    let id = state
        .store
        .order_id_by_ref(&order_ref)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no order {:?} from {}",
                order_ref.external_id,
                order_ref.source.as_str()
            ))
        })?;
    tracing::Span::current().record("order_id", id);
    Ok(Json(order_response(&state, id).await?))
}

/// `GET /api/v1/orders/{id}`.
#[tracing::instrument(name = "get order", skip_all, fields(order_id = %id))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderResponse>> {
    Ok(Json(order_response(&state, parse_id(&id, "order")?).await?))
}

/// `GET /api/v1/customers/{id}`.
#[tracing::instrument(name = "get customer", skip_all, fields(customer_id = %id))]
pub async fn get_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerView>> {
    Ok(Json(
        state.store.get_customer(parse_id(&id, "customer")?).await?,
    ))
}

/// Body of `POST /api/v1/customers/{id}/consents`: one decision a customer made.
#[derive(serde::Deserialize)]
pub struct ConsentBody {
    purpose: String,
    channel: String,
    granted: bool,
}

/// `POST /api/v1/customers/{id}/consents`: records a consent decision a customer gave
/// support (by phone or email), audited with who recorded it.
#[tracing::instrument(name = "edit consent", skip_all, fields(customer_id = %id))]
pub async fn edit_consent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<CustomerView>> {
    let id = parse_id(&id, "customer")?;
    let body: ConsentBody = parse_json(&body)?;
    let purpose = domain::Purpose::parse(&body.purpose)
        .map_err(|e| ApiError::Unprocessable(format!("purpose: {e}")))?;
    let channel = domain::Channel::parse(&body.channel)
        .map_err(|e| ApiError::Unprocessable(format!("channel: {e}")))?;
    let record = domain::ConsentRecord {
        purpose,
        channel,
        granted: body.granted,
        source: "workspace".into(),
        recorded_at: Utc::now(),
    };
    state
        .store
        .record_consent(id, &record, &principal.actor())
        .await?;
    tracing::info!("consent recorded");
    Ok(Json(state.store.get_customer(id).await?))
}

fn order_ref_of(order: &OrderView) -> OrderRef {
    OrderRef {
        source: Source::parse(&order.source).unwrap_or_else(|| Source::named("api")),
        external_id: order.external_id.clone(),
    }
}

async fn order_response(state: &AppState, order_id: i64) -> ApiResult<OrderResponse> {
    let order = state.store.get_order(order_id).await?;
    let tracking_url = state.config.tracking_url(&order.tracking_token);
    Ok(OrderResponse {
        order,
        tracking_url,
    })
}

/// Stores the request as a delivery and applies it in one transaction. A repeated
/// `Idempotency-Key` applies nothing and answers with the order as it stands.
async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    topic: &str,
    body: &[u8],
    command: &Command,
) -> ApiResult<i64> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let delivery = Delivery {
        source: "api".into(),
        delivery_id: key.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        topic: topic.into(),
        body: body.to_vec(),
        received_at: Utc::now(),
    };
    let (accepted, applied) = state.applier.apply(delivery, command.clone()).await?;
    let order_id = match (accepted, applied.order_id) {
        (_, Some(id)) => id,
        (Accepted::Duplicate, None) => replayed_order(state, command).await?,
        (Accepted::New, None) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "command applied to no order"
            )))
        }
    };
    tracing::Span::current().record("order_id", order_id);
    Ok(order_id)
}

async fn replayed_order(state: &AppState, command: &Command) -> ApiResult<i64> {
    let order_ref = match command {
        Command::UpsertOrder(input) => &input.order,
        Command::UpsertShipment { order, .. } => order,
        Command::AddEvents {
            target: domain::EventTarget::Order(order),
            ..
        } => order,
        Command::AddEvents {
            target: domain::EventTarget::Shipment { order, .. },
            ..
        } => order,
        _ => {
            return Err(ApiError::Unprocessable(
                "this request names no order".into(),
            ))
        }
    };
    state
        .store
        .order_id_by_ref(order_ref)
        .await?
        .ok_or_else(|| ApiError::NotFound("order not found".into()))
}
