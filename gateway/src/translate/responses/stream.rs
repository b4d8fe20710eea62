//! Responses streams: upstream events -> IR events, and IR events -> the event lifecycle Responses clients expect.

use serde_json::{Map, Value, json};

use super::super::ir::{Part, StopReason, StreamEvent, Usage};
use super::{
    ResponseObject, decode_stop, decode_usage, function_call_item, incomplete_reason, item_id,
    message_item, output_text, reasoning_item, reasoning_part, response_id, unix_now,
};

/// A function call item of the upstream stream.
#[derive(Debug)]
struct Call {
    item_id: String,
    output_index: Option<u64>,
    /// The IR index: the count of calls before this one.
    index: usize,
    /// Arguments the `output_item.added` already carried.
    arguments: String,
    /// Whether argument deltas came; if none did, the arguments are taken
    /// from the item when it is done.
    streamed: bool,
}

/// Turns Responses stream events into IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    finished: bool,
    calls: Vec<Call>,
    /// Items whose text arrived as deltas, so their `output_item.done`
    /// repeats nothing.
    streamed_items: Vec<String>,
    /// The message item the last text came from, while nothing else came
    /// after it.
    text_item: Option<String>,
    usage: Option<Usage>,
}

fn text_of(data: &Value, key: &str) -> String {
    data[key].as_str().unwrap_or_default().to_string()
}

