//! Pointing a coding tool at the gateway: each tool names the files it owns and what they should hold; applying plans every file first (so a file that cannot be read stops the whole change), then writes them with backups; restoring puts them back.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::dotenv_edit::set_vars;
use super::json_edit::{Edit, JsonDoc, Syntax, edit_json};
use super::write::{Change, Restored, WriteError, backups_of, restore};

/// Where the tool should send its requests, with which key and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The gateway's root, `http://127.0.0.1:20128` (no `/v1`).
    pub root_url: String,
    /// A gateway API key.
    pub key: String,
    /// The default model or combo, `anthropic/claude-sonnet-4-5`.
    pub model: String,
    /// More models to offer in tools that list several (Copilot, OpenCode,
    /// Continue, Droid, OpenClaw); the default is always offered first.
    pub extra_models: Vec<String>,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the gateway URL must start with http:// or https://, got {0:?}")]
    Url(String),
    #[error("the {0} is empty")]
    Empty(&'static str),
    #[error("the {0} has a line break or another control character")]
    Control(&'static str),
}

impl Target {
    /// A checked target. `url` may end in `/v1` or `/`; both are dropped.
    /// Values end up in `.env` lines and TOML strings, so line breaks and
    /// other control characters are refused.
    pub fn new(
        url: &str,
        key: &str,
        model: &str,
        extra_models: Vec<String>,
    ) -> Result<Target, TargetError> {
        let check = |what: &'static str, value: &str| {
            if value.trim().is_empty() {
                Err(TargetError::Empty(what))
            } else if value.chars().any(char::is_control) {
                Err(TargetError::Control(what))
            } else {
                Ok(value.trim().to_owned())
            }
        };
        let url = check("gateway URL", url)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(TargetError::Url(url));
        }
        let root = url.trim_end_matches('/');
        let root = root.strip_suffix("/v1").unwrap_or(root).to_owned();
        let extra_models = extra_models
            .iter()
            .map(|m| check("model", m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Target {
            root_url: root,
            key: check("API key", key)?,
            model: check("model", model)?,
            extra_models,
        })
    }

    /// `http://127.0.0.1:20128/v1`.
    pub fn v1_url(&self) -> String {
        format!("{}/v1", self.root_url.trim_end_matches('/'))
    }

    /// The default model, then the extra ones, each once.
    pub fn models(&self) -> Vec<&str> {
        let mut all = vec![self.model.as_str()];
        for model in &self.extra_models {
            if !all.contains(&model.as_str()) {
                all.push(model);
            }
        }
        all
    }
}

/// Where the tools keep their files: `HOME`, and the directories a tool lets
/// a variable move (`CODEX_HOME`, `CLAUDE_CONFIG_DIR`, `XDG_CONFIG_HOME`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    pub home: PathBuf,
    /// Instead of `~/.codex`.
    pub codex_home: Option<PathBuf>,
    /// Instead of `~/.claude`.
    pub claude_config_dir: Option<PathBuf>,
    /// Instead of `~/.config` (OpenCode, VS Code on Linux).
    pub xdg_config_home: Option<PathBuf>,
}

impl Places {
    /// `home` alone, no directory moved.
    pub fn at(home: &Path) -> Places {
        Places {
            home: home.to_path_buf(),
            ..Places::default()
        }
    }

    /// `home`, and the moved directories this process's environment names
    /// (set, not empty, absolute).
    pub fn from_env(home: PathBuf) -> Places {
        let dir = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        Places {
            home,
            codex_home: dir("CODEX_HOME"),
            claude_config_dir: dir("CLAUDE_CONFIG_DIR"),
            xdg_config_home: dir("XDG_CONFIG_HOME"),
        }
    }

    /// Where `file` (a path under `HOME`, `.codex/config.toml`) really is.
    pub fn file(&self, file: &str) -> PathBuf {
        let moved = [
            (".codex/", &self.codex_home),
            (".claude/", &self.claude_config_dir),
            (".config/", &self.xdg_config_home),
        ];
        for (prefix, dir) in moved {
            if let (Some(rest), Some(dir)) = (file.strip_prefix(prefix), dir) {
                return dir.join(rest);
            }
        }
        self.home.join(file)
    }
}

/// One tool's setup.
pub trait ToolSetup: Sync {
    /// `claude-code`, `codex`, …
    fn id(&self) -> &'static str;
    /// What the user must do after the files are written, if anything.
    fn next_step(&self) -> Option<&'static str> {
        None
    }
    /// The files the setup writes, relative to `HOME`.
    fn files(&self) -> &'static [&'static str];
    /// What each file should hold to use `target`.
    fn plan(&self, places: &Places, target: &Target) -> Result<Vec<Change>, WriteError>;
}

/// The planned change of the JSON file `file` (see [`Places::file`]): `edit` changes
/// the parsed document, which keeps everything else the user wrote.
pub fn plan_json(
    places: &Places,
    file: &str,
    syntax: Syntax,
    edit: impl FnOnce(&JsonDoc) -> Result<(), WriteError>,
) -> Result<Change, WriteError> {
    let path = places.file(file);
    let label = path.display().to_string();
    Change::plan(&path, |text| {
        let doc = JsonDoc::parse(text, &label, syntax)?;
        edit(&doc)?;
        Ok(doc.finish())
    })
}

