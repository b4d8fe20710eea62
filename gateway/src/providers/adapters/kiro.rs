//! Kiro (`kr/`, AWS CodeWhisperer `generateAssistantResponse`): the `conversationState` request body, and the AWS event-stream answer decoded into IR events.
//!
//! Facts: docs/oauth/kiro-kilo-cline-iflow.md §1.6–1.9. Kiro answers only
//! as a binary `application/vnd.amazon.eventstream`, never SSE, so the
//! decoder here plays the role a format's `StreamDecoder` plays elsewhere.

use serde_json::{Map, Value, json};

use crate::translate::ir::{Message, Part, Request, Role, StopReason, StreamEvent, Usage};

/// What Kiro calls the client's surface; it must match the endpoint (the
/// IDE endpoints take `AI_EDITOR`, a mismatch is refused with 403).
const ORIGIN: &str = "AI_EDITOR";

/// Kiro rejects longer tool descriptions (CLIProxyAPI `KiroMaxToolDescLen`).
const MAX_TOOL_DESCRIPTION_BYTES: usize = 10240;

/// The largest frame accepted: a longer one means a broken or hostile
/// upstream, and holding it would let it exhaust memory.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The context window assumed when estimating input tokens from Kiro's
/// `contextUsagePercentage`; Kiro's Claude models have 200k.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;

