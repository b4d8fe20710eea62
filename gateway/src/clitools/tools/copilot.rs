//! GitHub Copilot in VS Code: `chatLanguageModels.json` in VS Code's user directory gets an `OmniRoute` custom-endpoint provider offering every chosen model (bulk selection) on the gateway's Chat Completions API; the user's other providers stay.

use serde_json::{Value, json};

use crate::clitools::json_edit::Syntax;
use crate::clitools::setup::{Places, Target, ToolSetup, plan_json};
use crate::clitools::write::{Change, WriteError};

#[cfg(target_os = "macos")]
pub const MODELS_FILE: &str = "Library/Application Support/Code/User/chatLanguageModels.json";
#[cfg(windows)]
pub const MODELS_FILE: &str = "AppData/Roaming/Code/User/chatLanguageModels.json";
#[cfg(not(any(target_os = "macos", windows)))]
pub const MODELS_FILE: &str = ".config/Code/User/chatLanguageModels.json";

const PROVIDER_NAME: &str = "OmniRoute";

pub struct Copilot;

impl ToolSetup for Copilot {
    fn id(&self) -> &'static str {
        "copilot"
    }

    fn next_step(&self) -> Option<&'static str> {
        Some("In Copilot Chat open the model picker: the OmniRoute models are listed there.")
    }

    fn files(&self) -> &'static [&'static str] {
        &[MODELS_FILE]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let change = plan_json(places, MODELS_FILE, Syntax::Jsonc, |doc| {
            let url = format!("{}/chat/completions", target.v1_url());
            let models: Vec<Value> = target
                .models()
                .into_iter()
                .map(|model| {
                    json!({
                        "id": model,
                        "name": format!("{model} (OmniRoute)"),
                        "url": url,
                        "toolCalling": true,
                        "vision": true,
                        "maxInputTokens": 128000,
                        "maxOutputTokens": 16384,
                    })
                })
                .collect();
            let provider = json!({
                "name": PROVIDER_NAME,
                "vendor": "customendpoint",
                "apiKey": target.key,
                "apiType": "chat-completions",
                "models": models,
            });
            let providers = doc.top_array()?;
            doc.replace_entries(
                &providers,
                |entry| entry["name"] == PROVIDER_NAME,
                &[provider],
            );
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
    fn a_fresh_install_offers_every_chosen_model() {
        let written = apply_and_restore(&Copilot, &[]);
        let providers: Value = serde_json::from_str(&written[0]).unwrap();
        let ours = &providers[0];
        assert_eq!(ours["vendor"], "customendpoint");
        assert_eq!(ours["apiKey"], "sk-omni-test");
        assert_eq!(ours["models"].as_array().unwrap().len(), 2);
        assert_eq!(
            ours["models"][0]["url"],
            "http://127.0.0.1:20128/v1/chat/completions"
        );
    }

    #[test]
    fn other_providers_stay() {
        let existing =
            "[\n  {\"name\": \"Local\", \"vendor\": \"customendpoint\", \"models\": []}\n]\n";
        let written = apply_and_restore(&Copilot, &[(MODELS_FILE, existing)]);
        let providers: Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(providers[0]["name"], "Local");
        assert_eq!(providers[1]["name"], "OmniRoute");
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        let error = refuses_malformed(&Copilot, MODELS_FILE, "{\"name\": \"not a list\"}");
        assert!(error.contains("not an array"), "{error}");
    }
}
