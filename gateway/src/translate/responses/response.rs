//! Whole (non-streamed) Responses bodies <-> the IR response.

use serde_json::Value;

use super::super::TranslateError;
use super::super::ir::{Part, Response};
use super::{
    ResponseObject, decode_stop, decode_usage, function_call_item, incomplete_reason, item_id,
    message_item, reasoning_item, reasoning_part, response_id, unix_now,
};

/// A whole Responses body in IR. A failed response (or an error body) is
/// an error carrying the upstream's message.
pub fn decode_response(body: &Value) -> Result<Response, TranslateError> {
    let failed =
        body["status"] == "failed" || (body["error"].is_object() && body.get("output").is_none());
    if failed {
        let message = body["error"]["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or("the upstream response failed");
        return Err(TranslateError(message.to_string()));
    }
    let output = body["output"]
        .as_array()
        .ok_or_else(|| TranslateError("the upstream response has no output".into()))?;
    let mut parts = Vec::with_capacity(output.len());
    let mut called_tool = false;
    for item in output {
        match item["type"].as_str() {
            Some("message") => {
                for content in item["content"].as_array().into_iter().flatten() {
                    let text = match content["type"].as_str() {
                        Some("output_text" | "text") => content["text"].as_str(),
                        Some("refusal") => content["refusal"].as_str(),
                        _ => None,
                    };
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        parts.push(Part::text(text));
                    }
                }
            }
            Some("reasoning") => parts.extend(reasoning_part(item)),
            Some("function_call") => {
                called_tool = true;
                let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
                parts.push(Part::ToolCall {
                    id: text("call_id"),
                    name: text("name"),
                    arguments: item["arguments"].as_str().unwrap_or("{}").to_string(),
                });
            }
            // Hosted tool calls (web search...) ran upstream; their results
            // are already in the text.
            _ => {}
        }
    }
    Ok(Response {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        model: body["model"].as_str().unwrap_or_default().to_string(),
        parts,
        stop: decode_stop(body["incomplete_details"]["reason"].as_str(), called_tool),
        usage: decode_usage(&body["usage"]),
    })
}

/// The output items of IR parts: consecutive text parts share one message
/// item, and each reasoning part and tool call is an item of its own.
fn output_items(id: &str, parts: &[Part]) -> Vec<Value> {
    let mut items = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    let flush = |texts: &mut Vec<&str>, items: &mut Vec<Value>| {
        if !texts.is_empty() {
            let item = message_item(&item_id("msg", id, items.len()), "completed", texts);
            items.push(item);
            texts.clear();
        }
    };
    for part in parts {
        match part {
            Part::Text { text } => texts.push(text),
            Part::Reasoning { text, signature } => {
                flush(&mut texts, &mut items);
                let item =
                    reasoning_item(&item_id("rs", id, items.len()), text, signature.as_deref());
                items.push(item);
            }
            Part::ToolCall {
                id: call_id,
                name,
                arguments,
            } => {
                flush(&mut texts, &mut items);
                let item = function_call_item(
                    &item_id("fc", id, items.len()),
                    "completed",
                    call_id,
                    name,
                    arguments,
                );
                items.push(item);
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    flush(&mut texts, &mut items);
    items
}

/// The Responses body for an IR response, created at `created_at`.
pub(super) fn encode_response_at(response: &Response, created_at: u64) -> Value {
    let id = response_id(&response.id);
    let incomplete = incomplete_reason(response.stop);
    ResponseObject {
        id: &id,
        created_at,
        model: &response.model,
        status: if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        },
        error: Value::Null,
        incomplete_reason: incomplete,
        output: output_items(&id, &response.parts),
        usage: Some(&response.usage),
    }
    .into_json()
}

/// The Responses body for an IR response.
pub fn encode_response(response: &Response) -> Value {
    encode_response_at(response, unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ir::{StopReason, Usage};
    use serde_json::json;

    #[test]
    fn stop_reasons_come_from_incomplete_details_then_tool_calls() {
        let body = |status: &str, reason: Value, output: Value| {
            json!({"id": "resp_1", "object": "response", "status": status, "model": "m",
                "incomplete_details": reason, "output": output, "usage": null})
        };
        let call = json!([{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{}", "status": "completed"}]);
        let cases = [
            (
                body(
                    "incomplete",
                    json!({"reason": "max_output_tokens"}),
                    json!([]),
                ),
                StopReason::MaxTokens,
            ),
            (
                body("incomplete", json!({"reason": "content_filter"}), json!([])),
                StopReason::ContentFilter,
            ),
            (body("completed", Value::Null, call), StopReason::ToolUse),
            (
                body("completed", Value::Null, json!([])),
                StopReason::EndTurn,
            ),
        ];
        for (body, stop) in cases {
            assert_eq!(decode_response(&body).unwrap().stop, stop, "{body}");
        }
    }

    #[test]
    fn failed_responses_and_error_bodies_are_errors_with_the_upstream_message() {
        let failed = json!({"id": "resp_1", "status": "failed", "output": [],
            "error": {"code": "server_error", "message": "The model crashed."}});
        assert_eq!(
            decode_response(&failed).unwrap_err().0,
            "The model crashed."
        );
        let error_body = json!({"error": {"message": "Invalid model", "type": "invalid_request_error", "param": "model", "code": null}});
        assert_eq!(decode_response(&error_body).unwrap_err().0, "Invalid model");
        assert!(decode_response(&json!({"id": "resp_1"})).is_err());
    }

    #[test]
    fn encode_marks_incomplete_stops_and_gives_items_distinct_ids() {
        let response = Response {
            id: "msg_01".into(),
            model: "claude-sonnet-4-5".into(),
            parts: vec![
                Part::Reasoning {
                    text: "think".into(),
                    signature: None,
                },
                Part::text("a"),
                Part::text("b"),
                Part::ToolCall {
                    id: "toolu_1".into(),
                    name: "ls".into(),
                    arguments: "{}".into(),
                },
                Part::ToolCall {
                    id: "toolu_2".into(),
                    name: "cat".into(),
                    arguments: "{\"f\":1}".into(),
                },
            ],
            stop: StopReason::MaxTokens,
            usage: Usage::default(),
        };
        let v = encode_response_at(&response, 1);
        assert_eq!(v["id"], "resp_msg_01");
        assert_eq!(v["status"], "incomplete");
        assert_eq!(
            v["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        let output = v["output"].as_array().unwrap();
        assert_eq!(output.len(), 4, "two texts share one message item");
        assert_eq!(
            output[0],
            json!({"id": "rs_msg_01_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]}),
            "no encrypted_content is made up"
        );
        assert_eq!(output[1]["content"].as_array().unwrap().len(), 2);
        assert_eq!(output[2]["call_id"], "toolu_1");
        assert_ne!(output[2]["id"], output[3]["id"]);
        for stop in [
            StopReason::EndTurn,
            StopReason::StopSequence,
            StopReason::ToolUse,
        ] {
            let ok = encode_response_at(
                &Response {
                    stop,
                    ..response.clone()
                },
                1,
            );
            assert_eq!(ok["status"], "completed");
            assert_eq!(ok["incomplete_details"], Value::Null);
        }
        let filtered = encode_response_at(
            &Response {
                stop: StopReason::ContentFilter,
                ..response
            },
            1,
        );
        assert_eq!(
            filtered["incomplete_details"],
            json!({"reason": "content_filter"})
        );
    }
}
