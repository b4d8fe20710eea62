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

/// OpenAI Chat chunks in, Anthropic Messages events out.
pub struct ChatToMessagesRelay {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    splitter: SseSplitter,
    decoder: openai_chat::StreamDecoder,
    encoder: anthropic::StreamEncoder,
    usage: Option<Usage>,
    /// An error the upstream reported inside its stream.
    upstream_error: Option<String>,
    pending: Option<PendingRecord>,
    provider: Arc<ProviderDef>,
    finished: bool,
}

impl ChatToMessagesRelay {
    pub fn new(
        upstream: BoxStream<'static, reqwest::Result<Bytes>>,
        pending: PendingRecord,
        provider: Arc<ProviderDef>,
    ) -> Self {
        ChatToMessagesRelay {
            upstream,
            splitter: SseSplitter::default(),
            decoder: openai_chat::StreamDecoder::default(),
            encoder: anthropic::StreamEncoder::default(),
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
            if data.as_ref() == b"[DONE]" {
                if let Some(finish) = self.decoder.finish() {
                    self.emit(&finish, &mut out);
                }
                continue;
            }
            let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(&data) else {
                continue;
            };
            for event in self.decoder.chunk(&chunk) {
                self.emit(&event, &mut out);
            }
        }
        out
    }

    fn finish(&mut self, status: u16, error: Option<String>) {
        self.finished = true;
        if let Some(mut pending) = self.pending.take() {
            let started = pending.started();
            let record = pending.record_mut();
            let price = record
                .upstream_model
                .as_deref()
                .and_then(|m| self.provider.model(m));
            record.finish(self.usage, price, status, error, started);
        }
    }

    fn mark_first_byte(&mut self) {
        if let Some(p) = self.pending.as_mut() {
            let elapsed = p.started().elapsed().as_millis() as u64;
            p.record_mut().ttft_ms.get_or_insert(elapsed);
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

impl Stream for ChatToMessagesRelay {
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

impl Drop for ChatToMessagesRelay {
    fn drop(&mut self) {
        if self.pending.is_some() {
            let error = "the client closed the connection before the stream ended";
            self.finish(CLIENT_CLOSED, Some(error.into()));
        }
    }
}
