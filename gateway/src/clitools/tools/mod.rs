//! The coding tools `omniroute setup` can configure, one module each, and the copy-paste snippet for Cursor, which keeps its settings in its own database.

pub mod claude_code;
pub mod cline;
pub mod codex;
pub mod continue_dev;
pub mod copilot;
pub mod droid;
pub mod gemini_cli;
pub mod openclaw;
pub mod opencode;
pub mod qwen_code;
pub mod vscode_import;

use super::setup::{Target, ToolSetup};

/// Every configurable tool, in the order the dashboard and `--list` show them.
pub const ALL: &[&dyn ToolSetup] = &[
    &claude_code::ClaudeCode,
    &codex::Codex,
    &gemini_cli::GeminiCli,
    &openclaw::OpenClaw,
    &cline::Cline,
    &vscode_import::KILO_CODE,
    &vscode_import::ROO_CODE,
    &continue_dev::Continue,
    &opencode::OpenCode,
    &qwen_code::QwenCode,
    &droid::Droid,
    &copilot::Copilot,
];

/// The tool with this id.
pub fn by_id(id: &str) -> Option<&'static dyn ToolSetup> {
    ALL.iter().copied().find(|tool| tool.id() == id)
}

/// What to paste into Cursor (Settings → Models), which cannot be set up
/// from outside: it stores its settings in its own database, and it calls
/// custom endpoints from Cursor's servers, not from this machine.
pub fn cursor_snippet(target: &Target) -> String {
    format!(
        "Cursor → Settings → Models:\n  \
         1. Turn on \"OpenAI API Key\" and paste: {key}\n  \
         2. Turn on \"Override OpenAI Base URL\" and paste: {url}\n  \
         3. Add the model \"{model}\" with \"+ Add model\" and select it.\n\
         Cursor sends these requests from its own servers: the gateway must be reachable \
         from the internet (a tunnel to {url}), not only on 127.0.0.1.\n",
        key = target.key,
        url = target.v1_url(),
        model = target.model,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found() {
        for tool in ALL {
            assert_eq!(by_id(tool.id()).map(|t| t.id()), Some(tool.id()));
        }
        let mut ids: Vec<&str> = ALL.iter().map(|t| t.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        assert!(by_id("cursor").is_none());
    }

    #[test]
    fn the_cursor_snippet_names_key_url_and_model() {
        let snippet = cursor_snippet(&crate::clitools::setup::fixtures::target());
        assert!(snippet.contains("sk-omni-test"));
        assert!(snippet.contains("http://127.0.0.1:20128/v1"));
        assert!(snippet.contains("anthropic/claude-sonnet-4-5"));
    }
}
