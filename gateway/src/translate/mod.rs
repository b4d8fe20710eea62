//! Translation between wire formats through one canonical IR, and cleaning OpenAI responses for strict clients.

pub mod anthropic;
pub mod ir;
pub mod openai_chat;
pub mod sanitize;

/// A body that cannot be translated, with the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TranslateError(pub String);
