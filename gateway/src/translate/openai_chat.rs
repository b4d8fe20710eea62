//! OpenAI Chat Completions <-> IR: request encoding, response decoding and the stream decoder.

use serde_json::{Map, Value, json};

use super::ir::{
    Effort, Message, Part, Request, Response, ResponseFormat, Role, StopReason, StreamEvent,
    ToolChoice, Usage,
};
use super::{TranslateError, flat_text};
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
    // Reasoning in the history is not sent: it comes from another family
    // (same-format traffic never reaches the IR), and DeepSeek refuses
    // `reasoning_content` in requests.
    if visible.is_empty() && calls.is_empty() {
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
    let effort = request
        .reasoning_effort
        .or(request.reasoning_budget.map(Effort::from_budget));
    if let Some(effort) = effort {
        body.insert("reasoning_effort".into(), json!(effort.as_str()));
    }
    if let Some(format) = &request.response_format {
        body.insert("response_format".into(), encode_response_format(format));
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

/// One entry of an OpenAI `tool_calls` list.
fn decode_tool_call(call: &Value) -> Part {
    let text = |pointer: &str, default: &str| {
        call.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    Part::ToolCall {
        id: text("/id", ""),
        name: text("/function/name", ""),
        arguments: text("/function/arguments", "{}"),
    }
}

/// A whole Chat Completions response in IR.
pub fn decode_response(body: &Value) -> Result<Response, TranslateError> {
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| TranslateError("the upstream response has no choices".into()))?;
    let message = &choice["message"];
    let mut parts = Vec::new();
    // DeepSeek names it `reasoning_content`; vLLM and OpenRouter `reasoning`.
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message[*key].as_str().filter(|r| !r.is_empty()));
    if let Some(r) = reasoning {
        parts.push(Part::Reasoning {
            text: r.to_string(),
            signature: None,
        });
    }
    if let Some(text) = message["content"].as_str().filter(|t| !t.is_empty()) {
        parts.push(Part::text(text));
    }
    // A refusal is the model's answer; dropping it would leave the caller
    // with an empty reply.
    if let Some(text) = message["refusal"].as_str().filter(|t| !t.is_empty()) {
        parts.push(Part::text(text));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        parts.push(decode_tool_call(call));
    }
    Ok(Response {
        id: body["id"].as_str().unwrap_or_default().to_string(),
        model: body["model"].as_str().unwrap_or_default().to_string(),
        parts,
        stop: stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        usage: TokenUsage::from_response(body).unwrap_or_default(),
    })
}

fn decode_content(content: &Value) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![Part::text(s.as_str())]),
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|item| match item["type"].as_str() {
                Some("text") | Some("input_text") => {
                    Some(Part::text(item["text"].as_str().unwrap_or_default()))
                }
                Some("image_url") => {
                    let url = item["image_url"]["url"]
                        .as_str()
                        .or_else(|| item["image_url"].as_str());
                    url.map(|u| Part::Image { url: u.to_string() })
                }
                _ => None,
            })
            .collect()),
        _ => Err(TranslateError(
            "message content must be a string or a list of parts".into(),
        )),
    }
}

/// Thinking budget for OpenAI's `reasoning_effort`.
/// OpenAI's `response_format`, when it asks for JSON.
fn decode_response_format(format: &Value) -> Option<ResponseFormat> {
    match format["type"].as_str()? {
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let spec = &format["json_schema"];
            Some(ResponseFormat::JsonSchema {
                name: spec["name"].as_str().unwrap_or("response").to_string(),
                schema: spec.get("schema").cloned().unwrap_or_else(|| json!({})),
                strict: spec["strict"].as_bool().unwrap_or(false),
            })
        }
        _ => None,
    }
}

/// OpenAI's `response_format` for an IR one.
pub(crate) fn encode_response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => json!({"type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": strict}}),
    }
}