impl StreamDecoder {
    fn start(&mut self, response: &Value, events: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            events.push(StreamEvent::Start {
                id: text_of(response, "id"),
                model: text_of(response, "model"),
            });
        }
    }

    /// The call an event is about, by item id, or by output index where
    /// an upstream leaves ids out.
    fn call(&mut self, item_id: Option<&str>, output_index: Option<u64>) -> Option<&mut Call> {
        let item_id = item_id.filter(|id| !id.is_empty());
        self.calls.iter_mut().find(|c| match item_id {
            Some(id) if !c.item_id.is_empty() => c.item_id == id,
            _ => output_index.is_some() && c.output_index == output_index,
        })
    }

    fn delta(&mut self, data: &Value) -> Option<String> {
        let delta = data["delta"].as_str().filter(|d| !d.is_empty())?;
        if let Some(id) = data["item_id"].as_str()
            && !self.streamed_items.iter().any(|s| s == id)
        {
            self.streamed_items.push(id.to_string());
        }
        Some(delta.to_string())
    }

    /// Text of message item `item_id`. Text that goes on in a new message
    /// item (a commentary, then the answer) is a new paragraph, as it is
    /// in whole responses.
    fn text(&mut self, item_id: &str, text: String, events: &mut Vec<StreamEvent>) {
        if self
            .text_item
            .as_deref()
            .is_some_and(|last| last != item_id)
        {
            events.push(StreamEvent::TextDelta {
                text: "\n\n".to_string(),
            });
        }
        self.text_item = Some(item_id.to_string());
        events.push(StreamEvent::TextDelta { text });
    }

    fn item_added(&mut self, data: &Value, events: &mut Vec<StreamEvent>) {
        let item = &data["item"];
        if item["type"] != "function_call" {
            return;
        }
        self.text_item = None;
        let index = self.calls.len();
        self.calls.push(Call {
            item_id: text_of(item, "id"),
            output_index: data["output_index"].as_u64(),
            index,
            arguments: text_of(item, "arguments"),
            streamed: false,
        });
        events.push(StreamEvent::ToolCallStart {
            index,
            id: text_of(item, "call_id"),
            name: text_of(item, "name"),
        });
    }

    /// A finished item. Upstreams that skip the deltas still get their
    /// content through: the done item is complete.
    fn item_done(&mut self, data: &Value, events: &mut Vec<StreamEvent>) {
        let item = &data["item"];
        let id = item["id"].as_str().unwrap_or_default();
        let streamed = self.streamed_items.iter().any(|s| s == id);
        match item["type"].as_str() {
            Some("message") if !streamed => {
                for content in item["content"].as_array().into_iter().flatten() {
                    let text = content["text"]
                        .as_str()
                        .or_else(|| content["refusal"].as_str())
                        .unwrap_or_default();
                    if !text.is_empty() {
                        self.text(id, text.to_string(), events);
                    }
                }
            }
            Some("reasoning") => {
                self.text_item = None;
                if !streamed
                    && let Some(Part::Reasoning { text, .. }) = reasoning_part(item)
                    && !text.is_empty()
                {
                    events.push(StreamEvent::ReasoningDelta { text });
                }
                if let Some(signature) =
                    item["encrypted_content"].as_str().filter(|s| !s.is_empty())
                {
                    events.push(StreamEvent::ReasoningSignature {
                        signature: signature.to_string(),
                    });
                }
            }
            Some("function_call") => {
                let output_index = data["output_index"].as_u64();
                if self.call(Some(id), output_index).is_none() {
                    self.item_added(data, events);
                }
                let Some(call) = self.call(Some(id), output_index) else {
                    return;
                };
                if std::mem::replace(&mut call.streamed, true) {
                    return;
                }
                let arguments = item["arguments"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| std::mem::take(&mut call.arguments));
                if !arguments.is_empty() {
                    events.push(StreamEvent::ToolCallArgumentsDelta {
                        index: call.index,
                        json: arguments,
                    });
                }
            }
            _ => {}
        }
    }

    /// The IR events of one upstream event's data.
    pub fn event(&mut self, data: &Value) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        let kind = data["type"].as_str().unwrap_or_default();
        match kind {
            "response.created" | "response.in_progress" => {
                self.start(&data["response"], &mut events)
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.start(&Value::Null, &mut events);
                if let Some(text) = self.delta(data) {
                    let item_id = data["item_id"].as_str().unwrap_or_default();
                    self.text(item_id, text, &mut events);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.start(&Value::Null, &mut events);
                if let Some(text) = self.delta(data) {
                    self.text_item = None;
                    events.push(StreamEvent::ReasoningDelta { text });
                }
            }
            // Summary parts are paragraphs; whole responses join them the
            // same way.
            "response.reasoning_summary_part.added" => {
                let later_part = data["summary_index"].as_u64().is_some_and(|i| i > 0);
                let id = data["item_id"].as_str().unwrap_or_default();
                if later_part && self.streamed_items.iter().any(|s| s == id) {
                    events.push(StreamEvent::ReasoningDelta {
                        text: "\n\n".to_string(),
                    });
                }
            }
            "response.output_item.added" => {
                self.start(&Value::Null, &mut events);
                self.item_added(data, &mut events);
            }
            "response.function_call_arguments.delta" => {
                let delta = data["delta"].as_str().unwrap_or_default().to_string();
                if let Some(call) =
                    self.call(data["item_id"].as_str(), data["output_index"].as_u64())
                {
                    call.streamed = true;
                    if !delta.is_empty() {
                        events.push(StreamEvent::ToolCallArgumentsDelta {
                            index: call.index,
                            json: delta,
                        });
                    }
                }
            }
            "response.output_item.done" => {
                self.start(&Value::Null, &mut events);
                self.item_done(data, &mut events);
            }
            "response.completed" | "response.incomplete" => {
                let response = &data["response"];
                self.start(response, &mut events);
                if response["usage"].is_object() {
                    self.usage = Some(decode_usage(&response["usage"]));
                }
                let called_tool = !self.calls.is_empty()
                    || response["output"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|item| item["type"] == "function_call");
                self.finished = true;
                events.push(StreamEvent::Finish {
                    stop: decode_stop(
                        response["incomplete_details"]["reason"].as_str(),
                        called_tool,
                    ),
                    usage: self.usage.unwrap_or_default(),
                });
            }
            "response.failed" => {
                self.finished = true;
                let message = data["response"]["error"]["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .unwrap_or("the upstream response failed");
                events.push(StreamEvent::Error {
                    message: message.to_string(),
                });
            }
            // OpenAI documents the fields at the top level; recorded
            // streams nest them under `error`.
            "error" => {
                self.finished = true;
                let message = data["message"]
                    .as_str()
                    .or_else(|| data["error"]["message"].as_str())
                    .filter(|m| !m.is_empty())
                    .unwrap_or("the upstream reported an error");
                events.push(StreamEvent::Error {
                    message: message.to_string(),
                });
            }
            _ => {}
        }
        events
    }

    /// The closing event when the upstream ended without its terminal
    /// event; `None` once the stream has finished or failed.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        self.finished = true;
        Some(StreamEvent::Finish {
            stop: if self.calls.is_empty() {
                StopReason::EndTurn
            } else {
                StopReason::ToolUse
            },
            usage: self.usage.unwrap_or_default(),
        })
    }
}

