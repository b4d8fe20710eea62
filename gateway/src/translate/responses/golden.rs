//! Golden tests: fixture files in the Responses wire format against the IR they mean, both ways.
//!
//! Fixtures live in `translate/fixtures/responses/`. The encoder outputs
//! (`response-encode.json`, `encode-*.sse`) are snapshots: after a reviewed
//! change, rewrite them with `OMNIROUTE_BLESS=1 cargo test -p omniroute --lib translate::responses`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::response::encode_response_at;
use super::*;
use crate::translate::ir::{
    Message, Part, Request, Response, Role, StopReason, StreamEvent, Tool, ToolChoice,
};
use crate::wire::sse::{event_data, event_ranges};

/// A fixed clock, so snapshots do not change with the time they run.
const CREATED_AT: u64 = 1764320700;

fn path(name: &str) -> String {
    format!(
        "{}/src/translate/fixtures/responses/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn read(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Compares `actual` with the snapshot `name`, or rewrites the snapshot
/// when blessing.
fn snapshot(name: &str, actual: &str) {
    if std::env::var_os("OMNIROUTE_BLESS").is_some() {
        std::fs::write(path(name), actual).unwrap();
        return;
    }
    let expected = read(name);
    assert!(
        expected == actual,
        "{name} differs from the encoder's output:\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// The `data` JSON of each event of an SSE body, split the way the relay
/// splits upstream bytes.
fn sse_data(body: &str) -> Vec<Value> {
    let bytes = body.as_bytes();
    event_ranges(bytes)
        .into_iter()
        .filter_map(|range| event_data(&bytes[range]).map(|d| serde_json::from_slice(&d).unwrap()))
        .collect()
}

/// Every IR event a whole upstream stream decodes to, with what `finish`
/// adds when the stream ends.
fn decode_stream(body: &str) -> Vec<StreamEvent> {
    let mut decoder = StreamDecoder::default();
    let mut events: Vec<StreamEvent> = sse_data(body)
        .iter()
        .flat_map(|d| decoder.event(d))
        .collect();
    events.extend(decoder.finish());
    events
}

fn encode_stream(events: &[StreamEvent]) -> String {
    let mut encoder = StreamEncoder::default();
    encoder.created_at = CREATED_AT;
    events.iter().map(|e| encoder.encode(e)).collect()
}

#[test]
fn codex_request_decodes() {
    let request = decode_request(&load("request-codex.json")).unwrap();
    assert_eq!(request, load::<Request>("request-codex.ir.json"));
}

#[test]
fn sdk_request_decodes() {
    let request = decode_request(&load("request-sdk.json")).unwrap();
    assert_eq!(request, load::<Request>("request-sdk.ir.json"));
}

#[test]
fn request_encodes() {
    let body = encode_request(&load("request-encode.ir.json"));
    assert_eq!(body, load::<Value>("request-encode.json"));
}

#[test]
fn response_decodes() {
    let response = decode_response(&load("response.json")).unwrap();
    assert_eq!(response, load::<Response>("response.ir.json"));
}

#[test]
fn response_encodes() {
    let body = encode_response_at(&load("response-encode.ir.json"), CREATED_AT);
    let mut text = serde_json::to_string_pretty(&body).unwrap();
    text.push('\n');
    snapshot("response-encode.json", &text);
}

#[test]
fn streams_decode() {
    for case in [
        "stream-text",
        "stream-tool-call",
        "stream-parallel-tools",
        "stream-reasoning",
        "stream-cut",
        "stream-error",
    ] {
        let events = decode_stream(&read(&format!("{case}.sse")));
        let expected: Vec<StreamEvent> = load(&format!("{case}.events.json"));
        assert_eq!(events, expected, "{case}");
    }
}

#[test]
fn a_cut_stream_is_closed_by_finish_and_an_error_ends_it() {
    let mut decoder = StreamDecoder::default();
    for data in sse_data(&read("stream-cut.sse")) {
        decoder.event(&data);
    }
    assert!(matches!(decoder.finish(), Some(StreamEvent::Finish { .. })));
    assert_eq!(decoder.finish(), None);

    let mut decoder = StreamDecoder::default();
    let events: Vec<StreamEvent> = sse_data(&read("stream-error.sse"))
        .iter()
        .flat_map(|d| decoder.event(d))
        .collect();
    let errors = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Error { .. }))
        .count();
    assert_eq!(errors, 1, "`error` and `response.failed` are one failure");
    assert_eq!(decoder.finish(), None);
}

#[test]
fn streams_encode() {
    for case in ["encode-text-tools", "encode-reasoning", "encode-error"] {
        let events: Vec<StreamEvent> = load(&format!("{case}.events.json"));
        snapshot(&format!("{case}.sse"), &encode_stream(&events));
    }
}

/// What the encoder writes decodes back to the same events, for every
/// fixture stream.
#[test]
fn encoded_streams_decode_back() {
    for case in [
        "stream-text",
        "stream-tool-call",
        "stream-parallel-tools",
        "stream-reasoning",
        "stream-error",
    ] {
        let events: Vec<StreamEvent> = load(&format!("{case}.events.json"));
        assert_eq!(decode_stream(&encode_stream(&events)), events, "{case}");
    }
    // These start from other formats' ids, which gain the `resp_` prefix.
    for case in ["encode-text-tools", "encode-reasoning", "encode-error"] {
        let mut events: Vec<StreamEvent> = load(&format!("{case}.events.json"));
        if let Some(StreamEvent::Start { id, .. }) = events.first_mut() {
            *id = super::response_id(id);
        }
        assert_eq!(
            decode_stream(&read(&format!("{case}.sse"))),
            events,
            "{case}"
        );
    }
}

/// The encoder's lifecycle as the openai SDKs and Codex read it: every
/// item added is done, with the same output index, and the final response
/// holds exactly the done items.
#[test]
fn encoded_lifecycle_is_consistent() {
    for case in ["encode-text-tools", "encode-reasoning"] {
        let frames = sse_data(&read(&format!("{case}.sse")));
        let of =
            |kind: &str| -> Vec<&Value> { frames.iter().filter(|f| f["type"] == kind).collect() };
        let added = of("response.output_item.added");
        let done = of("response.output_item.done");
        assert_eq!(added.len(), done.len(), "{case}");
        for (n, (a, d)) in added.iter().zip(&done).enumerate() {
            assert_eq!(a["output_index"], n, "{case}");
            assert_eq!(d["output_index"], n, "{case}");
            assert_eq!(a["item"]["id"], d["item"]["id"], "{case}");
        }
        let completed = frames.last().unwrap();
        assert_eq!(completed["type"], "response.completed");
        let output: Vec<&Value> = completed["response"]["output"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let items: Vec<&Value> = done.iter().map(|d| &d["item"]).collect();
        assert_eq!(output, items, "{case}");
        for (n, frame) in frames.iter().enumerate() {
            assert_eq!(frame["sequence_number"], n, "{case}");
        }
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> Part {
    Part::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[test]
fn requests_round_trip() {
    let request = Request {
        model: "gpt-5".into(),
        messages: vec![
            Message {
                role: Role::System,
                parts: vec![Part::text("be brief")],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::text("what is in this picture?"),
                    Part::Image {
                        url: "data:image/png;base64,iVBORw0KGgo=".into(),
                    },
                    Part::Image {
                        url: "https://example.com/a.png".into(),
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Reasoning {
                        text: "look closer".into(),
                        signature: Some("gAAAA-sig".into()),
                    },
                    Part::text("A cat. Checking its name."),
                    tool_call("call_1", "lookup", "{\"animal\":\"cat\"}"),
                    tool_call("call_2", "lookup", "{\"animal\":\"dog\"}"),
                ],
            },
            Message {
                role: Role::Tool,
                parts: vec![
                    Part::ToolResult {
                        call_id: "call_1".into(),
                        content: "Tom".into(),
                        is_error: false,
                    },
                    Part::ToolResult {
                        call_id: "call_2".into(),
                        content: "none".into(),
                        is_error: false,
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![Part::text("It is Tom.")],
            },
            Message {
                role: Role::User,
                parts: vec![Part::text("thanks")],
            },
        ],
        tools: vec![Tool {
            name: "lookup".into(),
            description: Some("Looks an animal up.".into()),
            parameters: serde_json::json!({"type": "object", "properties": {"animal": {"type": "string"}}}),
        }],
        tool_choice: Some(ToolChoice::Tool {
            name: "lookup".into(),
        }),
        max_tokens: Some(2048),
        temperature: Some(0.5),
        top_p: Some(0.8),
        stop: Vec::new(),
        stream: true,
        reasoning_budget: None,
        reasoning_effort: Some(crate::translate::ir::Effort::High),
        response_format: Some(crate::translate::ir::ResponseFormat::JsonSchema {
            name: "out".into(),
            schema: serde_json::json!({"type": "object"}),
            strict: true,
        }),
    };
    assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
}

#[test]
fn responses_round_trip() {
    let response = Response {
        id: "resp_abc123".into(),
        model: "gpt-5".into(),
        parts: vec![
            Part::Reasoning {
                text: "thinking".into(),
                signature: Some("gAAAA".into()),
            },
            Part::text("First."),
            Part::text("Second."),
            tool_call("call_1", "a", "{}"),
            tool_call("call_2", "b", "{\"x\":1}"),
        ],
        stop: StopReason::ToolUse,
        usage: crate::translate::ir::Usage {
            input: 100,
            output: 40,
            cached: 60,
            reasoning: 20,
        },
    };
    assert_eq!(
        decode_response(&encode_response(&response)).unwrap(),
        response
    );
    let body = serde_json::to_vec(&encode_response(&response)).unwrap();
    assert_eq!(usage_of_body(&body), Some(response.usage));
}
