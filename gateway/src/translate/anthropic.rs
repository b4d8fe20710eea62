//! Anthropic Messages <-> IR: request decoding, response encoding and the stream encoder.

use serde_json::{Map, Value, json};

use super::TranslateError;
use super::ir::{
    Message, Part, Request, Response, Role, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError(message.into())
}

/// Text of a `content` that is a string or a list of text blocks.
fn flat_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn decode_block(block: &Value) -> Result<Option<Part>, TranslateError> {
    let kind = block["type"].as_str().unwrap_or_default();
    Ok(Some(match kind {
        "text" => Part::text(block["text"].as_str().unwrap_or_default()),
        "image" => {
            let source = &block["source"];
            let url = match source["type"].as_str() {
                Some("base64") => format!(
                    "data:{};base64,{}",
                    source["media_type"].as_str().unwrap_or("image/png"),
                    source["data"].as_str().unwrap_or_default()
                ),
                Some("url") => source["url"].as_str().unwrap_or_default().to_string(),
                _ => return Err(invalid("an image block needs a base64 or url source")),
            };
            Part::Image { url }
        }
        "thinking" => Part::Reasoning {
            text: block["thinking"].as_str().unwrap_or_default().to_string(),
            signature: block["signature"].as_str().map(str::to_string),
        },
        // Redacted thinking has no text a different model could use.
        "redacted_thinking" => return Ok(None),
        "tool_use" => Part::ToolCall {
            id: block["id"].as_str().unwrap_or_default().to_string(),
            name: block["name"].as_str().unwrap_or_default().to_string(),
            arguments: block
                .get("input")
                .map(Value::to_string)
                .unwrap_or_else(|| "{}".into()),
        },
        "tool_result" => Part::ToolResult {
            call_id: block["tool_use_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            content: flat_text(&block["content"]),
            is_error: block["is_error"].as_bool().unwrap_or(false),
        },
        other => return Err(invalid(format!("unsupported content block type `{other}`"))),
    }))
}

fn decode_parts(content: &Value) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::String(s) => Ok(vec![Part::text(s.as_str())]),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for block in blocks {
                parts.extend(decode_block(block)?);
            }
            Ok(parts)
        }
        _ => Err(invalid(
            "message content must be a string or a list of blocks",
        )),
    }
}

/// A Messages request in IR.
pub fn decode_request(body: &Value) -> Result<Request, TranslateError> {
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("`model` is required"))?;
    let raw_messages = body["messages"]
        .as_array()
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let mut messages = Vec::with_capacity(raw_messages.len() + 1);
    if let Some(system) = body.get("system").filter(|s| !s.is_null()) {
        messages.push(Message {
            role: Role::System,
            parts: vec![Part::text(flat_text(system))],
        });
    }
    for m in raw_messages {
        let role = match m["role"].as_str() {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            // Claude Code sometimes puts a system message among the turns.
            Some("system") => Role::System,
            other => return Err(invalid(format!("unknown role {other:?}"))),
        };
        messages.push(Message {
            role,
            parts: decode_parts(&m["content"])?,
        });
    }
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"].as_str().is_some_and(|n| !n.is_empty()))
        .map(|t| Tool {
            name: t["name"].as_str().unwrap_or_default().to_string(),
            description: t["description"].as_str().map(str::to_string),
            parameters: t
                .get("input_schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        })
        .collect();
    let tool_choice = match body["tool_choice"]["type"].as_str() {
        Some("auto") => Some(ToolChoice::Auto),
        Some("any") => Some(ToolChoice::Required),
        Some("none") => Some(ToolChoice::None),
        Some("tool") => Some(ToolChoice::Tool {
            name: body["tool_choice"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }),
        _ => None,
    };
    Ok(Request {
        model: model.to_string(),
        messages,
        tools,
        tool_choice,
        max_tokens: body["max_tokens"].as_u64(),
        temperature: body["temperature"].as_f64(),
        top_p: body["top_p"].as_f64(),
        stop: body["stop_sequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        stream: body["stream"].as_bool().unwrap_or(false),
        reasoning_budget: (body["thinking"]["type"] == "enabled")
            .then(|| body["thinking"]["budget_tokens"].as_u64())
            .flatten(),
    })
}

pub fn stop_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

/// Anthropic counts cache reads apart from `input_tokens`; the IR counts
/// them inside `input`.
fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input.saturating_sub(usage.cached),
        "cache_read_input_tokens": usage.cached,
        "cache_creation_input_tokens": 0,
        "output_tokens": usage.output,
    })
}

/// A tool call's arguments as the JSON object Anthropic expects.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// The Messages response for an IR response.
pub fn encode_response(response: &Response) -> Value {
    let content: Vec<Value> = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(json!({"type": "text", "text": text})),
            // Reasoning from another family has no valid signature; it is
            // shown as thinking only with the signature it really had.
            Part::Reasoning {
                text,
                signature: Some(sig),
            } => Some(json!({"type": "thinking", "thinking": text, "signature": sig})),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => Some(
                json!({"type": "tool_use", "id": id, "name": name, "input": tool_input(arguments)}),
            ),
            _ => None,
        })
        .collect();
    json!({
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(response.stop),
        "stop_sequence": null,
        "usage": usage_json(&response.usage),
    })
}

