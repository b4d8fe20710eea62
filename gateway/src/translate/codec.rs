//! One entry point per conversion, dispatching on the wire format, so callers name a format instead of a module.

use serde_json::Value;

use super::ir::{Request, Response, StreamEvent, Usage};
use super::{TranslateError, anthropic, gemini, openai_chat, responses};
use crate::providers::WireFormat;

/// A request in `format` -> IR.
pub fn decode_request(format: WireFormat, body: &Value) -> Result<Request, TranslateError> {
    match format {
        WireFormat::Openai => openai_chat::decode_request(body),
        WireFormat::Anthropic => anthropic::decode_request(body),
        WireFormat::Gemini => gemini::decode_request(body),
        WireFormat::Responses => responses::decode_request(body),
    }
}

/// IR -> a request body in `format`.
pub fn encode_request(format: WireFormat, request: &Request) -> Value {
    match format {
        WireFormat::Openai => openai_chat::encode_request(request),
        WireFormat::Anthropic => anthropic::encode_request(request),
        WireFormat::Gemini => gemini::encode_request(request),
        WireFormat::Responses => responses::encode_request(request),
    }
}

/// A whole response in `format` -> IR.
pub fn decode_response(format: WireFormat, body: &Value) -> Result<Response, TranslateError> {
    match format {
        WireFormat::Openai => openai_chat::decode_response(body),
        WireFormat::Anthropic => anthropic::decode_response(body),
        WireFormat::Gemini => gemini::decode_response(body),
        WireFormat::Responses => responses::decode_response(body),
    }
}

/// IR -> a whole response body in `format`.
pub fn encode_response(format: WireFormat, response: &Response) -> Value {
    match format {
        WireFormat::Openai => openai_chat::encode_response(response),
        WireFormat::Anthropic => anthropic::encode_response(response),
        WireFormat::Gemini => gemini::encode_response(response),
        WireFormat::Responses => responses::encode_response(response),
    }
}

/// Usage of a whole response body in `format`, for same-format relays.
pub fn usage_of_body(format: WireFormat, body: &[u8]) -> Option<Usage> {
    match format {
        WireFormat::Openai => Usage::from_json_bytes(body),
        WireFormat::Anthropic => anthropic::usage_of_body(body),
        WireFormat::Gemini => gemini::usage_of_body(body),
        WireFormat::Responses => responses::usage_of_body(body),
    }
}

/// Reads one upstream stream format's events into IR events.
#[derive(Debug)]
pub enum StreamDecoder {
    Openai(openai_chat::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
    Gemini(gemini::StreamDecoder),
    Responses(responses::StreamDecoder),
}

impl StreamDecoder {
    pub fn new(format: WireFormat) -> StreamDecoder {
        match format {
            WireFormat::Openai => StreamDecoder::Openai(Default::default()),
            WireFormat::Anthropic => StreamDecoder::Anthropic(Default::default()),
            WireFormat::Gemini => StreamDecoder::Gemini(Default::default()),
            WireFormat::Responses => StreamDecoder::Responses(Default::default()),
        }
    }

    /// The IR events of one SSE event's `data`. Data that is not JSON is
    /// skipped: providers send keep-alive comments and the odd blank event.
    pub fn data(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        if data == b"[DONE]" {
            return self.finish().into_iter().collect();
        }
        let Ok(value) = serde_json::from_slice::<Value>(data) else {
            return Vec::new();
        };
        match self {
            StreamDecoder::Openai(d) => d.chunk(&value),
            StreamDecoder::Anthropic(d) => d.event(&value),
            StreamDecoder::Gemini(d) => d.event(&value),
            StreamDecoder::Responses(d) => d.event(&value),
        }
    }

    /// The closing event when the upstream ended without its own.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        match self {
            StreamDecoder::Openai(d) => d.finish(),
            StreamDecoder::Anthropic(d) => d.finish(),
            StreamDecoder::Gemini(d) => d.finish(),
            StreamDecoder::Responses(d) => d.finish(),
        }
    }
}

/// Writes IR events as one caller format's SSE frames.
#[derive(Debug)]
pub enum StreamEncoder {
    Openai(openai_chat::StreamEncoder),
    Anthropic(anthropic::StreamEncoder),
    Gemini(gemini::StreamEncoder),
    Responses(responses::StreamEncoder),
}

impl StreamEncoder {
    /// `include_usage`: an OpenAI Chat caller asked for the usage chunk.
    pub fn new(format: WireFormat, include_usage: bool) -> StreamEncoder {
        match format {
            WireFormat::Openai => {
                StreamEncoder::Openai(openai_chat::StreamEncoder::new(include_usage))
            }
            WireFormat::Anthropic => StreamEncoder::Anthropic(Default::default()),
            WireFormat::Gemini => StreamEncoder::Gemini(Default::default()),
            WireFormat::Responses => StreamEncoder::Responses(Default::default()),
        }
    }

    pub fn encode(&mut self, event: &StreamEvent) -> String {
        match self {
            StreamEncoder::Openai(e) => e.encode(event),
            StreamEncoder::Anthropic(e) => e.encode(event),
            StreamEncoder::Gemini(e) => e.encode(event),
            StreamEncoder::Responses(e) => e.encode(event),
        }
    }
}
