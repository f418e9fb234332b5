//! `files.create`: media the agent hands RBM ahead of a message, by URL or as bytes,
//! named `files/{id}` for `uploadedRbmFile` to refer to.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{check_agent, params, QueryParams};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use crate::validate::http_uri_problem;

/// The largest file RBM takes: 100 MiB.
pub const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;

/// The MIME types RBM takes for files.
const MIME_TYPES: &[&str] = &[
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/png",
    "video/h263",
    "video/m4v",
    "video/mp4",
    "video/mpeg",
    "video/mpeg4",
    "video/webm",
    "audio/aac",
    "audio/mp3",
    "audio/mpeg",
    "audio/mpg",
    "audio/mp4",
    "audio/mp4-latm",
    "audio/3gpp",
    "application/ogg",
    "application/pdf",
];

/// A file the agent gave RBM.
#[derive(Clone, Debug)]
pub enum StoredFile {
    /// Fetched from a URL when a message uses it.
    Url {
        /// The file's URL.
        file_url: String,
        /// Its preview's URL.
        thumbnail_url: Option<String>,
    },
    /// Uploaded as bytes.
    Bytes {
        /// Its MIME type.
        mime_type: String,
        /// Its contents.
        data: Bytes,
    },
}

/// `POST /v1/files`: a file by URL.
pub async fn create_from_url(
    State(shared): State<Arc<Shared>>,
    query: QueryParams,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = params(query)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received: {e}")))?;
    let agent_in_body = body["agentId"].as_str().map(str::to_string);
    let mut params = params;
    if let Some(agent) = agent_in_body {
        params.entry("agentId".into()).or_insert(agent);
    }
    check_agent(&shared, &params)?;
    let file = url_file(&body)?;
    Ok(Json(store(&shared, file)))
}

fn url_file(body: &Value) -> ApiResult<StoredFile> {
    let known = ["fileUrl", "thumbnailUrl", "contentDescription", "agentId"];
    if let Some(map) = body.as_object() {
        if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "{key}: unknown field; the fields are {}",
                known.join(", ")
            )));
        }
    }
    let url = |key: &str, required: bool| -> ApiResult<Option<String>> {
        match body[key].as_str() {
            Some(url) => match http_uri_problem(url) {
                None => Ok(Some(url.to_string())),
                Some(problem) => Err(ApiError::invalid(format!("{key}: {problem}"))),
            },
            None if required => Err(ApiError::invalid(format!(
                "{key}: missing; give the file's public http(s) URL"
            ))),
            None => Ok(None),
        }
    };
    // TODO(emulator): Google fetches the file here and refuses unreachable URLs; the
    // emulator keeps the URL and lets the phone page fetch it.
    Ok(StoredFile::Url {
        file_url: url("fileUrl", true)?.unwrap_or_default(),
        thumbnail_url: url("thumbnailUrl", false)?,
    })
}

/// `POST /upload/v1/files`: a file as the request body, typed by `Content-Type`.
pub async fn upload(
    State(shared): State<Arc<Shared>>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = params(query)?;
    check_agent(&shared, &params)?;
    let mime_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !MIME_TYPES.contains(&mime_type.as_str()) {
        return Err(ApiError::invalid(format!(
            "Content-Type {mime_type:?} is not a file type RBM takes; use one of {}",
            MIME_TYPES.join(", ")
        )));
    }
    if body.is_empty() {
        return Err(ApiError::invalid(
            "the upload is empty; send the file as the body",
        ));
    }
    let file = StoredFile::Bytes {
        mime_type,
        data: body,
    };
    Ok(Json(store(&shared, file)))
}

fn store(shared: &Shared, file: StoredFile) -> Value {
    let name = format!("files/{}", Uuid::new_v4().simple());
    shared.world().files.insert(name.clone(), file);
    tracing::debug!(file = %name, "stored a file");
    json!({ "name": name })
}

/// `GET /emulator/files/{id}`: an uploaded file's bytes, for the phone pages.
pub async fn download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let name = format!("files/{id}");
    let file = shared.world().files.get(&name).cloned();
    match file {
        Some(StoredFile::Bytes { mime_type, data }) => {
            Ok(([(header::CONTENT_TYPE, mime_type)], data).into_response())
        }
        Some(StoredFile::Url { file_url, .. }) => {
            Ok(axum::response::Redirect::temporary(&file_url).into_response())
        }
        None => Err(ApiError::not_found(format!("no file named {name}"))),
    }
}
