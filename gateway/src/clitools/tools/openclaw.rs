//! OpenClaw: `~/.openclaw/openclaw.json` (JSON5) gets an `omniroute` model provider on the gateway's Chat Completions API, listing the chosen models, and makes the default model the agents' primary one.

use serde_json::{Value, json};

use crate::clitools::json_edit::Syntax;
use crate::clitools::setup::{Places, Target, ToolSetup, plan_json};
use crate::clitools::write::{Change, WriteError};

const CONFIG: &str = ".openclaw/openclaw.json";
const PROVIDER: &str = "omniroute";

pub struct OpenClaw;

impl ToolSetup for OpenClaw {
    fn id(&self) -> &'static str {
        "openclaw"
    }

    fn files(&self) -> &'static [&'static str] {
        &[CONFIG]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let change = plan_json(places, CONFIG, Syntax::Json5, |doc| {
            let models: Vec<Value> = target
                .models()
                .into_iter()
                .map(|m| json!({"id": m, "name": m}))
                .collect();
            doc.set(
                &["models", "providers", PROVIDER],
                &json!({
                    // OpenClaw resolves `localhost` to ::1 first on some
                    // systems, where the gateway does not listen.
                    "baseUrl": target.v1_url().replace("//localhost:", "//127.0.0.1:"),
                    "apiKey": target.key,
                    "api": "openai-completions",
                    "models": models,
                }),
            )?;
            doc.set(
                &["agents", "defaults", "model", "primary"],
                &json!(format!("{PROVIDER}/{}", target.model)),
            )?;
            Ok(())
        })?;
        Ok(vec![change])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::json_edit::JsonDoc;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_the_provider_and_the_primary_model() {
        let written = apply_and_restore(&OpenClaw, &[]);
        let config: Value = serde_json::from_str(&written[0]).unwrap();
        let provider = &config["models"]["providers"]["omniroute"];
        assert_eq!(provider["baseUrl"], "http://127.0.0.1:20128/v1");
        assert_eq!(provider["api"], "openai-completions");
        assert_eq!(provider["apiKey"], "sk-omni-test");
        assert_eq!(provider["models"][1]["id"], "openai/gpt-4.1");
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "omniroute/anthropic/claude-sonnet-4-5"
        );
    }

    #[test]
    fn json5_and_other_providers_stay() {
        let existing = "// OpenClaw config\n{\n  gateway: { port: 18789 },\n  models: { providers: { ollama: { baseUrl: 'http://127.0.0.1:11434/v1', api: 'openai-completions', models: [] } } },\n}\n";
        let written = apply_and_restore(&OpenClaw, &[(CONFIG, existing)]);
        let text = &written[0];
        assert!(
            text.starts_with("// OpenClaw config\n{\n  gateway: { port: 18789 },"),
            "{text}"
        );
        assert!(
            text.contains("ollama: { baseUrl: 'http://127.0.0.1:11434/v1'"),
            "{text}"
        );
        let doc = JsonDoc::parse(Some(text), "x", Syntax::Json5).unwrap();
        assert_eq!(
            doc.get(&["models", "providers", "omniroute", "api"]),
            Some(json!("openai-completions"))
        );
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        let error = refuses_malformed(&OpenClaw, CONFIG, "{ models: { providers: [ }");
        assert!(error.contains("is not valid JSON"), "{error}");
    }
}
