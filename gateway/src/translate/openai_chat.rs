//! OpenAI Chat Completions <-> IR: request encoding, response decoding and the stream decoder.

use serde_json::{Map, Value, json};

use super::TranslateError;
use super::ir::{
    Message, Part, Request, Response, Role, StopReason, StreamEvent, ToolChoice, Usage,
};
use crate::wire::openai_chat::TokenUsage;

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// Message content: a plain string when it is text only, else content parts.
fn content(parts: &[&Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text { .. })) {
        let text: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        return Value::String(text);
    }
    Value::Array(
        parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text } => Some(json!({"type": "text", "text": text})),
                Part::Image { url } => {
                    Some(json!({"type": "image_url", "image_url": {"url": url}}))
                }
                _ => None,
            })
            .collect(),
    )
}

/// One IR message becomes one or more OpenAI messages: tool results are
/// messages of their own (`role: tool`), one per call.
fn encode_message(message: &Message, out: &mut Vec<Value>) {
    let results: Vec<&Part> = message
        .parts
        .iter()
        .filter(|p| matches!(p, Part::ToolResult { .. }))
        .collect();
    for part in &results {
        if let Part::ToolResult {
            call_id, content, ..
        } = part
        {
            out.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
        }
    }
    let visible: Vec<&Part> = message
        .parts
        .iter()
        .filter(|p| matches!(p, Part::Text { .. } | Part::Image { .. }))
        .collect();
    let calls: Vec<Value> = message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { id, name, arguments } => {
                Some(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
            }
            _ => None,
        })
        .collect();
    let reasoning: String = message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    if visible.is_empty()
        && calls.is_empty()
        && (message.role != Role::Assistant || reasoning.is_empty())
    {
        return;
    }
    let role = if message.role == Role::Tool {
        Role::User
    } else {
        message.role
    };
    let mut m = Map::new();
    m.insert("role".into(), json!(role_name(role)));
    m.insert(
        "content".into(),
        if visible.is_empty() {
            Value::Null
        } else {
            content(&visible)
        },
    );
    if !calls.is_empty() {
        m.insert("tool_calls".into(), Value::Array(calls));
    }
    if message.role == Role::Assistant && !reasoning.is_empty() {
        m.insert("reasoning_content".into(), Value::String(reasoning));
    }
    out.push(Value::Object(m));
}

/// The Chat Completions body for `request`.
pub fn encode_request(request: &Request) -> Value {
    let mut messages = Vec::new();
    for message in &request.messages {
        encode_message(message, &mut messages);
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = request.max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let v = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".into(), v);
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

pub fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// A whole Chat Completions response in IR.
pub fn decode_response(body: &Value) -> Result<Response, TranslateError> {
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| TranslateError("the upstream response has no choices".into()))?;
    let message = &choice["message"];
    let mut parts = Vec::new();
    if let Some(r) = message["reasoning_content"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        parts.push(Part::Reasoning {
            text: r.to_string(),
            signature: None,
        });
    }
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        parts.push(Part::text(text));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        parts.push(Part::ToolCall {
            id: call["id"].as_str().unwrap_or_default().to_string(),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            arguments: call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .to_string(),
        });
    }
    Ok(Response {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        model: body["model"].as_str().unwrap_or_default().to_string(),
        parts,
        stop: stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        usage: TokenUsage::from_response(body).unwrap_or_default(),
    })
}

/// Turns Chat Completions chunks into IR events. The finish reason and the
/// usage come in different chunks; `Finish` is emitted once both are known,
/// or when the stream ends.
#[derive(Default)]
pub struct StreamDecoder {
    started: bool,
    stop: Option<StopReason>,
    usage: Option<Usage>,
    finished: bool,
}

