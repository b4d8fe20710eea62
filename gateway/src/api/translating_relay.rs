//! Relays an upstream stream in another format: upstream SSE -> IR events -> SSE in the caller's format, chunk by chunk.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

use crate::observe::usage::{CLIENT_CLOSED, PendingRecord};
use crate::providers::ProviderDef;
use crate::translate::anthropic;
use crate::translate::ir::{StreamEvent, Usage};
use crate::translate::openai_chat;
use crate::wire::sse::{SseSplitter, event_data, event_ranges};

/// Reads one upstream format's SSE event data into IR events.
pub trait EventDecoder: Send + Unpin + 'static {
    fn data(&mut self, data: &[u8]) -> Vec<StreamEvent>;
    /// The closing event if the upstream never sent its own.
    fn finish(&mut self) -> Option<StreamEvent>;
}

/// Writes IR events as one caller format's SSE frames.
pub trait EventEncoder: Send + Unpin + 'static {
    fn encode(&mut self, event: &StreamEvent) -> String;
}

impl EventDecoder for openai_chat::StreamDecoder {
    fn data(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        if data == b"[DONE]" {
            return self.finish().into_iter().collect();
        }
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(chunk) => self.chunk(&chunk),
            Err(_) => Vec::new(),
        }
    }
    fn finish(&mut self) -> Option<StreamEvent> {
        openai_chat::StreamDecoder::finish(self)
    }
}

impl EventDecoder for anthropic::StreamDecoder {
    fn data(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        match serde_json::from_slice::<serde_json::Value>(data) {
            Ok(event) => self.event(&event),
            Err(_) => Vec::new(),
        }
    }
    fn finish(&mut self) -> Option<StreamEvent> {
        anthropic::StreamDecoder::finish(self)
    }
}

impl EventEncoder for anthropic::StreamEncoder {
    fn encode(&mut self, event: &StreamEvent) -> String {
        anthropic::StreamEncoder::encode(self, event)
    }
}

impl EventEncoder for openai_chat::StreamEncoder {
    fn encode(&mut self, event: &StreamEvent) -> String {
        openai_chat::StreamEncoder::encode(self, event)
    }
}

/// Upstream events in through `D`, caller events out through `E`.
pub struct TranslatingRelay<D, E> {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    splitter: SseSplitter,
    decoder: D,
    encoder: E,
    usage: Option<Usage>,
    /// An error the upstream reported inside its stream.
    upstream_error: Option<String>,
    pending: Option<PendingRecord>,
    provider: Arc<ProviderDef>,
    finished: bool,
}

impl<D: EventDecoder, E: EventEncoder> TranslatingRelay<D, E> {
    pub fn new(
        upstream: BoxStream<'static, reqwest::Result<Bytes>>,
        decoder: D,
        encoder: E,
        pending: PendingRecord,
        provider: Arc<ProviderDef>,
    ) -> Self {
        TranslatingRelay {
            upstream,
            splitter: SseSplitter::default(),
            decoder,
            encoder,
            usage: None,
            upstream_error: None,
            pending: Some(pending),
            provider,
            finished: false,
        }
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
            for event in self.decoder.data(&data) {
                self.emit(&event, &mut out);
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
        self.finish(502, Some(message));
        Bytes::from(out)
    }
}

impl<D, E> TranslatingRelay<D, E> {
    /// Completes the usage record; dropping the `PendingRecord` sends it.
    fn finish(&mut self, status: u16, error: Option<String>) {
        self.finished = true;
        if let Some(mut pending) = self.pending.take() {
            pending.complete(self.usage, &self.provider, status, error);
        }
    }
}

impl<D: EventDecoder, E: EventEncoder> Stream for TranslatingRelay<D, E> {
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
                                return Poll::Ready(Some(Ok(Bytes::from(out))));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(Some(Ok(this.fail(e.to_string())))),
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Ok(
                        this.fail(format!("the upstream stream broke: {e}"))
                    )));
                }
                Poll::Ready(None) => {
                    // The upstream ended, with or without its terminal event:
                    // the caller's stream is closed properly either way.
                    let mut out = match this.splitter.finish() {
                        Some(rest) => this.translate(&rest),
                        None => String::new(),
                    };
                    if let Some(finish) = this.decoder.finish() {
                        this.emit(&finish, &mut out);
                    }
                    match this.upstream_error.take() {
                        Some(message) => this.finish(502, Some(message)),
                        None => this.finish(200, None),
                    }
                    return Poll::Ready((!out.is_empty()).then(|| Ok(Bytes::from(out))));
                }
            }
        }
    }
}

impl<D, E> Drop for TranslatingRelay<D, E> {
    fn drop(&mut self) {
        if self.pending.is_some() {
            let error = "the client closed the connection before the stream ended";
            self.finish(CLIENT_CLOSED, Some(error.into()));
        }
    }
}
