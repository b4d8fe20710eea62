//! The canonical request, response and stream events that every wire format converts to and from.
//!
//! Each format has a decoder into these types and an encoder out of them,
//! so N formats need 2N converters instead of N². Fields a format cannot
//! express are dropped by its encoder, never invented.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's `developer`: a system prompt from the application.
    Developer,
    User,
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    /// An image by URL (`https:` or a `data:` URL).
    Image {
        url: String,
    },
    /// The model's reasoning. `signature` is the provider's proof of it
    /// (Anthropic thinking); it is only ever sent back to the same family.
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    /// The model asks for a tool; `arguments` is JSON text.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// What a tool returned for the call `call_id`.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text { text: text.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

/// A function the model may call; `parameters` is a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Tool {
        name: String,
    },
}

/// A request in no particular wire format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// Thinking budget in tokens, when the caller set one.
    pub reasoning_budget: Option<u64>,
    /// Reasoning effort, when the caller set one (OpenAI, Responses).
    pub reasoning_effort: Option<Effort>,
    /// The shape the answer must have.
    pub response_format: Option<ResponseFormat>,
}

/// How hard a reasoning model should think. Formats that take a token
/// budget instead convert with [`Effort::budget`] and [`Effort::from_budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

impl Effort {
    /// Parses OpenAI's `reasoning_effort` / Responses' `reasoning.effort`.
    pub fn parse(text: &str) -> Option<Effort> {
        match text {
            // "none" asks for no reasoning at all: no effort to carry.
            "minimal" => Some(Effort::Minimal),
            "low" => Some(Effort::Low),
            "medium" => Some(Effort::Medium),
            "high" | "xhigh" => Some(Effort::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }

    /// A thinking budget in tokens that matches this effort.
    pub fn budget(self) -> u64 {
        match self {
            Effort::Minimal => 1024,
            Effort::Low => 2048,
            Effort::Medium => 8192,
            Effort::High => 24576,
        }
    }

    /// The effort closest to a thinking budget.
    pub fn from_budget(budget: u64) -> Effort {
        match budget {
            0..=1024 => Effort::Minimal,
            1025..=4096 => Effort::Low,
            4097..=16384 => Effort::Medium,
            _ => Effort::High,
        }
    }
}

/// The shape of the answer the caller wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `schema`.
    JsonSchema {
        name: String,
        schema: serde_json::Value,
        strict: bool,
    },
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
}

/// Token counts: cached tokens are part of `input`, reasoning part of `output`.
pub use crate::wire::openai_chat::TokenUsage as Usage;

/// A whole response in no particular wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: String,
    pub model: String,
    /// Text, reasoning and tool calls, in the order the model produced them.
    pub parts: Vec<Part>,
    pub stop: StopReason,
    pub usage: Usage,
}

/// One step of a streamed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta {
        text: String,
    },
    ReasoningDelta {
        text: String,
    },
    /// The signature that closes a reasoning block.
    ReasoningSignature {
        signature: String,
    },
    /// A tool call begins; `index` tells parallel calls apart.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArgumentsDelta {
        index: usize,
        json: String,
    },
    /// The end of the response.
    Finish {
        stop: StopReason,
        usage: Usage,
    },
    /// The upstream failed mid-stream.
    Error {
        message: String,
    },
}
