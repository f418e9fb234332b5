//! The one error type of the HTTP API: a status and `{"error": {"code", "message"}}`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::ingest::applier::ApplyError;
use crate::ingest::{IngestError, PayloadError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Busy(String),
    /// Something failed on our side; the cause goes to the log, not to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T, E = ApiError> = Result<T, E>;

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(error) => {
                let chain = format!("{error:?}");
                let message = error.to_string();
                tracing::error!(
                    error.cause_chain = chain,
                    error.message = message,
                    "request failed"
                );
                "something went wrong on our side; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let body = Json(json!({ "error": { "code": code, "message": message } }));
        let mut response = (status, body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<PayloadError> for ApiError {
    fn from(error: PayloadError) -> Self {
        if error.field == "body" {
            ApiError::BadRequest {
                code: "malformed_body",
                message: error.to_string(),
            }
        } else {
            ApiError::Unprocessable(error.to_string())
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Busy | IngestError::Closed => ApiError::Busy(error.to_string()),
            IngestError::Store(message) => ApiError::Internal(anyhow::anyhow!(message)),
        }
    }
}

impl From<ApplyError> for ApiError {
    fn from(error: ApplyError) -> Self {
        match error {
            ApplyError::Queue(error) => error.into(),
            ApplyError::Store(error) => error.into(),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        match error {
            store::StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            store::StoreError::Conflict(message) => ApiError::Unprocessable(message),
            other => ApiError::Internal(other.into()),
        }
    }
}
