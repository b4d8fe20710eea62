//! Golden tests: Anthropic Messages fixtures (translate/fixtures/anthropic/) against the IR they stand for, both ways.
//!
//! Decoder expectations (`*.ir.json`, `*.events.json`) are written by hand
//! from Anthropic's documented wire format. Encoder outputs
//! (`request-encode.json`, `response-encode.json`, `encode-*.sse`) are
//! snapshots compared byte for byte, so field order counts: after a
//! reviewed change, rewrite them with
//! `OMNIROUTE_BLESS=1 cargo test -p omniroute --lib translate::anthropic::golden`.

use serde_json::Value;

use super::*;
use crate::translate::golden_support::{normalized, parse, pretty};
use crate::translate::ir::{Request, Response, StreamEvent};
use crate::wire::sse::{event_data, event_ranges};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/anthropic/", $name))
    };
}

/// Checks an encoded body against the JSON fixture of the same name: same
/// values in the same key order; the fixture's spacing is free.
/// [`crate::translate::golden_support::snapshot`] in this format's folder.
fn snapshot(name: &str, expected: &str, actual: &str) {
    crate::translate::golden_support::snapshot("anthropic", name, expected, actual);
}

macro_rules! snapshot_json {
    ($name:literal, $actual:expr) => {
        snapshot($name, &normalized(fixture!($name)), &pretty($actual))
    };
}

/// `(event name, data)` of every event of an SSE body, split the way the
/// relay splits upstream bytes.
fn frames(body: &str) -> Vec<(String, Value)> {
    let bytes = body.as_bytes();
    event_ranges(bytes)
        .into_iter()
        .filter_map(|range| {
            let event = &bytes[range];
            let data = event_data(event)?;
            let name = std::str::from_utf8(event)
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_default()
                .to_string();
            Some((name, serde_json::from_slice(&data).unwrap()))
        })
        .collect()
}

/// Every IR event a whole upstream stream decodes to, with what `finish`
/// adds when the upstream closes.
fn decode_stream(body: &str) -> Vec<StreamEvent> {
    let mut decoder = StreamDecoder::default();
    let mut events: Vec<StreamEvent> = frames(body)
        .iter()
        .flat_map(|(_, data)| decoder.event(data))
        .collect();
    events.extend(decoder.finish());
    events
}

fn encode_stream(events: &[StreamEvent]) -> String {
    let mut encoder = StreamEncoder::default();
    events.iter().map(|e| encoder.encode(e)).collect()
}

#[test]
fn claude_code_request_decodes() {
    let request = decode_request(&parse(fixture!("request-claude-code.json"))).unwrap();
    assert_eq!(
        request,
        parse::<Request>(fixture!("request-claude-code.ir.json"))
    );
}

#[test]
fn sdk_request_decodes() {
    let request = decode_request(&parse(fixture!("request-sdk.json"))).unwrap();
    assert_eq!(request, parse::<Request>(fixture!("request-sdk.ir.json")));
}

#[test]
fn request_encodes() {
    let body = encode_request(&parse(fixture!("request-encode.ir.json")));
    snapshot_json!("request-encode.json", &body);
}

#[test]
fn responses_decode() {
    let cases = [
        (
            "thinking, text and parallel tool calls",
            fixture!("response.json"),
            fixture!("response.ir.json"),
        ),
        (
            "refusal",
            fixture!("response-refusal.json"),
            fixture!("response-refusal.ir.json"),
        ),
    ];
    for (name, body, expected) in cases {
        let response = decode_response(&parse(body)).unwrap();
        assert_eq!(response, parse::<Response>(expected), "{name}");
    }
}

#[test]
fn response_encodes() {
    let body = encode_response(&parse(fixture!("response-encode.ir.json")));
    snapshot_json!("response-encode.json", &body);
}

#[test]
fn upstream_streams_decode() {
    let cases = [
        (
            "text",
            fixture!("stream-text.sse"),
            fixture!("stream-text.events.json"),
        ),
        (
            "tool call with arguments split",
            fixture!("stream-tool-call.sse"),
            fixture!("stream-tool-call.events.json"),
        ),
        (
            "parallel tool calls",
            fixture!("stream-parallel-tools.sse"),
            fixture!("stream-parallel-tools.events.json"),
        ),
        (
            "thinking with signature",
            fixture!("stream-reasoning.sse"),
            fixture!("stream-reasoning.events.json"),
        ),
        (
            "cut before message_stop",
            fixture!("stream-cut.sse"),
            fixture!("stream-cut.events.json"),
        ),
        (
            "error event",
            fixture!("stream-error.sse"),
            fixture!("stream-error.events.json"),
        ),
    ];
    for (name, sse, expected) in cases {
        assert_eq!(
            decode_stream(sse),
            parse::<Vec<StreamEvent>>(expected),
            "{name}"
        );
    }
}

#[test]
fn a_cut_stream_is_closed_by_finish_once_and_an_error_ends_it() {
    let mut decoder = StreamDecoder::default();
    for (_, data) in frames(fixture!("stream-cut.sse")) {
        assert!(
            !decoder
                .event(&data)
                .iter()
                .any(|e| matches!(e, StreamEvent::Finish { .. })),
            "no Finish before the upstream closes"
        );
    }
    assert!(matches!(decoder.finish(), Some(StreamEvent::Finish { .. })));
    assert_eq!(decoder.finish(), None);

    let mut decoder = StreamDecoder::default();
    for (_, data) in frames(fixture!("stream-error.sse")) {
        decoder.event(&data);
    }
    assert_eq!(decoder.finish(), None, "an error is the stream's last word");
    let late = serde_json::json!({"type": "message_stop"});
    assert!(decoder.event(&late).is_empty());
}

