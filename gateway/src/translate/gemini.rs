//! Gemini generateContent <-> IR: requests, responses, and the stream decoder and encoder.
//!
//! Gemini's REST API is camelCase, but some clients (pydantic-ai through
//! google-genai, hand-written ones) send snake_case, so every input field
//! is read under both spellings; output is always camelCase.

mod request;
mod response;
mod stream;

#[cfg(test)]
mod golden;

use serde_json::{Map, Value, json};

use super::TranslateError;
use super::ir::{StopReason, Usage};

pub use request::{decode_request, encode_request};
pub use response::{decode_response, encode_response};
pub use stream::{StreamDecoder, StreamEncoder};

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError(message.into())
}

/// The value of `camel` (or its snake_case spelling `snake`) in `object`,
/// ignoring explicit nulls.
fn field<'a>(object: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .filter(|v| !v.is_null())
        .or_else(|| object.get(snake).filter(|v| !v.is_null()))
}

/// A fresh id for a response or tool call the upstream did not name.
fn fresh_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Gemini's usage in IR terms. Gemini counts thoughts apart from the
/// candidates; the IR counts reasoning inside `output`. Tool-use prompt
/// tokens (server-side tools) are billed as input.
fn decode_usage(meta: &Value) -> Usage {
    let n = |camel: &str, snake: &str| field(meta, camel, snake).and_then(Value::as_u64);
    let thoughts = n("thoughtsTokenCount", "thoughts_token_count").unwrap_or(0);
    Usage {
        // Saturating: counts come from the upstream, and may be absurd.
        input: n("promptTokenCount", "prompt_token_count")
            .unwrap_or(0)
            .saturating_add(
                n("toolUsePromptTokenCount", "tool_use_prompt_token_count").unwrap_or(0),
            ),
        output: n("candidatesTokenCount", "candidates_token_count")
            .unwrap_or(0)
            .saturating_add(thoughts),
        cached: n("cachedContentTokenCount", "cached_content_token_count").unwrap_or(0),
        reasoning: thoughts,
    }
}

/// IR usage as Gemini's `usageMetadata`, in the field order Google uses.
fn usage_metadata(usage: &Usage) -> Value {
    let mut meta = Map::new();
    meta.insert("promptTokenCount".into(), json!(usage.input));
    meta.insert(
        "candidatesTokenCount".into(),
        json!(usage.output.saturating_sub(usage.reasoning)),
    );
    meta.insert(
        "totalTokenCount".into(),
        json!(usage.input.saturating_add(usage.output)),
    );
    if usage.cached > 0 {
        meta.insert("cachedContentTokenCount".into(), json!(usage.cached));
    }
    if usage.reasoning > 0 {
        meta.insert("thoughtsTokenCount".into(), json!(usage.reasoning));
    }
    Value::Object(meta)
}

/// The IR stop reason for a candidate's `finishReason`. Gemini says STOP
/// after a function call too; the IR calls that tool use.
fn decode_finish(reason: &str, has_call: bool) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ if has_call => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

fn encode_finish(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
    }
}

/// A tool call's JSON-text arguments as the object Gemini's `args` needs.
fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// The media type a file URL most likely has, from its extension.
fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

/// An IR image URL as a Gemini part: `data:` URLs inline, others by URI.
fn image_part(url: &str) -> Value {
    match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((mime, data)) => json!({"inlineData": {"mimeType": mime, "data": data}}),
        None => json!({"fileData": {"mimeType": guess_mime(url), "fileUri": url}}),
    }
}

