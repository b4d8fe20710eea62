//! `/api/usage`: the request log with filters, newest first.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::Admin;
use crate::api::App;
use crate::error::ApiError;
use crate::store::usage::{self, UsageFilter};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Unix milliseconds, inclusive.
    since: Option<i64>,
    /// Unix milliseconds, exclusive.
    until: Option<i64>,
    model: Option<String>,
    provider: Option<String>,
    api_key_id: Option<i64>,
    status: Option<u16>,
    /// `true`: successes only; `false`: failures only.
    ok: Option<bool>,
    before_id: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    _: Admin,
    State(app): State<App>,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = UsageFilter {
        since_ms: q.since,
        until_ms: q.until,
        model: q.model,
        provider: q.provider,
        api_key_id: q.api_key_id,
        ok: q.ok,
        status: q.status,
        before_id: q.before_id,
        limit,
    };
    let rows = app
        .store
        .call(move |conn, _| usage::list(conn, &filter))
        .await?;
    // A full page may have more behind it; a short one is the last.
    let next_before_id = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({"data": rows, "next_before_id": next_before_id})).into_response())
}
