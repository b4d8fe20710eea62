//! Golden tests: OpenAI Chat Completions fixtures (translate/fixtures/openai_chat/) against the IR they stand for, both ways.
//!
//! Decoder expectations (`*.ir.json`, `*.events.json`) are written by hand
//! from OpenAI's documented wire format and recorded streams. Encoder
//! outputs (`request-encode.json`, `response-encode.json`, `encode-*.sse`)
//! are snapshots compared byte for byte, so field order counts: after a
//! reviewed change, rewrite them with
//! `OMNIROUTE_BLESS=1 cargo test -p omniroute --lib translate::openai_chat::golden`.

use serde_json::Value;

use super::*;
use crate::translate::golden_support::{normalized, parse, pretty};
use crate::translate::ir::{Request, Response, StreamEvent};
use crate::wire::sse::{event_data, event_ranges};

/// A fixed clock, so snapshots do not change with the time they run.
const CREATED: u64 = 1764320700;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/openai_chat/", $name))
    };
}

/// Checks an encoded body against the JSON fixture of the same name: same
/// values in the same key order; the fixture's spacing is free.
/// [`crate::translate::golden_support::snapshot`] in this format's folder.
fn snapshot(name: &str, expected: &str, actual: &str) {
    crate::translate::golden_support::snapshot("openai_chat", name, expected, actual);
}

macro_rules! snapshot_json {
    ($name:literal, $actual:expr) => {
        snapshot($name, &normalized(fixture!($name)), &pretty($actual))
    };
}

/// The `data` of every event of an SSE body, split the way the relay
/// splits upstream bytes.
fn sse_data(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    event_ranges(bytes)
        .into_iter()
        .filter_map(|range| event_data(&bytes[range]))
        .map(|d| String::from_utf8(d.into_owned()).unwrap())
        .collect()
}

/// Every IR event a whole upstream stream decodes to. As in the relay,
/// `[DONE]` and the end of the bytes both call `finish`.
fn decode_stream(body: &str) -> Vec<StreamEvent> {
    let mut decoder = StreamDecoder::default();
    let mut events = Vec::new();
    for data in sse_data(body) {
        if data == "[DONE]" {
            events.extend(decoder.finish());
        } else {
            events.extend(decoder.chunk(&parse(&data)));
        }
    }
    events.extend(decoder.finish());
    events
}

fn encode_stream(events: &[StreamEvent], include_usage: bool) -> String {
    let mut encoder = StreamEncoder::new(include_usage);
    encoder.created = CREATED;
    events.iter().map(|e| encoder.encode(e)).collect()
}

#[test]
fn sdk_request_decodes() {
    let request = decode_request(&parse(fixture!("request-sdk.json"))).unwrap();
    assert_eq!(request, parse::<Request>(fixture!("request-sdk.ir.json")));
}

#[test]
fn opencode_request_decodes() {
    let request = decode_request(&parse(fixture!("request-opencode.json"))).unwrap();
    assert_eq!(
        request,
        parse::<Request>(fixture!("request-opencode.ir.json"))
    );
}

#[test]
fn request_encodes() {
    let body = encode_request(&parse(fixture!("request-encode.ir.json")));
    snapshot_json!("request-encode.json", &body);
}

/// Nothing an OpenAI client can say in the SDK fixture is lost on a trip
/// IR -> OpenAI -> IR.
#[test]
fn sdk_request_survives_a_trip_through_the_encoder() {
    let request: Request = parse(fixture!("request-sdk.ir.json"));
    assert_eq!(decode_request(&encode_request(&request)).unwrap(), request);
}

#[test]
fn responses_decode() {
    let cases = [
        (
            "parallel tool calls",
            fixture!("response.json"),
            fixture!("response.ir.json"),
        ),
        (
            "reasoning_content, cut by length",
            fixture!("response-reasoning.json"),
            fixture!("response-reasoning.ir.json"),
        ),
    ];
    for (name, body, expected) in cases {
        let response = decode_response(&parse(body)).unwrap();
        assert_eq!(response, parse::<Response>(expected), "{name}");
    }
}

#[test]
fn response_encodes() {
    let mut body = encode_response(&parse(fixture!("response-encode.ir.json")));
    assert!(body["created"].is_u64());
    body["created"] = CREATED.into();
    snapshot_json!("response-encode.json", &body);
}