/// The IR image URL of an `inlineData` or `fileData` object.
fn image_url(inline: Option<&Value>, file: Option<&Value>) -> Option<String> {
    if let Some(inline) = inline {
        let mime = field(inline, "mimeType", "mime_type")
            .and_then(Value::as_str)
            .unwrap_or("image/png");
        let data = inline["data"].as_str().unwrap_or_default();
        return Some(format!("data:{mime};base64,{data}"));
    }
    file.and_then(|f| field(f, "fileUri", "file_uri"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The message of a Gemini `{"error": {...}}` body, if it is one.
fn error_message(body: &Value) -> Option<String> {
    let error = body.get("error").filter(|e| !e.is_null())?;
    let message = error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .unwrap_or("the upstream reported an error");
    Some(match error["status"].as_str() {
        Some(status) => format!("{message} ({status})"),
        None => message.to_string(),
    })
}

/// The last `"usageMetadata"` object in a body, parsed alone. Streams
/// without `alt=sse` are one JSON array whose last usage is the total.
fn last_usage_metadata(body: &[u8]) -> Option<Value> {
    const KEY: &[u8] = b"\"usageMetadata\"";
    for pos in memchr::memmem::rfind_iter(body, KEY) {
        // An escaped quote means the key is inside a string.
        if pos > 0 && body[pos - 1] == b'\\' {
            continue;
        }
        let Some(value) = super::sanitize::value_after_key(&body[pos + KEY.len()..]) else {
            continue;
        };
        if value.first() != Some(&b'{') {
            continue;
        }
        let mut values = serde_json::Deserializer::from_slice(value).into_iter::<Value>();
        if let Some(Ok(meta)) = values.next() {
            return Some(meta);
        }
    }
    None
}

/// Usage of a whole same-format response body (passthrough accounting).
pub fn usage_of_body(body: &[u8]) -> Option<Usage> {
    last_usage_metadata(body).map(|meta| decode_usage(&meta))
}

/// Folds the usage one same-format stream event carries into `usage`.
/// Gemini repeats the running totals on every chunk, so the last wins.
pub fn track_usage(event: &Value, usage: &mut Option<Usage>) {
    if let Some(meta) = field(event, "usageMetadata", "usage_metadata").filter(|m| m.is_object()) {
        *usage = Some(decode_usage(meta));
    }
}

/// Google's canonical status name for an HTTP status.
fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// The error body this format's clients understand.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "message": message, "status": status_name(status)}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keeps_thoughts_inside_output_and_back() {
        let meta = json!({"promptTokenCount": 9, "candidatesTokenCount": 23, "totalTokenCount": 217,
            "cachedContentTokenCount": 4, "thoughtsTokenCount": 185});
        let usage = decode_usage(&meta);
        assert_eq!(
            usage,
            Usage {
                input: 9,
                output: 208,
                cached: 4,
                reasoning: 185
            }
        );
        assert_eq!(usage_metadata(&usage), meta);
        let snake = json!({"prompt_token_count": 3, "candidates_token_count": 2});
        assert_eq!(decode_usage(&snake).input, 3);
        assert_eq!(decode_usage(&snake).output, 2);
    }

    #[test]
    fn usage_of_body_reads_the_last_usage_even_in_a_json_array_stream() {
        let body = br#"[{"candidates":[],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}},
            {"candidates":[{"content":{"parts":[{"text":"\"usageMetadata\": {}"}]}}],
             "usageMetadata" : {"promptTokenCount":28,"candidatesTokenCount":19,"thoughtsTokenCount":248}}]"#;
        assert_eq!(
            usage_of_body(body),
            Some(Usage {
                input: 28,
                output: 267,
                cached: 0,
                reasoning: 248
            })
        );
        assert_eq!(usage_of_body(br#"{"candidates":[]}"#), None);
    }

    #[test]
    fn track_usage_keeps_the_last_chunk_s_totals() {
        let mut usage = None;
        track_usage(
            &json!({"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1}}),
            &mut usage,
        );
        track_usage(&json!({"candidates": []}), &mut usage);
        assert_eq!(usage.map(|u| u.output), Some(1));
        track_usage(
            &json!({"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7}}),
            &mut usage,
        );
        assert_eq!(usage.map(|u| (u.input, u.output)), Some((5, 7)));
    }

    #[test]
    fn error_body_names_the_canonical_status() {
        assert_eq!(
            error_body(429, "slow down"),
            json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}})
        );
        assert_eq!(error_body(401, "x")["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(error_body(502, "x")["error"]["status"], "UNKNOWN");
    }

    #[test]
    fn images_map_between_data_urls_inline_data_and_file_uris() {
        assert_eq!(
            image_part("data:image/png;base64,QUJD"),
            json!({"inlineData": {"mimeType": "image/png", "data": "QUJD"}})
        );
        assert_eq!(
            image_part("https://example.com/cat.WEBP?x=1"),
            json!({"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.WEBP?x=1"}})
        );
        assert_eq!(guess_mime("https://example.com/photo"), "image/jpeg");
        let inline = json!({"mime_type": "image/gif", "data": "R0lG"});
        assert_eq!(
            image_url(Some(&inline), None).as_deref(),
            Some("data:image/gif;base64,R0lG")
        );
    }

    #[test]
    fn finish_reasons_map_to_ir_stops() {
        assert_eq!(decode_finish("STOP", false), StopReason::EndTurn);
        assert_eq!(decode_finish("STOP", true), StopReason::ToolUse);
        assert_eq!(decode_finish("MAX_TOKENS", true), StopReason::MaxTokens);
        for reason in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(decode_finish(reason, false), StopReason::ContentFilter);
        }
        assert_eq!(encode_finish(StopReason::ToolUse), "STOP");
        assert_eq!(encode_finish(StopReason::ContentFilter), "SAFETY");
    }
}
