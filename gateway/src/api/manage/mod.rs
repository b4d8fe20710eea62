//! The management JSON API under `/api` that the dashboard and scripts use.

mod connections;
mod keys;
mod providers;
mod settings;
mod usage;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{App, auth};
use crate::error::ApiError;

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
        .route("/combos", get(settings::combos))
        .route(
            "/settings",
            get(settings::get_all)
                .patch(settings::update)
                .put(settings::update),
        )
        .route("/usage", get(usage::list))
}

/// A caller allowed to use the management API: it presented a valid
/// gateway key (the dashboard login of a later release adds sessions).
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let snapshot = app.snapshot.load();
        auth::authenticate(&snapshot, &parts.headers).map(|_| Admin)
    }
}

/// Parses a JSON request body into `T`, with a 400 that says what is wrong.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_MANAGE_BODY {
        return Err(ApiError::payload_too_large(MAX_MANAGE_BODY));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// Shorthand for handlers.
pub type AppState = State<App>;
