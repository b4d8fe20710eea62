//! The coding tools `omniroute setup` can configure, one module each.

pub mod claude_code;
pub mod codex;

use super::setup::ToolSetup;

/// Every configurable tool, by id.
pub fn by_id(id: &str) -> Option<&'static dyn ToolSetup> {
    ALL.iter().copied().find(|tool| tool.id() == id)
}

pub const ALL: &[&dyn ToolSetup] = &[&claude_code::ClaudeCode, &codex::Codex];
