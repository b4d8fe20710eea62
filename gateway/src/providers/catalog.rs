//! The built-in provider catalog: a TOML data file embedded at build time, plus the provider types.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::adapters::Adapter;
use super::oauth::OAuthDef;

/// The embedded catalog file.
const CATALOG_TOML: &str = include_str!("../../catalog/providers.toml");

/// The wire format an upstream (or a caller) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    Openai,
    Anthropic,
    Gemini,
    Responses,
}

impl WireFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Openai => "openai",
            WireFormat::Anthropic => "anthropic",
            WireFormat::Gemini => "gemini",
            WireFormat::Responses => "responses",
        }
    }
}

/// How the API key is presented upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    Bearer,
    XApiKey,
    XGoogApiKey,
    None,
}

/// The fallback tier a provider belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Subscription,
    ApiKey,
    Cheap,
    Free,
    Local,
}

impl Tier {
    /// The name used in settings, budgets and usage records.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Subscription => "subscription",
            Tier::ApiKey => "api-key",
            Tier::Cheap => "cheap",
            Tier::Free => "free",
            Tier::Local => "local",
        }
    }
}

/// Behaviour differences of an upstream that the request path must honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// The upstream rejects the `system` role; send it as `user`.
    SystemAsUser,
    /// The upstream rejects `stream_options`.
    NoStreamOptions,
    /// The upstream rejects the `developer` role; send it as `system`.
    DeveloperAsSystem,
    /// The upstream's reasoning models refuse `max_tokens`; send
    /// `max_completion_tokens` (OpenAI).
    MaxCompletionTokens,
}

/// Whether a provider still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    #[default]
    Active,
    /// Shut down or closed to third parties: kept so that old configs and
    /// aliases get a clear error instead of silence.
    Deprecated,
}

/// Where a provider definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSource {
    #[default]
    Catalog,
    User,
}

/// One model of a provider with its price in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub input: f64,
    #[serde(default)]
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u64>,
    /// The most output tokens one answer may ask for; larger requests are clamped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u64>,
}

impl ModelDef {
    /// A model known only by id, with no price.
    pub fn bare(id: &str) -> ModelDef {
        ModelDef {
            id: id.to_string(),
            name: None,
            input: 0.0,
            output: 0.0,
            cached_input: None,
            context: None,
            max_output: None,
        }
    }