/// A Chat Completions request in IR.
pub fn decode_request(body: &Value) -> Result<Request, TranslateError> {
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TranslateError("`model` is required".into()))?;
    let raw = body["messages"]
        .as_array()
        .ok_or_else(|| TranslateError("`messages` must be an array".into()))?;
    let mut messages = Vec::with_capacity(raw.len());
    for m in raw {
        let role = match m["role"].as_str() {
            Some("system") => Role::System,
            Some("developer") => Role::Developer,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("tool") => Role::Tool,
            other => return Err(TranslateError(format!("unknown role {other:?}"))),
        };
        let mut parts = Vec::new();
        if role == Role::Tool {
            parts.push(Part::ToolResult {
                call_id: m["tool_call_id"].as_str().unwrap_or_default().to_string(),
                content: flat_text(&m["content"]),
                is_error: false,
            });
        } else {
            if let Some(r) = m["reasoning_content"].as_str().filter(|r| !r.is_empty()) {
                parts.push(Part::Reasoning {
                    text: r.to_string(),
                    signature: None,
                });
            }
            parts.extend(decode_content(&m["content"])?);
            for call in m["tool_calls"].as_array().into_iter().flatten() {
                parts.push(decode_tool_call(call));
            }
        }
        messages.push(Message { role, parts });
    }
    let mut tools = Vec::new();
    for (i, t) in body["tools"].as_array().into_iter().flatten().enumerate() {
        if t["type"].as_str().is_some_and(|kind| kind != "function") {
            continue; // custom and built-in tools have no IR form
        }
        let f = &t["function"];
        // An empty name is refused here: upstreams reject it with an error
        // that names their format, not the caller's.
        let name = f["name"]
            .as_str()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                TranslateError(format!(
                    "tools[{i}].function.name: a tool needs a non-empty name"
                ))
            })?;
        tools.push(super::ir::Tool {
            name: name.to_string(),
            description: f["description"].as_str().map(str::to_string),
            parameters: f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    let tool_choice = match &body["tool_choice"] {
        Value::String(s) if s == "auto" => Some(ToolChoice::Auto),
        Value::String(s) if s == "none" => Some(ToolChoice::None),
        Value::String(s) if s == "required" => Some(ToolChoice::Required),
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f["name"].as_str())
            .map(|name| ToolChoice::Tool {
                name: name.to_string(),
            }),
        _ => None,
    };
    let stop = match &body["stop"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Request {
        model: model.to_string(),
        messages,
        tools,
        tool_choice,
        max_tokens: body["max_completion_tokens"]
            .as_u64()
            .or_else(|| body["max_tokens"].as_u64()),
        temperature: body["temperature"].as_f64(),
        top_p: body["top_p"].as_f64(),
        stop,
        stream: body["stream"].as_bool().unwrap_or(false),
        reasoning_budget: None,
        reasoning_effort: body["reasoning_effort"].as_str().and_then(Effort::parse),
        response_format: decode_response_format(&body["response_format"]),
    })
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input.saturating_add(u.output),
        "prompt_tokens_details": {"cached_tokens": u.cached},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The Chat Completions response for an IR response.
pub fn encode_response(response: &Response) -> Value {
    let text: String = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let reasoning: String = response
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Reasoning { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<Value> = response.parts.iter().filter_map(|p| match p {
        Part::ToolCall { id, name, arguments } => {
            Some(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
        }
        _ => None,
    }).collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": response.id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": response.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(response.stop)}],
        "usage": usage_json(&response.usage),
    })
}

/// Writes IR stream events as Chat Completions chunks.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    done: bool,
    /// `data: {"id":…,"choices":[{"index":0,"delta":` for this stream: the
    /// same in every chunk, so written once (chunks are the hot path).
    prefix: Option<String>,
}

/// What follows the delta of a chunk that does not finish the stream.
const OPEN_CHUNK_END: &str = ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";

impl StreamEncoder {
    /// `include_usage`: the caller asked for `stream_options.include_usage`.
    pub fn new(include_usage: bool) -> StreamEncoder {
        StreamEncoder {
            id: String::new(),
            model: String::new(),
            created: unix_now(),
            include_usage,
            done: false,
            prefix: None,
        }
    }

