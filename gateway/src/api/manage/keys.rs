//! `/api/keys`: gateway API keys, shown once at creation and at rotation, with an optional expiry, request limits and budgets.

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
use crate::store::api_keys::{self, ApiKeyRow, KeyLimits};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    #[serde(default = "all")]
    models: Vec<String>,
    /// When the key stops working (ms since the epoch); must be in the future.
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    limits: KeyLimits,
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

/// A key as the API shows it: its row and what it used this minute, day
/// and month (`usage`), against its `limits`.
fn key_json(app: &App, row: &ApiKeyRow) -> serde_json::Value {
    let mut v = serde_json::to_value(row).unwrap_or_default();
    v["usage"] = json!(app.key_meter.usage(row.id, crate::store::now_ms()));
    v
}

pub async fn list(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let keys = app.store.call(|conn, _| api_keys::list(conn)).await?;
    let data: Vec<_> = keys.iter().map(|k| key_json(&app, k)).collect();
    Ok(Json(json!({"data": data})).into_response())
}

/// Creates a key; the response is the only time the key is shown.
pub async fn create(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let body: CreateBody = json_body(body).await?;
    check_expiry(body.expires_at)?;
    let (row, key) = app
        .store
        .call(move |conn, _| {
            body.limits.validate()?;
            // One transaction: a key is created with all its settings or not at all.
            let tx = conn.unchecked_transaction()?;
            let (mut row, key) = api_keys::create(&tx, body.name.trim(), &body.models)?;
            if body.expires_at.is_some() {
                row = api_keys::set_expiry(&tx, row.id, body.expires_at)?;
            }
            if !body.limits.is_empty() {
                row = api_keys::set_limits(&tx, row.id, &body.limits)?;
            }
            tx.commit()?;
            Ok((row, key))
        })
        .await?;
    app.reload().await?;
    let mut v = key_json(&app, &row);
    v["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// What `PATCH /api/keys/{id}` may change; a field left out stays as it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// A new expiry, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<i64>>,
    /// New limits, replacing the old ones whole (`{}`: none).
    #[serde(default)]
    limits: Option<KeyLimits>,
}

/// Tells `"expires_at": null` (clear it) from a missing field (keep it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Changes a key's expiry and limits.
pub async fn update(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    body: Body,
) -> Result<Response, ApiError> {
    let body: UpdateBody = json_body(body).await?;
    if let Some(expires_at) = body.expires_at {
        check_expiry(expires_at)?;
    }
    let row = app
        .store
        .call(move |conn, _| {
            let tx = conn.unchecked_transaction()?;
            if let Some(expires_at) = body.expires_at {
                api_keys::set_expiry(&tx, id, expires_at)?;
            }
            if let Some(limits) = &body.limits {
                api_keys::set_limits(&tx, id, limits)?;
            }
            let row = api_keys::get(&tx, id)?;
            tx.commit()?;
            Ok(row)
        })
        .await?;
    app.reload().await?;
    Ok(Json(key_json(&app, &row)).into_response())
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
    let mut v = key_json(&app, &row);
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
