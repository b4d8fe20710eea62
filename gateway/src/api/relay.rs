//! Relays a same-format upstream SSE stream as it arrives, cleaning OpenAI chunks and counting usage on the side.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use serde_json::Value;

use crate::observe::bodies::StreamCapture;
use crate::observe::usage::{CLIENT_CLOSED, PendingRecord};
use crate::providers::{ProviderDef, WireFormat};
use crate::routing::fallback::UpstreamBody;
use crate::translate::codec::StreamEncoder;
use crate::translate::ir::StreamEvent;
use crate::translate::{anthropic, gemini, responses, sanitize};
use crate::wire::openai_chat::TokenUsage;
use crate::wire::sse::{SseSplitter, event_data, event_ranges};

/// The caller-facing body of a streamed completion.
pub struct SseRelay {
    upstream: UpstreamBody,
    splitter: SseSplitter,
    /// The caller asked for `stream_options.include_usage`; when it did not,
    /// the usage-only chunk we asked the upstream for is not forwarded.
    caller_wants_usage: bool,
    usage: Option<TokenUsage>,
    /// The stream's format, which says where usage is found.
    format: WireFormat,
    /// Sent when the stream ends, or by its own `Drop` if the caller leaves.
    pending: Option<PendingRecord>,
    provider: Arc<ProviderDef>,
    finished: bool,
    /// Debug mode (`log_bodies`): what the caller was sent, for the record.
    capture: Option<StreamCapture>,
}

impl SseRelay {
    pub fn new(
        upstream: UpstreamBody,
        caller_wants_usage: bool,
        pending: PendingRecord,
        provider: Arc<ProviderDef>,
        format: WireFormat,
    ) -> SseRelay {
        SseRelay {
            upstream,
            splitter: SseSplitter::default(),
            caller_wants_usage,
            usage: None,
            format,
            pending: Some(pending),
            provider,
            finished: false,
            capture: None,
        }
    }

    /// Keeps the bytes sent to the caller (up to 256 KiB) in the usage
    /// record when `on` (setting `log_bodies`).
    pub fn log_body(mut self, on: bool) -> SseRelay {
        if on {
            self.capture = Some(StreamCapture::default());
        }
        self
    }

    /// Notes `bytes` as sent to the caller (debug mode only).
    fn sent(&mut self, bytes: Bytes) -> Bytes {
        if let Some(capture) = self.capture.as_mut() {
            capture.push(&bytes);
        }
        bytes
    }

    /// Looks at each event of a block of whole events; returns the block
    /// itself when nothing had to change (the common case: no copy).
    fn observe(&mut self, block: Bytes) -> Bytes {
        let mut rewritten: Option<BytesMut> = None;
        for range in event_ranges(&block) {
            let event = &block[range.clone()];
            let replacement = self.inspect_event(event);
            match (&mut rewritten, replacement) {
                (None, None) => {}
                (None, Some(new)) => {
                    // First change: copy the untouched events before it.
                    let mut out = BytesMut::with_capacity(block.len());
                    out.extend_from_slice(&block[..range.start]);
                    out.extend_from_slice(&new);
                    rewritten = Some(out);
                }
                (Some(out), None) => out.extend_from_slice(event),
                (Some(out), Some(new)) => out.extend_from_slice(&new),
            }
        }
        match rewritten {
            Some(out) => out.freeze(),
            None => block,
        }
    }

