//! The one error type of the HTTP surface, rendered in the caller's wire format.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP caller. It carries everything the caller's wire
/// format needs; `into_response` renders it as OpenAI error JSON.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI `error.type`, e.g. `invalid_request_error`.
    pub kind: &'static str,
    /// OpenAI `error.code`, e.g. `model_not_found`.
    pub code: Option<&'static str>,
    pub message: String,
    /// OpenAI `error.param`: the request field at fault, when there is one.
    pub param: Option<&'static str>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            retry_after_secs: None,
        }
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds the headers every rendering shares (`Retry-After`).
    fn finish(&self, mut response: Response) -> Response {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("The request body is not valid JSON: {detail}"))
            .with_code("invalid_json")
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
            .with_code("invalid_api_key")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "The model `{model}` does not exist. Use `provider/model` (see GET /v1/models)."
            ),
        )
        .with_code("model_not_found")
        .with_param("model")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
        .with_code("request_too_large")
    }

    pub fn no_connection(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
        .with_code("no_usable_connection")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "invalid_request_error", message).with_code("conflict")
    }

    pub fn upstream_unreachable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            .with_code("upstream_unreachable")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The OpenAI error object: `{"error": {message, type, param, code}}`.
    pub fn to_openai_json(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl ApiError {
    /// Anthropic's error type for this status.
    fn anthropic_kind(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 405 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// The error as Anthropic Messages clients expect it:
    /// `{"type":"error","error":{"type","message"}}`.
    pub fn into_anthropic_response(self) -> Response {
        let body = crate::translate::anthropic::error_body(self.anthropic_kind(), &self.message);
        self.finish((self.status, body.to_string()).into_response())
    }

    /// Renders as Gemini error JSON (`{"error": {"code", "message", "status"}}`).
    pub fn into_gemini_response(self) -> Response {
        let body = crate::translate::gemini::error_body(self.status.as_u16(), &self.message);
        self.finish((self.status, body.to_string()).into_response())
    }

    /// Renders in `format`'s error JSON (Responses callers use OpenAI's).
    pub fn into_format_response(self, format: crate::providers::WireFormat) -> Response {
        use crate::providers::WireFormat;
        match format {
            WireFormat::Anthropic => self.into_anthropic_response(),
            WireFormat::Gemini => self.into_gemini_response(),
            WireFormat::Openai | WireFormat::Responses => self.into_response(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_openai_json().to_string();
        self.finish((self.status, body).into_response())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => ApiError::conflict(what),
            StoreError::Invalid(what) => ApiError::bad_request(what),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal(format!("storage failure: {other}"))
            }
        }
    }
}
