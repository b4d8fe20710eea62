//! Reading an OpenAI chat completion as it arrives: UTF-8 across chunk borders, SSE framing, and the text of each chunk.

use serde_json::Value;

/// Turns bytes that arrive in arbitrary pieces into text, holding back a
/// character split between two pieces until its last byte comes.
#[derive(Debug, Default)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The text complete so far; invalid bytes become U+FFFD.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // A character cut at the end: wait for the rest.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// The end of the stream: a character still cut is replaced.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Splits server-sent events text, arriving in arbitrary pieces, into the
/// `data` of each event (several `data:` lines of one event joined by `\n`).
#[derive(Debug, Default)]
pub struct SseReader {
    line: String,
    data: Vec<String>,
}

impl SseReader {
    /// The data of every event completed by `text`.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        let mut events = Vec::new();
        for piece in text.split_inclusive('\n') {
            self.line.push_str(piece);
            if self.line.ends_with('\n') {
                let line = std::mem::take(&mut self.line);
                self.take_line(line.trim_end_matches(['\n', '\r']), &mut events);
            }
        }
        events
    }

    /// The stream ended: an event missing its closing blank line still counts.
    pub fn finish(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.take_line(line.trim_end_matches('\r'), &mut events);
        }
        self.take_line("", &mut events);
        events
    }

    fn take_line(&mut self, line: &str, events: &mut Vec<String>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                events.push(self.data.join("\n"));
                self.data.clear();
            }
            return;
        }
        // Comments (`: keep-alive`) carry nothing.
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push(value.to_owned());
        }
    }
}

/// Token counts an answer reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
}

/// What one chunk (or a whole non-streamed answer) adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    pub content: String,
    pub reasoning: String,
    pub finish_reason: Option<String>,
    pub usage: Option<TokenCounts>,
    /// The gateway's or upstream's error message, sent in place of a chunk.
    pub error: Option<String>,
    /// The chunk was not JSON at all.
    pub unreadable: bool,
    /// The `[DONE]` marker.
    pub done: bool,
}

impl Delta {
    /// Whether this adds visible text (the first one marks the first token).
    pub fn has_text(&self) -> bool {
        !self.content.is_empty() || !self.reasoning.is_empty()
    }
}

/// The data of one streamed `chat.completion.chunk` event.
pub fn parse_chunk(data: &str) -> Delta {
    let data = data.trim();
    if data == "[DONE]" {
        return Delta {
            done: true,
            ..Delta::default()
        };
    }
    match serde_json::from_str::<Value>(data) {
        Ok(value) => read_choices(&value, "delta"),
        Err(_) => Delta {
            unreadable: true,
            ..Delta::default()
        },
    }
}

/// A whole (non-streamed) `chat.completion` reply.
pub fn parse_completion(value: &Value) -> Delta {
    read_choices(value, "message")
}

fn read_choices(value: &Value, field: &str) -> Delta {
    let mut delta = Delta {
        error: error_message(value),
        usage: usage_of(value),
        ..Delta::default()
    };
    let choices = value
        .get("choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for choice in choices {
        if let Some(part) = choice.get(field) {
            delta.content.push_str(&text_of(part.get("content")));
            // Providers name the reasoning text differently.
            for key in ["reasoning_content", "reasoning"] {
                delta.reasoning.push_str(&text_of(part.get(key)));
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            delta.finish_reason = Some(reason.to_owned());
        }
    }
    delta
}

/// A content field: a string, or a list of `{"type":"text","text":…}` parts.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn usage_of(value: &Value) -> Option<TokenCounts> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    Some(TokenCounts {
        input: count("prompt_tokens"),
        output: count("completion_tokens"),
    })
}

/// `{"error":{"message":…}}` or `{"error":"…"}`.
pub fn error_message(value: &Value) -> Option<String> {
    let error = value.get("error")?;
    error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .map(str::to_owned)
        .or_else(|| (!error.is_null()).then(|| error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_between_pieces_is_held_back() {
        let text = "héllo 世界";
        let bytes = text.as_bytes();
        let mut carry = Utf8Carry::default();
        let mut out = String::new();
        // One byte at a time cuts every multi-byte character.
        for b in bytes {
            out.push_str(&carry.push(std::slice::from_ref(b)));
        }
        out.push_str(&carry.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(carry.push(b"\xe4\xb8"), "");
        assert_eq!(carry.finish(), "\u{FFFD}");
    }

    #[test]
    fn events_split_anywhere_are_reassembled() {
        let stream = "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..stream.len() {
            let mut reader = SseReader::default();
            let mut events = reader.push(&stream[..cut]);
            events.extend(reader.push(&stream[cut..]));
            events.extend(reader.finish());
            assert_eq!(events, ["{\"a\":1}", "{\"b\":2}", "[DONE]"], "cut at {cut}");
        }
    }

    #[test]
    fn multi_line_data_and_other_fields() {
        let mut reader = SseReader::default();
        let events = reader.push("event: message\nid: 3\ndata: one\ndata:two\n\n");
        assert_eq!(events, ["one\ntwo"]);
        assert!(reader.push("retry: 10\n\n").is_empty());
    }

    #[test]
    fn a_last_event_without_blank_line_is_kept() {
        let mut reader = SseReader::default();
        assert!(reader.push("data: last").is_empty());
        assert_eq!(reader.finish(), ["last"]);
        assert!(reader.finish().is_empty());
    }

    #[test]
    fn chunk_deltas_are_read() {
        let delta = parse_chunk(
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
        );
        assert_eq!(delta.content, "Hel");
        assert!(delta.has_text());
        assert_eq!(delta.finish_reason, None);

        let delta = parse_chunk(r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#);
        assert_eq!(delta.reasoning, "think");
        assert!(delta.has_text());

        let delta = parse_chunk(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(delta.finish_reason.as_deref(), Some("stop"));
        assert!(!delta.has_text());
    }

    #[test]
    fn the_usage_chunk_done_marker_and_errors() {
        let delta = parse_chunk(
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
        );
        assert_eq!(
            delta.usage,
            Some(TokenCounts {
                input: 12,
                output: 5
            })
        );
        assert!(parse_chunk("[DONE]").done);
        assert!(parse_chunk(" [DONE] ").done);
        assert_eq!(
            parse_chunk(r#"{"error":{"message":"upstream down","type":"server_error"}}"#).error,
            Some("upstream down".into())
        );
        assert!(parse_chunk("not json").unreadable);
        assert_eq!(parse_chunk(r#"{"choices":null}"#), Delta::default());
    }

    #[test]
    fn a_whole_completion_is_read() {
        let value = serde_json::json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}
        });
        let delta = parse_completion(&value);
        assert_eq!(delta.content, "Hi!");
        assert_eq!(delta.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            delta.usage,
            Some(TokenCounts {
                input: 3,
                output: 2
            })
        );
        assert_eq!(
            error_message(&serde_json::json!({"error": "plain"})),
            Some("plain".into())
        );
        assert_eq!(error_message(&serde_json::json!({"ok": true})), None);
    }
}
