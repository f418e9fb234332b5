//! Google's JSON error model, `{"error": {"code", "message", "status"}}`, which every
//! endpoint of the emulator answers with, and the few canonical statuses RBM uses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The text Google gives when a phone cannot be reached over RBM.
pub const NOT_REACHABLE: &str = "The specified phone number cannot be reached by RBM at this time.";

/// An error answer: an HTTP status, Google's canonical status name, and a message that
/// says what failed and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code.
    pub code: StatusCode,
    /// Google's canonical name for it, such as `INVALID_ARGUMENT`.
    pub status: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The result of a handler that answers with Google's error model on failure.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 `INVALID_ARGUMENT`: the request itself is wrong; sending it again fails again.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 401 `UNAUTHENTICATED`.
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    /// 403 `PERMISSION_DENIED`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 404 with Google's text for a phone without RCS, unknown, or switched off.
    pub fn not_reachable() -> ApiError {
        ApiError::not_found(NOT_REACHABLE)
    }

    /// 409 `FAILED_PRECONDITION`: the request is fine but the state does not allow it.
    pub fn precondition(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "FAILED_PRECONDITION", message)
    }

    /// 429 `RESOURCE_EXHAUSTED`.
    pub fn exhausted(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", message)
    }

    fn new(code: StatusCode, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(
            code = self.code.as_u16(),
            status = self.status,
            "refused a request"
        );
        let body = json!({"error": {
            "code": self.code.as_u16(),
            "message": self.message,
            "status": self.status,
        }});
        (self.code, Json(body)).into_response()
    }
}
