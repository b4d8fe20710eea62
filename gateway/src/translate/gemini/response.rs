//! Whole Gemini generateContent responses <-> IR responses.

use serde_json::{Map, Value, json};

use super::{
    args_object, decode_finish, decode_usage, encode_finish, error_message, field, fresh_id,
    image_part, image_url, invalid, usage_metadata,
};
use crate::translate::TranslateError;
use crate::translate::ir::{Part, Response, StopReason, Usage};

/// The IR id of a call Gemini did not name: unique per response, so ids
/// never repeat across the turns of a conversation.
pub(super) fn call_id(call: &Value, response_id: &str, index: usize) -> String {
    call["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("call_{response_id}_{index}"))
}

/// A whole generateContent response in IR. An error body, or an answer
/// with nothing in it, is a [`TranslateError`].
pub fn decode_response(body: &Value) -> Result<Response, TranslateError> {
    if let Some(message) = error_message(body) {
        return Err(invalid(message));
    }
    let id = field(body, "responseId", "response_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| fresh_id("resp"));
    let model = field(body, "modelVersion", "model_version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let usage = field(body, "usageMetadata", "usage_metadata")
        .map(decode_usage)
        .unwrap_or_default();
    let Some(candidate) = body["candidates"].as_array().and_then(|c| c.first()) else {
        // A prompt Google refused to answer has feedback instead of candidates.
        if field(body, "promptFeedback", "prompt_feedback")
            .and_then(|f| field(f, "blockReason", "block_reason"))
            .is_some()
        {
            return Ok(Response {
                id,
                model,
                parts: Vec::new(),
                stop: StopReason::ContentFilter,
                usage,
            });
        }
        return Err(invalid("the upstream response has no candidates"));
    };
    let mut parts = Vec::new();
    let mut calls = 0;
    for part in candidate["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(text) = part["text"].as_str() {
            if part["thought"].as_bool() == Some(true) {
                parts.push(Part::Reasoning {
                    text: text.to_string(),
                    signature: field(part, "thoughtSignature", "thought_signature")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            } else if !text.is_empty() {
                parts.push(Part::text(text));
            }
        } else if let Some(call) = field(part, "functionCall", "function_call") {
            parts.push(Part::ToolCall {
                id: call_id(call, &id, calls),
                name: call["name"].as_str().unwrap_or_default().to_string(),
                arguments: call
                    .get("args")
                    .filter(|a| !a.is_null())
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into()),
            });
            calls += 1;
        } else if let Some(url) = image_url(
            field(part, "inlineData", "inline_data"),
            field(part, "fileData", "file_data"),
        ) {
            parts.push(Part::Image { url });
        }
    }
    let reason = field(candidate, "finishReason", "finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    Ok(Response {
        id,
        model,
        parts,
        stop: decode_finish(reason, calls > 0),
        usage,
    })
}

/// A Gemini part for an IR response part (tool results have none).
pub(super) fn encode_part(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text { text } => json!({"text": text}),
        Part::Reasoning { text, signature } => {
            let mut p = Map::new();
            p.insert("text".into(), json!(text));
            p.insert("thought".into(), json!(true));
            if let Some(signature) = signature {
                p.insert("thoughtSignature".into(), json!(signature));
            }
            Value::Object(p)
        }
        Part::ToolCall {
            id,
            name,
            arguments,
        } => function_call(id, name, arguments),
        Part::Image { url } => image_part(url),
        Part::ToolResult { .. } => return None,
    })
}

/// A `functionCall` part, its fields in the order Gemini writes them.
pub(super) fn function_call(id: &str, name: &str, arguments: &str) -> Value {
    let mut call = Map::new();
    call.insert("name".into(), json!(name));
    call.insert("args".into(), args_object(arguments));
    if !id.is_empty() {
        call.insert("id".into(), json!(id));
    }
    json!({"functionCall": call})
}

/// One `candidates` entry, in Google's field order.
pub(super) fn candidate(parts: Vec<Value>, finish: Option<&str>) -> Value {
    let mut c = Map::new();
    c.insert("content".into(), json!({"parts": parts, "role": "model"}));
    if let Some(finish) = finish {
        c.insert("finishReason".into(), json!(finish));
    }
    c.insert("index".into(), json!(0));
    Value::Object(c)
}

/// A whole response body around `candidate`, in Google's field order.
pub(super) fn envelope(candidate: Value, usage: Option<&Usage>, model: &str, id: &str) -> Value {
    let mut body = Map::new();
    body.insert("candidates".into(), json!([candidate]));
    if let Some(usage) = usage {
        body.insert("usageMetadata".into(), usage_metadata(usage));
    }
    body.insert("modelVersion".into(), json!(model));
    body.insert("responseId".into(), json!(id));
    Value::Object(body)
}

