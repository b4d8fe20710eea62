//! `/api/keys`: gateway API keys, shown once at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::{Admin, json_body};
use crate::api::App;
use crate::error::ApiError;
use crate::store::api_keys;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    #[serde(default = "all")]
    models: Vec<String>,
}

fn all() -> Vec<String> {
    vec!["*".into()]
}

pub async fn list(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let keys = app.store.call(|conn, _| api_keys::list(conn)).await?;
    Ok(Json(json!({"data": keys})).into_response())
}

/// Creates a key; the response is the only time the key is shown.
pub async fn create(_: Admin, State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = json_body(&body)?;
    let (row, key) = app
        .store
        .call(move |conn, _| api_keys::create(conn, body.name.trim(), &body.models))
        .await?;
    app.reload().await?;
    let mut v = serde_json::to_value(&row).unwrap_or_default();
    v["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn revoke(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let row = app
        .store
        .call(move |conn, _| api_keys::revoke(conn, id))
        .await?;
    app.reload().await?;
    Ok(Json(row).into_response())
}
