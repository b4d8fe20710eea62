//! Codex CLI: `~/.codex/config.toml` gets an `omniroute` model provider on the gateway's Responses API and makes it the default; the key goes to `~/.codex/.env`, which Codex loads at start. Comments and every other setting stay as written.

use toml_edit::{DocumentMut, Item, Table, value};

use crate::clitools::setup::{Places, Target, ToolSetup, plan_env};
use crate::clitools::write::{Change, WriteError};

const CONFIG: &str = ".codex/config.toml";
/// Codex reads this into its environment at start (variables named
/// `CODEX_*` excepted), so the key works in every shell and launcher.
const ENV_FILE: &str = ".codex/.env";
const PROVIDER: &str = "omniroute";
const KEY_VAR: &str = "OMNIROUTE_API_KEY";

pub struct Codex;

impl ToolSetup for Codex {
    fn id(&self) -> &'static str {
        "codex"
    }

    fn files(&self) -> &'static [&'static str] {
        &[CONFIG, ENV_FILE]
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let path = places.file(CONFIG);
        let label = path.display().to_string();
        let config = Change::plan(&path, |text| edit(text.unwrap_or_default(), &label, target))?;
        let env = plan_env(places, ENV_FILE, &[(KEY_VAR, &target.key)])?;
        Ok(vec![config, env])
    }
}

fn edit(text: &str, label: &str, target: &Target) -> Result<String, WriteError> {
    let unparsable = |detail: String| WriteError::Unparsable {
        path: label.to_owned(),
        format: "TOML",
        detail,
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| unparsable(e.message().to_owned()))?;
    doc["model"] = value(target.model.as_str());
    doc["model_provider"] = value(PROVIDER);
    let providers = doc
        .entry("model_providers")
        .or_insert_with(|| {
            // `[model_providers.omniroute]` alone, without an empty parent header.
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| unparsable("`model_providers` is not a table".to_owned()))?;
    let ours = providers
        .entry(PROVIDER)
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| unparsable(format!("`model_providers.{PROVIDER}` is not a table")))?;
    ours["name"] = value("OmniRoute");
    ours["base_url"] = value(target.v1_url());
    // The gateway speaks Responses natively, which Codex prefers.
    ours["wire_api"] = value("responses");
    // Sent as `Authorization: Bearer <value of the variable>`.
    ours["env_key"] = value(KEY_VAR);
    // A token written here would win over the variable.
    ours.remove("experimental_bearer_token");
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed, target};

    #[test]
    fn a_fresh_install_gets_the_provider_and_the_default() {
        let written = apply_and_restore(&Codex, &[]);
        assert_eq!(
            written[0],
            "model = \"anthropic/claude-sonnet-4-5\"\nmodel_provider = \"omniroute\"\n\n\
             [model_providers.omniroute]\nname = \"OmniRoute\"\nbase_url = \"http://127.0.0.1:20128/v1\"\n\
             wire_api = \"responses\"\nenv_key = \"OMNIROUTE_API_KEY\"\n"
        );
        assert_eq!(written[1], "OMNIROUTE_API_KEY=sk-omni-test\n");
    }

    #[test]
    fn comments_and_other_settings_stay() {
        let existing = "# my codex setup\nmodel = \"gpt-5\" # the old default\napproval_policy = \"on-request\"\n\n[model_providers.local]\nname = \"Ollama\"\nbase_url = \"http://localhost:11434/v1\"\n\n[features]\nplugins = false\n";
        let written = apply_and_restore(&Codex, &[(CONFIG, existing)]);
        let text = &written[0];
        assert!(
            text.starts_with("# my codex setup\nmodel = \"anthropic/claude-sonnet-4-5\""),
            "{text}"
        );
        assert!(text.contains("approval_policy = \"on-request\""));
        assert!(text.contains("[model_providers.local]\nname = \"Ollama\""));
        assert!(text.contains("[features]\nplugins = false"));
        let parsed: toml::Table = toml::from_str(text).unwrap();
        assert_eq!(parsed["model_provider"].as_str(), Some("omniroute"));
        assert_eq!(
            parsed["model_providers"]["omniroute"]["base_url"].as_str(),
            Some("http://127.0.0.1:20128/v1")
        );
    }

    #[test]
    fn codex_home_moves_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let places = Places {
            codex_home: Some(dir.path().join("codex-home")),
            ..Places::at(&dir.path().join("home"))
        };
        crate::clitools::setup::apply(&Codex, &places, &target()).unwrap();
        assert!(dir.path().join("codex-home/config.toml").is_file());
        assert!(dir.path().join("codex-home/.env").is_file());
        assert!(!dir.path().join("home/.codex").exists());
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        let error = refuses_malformed(&Codex, CONFIG, "model = \"gpt-5\"\n[model_providers\n");
        assert!(error.contains("is not valid TOML"), "{error}");
    }
}
