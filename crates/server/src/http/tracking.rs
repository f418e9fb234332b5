//! The public tracking page `GET /t/{token}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

/// `GET /t/{token}`.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.store.order_id_by_token(&token).await {
        Ok(Some(id)) => match state.store.get_order(id).await {
            Ok(order) => Html(format!("<h1>{}</h1><p>{}</p>", order.number, order.status.label())).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => not_found_page(Some(&state)),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The friendly page for an unknown or mistyped tracking link.
pub fn not_found_page(_state: Option<&AppState>) -> Response {
    (StatusCode::NOT_FOUND, Html("<h1>We could not find that order</h1>".to_string())).into_response()
}
