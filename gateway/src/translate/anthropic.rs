//! Anthropic Messages <-> IR: request decoding, response encoding and the stream encoder.

use serde_json::{Map, Value, json};

use super::ir::{
    Effort, Message, Part, Request, Response, Role, StopReason, StreamEvent, Tool, ToolChoice,
    Usage,
};
use super::{TranslateError, flat_text};

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError(message.into())
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
    let mut tools = Vec::new();
    for (i, t) in body["tools"].as_array().into_iter().flatten().enumerate() {
        // An empty name is refused here: upstreams reject it with an error
        // that names their format, not the caller's.
        let name = t["name"]
            .as_str()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| invalid(format!("tools.{i}.name: a tool needs a non-empty name")))?;
        tools.push(Tool {
            name: name.to_string(),
            description: t["description"].as_str().map(str::to_string),
            parameters: t
                .get("input_schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        });
    }
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
        // Claude Code sends `thinking: {"type": "adaptive"}` with the effort
        // in `output_config`; adaptive thinking alone means a medium effort.
        reasoning_effort: body["output_config"]["effort"]
            .as_str()
            .and_then(Effort::parse)
            .or_else(|| (body["thinking"]["type"] == "adaptive").then_some(Effort::Medium)),
        response_format: None,
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

/// An image part as an Anthropic image source.
fn image_source(url: &str) -> Value {
    match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media_type, data)) => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        None => json!({"type": "url", "url": url}),
    }
}

fn encode_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text { text } if !text.is_empty() => json!({"type": "text", "text": text}),
        Part::Text { .. } => return None,
        Part::Image { url } => json!({"type": "image", "source": image_source(url)}),
        // Only a real signature from this family may go back; reasoning
        // without one (another provider's) is dropped, never re-signed.
        Part::Reasoning {
            text,
            signature: Some(sig),
        } => json!({"type": "thinking", "thinking": text, "signature": sig}),
        Part::Reasoning { .. } => return None,
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": tool_input(arguments)})
        }
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => {
            json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error})
        }
    })
}

/// Output cap used when the caller set none (the Messages API requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 8192;

/// The smallest thinking budget Claude accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The Messages body for an IR request. System and developer messages
/// become the top-level `system`.
pub fn encode_request(request: &Request) -> Value {
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for message in &request.messages {
        if matches!(message.role, Role::System | Role::Developer) {
            system.extend(message.parts.iter().filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            }));
            continue;
        }
        let role = if message.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        let content: Vec<Value> = message.parts.iter().filter_map(encode_block).collect();
        if !content.is_empty() {
            messages.push(json!({"role": role, "content": content}));
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let v = match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::None => json!({"type": "none"}),
            ToolChoice::Required => json!({"type": "any"}),
            ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
        };
        body.insert("tool_choice".into(), v);
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    let max_tokens = request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    // Claude wants a budget of at least 1024 tokens, below `max_tokens`;
    // a budget that does not fit is shrunk, and dropped when nothing fits.
    let budget = request
        .reasoning_budget
        .or(request.reasoning_effort.map(Effort::budget))
        .map(|b| b.max(MIN_THINKING_BUDGET).min(max_tokens.saturating_sub(1)))
        .filter(|b| *b >= MIN_THINKING_BUDGET);
    if let Some(budget) = budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    } else {
        // With thinking on, Claude refuses a temperature or top_p change.
        if let Some(t) = request.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = request.top_p {
            body.insert("top_p".into(), json!(p));
        }
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

fn decode_stop(reason: &str) -> StopReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// Anthropic usage in IR terms: cache reads and writes are input too.
fn decode_usage(usage: &Value) -> Usage {
    let n = |key: &str| usage[key].as_u64().unwrap_or(0);
    Usage {
        // Saturating: counts come from the upstream, and may be absurd.
        input: n("input_tokens")
            .saturating_add(n("cache_read_input_tokens"))
            .saturating_add(n("cache_creation_input_tokens")),
        output: n("output_tokens"),
        cached: n("cache_read_input_tokens"),
        reasoning: 0,
    }
}

/// Follows the usage of a Messages stream event by event (for streams
/// relayed as they are): `message_start` has the input, `message_delta`
/// the output (newer streams repeat all of it there).
pub fn track_usage(event: &Value, usage: &mut Option<Usage>) {
    match event["type"].as_str() {
        Some("message_start") => *usage = Some(decode_usage(&event["message"]["usage"])),
        Some("message_delta") => {
            let delta = &event["usage"];
            if delta.get("input_tokens").is_some() {
                *usage = Some(decode_usage(delta));
            } else if let Some(output) = delta["output_tokens"].as_u64() {
                usage.get_or_insert_with(Usage::default).output = output;
            }
        }
        _ => {}
    }
}

/// Usage of a whole Messages response body, parsing only its usage object.
pub fn usage_of_body(body: &[u8]) -> Option<Usage> {
    crate::translate::sanitize::last_usage_object(body).map(|u| decode_usage(&u))
}

/// A whole Messages response in IR.
pub fn decode_response(body: &Value) -> Result<Response, TranslateError> {
    let blocks = body["content"]
        .as_array()
        .ok_or_else(|| invalid("the upstream response has no content"))?;
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        parts.extend(decode_block(block)?);
    }
    Ok(Response {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        model: body["model"].as_str().unwrap_or_default().to_string(),
        parts,
        stop: decode_stop(body["stop_reason"].as_str().unwrap_or("end_turn")),
        usage: decode_usage(&body["usage"]),
    })
}

