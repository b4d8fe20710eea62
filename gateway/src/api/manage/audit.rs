//! The audit log: a middleware that records every state-changing `/api` call, and `GET /api/audit`.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Query, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, MAX_MANAGE_BODY, session};
use crate::api::{App, auth, read_body};
use crate::error::ApiError;
use crate::store::api_keys::hash_key;
use crate::store::audit::{self, AuditEntry};
use crate::store::now_ms;

/// What replaces a secret in a recorded body.
const REDACTED: &str = "[redacted]";

/// Records the call after the handler answered, when it could have changed
/// something. The row is written before the answer leaves, so a client that
/// reads the log right after its change finds it, and a change is never
/// answered without its record.
pub async fn record(State(app): State<App>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // Inside `nest("/api")` the request's own path has lost its prefix.
    let path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |uri| uri.path())
        .to_owned();
    if !is_change(&method, &path) {
        return next.run(request).await;
    }
    // The client as the network guard saw it (behind a trusted proxy, the
    // forwarded address), else the peer.
    let ip = request
        .extensions()
        .get::<crate::api::network_guard::ClientIp>()
        .map(|c| c.0)
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .map(|ip| ip.to_string());
    let actor = actor(&app, request.headers()).await;
    let (parts, body) = request.into_parts();
    let (body, changes) = if is_json(&parts.headers) && !path.starts_with("/api/auth/") {
        let bytes = match read_body(body, MAX_MANAGE_BODY).await {
            Ok(bytes) => bytes,
            Err(e) => return e.into_response(),
        };
        let changes = serde_json::from_slice::<Value>(&bytes).ok().map(redact);
        (Body::from(bytes), changes)
    } else {
        // Passwords and raw uploads (a restored database) are never kept.
        (body, None)
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status().as_u16();
    let entry = AuditEntry {
        ts_ms: now_ms(),
        summary: summarize(&method, &path, changes.as_ref(), status),
        actor,
        ip,
        method: method.to_string(),
        path,
        status,
        changes,
    };
    if let Err(e) = app
        .store
        .call(move |conn, _| audit::insert(conn, &entry))
        .await
    {
        tracing::error!(error = %e, "could not write the audit log");
    }
    response
}

/// Whether a call may change configuration or state. Calls that only compute
/// something (translation, the chat tester, a connection test) are not.
fn is_change(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    !(path.starts_with("/api/playground/")
        || path == "/api/translate"
        || (path.starts_with("/api/connections/") && path.ends_with("/test")))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// Who made the call: `key:<id>` for a live gateway key, `session` for a
/// signed-in dashboard, else `anonymous` (a failed or first sign-in).
async fn actor(app: &App, headers: &HeaderMap) -> String {
    if let Some(key) = auth::presented_key(headers) {
        return match app.snapshot.load().key(&hash_key(key)) {
            Some(grant) => format!("key:{}", grant.id),
            None => "anonymous".to_owned(),
        };
    }
    match session::current_session(app, headers).await {
        Ok(Some(_)) => "session".to_owned(),
        _ => "anonymous".to_owned(),
    }
}

/// Whether a field's name says it holds a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "key",
        "secret",
        "password",
        "passphrase",
        "token",
        "authorization",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The body with every secret-named field's value, and every header value
/// (custom headers often carry credentials), replaced.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, value)| {
                    let value = if value.is_null() {
                        value
                    } else if is_secret_name(&name) && !value.is_array() {
                        Value::from(REDACTED)
                    } else if name.eq_ignore_ascii_case("headers") {
                        redact_all(value)
                    } else {
                        redact(value)
                    };
                    (name, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::String(text) => Value::String(without_url_password(text)),
        other => other,
    }
}

/// A URL's password (a proxy's, say) replaced; any other text as it is.
fn without_url_password(text: String) -> String {
    match reqwest::Url::parse(&text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(REDACTED));
            url.to_string()
        }
        _ => text,
    }
}

/// Every leaf value replaced, names kept.
fn redact_all(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, value)| (name, redact_all(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_all).collect()),
        Value::Null => Value::Null,
        _ => Value::from(REDACTED),
    }
}