    /// Cost in USD of one request. Cached tokens are part of `input_tokens`
    /// (OpenAI semantics) and billed at the cached price when there is one.
    pub fn cost(&self, input_tokens: u64, cached_tokens: u64, output_tokens: u64) -> f64 {
        let cached = cached_tokens.min(input_tokens);
        let fresh = input_tokens - cached;
        let cached_price = self.cached_input.unwrap_or(self.input);
        (fresh as f64 * self.input
            + cached as f64 * cached_price
            + output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// A provider: where it lives, how to talk to it, what it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDef {
    pub id: String,
    pub name: String,
    pub prefix: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub format: WireFormat,
    pub base_url: String,
    pub auth: AuthKind,
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    #[serde(default)]
    pub quirks: Vec<Quirk>,
    #[serde(default)]
    pub models: Vec<ModelDef>,
    #[serde(default, skip_deserializing)]
    pub source: ProviderSource,
    /// How accounts sign in, for subscription and free OAuth providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthDef>,
    /// Request shaping beyond the wire format (headers, body rules, URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Adapter>,
    /// Headers every request to this provider carries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub status: ProviderStatus,
    /// Why a deprecated provider stopped, and what to use instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_note: Option<String>,
    /// The provider's terms restrict use through other tools: the user
    /// must acknowledge this text before signing in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_warning: Option<String>,
}

impl ProviderDef {
    /// A user-defined provider (not from the catalog).
    pub fn user(
        id: String,
        name: String,
        prefix: String,
        format: WireFormat,
        base_url: String,
        auth: AuthKind,
        models: Vec<ModelDef>,
    ) -> ProviderDef {
        ProviderDef {
            id,
            name,
            prefix,
            aliases: Vec::new(),
            format,
            base_url,
            auth,
            tier: Tier::ApiKey,
            api_key_env: None,
            docs_url: None,
            quirks: Vec::new(),
            models,
            source: ProviderSource::User,
            oauth: None,
            adapter: None,
            headers: BTreeMap::new(),
            status: ProviderStatus::Active,
            status_note: None,
            terms_warning: None,
        }
    }

    /// Why this provider cannot be used at all, when it is deprecated.
    pub fn deprecation(&self) -> Option<String> {
        (self.status == ProviderStatus::Deprecated).then(|| {
            format!(
                "{} is discontinued: {}",
                self.name,
                self.status_note
                    .as_deref()
                    .unwrap_or("the service no longer exists")
            )
        })
    }

    pub fn model(&self, id: &str) -> Option<&ModelDef> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn has_quirk(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    /// Every name a caller may use as the model prefix of this provider.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        [self.id.as_str(), self.prefix.as_str()]
            .into_iter()
            .chain(self.aliases.iter().map(String::as_str))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    providers: Vec<ProviderDef>,
}

/// The built-in providers.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub providers: Vec<ProviderDef>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("catalog: {0}")]
    Invalid(String),
}

impl Catalog {
    /// The catalog compiled into this binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::parse(CATALOG_TOML)
    }

    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text)?;
        let catalog = Catalog {
            providers: file.providers,
        };
        catalog.validate()?;
        Ok(catalog)
    }

    pub fn get(&self, id: &str) -> Option<&ProviderDef> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Sends every built-in URL to `origin` instead (`https://host/path`
    /// becomes `{origin}/host/path`): how tests put mock providers behind
    /// the real URLs without changing the code that calls them.
    pub fn redirect_to(&mut self, origin: &str) {
        for p in &mut self.providers {
            p.base_url = redirect_url(origin, &p.base_url);
            if let Some(oauth) = &mut p.oauth {
                for url in oauth.urls_mut() {
                    *url = redirect_url(origin, url);
                }
            }
        }
    }

    /// Every id, prefix and alias must name one provider only.
    fn validate(&self) -> Result<(), CatalogError> {
        let mut names = HashSet::new();
        for p in &self.providers {
            let mut own = HashSet::new();
            for name in p.names() {
                if !valid_name(name) {
                    return Err(CatalogError::Invalid(format!(
                        "provider `{}`: `{name}` is not a valid id or prefix",
                        p.id
                    )));
                }
                if own.insert(name) && !names.insert(name.to_string()) {
                    return Err(CatalogError::Invalid(format!(
                        "`{name}` names more than one provider"
                    )));
                }
            }
            if !(p.base_url.starts_with("https://") || p.base_url.starts_with("http://localhost")) {
                return Err(CatalogError::Invalid(format!(
                    "provider `{}`: base_url must be https (or localhost)",
                    p.id
                )));
            }
            if let Some(oauth) = &p.oauth {
                let mut oauth = oauth.clone();
                if let Some(url) = oauth.urls_mut().find(|u| !u.starts_with("https://")) {
                    return Err(CatalogError::Invalid(format!(
                        "provider `{}`: OAuth URL {url} must be https",
                        p.id
                    )));
                }
            }
            let mut models = HashSet::new();
            for m in &p.models {
                if !models.insert(m.id.as_str()) {
                    return Err(CatalogError::Invalid(format!(
                        "provider `{}` lists model `{}` twice",
                        p.id, m.id
                    )));
                }
                if m.input < 0.0 || m.output < 0.0 || m.cached_input.is_some_and(|c| c < 0.0) {
                    return Err(CatalogError::Invalid(format!(
                        "provider `{}` model `{}` has a negative price",
                        p.id, m.id
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `https://host/path` as `{origin}/host/path` (see [`Catalog::redirect_to`]);
/// other URLs are left alone.
pub fn redirect_url(origin: &str, url: &str) -> String {
    match url.strip_prefix("https://") {
        Some(rest) => format!("{}/{rest}", origin.trim_end_matches('/')),
        None => url.to_string(),
    }
}

/// Ids and prefixes: lowercase ASCII letters, digits, `-`, `_` and `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_match_their_serde_names() {
        for tier in [
            Tier::Subscription,
            Tier::ApiKey,
            Tier::Cheap,
            Tier::Free,
            Tier::Local,
        ] {
            assert_eq!(serde_json::to_value(tier).unwrap(), tier.as_str());
        }
    }

    #[test]
    fn builtin_catalog_loads_with_enough_providers() {
        let catalog = Catalog::builtin().unwrap();
        let openai_compatible = catalog
            .providers
            .iter()
            .filter(|p| p.format == WireFormat::Openai && p.auth != AuthKind::None)
            .count();
        assert!(
            openai_compatible >= 25,
            "only {openai_compatible} API-key providers"
        );
        for id in [
            "openai",
            "deepseek",
            "groq",
            "xai",
            "mistral",
            "nvidia",
            "openrouter",
            "together",
            "fireworks",
            "cerebras",
            "glm",
            "minimax",
            "kimi",
            "qwen",
            "siliconflow",
            "perplexity",
            "hyperbolic",
            "novita",
            "nebius",
            "sambanova",
            "deepinfra",
            "chutes",
            "cohere",
            "zai",
            "ollama",
            "anthropic",
            "gemini",
        ] {
            let p = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
            assert!(!p.models.is_empty(), "{id} lists models");
        }
        let openai = catalog.get("openai").unwrap();
        assert_eq!(openai.base_url, "https://api.openai.com/v1");
        assert!(openai.model("gpt-4.1").unwrap().input > 0.0);
    }

    #[test]
    fn duplicate_prefix_is_rejected() {
        let text = r#"
            [[providers]]
            id = "a"
            name = "A"
            prefix = "x"
            format = "openai"
            base_url = "https://a.example/v1"
            auth = "bearer"
            tier = "api-key"
            [[providers]]
            id = "b"
            name = "B"
            prefix = "x"
            format = "openai"
            base_url = "https://b.example/v1"
            auth = "bearer"
            tier = "api-key"
        "#;
        let err = Catalog::parse(text).unwrap_err().to_string();
        assert!(err.contains("`x` names more than one provider"), "{err}");
    }

    #[test]
    fn cost_uses_cached_price_for_cached_tokens() {
        let m = ModelDef {
            cached_input: Some(0.5),
            input: 2.0,
            output: 8.0,
            ..ModelDef::bare("m")
        };
        // 1M input of which 400k cached, 100k output.
        let cost = m.cost(1_000_000, 400_000, 100_000);
        assert!((cost - (1.2 + 0.2 + 0.8)).abs() < 1e-9, "{cost}");
        assert_eq!(ModelDef::bare("free").cost(10, 0, 10), 0.0);
    }
}
