//! The audit log, read through `GET /api/v1/audit` and the `/app/audit` page with the
//! same filters: actor, kind of change, action, subject, time range, and pages of
//! entries.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{AuditEntry, AuditFilter};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::pages::{error_page, render, Chrome};
use super::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The filters, as the query string carries them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// `template`, `api_key`, `user`, `consent` or `message`: every action of that kind.
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
    /// The id of the last entry seen: the next page starts after it.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

impl AuditQuery {
    /// The store's filter; an error names the field that does not parse.
    fn filter(&self) -> ApiResult<AuditFilter> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            let message = format!("limit: must be between 1 and {MAX_LIMIT}");
            return Err(ApiError::Unprocessable(message));
        }
        Ok(AuditFilter {
            actor: filled(&self.actor).map(str::to_string),
            action: filled(&self.action).map(str::to_string),
            kind: filled(&self.kind).map(kind).transpose()?,
            subject: filled(&self.subject).map(str::to_string),
            since: filled(&self.since).map(|v| time("since", v)).transpose()?,
            until: filled(&self.until).map(|v| time("until", v)).transpose()?,
            before_id: self.before,
            limit,
        })
    }

    /// The query of the page after `entries`, when it was full.
    fn next(&self, entries: &[AuditEntry], limit: i64) -> Option<String> {
        let last = entries.last().filter(|_| entries.len() as i64 == limit)?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        let fields = [
            ("actor", &self.actor),
            ("action", &self.action),
            ("kind", &self.kind),
            ("subject", &self.subject),
            ("since", &self.since),
            ("until", &self.until),
        ];
        for (name, value) in fields {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                query.append_pair(name, value);
            }
        }
        query.append_pair("before", &last.id.to_string());
        query.append_pair("limit", &limit.to_string());
        Some(query.finish())
    }
}

/// A filter field's value, when it holds more than blanks.
fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The kinds of change the audit log records, as the page offers them.
pub const KINDS: &[&str] = &["template", "api_key", "user", "consent", "message"];

fn kind(value: &str) -> ApiResult<String> {
    if KINDS.contains(&value) {
        return Ok(value.to_string());
    }
    let message = format!("kind: {value:?} is not one of {}", KINDS.join(", "));
    Err(ApiError::Unprocessable(message))
}

fn time(field: &str, value: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::Unprocessable(format!(
                "{field}: {value:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
            ))
        })
}

/// A page of the audit log.
#[derive(Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The URL of the next (older) page, when there may be one.
    pub next: Option<String>,
}

/// `GET /api/v1/audit`: entries newest first, filtered, in pages.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest {
        code: "malformed_query",
        message: e.body_text(),
    })?;
    let filter = query.filter()?;
    let entries = state.store.list_audit(&filter).await?;
    let next = query
        .next(&entries, filter.limit)
        .map(|q| format!("/api/v1/audit?{q}"));
    Ok(Json(AuditPage { entries, next }))
}

#[derive(Template)]
#[template(path = "app/audit.html")]
struct AuditView {
    chrome: Option<Chrome>,
    error: Option<String>,
    query: AuditQuery,
    kinds: &'static [&'static str],
    entries: Vec<AuditEntry>,
    next: Option<String>,
}

/// `GET /app/audit`: the same, as a page with a filter form.
pub async fn page(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let (entries, next, error) = match query.filter() {
        Ok(filter) => match state.store.list_audit(&filter).await {
            Ok(entries) => {
                let next = query.next(&entries, filter.limit);
                (entries, next.map(|q| format!("/app/audit?{q}")), None)
            }
            Err(error) => return error_page(error.into()),
        },
        Err(error) => (Vec::new(), None, Some(error.to_string())),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = AuditView {
        chrome: Chrome::for_page(&principal, "/app/audit"),
        error,
        query,
        kinds: KINDS,
        entries,
        next,
    };
    render(status, &view)
}