/// The output item being streamed to the caller.
#[derive(Debug)]
enum OpenItem {
    Message {
        id: String,
        text: String,
    },
    Reasoning {
        id: String,
        text: String,
        signature: Option<String>,
        /// Whether its summary part was opened (a signature alone opens
        /// none).
        summary: bool,
    },
    Call {
        id: String,
        index: usize,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Writes IR events as the Responses event lifecycle: the response is
/// created, each output item is added, filled and done in turn, and the
/// response completes holding every item. Codex and the openai SDKs build
/// their result from these events, so none may be skipped.
#[derive(Debug, Default)]
pub struct StreamEncoder {
    started: bool,
    done: bool,
    sequence: u64,
    id: String,
    model: String,
    /// When the response was created; set at `Start` (tests fix it first).
    pub(super) created_at: u64,
    /// Finished output items.
    output: Vec<Value>,
    open: Option<OpenItem>,
}

impl StreamEncoder {
    /// Appends one SSE frame: `{"type": kind, ...fields, "sequence_number": n}`.
    fn event(&mut self, out: &mut String, kind: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".into(), json!(kind));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        data.insert("sequence_number".into(), json!(self.sequence));
        self.sequence += 1;
        out.push_str("event: ");
        out.push_str(kind);
        out.push_str("\ndata: ");
        out.push_str(&Value::Object(data).to_string());
        out.push_str("\n\n");
    }

    /// Appends an event about the open item: its id and output index come
    /// first.
    fn item_event(&mut self, out: &mut String, kind: &str, id: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("item_id".into(), json!(id));
        data.insert("output_index".into(), json!(self.output.len()));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        self.event(out, kind, Value::Object(data));
    }

    fn response(
        &self,
        status: &str,
        error: Value,
        stop: Option<StopReason>,
        usage: Option<&Usage>,
    ) -> Value {
        ResponseObject {
            id: &self.id,
            created_at: self.created_at,
            model: &self.model,
            status,
            error,
            incomplete_reason: stop.and_then(incomplete_reason),
            output: self.output.clone(),
            usage,
        }
        .into_json()
    }

    fn start(&mut self, out: &mut String, id: &str, model: &str) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(id);
        self.model = model.to_string();
        if self.created_at == 0 {
            self.created_at = unix_now();
        }
        for kind in ["response.created", "response.in_progress"] {
            let response = self.response("in_progress", Value::Null, None, None);
            self.event(out, kind, json!({"response": response}));
        }
    }

    /// Ends the open item with its `*.done` events; `output_item.done`
    /// carries the whole item, which joins the output.
    fn close(&mut self, out: &mut String) {
        let Some(open) = self.open.take() else {
            return;
        };
        let item = match open {
            OpenItem::Message { id, text } => {
                let fields = json!({"content_index": 0, "text": text, "logprobs": []});
                self.item_event(out, "response.output_text.done", &id, fields);
                let fields = json!({"content_index": 0, "part": output_text(&text)});
                self.item_event(out, "response.content_part.done", &id, fields);
                message_item(&id, "completed", &[&text])
            }
            OpenItem::Reasoning {
                id,
                text,
                signature,
                summary,
            } => {
                if summary {
                    let fields = json!({"summary_index": 0, "text": text});
                    self.item_event(out, "response.reasoning_summary_text.done", &id, fields);
                    let part = json!({"type": "summary_text", "text": text});
                    let fields = json!({"summary_index": 0, "part": part});
                    self.item_event(out, "response.reasoning_summary_part.done", &id, fields);
                }
                reasoning_item(&id, &text, signature.as_deref())
            }
            OpenItem::Call {
                id,
                call_id,
                name,
                mut arguments,
                ..
            } => {
                // A call without arguments still gets valid JSON: callers
                // parse it.
                if arguments.is_empty() {
                    arguments = "{}".to_string();
                    let fields = json!({"delta": arguments});
                    self.item_event(out, "response.function_call_arguments.delta", &id, fields);
                }
                let fields = json!({"arguments": arguments});
                self.item_event(out, "response.function_call_arguments.done", &id, fields);
                function_call_item(&id, "completed", &call_id, &name, &arguments)
            }
        };
        let fields = json!({"output_index": self.output.len(), "item": item});
        self.event(out, "response.output_item.done", fields);
        self.output.push(item);
    }

    /// Closes whatever was open and opens the item `make` builds from its
    /// id, with its `output_item.added` (and, for a message, its one
    /// content part).
    fn open(&mut self, out: &mut String, prefix: &str, make: impl FnOnce(String) -> OpenItem) {
        self.close(out);
        let item = make(item_id(prefix, &self.id, self.output.len()));
        let added = match &item {
            OpenItem::Message { id, .. } => json!({"id": id, "type": "message",
                "status": "in_progress", "content": [], "role": "assistant"}),
            OpenItem::Reasoning { id, .. } => json!({"id": id, "type": "reasoning", "summary": []}),
            OpenItem::Call {
                id, call_id, name, ..
            } => function_call_item(id, "in_progress", call_id, name, ""),
        };
        let fields = json!({"output_index": self.output.len(), "item": added});
        self.event(out, "response.output_item.added", fields);
        if let OpenItem::Message { id, .. } = &item {
            let fields = json!({"content_index": 0, "part": output_text("")});
            self.item_event(out, "response.content_part.added", id, fields);
        }
        self.open = Some(item);
    }

    /// Makes sure a reasoning item is open that can take more reasoning:
    /// one that already has its signature is closed, since a signature
    /// seals the reasoning before it (Claude signs each thinking block).
    fn open_reasoning(&mut self, out: &mut String) {
        let open = matches!(
            self.open,
            Some(OpenItem::Reasoning {
                signature: None,
                ..
            })
        );
        if !open {
            self.open(out, "rs", |id| OpenItem::Reasoning {
                id,
                text: String::new(),
                signature: None,
                summary: false,
            });
        }
    }

    /// The whole SSE frames for one IR event; nothing once the stream ended.
    pub fn encode(&mut self, event: &StreamEvent) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        let (id, model) = match event {
            StreamEvent::Start { id, model } => (id.as_str(), model.as_str()),
            _ => ("", ""),
        };
        self.start(&mut out, id, model);
        match event {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta { text } if text.is_empty() => {}
            StreamEvent::TextDelta { text } => {
                if !matches!(self.open, Some(OpenItem::Message { .. })) {
                    self.open(&mut out, "msg", |id| OpenItem::Message {
                        id,
                        text: String::new(),
                    });
                }
                if let Some(OpenItem::Message { id, text: all }) = &mut self.open {
                    all.push_str(text);
                    let id = id.clone();
                    let fields = json!({"content_index": 0, "delta": text, "logprobs": []});
                    self.item_event(&mut out, "response.output_text.delta", &id, fields);
                }
            }
            StreamEvent::ReasoningDelta { text } if text.is_empty() => {}
            StreamEvent::ReasoningDelta { text } => {
                self.open_reasoning(&mut out);
                let Some(OpenItem::Reasoning {
                    id,
                    text: all,
                    summary,
                    ..
                }) = &mut self.open
                else {
                    return out;
                };
                all.push_str(text);
                let id = id.clone();
                if !std::mem::replace(summary, true) {
                    let part = json!({"type": "summary_text", "text": ""});
                    let fields = json!({"summary_index": 0, "part": part});
                    self.item_event(
                        &mut out,
                        "response.reasoning_summary_part.added",
                        &id,
                        fields,
                    );
                }
                let fields = json!({"summary_index": 0, "delta": text});
                self.item_event(
                    &mut out,
                    "response.reasoning_summary_text.delta",
                    &id,
                    fields,
                );
            }
            StreamEvent::ReasoningSignature { signature } => {
                self.open_reasoning(&mut out);
                if let Some(OpenItem::Reasoning { signature: s, .. }) = &mut self.open {
                    *s = Some(signature.clone());
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.open(&mut out, "fc", |item| OpenItem::Call {
                    id: item,
                    index: *index,
                    call_id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallArgumentsDelta { index, json } => {
                // Calls stream one after the other; a delta for a call
                // already done has nowhere to go.
                if let Some(OpenItem::Call {
                    id,
                    index: open,
                    arguments,
                    ..
                }) = &mut self.open
                    && open == index
                    && !json.is_empty()
                {
                    arguments.push_str(json);
                    let id = id.clone();
                    let fields = json!({"delta": json});
                    self.item_event(
                        &mut out,
                        "response.function_call_arguments.delta",
                        &id,
                        fields,
                    );
                }
            }
            StreamEvent::Finish { stop, usage } => {
                self.close(&mut out);
                let (kind, status) = match incomplete_reason(*stop) {
                    Some(_) => ("response.incomplete", "incomplete"),
                    None => ("response.completed", "completed"),
                };
                let response = self.response(status, Value::Null, Some(*stop), Some(usage));
                self.event(&mut out, kind, json!({"response": response}));
                self.done = true;
            }
            // The half-written item is not closed: it never completed.
            StreamEvent::Error { message } => {
                let fields = json!({"code": "server_error", "message": message, "param": null});
                self.event(&mut out, "error", fields);
                let error = json!({"code": "server_error", "message": message});
                let response = self.response("failed", error, None, None);
                self.event(&mut out, "response.failed", json!({"response": response}));
                self.done = true;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(sse: &str) -> Vec<(String, Value)> {
        sse.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (event, data) = f.split_once('\n').unwrap();
                let name = event.strip_prefix("event: ").unwrap().to_string();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(
                    data["type"],
                    name.as_str(),
                    "the event name is the data's type"
                );
                (name, data)
            })
            .collect()
    }

    fn encode_all(events: &[StreamEvent]) -> String {
        let mut encoder = StreamEncoder::default();
        events.iter().map(|e| encoder.encode(e)).collect()
    }

    fn start() -> StreamEvent {
        StreamEvent::Start {
            id: "resp_1".into(),
            model: "gpt-5".into(),
        }
    }

    fn finish(stop: StopReason) -> StreamEvent {
        StreamEvent::Finish {
            stop,
            usage: Usage {
                input: 10,
                output: 4,
                cached: 2,
                reasoning: 1,
            },
        }
    }

    #[test]
    fn sequence_numbers_count_up_from_zero_and_output_indexes_follow_items() {
        let sse = encode_all(&[
            start(),
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
            finish(StopReason::ToolUse),
        ]);
        let frames = frames(&sse);
        for (n, (_, data)) in frames.iter().enumerate() {
            assert_eq!(data["sequence_number"], n as u64);
        }
        let added: Vec<&Value> = frames
            .iter()
            .filter(|(name, _)| name == "response.output_item.added")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(added[0]["output_index"], 0);
        assert_eq!(added[1]["output_index"], 1);
        assert_eq!(added[1]["item"]["call_id"], "call_1");
        let (last, completed) = frames.last().unwrap();
        assert_eq!(last, "response.completed");
        assert_eq!(completed["response"]["output"][1]["arguments"], "{}");
        assert_eq!(
            completed["response"]["usage"]["input_tokens_details"]["cached_tokens"],
            2
        );
    }

    #[test]
    fn events_before_start_still_open_the_response() {
        let frames = frames(&encode_all(&[StreamEvent::TextDelta { text: "x".into() }]));
        assert_eq!(frames[0].0, "response.created");
        assert_eq!(frames[0].1["response"]["id"], "resp_omniroute");
        assert_eq!(frames[2].0, "response.output_item.added");
    }

    #[test]
    fn max_tokens_ends_as_incomplete() {
        let frames = frames(&encode_all(&[
            start(),
            StreamEvent::TextDelta { text: "cut".into() },
            finish(StopReason::MaxTokens),
        ]));
        let (name, data) = frames.last().unwrap();
        assert_eq!(name, "response.incomplete");
        assert_eq!(data["response"]["status"], "incomplete");
        assert_eq!(
            data["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        let mut d = StreamDecoder::default();
        let events: Vec<StreamEvent> = frames.iter().flat_map(|(_, f)| d.event(f)).collect();
        assert_eq!(events.last(), Some(&finish(StopReason::MaxTokens)));
    }

    #[test]
    fn a_tool_call_without_arguments_gets_an_empty_object() {
        let frames = frames(&encode_all(&[
            start(),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "now".into(),
            },
            finish(StopReason::ToolUse),
        ]));
        let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(frames[5].1["item"]["arguments"], "{}");
    }

    #[test]
    fn a_signature_alone_is_a_reasoning_item_without_summary() {
        let frames = frames(&encode_all(&[
            start(),
            StreamEvent::ReasoningSignature {
                signature: "gAAAA".into(),
            },
            StreamEvent::TextDelta { text: "ok".into() },
            finish(StopReason::EndTurn),
        ]));
        assert_eq!(
            frames[2].1["item"],
            json!({"id": "rs_1_0", "type": "reasoning", "summary": []})
        );
        assert_eq!(frames[3].0, "response.output_item.done");
        assert_eq!(
            frames[3].1["item"],
            json!({"id": "rs_1_0", "type": "reasoning", "encrypted_content": "gAAAA", "summary": []})
        );
    }

    #[test]
    fn each_signed_thinking_block_is_a_reasoning_item_of_its_own() {
        let frames = frames(&encode_all(&[
            start(),
            StreamEvent::ReasoningDelta { text: "one".into() },
            StreamEvent::ReasoningSignature {
                signature: "sig1".into(),
            },
            StreamEvent::ReasoningDelta { text: "two".into() },
            StreamEvent::ReasoningSignature {
                signature: "sig2".into(),
            },
            finish(StopReason::EndTurn),
        ]));
        let output = &frames.last().unwrap().1["response"]["output"];
        assert_eq!(
            output,
            &json!([
                {"id": "rs_1_0", "type": "reasoning", "encrypted_content": "sig1",
                    "summary": [{"type": "summary_text", "text": "one"}]},
                {"id": "rs_1_1", "type": "reasoning", "encrypted_content": "sig2",
                    "summary": [{"type": "summary_text", "text": "two"}]},
            ])
        );
    }

    #[test]
    fn unsigned_reasoning_gets_no_encrypted_content() {
        let sse = encode_all(&[
            start(),
            StreamEvent::ReasoningDelta {
                text: "think".into(),
            },
            finish(StopReason::EndTurn),
        ]);
        assert!(!sse.contains("encrypted_content"), "{sse}");
    }

    #[test]
    fn an_error_fails_the_response_and_ends_the_stream() {
        let mut encoder = StreamEncoder::default();
        let mut sse = encoder.encode(&start());
        sse += &encoder.encode(&StreamEvent::TextDelta { text: "par".into() });
        sse += &encoder.encode(&StreamEvent::Error {
            message: "upstream broke".into(),
        });
        assert_eq!(
            encoder.encode(&StreamEvent::TextDelta { text: "x".into() }),
            ""
        );
        assert_eq!(encoder.encode(&finish(StopReason::EndTurn)), "");
        let frames = frames(&sse);
        let (name, error) = &frames[frames.len() - 2];
        assert_eq!(name, "error");
        assert_eq!(error["message"], "upstream broke");
        let (name, failed) = frames.last().unwrap();
        assert_eq!(name, "response.failed");
        assert_eq!(failed["response"]["status"], "failed");
        assert_eq!(
            failed["response"]["error"],
            json!({"code": "server_error", "message": "upstream broke"})
        );
    }

    #[test]
    fn decoder_takes_arguments_from_the_done_item_when_no_deltas_came() {
        let mut d = StreamDecoder::default();
        let frames = [
            json!({"type": "response.created", "response": {"id": "resp_1", "model": "m", "output": []}}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "fc_1", "type": "function_call",
                "status": "in_progress", "arguments": "{\"a\":1}", "call_id": "call_1", "name": "f"}}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "fc_1", "type": "function_call",
                "status": "completed", "arguments": "{\"a\":1}", "call_id": "call_1", "name": "f"}}),
            json!({"type": "response.output_item.done", "output_index": 1, "item": {"id": "fc_2", "type": "function_call",
                "status": "completed", "arguments": "{}", "call_id": "call_2", "name": "g"}}),
            json!({"type": "response.output_item.done", "output_index": 2, "item": {"id": "msg_1", "type": "message",
                "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "whole", "annotations": []}]}}),
        ];
        let events: Vec<StreamEvent> = frames.iter().flat_map(|f| d.event(f)).collect();
        assert_eq!(
            events[1..],
            [
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_1".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallArgumentsDelta {
                    index: 0,
                    json: "{\"a\":1}".into()
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "call_2".into(),
                    name: "g".into()
                },
                StreamEvent::ToolCallArgumentsDelta {
                    index: 1,
                    json: "{}".into()
                },
                StreamEvent::TextDelta {
                    text: "whole".into()
                },
            ]
        );
        assert_eq!(
            d.finish(),
            Some(StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage::default()
            })
        );
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn text_going_on_in_a_new_message_item_is_a_new_paragraph() {
        let delta = |item: &str, text: &str| json!({"type": "response.output_text.delta", "item_id": item, "output_index": 0, "content_index": 0, "delta": text});
        let mut d = StreamDecoder::default();
        let frames = [
            delta("msg_commentary", "Let me search."),
            json!({"type": "response.output_item.added", "output_index": 1, "item": {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}}),
            delta("msg_answer", "Found it."),
            json!({"type": "response.output_item.added", "output_index": 3, "item": {"id": "fc_1", "type": "function_call",
                "arguments": "", "call_id": "call_1", "name": "f"}}),
            delta("msg_after_call", "Done."),
        ];
        let text: Vec<StreamEvent> = frames
            .iter()
            .flat_map(|f| d.event(f))
            .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
            .collect();
        let text: Vec<&str> = text
            .iter()
            .map(|e| match e {
                StreamEvent::TextDelta { text } => text.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(text, ["Let me search.", "\n\n", "Found it.", "Done."]);
    }

    #[test]
    fn decoder_separates_summary_parts_and_ignores_events_after_the_end() {
        let mut d = StreamDecoder::default();
        let frames = [
            json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 0}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "one"}),
            json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 0, "summary_index": 1}),
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "two"}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": {"id": "rs_1", "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "one"}, {"type": "summary_text", "text": "two"}]}}),
            json!({"type": "response.completed", "response": {"id": "resp_1", "model": "m", "status": "completed", "output": [],
                "usage": {"input_tokens": 3, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 7}}}}),
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": "late"}),
        ];
        let events: Vec<StreamEvent> = frames.iter().flat_map(|f| d.event(f)).collect();
        let reasoning: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ReasoningDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(reasoning, "one\n\ntwo", "the done item repeats nothing");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish {
                stop: StopReason::EndTurn,
                usage: Usage {
                    input: 3,
                    output: 9,
                    cached: 0,
                    reasoning: 7
                }
            })
        );
        assert_eq!(d.finish(), None);
    }
}
