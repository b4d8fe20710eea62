//! Translation between wire formats through one canonical IR, and cleaning OpenAI responses for strict clients.

pub mod anthropic;
pub mod codec;
pub mod collect;
pub mod gemini;
#[cfg(test)]
mod golden_support;
pub mod ir;
pub mod normalize;
pub mod openai_chat;
pub mod responses;
pub mod sanitize;
pub mod shaping;

/// A body that cannot be translated, with the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(pub String);

/// The text of a `content` that is a string or a list of parts with
/// `text` (both formats allow either), parts joined by newlines.
pub(crate) fn flat_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}
