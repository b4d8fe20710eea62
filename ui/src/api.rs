//! The dashboard's client for the gateway's `/api`: JSON in and out, the CSRF token, and readable errors.

use std::cell::RefCell;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

thread_local! {
    /// The session's CSRF token, sent with every state-changing call.
    static CSRF_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Called when the gateway says the session is gone, so the app can show the login page.
    static ON_UNAUTHORIZED: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Remembers the CSRF token of the signed-in session (`None` after logout).
pub fn set_csrf_token(token: Option<String>) {
    CSRF_TOKEN.with(|t| *t.borrow_mut() = token);
}

/// The CSRF token of the signed-in session, if any.
pub fn csrf_token() -> Option<String> {
    CSRF_TOKEN.with(|t| t.borrow().clone())
}

/// What to do when a call answers 401 (the session expired or was ended elsewhere).
pub fn on_unauthorized(callback: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|c| *c.borrow_mut() = Some(Box::new(callback)));
}

/// A failed call, with a message a person can read.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status; 0 when the gateway could not be reached.
    pub status: u16,
    /// The gateway's `error.code`, when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiError {
    /// The error for a reply with a non-success status and its body text.
    pub fn from_reply(status: u16, body: &str) -> ApiError {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let message = error
            .and_then(|e| e.get("message").or(Some(e)))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .or_else(|| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get("message"))
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| fallback_message(status, body));
        let code = error
            .and_then(|e| e.get("code").or_else(|| e.get("type")))
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        ApiError {
            status,
            code,
            message,
        }
    }

    /// The gateway could not be reached at all.
    pub fn network(detail: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: 0,
            code: None,
            message: format!("The gateway could not be reached ({detail}). Is OmniRoute running?"),
        }
    }
}

/// A message for a reply whose body is not the gateway's error JSON.
fn fallback_message(status: u16, body: &str) -> String {
    let body = body.trim();
    if !body.is_empty() && body.len() <= 200 && !body.starts_with('<') {
        return format!("HTTP {status}: {body}");
    }
    let reason = match status {
        400 => "the request was not valid",
        401 => "please sign in again",
        403 => "not allowed",
        404 => "not found",
        409 => "it conflicts with something that exists",
        413 => "too large",
        429 => "too many requests, try again shortly",
        500..=599 => "the gateway had an internal error",
        _ => "the request failed",
    };
    format!("HTTP {status}: {reason}")
}

/// `path?k=v&…` with the values percent-encoded; pairs with an empty value are left out.
pub fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    let mut url = path.to_owned();
    let mut first = !path.contains('?');
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        url.push(if first { '?' } else { '&' });
        first = false;
        url.push_str(&encode_component(key));
        url.push('=');
        url.push_str(&encode_component(value));
    }
    url
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Whether a method changes state, and so needs the CSRF token.
pub fn is_unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

fn builder(method: &str, path: &str) -> RequestBuilder {
    let builder = match method {
        "POST" => Request::post(path),
        "PUT" => Request::put(path),
        "PATCH" => Request::patch(path),
        "DELETE" => Request::delete(path),
        _ => Request::get(path),
    };
    let builder = builder.header("Accept", "application/json");
    match csrf_token() {
        Some(token) if is_unsafe_method(method) => builder.header("X-CSRF-Token", &token),
        _ => builder,
    }
}

/// Sends a request and returns the reply when its status is a success.
async fn send(request: Result<Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let request = request.map_err(ApiError::network)?;
    let response = request.send().await.map_err(ApiError::network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let error = ApiError::from_reply(status, &body);
    if status == 401 && error.code.as_deref() != Some("invalid_password") {
        ON_UNAUTHORIZED.with(|c| {
            if let Some(callback) = c.borrow().as_ref() {
                callback();
            }
        });
    }
    Err(error)
}

async fn json_of<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let text = response.text().await.map_err(ApiError::network)?;
    // An empty body (204) reads as JSON null, so `()` and `Option<_>` work.
    let text = if text.trim().is_empty() {
        "null"
    } else {
        &text
    };
    serde_json::from_str(text).map_err(|e| ApiError {
        status: 200,
        code: None,
        message: format!("The gateway's reply could not be read: {e}"),
    })
}