const ENCODE_CASES: [(&str, &str); 6] = [
    ("encode-text", fixture!("encode-text.events.json")),
    (
        "encode-tool-split",
        fixture!("encode-tool-split.events.json"),
    ),
    (
        "encode-parallel-tools",
        fixture!("encode-parallel-tools.events.json"),
    ),
    ("encode-reasoning", fixture!("encode-reasoning.events.json")),
    (
        "encode-reasoning-signed",
        fixture!("encode-reasoning-signed.events.json"),
    ),
    ("encode-error", fixture!("encode-error.events.json")),
];

#[test]
fn ir_events_encode_to_anthropic_sse() {
    let expected = [
        fixture!("encode-text.sse"),
        fixture!("encode-tool-split.sse"),
        fixture!("encode-parallel-tools.sse"),
        fixture!("encode-reasoning.sse"),
        fixture!("encode-reasoning-signed.sse"),
        fixture!("encode-error.sse"),
    ];
    for ((case, events), expected) in ENCODE_CASES.into_iter().zip(expected) {
        let sse = encode_stream(&parse::<Vec<StreamEvent>>(events));
        snapshot(&format!("{case}.sse"), expected, &sse);
    }
}

/// The encoder's output follows the Messages event grammar the SDKs
/// parse: each `event:` names its data's `type`, blocks are numbered from
/// 0 without gaps and each one that starts also stops, and a finished
/// stream ends with `message_delta` then `message_stop`.
#[test]
fn encoded_streams_follow_the_messages_event_grammar() {
    for (case, events) in ENCODE_CASES {
        let sse = encode_stream(&parse::<Vec<StreamEvent>>(events));
        let frames = frames(&sse);
        assert_eq!(frames[0].0, "message_start", "{case}");
        let mut open: Option<u64> = None;
        let mut next: u64 = 0;
        for (name, data) in &frames {
            assert_eq!(data["type"], name.as_str(), "{case}");
            match name.as_str() {
                "content_block_start" => {
                    assert_eq!(open, None, "{case}: one block at a time");
                    assert_eq!(data["index"], next, "{case}");
                    open = data["index"].as_u64();
                    next += 1;
                }
                "content_block_delta" => assert_eq!(data["index"].as_u64(), open, "{case}"),
                "content_block_stop" => {
                    assert_eq!(data["index"].as_u64(), open, "{case}");
                    open = None;
                }
                _ => {}
            }
        }
        let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
        match names.last() {
            Some(&"error") => {}
            _ => {
                assert_eq!(open, None, "{case}");
                assert_eq!(
                    names[names.len() - 2..],
                    ["message_delta", "message_stop"],
                    "{case}"
                );
            }
        }
    }
}

/// `events` with each run of argument deltas of one call joined into one.
fn joined_arguments(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::new();
    for event in events {
        if let (
            Some(StreamEvent::ToolCallArgumentsDelta {
                index: last,
                json: joined,
            }),
            StreamEvent::ToolCallArgumentsDelta { index, json },
        ) = (out.last_mut(), &event)
            && last == index
        {
            joined.push_str(json);
            continue;
        }
        out.push(event);
    }
    out
}

/// What the encoder writes decodes back to the events it was given: the
/// encode fixtures, and every upstream fixture after one decode.
#[test]
fn encoded_streams_decode_back() {
    for (case, events) in ENCODE_CASES {
        let mut events: Vec<StreamEvent> = parse(events);
        // Reasoning tokens have no field in Anthropic usage.
        for event in &mut events {
            if let StreamEvent::Finish { usage, .. } = event {
                usage.reasoning = 0;
            }
        }
        // Foreign (unsigned) reasoning is not shown to Claude clients.
        events.retain(|e| !super::is_reasoning(e));
        // Calls after the first are sent whole, their pieces joined.
        assert_eq!(
            joined_arguments(decode_stream(&encode_stream(&events))),
            joined_arguments(events),
            "{case}"
        );
    }
    for sse in [
        fixture!("stream-text.sse"),
        fixture!("stream-tool-call.sse"),
        fixture!("stream-parallel-tools.sse"),
        fixture!("stream-reasoning.sse"),
        fixture!("stream-error.sse"),
    ] {
        let mut decoded = decode_stream(sse);
        decoded.retain(|e| !super::is_reasoning(e));
        assert_eq!(
            joined_arguments(decode_stream(&encode_stream(&decoded))),
            joined_arguments(decoded)
        );
    }
}

/// A decoded request encodes to a body that decodes to the same IR, less
/// what Anthropic's request cannot say twice the same way (system blocks
/// become one string; redacted thinking and cache_control have no IR form).
#[test]
fn claude_code_request_survives_a_trip_through_the_encoder() {
    let request = decode_request(&parse(fixture!("request-claude-code.json"))).unwrap();
    let again = decode_request(&encode_request(&request)).unwrap();
    assert_eq!(again.tools, request.tools);
    assert_eq!(again.reasoning_budget, request.reasoning_budget);
    assert_eq!(again.max_tokens, request.max_tokens);
    let turns = |r: &Request| -> Vec<Message> {
        r.messages
            .iter()
            .filter(|m| m.role != Role::System)
            .cloned()
            .collect()
    };
    assert_eq!(turns(&again), turns(&request));
}