    fn prefix(&mut self) -> &str {
        let (id, created, model) = (&self.id, self.created, &self.model);
        self.prefix.get_or_insert_with(|| {
            let head = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model});
            let head = head.to_string();
            // `{"id":…,"model":"m"}` -> `data: {"id":…,"model":"m","choices":[{"index":0,"delta":`
            format!(
                "data: {},\"choices\":[{{\"index\":0,\"delta\":",
                &head[..head.len() - 1]
            )
        })
    }

    fn chunk(&mut self, out: &mut String, delta: Value, finish: Option<&str>) {
        out.push_str(self.prefix());
        out.push_str(&delta.to_string());
        match finish {
            None => out.push_str(OPEN_CHUNK_END),
            Some(reason) => {
                out.push_str(",\"logprobs\":null,\"finish_reason\":");
                out.push_str(&json!(reason).to_string());
                out.push_str("}]}\n\n");
            }
        }
    }

    /// A chunk whose delta is one string field, written without building a
    /// JSON value.
    fn text_chunk(&mut self, out: &mut String, field: &str, text: &str) {
        out.push_str(self.prefix());
        out.push_str("{\"");
        out.push_str(field);
        out.push_str("\":");
        out.push_str(&Value::from(text).to_string());
        out.push('}');
        out.push_str(OPEN_CHUNK_END);
    }

    pub fn encode(&mut self, event: &StreamEvent) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                self.model = model.clone();
                self.prefix = None;
                self.chunk(&mut out, json!({"role": "assistant", "content": ""}), None);
            }
            StreamEvent::TextDelta { text } => self.text_chunk(&mut out, "content", text),
            StreamEvent::ReasoningDelta { text } => self.text_chunk(&mut out, "reasoning_content", text),
            StreamEvent::ReasoningSignature { .. } => {}
            StreamEvent::ToolCallStart { index, id, name } => self.chunk(
                &mut out,
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
            ),
            StreamEvent::ToolCallArgumentsDelta { index, json } => self.chunk(
                &mut out,
                serde_json::json!({"tool_calls": [{"index": index, "function": {"arguments": json}}]}),
                None,
            ),
            StreamEvent::Finish { stop, usage } => {
                self.chunk(&mut out, json!({}), Some(finish_reason(*stop)));
                if self.include_usage {
                    let chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage_json(usage)});
                    out.push_str("data: ");
                    out.push_str(&chunk.to_string());
                    out.push_str("\n\n");
                }
                out.push_str("data: [DONE]\n\n");
                self.done = true;
            }
            StreamEvent::Error { message } => {
                let body = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": "stream_interrupted"}});
                out.push_str("data: ");
                out.push_str(&body.to_string());
                out.push_str("\n\n");
                self.done = true;
            }
        }
        out
    }
}

