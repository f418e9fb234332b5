//! The segment API: how many customers a filter selects, and who, while it is edited.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use insight::segment::{self, Filter};
use serde::{Deserialize, Serialize};
use store::SegmentMember;

use super::api::parse_json;
use super::error::{ApiError, ApiResult};
use super::AppState;

/// Customers shown with a count when the request names no sample size.
const DEFAULT_SAMPLE: i64 = 10;
/// The most customers a preview shows.
const MAX_SAMPLE: i64 = 100;

/// `POST /api/v1/segments/preview`: a filter, in its text form or its JSON form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub filter: FilterForm,
    /// Customers to list; 10 by default, at most 100.
    pub sample: Option<i64>,
}

/// A filter as text (`"rfm.recency >= 4 and consent.promotional.rcs"`) or as JSON.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum FilterForm {
    Text(String),
    Json(serde_json::Value),
}

/// The filter read back in both forms, the customers it selects and a few of them.
#[derive(Serialize)]
pub struct Preview {
    pub text: String,
    pub json: Filter,
    pub count: i64,
    pub sample: Vec<SegmentMember>,
}

/// `POST /api/v1/segments/preview`.
pub async fn preview(State(state): State<AppState>, body: Bytes) -> ApiResult<Json<Preview>> {
    let request: PreviewRequest = parse_json(&body)?;
    let filter = read_filter(request.filter)?;
    let sample = request.sample.unwrap_or(DEFAULT_SAMPLE);
    if !(0..=MAX_SAMPLE).contains(&sample) {
        return Err(ApiError::Unprocessable(format!(
            "sample: must be between 0 and {MAX_SAMPLE}, got {sample}"
        )));
    }

    let minor_per_major = state.config.shop.minor_per_major();
    let found = state
        .store
        .segment_preview(&filter, minor_per_major, sample)
        .await?;
    Ok(Json(Preview {
        text: filter.to_string(),
        json: filter,
        count: found.count,
        sample: found.sample,
    }))
}

fn read_filter(form: FilterForm) -> ApiResult<Filter> {
    match form {
        FilterForm::Text(text) => {
            segment::parse(&text).map_err(|e| ApiError::Unprocessable(format!("filter: {e}")))
        }
        FilterForm::Json(json) => {
            let filter: Filter = serde_json::from_value(json)
                .map_err(|e| ApiError::Unprocessable(format!("filter: {e}")))?;
            filter
                .validate()
                .map_err(|e| ApiError::Unprocessable(format!("filter.{e}")))?;
            Ok(filter)
        }
    }
}
