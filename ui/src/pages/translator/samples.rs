//! The wire formats the translator knows, and a sample request and response in each to start from.

use serde_json::{Value, json};

/// A wire format of `/api/translate` (the gateway's `WireFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Openai,
    Anthropic,
    Gemini,
    Responses,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Openai,
        Format::Anthropic,
        Format::Gemini,
        Format::Responses,
    ];

    /// The gateway's name of the format.
    pub fn code(self) -> &'static str {
        match self {
            Format::Openai => "openai",
            Format::Anthropic => "anthropic",
            Format::Gemini => "gemini",
            Format::Responses => "responses",
        }
    }

    /// The API's own name (a product name, the same in every language).
    pub fn api_name(self) -> &'static str {
        match self {
            Format::Openai => "OpenAI Chat Completions",
            Format::Anthropic => "Anthropic Messages",
            Format::Gemini => "Gemini generateContent",
            Format::Responses => "OpenAI Responses",
        }
    }

    pub fn from_code(code: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.code() == code)
    }
}

/// Whether a body is what a client sends or what a provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        [Kind::Request, Kind::Response]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// The JSON schema of the sample tool, the same in every format.
fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
        },
        "required": ["city"]
    })
}

const SYSTEM: &str = "You are a concise assistant.";
const QUESTION: &str = "What is the weather in Paris right now?";
const ANSWER: &str = "It is 18 °C and sunny in Paris.";
const TOOL_DESCRIPTION: &str = "Current weather for a city";

fn request(format: Format) -> Value {
    match format {
        Format::Openai => json!({
            "model": "gpt-4.1-mini",
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": QUESTION}
            ],
            "temperature": 0.2,
            "max_tokens": 512,
            "tools": [{
                "type": "function",
                "function": {"name": "get_weather", "description": TOOL_DESCRIPTION, "parameters": weather_schema()}
            }]
        }),
        Format::Anthropic => json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 512,
            "system": SYSTEM,
            "messages": [
                {"role": "user", "content": QUESTION}
            ],
            "temperature": 0.2,
            "tools": [{"name": "get_weather", "description": TOOL_DESCRIPTION, "input_schema": weather_schema()}]
        }),
        Format::Gemini => json!({
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [
                {"role": "user", "parts": [{"text": QUESTION}]}
            ],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 512},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": TOOL_DESCRIPTION, "parameters": weather_schema()}]}]
        }),
        Format::Responses => json!({
            "model": "gpt-4.1-mini",
            "instructions": SYSTEM,
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}
            ],
            "temperature": 0.2,
            "max_output_tokens": 512,
            "tools": [{"type": "function", "name": "get_weather", "description": TOOL_DESCRIPTION, "parameters": weather_schema()}]
        }),
    }
}

fn response(format: Format) -> Value {
    match format {
        Format::Openai => json!({
            "id": "chatcmpl-sample",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": "gpt-4.1-mini",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 42, "completion_tokens": 11, "total_tokens": 53}
        }),
        Format::Anthropic => json!({
            "id": "msg_sample",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 42, "output_tokens": 11}
        }),
        Format::Gemini => json!({
            "candidates": [{
                "content": {"role": "model", "parts": [{"text": ANSWER}]},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {"promptTokenCount": 42, "candidatesTokenCount": 11, "totalTokenCount": 53},
            "modelVersion": "gemini-2.5-flash"
        }),
        Format::Responses => json!({
            "id": "resp_sample",
            "object": "response",
            "created_at": 1_767_225_600,
            "status": "completed",
            "model": "gpt-4.1-mini",
            "output": [{
                "type": "message",
                "id": "msg_sample",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}]
            }],
            "usage": {"input_tokens": 42, "output_tokens": 11, "total_tokens": 53}
        }),
    }
}

/// A sample body of `kind` in `format`, pretty-printed.
pub fn sample(format: Format, kind: Kind) -> String {
    let value = match kind {
        Kind::Request => request(format),
        Kind::Response => response(format),
    };
    pretty(&value)
}

/// JSON indented for reading.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Where a pasted body is not JSON: the parser's line and column, for the message.
pub fn parse_body(text: &str) -> Result<Value, (usize, usize)> {
    serde_json::from_str(text).map_err(|e| (e.line(), e.column()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_json_of_its_format() {
        for format in Format::ALL {
            for kind in [Kind::Request, Kind::Response] {
                let text = sample(format, kind);
                let value = parse_body(&text);
                assert!(value.is_ok(), "{format:?} {kind:?}: {value:?}");
            }
        }
        // The shapes that tell the formats apart.
        let req = |f| parse_body(&sample(f, Kind::Request)).unwrap_or_default();
        assert!(req(Format::Openai)["messages"].is_array());
        assert!(req(Format::Anthropic)["max_tokens"].is_u64());
        assert!(req(Format::Gemini)["contents"].is_array());
        assert!(req(Format::Gemini).get("model").is_none());
        assert!(req(Format::Responses)["input"].is_array());
        let res = |f| parse_body(&sample(f, Kind::Response)).unwrap_or_default();
        assert_eq!(res(Format::Openai)["object"], "chat.completion");
        assert_eq!(res(Format::Anthropic)["type"], "message");
        assert!(res(Format::Gemini)["candidates"].is_array());
        assert_eq!(res(Format::Responses)["object"], "response");
    }

    #[test]
    fn codes_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::from_code(format.code()), Some(format));
        }
        assert_eq!(Format::from_code("xml"), None);
        assert_eq!(Kind::from_code("response"), Some(Kind::Response));
        assert_eq!(Kind::from_code("x"), None);
    }

    #[test]
    fn a_bad_body_says_where() {
        assert_eq!(parse_body("{\n  \"a\": 1,\n}"), Err((3, 1)));
        assert!(parse_body("{}").is_ok());
    }
}
