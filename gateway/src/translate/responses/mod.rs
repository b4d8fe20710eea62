//! OpenAI Responses API <-> IR: requests, responses, and the stream decoder and encoder.
//!
//! OmniRoute keeps no conversation state, so a request must carry the whole
//! conversation in `input` (`previous_response_id` is refused) and requests
//! sent upstream say `store: false`.

mod request;
mod response;
mod stream;

#[cfg(test)]
mod golden;

pub use request::{decode_request, encode_request};
pub use response::{decode_response, encode_response};
pub use stream::{StreamDecoder, StreamEncoder};

use serde_json::{Map, Value, json};

use super::ir::{Part, StopReason, Usage};

/// Responses usage in IR terms. Both count cached tokens within the input
/// and reasoning tokens within the output, so the numbers carry over as
/// they are.
fn decode_usage(usage: &Value) -> Usage {
    let n = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("/input_tokens"),
        output: n("/output_tokens"),
        cached: n("/input_tokens_details/cached_tokens"),
        reasoning: n("/output_tokens_details/reasoning_tokens"),
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": usage.cached},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.input.saturating_add(usage.output),
    })
}

/// Usage of a whole Responses body, for same-format relays. Only the
/// top-level `usage` counts: a tool schema echoed in `tools` may well have a
/// property called `usage`. The rest of the body is skipped, not built.
pub fn usage_of_body(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct UsageOnly {
        #[serde(default)]
        usage: Option<Value>,
    }
    let usage = serde_json::from_slice::<UsageOnly>(body).ok()?.usage?;
    usage.is_object().then(|| decode_usage(&usage))
}

/// Folds the usage one same-format stream event carries into `usage`: the
/// terminal events hold the whole response, usage included.
pub fn track_usage(event: &Value, usage: &mut Option<Usage>) {
    if let Some("response.completed" | "response.incomplete" | "response.failed") =
        event["type"].as_str()
    {
        let found = &event["response"]["usage"];
        if found.is_object() {
            *usage = Some(decode_usage(found));
        }
    }
}

/// OpenAI's error body, which Responses clients (openai SDKs, Codex) read.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

/// Why a response stopped, from its `incomplete_details.reason` and whether
/// it asked for a tool.
fn decode_stop(incomplete_reason: Option<&str>, called_tool: bool) -> StopReason {
    match incomplete_reason {
        Some("max_output_tokens") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFilter,
        _ if called_tool => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

/// The `incomplete_details.reason` of a stop that leaves a response
/// `incomplete`; `None` for the stops that complete it.
fn incomplete_reason(stop: StopReason) -> Option<&'static str> {
    match stop {
        StopReason::MaxTokens => Some("max_output_tokens"),
        StopReason::ContentFilter => Some("content_filter"),
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => None,
    }
}

/// A response id in OpenAI's shape (`resp_...`), made from the IR id.
fn response_id(id: &str) -> String {
    if id.is_empty() {
        "resp_omniroute".to_string()
    } else if id.starts_with("resp_") {
        id.to_string()
    } else {
        format!("resp_{id}")
    }
}

/// The id of output item `index` of response `response_id`: items of one
/// response share its id, each with the prefix OpenAI gives that kind
/// (`msg`, `rs`, `fc`), so ids stay stable and distinct.
fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{index}")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A reasoning item (request input or response output) as an IR part:
/// the summary is the readable text (the raw `reasoning_text` content when
/// there is no summary), `encrypted_content` the signature. `None` when it
/// holds neither.
fn reasoning_part(item: &Value) -> Option<Part> {
    let texts = |key: &str| -> String {
        item[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let mut text = texts("summary");
    if text.is_empty() {
        text = texts("content");
    }
    let signature = item["encrypted_content"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if text.is_empty() && signature.is_none() {
        return None;
    }
    Some(Part::Reasoning { text, signature })
}

/// An `output_text` content part.
fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

/// An assistant message output item.
fn message_item(id: &str, status: &str, texts: &[&str]) -> Value {
    let content: Vec<Value> = texts.iter().map(|t| output_text(t)).collect();
    json!({"id": id, "type": "message", "status": status, "content": content, "role": "assistant"})
}

/// A reasoning output item; `encrypted_content` only when the IR carries a
/// signature (one is never made up).
fn reasoning_item(id: &str, text: &str, signature: Option<&str>) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(id));
    item.insert("type".into(), json!("reasoning"));
    if let Some(signature) = signature {
        item.insert("encrypted_content".into(), json!(signature));
    }
    let summary: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "summary_text", "text": text})]
    };
    item.insert("summary".into(), Value::Array(summary));
    Value::Object(item)
}

