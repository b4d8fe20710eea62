//! The management JSON API under `/api` that the dashboard and scripts use.

pub mod audit;
mod backup;
mod cli_tools;
mod combos;
mod connections;
mod events;
mod health;
mod keys;
mod live;
mod playground;
mod providers;
mod quota;
pub mod session;
mod settings;
mod transfer;
mod translate;
mod usage;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::Method;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::store::api_keys::hash_key;

/// Largest management request body.
pub const MAX_MANAGE_BODY: usize = 1024 * 1024;

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
        .route(
            "/keys/{id}",
            axum::routing::delete(keys::revoke).patch(keys::update),
        )
        .route("/keys/{id}/rotate", post(keys::rotate))
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
        .route("/usage/live", get(live::stream))
        .route("/usage/{id}", get(live::get_one))
        .route("/cli-tools", get(cli_tools::list))
        .route("/cli-tools/{id}/preview", post(cli_tools::preview))
        .route("/cli-tools/{id}/apply", post(cli_tools::apply))
        .route("/cli-tools/{id}/restore", post(cli_tools::restore))
        .route("/translate", post(translate::translate))
        .route("/quota", get(quota::quota))
        .route("/events", get(events::stream))
        .route("/audit", get(audit::list))
        .route("/backup", get(backup::download))
        .route(
            "/backup/export",
            get(transfer::export).post(transfer::export_with_secrets),
        )
        .route("/backup/import", post(transfer::import))
        .route("/restore", post(backup::restore))
        .route("/health", get(health::get))
        .route("/health/reset", post(health::reset))
        .route("/auth/session", get(session::get))
        .route("/auth/login", post(session::login))
        .route("/auth/token-login", post(session::token_login))
        .route("/auth/logout", post(session::logout))
        .route("/auth/password", post(session::change_password))
        .route("/playground/chat", post(playground::chat))
        .route("/oauth/{provider}/start", post(crate::api::oauth::start))
        .route("/oauth/{provider}/poll", post(crate::api::oauth::poll))
        .route(
            "/oauth/{provider}/complete",
            post(crate::api::oauth::complete),
        )
}

/// A caller allowed to use the management API: one that presented a live
/// gateway key with full access (`models = ["*"]`), or a browser signed in to
/// the dashboard. A cookie is sent by the browser on its own, so a signed-in
/// browser must also send the session's CSRF token on every call that changes
/// something; a page on another site cannot read it.
pub struct Admin;

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(key) = auth::presented_key(&parts.headers) {
            let snapshot = app.snapshot.load();
            let grant = snapshot
                .key(&hash_key(key))
                .ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key."))?;
            if !grant.is_full_access() {
                return Err(ApiError::forbidden(
                    "This API key is limited to some models; the management API needs a full-access key (models = [\"*\"]).",
                ));
            }
            return Ok(Admin);
        }
        let Some(session) = session::current_session(app, &parts.headers).await? else {
            return Err(ApiError::unauthorized(
                "Sign in to the dashboard, or send a gateway API key (`Authorization: Bearer <key>`), to use the management API.",
            ));
        };
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let csrf = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if changes_state && csrf != Some(session.csrf_token.as_str()) {
            return Err(ApiError::forbidden(
                "Missing or wrong X-CSRF-Token header; reload the dashboard and try again.",
            )
            .with_code("csrf_failed"));
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
    parse_object(&bytes)
}

/// Parses a body that must be a JSON object. Serde would also read a JSON
/// array into a struct, field by field in order, which no caller means.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "Invalid request body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// Like [`json_body`], but an empty body is `T::default()`.
pub async fn optional_json_body<T: DeserializeOwned + Default>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, MAX_MANAGE_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_object(&bytes)
}
