//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 while it does not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => {
            let body = json!({ "status": "ready", "database": state.store.backend_name() });
            (StatusCode::OK, Json(body))
        }
        Err(error) => {
            tracing::warn!(error.message = %error, "readiness check failed");
            let body = json!({ "status": "unavailable", "database": "unreachable" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}