impl StreamDecoder {
    /// Events for one chunk (the JSON of one `data:` line).
    pub fn chunk(&mut self, chunk: &Value) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
            self.finished = true;
            events.push(StreamEvent::Error {
                message: message.to_string(),
            });
            return events;
        }
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start {
                id: chunk["id"].as_str().unwrap_or_default().to_string(),
                model: chunk["model"].as_str().unwrap_or_default().to_string(),
            });
        }
        if let Some(usage) = TokenUsage::from_response(chunk) {
            self.usage = Some(usage);
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::ReasoningDelta {
                        text: text.to_string(),
                    });
                }
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                events.push(StreamEvent::TextDelta {
                    text: text.to_string(),
                });
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap_or(0) as usize;
                if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
                    events.push(StreamEvent::ToolCallStart {
                        index,
                        id: call["id"].as_str().unwrap_or_default().to_string(),
                        name: name.to_string(),
                    });
                }
                if let Some(args) = call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                {
                    events.push(StreamEvent::ToolCallArgumentsDelta {
                        index,
                        json: args.to_string(),
                    });
                }
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.stop = Some(stop_reason(reason));
            }
        }
        if self.stop.is_some() && self.usage.is_some() {
            events.extend(self.finish());
        }
        events
    }

    /// The closing event, once: at `[DONE]` or when the upstream stream ends.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        self.finished = true;
        Some(StreamEvent::Finish {
            stop: self.stop.unwrap_or(StopReason::EndTurn),
            usage: self.usage.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ir::Tool;

    #[test]
    fn request_keeps_roles_tools_and_results_in_openai_shape() {
        let request = Request {
            model: "gpt-4.1".into(),
            messages: vec![
                Message {
                    role: Role::System,
                    parts: vec![Part::text("be brief")],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::text("list files"),
                        Part::Image {
                            url: "data:image/png;base64,AA".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall {
                        id: "call_1".into(),
                        name: "ls".into(),
                        arguments: "{\"path\":\".\"}".into(),
                    }],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::ToolResult {
                            call_id: "call_1".into(),
                            content: "a.txt".into(),
                            is_error: false,
                        },
                        Part::text("thanks"),
                    ],
                },
            ],
            tools: vec![Tool {
                name: "ls".into(),
                description: Some("list".into()),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Tool { name: "ls".into() }),
            max_tokens: Some(100),
            stream: true,
            ..Default::default()
        };
        let body = encode_request(&request);
        let m = &body["messages"];
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(
            m[1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AA"
        );
        assert_eq!(m[2]["content"], Value::Null);
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\".\"}"
        );
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "a.txt"})
        );
        assert_eq!(m[4], json!({"role": "user", "content": "thanks"}));
        assert_eq!(body["tools"][0]["function"]["name"], "ls");
        assert_eq!(body["tool_choice"]["function"]["name"], "ls");
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn response_with_reasoning_text_and_tool_call() {
        let body = json!({
            "id": "chatcmpl-1", "model": "deepseek-reasoner",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me look.", "reasoning_content": "need ls",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 6}}
        });
        let r = decode_response(&body).unwrap();
        assert_eq!(r.stop, StopReason::ToolUse);
        assert_eq!(
            r.usage,
            Usage {
                input: 10,
                output: 4,
                cached: 6,
                reasoning: 0
            }
        );
        assert!(matches!(&r.parts[0], Part::Reasoning { text, .. } if text == "need ls"));
        assert_eq!(r.parts[1], Part::text("Let me look."));
        assert!(matches!(&r.parts[2], Part::ToolCall { name, .. } if name == "ls"));
        assert!(decode_response(&json!({"choices": []})).is_err());
    }

    #[test]
    fn stream_decoder_emits_deltas_then_one_finish_with_usage() {
        let mut d = StreamDecoder::default();
        let chunks = [
            json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
            json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "ls", "arguments": ""}}]}, "finish_reason": null}]}),
            json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}, "finish_reason": null}]}),
            json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"id": "c", "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        ];
        let events: Vec<StreamEvent> = chunks.iter().flat_map(|c| d.chunk(c)).collect();
        assert_eq!(
            events[0],
            StreamEvent::Start {
                id: "c".into(),
                model: "m".into()
            }
        );
        assert_eq!(events[1], StreamEvent::TextDelta { text: "Hi".into() });
        assert_eq!(
            events[2],
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "ls".into()
            }
        );
        assert_eq!(
            events[3],
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{\"a\":1}".into()
            }
        );
        assert_eq!(
            events[4],
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 3,
                    output: 2,
                    cached: 0,
                    reasoning: 0
                }
            }
        );
        assert_eq!(events.len(), 5);
        assert_eq!(d.finish(), None, "finish only once");
    }

    #[test]
    fn a_stream_without_usage_still_finishes_at_the_end() {
        let mut d = StreamDecoder::default();
        d.chunk(&json!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}));
        assert_eq!(
            d.finish(),
            Some(StreamEvent::Finish {
                stop: StopReason::MaxTokens,
                usage: Usage::default()
            })
        );
    }
}
