//! The OpenAI-compatible data plane: `/v1/chat/completions` and `/v1/models`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

use super::relay::SseRelay;
use super::request::ChatRequest;
use super::serve::{Inbound, relay_translated};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::UsageRecord;
use crate::observe::usage::PendingRecord;
use crate::providers::upstream::error_text;
use crate::providers::{Quirk, WireFormat};
use crate::routing::resolve::{ResolveError, Route, resolve};
use crate::snapshot::{KeyGrant, Snapshot};
use crate::store::now_ms;
use crate::translate::{openai_chat, sanitize};
use crate::wire::openai_chat::TokenUsage;

/// Largest upstream body read whole (non-stream responses and error bodies).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(app): State<App>, request: axum::extract::Request) -> Response {
    // Taken apart rather than extracted, so the headers are borrowed, not cloned.
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &parts.headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), WireFormat::Openai, started);
    let result = relay_chat(
        &app,
        &snapshot,
        grant.as_deref(),
        body,
        &mut pending,
        started,
    )
    .await;
    conclude(result, pending, started, WireFormat::Openai).await
}

/// The usage record of an authenticated data-plane request, begun.
pub(super) fn pending_record(
    app: &App,
    grant: Option<&KeyGrant>,
    inbound: WireFormat,
    started: Instant,
) -> PendingRecord {
    let record = UsageRecord {
        ts: now_ms(),
        api_key_id: grant.map(|g| g.id),
        inbound_format: inbound.as_str().to_string(),
        ..Default::default()
    };
    PendingRecord::new(app.usage.clone(), record, started)
}

/// Sends the record of a finished request and renders its reply; an error
/// becomes the record's outcome and is rendered in the caller's format.
pub(super) async fn conclude(
    result: Result<Reply, ApiError>,
    mut pending: PendingRecord,
    started: Instant,
    caller: WireFormat,
) -> Response {
    match result {
        Ok(Reply::Streaming(response)) => response,
        Ok(Reply::Complete(response)) => {
            pending.commit().await;
            response
        }
        Err(e) => {
            let record = pending.record_mut();
            record.status = e.status.as_u16();
            record.error = Some(e.message.clone());
            record.latency_ms = started.elapsed().as_millis() as u64;
            pending.commit().await;
            e.into_format_response(caller)
        }
    }
}

pub(super) enum Reply {
    /// The response is whole and `record` is complete.
    Complete(Response),
    /// The response streams; its body sends the record when it ends.
    Streaming(Response),
}

async fn relay_chat(
    app: &App,
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    body: Body,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let record = pending.record_mut();
    let body = read_body(body, snapshot.settings.max_body_bytes as usize).await?;
    let request = ChatRequest::parse(&body)?;
    record.requested_model = request.model.clone();
    record.stream = request.stream;

    let route = route_for(snapshot, grant, &request.model)?;
    record.provider = Some(route.provider.id.clone());
    record.upstream_model = Some(route.upstream_model.clone());
    let account = &route.accounts[0];
    record.connection_id = Some(account.id);
    if route.provider.format != WireFormat::Openai {
        let include_usage = request.include_usage;
        drop(request);
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
        drop(body);
        let request =
            openai_chat::decode_request(&value).map_err(|e| ApiError::bad_request(e.0))?;
        drop(value);
        let inbound = Inbound {
            format: WireFormat::Openai,
            include_usage,
        };
        return relay_translated(app, snapshot, &route, inbound, request, pending, started).await;
    }

    let ask_usage = request.stream && !route.provider.has_quirk(Quirk::NoStreamOptions);
    let mut renames: Vec<(&str, &str)> = Vec::new();
    if route.provider.has_quirk(Quirk::DeveloperAsSystem) {
        renames.push(("developer", "system"));
    }
    if route.provider.has_quirk(Quirk::SystemAsUser) {
        renames.push(("system", "user"));
        renames.push(("developer", "user"));
    }
    let upstream_body =
        Bytes::from(request.upstream_body(&route.upstream_model, ask_usage, &renames));
    let caller_wants_usage = request.include_usage;
    let stream = request.stream;
    drop(request);
    drop(body);

    let response = send_upstream(app, snapshot, &route, upstream_body, stream).await?;

    let status = response.status();
    if !status.is_success() {
        return upstream_error(response, record, started).await;
    }
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if stream && is_sse {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let relay = SseRelay::new(
            response.bytes_stream().boxed(),
            caller_wants_usage,
            pending,
            route.provider.clone(),
            WireFormat::Openai,
        );
        return Ok(Reply::Streaming(sse_reply(Body::from_stream(relay))));
    }
    complete_response(response, &route, record, started).await
}

/// Resolves `model` to a route that `grant` may use.
pub(super) fn route_for(
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    model: &str,
) -> Result<Route, ApiError> {
    let route = resolve(snapshot, model).map_err(|e| match e {
        ResolveError::UnknownModel(m) => ApiError::model_not_found(&m),
        ResolveError::NoAccount(p) => ApiError::no_connection(format!(
            "No usable connection for provider `{p}`: add one with an API key (dashboard, /api/connections or the config file)."
        )),
    })?;
    if let Some(grant) = grant {
        let canonical = format!("{}/{}", route.provider.prefix, route.upstream_model);
        if !grant.allows(&[model, &canonical]) {
            return Err(ApiError::forbidden(format!(
                "This API key may not use the model `{model}`."
            ))
            .with_code("model_not_allowed"));
        }
    }
    Ok(route)
}