    /// `None`: forward the event as it is. `Some(bytes)`: forward these
    /// bytes instead (empty to drop the event).
    fn inspect_event(&mut self, event: &[u8]) -> Option<Vec<u8>> {
        let data = event_data(event)?;
        match self.format {
            WireFormat::Openai => {}
            // Streams of the other formats are relayed untouched; only the
            // events that carry usage are parsed, to read it.
            WireFormat::Anthropic => {
                if sanitize::scan(&data).usage_object {
                    let event: Value = serde_json::from_slice(&data).ok()?;
                    anthropic::track_usage(&event, &mut self.usage);
                }
                return None;
            }
            WireFormat::Gemini => {
                if memchr::memmem::find(&data, b"\"usageMetadata\"").is_some() {
                    let chunk: Value = serde_json::from_slice(&data).ok()?;
                    gemini::track_usage(&chunk, &mut self.usage);
                }
                return None;
            }
            WireFormat::Responses => {
                if memchr::memmem::find(&data, b"\"usage\"").is_some() {
                    let event: Value = serde_json::from_slice(&data).ok()?;
                    responses::track_usage(&event, &mut self.usage);
                }
                return None;
            }
        }
        // Most chunks carry neither usage (only `"usage":null`) nor vendor
        // fields: those are forwarded without being parsed.
        let found = sanitize::scan(&data);
        if !found.usage_object && !found.vendor_fields {
            return None;
        }
        let mut chunk: Value = serde_json::from_slice(&data).ok()?;
        if let Some(usage) = TokenUsage::from_response(&chunk) {
            self.usage = Some(usage);
        }
        let usage_only = chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| c.is_empty())
            && chunk.get("usage").is_some_and(|u| !u.is_null());
        if usage_only && !self.caller_wants_usage {
            return Some(Vec::new());
        }
        if !sanitize::strip_nonstandard(&mut chunk) {
            return None;
        }
        let mut out = b"data: ".to_vec();
        serde_json::to_writer(&mut out, &chunk).ok()?;
        out.extend_from_slice(b"\n\n");
        Some(out)
    }

    /// Completes the record; dropping the `PendingRecord` sends it.
    fn finish(&mut self, status: u16, error: Option<String>) {
        self.finished = true;
        if let Some(mut pending) = self.pending.take() {
            if let Some(capture) = self.capture.take() {
                pending.record_mut().response_body = Some(capture.finish());
            }
            pending.complete(self.usage, &self.provider, status, error);
        }
    }

    fn mark_first_byte(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            pending.mark_first_byte();
        }
    }
}

/// The error event that ends a broken stream, in the stream's own format.
fn error_event_for(format: WireFormat, message: &str) -> Bytes {
    match format {
        WireFormat::Openai => error_event(message),
        // Mid-stream, a fresh encoder would open a second response first.
        WireFormat::Responses => {
            let body = serde_json::json!({"type": "response.failed", "response": {
                "object": "response", "status": "failed", "output": [],
                "error": {"code": "server_error", "message": message}}});
            Bytes::from(format!("event: response.failed\ndata: {body}\n\n"))
        }
        _ => {
            let mut encoder = StreamEncoder::new(format, false);
            Bytes::from(encoder.encode(&StreamEvent::Error {
                message: message.to_string(),
            }))
        }
    }
}

/// An OpenAI-style error event that ends a broken stream.
pub fn error_event(message: &str) -> Bytes {
    let body = serde_json::json!({
        "error": {"message": message, "type": "upstream_error", "param": null, "code": "stream_interrupted"}
    });
    Bytes::from(format!("data: {body}\n\n"))
}

impl Stream for SseRelay {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    this.mark_first_byte();
                    match this.splitter.push(chunk) {
                        Ok(Some(block)) => {
                            let out = this.observe(block);
                            if !out.is_empty() {
                                return Poll::Ready(Some(Ok(this.sent(out))));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let message = e.to_string();
                            let event = this.sent(error_event_for(this.format, &message));
                            this.finish(502, Some(message));
                            return Poll::Ready(Some(Ok(event)));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let message = e.to_string();
                    let event = this.sent(error_event_for(this.format, &message));
                    this.finish(502, Some(message));
                    return Poll::Ready(Some(Ok(event)));
                }
                Poll::Ready(None) => {
                    let rest = this
                        .splitter
                        .finish()
                        .map(|b| this.observe(b))
                        .map(|b| this.sent(b));
                    this.finish(200, None);
                    return Poll::Ready(rest.filter(|b| !b.is_empty()).map(Ok));
                }
            }
        }
    }
}

impl Drop for SseRelay {
    fn drop(&mut self) {
        if self.pending.is_some() {
            let error = "the client closed the connection before the stream ended";
            self.finish(CLIENT_CLOSED, Some(error.into()));
        }
    }
}
