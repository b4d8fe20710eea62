//! Relays an upstream stream in another format: upstream SSE -> IR events -> SSE in the caller's format, chunk by chunk.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use crate::observe::bodies::StreamCapture;
use crate::observe::usage::{CLIENT_CLOSED, PendingRecord};
use crate::providers::{ProviderDef, WireFormat};
use crate::routing::fallback::UpstreamBody;
use crate::translate::codec::{StreamDecoder, StreamEncoder};
use crate::translate::ir::{StreamEvent, Usage};
use crate::translate::normalize::ThinkExtractor;
use crate::wire::sse::{SseSplitter, event_data, event_ranges};

/// Upstream events in through the decoder, caller events out through the encoder.
pub struct TranslatingRelay {
    upstream: UpstreamBody,
    splitter: SseSplitter,
    decoder: StreamDecoder,
    /// Set for OpenAI-compatible upstreams, whose reasoning models may
    /// inline their reasoning as `<think>...</think>` text.
    think: Option<ThinkExtractor>,
    encoder: StreamEncoder,
    usage: Option<Usage>,
    /// An error the upstream reported inside its stream.
    upstream_error: Option<String>,
    pending: Option<PendingRecord>,
    provider: Arc<ProviderDef>,
    finished: bool,
    /// Debug mode (`log_bodies`): what the caller was sent, for the record.
    capture: Option<StreamCapture>,
}

impl TranslatingRelay {
    /// Relays `upstream`, in the provider's format, to a caller that
    /// speaks `encoder`'s format.
    pub fn new(
        upstream: UpstreamBody,
        encoder: StreamEncoder,
        pending: PendingRecord,
        provider: Arc<ProviderDef>,
    ) -> Self {
        TranslatingRelay {
            upstream,
            splitter: SseSplitter::default(),
            decoder: StreamDecoder::new(provider.format),
            think: (provider.format == WireFormat::Openai).then(ThinkExtractor::default),
            encoder,
            usage: None,
            upstream_error: None,
            pending: Some(pending),
            provider,
            finished: false,
            capture: None,
        }
    }

    /// Keeps the bytes sent to the caller (up to 256 KiB) in the usage
    /// record when `on` (setting `log_bodies`).
    pub fn log_body(mut self, on: bool) -> Self {
        if on {
            self.capture = Some(StreamCapture::default());
        }
        self
    }

    /// Notes `text` as sent to the caller (debug mode only).
    fn sent(&mut self, text: String) -> Bytes {
        if let Some(capture) = self.capture.as_mut() {
            capture.push(text.as_bytes());
        }
        Bytes::from(text)
    }

    fn emit(&mut self, event: &StreamEvent, out: &mut String) {
        match event {
            StreamEvent::Finish { usage, .. } => self.usage = Some(*usage),
            StreamEvent::Error { message } => self.upstream_error = Some(message.clone()),
            _ => {}
        }
        out.push_str(&self.encoder.encode(event));
    }

    /// Translates a block of whole upstream events.
    fn translate(&mut self, block: &[u8]) -> String {
        let mut out = String::new();
        for range in event_ranges(block) {
            let Some(data) = event_data(&block[range]) else {
                continue;
            };
            let mut events = self.decoder.data(&data);
            if let Some(think) = self.think.as_mut() {
                events = think.process(events);
            }
            for event in events {
                // A reasoning signature verifies only with the family that
                // made it, and the caller here speaks another format.
                if !matches!(event, StreamEvent::ReasoningSignature { .. }) {
                    self.emit(&event, &mut out);
                }
            }
        }
        out
    }

    fn mark_first_byte(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            pending.mark_first_byte();
        }
    }

    /// Ends the caller's stream with an error event in its format.
    fn fail(&mut self, message: String) -> Bytes {
        let out = self.encoder.encode(&StreamEvent::Error {
            message: message.clone(),
        });
        let out = self.sent(out);
        self.finish(502, Some(message));
        out
    }

    /// Completes the usage record; dropping the `PendingRecord` sends it.
    fn finish(&mut self, status: u16, error: Option<String>) {
        self.finished = true;
        if let Some(mut pending) = self.pending.take() {
            if let Some(capture) = self.capture.take() {
                pending.record_mut().response_body = Some(capture.finish());
            }
            pending.complete(self.usage, &self.provider, status, error);
        }
    }
}

impl Stream for TranslatingRelay {
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
                            let out = this.translate(&block);
                            if !out.is_empty() {
                                return Poll::Ready(Some(Ok(this.sent(out))));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(Some(Ok(this.fail(e.to_string())))),
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Ok(this.fail(e.to_string()))));
                }
                Poll::Ready(None) => {
                    // The upstream ended, with or without its terminal event:
                    // the caller's stream is closed properly either way.
                    let mut out = match this.splitter.finish() {
                        Some(rest) => this.translate(&rest),
                        None => String::new(),
                    };
                    let mut closing: Vec<StreamEvent> = this.decoder.finish().into_iter().collect();
                    if let Some(think) = this.think.as_mut() {
                        closing = think.process(closing);
                    }
                    for event in closing {
                        this.emit(&event, &mut out);
                    }
                    let out = (!out.is_empty()).then(|| this.sent(out));
                    match this.upstream_error.take() {
                        Some(message) => this.finish(502, Some(message)),
                        None => this.finish(200, None),
                    }
                    return Poll::Ready(out.map(Ok));
                }
            }
        }
    }
}

impl Drop for TranslatingRelay {
    fn drop(&mut self) {
        if self.pending.is_some() {
            let error = "the client closed the connection before the stream ended";
            self.finish(CLIENT_CLOSED, Some(error.into()));
        }
    }
}
