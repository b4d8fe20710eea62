//! Whether a finished answer is a success that may be replayed or cached: a 2xx whose body is not an error in disguise and, for a stream, that reached its format's terminal event without an error event.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::providers::WireFormat;
use crate::wire::sse::{event_data, event_ranges};

/// Whether `body`, answered with `status` and `content_type` to a caller of
/// `format`, is a complete success.
pub fn replayable(
    format: WireFormat,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> bool {
    if !status.is_success() {
        return false;
    }
    let is_sse = content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if is_sse {
        stream_is_complete(format, body)
    } else {
        whole_is_success(body)
    }
}

/// The fields of a JSON object (a whole answer or one stream event) that
/// tell an error or an ending; everything else is skipped unread.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    /// A non-null `error`: OpenAI and Gemini error bodies and chunks,
    /// Anthropic's `error` event.
    error: Option<IgnoredAny>,
    /// A Responses object's `status` (`failed` is an error inside a 200).
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    /// OpenAI chunks: a choice with a `finish_reason` ends the answer.
    choices: Option<Vec<Choice>>,
    /// Gemini chunks: a candidate with a `finishReason` ends the answer.
    candidates: Option<Vec<Candidate>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Choice {
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Candidate {
    #[serde(rename = "finishReason", alias = "finish_reason")]
    finish_reason: Option<IgnoredAny>,
}

impl Probe<'_> {
    fn is_error(&self) -> bool {
        self.error.is_some()
            || self.kind.as_deref() == Some("error")
            || self.status.as_deref() == Some("failed")
    }
}

/// A whole JSON answer (an object, or Gemini's array of chunks) that holds
/// no error. A 2xx body that is not JSON is not trusted.
fn whole_is_success(body: &[u8]) -> bool {
    match body.trim_ascii_start().first() {
        Some(b'[') => serde_json::from_slice::<Vec<Probe<'_>>>(body)
            .is_ok_and(|items| !items.iter().any(Probe::is_error)),
        Some(b'{') => serde_json::from_slice::<Probe<'_>>(body).is_ok_and(|p| !p.is_error()),
        _ => false,
    }
}

/// The `event:` name of one SSE event, if it has one.
fn event_name(event: &[u8]) -> Option<&[u8]> {
    event
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find_map(|l| l.strip_prefix(b"event:"))
        .map(<[u8]>::trim_ascii)
}

/// A stream that ended with its format's terminal event and carried no
/// error event: what a broken, cut or failed stream never does.
fn stream_is_complete(format: WireFormat, body: &[u8]) -> bool {
    let mut ended = false;
    for range in event_ranges(body) {
        let event = &body[range];
        let name = event_name(event);
        if matches!(name, Some(b"error" | b"response.failed")) {
            return false;
        }
        let Some(data) = event_data(event) else {
            continue;
        };
        let data = data.trim_ascii();
        if data.is_empty() {
            continue;
        }
        if data == b"[DONE]" {
            ended |= format == WireFormat::Openai;
            continue;
        }
        let Ok(probe) = serde_json::from_slice::<Probe<'_>>(data) else {
            // Events of these formats are JSON; one that is not is a
            // broken stream.
            return false;
        };
        if probe.is_error() {
            return false;
        }
        let kind = probe.kind.as_deref();
        ended |= match format {
            WireFormat::Openai => probe
                .choices
                .iter()
                .flatten()
                .any(|c| c.finish_reason.is_some()),
            WireFormat::Anthropic => name == Some(b"message_stop") || kind == Some("message_stop"),
            WireFormat::Responses => {
                matches!(name, Some(b"response.completed" | b"response.incomplete"))
                    || matches!(kind, Some("response.completed" | "response.incomplete"))
            }
            WireFormat::Gemini => probe
                .candidates
                .iter()
                .flatten()
                .any(|c| c.finish_reason.is_some()),
        };
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
    const JSON: HeaderValue = HeaderValue::from_static("application/json");

    fn stream(format: WireFormat, body: &str) -> bool {
        replayable(format, StatusCode::OK, Some(&SSE), body.as_bytes())
    }

    #[test]
    fn only_successes_are_replayable() {
        let body = br#"{"id":"x","choices":[]}"#;
        assert!(replayable(
            WireFormat::Openai,
            StatusCode::OK,
            Some(&JSON),
            body
        ));
        for status in [StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR] {
            assert!(!replayable(WireFormat::Openai, status, Some(&JSON), body));
        }
    }

    #[test]
    fn whole_answers_with_an_error_inside_are_not_replayable() {
        let ok = |body: &str| {
            replayable(
                WireFormat::Responses,
                StatusCode::OK,
                Some(&JSON),
                body.as_bytes(),
            )
        };
        assert!(ok(r#"{"id":"r","status":"completed","error":null}"#));
        assert!(!ok(r#"{"id":"r","status":"failed","error":{"code":"x"}}"#));
        assert!(!ok(r#"{"error":{"message":"quota"}}"#));
        assert!(!ok("<html>bad gateway</html>"));
        assert!(ok(r#"[{"candidates":[]},{"candidates":[]}]"#));
        assert!(!ok(r#"[{"candidates":[]},{"error":{"code":500}}]"#));
    }

    #[test]
    fn openai_streams_need_an_ending_and_no_error() {
        let head =
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
        let finish = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
        let done = "data: [DONE]\n\n";
        let error = "data: {\"error\":{\"message\":\"broke\"}}\n\n";
        assert!(stream(WireFormat::Openai, &format!("{head}{finish}{done}")));
        assert!(stream(WireFormat::Openai, &format!("{head}{done}")));
        assert!(stream(WireFormat::Openai, &format!("{head}{finish}")));
        assert!(!stream(WireFormat::Openai, head));
        assert!(!stream(WireFormat::Openai, &format!("{head}{error}")));
        assert!(!stream(
            WireFormat::Openai,
            &format!("{head}{finish}{error}")
        ));
    }

    #[test]
    fn anthropic_streams_end_at_message_stop() {
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n";
        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n";
        assert!(stream(WireFormat::Anthropic, &format!("{start}{stop}")));
        assert!(!stream(WireFormat::Anthropic, start));
        assert!(!stream(WireFormat::Anthropic, &format!("{start}{error}")));
        // `[DONE]` is not Anthropic's ending.
        assert!(!stream(
            WireFormat::Anthropic,
            &format!("{start}data: [DONE]\n\n")
        ));
    }

    #[test]
    fn responses_streams_end_completed_or_incomplete_not_failed() {
        let created = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n";
        let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n";
        let incomplete = "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{}}\n\n";
        let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\"}}\n\n";
        assert!(stream(
            WireFormat::Responses,
            &format!("{created}{completed}")
        ));
        assert!(stream(
            WireFormat::Responses,
            &format!("{created}{incomplete}")
        ));
        assert!(!stream(WireFormat::Responses, created));
        assert!(!stream(
            WireFormat::Responses,
            &format!("{created}{failed}")
        ));
    }

    #[test]
    fn gemini_streams_end_with_a_finish_reason() {
        let part = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\n";
        let last = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n";
        let error = "data: {\"error\":{\"code\":500,\"message\":\"x\"}}\r\n\r\n";
        assert!(stream(WireFormat::Gemini, &format!("{part}{last}")));
        assert!(!stream(WireFormat::Gemini, part));
        assert!(!stream(WireFormat::Gemini, &format!("{part}{error}")));
    }

    #[test]
    fn a_stream_with_an_event_that_is_not_json_is_broken() {
        let body = "data: {\"choices\":[{\"finish_reason\":\"stop\"}]}\n\ndata: {\"cut\n\n";
        assert!(!stream(WireFormat::Openai, body));
    }
}