/// Which content block is open in the caller's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
}

/// Writes IR stream events as Anthropic SSE frames, opening and closing
/// content blocks as the kind of delta changes.
#[derive(Default)]
pub struct StreamEncoder {
    open: Option<Block>,
    index: usize,
    started: bool,
    done: bool,
}

fn frame(out: &mut String, event: &str, data: &Value) {
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

impl StreamEncoder {
    fn start(&mut self, out: &mut String, id: &str, model: &str) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        frame(
            out,
            "message_start",
            &json!({"type": "message_start", "message": message}),
        );
    }

    fn close_block(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            frame(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            );
            self.index += 1;
        }
    }

    fn open_block(&mut self, out: &mut String, block: Block, content_block: Value) {
        if self.open == Some(block) {
            return;
        }
        self.close_block(out);
        self.open = Some(block);
        frame(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.index, "content_block": content_block}),
        );
    }

    fn delta(&self, out: &mut String, delta: Value) {
        frame(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.index, "delta": delta}),
        );
    }

    /// The frames for one event (possibly none).
    pub fn encode(&mut self, event: &StreamEvent) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        if !self.started && !matches!(event, StreamEvent::Start { .. } | StreamEvent::Error { .. })
        {
            self.start(&mut out, "msg_omniroute", "");
        }
        match event {
            StreamEvent::Start { id, model } => self.start(&mut out, id, model),
            StreamEvent::TextDelta { text } => {
                self.open_block(&mut out, Block::Text, json!({"type": "text", "text": ""}));
                self.delta(&mut out, json!({"type": "text_delta", "text": text}));
            }
            StreamEvent::ReasoningDelta { text } => {
                self.open_block(
                    &mut out,
                    Block::Thinking,
                    json!({"type": "thinking", "thinking": ""}),
                );
                self.delta(
                    &mut out,
                    json!({"type": "thinking_delta", "thinking": text}),
                );
            }
            StreamEvent::ReasoningSignature { signature } => {
                if self.open == Some(Block::Thinking) {
                    self.delta(
                        &mut out,
                        json!({"type": "signature_delta", "signature": signature}),
                    );
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close_block(&mut out);
                self.open_block(
                    &mut out,
                    Block::Tool(*index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                );
            }
            StreamEvent::ToolCallArgumentsDelta { index, json } => {
                if self.open == Some(Block::Tool(*index)) {
                    self.delta(
                        &mut out,
                        serde_json::json!({"type": "input_json_delta", "partial_json": json}),
                    );
                }
            }
            StreamEvent::Finish { stop, usage } => {
                self.close_block(&mut out);
                frame(
                    &mut out,
                    "message_delta",
                    &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_reason(*stop), "stop_sequence": null},
                        "usage": usage_json(usage)}),
                );
                frame(&mut out, "message_stop", &json!({"type": "message_stop"}));
                self.done = true;
            }
            StreamEvent::Error { message } => {
                frame(&mut out, "error", &error_body("api_error", message));
                self.done = true;
            }
        }
        out
    }
}