/// Turns Messages stream events into IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    usage: Usage,
    stop: Option<StopReason>,
    /// Content block index -> tool call index, for tool_use blocks.
    tool_blocks: Vec<(u64, usize)>,
    finished: bool,
}

impl StreamDecoder {
    /// Events for one SSE event's data.
    pub fn event(&mut self, data: &Value) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        match data["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &data["message"];
                self.usage = decode_usage(&message["usage"]);
                events.push(StreamEvent::Start {
                    id: message["id"].as_str().unwrap_or_default().to_string(),
                    model: message["model"].as_str().unwrap_or_default().to_string(),
                });
            }
            "content_block_start" => {
                let block = &data["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tool_blocks.len();
                    self.tool_blocks
                        .push((data["index"].as_u64().unwrap_or(0), index));
                    events.push(StreamEvent::ToolCallStart {
                        index,
                        id: block["id"].as_str().unwrap_or_default().to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                    });
                } else if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                let text = |key: &str| delta[key].as_str().unwrap_or_default().to_string();
                match delta["type"].as_str().unwrap_or_default() {
                    "text_delta" => events.push(StreamEvent::TextDelta { text: text("text") }),
                    "thinking_delta" => events.push(StreamEvent::ReasoningDelta {
                        text: text("thinking"),
                    }),
                    "signature_delta" => events.push(StreamEvent::ReasoningSignature {
                        signature: text("signature"),
                    }),
                    "input_json_delta" => {
                        let block = data["index"].as_u64().unwrap_or(0);
                        let json = text("partial_json");
                        if let Some(&(_, index)) =
                            self.tool_blocks.iter().find(|(b, _)| *b == block)
                            && !json.is_empty()
                        {
                            events.push(StreamEvent::ToolCallArgumentsDelta { index, json });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop = Some(decode_stop(reason));
                }
                // Newer streams repeat the whole (cumulative) usage here;
                // older ones only the output tokens.
                let usage = &data["usage"];
                if usage.get("input_tokens").is_some() {
                    self.usage = decode_usage(usage);
                } else if let Some(output) = usage["output_tokens"].as_u64() {
                    self.usage.output = output;
                }
            }
            "message_stop" => events.extend(self.finish()),
            "error" => {
                self.finished = true;
                let message = data["error"]["message"]
                    .as_str()
                    .unwrap_or("the upstream reported an error");
                events.push(StreamEvent::Error {
                    message: message.to_string(),
                });
            }
            _ => {}
        }
        events
    }

    /// The closing event, once: at `message_stop` or when the stream ends.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        self.finished = true;
        Some(StreamEvent::Finish {
            stop: self.stop.unwrap_or(StopReason::EndTurn),
            usage: self.usage,
        })
    }
}

/// Which content block is open in the caller's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Tool(usize),
}

/// A tool call that began while another call's block was open.
#[derive(Debug)]
struct QueuedCall {
    index: usize,
    id: String,
    name: String,
    arguments: String,
}

/// Writes IR stream events as Anthropic SSE frames, opening and closing
/// content blocks as the kind of delta changes.
#[derive(Debug, Default)]
pub struct StreamEncoder {
    open: Option<Block>,
    index: usize,
    started: bool,
    done: bool,
    /// Parallel calls after the open one. Anthropic streams one block at a
    /// time, and upstreams may interleave the calls' argument deltas, so
    /// these are sent whole once the open call's block can close.
    queued: Vec<QueuedCall>,
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

    /// Closes the open block, then sends the queued calls whole.
    fn close_block(&mut self, out: &mut String) {
        self.close_open_block(out);
        for call in std::mem::take(&mut self.queued) {
            self.open_tool(out, call.index, &call.id, &call.name);
            if !call.arguments.is_empty() {
                self.arguments(out, &call.arguments);
            }
            self.close_open_block(out);
        }
    }

    fn close_open_block(&mut self, out: &mut String) {
        if self.open.take().is_some() {
            frame(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            );
            self.index += 1;
        }
    }

