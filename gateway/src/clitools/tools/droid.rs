//! Factory Droid: `~/.factory/settings.json` `customModels` gets one entry per chosen model on the gateway's Chat Completions API, named `OmniRoute: <model>`; the user's other custom models stay.

use serde_json::{Value, json};

use crate::clitools::json_edit::Syntax;
use crate::clitools::setup::{Places, Target, ToolSetup, plan_json};
use crate::clitools::write::{Change, WriteError};

const SETTINGS: &str = ".factory/settings.json";
const NAME_PREFIX: &str = "OmniRoute: ";

pub struct Droid;

impl ToolSetup for Droid {
    fn id(&self) -> &'static str {
        "droid"
    }

    fn next_step(&self) -> Option<&'static str> {
        Some("In droid, pick an \"OmniRoute: …\" model with /model.")
    }

    fn files(&self) -> &'static [&'static str] {
        &[SETTINGS]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let change = plan_json(places, SETTINGS, Syntax::Jsonc, |doc| {
            let entries: Vec<Value> = target
                .models()
                .into_iter()
                .map(|model| {
                    json!({
                        "model": model,
                        "displayName": format!("{NAME_PREFIX}{model}"),
                        "baseUrl": target.v1_url(),
                        "apiKey": target.key,
                        "provider": "generic-chat-completion-api",
                        "maxOutputTokens": 16384,
                    })
                })
                .collect();
            let models = doc.array_at(&["customModels"])?;
            doc.replace_entries(
                &models,
                |entry| {
                    entry["displayName"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(NAME_PREFIX))
                },
                &entries,
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
    fn a_fresh_install_gets_one_custom_model_per_model() {
        let written = apply_and_restore(&Droid, &[]);
        let settings: Value = serde_json::from_str(&written[0]).unwrap();
        let models = settings["customModels"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(
            models[0]["displayName"],
            "OmniRoute: anthropic/claude-sonnet-4-5"
        );
        assert_eq!(models[0]["provider"], "generic-chat-completion-api");
        assert_eq!(models[1]["baseUrl"], "http://127.0.0.1:20128/v1");
    }

    #[test]
    fn the_users_custom_models_stay() {
        let existing = "{\"customModels\": [{\"model\": \"glm-4.6\", \"displayName\": \"GLM\", \"baseUrl\": \"https://api.z.ai/v1\", \"apiKey\": \"k\", \"provider\": \"generic-chat-completion-api\"}], \"diffMode\": \"github\"}";
        let written = apply_and_restore(&Droid, &[(SETTINGS, existing)]);
        let settings: Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(settings["customModels"][0]["displayName"], "GLM");
        assert_eq!(settings["customModels"].as_array().unwrap().len(), 3);
        assert_eq!(settings["diffMode"], "github");
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(&Droid, SETTINGS, "{\"customModels\": [}");
    }
}
