//! The declarative config file (TOML): parsing, validation with line numbers, and applying it to the store.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::config::settings::check_proxy_url;
use crate::providers::{
    AuthKind, Catalog, ModelDef, ProviderDef, Tier, WireFormat, catalog::valid_name,
};
use crate::routing::Strategy;
use crate::routing::quota::QuotaLimit;
use crate::store::combos::{ComboField, ComboRow};
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
    /// Overrides the provider's fallback tier.
    pub tier: Option<Tier>,
    /// Outbound proxy for this account.
    pub proxy: Option<Spanned<String>>,
    /// Quota windows, e.g. `[{window = "5h", requests = 200}]`.
    pub quota: Option<Spanned<Vec<QuotaLimit>>>,
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
    pub models: Spanned<Vec<Spanned<String>>>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Round-robin batch size (requests in a row to one entry); 1 when absent.
    pub sticky: Option<Spanned<u32>>,
}

impl ComboEntry {
    fn row(&self) -> ComboRow {
        ComboRow {
            name: self.name.get_ref().clone(),
            strategy: self.strategy,
            models: self
                .models
                .get_ref()
                .iter()
                .map(|m| m.get_ref().clone())
                .collect(),
            enabled: self.enabled,
            sticky: self.sticky.as_ref().map_or(1, |s| *s.get_ref()),
            source: "config".into(),
        }
    }

