//! Qwen Code: `~/.qwen/settings.json` chooses its OpenAI-compatible auth and the model; `~/.qwen/.env` (which it loads at start) holds the gateway's address and key in the `OPENAI_*` variables it reads.

use serde_json::json;

use crate::clitools::setup::{Places, Target, ToolSetup, plan_env, plan_json_edits};
use crate::clitools::write::{Change, WriteError};

const SETTINGS: &str = ".qwen/settings.json";
const ENV_FILE: &str = ".qwen/.env";

pub struct QwenCode;

impl ToolSetup for QwenCode {
    fn id(&self) -> &'static str {
        "qwen-code"
    }

    fn files(&self) -> &'static [&'static str] {
        &[SETTINGS, ENV_FILE]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let settings = plan_json_edits(
            places,
            SETTINGS,
            &[
                (&["security", "auth", "selectedType"], Some(json!("openai"))),
                (&["model", "name"], Some(json!(target.model))),
            ],
        )?;
        let env = plan_env(
            places,
            ENV_FILE,
            &[
                ("OPENAI_API_KEY", &target.key),
                ("OPENAI_BASE_URL", &target.v1_url()),
                ("OPENAI_MODEL", &target.model),
            ],
        )?;
        Ok(vec![settings, env])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_openai_auth_and_the_env_file() {
        let written = apply_and_restore(&QwenCode, &[]);
        let settings: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(settings["security"]["auth"]["selectedType"], "openai");
        assert_eq!(settings["model"]["name"], "anthropic/claude-sonnet-4-5");
        assert_eq!(
            written[1],
            "OPENAI_API_KEY=sk-omni-test\nOPENAI_BASE_URL=http://127.0.0.1:20128/v1\nOPENAI_MODEL=anthropic/claude-sonnet-4-5\n"
        );
    }

    #[test]
    fn commented_settings_stay() {
        let settings =
            "{\n  \"$version\": 3,\n  // keep\n  \"ui\": {\"theme\": \"Qwen Dark\"}\n}\n";
        let written = apply_and_restore(&QwenCode, &[(SETTINGS, settings)]);
        assert!(written[0].contains("// keep"));
        assert!(written[0].contains("\"ui\": {\"theme\": \"Qwen Dark\"}"));
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(&QwenCode, SETTINGS, "{\"model\": {\"name\": }}");
    }
}