/// The generateContent body for an IR response.
pub fn encode_response(response: &Response) -> Value {
    let parts = response.parts.iter().filter_map(encode_part).collect();
    envelope(
        candidate(parts, Some(encode_finish(response.stop))),
        Some(&response.usage),
        &response.model,
        &response.id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_answer_decodes_with_tool_use_and_thought_usage() {
        let body = json!({"candidates": [{"content": {"parts": [
                {"text": "**Planning**", "thought": true, "thoughtSignature": "c2ln"},
                {"text": "Checking."},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "Zm9v"},
                {"functionCall": {"name": "time", "args": {}, "id": "srv_1"}}],
                "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 29, "candidatesTokenCount": 15, "totalTokenCount": 89,
                "cachedContentTokenCount": 20, "thoughtsTokenCount": 45},
            "modelVersion": "gemini-3-pro-preview", "responseId": "b36L"});
        let r = decode_response(&body).unwrap();
        assert_eq!(r.id, "b36L");
        assert_eq!(r.model, "gemini-3-pro-preview");
        assert_eq!(r.stop, StopReason::ToolUse);
        assert_eq!(
            r.usage,
            Usage {
                input: 29,
                output: 60,
                cached: 20,
                reasoning: 45
            }
        );
        assert_eq!(
            r.parts,
            vec![
                Part::Reasoning {
                    text: "**Planning**".into(),
                    signature: Some("c2ln".into())
                },
                Part::text("Checking."),
                Part::ToolCall {
                    id: "call_b36L_0".into(),
                    name: "weather".into(),
                    arguments: "{\"city\":\"Paris\"}".into()
                },
                Part::ToolCall {
                    id: "srv_1".into(),
                    name: "time".into(),
                    arguments: "{}".into()
                },
            ]
        );
    }

    #[test]
    fn stop_reasons_blocked_prompts_and_errors() {
        let answer = |reason: &str| json!({"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason}]});
        assert_eq!(
            decode_response(&answer("MAX_TOKENS")).unwrap().stop,
            StopReason::MaxTokens
        );
        assert_eq!(
            decode_response(&answer("RECITATION")).unwrap().stop,
            StopReason::ContentFilter
        );
        let r = decode_response(&answer("STOP")).unwrap();
        assert_eq!(r.stop, StopReason::EndTurn);
        assert!(
            r.id.starts_with("resp_"),
            "a missing id is made up: {}",
            r.id
        );
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}});
        let r = decode_response(&blocked).unwrap();
        assert_eq!(r.stop, StopReason::ContentFilter);
        assert!(r.parts.is_empty());
        assert_eq!(r.usage.input, 8);
        let err = decode_response(
            &json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}),
        )
        .unwrap_err();
        assert!(
            err.0.contains("quota") && err.0.contains("RESOURCE_EXHAUSTED"),
            "{err}"
        );
        assert!(decode_response(&json!({"candidates": []})).is_err());
        assert!(decode_response(&json!("nonsense")).is_err());
    }

    #[test]
    fn response_encodes_in_google_field_order() {
        let r = Response {
            id: "msg_1".into(),
            model: "claude-sonnet-4-5".into(),
            parts: vec![
                Part::Reasoning {
                    text: "hm".into(),
                    signature: None,
                },
                Part::text("Hi"),
                Part::ToolCall {
                    id: "toolu_1".into(),
                    name: "ls".into(),
                    arguments: "{\"p\":1}".into(),
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input: 10,
                output: 7,
                cached: 3,
                reasoning: 2,
            },
        };
        let v = encode_response(&r);
        assert_eq!(
            v.to_string(),
            r#"{"candidates":[{"content":{"parts":[{"text":"hm","thought":true},{"text":"Hi"},{"functionCall":{"name":"ls","args":{"p":1},"id":"toolu_1"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":17,"cachedContentTokenCount":3,"thoughtsTokenCount":2},"modelVersion":"claude-sonnet-4-5","responseId":"msg_1"}"#
        );
    }

    #[test]
    fn response_round_trips_through_gemini() {
        let r = Response {
            id: "resp_9".into(),
            model: "gemini-2.5-pro".into(),
            parts: vec![
                Part::Reasoning {
                    text: "think".into(),
                    signature: Some("c2ln".into()),
                },
                Part::text("Let me look."),
                Part::ToolCall {
                    id: "call_a".into(),
                    name: "ls".into(),
                    arguments: "{\"path\":\".\"}".into(),
                },
                Part::ToolCall {
                    id: "call_b".into(),
                    name: "cat".into(),
                    arguments: "{}".into(),
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input: 120,
                output: 40,
                cached: 100,
                reasoning: 30,
            },
        };
        assert_eq!(decode_response(&encode_response(&r)).unwrap(), r);
        let text_only = Response {
            parts: vec![Part::text("done")],
            stop: StopReason::MaxTokens,
            ..r
        };
        assert_eq!(
            decode_response(&encode_response(&text_only)).unwrap(),
            text_only
        );
    }
}
