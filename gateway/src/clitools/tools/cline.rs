//! Cline (the CLI and its shared data dir): `~/.cline/data/globalState.json` selects the OpenAI-compatible provider on the gateway for both plan and act modes; `~/.cline/data/secrets.json` holds the gateway key.

use serde_json::json;

use crate::clitools::setup::{Places, Target, ToolSetup, plan_json_edits};
use crate::clitools::write::{Change, WriteError};

const STATE: &str = ".cline/data/globalState.json";
const SECRETS: &str = ".cline/data/secrets.json";

pub struct Cline;

impl ToolSetup for Cline {
    fn id(&self) -> &'static str {
        "cline"
    }

    fn files(&self) -> &'static [&'static str] {
        &[STATE, SECRETS]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let model = json!(target.model);
        let openai = json!("openai");
        let state = plan_json_edits(
            places,
            STATE,
            &[
                (&["actModeApiProvider"], Some(openai.clone())),
                (&["planModeApiProvider"], Some(openai)),
                // Cline's OpenAI client appends `/chat/completions`.
                (&["openAiBaseUrl"], Some(json!(target.v1_url()))),
                (&["actModeOpenAiModelId"], Some(model.clone())),
                (&["planModeOpenAiModelId"], Some(model.clone())),
                // Read by releases from before the plan/act split.
                (&["openAiModelId"], Some(model)),
            ],
        )?;
        let secrets = plan_json_edits(
            places,
            SECRETS,
            &[(&["openAiApiKey"], Some(json!(target.key)))],
        )?;
        Ok(vec![state, secrets])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_the_provider_and_the_key() {
        let written = apply_and_restore(&Cline, &[]);
        let state: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(state["actModeApiProvider"], "openai");
        assert_eq!(state["planModeApiProvider"], "openai");
        assert_eq!(state["openAiBaseUrl"], "http://127.0.0.1:20128/v1");
        assert_eq!(state["actModeOpenAiModelId"], "anthropic/claude-sonnet-4-5");
        let secrets: serde_json::Value = serde_json::from_str(&written[1]).unwrap();
        assert_eq!(secrets["openAiApiKey"], "sk-omni-test");
    }

    #[test]
    fn other_state_and_secrets_stay() {
        let state = "{\"autoApprovalSettings\": {\"enabled\": true}, \"actModeApiProvider\": \"anthropic\"}";
        let secrets = "{\"apiKey\": \"sk-ant-real\"}";
        let written = apply_and_restore(&Cline, &[(STATE, state), (SECRETS, secrets)]);
        let state: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(state["autoApprovalSettings"]["enabled"], true);
        assert_eq!(state["actModeApiProvider"], "openai");
        let secrets: serde_json::Value = serde_json::from_str(&written[1]).unwrap();
        assert_eq!(secrets["apiKey"], "sk-ant-real");
        assert_eq!(secrets["openAiApiKey"], "sk-omni-test");
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(&Cline, SECRETS, "{\"apiKey\": ");
    }
}
