//! Rejections that axum writes as plain text (a path parameter that is not valid UTF-8, say), rewritten as JSON errors in the caller's wire format, so every client can read every error.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// The longest plain-text message kept; axum's rejections are one line.
const MAX_MESSAGE: usize = 4096;

pub async fn middleware(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain_text {
        return response;
    }
    let message = match axum::body::to_bytes(response.into_body(), MAX_MESSAGE).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("The request was refused")
            .to_owned(),
    };
    let kind = if status.is_server_error() {
        "api_error"
    } else {
        "invalid_request_error"
    };
    let code = if status == StatusCode::BAD_REQUEST {
        "invalid_request"
    } else {
        "request_refused"
    };
    let error = ApiError::new(status, kind, message).with_code(code);
    super::network_guard::refuse_request(&method, &path, error)
}