/// A short sentence saying what the call did, from its method, path, body
/// and outcome: `created combo "fast"`, `failed to delete API key 3 (404)`.
fn summarize(method: &Method, path: &str, body: Option<&Value>, status: u16) -> String {
    let ok = (200..400).contains(&status);
    let rest = path.trim_start_matches("/api/");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let fixed = match (segments.as_slice(), ok) {
        (["auth", "login"], true) => Some("signed in"),
        (["auth", "login"], false) => Some("failed sign-in"),
        (["auth", "token-login"], true) => Some("signed in with a desktop login token"),
        (["auth", "token-login"], false) => Some("failed sign-in with a login token"),
        (["auth", "logout"], _) => Some("signed out"),
        (["auth", "password"], true) => Some("changed the dashboard password"),
        (["health", "reset"], true) => Some("reset breakers and cooldowns"),
        (["restore"], true) => Some("restored the database from a backup"),
        (["restore"], false) => Some("refused a backup to restore"),
        (["backup", "import"], true) => Some("imported a configuration"),
        (["backup", "import"], false) => Some("refused a configuration to import"),
        _ => None,
    };
    if let Some(text) = fixed {
        return text.to_owned();
    }
    let (verb, failed_verb) = match *method {
        Method::POST if segments.len() == 1 => ("created", "create"),
        Method::POST => ("ran", "run"),
        Method::PUT => ("replaced", "replace"),
        Method::PATCH => ("updated", "update"),
        Method::DELETE => ("deleted", "delete"),
        _ => ("called", "call"),
    };
    let noun = match segments.first().copied() {
        Some("providers") => "provider",
        Some("connections") => "connection",
        Some("keys") => "API key",
        Some("combos") => "combo",
        Some("settings") => "settings",
        Some(other) => other,
        None => "the API",
    };
    let name = segments
        .get(1)
        .map(|s| s.to_string())
        .or_else(|| {
            body.and_then(|b| b.get("name").or_else(|| b.get("id")))
                .and_then(Value::as_str)
                .map(|s| format!("\"{s}\""))
        })
        .or_else(|| {
            (noun == "settings")
                .then(|| body.and_then(Value::as_object))
                .flatten()
                .map(|fields| fields.keys().cloned().collect::<Vec<_>>().join(", "))
        });
    let object = match name {
        Some(name) if !name.is_empty() => format!("{noun} {name}"),
        _ => noun.to_owned(),
    };
    if ok {
        format!("{verb} {object}")
    } else {
        format!("failed to {failed_verb} {object} ({status})")
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    limit: Option<u32>,
    before_id: Option<i64>,
}

/// `GET /api/audit`: newest first, page by page like `/api/usage`.
pub async fn list(
    _: Admin,
    State(app): State<App>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let before_id = q.before_id;
    let rows = app
        .store
        .call(move |conn, _| audit::list(conn, before_id, limit))
        .await?;
    let next_before_id = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({"data": rows, "next_before_id": next_before_id})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let body = json!({
            "provider": "openai",
            "name": "work",
            "api_key": "sk-live-1",
            "auth": {"refresh_token": "rt", "expires": 5},
            "headers": {"X-Org": "acme", "nested": ["a"]},
            "models": ["*"],
            "password_hint": null,
            "proxy": "http://me:hunter2@proxy.example:8080",
            "provider_proxies": {"openai": "socks5://u:p4ss@10.0.0.1:1080"},
            "passphrase": "correct horse battery",
        });
        let redacted = redact(body);
        assert_eq!(
            redacted,
            json!({
                "provider": "openai",
                "name": "work",
                "api_key": REDACTED,
                "auth": {"refresh_token": REDACTED, "expires": 5},
                "headers": {"X-Org": REDACTED, "nested": [REDACTED]},
                "models": ["*"],
                "password_hint": null,
                "proxy": "http://me:%5Bredacted%5D@proxy.example:8080/",
                "provider_proxies": {"openai": "socks5://u:%5Bredacted%5D@10.0.0.1:1080"},
                "passphrase": REDACTED,
            })
        );
        for secret in ["sk-live-1", "hunter2", "p4ss", "horse"] {
            assert!(!redacted.to_string().contains(secret), "{secret}");
        }
    }

    #[test]
    fn only_changes_are_recorded() {
        assert!(is_change(&Method::POST, "/api/keys"));
        assert!(is_change(&Method::DELETE, "/api/combos/fast"));
        assert!(is_change(&Method::POST, "/api/auth/login"));
        assert!(!is_change(&Method::GET, "/api/keys"));
        assert!(!is_change(&Method::POST, "/api/translate"));
        assert!(!is_change(&Method::POST, "/api/playground/chat"));
        assert!(!is_change(&Method::POST, "/api/connections/4/test"));
    }

    #[test]
    fn summaries_name_the_action_and_the_object() {
        let s = |m: Method, p: &str, b: Value, status| summarize(&m, p, Some(&b), status);
        assert_eq!(
            s(Method::POST, "/api/combos", json!({"name": "fast"}), 201),
            "created combo \"fast\""
        );
        assert_eq!(
            s(Method::DELETE, "/api/keys/3", Value::Null, 404),
            "failed to delete API key 3 (404)"
        );
        assert_eq!(
            s(
                Method::PATCH,
                "/api/settings",
                json!({"log_bodies": true}),
                200
            ),
            "updated settings log_bodies"
        );
        assert_eq!(
            s(
                Method::PATCH,
                "/api/connections/7",
                json!({"enabled": false}),
                200
            ),
            "updated connection 7"
        );
        assert_eq!(
            s(Method::POST, "/api/auth/login", Value::Null, 401),
            "failed sign-in"
        );
        assert_eq!(
            s(Method::POST, "/api/health/reset", Value::Null, 200),
            "reset breakers and cooldowns"
        );
    }
}
