//! Configuration: start-up options, the declarative TOML file, and runtime settings.

pub mod file;
pub mod settings;

use std::path::PathBuf;

pub use file::{ConfigError, FileConfig};
pub use settings::Settings;

/// Default port of the gateway.
pub const DEFAULT_PORT: u16 = 20128;
/// Default bind address.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// How to start a gateway. Command-line flags and environment variables end
/// up here; `None` means "take it from the config file, else the default".
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub data_dir: PathBuf,
    pub config_path: Option<PathBuf>,
    /// 64 hex characters; else the key file in the data dir is used.
    pub secret_key_hex: Option<String>,
    /// The dashboard password to set on a first start (`INITIAL_PASSWORD`);
    /// a stored password always wins over it.
    pub initial_password: Option<String>,
    /// Problems the embedding app found at start (the desktop app: no OS
    /// keychain), shown on the dashboard's Health page.
    pub warnings: Vec<String>,
    /// Sends every built-in upstream URL (API bases and OAuth endpoints)
    /// to this origin instead: `https://host/path` becomes
    /// `{origin}/host/path`. For tests with mock providers
    /// (`OMNIROUTE_UPSTREAM_OVERRIDE`); never set in normal use.
    pub upstream_override: Option<String>,
}

/// `~/.omniroute`, or `./.omniroute` when there is no home directory.
pub fn default_data_dir() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".omniroute")
}
