//! Claude Code: `~/.claude/settings.json` `env` sends every call to the gateway's Anthropic endpoint with a gateway key, for the chosen model.

use serde_json::json;

use crate::clitools::setup::{Places, Target, ToolSetup, plan_json_edits};
use crate::clitools::write::{Change, WriteError};

const SETTINGS: &str = ".claude/settings.json";

pub struct ClaudeCode;

impl ToolSetup for ClaudeCode {
    fn id(&self) -> &'static str {
        "claude-code"
    }

    fn files(&self) -> &'static [&'static str] {
        &[SETTINGS]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let model = json!(target.model);
        let change = plan_json_edits(
            places,
            SETTINGS,
            &[
                // The root: Claude Code appends /v1/messages itself.
                (&["env", "ANTHROPIC_BASE_URL"], Some(json!(target.root_url))),
                // Sent as `Authorization: Bearer`, which the gateway takes.
                (&["env", "ANTHROPIC_AUTH_TOKEN"], Some(json!(target.key))),
                // An Anthropic key beside it makes Claude Code ask which to use.
                (&["env", "ANTHROPIC_API_KEY"], None),
                (&["env", "ANTHROPIC_MODEL"], Some(model.clone())),
                // Background and sub-agent calls go through the same model.
                (
                    &["env", "ANTHROPIC_DEFAULT_OPUS_MODEL"],
                    Some(model.clone()),
                ),
                (
                    &["env", "ANTHROPIC_DEFAULT_SONNET_MODEL"],
                    Some(model.clone()),
                ),
                (&["env", "ANTHROPIC_DEFAULT_HAIKU_MODEL"], Some(model)),
            ],
        )?;
        Ok(vec![change])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_the_gateway_env() {
        let written = apply_and_restore(&ClaudeCode, &[]);
        let settings: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        assert_eq!(
            settings["env"]["ANTHROPIC_BASE_URL"],
            "http://127.0.0.1:20128"
        );
        assert_eq!(settings["env"]["ANTHROPIC_AUTH_TOKEN"], "sk-omni-test");
        assert_eq!(
            settings["env"]["ANTHROPIC_MODEL"],
            "anthropic/claude-sonnet-4-5"
        );
        assert_eq!(
            settings["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"],
            "anthropic/claude-sonnet-4-5"
        );
    }

    #[test]
    fn unrelated_settings_stay_in_place() {
        let existing = "{\n    \"permissions\": {\"allow\": [\"Bash(ls)\"]},\n    \"env\": {\"DEBUG\": \"1\", \"ANTHROPIC_API_KEY\": \"sk-ant-real\"},\n    \"theme\": \"dark\"\n}\n";
        let written = apply_and_restore(&ClaudeCode, &[(SETTINGS, existing)]);
        let settings: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
        let keys: Vec<&String> = settings.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["permissions", "env", "theme"]);
        assert_eq!(settings["permissions"]["allow"][0], "Bash(ls)");
        assert_eq!(settings["env"]["DEBUG"], "1");
        assert!(settings["env"].get("ANTHROPIC_API_KEY").is_none());
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        let error = refuses_malformed(&ClaudeCode, SETTINGS, "{\"env\": {\"A\": 1,}");
        assert!(error.contains("is not valid JSON"), "{error}");
    }
}
