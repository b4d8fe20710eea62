//! The Anthropic Messages endpoint (`POST /v1/messages`): passed through to Anthropic upstreams, translated through the IR for OpenAI Chat ones.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;

use super::relay::SseRelay;
use super::request::RawObject;
use super::translating_relay::TranslatingRelay;
use super::v1::{
    Reply, conclude, pending_record, read_upstream, route_for, send_upstream, sse_reply,
    upstream_failure,
};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;
use crate::providers::upstream::error_text;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::translate::{anthropic, openai_chat};

/// `POST /v1/messages`. Errors answer in Anthropic's error format.
pub async fn messages(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &parts.headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_anthropic_response(),
    };
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), WireFormat::Anthropic, started);
    let result = relay_messages(
        &app,
        &snapshot,
        grant.as_deref(),
        body,
        &mut pending,
        started,
    )
    .await;
    conclude(result, pending, started, ApiError::into_anthropic_response).await
}

async fn relay_messages(
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: Body,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let body = read_body(body, snapshot.settings.max_body_bytes as usize).await?;
    if let Some(reply) = passthrough(app, snapshot, grant, &body, pending, started).await? {
        return Ok(reply);
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
    let mut request = anthropic::decode_request(&value).map_err(|e| ApiError::bad_request(e.0))?;
    drop(value);
    let record = pending.record_mut();
    record.requested_model = request.model.clone();
    record.stream = request.stream;

    let route = route_for(snapshot, grant, &request.model, "Anthropic Messages")?;
    record.provider = Some(route.provider.id.clone());
    record.upstream_model = Some(route.upstream_model.clone());
    let account = &route.accounts[0];
    record.connection_id = Some(account.id);
    request.model = route.upstream_model.clone();
    let upstream_body = openai_chat::encode_request(&request);
    let upstream_body = Bytes::from(upstream_body.to_string());

    let response = send_upstream(app, snapshot, &route, upstream_body, request.stream).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(upstream_failure(response).await);
    }
    if request.stream {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let upstream = response.bytes_stream().boxed();
        let provider = route.provider.clone();
        let encoder = anthropic::StreamEncoder::default();
        let body = Body::from_stream(TranslatingRelay::new(
            upstream,
            openai_chat::StreamDecoder::default(),
            encoder,
            pending,
            provider,
        ));
        return Ok(Reply::Streaming(sse_reply(body)));
    }
    let body = read_upstream(response).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::upstream_unreachable(format!("The upstream sent a body that is not JSON: {e}"))
    })?;
    let translated =
        openai_chat::decode_response(&value).map_err(|e| ApiError::upstream_unreachable(e.0))?;
    pending.complete(Some(translated.usage), &route.provider, 200, None);
    let mut reply = axum::Json(anthropic::encode_response(&translated)).into_response();
    *reply.status_mut() = StatusCode::OK;
    Ok(Reply::Complete(reply))
}

/// A Messages request for an Anthropic upstream is forwarded as it is, with
/// only `model` rewritten (so `cache_control`, `metadata`, beta fields and
/// thinking signatures reach Claude untouched), and its stream is relayed
/// byte for byte. `None`: the upstream speaks another format.
async fn passthrough(
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: &[u8],
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Option<Reply>, ApiError> {
    let raw = RawObject::parse(body)?;
    let Some(model) = raw
        .get("model")
        .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
    else {
        return Ok(None);
    };
    let Ok(route) = route_for(snapshot, grant, &model, "Anthropic Messages") else {
        return Ok(None);
    };
    if route.provider.format != WireFormat::Anthropic {
        return Ok(None);
    }
    let stream = raw.get("stream").is_some_and(|v| v.get().trim() == "true");
    let record = pending.record_mut();
    record.requested_model = model;
    record.stream = stream;
    record.provider = Some(route.provider.id.clone());
    record.upstream_model = Some(route.upstream_model.clone());
    record.connection_id = Some(route.accounts[0].id);
    let upstream_body = Bytes::from(raw.with_model(&route.upstream_model));
    drop(raw);
    let response = send_upstream(app, snapshot, &route, upstream_body, stream).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(upstream_failure(response).await);
    }
    if stream {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let relay = SseRelay::new(
            response.bytes_stream().boxed(),
            true,
            pending,
            route.provider.clone(),
            WireFormat::Anthropic,
        );
        return Ok(Some(Reply::Streaming(sse_reply(Body::from_stream(relay)))));
    }
    let body = read_upstream(response).await?;
    pending.complete(anthropic::usage_of_body(&body), &route.provider, 200, None);
    let mut reply = Response::new(Body::from(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Some(Reply::Complete(reply)))
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
    match count(&app, &snapshot, grant.as_deref(), body).await {
        Ok(response) => response,
        Err(e) => e.into_anthropic_response(),
    }
}

async fn count(
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, snapshot.settings.max_body_bytes as usize).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
    let request = anthropic::decode_request(&value).map_err(|e| ApiError::bad_request(e.0))?;
    let route = route_for(snapshot, grant, &request.model, "Anthropic Messages")?;
    if route.provider.format == WireFormat::Anthropic {
        let raw = RawObject::parse(&body)?;
        let upstream_body = Bytes::from(raw.with_model(&route.upstream_model));
        let response = app
            .upstream
            .post_to(&route.accounts[0], "/messages/count_tokens", upstream_body)
            .await
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