/// A function call output item.
fn function_call_item(id: &str, status: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "arguments": arguments,
        "call_id": call_id, "name": name})
}

/// The response object, as the final body and inside the stream's
/// lifecycle events. The request settings it echoes are not in the IR, so
/// they carry OpenAI's defaults.
struct ResponseObject<'a> {
    id: &'a str,
    created_at: u64,
    model: &'a str,
    status: &'a str,
    error: Value,
    incomplete_reason: Option<&'a str>,
    output: Vec<Value>,
    usage: Option<&'a Usage>,
}

impl ResponseObject<'_> {
    fn into_json(self) -> Value {
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete_reason.map(|reason| json!({"reason": reason})),
            "instructions": null,
            "max_output_tokens": null,
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": null,
            "store": false,
            "temperature": null,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": null,
            "truncation": "disabled",
            "usage": self.usage.map(usage_json),
            "user": null,
            "metadata": {},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_carries_over_and_back() {
        let body = br#"{"id":"resp_1","tools":[{"type":"function","name":"f","parameters":{"properties":{"usage":{"type":"object"}}}}],"usage":{"input_tokens":7112,"input_tokens_details":{"cached_tokens":3072},"output_tokens":463,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":7575},"metadata":{}}"#;
        let usage = usage_of_body(body).unwrap();
        assert_eq!(
            usage,
            Usage {
                input: 7112,
                output: 463,
                cached: 3072,
                reasoning: 64
            }
        );
        assert_eq!(usage_json(&usage)["total_tokens"], 7575);
        assert_eq!(decode_usage(&usage_json(&usage)), usage);
        assert_eq!(usage_of_body(br#"{"usage":null}"#), None);
        assert_eq!(usage_of_body(b"not json"), None);
    }

    #[test]
    fn usage_is_tracked_from_the_terminal_event_only() {
        let mut usage = None;
        track_usage(
            &json!({"type": "response.created", "response": {"usage": null}}),
            &mut usage,
        );
        assert_eq!(usage, None);
        track_usage(
            &json!({"type": "response.output_text.delta", "delta": "x"}),
            &mut usage,
        );
        assert_eq!(usage, None);
        track_usage(
            &json!({"type": "response.completed", "response": {"usage": {"input_tokens": 5, "output_tokens": 2,
                "input_tokens_details": {"cached_tokens": 1}, "output_tokens_details": {"reasoning_tokens": 1}}}}),
            &mut usage,
        );
        assert_eq!(
            usage,
            Some(Usage {
                input: 5,
                output: 2,
                cached: 1,
                reasoning: 1
            })
        );
    }

    #[test]
    fn error_body_has_openai_shape_and_type_by_status() {
        assert_eq!(
            error_body(400, "bad"),
            json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}})
        );
        assert_eq!(
            error_body(401, "x")["error"]["type"],
            "authentication_error"
        );
        assert_eq!(error_body(429, "x")["error"]["type"], "rate_limit_error");
        assert_eq!(
            error_body(404, "x")["error"]["type"],
            "invalid_request_error"
        );
        assert_eq!(error_body(502, "x")["error"]["type"], "server_error");
    }

    #[test]
    fn ids_keep_the_response_id_and_tell_items_apart() {
        assert_eq!(response_id("resp_abc"), "resp_abc");
        assert_eq!(response_id("msg_01"), "resp_msg_01");
        assert_eq!(response_id(""), "resp_omniroute");
        assert_eq!(item_id("fc", "resp_abc", 2), "fc_abc_2");
        assert_ne!(item_id("fc", "resp_abc", 1), item_id("fc", "resp_abc", 2));
    }

    #[test]
    fn reasoning_item_text_comes_from_summary_or_content() {
        let summary = json!({"type": "reasoning", "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "one"}, {"type": "summary_text", "text": "two"}],
            "encrypted_content": "enc"});
        assert_eq!(
            reasoning_part(&summary),
            Some(Part::Reasoning {
                text: "one\n\ntwo".into(),
                signature: Some("enc".into())
            })
        );
        let content = json!({"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]});
        assert_eq!(
            reasoning_part(&content),
            Some(Part::Reasoning {
                text: "raw".into(),
                signature: None
            })
        );
        assert_eq!(
            reasoning_part(&json!({"type": "reasoning", "summary": [], "content": null})),
            None
        );
    }
}
