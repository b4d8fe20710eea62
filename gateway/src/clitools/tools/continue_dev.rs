//! Continue: `~/.continue/config.json` lists one OpenAI-compatible model entry per chosen model, titled `OmniRoute: <model>`, on the gateway; the user's other models stay.

use serde_json::{Value, json};

use crate::clitools::json_edit::Syntax;
use crate::clitools::setup::{Places, Target, ToolSetup, plan_json};
use crate::clitools::write::{Change, WriteError};

const CONFIG: &str = ".continue/config.json";
const TITLE_PREFIX: &str = "OmniRoute: ";

pub struct Continue;

impl ToolSetup for Continue {
    fn id(&self) -> &'static str {
        "continue"
    }

    fn files(&self) -> &'static [&'static str] {
        &[CONFIG]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let change = plan_json(places, CONFIG, Syntax::Jsonc, |doc| {
            let entries: Vec<Value> = target
                .models()
                .into_iter()
                .map(|model| {
                    json!({
                        "title": format!("{TITLE_PREFIX}{model}"),
                        "provider": "openai",
                        "model": model,
                        "apiBase": target.v1_url(),
                        "apiKey": target.key,
                    })
                })
                .collect();
            let models = doc.array_at(&["models"])?;
            doc.replace_entries(&models, is_ours, &entries);
            Ok(())
        })?;
        Ok(vec![change])
    }
}

fn is_ours(entry: &Value) -> bool {
    entry["title"]
        .as_str()
        .is_some_and(|t| t.starts_with(TITLE_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_lists_every_chosen_model() {
        let written = apply_and_restore(&Continue, &[]);
        let config: Value = serde_json::from_str(&written[0]).unwrap();
        let models = config["models"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0]["title"], "OmniRoute: anthropic/claude-sonnet-4-5");
        assert_eq!(models[0]["apiBase"], "http://127.0.0.1:20128/v1");
        assert_eq!(models[1]["model"], "openai/gpt-4.1");
    }

    #[test]
    fn the_users_models_stay_and_old_entries_are_replaced() {
        let existing = "{\n  \"models\": [\n    {\"title\": \"Local\", \"provider\": \"ollama\", \"model\": \"qwen\"},\n    {\"title\": \"OmniRoute: old\", \"provider\": \"openai\", \"model\": \"old\"}\n  ],\n  \"tabAutocompleteModel\": {\"title\": \"Local\"}\n}\n";
        let written = apply_and_restore(&Continue, &[(CONFIG, existing)]);
        let config: Value = serde_json::from_str(&written[0]).unwrap();
        let titles: Vec<&str> = config["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            [
                "Local",
                "OmniRoute: anthropic/claude-sonnet-4-5",
                "OmniRoute: openai/gpt-4.1"
            ]
        );
        assert_eq!(config["tabAutocompleteModel"]["title"], "Local");
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(&Continue, CONFIG, "{\"models\": {}}");
    }
}