/// Anthropic's error object.
pub fn error_body(kind: &str, message: &str) -> Value {
    let mut error = Map::new();
    error.insert("type".into(), json!(kind));
    error.insert("message".into(), json!(message));
    json!({"type": "error", "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_style_request_decodes() {
        let body = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
            "system": [{"type": "text", "text": "You are Claude Code."}],
            "thinking": {"type": "enabled", "budget_tokens": 4000},
            "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
            "messages": [
                {"role": "user", "content": "list files"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "use ls", "signature": "sig=="},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.txt"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}]}
            ]
        });
        let r = decode_request(&body).unwrap();
        assert_eq!(
            r.messages[0],
            Message {
                role: Role::System,
                parts: vec![Part::text("You are Claude Code.")]
            }
        );
        assert_eq!(r.reasoning_budget, Some(4000));
        assert!(r.stream);
        assert_eq!(r.tools[0].name, "Bash");
        assert_eq!(
            r.messages[2].parts[0],
            Part::Reasoning {
                text: "use ls".into(),
                signature: Some("sig==".into())
            }
        );
        assert_eq!(
            r.messages[2].parts[1],
            Part::ToolCall {
                id: "toolu_1".into(),
                name: "Bash".into(),
                arguments: "{\"command\":\"ls\"}".into()
            }
        );
        assert_eq!(
            r.messages[3].parts[0],
            Part::ToolResult {
                call_id: "toolu_1".into(),
                content: "a.txt".into(),
                is_error: false
            }
        );
        assert_eq!(
            r.messages[3].parts[1],
            Part::Image {
                url: "data:image/jpeg;base64,AAAA".into()
            }
        );
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        assert!(decode_request(&json!({"messages": []})).is_err());
        assert!(decode_request(&json!({"model": "m"})).is_err());
        assert!(
            decode_request(&json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}))
                .is_err()
        );
        assert!(decode_request(&json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]})).is_err());
    }

    #[test]
    fn response_encodes_blocks_stop_reason_and_split_cache_usage() {
        let r = Response {
            id: "msg_1".into(),
            model: "gpt-4.1".into(),
            parts: vec![
                Part::Reasoning {
                    text: "hidden".into(),
                    signature: None,
                },
                Part::text("Hello"),
                Part::ToolCall {
                    id: "call_1".into(),
                    name: "ls".into(),
                    arguments: "{\"p\":1}".into(),
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input: 10,
                output: 5,
                cached: 4,
                reasoning: 0,
            },
        };
        let v = encode_response(&r);
        assert_eq!(
            v["content"].as_array().unwrap().len(),
            2,
            "unsigned reasoning is not shown as thinking"
        );
        assert_eq!(v["content"][1]["input"], json!({"p": 1}));
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(v["usage"]["input_tokens"], 6);
        assert_eq!(v["usage"]["cache_read_input_tokens"], 4);
    }

    fn events_of(sse: &str) -> Vec<(String, Value)> {
        sse.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                (
                    event.trim_start_matches("event: ").to_string(),
                    serde_json::from_str(data.trim_start_matches("data: ")).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn stream_opens_and_closes_blocks_in_order() {
        let mut e = StreamEncoder::default();
        let sse: String = [
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "m".into(),
            },
            StreamEvent::TextDelta { text: "Hi".into() },
            StreamEvent::TextDelta {
                text: " there".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "ls".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{\"p\":".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "1}".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 3,
                    output: 2,
                    cached: 0,
                    reasoning: 0,
                },
            },
            StreamEvent::TextDelta {
                text: "after the end".into(),
            },
        ]
        .iter()
        .map(|ev| e.encode(ev))
        .collect();
        let names: Vec<String> = events_of(&sse).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let events = events_of(&sse);
        assert_eq!(events[5].1["index"], 1);
        assert_eq!(events[5].1["content_block"]["type"], "tool_use");
        assert_eq!(events[7].1["delta"]["partial_json"], "1}");
        assert_eq!(events[9].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[9].1["usage"]["output_tokens"], 2);
    }

    #[test]
    fn a_failed_stream_ends_with_an_error_event() {
        let mut e = StreamEncoder::default();
        e.encode(&StreamEvent::Start {
            id: "m".into(),
            model: "m".into(),
        });
        let sse = e.encode(&StreamEvent::Error {
            message: "upstream broke".into(),
        });
        let events = events_of(&sse);
        assert_eq!(events[0].0, "error");
        assert_eq!(events[0].1["error"]["message"], "upstream broke");
        assert_eq!(e.encode(&StreamEvent::TextDelta { text: "x".into() }), "");
    }
}