    fn open_tool(&mut self, out: &mut String, index: usize, id: &str, name: &str) {
        self.close_open_block(out);
        self.open_block(
            out,
            Block::Tool(index),
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        );
    }

    fn arguments(&self, out: &mut String, json: &str) {
        self.delta(
            out,
            json!({"type": "input_json_delta", "partial_json": json}),
        );
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
            // Reasoning reaching this encoder comes from another family and
            // has no Claude signature. Claude clients send thinking blocks
            // back, and Anthropic refuses unsigned ones, so it is not shown
            // (as `encode_response` does for whole answers).
            StreamEvent::ReasoningDelta { .. } | StreamEvent::ReasoningSignature { .. } => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                if matches!(self.open, Some(Block::Tool(_))) {
                    self.queued.push(QueuedCall {
                        index: *index,
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                } else {
                    self.open_tool(&mut out, *index, id, name);
                }
            }
            StreamEvent::ToolCallArgumentsDelta { index, json } => {
                if self.open == Some(Block::Tool(*index)) {
                    self.arguments(&mut out, json);
                } else if let Some(call) = self.queued.iter_mut().find(|c| c.index == *index) {
                    call.arguments.push_str(json);
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

    #[test]
    fn request_encodes_system_tools_images_and_only_signed_thinking() {
        let request = Request {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message {
                    role: Role::Developer,
                    parts: vec![Part::text("be brief")],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::text("look"),
                        Part::Image {
                            url: "data:image/png;base64,QUJD".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Reasoning {
                            text: "from another model".into(),
                            signature: None,
                        },
                        Part::Reasoning {
                            text: "mine".into(),
                            signature: Some("sig".into()),
                        },
                        Part::ToolCall {
                            id: "toolu_1".into(),
                            name: "ls".into(),
                            arguments: "{\"p\":1}".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult {
                        call_id: "toolu_1".into(),
                        content: "a.txt".into(),
                        is_error: true,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "ls".into(),
                description: None,
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Required),
            reasoning_budget: Some(2048),
            ..Default::default()
        };
        let body = encode_request(&request);
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(
            body["messages"][0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "QUJD"})
        );
        let assistant = body["messages"][1]["content"].as_array().unwrap();
        assert_eq!(
            assistant.len(),
            2,
            "unsigned reasoning dropped: {assistant:?}"
        );
        assert_eq!(assistant[0]["signature"], "sig");
        assert_eq!(assistant[1]["input"], json!({"p": 1}));
        assert_eq!(body["messages"][2]["role"], "user");
        assert_eq!(body["messages"][2]["content"][0]["is_error"], true);
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(body["thinking"]["budget_tokens"], 2048);
    }

    #[test]
    fn interleaved_parallel_call_arguments_all_reach_their_blocks() {
        let call = |index: usize, id: &str| StreamEvent::ToolCallStart {
            index,
            id: id.into(),
            name: "get_weather".into(),
        };
        let args = |index: usize, json: &str| StreamEvent::ToolCallArgumentsDelta {
            index,
            json: json.into(),
        };
        let events = [
            call(0, "t0"),
            call(1, "t1"),
            args(0, "{\"city\":"),
            args(1, "{\"city\":\"Tokyo\"}"),
            args(0, "\"Paris\"}"),
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage::default(),
            },
        ];
        let mut encoder = StreamEncoder::default();
        let sse: String = events.iter().map(|e| encoder.encode(e)).collect();
        let mut decoder = StreamDecoder::default();
        let decoded: Vec<StreamEvent> = events_of(&sse)
            .iter()
            .flat_map(|(_, data)| decoder.event(data))
            .collect();
        let mut calls: Vec<(String, String)> = Vec::new();
        for event in decoded {
            match event {
                StreamEvent::ToolCallStart { id, .. } => calls.push((id, String::new())),
                StreamEvent::ToolCallArgumentsDelta { json, .. } => {
                    calls.last_mut().unwrap().1.push_str(&json)
                }
                _ => {}
            }
        }
        assert_eq!(
            calls,
            vec![
                ("t0".to_string(), "{\"city\":\"Paris\"}".to_string()),
                ("t1".to_string(), "{\"city\":\"Tokyo\"}".to_string())
            ]
        );
    }

    #[test]
    fn a_thinking_budget_that_does_not_fit_is_shrunk_or_dropped() {
        let request = |max_tokens: u64, budget: Option<u64>| Request {
            model: "m".into(),
            max_tokens: Some(max_tokens),
            reasoning_budget: budget,
            reasoning_effort: Some(Effort::High),
            temperature: Some(0.5),
            ..Default::default()
        };
        // Found by fuzzing: this used to panic (`clamp` with min > max).
        let tiny = encode_request(&request(5, None));
        assert!(tiny.get("thinking").is_none(), "{tiny}");
        assert_eq!(tiny["temperature"], 0.5, "no thinking: temperature kept");
        let small = encode_request(&request(2000, Some(4095)));
        assert_eq!(small["thinking"]["budget_tokens"], 1999);
        assert!(
            small.get("temperature").is_none(),
            "Claude refuses it with thinking"
        );
        let low = encode_request(&request(8000, Some(10)));
        assert_eq!(low["thinking"]["budget_tokens"], MIN_THINKING_BUDGET);
    }

    #[test]
    fn absurd_upstream_token_counts_saturate() {
        let body = json!({"id": "m", "type": "message", "role": "assistant", "model": "c", "content": [],
            "stop_reason": "end_turn", "usage": {"input_tokens": u64::MAX, "cache_read_input_tokens": 1, "output_tokens": 1}});
        assert_eq!(decode_response(&body).unwrap().usage.input, u64::MAX);
    }

    #[test]
    fn claude_codes_adaptive_thinking_carries_its_effort() {
        let body = |extra: Value| {
            let mut b = json!({"model": "m", "max_tokens": 100, "messages": []});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            decode_request(&b).unwrap()
        };
        let r =
            body(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}));
        assert_eq!(
            (r.reasoning_effort, r.reasoning_budget),
            (Some(Effort::High), None)
        );
        let r = body(json!({"thinking": {"type": "adaptive"}}));
        assert_eq!(r.reasoning_effort, Some(Effort::Medium));
        let r = body(json!({"thinking": {"type": "disabled"}}));
        assert_eq!(r.reasoning_effort, None);
        assert_eq!(Effort::parse("none"), None, "no reasoning asked");
    }

    #[test]
    fn response_decodes_with_cache_reads_counted_as_input() {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "Hi"},
                {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"p": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0, "output_tokens": 7}});
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.usage,
            Usage {
                input: 105,
                output: 7,
                cached: 100,
                reasoning: 0
            }
        );
        assert_eq!(r.stop, StopReason::ToolUse);
        assert_eq!(r.parts.len(), 3);
        assert_eq!(
            encode_response(&r)["usage"]["input_tokens"],
            5,
            "round trip keeps the split"
        );
    }

    #[test]
    fn stream_decoder_follows_blocks_tools_and_usage() {
        let frames = [
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 377, "cache_read_input_tokens": 3, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 65}}),
            json!({"type": "message_stop"}),
        ];
        let mut d = StreamDecoder::default();
        let events: Vec<StreamEvent> = frames.iter().flat_map(|f| d.event(f)).collect();
        assert_eq!(
            events,
            vec![
                StreamEvent::Start {
                    id: "msg_1".into(),
                    model: "claude-sonnet-4-5".into()
                },
                StreamEvent::TextDelta {
                    text: "Checking.".into()
                },
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "toolu_1".into(),
                    name: "get_weather".into()
                },
                StreamEvent::ToolCallArgumentsDelta {
                    index: 0,
                    json: "{\"city\": \"Paris\"}".into()
                },
                StreamEvent::Finish {
                    stop: StopReason::ToolUse,
                    usage: Usage {
                        input: 380,
                        output: 65,
                        cached: 3,
                        reasoning: 0
                    }
                },
            ]
        );
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn encoder_output_decodes_back_to_the_same_events() {
        let events = vec![
            StreamEvent::Start {
                id: "msg_9".into(),
                model: "m".into(),
            },
            StreamEvent::ReasoningDelta {
                text: "think".into(),
            },
            StreamEvent::ReasoningSignature {
                signature: "sig".into(),
            },
            StreamEvent::TextDelta {
                text: "answer".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "t1".into(),
                name: "a".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "t2".into(),
                name: "b".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 1,
                json: "{\"x\":1}".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 10,
                    output: 3,
                    cached: 4,
                    reasoning: 0,
                },
            },
        ];
        let mut encoder = StreamEncoder::default();
        let sse: String = events.iter().map(|e| encoder.encode(e)).collect();
        let mut decoder = StreamDecoder::default();
        let back: Vec<StreamEvent> = events_of(&sse)
            .iter()
            .flat_map(|(_, data)| decoder.event(data))
            .collect();
        // Foreign (unsigned) reasoning is not shown to Claude clients.
        let shown: Vec<StreamEvent> = events.into_iter().filter(|e| !is_reasoning(e)).collect();
        assert_eq!(back, shown);
    }
}

#[cfg(test)]
fn is_reasoning(event: &StreamEvent) -> bool {
    matches!(
        event,
        StreamEvent::ReasoningDelta { .. } | StreamEvent::ReasoningSignature { .. }
    )
}

#[cfg(test)]
#[path = "anthropic_golden.rs"]
mod golden;