/// `GET path` as JSON.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    json_of(send(builder("GET", path).build()).await?).await
}

/// `method path` with a JSON body, reading a JSON reply.
pub async fn send_json<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    json_of(send(builder(method, path).json(body)).await?).await
}

/// `POST path` with a JSON body.
pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send_json("POST", path, body).await
}

/// `PATCH path` with a JSON body.
pub async fn patch<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send_json("PATCH", path, body).await
}

/// `PUT path` with a JSON body.
pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    send_json("PUT", path, body).await
}

/// `DELETE path`, ignoring any reply body.
pub async fn delete(path: &str) -> Result<(), ApiError> {
    send(builder("DELETE", path).build()).await.map(|_| ())
}

/// `POST /api/oauth/{provider}/{step}`: one step of an OAuth sign-in
/// (`start`, `poll` or `complete`) with its JSON body.
pub async fn oauth_step<B: Serialize, T: DeserializeOwned>(
    provider: &str,
    step: &str,
    body: &B,
) -> Result<T, ApiError> {
    post(&oauth_path(provider, step), body).await
}

/// The path of an OAuth sign-in step, with the provider's id encoded.
pub fn oauth_path(provider: &str, step: &str) -> String {
    format!("/api/oauth/{}/{step}", encode_component(provider))
}

/// `method path` with a raw body and content type, returning the raw reply (backups, streams).
pub async fn send_raw(
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<wasm_bindgen::JsValue>,
) -> Result<Response, ApiError> {
    let builder = builder(method, path).header("Content-Type", content_type);
    let request = match body {
        Some(body) => builder.body(body),
        None => builder.build(),
    };
    send(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gateways_error_json() {
        let body =
            r#"{"error":{"message":"Combo 'x' not found.","type":"not_found","code":"not_found"}}"#;
        let error = ApiError::from_reply(404, body);
        assert_eq!(error.message, "Combo 'x' not found.");
        assert_eq!(error.code.as_deref(), Some("not_found"));
        assert_eq!(error.status, 404);
    }

    #[test]
    fn an_error_without_code_falls_back_to_its_type() {
        let body = r#"{"error":{"message":"bad","type":"invalid_request_error"}}"#;
        assert_eq!(
            ApiError::from_reply(400, body).code.as_deref(),
            Some("invalid_request_error")
        );
    }

    #[test]
    fn a_string_error_and_a_top_level_message_are_read_too() {
        assert_eq!(
            ApiError::from_reply(400, r#"{"error":"nope"}"#).message,
            "nope"
        );
        assert_eq!(
            ApiError::from_reply(400, r#"{"message":"also"}"#).message,
            "also"
        );
    }

    #[test]
    fn a_non_json_reply_gets_a_readable_message() {
        assert_eq!(
            ApiError::from_reply(502, "<html>Bad gateway</html>").message,
            "HTTP 502: the gateway had an internal error"
        );
        assert_eq!(
            ApiError::from_reply(418, "teapot").message,
            "HTTP 418: teapot"
        );
        assert_eq!(
            ApiError::from_reply(429, "").message,
            "HTTP 429: too many requests, try again shortly"
        );
    }

    #[test]
    fn query_strings_are_encoded_and_skip_empty_values() {
        let url = with_query(
            "/api/usage",
            &[
                ("model", "openai/gpt-4.1 mini".into()),
                ("provider", String::new()),
                ("limit", "50".into()),
            ],
        );
        assert_eq!(url, "/api/usage?model=openai%2Fgpt-4.1%20mini&limit=50");
        assert_eq!(
            with_query("/a?x=1", &[("y", "é".into())]),
            "/a?x=1&y=%C3%A9"
        );
        assert_eq!(with_query("/a", &[]), "/a");
    }

    #[test]
    fn oauth_paths_encode_the_provider() {
        assert_eq!(oauth_path("copilot", "start"), "/api/oauth/copilot/start");
        assert_eq!(oauth_path("a b/c", "poll"), "/api/oauth/a%20b%2Fc/poll");
    }

    #[test]
    fn only_state_changing_methods_need_the_csrf_token() {
        assert!(!is_unsafe_method("GET"));
        assert!(!is_unsafe_method("HEAD"));
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(is_unsafe_method(method));
        }
    }
}
