//! Roo Code and Kilo Code keep their provider profiles in VS Code's secret storage, which no other program can write; both import a settings file named by a VS Code setting when VS Code starts. The setup writes an `OmniRoute` profile to that file (in the extension's own dot-directory) and points the setting at it.

use serde_json::json;

use crate::clitools::setup::{Places, Target, ToolSetup, plan_json_edits};
use crate::clitools::write::{Change, WriteError};

/// VS Code's user settings, relative to `HOME`.
#[cfg(target_os = "macos")]
pub const VSCODE_SETTINGS: &str = "Library/Application Support/Code/User/settings.json";
#[cfg(windows)]
pub const VSCODE_SETTINGS: &str = "AppData/Roaming/Code/User/settings.json";
#[cfg(not(any(target_os = "macos", windows)))]
pub const VSCODE_SETTINGS: &str = ".config/Code/User/settings.json";

const PROFILE: &str = "OmniRoute";

/// One extension that imports settings at start.
pub struct VsCodeImport {
    pub id: &'static str,
    /// `roo-cline.autoImportSettingsPath`, …
    pub setting: &'static str,
    /// The file it imports, relative to `HOME`.
    pub import_file: &'static str,
    /// `import_file` and the VS Code settings, in that order.
    pub files: &'static [&'static str],
    pub next_step: &'static str,
}

pub const ROO_CODE: VsCodeImport = VsCodeImport {
    id: "roo-code",
    setting: "roo-cline.autoImportSettingsPath",
    import_file: ".roo/omniroute-settings.json",
    files: &[".roo/omniroute-settings.json", VSCODE_SETTINGS],
    next_step: "Reload VS Code: Roo Code imports the OmniRoute profile when it starts.",
};

pub const KILO_CODE: VsCodeImport = VsCodeImport {
    id: "kilo-code",
    setting: "kilo-code.autoImportSettingsPath",
    import_file: ".kilocode/omniroute-settings.json",
    files: &[".kilocode/omniroute-settings.json", VSCODE_SETTINGS],
    next_step: "Reload VS Code: Kilo Code imports the OmniRoute profile when it starts.",
};

impl ToolSetup for VsCodeImport {
    fn id(&self) -> &'static str {
        self.id
    }

    fn next_step(&self) -> Option<&'static str> {
        Some(self.next_step)
    }

    fn files(&self) -> &'static [&'static str] {
        self.files
    }

    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError> {
        let import = plan_json_edits(
            places,
            self.import_file,
            &[
                (
                    &["providerProfiles", "currentApiConfigName"],
                    Some(json!(PROFILE)),
                ),
                (
                    &["providerProfiles", "apiConfigs", PROFILE],
                    Some(json!({
                        "id": "omniroute",
                        "apiProvider": "openai",
                        "openAiBaseUrl": target.v1_url(),
                        "openAiApiKey": target.key,
                        "openAiModelId": target.model,
                    })),
                ),
            ],
        )?;
        // VS Code wants the import file's full path.
        let import_path = places.file(self.import_file).display().to_string();
        let settings = plan_json_edits(
            places,
            VSCODE_SETTINGS,
            &[(&[self.setting], Some(json!(import_path)))],
        )?;
        Ok(vec![import, settings])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clitools::setup::fixtures::{apply_and_restore, refuses_malformed};

    #[test]
    fn a_fresh_install_gets_the_profile_and_the_import_setting() {
        for tool in [&ROO_CODE, &KILO_CODE] {
            let written = apply_and_restore(tool, &[]);
            let import: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
            let profile = &import["providerProfiles"]["apiConfigs"]["OmniRoute"];
            assert_eq!(profile["apiProvider"], "openai");
            assert_eq!(profile["openAiBaseUrl"], "http://127.0.0.1:20128/v1");
            assert_eq!(profile["openAiApiKey"], "sk-omni-test");
            assert_eq!(
                import["providerProfiles"]["currentApiConfigName"],
                "OmniRoute"
            );
            let settings: serde_json::Value = serde_json::from_str(&written[1]).unwrap();
            let path = settings[tool.setting].as_str().unwrap();
            assert!(path.ends_with(tool.import_file), "{path}");
        }
    }

    #[test]
    fn vscode_settings_keep_their_comments() {
        let settings = "{\n    // editor\n    \"editor.fontSize\": 14,\n    \"files.exclude\": {\"**/.git\": true},\n}\n";
        let written = apply_and_restore(&ROO_CODE, &[(VSCODE_SETTINGS, settings)]);
        assert!(written[1].starts_with("{\n    // editor\n    \"editor.fontSize\": 14,"));
        assert!(written[1].contains("\"roo-cline.autoImportSettingsPath\":"));
    }

    #[test]
    fn a_malformed_file_is_left_alone() {
        refuses_malformed(
            &KILO_CODE,
            VSCODE_SETTINGS,
            "{\"editor.fontSize\": 14 \"x\": 1}",
        );
    }
}
