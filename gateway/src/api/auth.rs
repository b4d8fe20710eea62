//! Who is calling: gateway API keys from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or Gemini's `?key=`.

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::store::api_keys::hash_key;

/// The key presented by the caller, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ") {
            return Some(value[7..].trim());
        }
    }
    ["x-api-key", "x-goog-api-key"].iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

/// The `key` query parameter, which Gemini clients may use instead of a header.
pub fn query_key(uri: &axum::http::Uri) -> Option<String> {
    let axum::extract::Query(params) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    params
        .into_iter()
        .find(|(name, value)| name == "key" && !value.is_empty())
        .map(|(_, value)| value)
}

/// Checks the caller's key. `Ok(None)` means keys are not required and
/// the caller is anonymous.
pub fn authenticate(
    snapshot: &Snapshot,
    headers: &HeaderMap,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    check_key(snapshot, presented_key(headers))
}

/// Marks a request the dashboard's chat tester made on behalf of a signed-in
/// user. It lives in the request's extensions, which only code inside the
/// gateway can set, so a remote caller cannot claim it.
#[derive(Clone, Copy, Debug)]
pub struct DashboardCaller;

/// [`authenticate`], also accepting a [`DashboardCaller`] request as a
/// full-access caller without a key.
pub fn authenticate_parts(
    snapshot: &Snapshot,
    parts: &axum::http::request::Parts,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    if parts.extensions.get::<DashboardCaller>().is_some() {
        return Ok(None);
    }
    authenticate(snapshot, &parts.headers)
}

/// [`authenticate`] for Gemini routes: a header, else `?key=`.
pub fn authenticate_gemini(
    snapshot: &Snapshot,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    match presented_key(headers) {
        Some(key) => check_key(snapshot, Some(key)),
        None => check_key(snapshot, query_key(uri).as_deref()),
    }
}

fn check_key(
    snapshot: &Snapshot,
    presented: Option<&str>,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    if !snapshot.settings.require_api_key {
        return Ok(presented.and_then(|k| snapshot.key(&hash_key(k)).cloned()));
    }
    let Some(key) = presented else {
        return Err(ApiError::unauthorized(
            "Missing API key. Send `Authorization: Bearer <key>`, `x-api-key: <key>` or `x-goog-api-key: <key>` with an OmniRoute key.",
        ));
    };
    let grant = snapshot
        .key(&hash_key(key))
        .ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key."))?;
    if grant
        .expires_at
        .is_some_and(|at| at <= crate::store::now_ms())
    {
        return Err(
            ApiError::unauthorized(format!("The API key `{}` has expired.", grant.name))
                .with_code("key_expired"),
        );
    }
    Ok(Some(grant.clone()))
}
