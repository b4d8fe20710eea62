//! The Anthropic Messages endpoint (`POST /v1/messages`), served by OpenAI Chat upstreams through the IR.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;

use super::translating_relay::TranslatingRelay;
use super::v1::{Reply, read_upstream, route_for, send_upstream};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::UsageRecord;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;
use crate::providers::upstream::error_text;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::store::now_ms;
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
    let record = UsageRecord {
        ts: now_ms(),
        api_key_id: grant.as_ref().map(|g| g.id),
        inbound_format: WireFormat::Anthropic.as_str().to_string(),
        ..Default::default()
    };
    let mut pending = PendingRecord::new(app.usage.clone(), record, started);
    match relay_messages(
        &app,
        &snapshot,
        grant.as_deref(),
        body,
        &mut pending,
        started,
    )
    .await
    {
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
            e.into_anthropic_response()
        }
    }
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
    let upstream_body = match route.provider.format {
        WireFormat::Anthropic => anthropic::encode_request(&request),
        _ => openai_chat::encode_request(&request),
    };
    let upstream_body = Bytes::from(upstream_body.to_string());

    let response = send_upstream(app, snapshot, &route, upstream_body, request.stream).await?;
    let status = response.status();
    if !status.is_success() {
        let text = read_upstream(response).await.unwrap_or_default();
        let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        return Err(ApiError::new(
            status,
            "upstream_error",
            error_text(status.as_u16(), &String::from_utf8_lossy(&text)),
        ));
    }
    if request.stream {
        let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
        let upstream = response.bytes_stream().boxed();
        let provider = route.provider.clone();
        let encoder = anthropic::StreamEncoder::default();
        let body = match route.provider.format {
            WireFormat::Anthropic => Body::from_stream(TranslatingRelay::new(
                upstream,
                anthropic::StreamDecoder::default(),
                encoder,
                pending,
                provider,
            )),
            _ => Body::from_stream(TranslatingRelay::new(
                upstream,
                openai_chat::StreamDecoder::default(),
                encoder,
                pending,
                provider,
            )),
        };
        let mut reply = Response::new(body);
        let headers = reply.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(Reply::Streaming(reply));
    }
    let body = read_upstream(response).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::upstream_unreachable(format!("The upstream sent a body that is not JSON: {e}"))
    })?;
    let translated = match route.provider.format {
        WireFormat::Anthropic => anthropic::decode_response(&value),
        _ => openai_chat::decode_response(&value),
    }
    .map_err(|e| ApiError::upstream_unreachable(e.0))?;
    let price = route.provider.model(&route.upstream_model);
    pending
        .record_mut()
        .finish(Some(translated.usage), price, 200, None, started);
    let mut reply = axum::Json(anthropic::encode_response(&translated)).into_response();
    *reply.status_mut() = StatusCode::OK;
    Ok(Reply::Complete(reply))
}
