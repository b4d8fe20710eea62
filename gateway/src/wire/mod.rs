//! Serde types and framing of the public wire formats.

pub mod openai_chat;
pub mod sse;
