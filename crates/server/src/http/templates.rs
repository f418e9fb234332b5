//! The template API: list, read, save (validated) and preview message templates.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use domain::rcs::AgentMessage;
use domain::template::{Listing, Origin, TemplateContext, TemplateError, Templates};
use serde::{Deserialize, Serialize};
use store::{CustomerView, DueMessage, MessageCustomer, MessageOrder, MessageShipment, OrderView};

use super::api::parse_json;
use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::dispatch::context;

/// A template's text and where it came from.
#[derive(Serialize)]
pub struct TemplateBody {
    pub key: String,
    pub locale: String,
    pub origin: Origin,
    /// The template: an RBM message whose strings are minijinja templates.
    pub body: serde_json::Value,
}

/// `POST /api/v1/templates/{key}/preview`: what to render.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The order to render for; the sample order without one.
    pub order_id: Option<i64>,
    /// The locale to render in; the customer's (or the shop's) without one.
    pub locale: Option<String>,
    /// A draft to render instead of the saved template, checked as a save would be.
    pub body: Option<serde_json::Value>,
}

/// What a preview rendered.
#[derive(Serialize)]
pub struct Preview {
    pub key: String,
    /// The locale of the template used.
    pub locale: String,
    pub origin: Origin,
    /// The message exactly as it would be sent to RBM.
    pub message: AgentMessage,
}

/// `GET /api/v1/templates`: every template, built-in or saved.
pub async fn list(State(state): State<AppState>) -> Json<Vec<Listing>> {
    Json(state.templates.read().list())
}

/// `GET /api/v1/templates/{key}/{locale}`.
pub async fn get(
    State(state): State<AppState>,
    Path((key, locale)): Path<(String, String)>,
) -> ApiResult<Json<TemplateBody>> {
    let templates = state.templates.read();
    let (body, origin) = templates
        .body(&key, &locale)
        .ok_or_else(|| ApiError::NotFound(format!("no template {key} in locale {locale}")))?;
    let body = serde_json::from_str(body)
        .map_err(|e| anyhow::anyhow!("a stored template is not JSON: {e}"))?;
    Ok(Json(TemplateBody {
        key,
        locale,
        origin,
        body,
    }))
}

/// `PUT /api/v1/templates/{key}/{locale}`: saves a template after checking that it
/// compiles and renders valid RBM messages for both sample orders.
#[tracing::instrument(name = "save template", skip_all, fields(key = %key))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, locale)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<TemplateBody>> {
    let document: serde_json::Value = parse_json(&body)?;
    let text = document.to_string();
    domain::template::validate_template(&key, &locale, &text).map_err(invalid)?;

    state
        .store
        .put_template(&key, &locale, &text, &principal.actor())
        .await?;
    state
        .templates
        .write()
        .with_override(&key, &locale, &text)
        .map_err(invalid)?;
    tracing::info!("template saved");
    Ok(Json(TemplateBody {
        key,
        locale,
        origin: Origin::Stored,
        body: document,
    }))
}

/// `POST /api/v1/templates/{key}/preview`: renders the template (or a draft) for an
/// order, to the RBM JSON that would be sent.
pub async fn preview(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Preview>> {
    let request: PreviewRequest = if body.is_empty() {
        PreviewRequest::default()
    } else {
        parse_json(&body)?
    };
    let mut context = match request.order_id {
        Some(id) => order_context(&state, &key, id).await?,
        None => TemplateContext::sample(),
    };
    // Replies to keywords are sent about no order; the preview shows them that way.
    if domain::template::is_reply_key(&key) {
        context = context.without_order();
    }
    let locale = request.locale.as_deref();

    match &request.body {
        Some(draft) => render_draft(&state, &key, locale, draft, &context),
        None => render(&state.templates.read(), &key, locale, &context),
    }
}

fn render(
    templates: &Templates,
    key: &str,
    locale: Option<&str>,
    context: &TemplateContext,
) -> ApiResult<Json<Preview>> {
    let requested = locale.or(context.locale.as_deref());
    let resolved = templates
        .resolve(key, requested)
        .ok_or_else(|| ApiError::NotFound(format!("no template has the key {key}")))?;
    let message = templates.render(key, locale, context).map_err(invalid)?;
    Ok(Json(Preview {
        key: key.to_string(),
        locale: resolved.locale,
        origin: resolved.origin,
        message,
    }))
}

/// Renders a draft in a copy of the set, so that nothing is saved.
fn render_draft(
    state: &AppState,
    key: &str,
    locale: Option<&str>,
    draft: &serde_json::Value,
    context: &TemplateContext,
) -> ApiResult<Json<Preview>> {
    let locale_tag = locale
        .or(context.locale.as_deref())
        .unwrap_or(&state.config.shop.default_locale);
    let default = domain::Locale::parse(&state.config.shop.default_locale)
        .map_err(|e| anyhow::anyhow!("shop.default_locale: {e}"))?;
    let mut scratch = Templates::builtin(&default);
    scratch
        .with_override(key, locale_tag, &draft.to_string())
        .map_err(invalid)?;
    render(&scratch, key, Some(locale_tag), context)
}

fn invalid(error: TemplateError) -> ApiError {
    ApiError::Unprocessable(error.to_string())
}

/// The context a message about order `id` would render with.
async fn order_context(state: &AppState, key: &str, id: i64) -> ApiResult<TemplateContext> {
    let order = state.store.get_order(id).await?;
    let customer = match order.customer_id {
        Some(customer_id) => Some(state.store.get_customer(customer_id).await?),
        None => None,
    };
    let message = as_message(key, &order, customer.as_ref());
    let shop = context::shop_context(&state.config);
    context::message_context(&message, &shop, &state.config)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))
}

/// The order as the dispatcher would load it, about its latest shipment.
fn as_message(key: &str, order: &OrderView, customer: Option<&CustomerView>) -> DueMessage {
    let shipment = order.shipments.last().map(|s| MessageShipment {
        id: s.id,
        carrier: s.carrier.clone(),
        tracking_number: s.tracking_number.clone(),
        tracking_url: s.tracking_url.clone(),
        estimated_delivery: s.estimated_delivery,
    });
    let customer = customer.map(|c| MessageCustomer {
        id: c.id,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        phone: c.phone.clone(),
        email: c.email.clone(),
        locale: c.locale.clone(),
        time_zone: c.time_zone.clone(),
        unsubscribe_token: None,
    });
    DueMessage {
        id: uuid::Uuid::nil(),
        template_key: key.to_string(),
        status: Some(order.status),
        purpose: "transactional".into(),
        attempts: 0,
        order: Some(MessageOrder {
            id: order.id,
            number: order.number.clone(),
            currency: order.currency.clone(),
            total_minor: order.total_minor,
            placed_at: order.placed_at,
            status: order.status,
            status_detail: order.status_detail.map(|p| p.as_str().to_string()),
            tracking_token: order.tracking_token.clone(),
            shipping_address: order.shipping_address.clone(),
        }),
        customer,
        shipment,
        exhausted: Vec::new(),
        only_channel: None,
        consents: Vec::new(),
        recent_promotional: Vec::new(),
        escalated: false,
    }
}
