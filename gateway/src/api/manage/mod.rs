//! The management JSON API under `/api` that the dashboard and scripts use.

mod combos;
mod connections;
mod events;
mod health;
mod keys;
mod providers;
mod quota;
mod settings;
mod translate;
mod usage;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::store::api_keys::hash_key;

/// Largest management request body.
const MAX_MANAGE_BODY: usize = 1024 * 1024;

pub fn router() -> Router<App> {
    Router::new()
        .route("/providers", get(providers::list).post(providers::create))
        .route(
            "/providers/{id}",
            get(providers::get_one)
                .put(providers::replace)
                .delete(providers::delete),
        )
        .route(
            "/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/connections/{id}",
            get(connections::get_one)
                .patch(connections::update)
                .delete(connections::delete),
        )
        .route("/connections/{id}/test", post(connections::test))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/combos", get(combos::list).post(combos::create))
        .route(
            "/combos/{name}",
            get(combos::get_one)
                .put(combos::replace)
                .patch(combos::update)
                .delete(combos::delete),
        )
        .route("/settings", get(settings::get_all).patch(settings::update))
        .route("/usage", get(usage::list))
        .route("/usage/summary", get(usage::summary))
        .route("/translate", post(translate::translate))
        .route("/quota", get(quota::quota))
        .route("/events", get(events::stream))
        .route("/health", get(health::get))
        .route("/health/reset", post(health::reset))
}

/// A caller allowed to use the management API: it presented a live
/// gateway key with full access (`models = ["*"]`), whether or not the data
/// plane requires keys. A header the browser will not send cross-site is
/// what keeps other web pages out (the dashboard login adds sessions).
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let snapshot = app.snapshot.load();
        let key = auth::presented_key(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                "The management API needs a gateway API key (`Authorization: Bearer <key>`).",
            )
        })?;
        let grant = snapshot
            .key(&hash_key(key))
            .ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key."))?;
        if !grant.is_full_access() {
            return Err(ApiError::forbidden(
                "This API key is limited to some models; the management API needs a full-access key (models = [\"*\"]).",
            ));
        }
        Ok(Admin)
    }
}

/// A numeric `{id}` path segment, with a JSON 400 when it is not one.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|_| ApiError::bad_request("The id in the path must be an integer."))
    }
}

/// Reads and parses a JSON request body into `T`, with a 400 that says what
/// is wrong (or a 413 past the limit).
pub async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_MANAGE_BODY).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// Like [`json_body`], but an empty body is `T::default()`.
pub async fn optional_json_body<T: DeserializeOwned + Default>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_MANAGE_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}