    /// Where a problem with one of this combo's fields is in the file.
    fn span(&self, field: ComboField) -> std::ops::Range<usize> {
        match field {
            ComboField::Name => self.name.span(),
            ComboField::Models => self.models.span(),
            ComboField::Entry(i) => self
                .models
                .get_ref()
                .get(i)
                .map_or_else(|| self.models.span(), |m| m.span()),
            ComboField::Sticky => self
                .sticky
                .as_ref()
                .map_or_else(|| self.name.span(), |s| s.span()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub name: Spanned<String>,
    pub key: Option<String>,
    pub key_env: Option<Spanned<String>>,
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    /// Request limits and budgets; left out, the ones set in the dashboard stay.
    pub limits: Option<store::api_keys::KeyLimits>,
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
            if let Some(var) = &c.api_key_env
                && std::env::var(var.get_ref())
                    .map(|v| v.is_empty())
                    .unwrap_or(true)
            {
                return self.invalid(
                    var.span(),
                    format!("environment variable {} is not set", var.get_ref()),
                );
            }
            if let Some(url) = &c.base_url
                && !is_http_url(url.get_ref())
            {
                return self.invalid(url.span(), "base_url must be an http:// or https:// URL");
            }
            if let Some(proxy) = &c.proxy
                && let Err(message) = check_proxy_url(proxy.get_ref())
            {
                return self.invalid(proxy.span(), format!("proxy: {message}"));
            }
            if let Some(quota) = &c.quota
                && let Err(message) = store::connections::check_quota(quota.get_ref())
            {
                return self.invalid(quota.span(), message);
            }
        }
        for (i, combo) in self.combos.iter().enumerate() {
            let name = combo.name.get_ref();
            if self.combos[..i].iter().any(|c| c.name.get_ref() == name) {
                return self.invalid(
                    combo.name.span(),
                    format!("combo `{name}` is defined twice"),
                );
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
        if let Some(settings) = &self.settings
            && let Err(message) =
                crate::config::Settings::default().with_patch(&self.settings_patch())
        {
            return self.invalid(settings.span(), format!("[settings]: {message}"));
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
        let provider_known = |name: &str| {
            catalog_names.contains(&name)
                || self
                    .providers
                    .iter()
                    .any(|p| p.prefix.get_ref() == name || p.id.get_ref() == name)
                || user_providers.iter().any(|p| p.names().any(|n| n == name))
        };
        // The file's combos over the stored ones: each is checked against
        // the combos as they will be once the whole file is applied.
        let stored_combos = store
            .with_conn(|conn| store::combos::list(conn))
            .map_err(apply_err)?;
        let file_combos: Vec<ComboRow> = self.combos.iter().map(ComboEntry::row).collect();
        let all_combos: Vec<ComboRow> = stored_combos
            .into_iter()
            .filter(|c| !file_combos.iter().any(|f| f.name == c.name))
            .chain(file_combos.iter().cloned())
            .collect();
        for (entry, row) in self.combos.iter().zip(&file_combos) {
            if let Err(problem) = store::combos::validate(row, &all_combos, provider_known) {
                return self.invalid(entry.span(problem.field), problem.message);
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
                        tier: c.tier,
                        proxy: c.proxy.as_ref().map(|p| p.get_ref().clone()),
                        quota: c
                            .quota
                            .as_ref()
                            .map(|q| q.get_ref().clone())
                            .unwrap_or_default(),
                    };
                    store::connections::upsert_by_name(&tx, store.secrets(), &input, "config")?;
                }
                for row in &file_combos {
                    store::combos::upsert(&tx, row)?;
                }
                for k in &self.api_keys {
                    let key = match (&k.key, &k.key_env) {
                        (Some(key), _) => key.clone(),
                        (None, Some(var)) => std::env::var(var.get_ref()).unwrap_or_default(),
                        (None, None) => continue,
                    };
                    let row = store::api_keys::save(
                        &tx,
                        k.name.get_ref(),
                        &key,
                        &k.models,
                        "config",
                        true,
                    )?;
                    if let Some(limits) = &k.limits {
                        store::api_keys::set_limits(&tx, row.id, limits)?;
                    }
                }
                tx.commit()?;
                let patch = self.settings_patch();
                if !patch.is_empty() {
                    store::settings::save(conn, store.secrets(), &patch)?;
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
limits = { requests_per_day = 1000, monthly_usd = 20.0 }
"#;

    #[test]
    fn the_documented_example_parses() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.server.port, Some(20128));
        assert_eq!(c.providers[0].format, WireFormat::Openai);
        assert_eq!(c.connections[0].provider.get_ref(), "openai");
        assert_eq!(c.combos[0].strategy, Strategy::FillFirst);
        assert_eq!(c.api_keys[0].models, vec!["*"]);
        let limits = c.api_keys[0].limits.unwrap();
        assert_eq!(
            (limits.requests_per_day, limits.monthly_usd),
            (Some(1000), Some(20.0))
        );
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

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("db"),
            crate::store::SecretBox::from_key([4; 32]),
        )
        .unwrap();
        (dir, store)
    }

    fn apply_error(text: &str, store: &Store) -> (usize, String) {
        let catalog = Catalog::builtin().unwrap();
        match parse(text).unwrap().apply(store, &catalog).unwrap_err() {
            ConfigError::Invalid { line, message, .. } => (line, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn combos_carry_sticky_and_enabled_and_follow_the_api_rules() {
        let (_dir, store) = temp_store();
        let catalog = Catalog::builtin().unwrap();
        let text = r#"
[[combos]]
name = "cheap"
strategy = "round-robin"
sticky = 3
enabled = false
models = ["groq/llama-3.3-70b", "openai/*"]
[[combos]]
name = "claude-*"
strategy = "fill-first"
models = ["anthropic/*", "cheap"]
"#;
        parse(text).unwrap().apply(&store, &catalog).unwrap();
        let combos = store.with_conn(|conn| store::combos::list(conn)).unwrap();
        let cheap = combos.iter().find(|c| c.name == "cheap").unwrap();
        assert_eq!(
            (cheap.strategy, cheap.sticky, cheap.enabled),
            (Strategy::RoundRobin, 3, false)
        );
        let wild = combos.iter().find(|c| c.name == "claude-*").unwrap();
        assert_eq!((wild.sticky, wild.enabled), (1, true));

        // Each rule points at its line.
        let (line, message) = apply_error(
            "[[combos]]\nname = \"a\"\nstrategy = \"random\"\nmodels = [\"b\"]\n[[combos]]\nname = \"b\"\nstrategy = \"random\"\nmodels = [\n  \"a\"]\n",
            &store,
        );
        assert_eq!(line, 4, "{message}");
        assert!(message.contains("cycle: a -> b -> a"), "{message}");
        let (line, message) = apply_error(
            "[[combos]]\nname = \"x\"\nstrategy = \"random\"\nmodels = [\"openai/gpt-4.1\"]\nsticky = 0\n",
            &store,
        );
        assert_eq!(line, 5, "{message}");
        let (line, message) = apply_error(
            "[[combos]]\nname = \"groq\"\nstrategy = \"random\"\nmodels = [\"openai/gpt-4.1\"]\n",
            &store,
        );
        assert_eq!(line, 2, "{message}");
        assert!(message.contains("provider"), "{message}");
        let (line, message) = apply_error(
            "[[combos]]\nname = \"x\"\nstrategy = \"random\"\n\nmodels = []\n",
            &store,
        );
        assert_eq!(line, 5, "{message}");
        // A stored combo (made through the API) may be nested from the file.
        let (line, message) = apply_error(
            "[[combos]]\nname = \"y\"\nstrategy = \"random\"\nmodels = [\"openai/gpt-4.1\", \"ghost\"]\n",
            &store,
        );
        assert_eq!(line, 4, "{message}");
        assert!(message.contains("neither a combo"), "{message}");
        parse("[[combos]]\nname = \"y\"\nstrategy = \"random\"\nmodels = [\"cheap\"]\n")
            .unwrap()
            .apply(&store, &catalog)
            .unwrap();

        let (line, message) = error_line(
            "[[combos]]\nname = \"d\"\nstrategy = \"random\"\nmodels = [\"openai/x\"]\n[[combos]]\nname = \"d\"\nstrategy = \"random\"\nmodels = [\"openai/y\"]\n",
        );
        assert_eq!(line, 6);
        assert!(message.contains("defined twice"), "{message}");
    }

    #[test]
    fn connections_carry_tier_proxy_and_quota() {
        let (_dir, store) = temp_store();
        let catalog = Catalog::builtin().unwrap();
        let text = r#"
[[connections]]
provider = "openai"
name = "work"
api_key = "sk-1234567890"
tier = "subscription"
proxy = "socks5h://127.0.0.1:1080"
quota = [{window = "5h", requests = 200}, {window = "daily", reset_hour = 7, tokens = 1000000}]
"#;
        parse(text).unwrap().apply(&store, &catalog).unwrap();
        let row = store
            .with_conn(|conn| store::connections::list(conn))
            .unwrap()
            .remove(0);
        assert_eq!(row.tier, Some(Tier::Subscription));
        assert_eq!(row.proxy.as_deref(), Some("socks5h://127.0.0.1:1080"));
        assert_eq!(row.quota.len(), 2);
        assert_eq!(
            (row.quota[1].reset_hour, row.quota[1].tokens),
            (7, Some(1_000_000))
        );

        // A state set at run time survives the next start with the same key.
        store
            .with_conn(|conn| {
                store::connections::set_state(
                    conn,
                    row.id,
                    Some(store::connections::AccountState::Revoked),
                    None,
                )
            })
            .unwrap();
        parse(text).unwrap().apply(&store, &catalog).unwrap();
        let again = store
            .with_conn(|conn| store::connections::get(conn, row.id))
            .unwrap();
        assert_eq!(again.state, Some(store::connections::AccountState::Revoked));

        let (line, message) = error_line(
            "[[connections]]\nprovider = \"openai\"\nname = \"w\"\nproxy = \"ftp://x\"\n",
        );
        assert_eq!(line, 4);
        assert!(message.contains("ftp"), "{message}");
        let (line, message) = error_line(
            "[[connections]]\nprovider = \"openai\"\nname = \"w\"\nquota = [{window = \"daily\"}]\n",
        );
        assert_eq!(line, 4);
        assert!(message.contains("greater than 0"), "{message}");
        let (line, message) =
            error_line("[[connections]]\nprovider = \"openai\"\nname = \"w\"\ntier = \"gold\"\n");
        assert_eq!(line, 4, "{message}");
    }
}