/// The `modelId` Kiro expects for a model name a caller uses.
///
/// Kiro answers an unknown id with 400 "Invalid model", so names are
/// normalised the way the working gateways do: drop a `kiro-`/`amazonq-`
/// prefix, an `-agentic` suffix and a `-YYYYMMDD` date, then write version
/// numbers with dots (`claude-sonnet-4-5` -> `claude-sonnet-4.5`). Two old
/// models are only known under their upper-case ids.
pub fn model_id(model: &str) -> String {
    let mut name = model;
    for prefix in ["kiro-", "amazonq-"] {
        name = name.strip_prefix(prefix).unwrap_or(name);
    }
    name = name.strip_suffix("-agentic").unwrap_or(name);
    if let Some((head, date)) = name.rsplit_once('-')
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
    {
        name = head;
    }
    match name {
        "claude-sonnet-4" => return "CLAUDE_SONNET_4_20250514_V1_0".to_string(),
        "claude-3-7-sonnet" => return "CLAUDE_3_7_SONNET_20250219_V1_0".to_string(),
        _ => {}
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut out = String::with_capacity(name.len());
    let mut previous_numeric = false;
    for (i, segment) in name.split('-').enumerate() {
        let is_numeric = numeric(segment);
        if i > 0 {
            out.push(if previous_numeric && is_numeric {
                '.'
            } else {
                '-'
            });
        }
        out.push_str(segment);
        previous_numeric = is_numeric;
    }
    out
}

/// One side of the conversation while turns are merged.
#[derive(Debug, Default)]
struct UserTurn {
    texts: Vec<String>,
    images: Vec<Value>,
    results: Vec<Value>,
}

#[derive(Debug, Default)]
struct AssistantTurn {
    texts: Vec<String>,
    tool_uses: Vec<Value>,
}

#[derive(Debug)]
enum Turn {
    User(UserTurn),
    Assistant(AssistantTurn),
}

/// An image Kiro can take: only inline bytes, so only `data:` URLs of the
/// four formats it lists; a linked image cannot be expressed and is left out.
fn image(url: &str) -> Option<Value> {
    let rest = url.strip_prefix("data:image/")?;
    let (subtype, data) = rest.split_once(";base64,")?;
    let format = match subtype {
        "png" => "png",
        "jpeg" | "jpg" => "jpeg",
        "gif" => "gif",
        "webp" => "webp",
        _ => return None,
    };
    Some(json!({"format": format, "source": {"bytes": data}}))
}

fn tool_result(call_id: &str, content: &str, is_error: bool) -> Value {
    json!({
        "toolUseId": call_id,
        "status": if is_error { "error" } else { "success" },
        "content": [{"text": content}],
    })
}

fn user_part(turn: &mut UserTurn, part: &Part) {
    match part {
        Part::Text { text } if !text.is_empty() => turn.texts.push(text.clone()),
        Part::Image { url } => turn.images.extend(image(url)),
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => turn.results.push(tool_result(call_id, content, *is_error)),
        _ => {}
    }
}

fn assistant_part(turn: &mut AssistantTurn, part: &Part) {
    match part {
        Part::Text { text } if !text.is_empty() => turn.texts.push(text.clone()),
        Part::ToolCall {
            id,
            name,
            arguments,
        } => {
            // Kiro wants the input as an object. Arguments that are not
            // JSON (a model's broken call) cannot be one; an empty object
            // keeps the turn valid, and the tool result says what happened.
            let input = serde_json::from_str::<Value>(arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            turn.tool_uses
                .push(json!({"toolUseId": id, "name": name, "input": input}));
        }
        // Thinking is never switched on for Kiro, and a signed reasoning
        // block from another upstream would be refused; it stays out.
        _ => {}
    }
}

/// Adjacent messages of one side become one turn: Kiro wants the history
/// to alternate user / assistant, and tool results ride on a user turn.
fn turns(messages: &[Message]) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for message in messages {
        match message.role {
            Role::System | Role::Developer => {}
            Role::User | Role::Tool => {
                if !matches!(turns.last(), Some(Turn::User(_))) {
                    turns.push(Turn::User(UserTurn::default()));
                }
                if let Some(Turn::User(turn)) = turns.last_mut() {
                    message.parts.iter().for_each(|p| user_part(turn, p));
                }
            }
            Role::Assistant => {
                if !matches!(turns.last(), Some(Turn::Assistant(_))) {
                    turns.push(Turn::Assistant(AssistantTurn::default()));
                }
                if let Some(Turn::Assistant(turn)) = turns.last_mut() {
                    message.parts.iter().for_each(|p| assistant_part(turn, p));
                }
            }
        }
    }
    turns
}

fn system_text(messages: &[Message]) -> String {
    messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::Text { text } if !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn tool_spec(tool: &crate::translate::ir::Tool) -> Value {
    let mut description = tool.description.clone().unwrap_or_default();
    if description.len() > MAX_TOOL_DESCRIPTION_BYTES {
        let mut cut = MAX_TOOL_DESCRIPTION_BYTES;
        while !description.is_char_boundary(cut) {
            cut -= 1;
        }
        description.truncate(cut);
    }
    let schema = if tool.parameters.is_object() {
        tool.parameters.clone()
    } else {
        json!({"type": "object", "properties": {}})
    };
    json!({"toolSpecification": {
        "name": tool.name,
        "description": description,
        "inputSchema": {"json": schema},
    }})
}

/// A `userInputMessage`. Kiro refuses empty content, so a turn with none
/// gets the placeholder the working gateways send.
fn user_message(turn: UserTurn, model: &str, placeholder: &str, tools: &[Value]) -> Value {
    let content = if turn.texts.is_empty() {
        if turn.results.is_empty() {
            placeholder.to_string()
        } else {
            "[tool_result]".to_string()
        }
    } else {
        turn.texts.join("\n\n")
    };
    let mut message = Map::new();
    message.insert("content".into(), content.into());
    message.insert("modelId".into(), model.into());
    message.insert("origin".into(), ORIGIN.into());
    if !turn.images.is_empty() {
        message.insert("images".into(), Value::Array(turn.images));
    }
    let mut context = Map::new();
    if !turn.results.is_empty() {
        context.insert("toolResults".into(), Value::Array(turn.results));
    }
    if !tools.is_empty() {
        context.insert("tools".into(), Value::Array(tools.to_vec()));
    }
    message.insert("userInputMessageContext".into(), Value::Object(context));
    json!({"userInputMessage": message})
}

fn assistant_message(turn: AssistantTurn) -> Value {
    let content = match (turn.texts.is_empty(), turn.tool_uses.is_empty()) {
        (false, _) => turn.texts.join("\n\n"),
        (true, false) => "[tool_call]".to_string(),
        (true, true) => "[empty]".to_string(),
    };
    let mut message = Map::new();
    message.insert("content".into(), content.into());
    if !turn.tool_uses.is_empty() {
        message.insert("toolUses".into(), Value::Array(turn.tool_uses));
    }
    json!({"assistantResponseMessage": message})
}

/// The `generateAssistantResponse` body for `req`.
///
/// Kiro has no system field: the system prompt opens the first user turn,
/// where it stays put as the conversation grows (so the prefix caches).
/// Sampling settings and `tool_choice` have no place in the body and are
/// dropped. `profile_arn` is left out for accounts that have none (Builder
/// ID); `conversation_id` should stay the same across one conversation.
pub fn encode_request(req: &Request, profile_arn: Option<&str>, conversation_id: &str) -> Value {
    let model = model_id(&req.model);
    let mut turns = turns(&req.messages);
    if !matches!(turns.first(), Some(Turn::User(_))) {
        turns.insert(0, Turn::User(UserTurn::default()));
    }
    let system = system_text(&req.messages);
    if !system.is_empty()
        && let Some(Turn::User(first)) = turns.first_mut()
    {
        first.texts.insert(0, system);
    }
    let tools: Vec<Value> = req.tools.iter().map(tool_spec).collect();
    // The current message is always the user's; a conversation that ends
    // on the assistant (a prefill) continues from there.
    let current = match turns.pop() {
        Some(Turn::User(turn)) => turn,
        last => {
            turns.extend(last);
            UserTurn::default()
        }
    };
    let current = user_message(current, &model, "[continue]", &tools);
    let history: Vec<Value> = turns
        .into_iter()
        .map(|turn| match turn {
            Turn::User(turn) => {
                let mut message = user_message(turn, &model, "[empty]", &[]);
                // History turns carry a context only when it holds results.
                if let Some(m) = message["userInputMessage"].as_object_mut()
                    && m["userInputMessageContext"]
                        .as_object()
                        .is_some_and(Map::is_empty)
                {
                    m.remove("userInputMessageContext");
                }
                message
            }
            Turn::Assistant(turn) => assistant_message(turn),
        })
        .collect();
    let mut state = Map::new();
    state.insert("chatTriggerType".into(), "MANUAL".into());
    state.insert("conversationId".into(), conversation_id.into());
    state.insert("currentMessage".into(), current);
    if !history.is_empty() {
        state.insert("history".into(), Value::Array(history));
    }
    let mut body = Map::new();
    body.insert("conversationState".into(), Value::Object(state));
    if let Some(arn) = profile_arn {
        body.insert("profileArn".into(), arn.into());
    }
    Value::Object(body)
}

/// One AWS event-stream message with `string` headers (type 7), as Kiro
/// sends them: prelude (total length, headers length, CRC32 of the eight
/// bytes before it), headers, payload, CRC32 of everything before it.
/// Used by tests and by mock upstreams.
pub fn encode_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut header_bytes = Vec::new();
    for (name, value) in headers {
        // Names longer than a u8 or values longer than a u16 cannot be
        // framed; they are cut to fit rather than corrupting the frame.
        let name = &name.as_bytes()[..name.len().min(u8::MAX as usize)];
        let value = &value.as_bytes()[..value.len().min(u16::MAX as usize)];
        header_bytes.push(name.len() as u8);
        header_bytes.extend_from_slice(name);
        header_bytes.push(7);
        header_bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
        header_bytes.extend_from_slice(value);
    }
    let total = 12 + header_bytes.len() + payload.len() + 4;
    let mut frame = Vec::with_capacity(total);
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&frame[..8]);
    frame.extend_from_slice(&prelude_crc.to_be_bytes());
    frame.extend_from_slice(&header_bytes);
    frame.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&message_crc.to_be_bytes());
    frame
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// A frame's string headers and payload.
struct Frame<'a> {
    headers: Vec<(String, String)>,
    payload: &'a [u8],
}

