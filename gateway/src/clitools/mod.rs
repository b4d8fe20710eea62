//! Coding tools on this machine (Claude Code, Codex CLI, Gemini CLI, OpenClaw, Cline, Kilo Code, Roo Code, Continue, OpenCode, Qwen Code, Droid, Copilot, Cursor): whether each is installed, where, its version, its config file, whether that config points at this gateway, and whether OmniRoute can set it up or put it back.
//!
//! Detection only reads: it looks for binaries on `PATH` and in the
//! directories npm, bun and pipx install into, runs `<binary> --version`
//! with a time limit, and reads each tool's config file. `HOME` and `PATH`
//! come from the gateway's own environment ([`DetectEnv::from_process`]).

pub mod command;
pub mod dotenv_edit;
pub mod json_edit;
pub mod setup;
pub mod tools;
pub mod write;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

/// How long `<binary> --version` may take before it is given up on.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(3);
/// Config files larger than this are not read (none of these tools writes one).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// One coding tool the gateway knows how to find.
pub struct ToolDef {
    pub id: &'static str,
    pub name: &'static str,
    /// Executable names, looked for in order.
    pub binaries: &'static [&'static str],
    /// Found under `HOME` when the tool has no binary of its own (an editor
    /// extension) or may be installed without one on the search path.
    pub home_marker: Option<HomeMarker>,
    /// Config files relative to `HOME`; the first that exists is shown, and
    /// any of them pointing at the gateway counts as configured.
    pub config_files: &'static [&'static str],
    /// How the tool is pointed at the gateway; `{url}` is the gateway's address.
    pub docs: &'static str,
}

/// Evidence of an install under `HOME`.
pub enum HomeMarker {
    /// This directory exists.
    Dir(&'static str),
    /// A directory named `<prefix><version>` exists in one of `parents`
    /// (editor extensions).
    Versioned {
        parents: &'static [&'static str],
        prefix: &'static str,
    },
}

/// Where editors keep their extensions, relative to `HOME`.
const EXTENSION_DIRS: &[&str] = &[
    ".vscode/extensions",
    ".vscode-insiders/extensions",
    ".vscode-server/extensions",
    ".cursor/extensions",
    ".windsurf/extensions",
];

