//! Gemini `streamGenerateContent?alt=sse` streams <-> IR stream events.
//!
//! Every Gemini event is a whole `GenerateContentResponse` holding the next
//! piece of the answer: text arrives in pieces, a function call whole, and
//! the last chunk carries `finishReason` with the final usage.

use serde::Serialize;
use serde_json::{Value, json};

use super::response::{call_id, candidate, envelope, function_call};
use super::{
    decode_finish, decode_usage, encode_finish, error_body, error_message, field, fresh_id,
};
use crate::translate::ir::{StopReason, StreamEvent, Usage};

/// Turns Gemini stream chunks into IR events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    id: String,
    /// Function calls seen so far; the next call's IR index.
    calls: usize,
    usage: Option<Usage>,
    finished: bool,
}

impl StreamDecoder {
    /// The IR events of one chunk (the JSON of one `data:` line). A JSON
    /// array (a stream read without `alt=sse`) is taken chunk by chunk.
    pub fn event(&mut self, data: &Value) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        match data {
            Value::Array(chunks) => {
                for chunk in chunks {
                    self.chunk(chunk, &mut events);
                }
            }
            chunk => self.chunk(chunk, &mut events),
        }
        events
    }

    fn chunk(&mut self, chunk: &Value, events: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        if let Some(message) = error_message(chunk) {
            self.finished = true;
            events.push(StreamEvent::Error { message });
            return;
        }
        if !self.started {
            self.started = true;
            self.id = field(chunk, "responseId", "response_id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| fresh_id("resp"));
            events.push(StreamEvent::Start {
                id: self.id.clone(),
                model: field(chunk, "modelVersion", "model_version")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        if let Some(meta) = field(chunk, "usageMetadata", "usage_metadata") {
            self.usage = Some(decode_usage(meta));
        }
        let Some(candidate) = chunk["candidates"].as_array().and_then(|c| c.first()) else {
            if field(chunk, "promptFeedback", "prompt_feedback")
                .and_then(|f| field(f, "blockReason", "block_reason"))
                .is_some()
            {
                events.extend(self.close(StopReason::ContentFilter));
            }
            return;
        };
        for part in candidate["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(text) = part["text"].as_str() {
                if part["thought"].as_bool() == Some(true) {
                    if !text.is_empty() {
                        events.push(StreamEvent::ReasoningDelta {
                            text: text.to_string(),
                        });
                    }
                    // A signature on an answer part (not a thought) closes
                    // no reasoning the IR holds, so it has no place there.
                    if let Some(signature) =
                        field(part, "thoughtSignature", "thought_signature").and_then(Value::as_str)
                    {
                        events.push(StreamEvent::ReasoningSignature {
                            signature: signature.to_string(),
                        });
                    }
                } else if !text.is_empty() {
                    events.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
            } else if let Some(call) = field(part, "functionCall", "function_call") {
                let index = self.calls;
                self.calls += 1;
                events.push(StreamEvent::ToolCallStart {
                    index,
                    id: call_id(call, &self.id, index),
                    name: call["name"].as_str().unwrap_or_default().to_string(),
                });
                events.push(StreamEvent::ToolCallArgumentsDelta {
                    index,
                    json: call
                        .get("args")
                        .filter(|a| !a.is_null())
                        .map(Value::to_string)
                        .unwrap_or_else(|| "{}".into()),
                });
            }
        }
        if let Some(reason) =
            field(candidate, "finishReason", "finish_reason").and_then(Value::as_str)
        {
            let stop = decode_finish(reason, self.calls > 0);
            events.extend(self.close(stop));
        }
    }

    fn close(&mut self, stop: StopReason) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        self.finished = true;
        Some(StreamEvent::Finish {
            stop,
            usage: self.usage.unwrap_or_default(),
        })
    }

    /// The closing event when the upstream ended without a `finishReason`.
    pub fn finish(&mut self) -> Option<StreamEvent> {
        let stop = if self.calls > 0 {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        };
        self.close(stop)
    }
}

/// serde_json's compact output with Google's spacing: `"key": value`, and
/// no space after commas.
struct GoogleFormatter;

impl serde_json::ser::Formatter for GoogleFormatter {
    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// One SSE frame as Google writes it: `data: <json>` and a CRLF blank line.
fn frame(out: &mut String, data: &Value) {
    let mut json = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut json, GoogleFormatter);
    let text = match data.serialize(&mut serializer) {
        Ok(()) => String::from_utf8(json).unwrap_or_else(|_| data.to_string()),
        Err(_) => data.to_string(),
    };
    out.push_str("data: ");
    out.push_str(&text);
    out.push_str("\r\n\r\n");
}

/// A tool call whose arguments are still arriving.
#[derive(Debug)]
struct PendingCall {
    index: usize,
    id: String,
    name: String,
    arguments: String,
}

/// Writes IR events as Gemini SSE chunks. Gemini sends a function call
/// whole, so argument deltas are gathered and the calls written together
/// (like Gemini's parallel calls) once something else comes.
#[derive(Debug, Default)]
pub struct StreamEncoder {
    id: String,
    model: String,
    calls: Vec<PendingCall>,
    done: bool,
}

impl StreamEncoder {
    fn chunk(&mut self, out: &mut String, parts: Vec<Value>, finish: Option<(StopReason, &Usage)>) {
        if self.id.is_empty() {
            self.id = fresh_id("resp");
        }
        let candidate = candidate(parts, finish.map(|(stop, _)| encode_finish(stop)));
        let body = envelope(candidate, finish.map(|(_, u)| u), &self.model, &self.id);
        frame(out, &body);
    }

    fn flush_calls(&mut self, out: &mut String) {
        if self.calls.is_empty() {
            return;
        }
        let mut calls = std::mem::take(&mut self.calls);
        calls.sort_by_key(|c| c.index);
        let parts = calls
            .iter()
            .map(|c| function_call(&c.id, &c.name, &c.arguments))
            .collect();
        self.chunk(out, parts, None);
    }

    /// The frames for one event (possibly none).
    pub fn encode(&mut self, event: &StreamEvent) -> String {
        let mut out = String::new();
        if self.done {
            return out;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                self.model = model.clone();
            }
            StreamEvent::TextDelta { text } => {
                self.flush_calls(&mut out);
                if !text.is_empty() {
                    self.chunk(&mut out, vec![json!({"text": text})], None);
                }
            }
            StreamEvent::ReasoningDelta { text } => {
                self.flush_calls(&mut out);
                if !text.is_empty() {
                    self.chunk(&mut out, vec![json!({"text": text, "thought": true})], None);
                }
            }
            StreamEvent::ReasoningSignature { signature } => {
                self.flush_calls(&mut out);
                self.chunk(
                    &mut out,
                    vec![json!({"text": "", "thought": true, "thoughtSignature": signature})],
                    None,
                );
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.calls.push(PendingCall {
                    index: *index,
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallArgumentsDelta { index, json } => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.index == *index) {
                    call.arguments.push_str(json);
                }
            }
            StreamEvent::Finish { stop, usage } => {
                self.flush_calls(&mut out);
                self.chunk(&mut out, vec![json!({"text": ""})], Some((*stop, usage)));
                self.done = true;
            }
            StreamEvent::Error { message } => {
                // Calls cut off mid-arguments must not be run.
                self.calls.clear();
                frame(&mut out, &error_body(500, message));
                self.done = true;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(sse: &str) -> Vec<Value> {
        sse.split("\r\n\r\n")
            .filter(|f| !f.is_empty())
            .map(|f| serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn frames_use_google_spacing_and_crlf() {
        let mut e = StreamEncoder::default();
        e.encode(&StreamEvent::Start {
            id: "r1".into(),
            model: "m".into(),
        });
        assert_eq!(
            e.encode(&StreamEvent::TextDelta { text: "Hi".into() }),
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"m\",\"responseId\": \"r1\"}\r\n\r\n"
        );
    }

    #[test]
    fn decoder_reads_text_thoughts_calls_and_the_final_usage() {
        let mut d = StreamDecoder::default();
        let chunks = [
            json!({"candidates": [{"content": {"parts": [{"text": "plan", "thought": true}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 9}, "modelVersion": "gemini-2.5-pro", "responseId": "r1"}),
            json!({"candidates": [{"content": {"parts": [{"text": "", "thought": true, "thoughtSignature": "c2ln"},
                {"text": "Hi"}], "role": "model"}, "index": 0}], "responseId": "r1"}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "Zm9v"},
                {"functionCall": {"name": "b", "id": "srv"}}], "role": "model"}, "index": 0}]}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 3}}),
            json!({"candidates": [{"content": {"parts": [{"text": "late"}]}}]}),
        ];
        let events: Vec<StreamEvent> = chunks.iter().flat_map(|c| d.event(c)).collect();
        assert_eq!(
            events,
            vec![
                StreamEvent::Start {
                    id: "r1".into(),
                    model: "gemini-2.5-pro".into()
                },
                StreamEvent::ReasoningDelta {
                    text: "plan".into()
                },
                StreamEvent::ReasoningSignature {
                    signature: "c2ln".into()
                },
                StreamEvent::TextDelta { text: "Hi".into() },
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_r1_0".into(),
                    name: "a".into()
                },
                StreamEvent::ToolCallArgumentsDelta {
                    index: 0,
                    json: "{\"x\":1}".into()
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "srv".into(),
                    name: "b".into()
                },
                StreamEvent::ToolCallArgumentsDelta {
                    index: 1,
                    json: "{}".into()
                },
                StreamEvent::Finish {
                    stop: StopReason::ToolUse,
                    usage: Usage {
                        input: 9,
                        output: 7,
                        cached: 0,
                        reasoning: 3
                    }
                },
            ]
        );
        assert_eq!(d.finish(), None, "finished once");
    }

    #[test]
    fn a_cut_stream_closes_with_the_last_usage_seen() {
        let mut d = StreamDecoder::default();
        let events = d.event(&json!({"candidates": [{"content": {"parts": [{"text": "par"}], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}}));
        assert!(matches!(&events[0], StreamEvent::Start { id, .. } if id.starts_with("resp_")));
        assert_eq!(
            d.finish(),
            Some(StreamEvent::Finish {
                stop: StopReason::EndTurn,
                usage: Usage {
                    input: 4,
                    output: 1,
                    cached: 0,
                    reasoning: 0
                }
            })
        );
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn errors_and_blocked_prompts_end_the_decoded_stream() {
        let mut d = StreamDecoder::default();
        assert_eq!(
            d.event(
                &json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
            ),
            vec![StreamEvent::Error {
                message: "overloaded (UNAVAILABLE)".into()
            }]
        );
        assert_eq!(d.finish(), None);
        let mut d = StreamDecoder::default();
        let events = d.event(
            &json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "responseId": "r"}),
        );
        assert_eq!(
            events[1],
            StreamEvent::Finish {
                stop: StopReason::ContentFilter,
                usage: Usage::default()
            }
        );
    }

    #[test]
    fn encoder_buffers_split_arguments_into_whole_calls() {
        let mut e = StreamEncoder::default();
        let events = [
            StreamEvent::Start {
                id: "r".into(),
                model: "m".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "ls".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{\"pa".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_2".into(),
                name: "cat".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "th\":\".\"}".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 1,
                json: "broken".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage::default(),
            },
        ];
        let sse: String = events.iter().map(|ev| e.encode(ev)).collect();
        let chunks = chunks_of(&sse);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0]["candidates"][0]["content"]["parts"],
            json!([{"functionCall": {"name": "ls", "args": {"path": "."}, "id": "call_1"}},
                {"functionCall": {"name": "cat", "args": {}, "id": "call_2"}}])
        );
        assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(e.encode(&StreamEvent::TextDelta { text: "x".into() }), "");
    }

    #[test]
    fn an_error_ends_the_encoded_stream_with_a_gemini_error() {
        let mut e = StreamEncoder::default();
        e.encode(&StreamEvent::ToolCallStart {
            index: 0,
            id: "c".into(),
            name: "ls".into(),
        });
        let sse = e.encode(&StreamEvent::Error {
            message: "upstream broke".into(),
        });
        assert_eq!(
            sse,
            "data: {\"error\": {\"code\": 500,\"message\": \"upstream broke\",\"status\": \"INTERNAL\"}}\r\n\r\n"
        );
        assert_eq!(
            e.encode(&StreamEvent::Finish {
                stop: StopReason::EndTurn,
                usage: Usage::default()
            }),
            ""
        );
    }

    #[test]
    fn encoder_output_decodes_back_to_the_same_events() {
        let events = vec![
            StreamEvent::Start {
                id: "r9".into(),
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
                    reasoning: 1,
                },
            },
        ];
        let mut encoder = StreamEncoder::default();
        let sse: String = events.iter().map(|e| encoder.encode(e)).collect();
        let mut decoder = StreamDecoder::default();
        let back: Vec<StreamEvent> = chunks_of(&sse)
            .iter()
            .flat_map(|chunk| decoder.event(chunk))
            .collect();
        assert_eq!(back, events);
    }
}