/// Turns Chat Completions chunks into IR events. The finish reason and the
/// usage come in different chunks; `Finish` is emitted once both are known,
/// or when the stream ends.
#[derive(Debug, Default)]
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
            // Some servers send both names with the same text: one is read.
            let reasoning = ["reasoning_content", "reasoning"]
                .iter()
                .find_map(|key| delta[*key].as_str().filter(|t| !t.is_empty()));
            if let Some(text) = reasoning {
                events.push(StreamEvent::ReasoningDelta {
                    text: text.to_string(),
                });
            }
            for key in ["content", "refusal"] {
                if let Some(text) = delta[key].as_str().filter(|t| !t.is_empty()) {
                    events.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
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

    #[test]
    fn refusals_and_vllm_reasoning_are_kept() {
        let body = json!({"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": null, "reasoning": "hmm", "refusal": "I can't help with that."}}]});
        let r = decode_response(&body).unwrap();
        assert_eq!(
            r.parts,
            vec![
                Part::Reasoning {
                    text: "hmm".into(),
                    signature: None
                },
                Part::text("I can't help with that.")
            ]
        );
        let mut decoder = StreamDecoder::default();
        let events = decoder.chunk(&json!({"id": "c", "model": "m", "choices": [{"index": 0,
            "delta": {"reasoning": "a", "reasoning_content": "a", "refusal": "no"}}]}));
        assert_eq!(
            events[1..],
            [
                StreamEvent::ReasoningDelta { text: "a".into() },
                StreamEvent::TextDelta { text: "no".into() }
            ]
        );
    }

    #[test]
    fn fast_text_chunks_are_the_same_bytes_as_whole_chunks() {
        let mut encoder = StreamEncoder::new(false);
        encoder.encode(&StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "m\"x".into(),
        });
        let text = "say \"hi\"\n\u{1F600}";
        let fast = encoder.encode(&StreamEvent::TextDelta { text: text.into() });
        let whole = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": encoder.created,
            "model": "m\"x", "choices": [{"index": 0, "delta": {"content": text}, "logprobs": null, "finish_reason": null}]});
        assert_eq!(fast, format!("data: {whole}\n\n"));
        let finish = encoder.encode(&StreamEvent::Finish {
            stop: StopReason::ToolUse,
            usage: Usage::default(),
        });
        let whole = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": encoder.created,
            "model": "m\"x", "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "tool_calls"}]});
        assert_eq!(finish, format!("data: {whole}\n\ndata: [DONE]\n\n"));
    }

    #[test]
    fn request_decodes_roles_parts_tools_and_limits() {
        let body = json!({
            "model": "claude/claude-sonnet-4-5", "max_completion_tokens": 500, "stop": "END", "reasoning_effort": "high",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}
            ],
            "tools": [{"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}, {"type": "custom", "custom": {"name": "grep"}}],
            "tool_choice": "required"
        });
        let r = decode_request(&body).unwrap();
        assert_eq!(r.max_tokens, Some(500));
        assert_eq!(r.stop, vec!["END"]);
        assert_eq!(r.reasoning_effort, Some(Effort::High));
        assert_eq!(r.messages[0].role, Role::Developer);
        assert_eq!(
            r.messages[1].parts[1],
            Part::Image {
                url: "https://x/y.png".into()
            }
        );
        assert!(matches!(&r.messages[2].parts[0], Part::ToolCall { name, .. } if name == "ls"));
        assert_eq!(
            r.messages[3].parts[0],
            Part::ToolResult {
                call_id: "call_1".into(),
                content: "a.txt".into(),
                is_error: false
            }
        );
        assert_eq!(r.tools.len(), 1, "a custom tool has no IR form");
        assert_eq!(r.tool_choice, Some(ToolChoice::Required));
        let mut unnamed = body.clone();
        unnamed["tools"][1] = json!({"type": "function", "function": {"name": " "}});
        let refused = decode_request(&unnamed).unwrap_err();
        assert!(refused.0.contains("tools[1].function.name"), "{refused}");
        assert!(decode_request(&json!({"model": "m", "messages": [{"role": "wizard"}]})).is_err());
    }

    #[test]
    fn response_encodes_tool_calls_and_usage_details() {
        let r = Response {
            id: "msg_1".into(),
            model: "claude-sonnet-4-5".into(),
            parts: vec![
                Part::Reasoning {
                    text: "hm".into(),
                    signature: Some("s".into()),
                },
                Part::ToolCall {
                    id: "t".into(),
                    name: "ls".into(),
                    arguments: "{}".into(),
                },
            ],
            stop: StopReason::ToolUse,
            usage: Usage {
                input: 10,
                output: 2,
                cached: 3,
                reasoning: 0,
            },
        };
        let v = encode_response(&r);
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(v["choices"][0]["message"]["reasoning_content"], "hm");
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
        assert_eq!(decode_response(&v).unwrap().usage, r.usage);
    }

    #[test]
    fn stream_encoder_output_decodes_back_to_the_same_events() {
        let events = vec![
            StreamEvent::Start {
                id: "c".into(),
                model: "m".into(),
            },
            StreamEvent::ReasoningDelta {
                text: "think".into(),
            },
            StreamEvent::TextDelta { text: "Hi".into() },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "ls".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{}".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 5,
                    output: 1,
                    cached: 2,
                    reasoning: 1,
                },
            },
        ];
        let mut encoder = StreamEncoder::new(true);
        let sse: String = events.iter().map(|e| encoder.encode(e)).collect();
        assert!(sse.ends_with("data: [DONE]\n\n"));
        let mut decoder = StreamDecoder::default();
        let back: Vec<StreamEvent> = sse
            .split("\n\n")
            .filter_map(|f| f.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .flat_map(|d| decoder.chunk(&serde_json::from_str(d).unwrap()))
            .collect();
        assert_eq!(back, events);
    }
}

#[cfg(test)]
#[path = "openai_chat_golden.rs"]
mod golden;
