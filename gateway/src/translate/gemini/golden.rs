//! Golden tests: Gemini wire fixtures (translate/fixtures/gemini/) against the IR they stand for.

use serde_json::Value;

use super::*;
use crate::translate::ir::{Request, Response, StreamEvent};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/gemini/", $name))
    };
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Compact JSON text in the fixture's own key order, so a comparison of
/// two such strings also checks field order.
fn ordered(value: &Value) -> String {
    value.to_string()
}

/// Feeds every `data:` event of an SSE body to a fresh decoder, then
/// closes it as the relay does when the upstream ends.
fn decode_sse(sse: &str) -> Vec<StreamEvent> {
    let mut decoder = StreamDecoder::default();
    let mut events: Vec<StreamEvent> = sse
        .split("\r\n\r\n")
        .flat_map(|frame| frame.split("\n\n"))
        .filter_map(|frame| frame.trim().strip_prefix("data: "))
        .flat_map(|data| decoder.event(&json(data)))
        .collect();
    events.extend(decoder.finish());
    events
}

fn events(text: &str) -> Vec<StreamEvent> {
    serde_json::from_str(text).unwrap()
}

#[test]
fn gemini_cli_tool_turn_decodes_to_ir() {
    let expected: Request = serde_json::from_str(fixture!("request-cli-tool.ir.json")).unwrap();
    assert_eq!(
        decode_request(&json(fixture!("request-cli-tool.json"))).unwrap(),
        expected
    );
}

#[test]
fn snake_case_sdk_request_decodes_to_ir() {
    let expected: Request = serde_json::from_str(fixture!("request-sdk-snake.ir.json")).unwrap();
    assert_eq!(
        decode_request(&json(fixture!("request-sdk-snake.json"))).unwrap(),
        expected
    );
}

#[test]
fn ir_request_encodes_to_gemini_body() {
    let request: Request = serde_json::from_str(fixture!("request-encode.ir.json")).unwrap();
    assert_eq!(
        ordered(&encode_request(&request)),
        ordered(&json(fixture!("request-encode.json")))
    );
}

#[test]
fn tool_call_response_decodes_to_ir() {
    let expected: Response = serde_json::from_str(fixture!("response-tool-call.ir.json")).unwrap();
    assert_eq!(
        decode_response(&json(fixture!("response-tool-call.json"))).unwrap(),
        expected
    );
}

#[test]
fn blocked_prompt_decodes_to_a_content_filter_stop() {
    let expected: Response = serde_json::from_str(fixture!("response-blocked.ir.json")).unwrap();
    assert_eq!(
        decode_response(&json(fixture!("response-blocked.json"))).unwrap(),
        expected
    );
}

#[test]
fn error_body_decodes_to_an_error_with_google_s_message() {
    let err = decode_response(&json(fixture!("error-429.json"))).unwrap_err();
    assert_eq!(
        err.0,
        "You exceeded your current quota, please check your plan and billing details. (RESOURCE_EXHAUSTED)"
    );
}

#[test]
fn ir_response_encodes_to_gemini_body() {
    let response: Response = serde_json::from_str(fixture!("response-encode.ir.json")).unwrap();
    assert_eq!(
        ordered(&encode_response(&response)),
        ordered(&json(fixture!("response-encode.json")))
    );
}

#[test]
fn streams_decode_to_ir_events() {
    let cases = [
        (
            "text",
            fixture!("stream-text.sse"),
            fixture!("stream-text.events.json"),
        ),
        (
            "tool call",
            fixture!("stream-tool-call.sse"),
            fixture!("stream-tool-call.events.json"),
        ),
        (
            "parallel calls",
            fixture!("stream-parallel-calls.sse"),
            fixture!("stream-parallel-calls.events.json"),
        ),
        (
            "reasoning",
            fixture!("stream-reasoning.sse"),
            fixture!("stream-reasoning.events.json"),
        ),
        (
            "cut before finishReason",
            fixture!("stream-cut.sse"),
            fixture!("stream-cut.events.json"),
        ),
        (
            "upstream error",
            fixture!("stream-error.sse"),
            fixture!("stream-error.events.json"),
        ),
    ];
    for (name, sse, expected) in cases {
        assert!(sse.contains("\r\n\r\n"), "{name}: Google frames with CRLF");
        assert_eq!(decode_sse(sse), events(expected), "{name}");
    }
}

#[test]
fn ir_events_encode_to_gemini_sse() {
    let cases = [
        (
            "text",
            fixture!("encode-text.events.json"),
            fixture!("encode-text.sse"),
        ),
        (
            "tool call arguments split across deltas",
            fixture!("encode-tool-split.events.json"),
            fixture!("encode-tool-split.sse"),
        ),
        (
            "reasoning",
            fixture!("encode-reasoning.events.json"),
            fixture!("encode-reasoning.sse"),
        ),
        (
            "error",
            fixture!("encode-error.events.json"),
            fixture!("encode-error.sse"),
        ),
    ];
    for (name, input, expected) in cases {
        let mut encoder = StreamEncoder::default();
        let sse: String = events(input).iter().map(|e| encoder.encode(e)).collect();
        assert_eq!(sse, expected, "{name}");
    }
}

#[test]
fn decoded_streams_survive_a_trip_through_the_encoder() {
    for sse in [
        fixture!("stream-text.sse"),
        fixture!("stream-parallel-calls.sse"),
        fixture!("stream-reasoning.sse"),
        fixture!("stream-tool-call.sse"),
    ] {
        let decoded = decode_sse(sse);
        let mut encoder = StreamEncoder::default();
        let again: String = decoded.iter().map(|e| encoder.encode(e)).collect();
        assert_eq!(decode_sse(&again), decoded);
    }
}