#[test]
fn upstream_streams_decode() {
    let cases = [
        (
            "text with a usage chunk",
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
            "DeepSeek reasoning_content",
            fixture!("stream-reasoning.sse"),
            fixture!("stream-reasoning.events.json"),
        ),
        (
            "cut before finish_reason",
            fixture!("stream-cut.sse"),
            fixture!("stream-cut.events.json"),
        ),
        (
            "error chunk",
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
fn finish_comes_once_with_the_usage_or_at_the_end() {
    // finish_reason, then the usage chunk: Finish waits for the usage.
    let mut decoder = StreamDecoder::default();
    let data = sse_data(fixture!("stream-text.sse"));
    let (usage_chunk, before) = data[..data.len() - 1].split_last().unwrap();
    for chunk in before {
        let events = decoder.chunk(&parse(chunk));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::Finish { .. }))
        );
    }
    let events = decoder.chunk(&parse(usage_chunk));
    assert!(matches!(events[..], [StreamEvent::Finish { .. }]));
    assert_eq!(decoder.finish(), None, "[DONE] adds nothing");

    // No usage asked: Finish comes at [DONE], with no usage.
    let events: Vec<StreamEvent> = parse(fixture!("encode-tool-split.events.json"));
    let decoded = decode_stream(&encode_stream(&events, false));
    assert_eq!(
        decoded.last(),
        Some(&StreamEvent::Finish {
            stop: StopReason::ToolUse,
            usage: Usage::default()
        })
    );

    // An error chunk is the stream's last word.
    let mut decoder = StreamDecoder::default();
    for chunk in sse_data(fixture!("stream-error.sse")) {
        decoder.chunk(&parse(&chunk));
    }
    assert_eq!(decoder.finish(), None);
}

/// `(case, include_usage, events)`: what a caller asked for decides
/// whether a usage chunk is written.
const ENCODE_CASES: [(&str, bool, &str); 5] = [
    ("encode-text", true, fixture!("encode-text.events.json")),
    (
        "encode-tool-split",
        false,
        fixture!("encode-tool-split.events.json"),
    ),
    (
        "encode-parallel-tools",
        true,
        fixture!("encode-parallel-tools.events.json"),
    ),
    (
        "encode-reasoning",
        true,
        fixture!("encode-reasoning.events.json"),
    ),
    ("encode-error", true, fixture!("encode-error.events.json")),
];

#[test]
fn ir_events_encode_to_openai_sse() {
    let expected = [
        fixture!("encode-text.sse"),
        fixture!("encode-tool-split.sse"),
        fixture!("encode-parallel-tools.sse"),
        fixture!("encode-reasoning.sse"),
        fixture!("encode-error.sse"),
    ];
    for ((case, include_usage, events), expected) in ENCODE_CASES.into_iter().zip(expected) {
        let sse = encode_stream(&parse::<Vec<StreamEvent>>(events), include_usage);
        snapshot(&format!("{case}.sse"), expected, &sse);
    }
}

/// The chunk grammar the openai SDKs and opencode read: one id, created and
/// model for the whole stream; `role` on the first delta only; every
/// tool_calls entry carries its `index`; one finish_reason, on the last
/// choice chunk; a usage chunk with no choices only when asked, after it;
/// `[DONE]` last unless the stream failed.
#[test]
fn encoded_chunks_follow_the_chat_completions_grammar() {
    for (case, include_usage, events) in ENCODE_CASES {
        let data = sse_data(&encode_stream(
            &parse::<Vec<StreamEvent>>(events),
            include_usage,
        ));
        let failed = data.last().is_some_and(|d| d.starts_with("{\"error\""));
        if !failed {
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{case}");
        }
        // Without its last event: the error, or `[DONE]`.
        let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| parse(d)).collect();
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk", "{case}");
            assert_eq!(chunk["id"], chunks[0]["id"], "{case}");
            assert_eq!(chunk["created"], CREATED, "{case}");
            assert_eq!(chunk["model"], chunks[0]["model"], "{case}");
        }
        let choices: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"].as_array()?.first())
            .collect();
        for (n, choice) in choices.iter().enumerate() {
            assert_eq!(
                choice["delta"].get("role").is_some(),
                n == 0,
                "{case}: role on the first delta only"
            );
            for call in choice["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert!(call["index"].is_u64(), "{case}");
            }
            let last = n + 1 == choices.len();
            assert_eq!(
                choice["finish_reason"].is_string(),
                last && !failed,
                "{case}"
            );
        }
        let usage: Vec<&Value> = chunks.iter().filter(|c| c.get("usage").is_some()).collect();
        if include_usage && !failed {
            assert_eq!(usage.len(), 1, "{case}");
            assert_eq!(usage[0]["choices"], serde_json::json!([]), "{case}");
            assert_eq!(chunks.last(), Some(usage[0]), "{case}");
        } else {
            assert!(usage.is_empty(), "{case}");
        }
    }
}

/// What the encoder writes decodes back to the events it was given (less
/// reasoning signatures, which Chat Completions cannot carry): the encode
/// fixtures, and every upstream fixture after one decode.
#[test]
fn encoded_streams_decode_back() {
    for (case, include_usage, events) in ENCODE_CASES {
        let mut events: Vec<StreamEvent> = parse(events);
        let decoded = decode_stream(&encode_stream(&events, include_usage));
        events.retain(|e| !matches!(e, StreamEvent::ReasoningSignature { .. }));
        if !include_usage {
            for event in &mut events {
                if let StreamEvent::Finish { usage, .. } = event {
                    *usage = Usage::default();
                }
            }
        }
        assert_eq!(decoded, events, "{case}");
    }
    for sse in [
        fixture!("stream-text.sse"),
        fixture!("stream-tool-call.sse"),
        fixture!("stream-parallel-tools.sse"),
        fixture!("stream-reasoning.sse"),
        fixture!("stream-error.sse"),
    ] {
        let decoded = decode_stream(sse);
        assert_eq!(decode_stream(&encode_stream(&decoded, true)), decoded);
    }
}
