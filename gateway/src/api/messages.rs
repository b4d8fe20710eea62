//! The Anthropic Messages endpoints (`POST /v1/messages`, `/v1/messages/count_tokens`): passed through to Anthropic upstreams, translated through the IR for the others.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::request::RawObject;
use super::serve::serve_model_in_body;
use super::v1::{read_upstream, route_for};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::providers::WireFormat;
use crate::providers::upstream::error_text;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::translate::anthropic;

/// `POST /v1/messages`. Errors answer in Anthropic's error format.
pub async fn messages(State(app): State<App>, request: Request) -> Response {
    serve_model_in_body(app, request, WireFormat::Anthropic).await
}

/// `POST /v1/messages/count_tokens`. An Anthropic upstream counts for real;
/// for other upstreams the count is an estimate of about four bytes of
/// JSON text per token (Claude Code uses it only to size its context).
pub async fn count_tokens(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &parts.headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_anthropic_response(),
    };
    let limit = snapshot.settings.body_limit(parts.uri.path());
    match count(&app, &snapshot, grant.as_deref(), body, limit).await {
        Ok(response) => response,
        Err(e) => e.into_anthropic_response(),
    }
}

async fn count(
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: Body,
    body_limit: usize,
) -> Result<Response, ApiError> {
    let body = read_body(body, body_limit).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
    let request = anthropic::decode_request(&value).map_err(|e| ApiError::bad_request(e.0))?;
    let route = route_for(snapshot, grant, &request.model)?;
    // Only API-key Anthropic upstreams are asked: subscription accounts
    // (Claude Code, Kiro) are counted here, which costs them nothing.
    let counts_upstream =
        route.provider.format == WireFormat::Anthropic && route.provider.oauth.is_none();
    if counts_upstream {
        let raw = RawObject::parse(&body)?;
        let upstream_body = Bytes::from(raw.with_model(&route.upstream_model));
        let timeout = std::time::Duration::from_secs(snapshot.settings.upstream_timeout_secs);
        let send =
            app.upstream
                .post_to(&route.accounts[0], "/messages/count_tokens", upstream_body);
        let response = tokio::time::timeout(timeout, send)
            .await
            .map_err(|_| {
                ApiError::upstream_unreachable(format!(
                    "`{}` did not count the tokens within {} s.",
                    route.provider.id,
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| {
                ApiError::upstream_unreachable(format!("Cannot reach `{}`: {e}", route.provider.id))
            })?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let text = read_upstream(response).await?;
        if !status.is_success() {
            let message = error_text(status.as_u16(), &String::from_utf8_lossy(&text));
            return Err(ApiError::new(status, "upstream_error", message));
        }
        let mut reply = Response::new(Body::from(text));
        reply.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(reply);
    }
    let counted = ["system", "messages", "tools"]
        .iter()
        .filter_map(|key| value.get(*key))
        .map(|v| v.to_string().len())
        .sum::<usize>();
    Ok(axum::Json(serde_json::json!({"input_tokens": counted.div_ceil(4)})).into_response())
}
