//! Gemini generateContent <-> IR: requests, responses, and the stream decoder and encoder.

use serde_json::{Value, json};

use super::TranslateError;
use super::ir::{Request, Response, StreamEvent, Usage};

/// A request in IR.
pub fn decode_request(_body: &Value) -> Result<Request, TranslateError> {
    Err(TranslateError("not written yet".into()))
}

/// The upstream body for an IR request.
pub fn encode_request(_request: &Request) -> Value {
    json!({})
}

/// An upstream response in IR.
pub fn decode_response(_body: &Value) -> Result<Response, TranslateError> {
    Err(TranslateError("not written yet".into()))
}

/// The caller's body for an IR response.
pub fn encode_response(_response: &Response) -> Value {
    json!({})
}

/// Usage of a whole same-format response body (passthrough accounting).
pub fn usage_of_body(_body: &[u8]) -> Option<Usage> {
    None
}

/// Folds the usage one same-format stream event carries into `usage`.
pub fn track_usage(_event: &Value, _usage: &mut Option<Usage>) {}

/// The error body this format's clients understand.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "message": message}})
}

/// Upstream stream events -> IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {}

impl StreamDecoder {
    /// The IR events of one upstream event's JSON data.
    pub fn event(&mut self, _data: &Value) -> Vec<StreamEvent> {
        Vec::new()
    }

    /// The closing event when the upstream ended without its own.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        None
    }
}

/// IR events -> SSE frames for the caller.
#[derive(Debug, Default)]
pub struct StreamEncoder {}

impl StreamEncoder {
    /// The whole SSE frames (`data: ...\n\n`, with `event:` lines where the format uses them) for one IR event.
    pub fn encode(&mut self, _event: &StreamEvent) -> String {
        String::new()
    }
}