impl Frame<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The frame at the start of `buf`: `Ok(None)` while it is incomplete,
/// else the frame and its length.
fn read_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, String> {
    if buf.len() < 12 {
        return Ok(None);
    }
    // The prelude is checked before waiting for the body, so a corrupt
    // length cannot make the decoder wait for (or buffer) a bogus size.
    if crc32fast::hash(&buf[..8]) != be32(buf, 8) {
        return Err("prelude checksum mismatch".to_string());
    }
    let total = be32(buf, 0) as usize;
    let headers_len = be32(buf, 4) as usize;
    if !(16..=MAX_FRAME_BYTES).contains(&total) {
        return Err(format!("frame length {total} out of range"));
    }
    if headers_len > total - 16 {
        return Err(format!(
            "headers length {headers_len} exceeds frame length {total}"
        ));
    }
    if buf.len() < total {
        return Ok(None);
    }
    if crc32fast::hash(&buf[..total - 4]) != be32(buf, total - 4) {
        return Err("message checksum mismatch".to_string());
    }
    let headers = read_headers(&buf[12..12 + headers_len])?;
    Ok(Some((
        Frame {
            headers,
            payload: &buf[12 + headers_len..total - 4],
        },
        total,
    )))
}

/// The string headers of a header block; values of the other types are
/// skipped by their size.
fn read_headers(mut block: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn take<'a>(block: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if block.len() < n {
            return Err("header block cut short".to_string());
        }
        let (head, rest) = block.split_at(n);
        *block = rest;
        Ok(head)
    }
    let mut headers = Vec::new();
    while !block.is_empty() {
        let name_len = take(&mut block, 1)?[0] as usize;
        let name = String::from_utf8_lossy(take(&mut block, name_len)?).into_owned();
        let kind = take(&mut block, 1)?[0];
        match kind {
            // Booleans carry their value in the type; the fixed-size
            // types (byte, short, int, long, timestamp, uuid) are skipped.
            0 | 1 => {}
            2..=5 | 8 | 9 => {
                let size = match kind {
                    2 => 1,
                    3 => 2,
                    4 => 4,
                    9 => 16,
                    _ => 8,
                };
                take(&mut block, size)?;
            }
            6 | 7 => {
                let len = take(&mut block, 2)?;
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                let value = take(&mut block, len)?;
                if kind == 7 {
                    headers.push((name, String::from_utf8_lossy(value).into_owned()));
                }
            }
            other => return Err(format!("unknown header value type {other}")),
        }
    }
    Ok(headers)
}

/// A tool call in the stream, by Kiro's `toolUseId`.
#[derive(Debug)]
struct ToolCall {
    tool_use_id: String,
    /// Whether any input arrived; a call that ends with none gets `{}`.
    has_input: bool,
    stopped: bool,
}

/// Turns Kiro's event-stream bytes, in chunks cut anywhere, into IR events:
/// a `Start` first, then text, reasoning and tool calls, and from
/// [`finish`](Self::finish) the `Finish` (or an `Error`).
#[derive(Debug)]
pub struct EventStreamDecoder {
    id: String,
    model: String,
    context_window: u64,
    buf: Vec<u8>,
    started: bool,
    /// An error ended the stream, or it finished.
    ended: bool,
    frames: usize,
    tools: Vec<ToolCall>,
    /// Exact token counts, when Kiro sent them.
    usage: Option<Usage>,
    context_percentage: Option<f64>,
    credits: Option<f64>,
    /// Bytes of text, reasoning and tool input, to estimate output tokens
    /// when Kiro sends no counts.
    output_bytes: usize,
    max_tokens: bool,
}

