//! The OpenAI-compatible data plane: `/v1/chat/completions` and `/v1/models`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

use super::request::ChatRequest;
use super::serve::{Incoming, Shape, plan_error, serve};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::UsageRecord;
use crate::observe::bodies::LoggedBody;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;
use crate::providers::upstream::error_chain;
use crate::routing::plan::plan;
use crate::routing::resolve::Route;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::store::now_ms;
use crate::translate::sanitize;
use crate::wire::openai_chat::TokenUsage;

/// Largest upstream body read whole (non-stream responses and error bodies).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// `POST /v1/chat/completions`.
pub async fn chat_completions(State(app): State<App>, request: axum::extract::Request) -> Response {
    // Taken apart rather than extracted, so the headers are borrowed, not cloned.
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate_parts(&snapshot, &parts) {
        Ok(grant) => grant,
        Err(e) => return e.into_response(),
    };
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), WireFormat::Openai, started);
    let result = async {
        let body = read_body(body, snapshot.settings.body_limit(parts.uri.path())).await?;
        let request = ChatRequest::parse(&body)?;
        let incoming = Incoming {
            format: WireFormat::Openai,
            model: request.model.clone(),
            stream: request.stream,
            include_usage: request.include_usage,
            body: &body,
            shape: Shape::Chat(request),
        };
        serve(
            &app,
            &snapshot,
            grant.as_deref(),
            incoming,
            &mut pending,
            started,
        )
        .await
    }
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
    // Debug mode (`log_bodies`) is on exactly when the request body was
    // kept; whole replies then keep theirs too. (A streaming reply's record
    // went with its body, which keeps what it sends.)
    let log_body = |pending: &mut PendingRecord| pending.record_mut().request_body.is_some();
    match result {
        Ok(Reply::Streaming(response)) => response,
        Ok(Reply::Complete(response)) => {
            let response = if log_body(&mut pending) {
                keep_response_body(&mut pending, response, caller).await
            } else {
                response
            };
            pending.commit().await;
            response
        }
        Err(e) => {
            let record = pending.record_mut();
            record.status = e.status.as_u16();
            record.error = Some(e.message.clone());
            record.latency_ms = started.elapsed().as_millis() as u64;
            let response = e.into_format_response(caller);
            let response = if log_body(&mut pending) {
                keep_response_body(&mut pending, response, caller).await
            } else {
                response
            };
            pending.commit().await;
            response
        }
    }
}

/// Puts the body of a whole reply in the record as sent (debug mode). The
/// body is already in memory, so reading it costs no I/O and no copy.
async fn keep_response_body(
    pending: &mut PendingRecord,
    response: Response,
    caller: WireFormat,
) -> Response {
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            pending.record_mut().response_body = Some(LoggedBody::of(&bytes));
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => ApiError::internal(format!("The reply could not be read back: {e}"))
            .into_format_response(caller),
    }
}

pub(super) enum Reply {
    /// The response is whole and `record` is complete.
    Complete(Response),
    /// The response streams; its body sends the record when it ends.
    Streaming(Response),
}

/// The first candidate `model` plans to, for side routes that make one
/// call without fallback (token counting).
pub(super) fn route_for(
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    model: &str,
) -> Result<Route, ApiError> {
    let plan = plan(snapshot, model, grant).map_err(plan_error)?;
    let first = plan
        .candidates
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::model_not_found(model))?;
    Ok(Route {
        provider: first.provider,
        upstream_model: first.upstream_model,
        accounts: first.accounts,
    })
}

/// Strips vendor fields from a completion and reads its usage. The body is
/// returned untouched unless something had to be removed.
pub(super) fn clean_completion(body: Bytes) -> (Bytes, Option<TokenUsage>) {
    let found = sanitize::scan(&body);
    if found.vendor_fields
        && let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body)
    {
        let usage = TokenUsage::from_response(&value);
        if sanitize::strip_nonstandard(&mut value)
            && let Ok(text) = serde_json::to_vec(&value)
        {
            return (Bytes::from(text), usage);
        }
        return (body, usage);
    }
    let usage = found
        .usage_object
        .then(|| TokenUsage::from_json_bytes(&body))
        .flatten();
    (body, usage)
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
    // Enabled combos first: they are what a user set up to be used. A
    // wildcard combo (`claude-*`) is a pattern, not a model to list.
    let combos = snapshot
        .combos
        .iter()
        .filter(|c| c.enabled && !c.name.ends_with('*'))
        .map(|c| ("combo".to_string(), c.name.clone()));
    let models = snapshot
        .providers
        .iter()
        .filter(|p| snapshot.is_usable(p))
        .flat_map(|p| {
            p.models
                .iter()
                .map(move |m| (p.id.clone(), format!("{}/{}", p.prefix, m.id)))
        });
    combos.chain(models)
}
