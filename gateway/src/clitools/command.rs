//! `omniroute setup`: point a coding tool at the gateway from the command line (with a diff of every change), put its files back, or list the tools found and their state.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::setup::{self, Places, Target};
use super::{DetectEnv, detect_all, tools};
use crate::config::file::FileConfig;
use crate::config::{DEFAULT_HOST, DEFAULT_PORT};

/// What `omniroute setup` was asked.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    /// The tool id; `None` with `list`.
    pub tool: Option<String>,
    pub list: bool,
    pub restore: bool,
    /// Show the diffs, write nothing.
    pub dry_run: bool,
    pub model: Option<String>,
    pub extra_models: Vec<String>,
    pub key: Option<String>,
    pub url: Option<String>,
}

/// Where the gateway is configured to serve, and its data.
#[derive(Debug, Clone)]
pub struct GatewayPlace {
    pub data_dir: PathBuf,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub config: Option<PathBuf>,
}

impl GatewayPlace {
    /// The address the gateway serves on, as a tool on this machine reaches
    /// it: flags first, then the config file's `[server]`, then the port the
    /// desktop app was moved to (its `desktop.json`), then the defaults.
    pub fn address(&self) -> Result<SocketAddr, String> {
        let file = match &self.config {
            Some(path) => Some(FileConfig::load(path).map_err(|e| e.to_string())?),
            None => None,
        };
        let host = self
            .host
            .clone()
            .or_else(|| file.as_ref().and_then(|f| f.server.host.clone()))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        let port = self
            .port
            .or_else(|| file.as_ref().and_then(|f| f.server.port))
            .or_else(|| desktop_port(&self.data_dir))
            .unwrap_or(DEFAULT_PORT);
        let ip = match host.as_str() {
            "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
            text => text
                .parse()
                .map_err(|_| format!("{text:?} is not an IP address to serve on"))?,
        };
        Ok(SocketAddr::new(ip, port))
    }
}

/// The port chosen in the desktop app's tray menu, kept in the data dir.
fn desktop_port(data_dir: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(data_dir.join("desktop.json")).ok()?;
    let prefs: serde_json::Value = serde_json::from_str(&text).ok()?;
    prefs["port"].as_u64()?.try_into().ok()
}

/// Runs the command and returns what to print.
pub async fn run(request: SetupRequest, place: GatewayPlace) -> Result<String, String> {
    let env = DetectEnv::from_process();
    let places = env
        .places()
        .ok_or("HOME is not set, so the tools' config files cannot be found")?;
    let address = place.address()?;
    if request.list {
        return Ok(list(env, address).await);
    }
    let Some(id) = request.tool.as_deref() else {
        return Err(usage());
    };
    if request.restore {
        let tool = tools::by_id(id).ok_or_else(|| unknown(id))?;
        return restore(tool, &places);
    }
    let url = request
        .url
        .clone()
        .unwrap_or_else(|| super::gateway_url(address));
    let model = match request.model.clone() {
        Some(model) => model,
        None => crate::first_enabled_combo(&place.data_dir)
            .map_err(|e| e.to_string())?
            .ok_or("name the model or combo the tool should use with --model")?,
    };
    if id == "cursor" {
        let key = request
            .key
            .clone()
            .unwrap_or_else(|| "<a gateway key>".into());
        let target = Target::new(&url, &key, &model, request.extra_models.clone())
            .map_err(|e| e.to_string())?;
        return Ok(tools::cursor_snippet(&target));
    }
    let tool = tools::by_id(id).ok_or_else(|| unknown(id))?;
    let placeholder = request.key.clone().unwrap_or_else(|| "<a new key>".into());
    let planned = Target::new(&url, &placeholder, &model, request.extra_models.clone())
        .map_err(|e| e.to_string())?;
    // Every file is read and checked before a key is made for the tool.
    let shown = preview(tool, &places, &planned)?;
    if request.dry_run {
        return Ok(shown + "Nothing was written (--dry-run).\n");
    }
    let mut out = String::new();
    let key = match request.key.clone() {
        Some(key) => key,
        None => {
            let name = format!("{id} (set up by OmniRoute)");
            let key = crate::create_api_key(&place.data_dir, &name).map_err(|e| e.to_string())?;
            out.push_str(&format!("Created the gateway key \"{name}\" for it.\n"));
            key
        }
    };
    let target =
        Target::new(&url, &key, &model, request.extra_models.clone()).map_err(|e| e.to_string())?;
    for file in setup::preview(tool, &places, &target).map_err(|e| e.to_string())? {
        out.push_str(&file.diff);
    }
    for applied in setup::apply(tool, &places, &target).map_err(|e| e.to_string())? {
        match applied.backup {
            Some(backup) => out.push_str(&format!(
                "Wrote {} (the previous state is kept in {}).\n",
                applied.path.display(),
                backup.display()
            )),
            None => out.push_str(&format!(
                "{} already points at OmniRoute.\n",
                applied.path.display()
            )),
        }
    }
    out.push_str(&format!(
        "{id} now sends its requests to {} with model {model}. Undo with: omniroute setup {id} --restore\n",
        target.root_url
    ));
    if let Some(step) = tool.next_step() {
        out.push_str(step);
        out.push('\n');
    }
    Ok(out)
}

