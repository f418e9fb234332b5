//! The HTTP surface: API, webhooks, tracking pages and probes, on one router.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod health;
pub mod kannel;
pub mod keys;
pub mod login;
pub mod maap;
pub mod messages;
pub mod pages;
pub mod queue;
pub mod rbm;
pub mod segments;
pub mod sms;
pub mod templates;
pub mod tracking;
pub mod unsubscribe;
pub mod users;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use store::Store;
use tracing::Instrument;

use crate::config::Config;
use crate::dispatch::pacing::Rates;
use crate::ingest::applier::Applier;
use crate::ingest::{Ingest, ParseContext};
use crate::templates::SharedTemplates;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub ingest: Ingest,
    pub applier: Applier,
    pub templates: SharedTemplates,
    /// The channels this node's dispatcher sends on and their rates; none when it
    /// does not dispatch.
    pub rates: Rates,
    /// Failed logins per account and address, for the login rate limit.
    pub logins: auth::LoginLimiter,
}

impl AppState {
    /// How webhooks check a delivery before accepting it.
    pub fn parse_context(&self) -> ParseContext {
        ParseContext::acceptance(&self.config.default_region)
    }
}

/// A router that remembers the path of every route added, so that tests can check each
/// has an entry in the access table.
struct Routes {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl Routes {
    fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }
}

/// Every route Tidings serves, unguarded: [`router`] adds the access check.
fn routes() -> Routes {
    let routes = Routes {
        router: Router::new(),
        paths: Vec::new(),
    };
    routes
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/api/v1/orders",
            post(api::upsert_order).get(api::find_order),
        )
        .route("/api/v1/orders/{id}", get(api::get_order))
        .route("/api/v1/orders/{id}/shipments", post(api::add_shipment))
        .route("/api/v1/orders/{id}/events", post(api::add_event))
        .route("/api/v1/orders/{id}/messages", get(messages::for_order))
        .route("/api/v1/messages/dead-letters", get(messages::dead_letters))
        .route("/api/v1/messages/{id}", get(messages::get))
        .route("/api/v1/messages/{id}/redrive", post(messages::redrive))
        .route("/api/v1/customers/{id}", get(api::get_customer))
        .route("/api/v1/customers/{id}/consents", post(api::edit_consent))
        .route("/api/v1/queue", get(queue::backlog))
        .route("/api/v1/segments/preview", post(segments::preview))
        .route("/api/v1/templates", get(templates::list))
        .route(
            "/api/v1/templates/{key}/{locale}",
            get(templates::get).put(templates::put),
        )
        .route("/api/v1/templates/{key}/preview", post(templates::preview))
        .route("/api/v1/audit", get(audit::list))
        .route("/webhooks/shopify", post(webhooks::shopify))
        .route("/webhooks/woocommerce", post(webhooks::woocommerce))
        .route("/webhooks/easypost", post(webhooks::easypost))
        .route("/webhooks/rbm", post(rbm::webhook))
        .route("/webhooks/maap", post(maap::webhook))
        .route(crate::config::sms::WEBHOOK_PATH, post(sms::webhook))
        .route(
            crate::config::sms::KANNEL_WEBHOOK_PATH,
            get(kannel::webhook).post(kannel::webhook),
        )
        .route(
            crate::config::sms::KANNEL_INBOUND_PATH,
            get(kannel::inbound).post(kannel::inbound),
        )
        .route("/t/{token}", get(tracking::page))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::page).post(unsubscribe::confirm),
        )
        .route("/app/login", get(login::page).post(login::submit))
        .route("/app", get(pages::home))
        .route("/app/logout", post(login::logout))
        .route(
            "/app/password",
            get(login::password).post(login::change_password),
        )
        .route("/app/keys", get(keys::list).post(keys::create))
        .route("/app/keys/{id}/revoke", post(keys::revoke))
        .route("/app/users", get(users::list).post(users::add))
        .route("/app/users/{id}", post(users::change))
        .route("/app/audit", get(audit::page))
}

/// The path of every route [`router`] serves, as axum matches it.
pub fn route_paths() -> Vec<&'static str> {
    routes().paths
}

/// Builds the router with every route Tidings serves, each guarded by
/// [`auth::authorize`].
pub fn router(state: AppState) -> Router {
    routes()
        .router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(not_found)
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/t/") {
        return tracking::not_found_page(None);
    }
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    error::ApiError::NotFound(message).into_response()
}

/// One span per request, named by the matched route (never the raw path: tracking
/// tokens are secrets). Probes log at debug so they do not drown the log.
async fn request_span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http",
        %method,
        route,
        status = tracing::field::Empty,
        api_key_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    if route.ends_with("z") || status < 400 {
        tracing::debug!(parent: &span, status, elapsed_ms, "request handled");
    } else {
        tracing::info!(parent: &span, status, elapsed_ms, "request refused");
    }
    response
}