/// Every tool, in the order the dashboard shows them. Ids are the ones
/// `omniroute setup` takes.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        id: "claude-code",
        name: "Claude Code",
        binaries: &["claude"],
        home_marker: None,
        config_files: &[".claude/settings.json"],
        docs: "omniroute setup claude-code sets \"env\": {\"ANTHROPIC_BASE_URL\": \"{url}\", \"ANTHROPIC_AUTH_TOKEN\": \"<gateway key>\"} in ~/.claude/settings.json.",
    },
    ToolDef {
        id: "codex",
        name: "Codex CLI",
        binaries: &["codex"],
        home_marker: None,
        config_files: &[".codex/config.toml"],
        docs: "omniroute setup codex adds [model_providers.omniroute] with base_url = \"{url}/v1\", wire_api = \"responses\", env_key = \"OMNIROUTE_API_KEY\" to ~/.codex/config.toml and the key to ~/.codex/.env.",
    },
    ToolDef {
        id: "gemini-cli",
        name: "Gemini CLI",
        binaries: &["gemini"],
        home_marker: None,
        config_files: &[".gemini/.env", ".gemini/settings.json"],
        docs: "omniroute setup gemini-cli puts GOOGLE_GEMINI_BASE_URL={url} and GEMINI_API_KEY=<gateway key> in ~/.gemini/.env and chooses \"gemini-api-key\" auth.",
    },
    ToolDef {
        id: "openclaw",
        name: "OpenClaw",
        binaries: &["openclaw"],
        home_marker: Some(HomeMarker::Dir(".openclaw")),
        config_files: &[".openclaw/openclaw.json"],
        docs: "omniroute setup openclaw adds a models provider with \"baseUrl\": \"{url}/v1\" and \"api\": \"openai-completions\" to ~/.openclaw/openclaw.json.",
    },
    ToolDef {
        id: "cline",
        name: "Cline",
        binaries: &["cline"],
        home_marker: Some(HomeMarker::Versioned {
            parents: EXTENSION_DIRS,
            prefix: "saoudrizwan.claude-dev-",
        }),
        config_files: &[".cline/data/globalState.json"],
        docs: "omniroute setup cline chooses the \"OpenAI Compatible\" provider with Base URL {url}/v1 in ~/.cline/data.",
    },
    ToolDef {
        id: "kilo-code",
        name: "Kilo Code",
        binaries: &[],
        home_marker: Some(HomeMarker::Versioned {
            parents: EXTENSION_DIRS,
            prefix: "kilocode.kilo-code-",
        }),
        config_files: &[".kilocode/omniroute-settings.json"],
        docs: "omniroute setup kilo-code writes an OmniRoute profile (OpenAI Compatible, {url}/v1) that Kilo Code imports when VS Code starts.",
    },
    ToolDef {
        id: "roo-code",
        name: "Roo Code",
        binaries: &[],
        home_marker: Some(HomeMarker::Versioned {
            parents: EXTENSION_DIRS,
            prefix: "rooveterinaryinc.roo-cline-",
        }),
        config_files: &[".roo/omniroute-settings.json"],
        docs: "omniroute setup roo-code writes an OmniRoute profile (OpenAI Compatible, {url}/v1) that Roo Code imports when VS Code starts.",
    },
    ToolDef {
        id: "continue",
        name: "Continue",
        binaries: &["cn"],
        home_marker: Some(HomeMarker::Dir(".continue")),
        config_files: &[".continue/config.json"],
        docs: "omniroute setup continue adds \"OmniRoute: <model>\" entries (provider openai, apiBase {url}/v1) to ~/.continue/config.json.",
    },
    ToolDef {
        id: "opencode",
        name: "OpenCode",
        binaries: &["opencode"],
        home_marker: None,
        config_files: &[
            ".config/opencode/opencode.json",
            ".config/opencode/opencode.jsonc",
        ],
        docs: "omniroute setup opencode adds a provider with \"npm\": \"@ai-sdk/openai-compatible\" and \"options\": {\"baseURL\": \"{url}/v1\"} to ~/.config/opencode/opencode.json.",
    },
    ToolDef {
        id: "qwen-code",
        name: "Qwen Code",
        binaries: &["qwen"],
        home_marker: None,
        config_files: &[".qwen/.env", ".qwen/settings.json"],
        docs: "omniroute setup qwen-code puts OPENAI_BASE_URL={url}/v1, OPENAI_API_KEY and OPENAI_MODEL in ~/.qwen/.env and chooses OpenAI auth.",
    },
    ToolDef {
        id: "droid",
        name: "Factory Droid",
        binaries: &["droid"],
        home_marker: Some(HomeMarker::Dir(".factory")),
        config_files: &[".factory/settings.json"],
        docs: "omniroute setup droid adds \"OmniRoute: <model>\" custom models (baseUrl {url}/v1) to ~/.factory/settings.json.",
    },
    ToolDef {
        id: "copilot",
        name: "GitHub Copilot (VS Code)",
        binaries: &[],
        home_marker: Some(HomeMarker::Versioned {
            parents: EXTENSION_DIRS,
            prefix: "github.copilot-chat-",
        }),
        config_files: &[tools::copilot::MODELS_FILE],
        docs: "omniroute setup copilot --models a,b,c writes an OmniRoute custom endpoint ({url}/v1/chat/completions) with those models to VS Code's chatLanguageModels.json.",
    },
    ToolDef {
        id: "cursor",
        name: "Cursor",
        binaries: &["cursor"],
        home_marker: Some(HomeMarker::Dir(".cursor")),
        config_files: &[],
        docs: "In Cursor's Models settings, override the OpenAI base URL with {url}/v1 (omniroute setup cursor prints the steps; Cursor calls it from its own servers, so the gateway must be reachable from the internet).",
    },
];

/// What was found of one tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolStatus {
    pub id: String,
    pub name: String,
    pub installed: bool,
    /// The binary, or the directory that shows the install.
    pub path: Option<String>,
    pub version: Option<String>,
    pub config_path: Option<String>,
    /// Its config names this gateway's address.
    pub configured: bool,
    /// `omniroute setup <id>` can point it here.
    pub can_setup: bool,
    /// OmniRoute changed its files and can put them back.
    pub restorable: bool,
    pub docs: String,
}

/// Where to look: the home directory, the executable search path, and
/// system directories searched whatever `PATH` says.
#[derive(Debug, Clone, Default)]
pub struct DetectEnv {
    pub home: Option<PathBuf>,
    /// Config directories moved by the environment (`CODEX_HOME`, …);
    /// `None` for the defaults under `home`.
    pub places: Option<setup::Places>,
    pub path: Option<OsString>,
    pub system_dirs: Vec<PathBuf>,
}

impl DetectEnv {
    /// `HOME` (the platform's home directory when unset) and `PATH` of this process.
    pub fn from_process() -> DetectEnv {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(dirs::home_dir);
        DetectEnv {
            places: home.clone().map(setup::Places::from_env),
            home,
            path: std::env::var_os("PATH"),
            // A gateway started by a desktop launcher or a service often
            // has a short PATH; npm's global prefix is commonly here.
            system_dirs: vec![PathBuf::from("/usr/local/bin")],
        }
    }