/// Sends `body` to the route's best account, within the upstream timeout.
/// Any HTTP status is `Ok`; only an unreachable or silent upstream is an error.
pub(super) async fn send_upstream(
    app: &App,
    snapshot: &Snapshot,
    route: &Route,
    body: Bytes,
    stream: bool,
) -> Result<reqwest::Response, ApiError> {
    let timeout = Duration::from_secs(snapshot.settings.upstream_timeout_secs);
    let account = &route.accounts[0];
    let send = app.upstream.send(
        account,
        route.provider.format,
        &route.upstream_model,
        body,
        stream,
    );
    match tokio::time::timeout(timeout, send).await {
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            format!(
                "`{}` did not answer within {} s.",
                route.provider.id,
                timeout.as_secs()
            ),
        )
        .with_code("upstream_timeout")),
        Ok(Err(e)) => Err(ApiError::upstream_unreachable(format!(
            "Cannot reach `{}` at {}: {}",
            route.provider.id,
            account.base_url,
            error_chain(&e)
        ))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// A whole (non-stream) upstream success: cleaned, counted, returned.
async fn complete_response(
    response: reqwest::Response,
    route: &Route,
    record: &mut UsageRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let status = response.status();
    let body = read_upstream(response).await?;
    let (body, usage) = clean_completion(body);
    let price = record
        .upstream_model
        .as_deref()
        .and_then(|m| route.provider.model(m));
    record.finish(usage, price, status.as_u16(), None, started);
    let mut reply = Response::new(Body::from(body));
    *reply.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK);
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Reply::Complete(reply))
}

/// Strips vendor fields from a completion and reads its usage. The body is
/// returned untouched unless something had to be removed.
fn clean_completion(body: Bytes) -> (Bytes, Option<TokenUsage>) {
    let found = sanitize::scan(&body);
    if found.vendor_fields {
        if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) {
            let usage = TokenUsage::from_response(&value);
            if sanitize::strip_nonstandard(&mut value) {
                if let Ok(text) = serde_json::to_vec(&value) {
                    return (Bytes::from(text), usage);
                }
            }
            return (body, usage);
        }
    }
    let usage = found
        .usage_object
        .then(|| TokenUsage::from_json_bytes(&body))
        .flatten();
    (body, usage)
}

/// The caller's error for an upstream that answered with a failure status:
/// the same status, and the upstream's own message.
pub(super) async fn upstream_failure(response: reqwest::Response) -> ApiError {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = read_upstream(response).await.unwrap_or_default();
    let message = error_text(status.as_u16(), &String::from_utf8_lossy(&text));
    ApiError::new(status, "upstream_error", message)
}

/// A streaming response with the headers SSE clients and proxies need.
pub(super) fn sse_reply(body: Body) -> Response {
    let mut reply = Response::new(body);
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    reply
}

/// An upstream error keeps its status and message. An OpenAI-shaped error
/// body is passed on as it is; anything else is wrapped in one.
async fn upstream_error(
    response: reqwest::Response,
    record: &mut UsageRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let status = response.status();
    let body = read_upstream(response).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = error_text(status.as_u16(), &text);
    record.status = status.as_u16();
    record.error = Some(message.clone());
    record.latency_ms = started.elapsed().as_millis() as u64;
    let openai_shaped = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(|e| e.is_object()));
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let reply = if openai_shaped {
        let mut reply = Response::new(Body::from(body));
        *reply.status_mut() = status;
        reply.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        reply
    } else {
        ApiError::new(status, "upstream_error", message).into_response()
    };
    Ok(Reply::Complete(reply))
}

pub(super) async fn read_upstream(response: reqwest::Response) -> Result<Bytes, ApiError> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_UPSTREAM_BODY)
    {
        return Err(ApiError::upstream_unreachable(
            "The upstream response is too large.",
        ));
    }
    let broke = |e: reqwest::Error| {
        ApiError::upstream_unreachable(format!(
            "The upstream response broke off: {}",
            error_chain(&e)
        ))
    };
    if response.content_length().is_some() {
        // Bounded by the length checked above; a one-chunk body is not copied.
        return response.bytes().await.map_err(broke);
    }
    let mut body = bytes::BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(broke)?;
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(ApiError::upstream_unreachable(
                "The upstream response is too large.",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// An error with its causes, e.g. "error sending request: connection refused".
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `GET /v1/models`: every model of every usable provider, as `prefix/model`.
/// The google-genai SDK lists models on this same path; its requests carry
/// Google's headers, and get Gemini's list shape.
pub async fn list_models(State(app): State<App>, request: axum::extract::Request) -> Response {
    let headers = request.headers();
    if headers.contains_key("x-goog-api-key") || headers.contains_key("x-goog-api-client") {
        return super::gemini::list_models(State(app), request).await;
    }
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let data: Vec<serde_json::Value> = usable_models(&snapshot)
        .filter(|(_, id)| grant.as_ref().is_none_or(|g| g.allows(&[id])))
        .map(|(owner, id)| model_object(&owner, &id))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{id}`.
pub async fn get_model(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let found = usable_models(&snapshot)
        .filter(|(_, model)| grant.as_ref().is_none_or(|g| g.allows(&[model])))
        .find(|(_, model)| *model == id);
    match found {
        Some((owner, id)) => axum::Json(model_object(&owner, &id)).into_response(),
        None => ApiError::model_not_found(&id).into_response(),
    }
}

fn model_object(owner: &str, id: &str) -> serde_json::Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}

pub(super) fn usable_models(snapshot: &Snapshot) -> impl Iterator<Item = (String, String)> + '_ {
    snapshot
        .providers
        .iter()
        .filter(|p| snapshot.is_usable(p))
        .flat_map(|p| {
            p.models
                .iter()
                .map(move |m| (p.id.clone(), format!("{}/{}", p.prefix, m.id)))
        })
}
