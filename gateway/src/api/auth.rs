//! Who is calling: gateway API keys from `Authorization: Bearer` or `x-api-key`.

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
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Checks the caller's key. `Ok(None)` means keys are not required and
/// the caller is anonymous.
pub fn authenticate(
    snapshot: &Snapshot,
    headers: &HeaderMap,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    let presented = presented_key(headers);
    if !snapshot.settings.require_api_key {
        return Ok(presented.and_then(|k| snapshot.key(&hash_key(k)).cloned()));
    }
    let Some(key) = presented else {
        return Err(ApiError::unauthorized(
            "Missing API key. Send `Authorization: Bearer <key>` or `x-api-key: <key>` with an OmniRoute key.",
        ));
    };
    snapshot
        .key(&hash_key(key))
        .cloned()
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("Invalid or revoked API key."))
}
