//! The declarative config file (TOML): parsing, validation with line numbers, and applying it to the store.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::providers::{AuthKind, Catalog, ModelDef, ProviderDef, WireFormat, catalog::valid_name};
use crate::routing::Strategy;
use crate::store::{self, Store, StoreError, connections::ConnectionInput};

/// A config file problem, with the line it is on when known.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("config file {path}, line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {path}: {message}")]
    Apply { path: PathBuf, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub host: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    pub id: Spanned<String>,
    pub name: String,
    pub format: WireFormat,
    pub base_url: Spanned<String>,
    pub prefix: Spanned<String>,
    #[serde(default = "default_auth")]
    pub auth: AuthKind,
    #[serde(default)]
    pub models: Vec<String>,
}

fn default_auth() -> AuthKind {
    AuthKind::Bearer
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEntry {
    pub provider: Spanned<String>,
    pub name: String,
    pub api_key: Option<String>,
    pub api_key_env: Option<Spanned<String>>,
    pub base_url: Option<Spanned<String>>,
    #[serde(default = "default_priority")]
    pub priority: i64,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_priority() -> i64 {
    1
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComboEntry {
    pub name: Spanned<String>,
    pub strategy: Strategy,
    pub models: Vec<Spanned<String>>,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub name: Spanned<String>,
    pub key: Option<String>,
    pub key_env: Option<Spanned<String>>,
    #[serde(default = "all_models")]
    pub models: Vec<String>,
}

fn all_models() -> Vec<String> {
    vec!["*".to_string()]
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub providers: Vec<ProviderEntry>,
    #[serde(default)]
    pub connections: Vec<ConnectionEntry>,
    #[serde(default)]
    pub combos: Vec<ComboEntry>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyEntry>,
    #[serde(default)]
    pub settings: Option<Spanned<toml::Table>>,
    #[serde(skip)]
    path: PathBuf,
    #[serde(skip)]
    text: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// An `http://` or `https://` URL with a host and no spaces.
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

impl FileConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        FileConfig::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let mut config: FileConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                message: e.message().trim().replace('\n', " "),
            }
        })?;
        config.path = path.to_path_buf();
        config.text = text.to_string();
        config.validate()?;
        Ok(config)
    }

    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.clone(),
            line: line_of(&self.text, span.start),
            message: message.into(),
        })
    }

    /// Checks that need no database: names, URLs, env vars, settings.
    fn validate(&self) -> Result<(), ConfigError> {
        if self
            .server
            .host
            .as_deref()
            .is_some_and(|h| h.parse::<std::net::IpAddr>().is_err() && h != "localhost")
        {
            return Err(ConfigError::Invalid {
                path: self.path.clone(),
                line: self
                    .text
                    .lines()
                    .position(|l| l.trim_start().starts_with("host"))
                    .map_or(1, |i| i + 1),
                message: "server.host must be an IP address or localhost".into(),
            });
        }
        for p in &self.providers {
            for name in [&p.id, &p.prefix] {
                if !valid_name(name.get_ref()) {
                    return self.invalid(
                        name.span(),
                        format!(
                            "`{}` is not a valid id or prefix (lowercase letters, digits, - _ .)",
                            name.get_ref()
                        ),
                    );
                }
            }
            if !is_http_url(p.base_url.get_ref()) {
                return self.invalid(
                    p.base_url.span(),
                    "base_url must be an http:// or https:// URL",
                );
            }
        }
        for c in &self.connections {
            if c.name.trim().is_empty() {
                return self.invalid(c.provider.span(), "a connection needs a name");
            }
            if c.api_key.is_some() && c.api_key_env.is_some() {
                return self.invalid(c.provider.span(), "give api_key or api_key_env, not both");
            }
            if let Some(var) = &c.api_key_env {
                if std::env::var(var.get_ref())
                    .map(|v| v.is_empty())
                    .unwrap_or(true)
                {
                    return self.invalid(
                        var.span(),
                        format!("environment variable {} is not set", var.get_ref()),
                    );
                }
            }
            if let Some(url) = &c.base_url {
                if !is_http_url(url.get_ref()) {
                    return self.invalid(url.span(), "base_url must be an http:// or https:// URL");
                }
            }
        }
        for k in &self.api_keys {
            match (&k.key, &k.key_env) {
                (Some(_), Some(_)) | (None, None) => {
                    return self.invalid(
                        k.name.span(),
                        "an API key needs exactly one of key or key_env",
                    );
                }
                (Some(key), None) if key.len() < 8 => {
                    return self.invalid(k.name.span(), "an API key must be at least 8 characters");
                }
                (None, Some(var))
                    if std::env::var(var.get_ref())
                        .map(|v| v.len() < 8)
                        .unwrap_or(true) =>
                {
                    return self.invalid(
                        var.span(),
                        format!(
                            "environment variable {} is not set (or shorter than 8 characters)",
                            var.get_ref()
                        ),
                    );
                }
                _ => {}
            }
            if k.models.is_empty() {
                return self.invalid(
                    k.name.span(),
                    "models must list at least one pattern, e.g. [\"*\"]",
                );
            }
        }
        if let Some(settings) = &self.settings {
            if let Err(message) =
                crate::config::Settings::default().with_patch(&self.settings_patch())
            {
                return self.invalid(settings.span(), format!("[settings]: {message}"));
            }
        }
        Ok(())
    }

    fn settings_patch(&self) -> Map<String, Value> {
        self.settings
            .as_ref()
            .and_then(|s| serde_json::to_value(s.get_ref()).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    }

    /// Writes the file's providers, connections, combos, keys and settings to
    /// the store, replacing entries of the same name (so applying the same
    /// file on every start changes nothing). Checks that need the catalog or
    /// the database happen here, still with line numbers.
    pub fn apply(&self, store: &Store, catalog: &Catalog) -> Result<(), ConfigError> {
        let apply_err = |e: StoreError| ConfigError::Apply {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let user_providers = store
            .with_conn(|conn| store::providers::list(conn))
            .map_err(apply_err)?;
        let catalog_names: Vec<&str> = catalog.providers.iter().flat_map(|p| p.names()).collect();
        for p in &self.providers {
            for name in [&p.id, &p.prefix] {
                if catalog_names.contains(&name.get_ref().as_str()) {
                    return self.invalid(
                        name.span(),
                        format!(
                            "`{}` is already a built-in provider id or prefix",
                            name.get_ref()
                        ),
                    );
                }
            }
        }
        let known_provider = |id: &str| {
            catalog.get(id).is_some()
                || self.providers.iter().any(|p| p.id.get_ref() == id)
                || user_providers.iter().any(|p| p.id == id)
        };
        for c in &self.connections {
            if !known_provider(c.provider.get_ref()) {
                return self.invalid(
                    c.provider.span(),
                    format!(
                        "unknown provider `{}` (not in the catalog nor in [[providers]])",
                        c.provider.get_ref()
                    ),
                );
            }
        }
        let prefix_known = |prefix: &str| {
            catalog_names.contains(&prefix)
                || self
                    .providers
                    .iter()
                    .any(|p| p.prefix.get_ref() == prefix || p.id.get_ref() == prefix)
                || user_providers
                    .iter()
                    .any(|p| p.prefix == prefix || p.id == prefix)
        };
        for combo in &self.combos {
            for model in &combo.models {
                let is_combo = self
                    .combos
                    .iter()
                    .any(|c| c.name.get_ref() == model.get_ref());
                let prefix_ok = model
                    .get_ref()
                    .split_once('/')
                    .is_some_and(|(p, m)| !m.is_empty() && prefix_known(p));
                if !is_combo && !prefix_ok {
                    return self.invalid(model.span(), format!("combo model `{}` must be `provider/model` with a known provider, or a combo name", model.get_ref()));
                }
            }
        }

        store
            .with_conn(|conn| {
                let tx = conn.transaction()?;
                for p in &self.providers {
                    let def = ProviderDef::user(
                        p.id.get_ref().clone(),
                        p.name.clone(),
                        p.prefix.get_ref().clone(),
                        p.format,
                        p.base_url.get_ref().trim_end_matches('/').to_string(),
                        p.auth,
                        p.models.iter().map(|m| ModelDef::bare(m)).collect(),
                    );
                    store::providers::save(&tx, &def, "config", true)?;
                }
                for c in &self.connections {
                    let input = ConnectionInput {
                        provider: c.provider.get_ref().clone(),
                        name: c.name.clone(),
                        api_key: c.api_key.clone(),
                        api_key_env: c.api_key_env.as_ref().map(|v| v.get_ref().clone()),
                        base_url: c
                            .base_url
                            .as_ref()
                            .map(|v| v.get_ref().trim_end_matches('/').to_string()),
                        priority: c.priority,
                        enabled: c.enabled,
                    };
                    store::connections::upsert_by_name(&tx, store.secrets(), &input, "config")?;
                }
                for c in &self.combos {
                    store::combos::upsert(
                        &tx,
                        &store::combos::ComboRow {
                            name: c.name.get_ref().clone(),
                            strategy: c.strategy.as_str().to_string(),
                            models: c.models.iter().map(|m| m.get_ref().clone()).collect(),
                            enabled: c.enabled,
                            source: "config".into(),
                        },
                    )?;
                }
                for k in &self.api_keys {
                    let key = match (&k.key, &k.key_env) {
                        (Some(key), _) => key.clone(),
                        (None, Some(var)) => std::env::var(var.get_ref()).unwrap_or_default(),
                        (None, None) => continue,
                    };
                    store::api_keys::save(&tx, k.name.get_ref(), &key, &k.models, "config", true)?;
                }
                tx.commit()?;
                let patch = self.settings_patch();
                if !patch.is_empty() {
                    store::settings::save(conn, &patch)?;
                }
                Ok(())
            })
            .map_err(apply_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(text, Path::new("omniroute.toml"))
    }

    const EXAMPLE: &str = r#"
[server]
host = "127.0.0.1"
port = 20128
[[providers]]
id = "mock"
name = "Local mock"
format = "openai"
base_url = "http://127.0.0.1:9000/v1"
prefix = "mock"
[[connections]]
provider = "openai"
name = "work"
api_key = "sk-..."
base_url = "http://127.0.0.1:9000/v1"
priority = 1
[[combos]]
name = "my-stack"
strategy = "fill-first"
models = ["openai/gpt-4.1", "mock/some-model"]
[[api_keys]]
name = "ci"
key = "sk-omni-test"
models = ["*"]
"#;

    #[test]
    fn the_documented_example_parses() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.server.port, Some(20128));
        assert_eq!(c.providers[0].format, WireFormat::Openai);
        assert_eq!(c.connections[0].provider.get_ref(), "openai");
        assert_eq!(c.combos[0].strategy, Strategy::FillFirst);
        assert_eq!(c.api_keys[0].models, vec!["*"]);
    }

    fn error_line(text: &str) -> (usize, String) {
        match parse(text).unwrap_err() {
            ConfigError::Invalid { line, message, .. } => (line, message),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn unknown_key_names_its_line() {
        let (line, message) = error_line("[server]\nport = 1\ncolour = \"red\"\n");
        assert_eq!(line, 3);
        assert!(message.contains("colour"), "{message}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let (line, message) = error_line("[server]\nport = \"high\"\n");
        assert_eq!(line, 2, "{message}");
        let (line, message) =
            error_line("[[combos]]\nname = \"x\"\nstrategy = \"fastest\"\nmodels = []\n");
        assert_eq!(line, 3, "{message}");
        assert!(message.contains("fastest"), "{message}");
        let (line, message) = error_line(
            "[[providers]]\nid = \"m\"\nname = \"M\"\nformat = \"openai\"\nbase_url = \"ftp://x\"\nprefix = \"m\"\n",
        );
        assert_eq!(line, 5, "{message}");
    }

    #[test]
    fn connection_key_rules() {
        let (line, message) = error_line(
            "\n[[connections]]\nprovider = \"openai\"\nname = \"w\"\napi_key = \"a\"\napi_key_env = \"B\"\n",
        );
        assert_eq!(line, 3);
        assert!(message.contains("not both"));
        let (line, message) = error_line(
            "[[connections]]\nprovider = \"openai\"\nname = \"w\"\napi_key_env = \"OMNIROUTE_TEST_SURELY_UNSET\"\n",
        );
        assert_eq!(line, 4);
        assert!(message.contains("OMNIROUTE_TEST_SURELY_UNSET"));
    }

    #[test]
    fn syntax_error_names_its_line() {
        let (line, _) = error_line("[server]\nport = 1\n[[connections]\n");
        assert_eq!(line, 3);
    }

    #[test]
    fn settings_are_validated() {
        let (line, message) = error_line("[settings]\nusage_retention_days = 0\n");
        assert_eq!(line, 1);
        assert!(message.contains("usage_retention_days"));
        assert!(parse("[settings]\nusage_retention_days = 30\n").is_ok());
    }

    #[test]
    fn apply_checks_references_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("db"),
            crate::store::SecretBox::from_key([3; 32]),
        )
        .unwrap();
        let catalog = Catalog::builtin().unwrap();
        let c = parse(EXAMPLE).unwrap();
        c.apply(&store, &catalog).unwrap();
        c.apply(&store, &catalog).unwrap();
        let (conns, keys, combos, providers) = store
            .with_conn(|conn| {
                Ok((
                    store::connections::list(conn)?,
                    store::api_keys::list(conn)?,
                    store::combos::list(conn)?,
                    store::providers::list(conn)?,
                ))
            })
            .unwrap();
        assert_eq!(
            (conns.len(), keys.len(), combos.len(), providers.len()),
            (1, 1, 1, 1)
        );

        let bad =
            parse("[[connections]]\nprovider = \"nope\"\nname = \"x\"\napi_key = \"k\"\n").unwrap();
        match bad.apply(&store, &catalog).unwrap_err() {
            ConfigError::Invalid { line, message, .. } => {
                assert_eq!(line, 2);
                assert!(message.contains("unknown provider `nope`"));
            }
            other => panic!("{other}"),
        }
        let bad =
            parse("[[combos]]\nname = \"c\"\nstrategy = \"random\"\nmodels = [\n  \"ghost/m\"]\n")
                .unwrap();
        assert!(matches!(
            bad.apply(&store, &catalog),
            Err(ConfigError::Invalid { line: 5, .. })
        ));
        let bad = parse("[[providers]]\nid = \"openai\"\nname = \"M\"\nformat = \"openai\"\nbase_url = \"http://x\"\nprefix = \"zz\"\n").unwrap();
        assert!(matches!(
            bad.apply(&store, &catalog),
            Err(ConfigError::Invalid { line: 2, .. })
        ));
    }
}