/// The planned change of the JSONC file `file` that sets or
/// removes the given paths.
pub fn plan_json_edits(
    places: &Places,
    file: &str,
    edits: &[Edit<'_>],
) -> Result<Change, WriteError> {
    let path = places.file(file);
    let label = path.display().to_string();
    Change::plan(&path, |text| edit_json(text, &label, edits))
}

/// The planned change of the `.env` file `file` that sets `vars`.
pub fn plan_env(places: &Places, file: &str, vars: &[(&str, &str)]) -> Result<Change, WriteError> {
    Change::plan(&places.file(file), |text| Ok(set_vars(text, vars)))
}

/// What applying did to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub path: PathBuf,
    /// The backup of the bytes it had; `None` when nothing changed.
    pub backup: Option<PathBuf>,
}

/// One file of a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    pub path: PathBuf,
    /// The file is there now.
    pub exists: bool,
    /// A unified diff; empty when the file already holds this setup.
    pub diff: String,
}

/// What `apply` would write, as diffs; nothing is written.
pub fn preview(
    tool: &dyn ToolSetup,
    places: &Places,
    target: &Target,
) -> Result<Vec<Preview>, WriteError> {
    Ok(tool
        .plan(places, target)?
        .iter()
        .map(|change| Preview {
            path: change.path.clone(),
            exists: change.before.is_some(),
            diff: change.diff(),
        })
        .collect())
}

/// Whether OmniRoute changed any of the tool's files and can put them back.
pub fn restorable(tool: &dyn ToolSetup, places: &Places) -> bool {
    tool.files()
        .iter()
        .any(|file| !backups_of(&places.file(file)).is_empty())
}

/// Plans every file, then writes the ones that change.
pub fn apply(
    tool: &dyn ToolSetup,
    places: &Places,
    target: &Target,
) -> Result<Vec<Applied>, WriteError> {
    let changes = tool.plan(places, target)?;
    changes
        .iter()
        .map(|change| {
            Ok(Applied {
                path: change.path.clone(),
                backup: change.apply()?,
            })
        })
        .collect()
}

/// Puts every file of the tool back as it was before OmniRoute's first change.
pub fn restore_all(
    tool: &dyn ToolSetup,
    places: &Places,
) -> Result<Vec<(PathBuf, Restored)>, WriteError> {
    tool.files()
        .iter()
        .map(|file| {
            let path = places.file(file);
            let outcome = restore(&path)?;
            Ok((path, outcome))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_config_dirs_are_followed() {
        let places = Places {
            home: "/home/u".into(),
            codex_home: Some("/srv/codex".into()),
            claude_config_dir: None,
            xdg_config_home: Some("/cfg".into()),
        };
        assert_eq!(
            places.file(".codex/config.toml"),
            Path::new("/srv/codex/config.toml")
        );
        assert_eq!(
            places.file(".claude/settings.json"),
            Path::new("/home/u/.claude/settings.json")
        );
        assert_eq!(
            places.file(".config/opencode/opencode.json"),
            Path::new("/cfg/opencode/opencode.json")
        );
        assert_eq!(
            places.file(".gemini/.env"),
            Path::new("/home/u/.gemini/.env")
        );
    }

    #[test]
    fn targets_are_checked_and_urls_trimmed() {
        let t = Target::new("http://127.0.0.1:20128/v1/", "k", "m", vec![]).unwrap();
        assert_eq!(t.root_url, "http://127.0.0.1:20128");
        assert_eq!(t.v1_url(), "http://127.0.0.1:20128/v1");
        assert_eq!(
            Target::new("127.0.0.1:1", "k", "m", vec![]),
            Err(TargetError::Url("127.0.0.1:1".into()))
        );
        assert_eq!(
            Target::new("http://h", "k\nEVIL=1", "m", vec![]),
            Err(TargetError::Control("API key"))
        );
        assert_eq!(
            Target::new("http://h", "k", " ", vec![]),
            Err(TargetError::Empty("model"))
        );
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! What every tool's tests share: a temp HOME and a target.

    use super::*;

    pub fn target() -> Target {
        Target {
            root_url: "http://127.0.0.1:20128".to_owned(),
            key: "sk-omni-test".to_owned(),
            model: "anthropic/claude-sonnet-4-5".to_owned(),
            extra_models: vec!["openai/gpt-4.1".to_owned()],
        }
    }

    /// Applies `tool` over `existing` (file, bytes) in a fresh HOME, checks
    /// that a restore gives back exactly those bytes (and removes files that
    /// did not exist), and returns the applied files' texts.
    pub fn apply_and_restore(tool: &dyn ToolSetup, existing: &[(&str, &str)]) -> Vec<String> {
        let home = tempfile::tempdir().unwrap();
        for (file, text) in existing {
            let path = home.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let places = Places::at(home.path());
        apply(tool, &places, &target()).unwrap();
        let written: Vec<String> = tool
            .files()
            .iter()
            .map(|f| std::fs::read_to_string(places.file(f)).unwrap())
            .collect();
        // A second apply changes nothing.
        for applied in apply(tool, &places, &target()).unwrap() {
            assert_eq!(applied.backup, None, "{}", applied.path.display());
        }
        restore_all(tool, &places).unwrap();
        for file in tool.files() {
            let path = home.path().join(file);
            match existing.iter().find(|(f, _)| f == file) {
                Some((_, text)) => assert_eq!(std::fs::read_to_string(&path).unwrap(), *text),
                None => assert!(!path.exists(), "{file} was created, so restore removes it"),
            }
        }
        written
    }

    /// A malformed `file` stops the setup with a message naming it, and
    /// nothing in HOME changes.
    pub fn refuses_malformed(tool: &dyn ToolSetup, file: &str, text: &str) -> String {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let error = apply(tool, &Places::at(home.path()), &target())
            .unwrap_err()
            .to_string();
        assert!(error.contains(file), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let entries = walk(home.path());
        assert_eq!(entries, vec![path], "nothing else was written");
        error
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}