impl EventStreamDecoder {
    /// `id` and `model` name the response in the `Start` event: Kiro's
    /// stream names neither.
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> EventStreamDecoder {
        EventStreamDecoder {
            id: id.into(),
            model: model.into(),
            context_window: DEFAULT_CONTEXT_WINDOW,
            buf: Vec::new(),
            started: false,
            ended: false,
            frames: 0,
            tools: Vec::new(),
            usage: None,
            context_percentage: None,
            credits: None,
            output_bytes: 0,
            max_tokens: false,
        }
    }

    /// The model's context window, for estimating input tokens from the
    /// context percentage Kiro reports (see [`DEFAULT_CONTEXT_WINDOW`]).
    pub fn with_context_window(mut self, tokens: u64) -> EventStreamDecoder {
        self.context_window = tokens;
        self
    }

    /// Kiro credits the request cost (`meteringEvent`), once reported.
    pub fn credits(&self) -> Option<f64> {
        self.credits
    }

    /// The IR events of the frames `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start {
                id: self.id.clone(),
                model: self.model.clone(),
            });
        }
        // The buffer is taken out while frames are read from it, so each
        // frame borrows it while `self` records what the frame says.
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(chunk);
        let mut at = 0;
        while !self.ended {
            match read_frame(&buf[at..]) {
                Ok(Some((frame, len))) => {
                    at += len;
                    self.frames += 1;
                    self.frame(&frame, &mut events);
                }
                Ok(None) => break,
                Err(reason) => {
                    self.fail(
                        format!("Kiro sent a corrupt event-stream frame: {reason}"),
                        &mut events,
                    );
                }
            }
        }
        // After an error nothing more is read, so nothing is kept.
        if !self.ended {
            buf.drain(..at);
            self.buf = buf;
        }
        events
    }

    /// The closing event: `Finish` (tool use when a tool was called, else
    /// end of turn), or an `Error` for a stream cut inside a frame or one
    /// with no frames. `None` once the stream has ended.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        if std::mem::replace(&mut self.ended, true) {
            return None;
        }
        if !self.buf.is_empty() {
            return Some(StreamEvent::Error {
                message: "Kiro's stream ended inside an event-stream frame".to_string(),
            });
        }
        if self.frames == 0 {
            return Some(StreamEvent::Error {
                message: "Kiro sent an empty stream".to_string(),
            });
        }
        let stop = if !self.tools.is_empty() {
            StopReason::ToolUse
        } else if self.max_tokens {
            StopReason::MaxTokens
        } else {
            StopReason::EndTurn
        };
        Some(StreamEvent::Finish {
            stop,
            usage: self.usage.unwrap_or_else(|| self.estimated_usage()),
        })
    }

    /// Kiro's stream often carries no token counts, only the share of the
    /// context window used; an estimate beats counting the call as free.
    fn estimated_usage(&self) -> Usage {
        let input = self
            .context_percentage
            .map(|p| (p.clamp(0.0, 100.0) / 100.0 * self.context_window as f64).round() as u64)
            .unwrap_or(0);
        Usage {
            input,
            output: self.output_bytes.div_ceil(4) as u64,
            cached: 0,
            reasoning: 0,
        }
    }

    fn frame(&mut self, frame: &Frame<'_>, events: &mut Vec<StreamEvent>) {
        let payload: Value = serde_json::from_slice(frame.payload).unwrap_or(Value::Null);
        match frame.header(":message-type").unwrap_or("event") {
            "event" => {}
            _ => {
                // `exception` and `error` frames end the stream.
                let kind = frame
                    .header(":exception-type")
                    .or_else(|| frame.header(":error-code"))
                    .unwrap_or("error");
                let message = payload["message"]
                    .as_str()
                    .or_else(|| payload["Message"].as_str())
                    .or_else(|| frame.header(":error-message"))
                    .map(str::to_string)
                    .unwrap_or_else(|| String::from_utf8_lossy(frame.payload).into_owned());
                self.fail(format!("Kiro {kind}: {message}"), events);
                return;
            }
        }
        let Some(event_type) = frame.header(":event-type") else {
            return;
        };
        // Kiro has sent both `{"content": …}` and
        // `{"assistantResponseEvent": {"content": …}}`.
        let body = match payload.get(event_type) {
            Some(inner) if inner.is_object() => inner,
            _ => &payload,
        };
        match event_type {
            "assistantResponseEvent" => {
                if let Some(text) = body["content"].as_str().filter(|t| !t.is_empty()) {
                    self.output_bytes += text.len();
                    events.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
                if body["stopReason"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case("max_tokens"))
                {
                    self.max_tokens = true;
                }
            }
            "toolUseEvent" => self.tool_use(body, events),
            "reasoningContentEvent" => {
                if let Some(text) = body["text"].as_str().filter(|t| !t.is_empty()) {
                    self.output_bytes += text.len();
                    events.push(StreamEvent::ReasoningDelta {
                        text: text.to_string(),
                    });
                }
                if let Some(signature) = body["signature"].as_str().filter(|s| !s.is_empty()) {
                    events.push(StreamEvent::ReasoningSignature {
                        signature: signature.to_string(),
                    });
                }
            }
            "meteringEvent" => {
                if let Some(usage) = body["usage"].as_f64() {
                    self.credits = Some(self.credits.unwrap_or(0.0) + usage);
                }
            }
            "contextUsageEvent" => {
                if let Some(p) = body["contextUsagePercentage"].as_f64() {
                    self.context_percentage = Some(p);
                }
            }
            "metadataEvent" | "messageMetadataEvent" => {
                let tokens = &body["tokenUsage"];
                if tokens.is_object() {
                    let n = |key: &str| tokens[key].as_u64().unwrap_or(0);
                    let cached = n("cacheReadInputTokens");
                    // All input the model read: its `totalTokens` is
                    // uncached + cache read + cache write + output.
                    self.usage = Some(Usage {
                        input: n("uncachedInputTokens")
                            .saturating_add(cached)
                            .saturating_add(n("cacheWriteInputTokens")),
                        output: n("outputTokens"),
                        cached,
                        reasoning: 0,
                    });
                }
                if let Some(p) = tokens["contextUsagePercentage"].as_f64() {
                    self.context_percentage = Some(p);
                }
            }
            "usageEvent" | "metricsEvent" => {
                let input = body["inputTokens"].as_u64();
                let output = body["outputTokens"].as_u64();
                if input.is_some() || output.is_some() {
                    self.usage = Some(Usage {
                        input: input.unwrap_or(0),
                        output: output.unwrap_or(0),
                        cached: 0,
                        reasoning: 0,
                    });
                }
            }
            "invalidStateEvent" => {
                let reason = body["reason"].as_str().unwrap_or("invalid state");
                let message = body["message"].as_str().unwrap_or_default();
                self.fail(format!("Kiro {reason}: {message}"), events);
            }
            _ => {}
        }
    }

    fn tool_use(&mut self, body: &Value, events: &mut Vec<StreamEvent>) {
        let Some(tool_use_id) = body["toolUseId"].as_str() else {
            return;
        };
        let index = match self.tools.iter().position(|t| t.tool_use_id == tool_use_id) {
            Some(index) => index,
            None => {
                self.tools.push(ToolCall {
                    tool_use_id: tool_use_id.to_string(),
                    has_input: false,
                    stopped: false,
                });
                events.push(StreamEvent::ToolCallStart {
                    index: self.tools.len() - 1,
                    id: tool_use_id.to_string(),
                    name: body["name"].as_str().unwrap_or_default().to_string(),
                });
                self.tools.len() - 1
            }
        };
        let call = &mut self.tools[index];
        // A call already closed is complete; a repeat of it adds nothing.
        if call.stopped {
            return;
        }
        // Input comes as fragments of JSON text, or at times whole.
        let input = match &body["input"] {
            Value::String(fragment) => fragment.clone(),
            Value::Null => String::new(),
            whole => whole.to_string(),
        };
        if !input.is_empty() {
            call.has_input = true;
            self.output_bytes += input.len();
            events.push(StreamEvent::ToolCallArgumentsDelta { index, json: input });
        }
        if body["stop"].as_bool() == Some(true) {
            call.stopped = true;
            if !call.has_input {
                events.push(StreamEvent::ToolCallArgumentsDelta {
                    index,
                    json: "{}".to_string(),
                });
            }
        }
    }

    fn fail(&mut self, message: String, events: &mut Vec<StreamEvent>) {
        self.ended = true;
        self.buf.clear();
        events.push(StreamEvent::Error { message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::collect::Collector;
    use crate::translate::ir::Tool;

    fn event(kind: &str, payload: Value) -> Vec<u8> {
        encode_frame(
            &[
                (":message-type", "event"),
                (":event-type", kind),
                (":content-type", "application/json"),
            ],
            payload.to_string().as_bytes(),
        )
    }

    /// A Kiro answer: text, a tool call in fragments, then the end-of-stream
    /// accounting events.
    fn stream() -> Vec<u8> {
        [
            event("assistantResponseEvent", json!({"content": "Let me "})),
            event(
                "assistantResponseEvent",
                json!({"assistantResponseEvent": {"content": "look."}}),
            ),
            event(
                "toolUseEvent",
                json!({"name": "Bash", "toolUseId": "tooluse_1", "input": "{\"comm", "stop": false}),
            ),
            event(
                "toolUseEvent",
                json!({"name": "Bash", "toolUseId": "tooluse_1", "input": "and\":\"ls\"}", "stop": false}),
            ),
            event(
                "toolUseEvent",
                json!({"name": "Bash", "toolUseId": "tooluse_1", "stop": true}),
            ),
            event(
                "meteringEvent",
                json!({"unit": "credit", "unitPlural": "credits", "usage": 0.0169543708291874}),
            ),
            event("contextUsageEvent", json!({"contextUsagePercentage": 1.5})),
            event(
                "metadataEvent",
                json!({"tokenUsage": {"uncachedInputTokens": 120, "cacheReadInputTokens": 30,
                                      "cacheWriteInputTokens": 7, "outputTokens": 11, "totalTokens": 168}}),
            ),
        ]
        .concat()
    }

    fn decode_in_two(bytes: &[u8], cut: usize) -> Vec<StreamEvent> {
        let mut decoder = EventStreamDecoder::new("msg_1", "claude-sonnet-4.5");
        let mut events = decoder.push(&bytes[..cut]);
        events.extend(decoder.push(&bytes[cut..]));
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn a_stream_decodes_the_same_at_every_chunk_boundary() {
        let bytes = stream();
        let expected = vec![
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude-sonnet-4.5".into(),
            },
            StreamEvent::TextDelta {
                text: "Let me ".into(),
            },
            StreamEvent::TextDelta {
                text: "look.".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "tooluse_1".into(),
                name: "Bash".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{\"comm".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "and\":\"ls\"}".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 157,
                    output: 11,
                    cached: 30,
                    reasoning: 0,
                },
            },
        ];
        for cut in 0..=bytes.len() {
            assert_eq!(decode_in_two(&bytes, cut), expected, "cut at {cut}");
        }
        // Byte by byte, too.
        let mut decoder = EventStreamDecoder::new("msg_1", "claude-sonnet-4.5");
        let mut events = Vec::new();
        for byte in &bytes {
            events.extend(decoder.push(std::slice::from_ref(byte)));
        }
        events.extend(decoder.finish());
        assert_eq!(events, expected);
        assert!((decoder.credits().unwrap() - 0.0169543708291874).abs() < 1e-12);
        assert_eq!(decoder.finish(), None);
    }

    #[test]
    fn the_decoded_stream_collects_into_one_response() {
        let mut decoder = EventStreamDecoder::new("msg_1", "claude-sonnet-4.5");
        let mut collector = Collector::new();
        for e in decoder.push(&stream()) {
            collector.push(&e);
        }
        collector.push(&decoder.finish().unwrap());
        let response = collector.finish().unwrap();
        assert_eq!(
            response.parts,
            vec![
                Part::text("Let me look."),
                Part::ToolCall {
                    id: "tooluse_1".into(),
                    name: "Bash".into(),
                    arguments: "{\"command\":\"ls\"}".into()
                }
            ]
        );
    }

    #[test]
    fn without_token_counts_usage_is_estimated_and_text_only_ends_the_turn() {
        let bytes = [
            event("assistantResponseEvent", json!({"content": "12345678"})),
            event("contextUsageEvent", json!({"contextUsagePercentage": 10.0})),
        ]
        .concat();
        let mut decoder =
            EventStreamDecoder::new("m", "claude-sonnet-4.5").with_context_window(1000);
        decoder.push(&bytes);
        assert_eq!(
            decoder.finish(),
            Some(StreamEvent::Finish {
                stop: StopReason::EndTurn,
                usage: Usage {
                    input: 100,
                    output: 2,
                    cached: 0,
                    reasoning: 0
                }
            })
        );
    }

    #[test]
    fn a_tool_with_no_input_gets_an_empty_object_and_whole_input_passes() {
        let bytes = [
            event(
                "toolUseEvent",
                json!({"name": "now", "toolUseId": "t1", "stop": true}),
            ),
            event(
                "toolUseEvent",
                json!({"name": "read", "toolUseId": "t2", "input": {"path": "a"}, "stop": true}),
            ),
            event(
                "toolUseEvent",
                json!({"name": "read", "toolUseId": "t2", "input": {"path": "a"}, "stop": true}),
            ),
        ]
        .concat();
        let mut decoder = EventStreamDecoder::new("m", "x");
        let events = decoder.push(&bytes);
        let args: Vec<(usize, &str)> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallArgumentsDelta { index, json } => {
                    Some((*index, json.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(args, vec![(0, "{}"), (1, "{\"path\":\"a\"}")]);
    }

    #[test]
    fn corrupt_frames_are_reported() {
        let good = event("assistantResponseEvent", json!({"content": "hi"}));
        // A flipped payload byte breaks the message checksum.
        let mut body = good.clone();
        let last_payload_byte = body.len() - 5;
        body[last_payload_byte] ^= 0x01;
        let events = EventStreamDecoder::new("m", "x").push(&body);
        assert!(
            matches!(events.last(), Some(StreamEvent::Error { message }) if message.contains("message checksum")),
            "{events:?}"
        );
        // A flipped length byte breaks the prelude checksum, found before
        // the decoder waits for the (now bogus) length.
        let mut prelude = good.clone();
        prelude[3] ^= 0x40;
        let mut decoder = EventStreamDecoder::new("m", "x");
        let events = decoder.push(&prelude[..12]);
        assert!(
            matches!(events.last(), Some(StreamEvent::Error { message }) if message.contains("prelude checksum")),
            "{events:?}"
        );
        // After an error the stream is over.
        assert!(decoder.push(&good).is_empty());
        assert_eq!(decoder.finish(), None);
        // Text decoded before the corruption still came through.
        let events = EventStreamDecoder::new("m", "x").push(&[good.clone(), body].concat());
        assert!(events.contains(&StreamEvent::TextDelta { text: "hi".into() }));
    }

    #[test]
    fn a_stream_cut_inside_a_frame_or_empty_is_an_error() {
        let good = event("assistantResponseEvent", json!({"content": "hi"}));
        let mut decoder = EventStreamDecoder::new("m", "x");
        decoder.push(&good[..good.len() - 3]);
        assert!(matches!(
            decoder.finish(),
            Some(StreamEvent::Error { message }) if message.contains("inside")
        ));
        let mut empty = EventStreamDecoder::new("m", "x");
        assert_eq!(
            empty.push(&[]),
            vec![StreamEvent::Start {
                id: "m".into(),
                model: "x".into()
            }]
        );
        assert!(matches!(empty.finish(), Some(StreamEvent::Error { .. })));
    }

    #[test]
    fn exceptions_and_invalid_state_end_the_stream_with_an_error() {
        let exception = encode_frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "ValidationException"),
                (":content-type", "application/json"),
            ],
            br#"{"message":"Improperly formed request."}"#,
        );
        let mut decoder = EventStreamDecoder::new("m", "x");
        let events = decoder.push(&exception);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error {
                message: "Kiro ValidationException: Improperly formed request.".into()
            })
        );
        assert_eq!(decoder.finish(), None);

        let invalid = event(
            "invalidStateEvent",
            json!({"reason": "INVALID_STATE", "message": "conversation is stale"}),
        );
        let events = EventStreamDecoder::new("m", "x").push(&invalid);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Error {
                message: "Kiro INVALID_STATE: conversation is stale".into()
            })
        );
    }

    #[test]
    fn headers_of_every_type_are_skipped_by_their_size() {
        // A header block with one header of each non-string type before
        // the string ones.
        let mut headers = Vec::new();
        let mut put = |name: &str, kind: u8, value: &[u8]| {
            headers.push(name.len() as u8);
            headers.extend_from_slice(name.as_bytes());
            headers.push(kind);
            headers.extend_from_slice(value);
        };
        put("t", 0, &[]);
        put("f", 1, &[]);
        put("b", 2, &[7]);
        put("s", 3, &[0, 7]);
        put("i", 4, &[0, 0, 0, 7]);
        put("l", 5, &[0; 8]);
        put("a", 6, &[0, 3, 1, 2, 3]);
        put("ts", 8, &[0; 8]);
        put("u", 9, &[0; 16]);
        put(":event-type", 7, b"\x00\x16assistantResponseEvent");
        let payload = br#"{"content":"ok"}"#;
        let total = 12 + headers.len() + payload.len() + 4;
        let mut frame = Vec::new();
        frame.extend_from_slice(&(total as u32).to_be_bytes());
        frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        frame.extend_from_slice(&headers);
        frame.extend_from_slice(payload);
        let crc = crc32fast::hash(&frame);
        frame.extend_from_slice(&crc.to_be_bytes());
        let events = EventStreamDecoder::new("m", "x").push(&frame);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::TextDelta { text: "ok".into() })
        );
    }

    #[test]
    fn frames_match_the_aws_reference_encoding() {
        // AWS's published test vector "int32_header": one int32 header
        // `event-type` = 0x0000A00C, payload `{'foo':'bar'}`.
        let vector: &[u8] = &[
            0x00, 0x00, 0x00, 0x2D, 0x00, 0x00, 0x00, 0x10, 0x41, 0xC4, 0x24, 0xB8, 0x0A, 0x65,
            0x76, 0x65, 0x6E, 0x74, 0x2D, 0x74, 0x79, 0x70, 0x65, 0x04, 0x00, 0x00, 0xA0, 0x0C,
            0x7B, 0x27, 0x66, 0x6F, 0x6F, 0x27, 0x3A, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7D, 0x36,
            0xF4, 0x80, 0xA0,
        ];
        let (frame, len) = read_frame(vector).unwrap().unwrap();
        assert_eq!(len, vector.len());
        assert!(frame.headers.is_empty());
        assert_eq!(frame.payload, b"{'foo':'bar'}");
    }

    #[test]
    fn model_ids_follow_the_documented_mapping() {
        for (from, to) in [
            ("claude-sonnet-4-5", "claude-sonnet-4.5"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
            ("claude-haiku-4-5", "claude-haiku-4.5"),
            ("kiro-claude-opus-4-6-agentic", "claude-opus-4.6"),
            ("amazonq-claude-sonnet-4-6", "claude-sonnet-4.6"),
            ("gpt-5-6-terra", "gpt-5.6-terra"),
            ("claude-sonnet-4.5", "claude-sonnet-4.5"),
            ("deepseek-3.2", "deepseek-3.2"),
            ("minimax-m2.5", "minimax-m2.5"),
            ("claude-sonnet-4-20250514", "CLAUDE_SONNET_4_20250514_V1_0"),
            (
                "claude-3-7-sonnet-20250219",
                "CLAUDE_3_7_SONNET_20250219_V1_0",
            ),
            (
                "CLAUDE_SONNET_4_5_20250929_V1_0",
                "CLAUDE_SONNET_4_5_20250929_V1_0",
            ),
        ] {
            assert_eq!(model_id(from), to, "{from}");
        }
    }

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message { role, parts }
    }

    #[test]
    fn a_conversation_with_system_tool_call_and_result_encodes_as_documented() {
        let request = Request {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                message(Role::System, vec![Part::text("You are terse.")]),
                message(Role::User, vec![Part::text("List the files.")]),
                message(
                    Role::Assistant,
                    vec![
                        Part::text("Listing."),
                        Part::ToolCall {
                            id: "tooluse_1".into(),
                            name: "ls".into(),
                            arguments: "{\"dir\":\".\"}".into(),
                        },
                    ],
                ),
                message(
                    Role::Tool,
                    vec![Part::ToolResult {
                        call_id: "tooluse_1".into(),
                        content: "a.txt\nb.txt".into(),
                        is_error: false,
                    }],
                ),
                message(Role::Assistant, vec![Part::text("Two files.")]),
                message(
                    Role::User,
                    vec![
                        Part::text("Read a.txt."),
                        Part::Image {
                            url: "data:image/png;base64,iVBORw0K".into(),
                        },
                        Part::Image {
                            url: "https://example.test/x.png".into(),
                        },
                    ],
                ),
            ],
            tools: vec![
                Tool {
                    name: "ls".into(),
                    description: Some("List a directory".into()),
                    parameters: json!({"type": "object", "properties": {"dir": {"type": "string"}}}),
                },
                Tool {
                    name: "read".into(),
                    description: None,
                    parameters: Value::Null,
                },
            ],
            max_tokens: Some(1000),
            ..Request::default()
        };
        let arn = "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";
        let body = encode_request(&request, Some(arn), "conv-1");
        let model = "claude-sonnet-4.5";
        assert_eq!(
            body,
            json!({
                "conversationState": {
                    "chatTriggerType": "MANUAL",
                    "conversationId": "conv-1",
                    "currentMessage": {"userInputMessage": {
                        "content": "Read a.txt.",
                        "modelId": model,
                        "origin": "AI_EDITOR",
                        "images": [{"format": "png", "source": {"bytes": "iVBORw0K"}}],
                        "userInputMessageContext": {"tools": [
                            {"toolSpecification": {"name": "ls", "description": "List a directory",
                                "inputSchema": {"json": {"type": "object", "properties": {"dir": {"type": "string"}}}}}},
                            {"toolSpecification": {"name": "read", "description": "",
                                "inputSchema": {"json": {"type": "object", "properties": {}}}}},
                        ]},
                    }},
                    "history": [
                        {"userInputMessage": {"content": "You are terse.\n\nList the files.",
                                              "modelId": model, "origin": "AI_EDITOR"}},
                        {"assistantResponseMessage": {"content": "Listing.", "toolUses": [
                            {"toolUseId": "tooluse_1", "name": "ls", "input": {"dir": "."}}]}},
                        {"userInputMessage": {"content": "[tool_result]", "modelId": model, "origin": "AI_EDITOR",
                            "userInputMessageContext": {"toolResults": [
                                {"toolUseId": "tooluse_1", "status": "success", "content": [{"text": "a.txt\nb.txt"}]}]}}},
                        {"assistantResponseMessage": {"content": "Two files."}},
                    ],
                },
                "profileArn": arn,
            })
        );
    }

    #[test]
    fn edge_conversations_still_alternate_and_end_on_the_user() {
        // One message only: no history, the system prompt on the current one.
        let single = Request {
            model: "claude-haiku-4-5".into(),
            messages: vec![
                message(Role::Developer, vec![Part::text("Rules.")]),
                message(Role::User, vec![Part::text("Hi")]),
            ],
            ..Request::default()
        };
        let body = encode_request(&single, None, "c");
        assert!(body.get("profileArn").is_none());
        assert!(body["conversationState"].get("history").is_none());
        assert_eq!(
            body["conversationState"]["currentMessage"]["userInputMessage"]["content"],
            "Rules.\n\nHi"
        );
        assert_eq!(
            body["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"],
            json!({})
        );

        // Starts and ends on the assistant, with a failed tool call whose
        // arguments are not JSON.
        let odd = Request {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                message(
                    Role::Assistant,
                    vec![Part::ToolCall {
                        id: "t".into(),
                        name: "x".into(),
                        arguments: "not json".into(),
                    }],
                ),
                message(
                    Role::User,
                    vec![Part::ToolResult {
                        call_id: "t".into(),
                        content: "boom".into(),
                        is_error: true,
                    }],
                ),
                message(Role::Assistant, vec![Part::text("Sorry")]),
            ],
            ..Request::default()
        };
        let body = encode_request(&odd, None, "c");
        let state = &body["conversationState"];
        let history = state["history"].as_array().unwrap();
        let sides: Vec<&str> = history
            .iter()
            .map(|m| {
                if m.get("userInputMessage").is_some() {
                    "user"
                } else {
                    "assistant"
                }
            })
            .collect();
        assert_eq!(sides, ["user", "assistant", "user", "assistant"]);
        assert_eq!(history[0]["userInputMessage"]["content"], "[empty]");
        assert_eq!(
            history[1]["assistantResponseMessage"]["content"],
            "[tool_call]"
        );
        assert_eq!(
            history[1]["assistantResponseMessage"]["toolUses"][0]["input"],
            json!({})
        );
        assert_eq!(
            history[2]["userInputMessage"]["userInputMessageContext"]["toolResults"][0]["status"],
            "error"
        );
        assert_eq!(
            state["currentMessage"]["userInputMessage"]["content"],
            "[continue]"
        );
    }
}