/// Every file's diff, or that it would not change.
fn preview(
    tool: &dyn setup::ToolSetup,
    places: &Places,
    target: &Target,
) -> Result<String, String> {
    let mut out = String::new();
    for file in setup::preview(tool, places, target).map_err(|e| e.to_string())? {
        if file.diff.is_empty() {
            out.push_str(&format!("{} would not change.\n", file.path.display()));
        } else {
            out.push_str(&file.diff);
        }
    }
    Ok(out)
}

fn restore(tool: &dyn setup::ToolSetup, places: &Places) -> Result<String, String> {
    let mut out = String::new();
    for (path, outcome) in setup::restore_all(tool, places).map_err(|e| e.to_string())? {
        let what = match outcome {
            super::write::Restored::PutBack => "put back as it was",
            super::write::Restored::Removed => "removed (OmniRoute had created it)",
            super::write::Restored::NothingToRestore => "untouched (OmniRoute never changed it)",
        };
        out.push_str(&format!("{}: {what}.\n", path.display()));
    }
    Ok(out)
}

async fn list(env: DetectEnv, address: SocketAddr) -> String {
    let mut out = format!(
        "{:<12} {:<26} {:<28} {:<11} {}\n",
        "ID", "TOOL", "INSTALLED", "CONFIGURED", "RESTORABLE"
    );
    for tool in detect_all(env, address).await {
        let installed = match (tool.installed, &tool.version) {
            (true, Some(v)) => v.chars().take(27).collect(),
            (true, None) => "yes".to_owned(),
            (false, _) => "no".to_owned(),
        };
        let configured = match (tool.configured, tool.can_setup) {
            (true, _) => "yes",
            (false, true) => "no",
            (false, false) => "by hand",
        };
        out.push_str(&format!(
            "{:<12} {:<26} {:<28} {:<11} {}\n",
            tool.id,
            tool.name,
            installed,
            configured,
            if tool.restorable { "yes" } else { "no" }
        ));
    }
    out
}

fn ids() -> String {
    let mut ids: Vec<&str> = tools::ALL.iter().map(|t| t.id()).collect();
    ids.push("cursor");
    ids.join(", ")
}

fn unknown(id: &str) -> String {
    format!("no setup for a tool named {id:?}; choose one of: {}", ids())
}

fn usage() -> String {
    format!(
        "name a tool (omniroute setup <tool>) or ask for --list; tools: {}",
        ids()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(dir: &Path) -> GatewayPlace {
        GatewayPlace {
            data_dir: dir.to_path_buf(),
            host: None,
            port: None,
            config: None,
        }
    }

    #[test]
    fn the_address_comes_from_flags_then_config_then_the_desktop_app() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            place(dir.path()).address().unwrap().to_string(),
            "127.0.0.1:20128"
        );
        std::fs::write(dir.path().join("desktop.json"), r#"{"port": 20200}"#).unwrap();
        assert_eq!(place(dir.path()).address().unwrap().port(), 20200);
        let config = dir.path().join("omniroute.toml");
        std::fs::write(&config, "[server]\nport = 3000\n").unwrap();
        let with_config = GatewayPlace {
            config: Some(config),
            ..place(dir.path())
        };
        assert_eq!(with_config.address().unwrap().port(), 3000);
        let with_flag = GatewayPlace {
            port: Some(4000),
            host: Some("localhost".into()),
            ..with_config
        };
        assert_eq!(with_flag.address().unwrap().to_string(), "127.0.0.1:4000");
    }
}
