//! Translation between wire formats. For now: cleaning OpenAI responses for strict clients.

pub mod sanitize;
