//! OpenCode: `~/.config/opencode/opencode.json` gets an `omniroute` provider (the AI SDK's OpenAI-compatible package) on the gateway, listing the chosen models, and makes the default model OpenCode's model.

use serde_json::{Map, Value, json};

use crate::clitools::json_edit::Syntax;
use crate::clitools::setup::{Places, Target, ToolSetup, plan_json};
use crate::clitools::write::{Change, WriteError};

const CONFIG: &str = ".config/opencode/opencode.json";
const PROVIDER: &str = "omniroute";

pub struct OpenCode;

impl ToolSetup for OpenCode {
    fn id(&self) -> &'static str {
        "opencode"
    }

    fn files(&self) -> &'static [&'static str] {
        &[CONFIG]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let change = plan_json(places, CONFIG, Syntax::Jsonc, |doc| {
            if doc.is_new() {
                doc.set(&["$schema"], &json!("https://opencode.ai/config.json"))?;
            }
            let models: Map<String, Value> = target
                .models()
                .into_iter()
                .map(|m| (m.to_owned(), json!({"name": m})))
                .collect();
            doc.set(
                &["provider", PROVIDER],
                &json!({
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "OmniRoute",
                    "options": {"baseURL": target.v1_url(), "apiKey": target.key},
                    "models": models,
                }),
            )?;
            doc.set(&["model"], &json!(format!("{PROVIDER}/{}", target.model)))?;
            Ok(())
        })?;
        Ok(vec![change])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_the_provider_and_the_model() {
        let written = apply_and_restore(&OpenCode, &[]);
        let config: Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(config["$schema"], "https://opencode.ai/config.json");
        let provider = &config["provider"]["omniroute"];
        assert_eq!(provider["npm"], "@ai-sdk/openai-compatible");
        assert_eq!(provider["options"]["baseURL"], "http://127.0.0.1:20128/v1");
        assert_eq!(
            provider["models"]["openai/gpt-4.1"]["name"],
            "openai/gpt-4.1"
        );
        assert_eq!(config["model"], "omniroute/anthropic/claude-sonnet-4-5");
    }

    #[test]
    fn other_providers_and_settings_stay() {
        let existing = "{\n  \"$schema\": \"https://opencode.ai/config.json\",\n  \"theme\": \"tokyonight\",\n  \"provider\": {\"ollama\": {\"npm\": \"@ai-sdk/openai-compatible\", \"options\": {\"baseURL\": \"http://localhost:11434/v1\"}}}\n}\n";
        let written = apply_and_restore(&OpenCode, &[(CONFIG, existing)]);
        let config: Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(config["theme"], "tokyonight");
        assert_eq!(
            config["provider"]["ollama"]["options"]["baseURL"],
            "http://localhost:11434/v1"
        );
        assert!(config["provider"]["omniroute"].is_object());
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(&OpenCode, CONFIG, "{\"provider\": \"x\"");
    }
}
