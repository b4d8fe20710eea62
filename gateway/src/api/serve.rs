//! The two ways a data-plane request reaches its upstream: in the caller's own format (bytes forwarded), or translated through the IR and back.

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, header};
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
use crate::observe::UsageRecord;
use crate::observe::usage::PendingRecord;
use crate::providers::{Quirk, WireFormat};
use crate::routing::resolve::Route;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::translate::codec::{self, StreamEncoder};
use crate::translate::ir;
use crate::translate::normalize::{fit_request, split_think};

/// What the caller speaks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inbound {
    pub format: WireFormat,
    /// An OpenAI Chat caller asked for the usage chunk (`stream_options`).
    pub include_usage: bool,
}

impl Inbound {
    pub fn of(format: WireFormat) -> Inbound {
        Inbound {
            format,
            include_usage: false,
        }
    }
}

/// An endpoint whose body names the model and whether to stream (Anthropic
/// Messages, Responses). Errors answer in the caller's format.
pub(super) async fn serve_model_in_body(
    app: App,
    request: axum::extract::Request,
    inbound: WireFormat,
) -> Response {
    // Taken apart rather than extracted, so the headers are borrowed, not cloned.
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &parts.headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_format_response(inbound),
    };
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), inbound, started);
    let result = relay_model_in_body(
        inbound,
        &app,
        &snapshot,
        grant.as_deref(),
        body,
        &mut pending,
        started,
    )
    .await;
    conclude(result, pending, started, inbound).await
}

async fn relay_model_in_body(
    inbound: WireFormat,
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: Body,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let body = read_body(body, snapshot.settings.max_body_bytes as usize).await?;
    let raw = RawObject::parse(&body)?;
    let model = raw
        .get("model")
        .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("`model` is required").with_param("model"))?;
    let stream = raw.get("stream").is_some_and(|v| v.get().trim() == "true");
    let route = route_for(snapshot, grant, &model)?;
    note_route(pending.record_mut(), &route, &model, stream);
    if route.provider.format == inbound {
        // Forwarded as it is, with only `model` rewritten, so everything
        // else (Anthropic `cache_control` and thinking signatures, Responses
        // encrypted reasoning, beta fields) reaches the upstream untouched.
        let upstream_body = Bytes::from(raw.with_model(&route.upstream_model));
        drop(raw);
        drop(body);
        return relay_same_format(
            app,
            snapshot,
            &route,
            upstream_body,
            stream,
            pending,
            started,
        )
        .await;
    }
    drop(raw);
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
    drop(body);
    let request = codec::decode_request(inbound, &value).map_err(|e| ApiError::bad_request(e.0))?;
    drop(value);
    let inbound = Inbound::of(inbound);
    relay_translated(app, snapshot, &route, inbound, request, pending, started).await
}

/// Fills the record's routing fields.
pub(super) fn note_route(record: &mut UsageRecord, route: &Route, requested: &str, stream: bool) {
    record.requested_model = requested.to_string();
    record.stream = stream;
    record.provider = Some(route.provider.id.clone());
    record.upstream_model = Some(route.upstream_model.clone());
    record.connection_id = route.accounts.first().map(|a| a.id);
}

/// Sends a body already in the upstream's format and relays the answer as
/// it comes: a stream byte for byte (usage read on the side), a whole body
/// untouched.
pub(super) async fn relay_same_format(
    app: &App,
    snapshot: &Snapshot,
    route: &Route,
    upstream_body: Bytes,
    stream: bool,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let format = route.provider.format;
    let response = send_upstream(app, snapshot, route, upstream_body, stream).await?;
    if !response.status().is_success() {
        return Err(upstream_failure(response).await);
    }
    if stream {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let relay = SseRelay::new(
            response.bytes_stream().boxed(),
            true,
            pending,
            route.provider.clone(),
            format,
        );
        return Ok(Reply::Streaming(sse_reply(Body::from_stream(relay))));
    }
    let body = read_upstream(response).await?;
    pending.complete(
        codec::usage_of_body(format, &body),
        &route.provider,
        200,
        None,
    );
    let mut reply = Response::new(Body::from(body));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Reply::Complete(reply))
}

/// Serves an IR request decoded from the caller's format by an upstream of
/// another format, and answers in the caller's format.
pub(super) async fn relay_translated(
    app: &App,
    snapshot: &Snapshot,
    route: &Route,
    inbound: Inbound,
    mut request: ir::Request,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let upstream = route.provider.format;
    request.model = route.upstream_model.clone();
    let model = route.provider.model(&route.upstream_model);
    fit_request(&mut request, inbound.format, &route.provider, model);
    let mut body = codec::encode_request(upstream, &request);
    if let Some(fields) = body.as_object_mut() {
        if route.provider.has_quirk(Quirk::NoStreamOptions) {
            fields.remove("stream_options");
        }
        if route.provider.has_quirk(Quirk::MaxCompletionTokens)
            && let Some(n) = fields.remove("max_tokens")
        {
            fields.insert("max_completion_tokens".into(), n);
        }
    }
    let body = Bytes::from(body.to_string());
    let response = send_upstream(app, snapshot, route, body, request.stream).await?;
    if !response.status().is_success() {
        return Err(upstream_failure(response).await);
    }
    if request.stream {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let relay = TranslatingRelay::new(
            response.bytes_stream().boxed(),
            StreamEncoder::new(inbound.format, inbound.include_usage),
            pending,
            route.provider.clone(),
        );
        return Ok(Reply::Streaming(sse_reply(Body::from_stream(relay))));
    }
    let body = read_upstream(response).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::upstream_unreachable(format!("The upstream sent a body that is not JSON: {e}"))
    })?;
    drop(body);
    let mut answer = codec::decode_response(upstream, &value)
        .map_err(|e| ApiError::upstream_unreachable(e.0))?;
    if upstream == WireFormat::Openai {
        split_think(&mut answer.parts);
    }
    // Signatures verify only with the family that made them.
    for part in &mut answer.parts {
        if let ir::Part::Reasoning { signature, .. } = part {
            *signature = None;
        }
    }
    pending.complete(Some(answer.usage), &route.provider, 200, None);
    Ok(Reply::Complete(
        axum::Json(codec::encode_response(inbound.format, &answer)).into_response(),
    ))
}
