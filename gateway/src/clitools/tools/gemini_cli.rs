//! Gemini CLI: `~/.gemini/settings.json` chooses API-key auth and the model; `~/.gemini/.env` (which the CLI loads) holds the gateway key and the gateway's root as the Gemini base URL. The gateway serves the real Gemini API shape, so the CLI needs nothing else.

use serde_json::json;

use crate::clitools::setup::{Places, Target, ToolSetup, plan_env, plan_json_edits};
use crate::clitools::write::{Change, WriteError};

const SETTINGS: &str = ".gemini/settings.json";
const ENV_FILE: &str = ".gemini/.env";

pub struct GeminiCli;

impl ToolSetup for GeminiCli {
    fn id(&self) -> &'static str {
        "gemini-cli"
    }

    fn files(&self) -> &'static [&'static str] {
        &[SETTINGS, ENV_FILE]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let settings = plan_json_edits(
            places,
            SETTINGS,
            &[
                // Without it the CLI asks how to log in.
                (
                    &["security", "auth", "selectedType"],
                    Some(json!("gemini-api-key")),
                ),
                // A fixed model: with none the CLI first asks a router model.
                (&["model", "name"], Some(json!(target.model))),
            ],
        )?;
        let env = plan_env(
            places,
            ENV_FILE,
            &[
                // Sent as `x-goog-api-key`, which the gateway takes.
                ("GEMINI_API_KEY", &target.key),
                // The root: the CLI appends `/v1beta/models/…` itself.
                ("GOOGLE_GEMINI_BASE_URL", &target.root_url),
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
    fn a_fresh_install_gets_key_auth_and_the_env_file() {
        let written = apply_and_restore(&GeminiCli, &[]);
        let settings: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(
            settings["security"]["auth"]["selectedType"],
            "gemini-api-key"
        );
        assert_eq!(settings["model"]["name"], "anthropic/claude-sonnet-4-5");
        assert_eq!(
            written[1],
            "GEMINI_API_KEY=sk-omni-test\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:20128\n"
        );
    }

    #[test]
    fn unrelated_settings_and_variables_stay() {
        let settings = "{\n  // the CLI allows comments\n  \"privacy\": {\"usageStatisticsEnabled\": false},\n  \"security\": {\"auth\": {\"selectedType\": \"oauth-personal\"}, \"folderTrust\": {\"enabled\": true}}\n}\n";
        let env = "GEMINI_API_KEY=AIza-real\nHTTPS_PROXY=http://proxy:3128\n";
        let written = apply_and_restore(&GeminiCli, &[(SETTINGS, settings), (ENV_FILE, env)]);
        assert!(written[0].contains("// the CLI allows comments"));
        assert!(written[0].contains("\"usageStatisticsEnabled\": false"));
        assert!(written[0].contains("\"folderTrust\": {\"enabled\": true}"));
        assert!(written[0].contains("\"selectedType\": \"gemini-api-key\""));
        assert_eq!(
            written[1],
            "GEMINI_API_KEY=sk-omni-test\nHTTPS_PROXY=http://proxy:3128\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:20128\n"
        );
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        let error = refuses_malformed(&GeminiCli, SETTINGS, "{\"security\": }");
        assert!(error.contains("is not valid JSON"), "{error}");
    }
}