    /// Where the tools' files are: `places`, else the defaults under `home`.
    pub fn places(&self) -> Option<setup::Places> {
        self.places
            .clone()
            .or_else(|| self.home.as_deref().map(setup::Places::at))
    }

    /// `PATH`, then the directories package managers install into, each once.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .path
            .as_ref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        if let Some(home) = &self.home {
            for extra in [".local/bin", ".npm-global/bin", ".bun/bin"] {
                dirs.push(home.join(extra));
            }
        }
        dirs.extend(self.system_dirs.iter().cloned());
        let mut seen = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if !dir.as_os_str().is_empty() && !seen.contains(&dir) {
                seen.push(dir);
            }
        }
        seen
    }
}

/// Every tool's status. File-system work runs off the async runtime; the
/// `--version` calls run at once, each within [`VERSION_TIMEOUT`].
pub async fn detect_all(env: DetectEnv, listen: SocketAddr) -> Vec<ToolStatus> {
    let found = tokio::task::spawn_blocking(move || {
        TOOLS
            .iter()
            .map(|tool| locate(tool, &env, listen))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let versions = futures_util::future::join_all(found.iter().map(|(_, binary)| async move {
        match binary {
            Some(binary) => run_version(binary).await,
            None => None,
        }
    }))
    .await;
    found
        .into_iter()
        .zip(versions)
        .map(|((mut status, _), version)| {
            if version.is_some() {
                status.version = version;
            }
            status
        })
        .collect()
}

/// Everything but the version a binary reports; the binary to ask, if any.
fn locate(tool: &ToolDef, env: &DetectEnv, listen: SocketAddr) -> (ToolStatus, Option<PathBuf>) {
    let dirs = env.search_dirs();
    let binary = tool
        .binaries
        .iter()
        .find_map(|name| find_binary(name, &dirs));
    let marker = match (&tool.home_marker, &env.home) {
        (Some(marker), Some(home)) if binary.is_none() => find_marker(marker, home),
        _ => None,
    };
    let installed = binary.is_some() || marker.is_some();
    let setup = tools::by_id(tool.id);
    let path = binary
        .as_ref()
        .map(|b| b.display().to_string())
        .or_else(|| marker.as_ref().map(|(dir, _)| dir.display().to_string()));
    let places = env.places();
    let configs: Vec<PathBuf> = match &places {
        Some(places) => tool
            .config_files
            .iter()
            .map(|f| places.file(f))
            .filter(|p| p.is_file())
            .collect(),
        None => Vec::new(),
    };
    let configured = configs
        .iter()
        .any(|p| read_small(p).is_some_and(|text| points_at(&text, listen)));
    let status = ToolStatus {
        id: tool.id.to_string(),
        name: tool.name.to_string(),
        installed,
        path,
        version: marker.and_then(|(_, version)| version),
        config_path: configs.first().map(|p| p.display().to_string()),
        configured,
        can_setup: setup.is_some(),
        restorable: match (setup, &places) {
            (Some(setup), Some(places)) => setup::restorable(setup, places),
            _ => false,
        },
        docs: tool.docs.replace("{url}", &gateway_url(listen)),
    };
    (status, binary)
}

/// `http://host:port` as a tool on this machine reaches the gateway.
pub fn gateway_url(listen: SocketAddr) -> String {
    let ip = listen.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        format!("http://127.0.0.1:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

/// The executable `name` in the first of `dirs` that has it.
pub fn find_binary(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    // Windows installs npm tools as `.cmd` shims next to extension-less scripts.
    let names: Vec<String> = if cfg!(windows) {
        vec![
            format!("{name}.exe"),
            format!("{name}.cmd"),
            name.to_string(),
        ]
    } else {
        vec![name.to_string()]
    };
    dirs.iter()
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The directory that shows an install, and the version its name carries.
fn find_marker(marker: &HomeMarker, home: &Path) -> Option<(PathBuf, Option<String>)> {
    match marker {
        HomeMarker::Dir(dir) => {
            let dir = home.join(dir);
            dir.is_dir().then_some((dir, None))
        }
        HomeMarker::Versioned { parents, prefix } => {
            let mut best: Option<(PathBuf, String)> = None;
            for parent in *parents {
                let Ok(entries) = std::fs::read_dir(home.join(parent)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Some(version) = name.strip_prefix(prefix) else {
                        continue;
                    };
                    // Editors keep old versions until they clean up: show the newest.
                    let newer = best
                        .as_ref()
                        .is_none_or(|(_, v)| version_key(version) > version_key(v));
                    if entry.path().is_dir() && newer {
                        best = Some((entry.path(), version.to_string()));
                    }
                }
            }
            best.map(|(dir, version)| (dir, Some(version)))
        }
    }
}

/// `3.17.10` sorts after `3.17.9`.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(['.', '-'])
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_CONFIG_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// `text` names the gateway's address: `127.0.0.1:<port>`, `localhost:<port>`,
/// `[::1]:<port>`, or the address it listens on, with no digit after the port.
pub fn points_at(text: &str, listen: SocketAddr) -> bool {
    let port = listen.port();
    let mut hosts = vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "[::1]".to_string(),
    ];
    let ip = listen.ip();
    if !ip.is_loopback() && !ip.is_unspecified() {
        hosts.push(match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    hosts.iter().any(|host| {
        let needle = format!("{host}:{port}");
        text.match_indices(&needle).any(|(at, _)| {
            !text[at + needle.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    })
}

/// What `<binary> --version` prints first, or `None` when it fails, says
/// nothing or takes longer than [`VERSION_TIMEOUT`] (it is then killed).
pub async fn run_version(binary: &Path) -> Option<String> {
    let child = tokio::process::Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let output = tokio::time::timeout(VERSION_TIMEOUT, child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        return None;
    }
    first_line(&output.stdout).or_else(|| first_line(&output.stderr))
}

/// The first non-empty line, trimmed and at most 200 characters.
fn first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_address_must_match_with_the_whole_port() {
        let listen = addr("127.0.0.1:20128");
        assert!(points_at(
            r#"{"env":{"ANTHROPIC_BASE_URL":"http://127.0.0.1:20128"}}"#,
            listen
        ));
        assert!(points_at(
            "base_url = \"http://localhost:20128/v1\"",
            listen
        ));
        assert!(points_at("http://[::1]:20128/v1", listen));
        assert!(!points_at("http://127.0.0.1:201280", listen));
        assert!(!points_at("http://127.0.0.1:2012", listen));
        assert!(!points_at("https://api.anthropic.com", listen));
        let lan = addr("192.168.1.5:8080");
        assert!(points_at("http://192.168.1.5:8080/v1", lan));
        assert!(points_at("http://localhost:8080/v1", lan));
    }

    #[test]
    fn versions_and_lines_are_read_sensibly() {
        assert_eq!(
            first_line(b"\n  2.0.1 (Claude Code)\nmore\n").as_deref(),
            Some("2.0.1 (Claude Code)")
        );
        assert_eq!(first_line(b" \n"), None);
        assert!(version_key("3.17.10") > version_key("3.17.9"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn binaries_markers_and_configs_are_found_under_the_given_home() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let bin = home.path().join(".local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("codex");
        std::fs::write(&script, "#!/bin/sh\necho 'codex-cli 0.50.0'\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Not executable: not an install.
        std::fs::write(bin.join("gemini"), "#!/bin/sh\n").unwrap();
        std::fs::create_dir_all(home.path().join(".codex")).unwrap();
        std::fs::write(
            home.path().join(".codex/config.toml"),
            "[model_providers.x]\nbase_url = \"http://localhost:4321/v1\"\n",
        )
        .unwrap();
        for version in ["3.9.0", "3.10.1"] {
            let dir = format!(".vscode/extensions/saoudrizwan.claude-dev-{version}");
            std::fs::create_dir_all(home.path().join(dir)).unwrap();
        }
        let env = DetectEnv {
            places: None,
            home: Some(home.path().to_path_buf()),
            path: Some(OsString::new()),
            system_dirs: Vec::new(),
        };
        let all = detect_all(env, addr("127.0.0.1:4321")).await;
        let get = |id: &str| all.iter().find(|t| t.id == id).unwrap().clone();
        let codex = get("codex");
        assert!(codex.installed && codex.configured, "{codex:?}");
        assert_eq!(codex.version.as_deref(), Some("codex-cli 0.50.0"));
        assert_eq!(codex.path, Some(script.display().to_string()));
        assert!(codex.docs.contains("http://127.0.0.1:4321/v1"));
        assert!(!get("gemini-cli").installed);
        let cline = get("cline");
        assert!(cline.installed);
        assert_eq!(cline.version.as_deref(), Some("3.10.1"));
        assert!(!cline.configured && cline.config_path.is_none());
        assert!(!get("claude-code").installed);
        assert!(cline.can_setup && !cline.restorable);
        assert!(!get("cursor").can_setup);
        assert_eq!(all.len(), TOOLS.len());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_hanging_version_command_is_given_up_on() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("slow");
        std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(run_version(&script).await, None);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
