//! `/api/keys`: gateway API keys, shown once at creation and at rotation, with an optional expiry.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, Id, json_body};
use crate::api::App;
use crate::error::ApiError;
use crate::store::api_keys;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    #[serde(default = "all")]
    models: Vec<String>,
    /// When the key stops working (ms since the epoch); must be in the future.
    #[serde(default)]
    expires_at: Option<i64>,
}

fn check_expiry(expires_at: Option<i64>) -> Result<(), ApiError> {
    match expires_at {
        Some(at) if at <= crate::store::now_ms() => Err(ApiError::bad_request(
            "expires_at must be in the future (milliseconds since 1970-01-01 UTC)",
        )
        .with_param("expires_at")),
        _ => Ok(()),
    }
}

fn all() -> Vec<String> {
    vec!["*".into()]
}

pub async fn list(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let keys = app.store.call(|conn, _| api_keys::list(conn)).await?;
    Ok(Json(json!({"data": keys})).into_response())
}

/// Creates a key; the response is the only time the key is shown.
pub async fn create(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let body: CreateBody = json_body(body).await?;
    check_expiry(body.expires_at)?;
    let (row, key) = app
        .store
        .call(move |conn, _| {
            let (row, key) = api_keys::create(conn, body.name.trim(), &body.models)?;
            match body.expires_at {
                Some(at) => Ok((api_keys::set_expiry(conn, row.id, Some(at))?, key)),
                None => Ok((row, key)),
            }
        })
        .await?;
    app.reload().await?;
    let mut v = serde_json::to_value(&row).unwrap_or_default();
    v["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// What `PATCH /api/keys/{id}` may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// A new expiry, or `null` for none.
    expires_at: Option<i64>,
}

/// Changes a key's expiry.
pub async fn update(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    body: Body,
) -> Result<Response, ApiError> {
    let body: UpdateBody = json_body(body).await?;
    check_expiry(body.expires_at)?;
    let row = app
        .store
        .call(move |conn, _| api_keys::set_expiry(conn, id, body.expires_at))
        .await?;
    app.reload().await?;
    Ok(Json(row).into_response())
}

/// Gives a key a new secret with the same name, models and expiry; the old
/// secret stops working at once. The response is the only time the new key
/// is shown.
pub async fn rotate(_: Admin, State(app): State<App>, Id(id): Id) -> Result<Response, ApiError> {
    let (row, key) = app
        .store
        .call(move |conn, _| api_keys::rotate(conn, id))
        .await?;
    app.reload().await?;
    let mut v = serde_json::to_value(&row).unwrap_or_default();
    v["key"] = json!(key);
    Ok(Json(v).into_response())
}

pub async fn revoke(_: Admin, State(app): State<App>, Id(id): Id) -> Result<Response, ApiError> {
    let full_access: Vec<i64> = app.snapshot.load().full_access_key_ids().collect();
    if full_access == [id] {
        return Err(ApiError::conflict(
            "This is the last full-access key; revoking it would lock everyone out of the management API. Create another first.",
        ));
    }
    let row = app
        .store
        .call(move |conn, _| api_keys::revoke(conn, id))
        .await?;
    app.reload().await?;
    Ok(Json(row).into_response())
}
