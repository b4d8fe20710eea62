//! The immutable view of all configuration that the hot path reads, swapped atomically on change.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;

use crate::config::Settings;
use crate::providers::oauth::TokenSet;
use crate::providers::upstream::UpstreamClient;
use crate::providers::{AuthKind, Catalog, ModelDef, ProviderDef, Tier, WireFormat};
use crate::routing::quota::QuotaLimit;
use crate::store::api_keys::KeyLimits;
use crate::store::combos::ComboRow;
use crate::store::connections::ConnectionRow;
use crate::store::{self, SecretBox, StoreResult};
use reqwest::header::HeaderMap;

/// One usable provider account, with its request URL and auth headers
/// prepared once rather than on every request.
#[derive(Debug)]
pub struct Account {
    pub id: i64,
    pub provider: String,
    pub name: String,
    pub api_key: Option<String>,
    /// The provider's base URL, or the connection's override.
    pub base_url: String,
    pub priority: i64,
    /// Where requests go: `base_url` + the format's path (`/chat/completions`,
    /// `/messages`, `/responses`; for Gemini `/models`, completed per call).
    pub request_url: reqwest::Url,
    pub auth_headers: HeaderMap,
    /// The connection's tier, else its provider's.
    pub tier: Tier,
    /// The outbound proxy: the connection's, else the provider's, else the
    /// global one.
    pub proxy: Option<String>,
    pub quota: Vec<QuotaLimit>,
    /// The tokens an OAuth account held when the snapshot was built; the
    /// live (possibly renewed) ones are in the gateway's OAuth sessions.
    pub oauth: Option<Arc<TokenSet>>,
    /// The signed-in account's email (OAuth accounts).
    pub email: Option<String>,
}

impl Account {
    pub fn new(
        row: &ConnectionRow,
        provider: &ProviderDef,
        api_key: Option<String>,
        settings: &Settings,
        secrets: &SecretBox,
    ) -> Result<Account, String> {
        let base_url = row
            .base_url
            .clone()
            .unwrap_or_else(|| provider.base_url.clone());
        let path = match provider.format {
            WireFormat::Openai => "/chat/completions",
            WireFormat::Anthropic => "/messages",
            WireFormat::Responses => "/responses",
            // Gemini names the model and the method in the path; see
            // `UpstreamClient::send`.
            WireFormat::Gemini => "/models",
        };
        let request_url = reqwest::Url::parse(&format!("{base_url}{path}"))
            .map_err(|e| format!("bad base URL {base_url}: {e}"))?;
        let proxy = row
            .proxy
            .as_deref()
            .or_else(|| {
                settings
                    .provider_proxies
                    .get(&provider.id)
                    .map(String::as_str)
            })
            .or(Some(settings.proxy.as_str()))
            .filter(|p| !p.is_empty())
            .map(|p| store::sealed_url::open(secrets, p))
            .transpose()
            .map_err(|e| format!("its proxy's password cannot be opened: {e}"))?;
        // An OAuth account's secret is its token set, not a key.
        let (api_key, oauth) = match api_key {
            Some(secret) if row.oauth => (
                None,
                Some(Arc::new(TokenSet::from_json(&secret).ok_or(
                    "its stored OAuth tokens cannot be read; sign in again",
                )?)),
            ),
            other => (other, None),
        };
        Ok(Account {
            id: row.id,
            oauth,
            email: row.account_email.clone(),
            provider: provider.id.clone(),
            name: row.name.clone(),
            auth_headers: UpstreamClient::auth_headers(provider.auth, api_key.as_deref()),
            api_key,
            base_url,
            priority: row.priority,
            request_url,
            tier: row.tier.unwrap_or(provider.tier),
            proxy,
            quota: row.quota.clone(),
        })
    }
}

/// Puts the user's prices (`prices` setting, by `provider/model`) into the
/// providers' model lists, so that costs, budgets and the cost-optimized
/// strategy all use them. A model the catalog does not list is added.
fn apply_price_overrides(providers: &mut [ProviderDef], settings: &Settings) {
    for (name, price) in &settings.prices {
        let Some((prefix, model_id)) = name.split_once('/') else {
            continue;
        };
        let Some(provider) = providers
            .iter_mut()
            .find(|p| p.names().any(|n| n == prefix))
        else {
            tracing::warn!(model = %name, "price override for an unknown provider");
            continue;
        };
        let index = match provider.models.iter().position(|m| m.id == model_id) {
            Some(i) => i,
            None => {
                provider.models.push(ModelDef::bare(model_id));
                provider.models.len() - 1
            }
        };
        let model = &mut provider.models[index];
        model.input = price.input;
        model.output = price.output;
        model.cached_input = price.cached_input;
    }
}

/// What a gateway API key may do.
#[derive(Debug)]
pub struct KeyGrant {
    pub id: i64,
    pub name: String,
    pub models: Vec<String>,
    /// When the key stops working (ms since the epoch).
    pub expires_at: Option<i64>,
    /// Request limits and budgets, enforced by the key meter.
    pub limits: KeyLimits,
}

impl KeyGrant {
    /// A key for every model, which may also manage the gateway.
    pub fn is_full_access(&self) -> bool {
        self.models.iter().any(|m| m == "*")
    }

    /// Whether any of `names` (the model as asked, and as `prefix/model`)
    /// matches one of the key's patterns (`*`, `openai/*`, or exact).
    pub fn allows(&self, names: &[&str]) -> bool {
        self.models.iter().any(|pattern| {
            names.iter().any(|name| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => pattern == name,
            })
        })
    }
}

/// Everything the data plane needs, built from the catalog and the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub providers: Vec<Arc<ProviderDef>>,
    /// Every id, prefix and alias -> index into `providers`.
    names: HashMap<String, usize>,
    /// Enabled accounts by provider id, best priority first.
    accounts: HashMap<String, Vec<Arc<Account>>>,
    /// SHA-256 of each live key.
    keys: HashMap<[u8; 32], Arc<KeyGrant>>,
    pub settings: Settings,
    pub combos: Vec<ComboRow>,
    /// The prompt-injection guard compiled from `settings`; `None` when off.
    pub injection_guard: Option<crate::api::injection_guard::InjectionGuard>,
}

impl Snapshot {
    /// Reads every table. A connection whose key cannot be decrypted is left
    /// out (and logged) rather than failing the whole gateway.
    pub fn build(
        catalog: &Catalog,
        conn: &Connection,
        secrets: &SecretBox,
    ) -> StoreResult<Snapshot> {
        let settings = Settings::from_stored(&store::settings::load(conn)?);
        let mut defs: Vec<ProviderDef> = catalog.providers.clone();
        defs.extend(store::providers::list(conn)?);
        apply_price_overrides(&mut defs, &settings);
        let providers: Vec<Arc<ProviderDef>> = defs.into_iter().map(Arc::new).collect();
        let mut names = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            for name in p.names() {
                // Built-in providers come first and keep their names.
                names.entry(name.to_string()).or_insert(i);
            }
        }

        let mut accounts: HashMap<String, Vec<Arc<Account>>> = HashMap::new();
        // A connection in a terminal state (revoked, banned...) waits for
        // the user; it is not tried again on every request.
        for row in store::connections::list(conn)?
            .into_iter()
            .filter(|r| r.enabled && r.state.is_none())
        {
            let Some(provider) = names.get(&row.provider).map(|&i| &providers[i]) else {
                continue;
            };
            let api_key = match store::connections::resolve_key(&row, secrets) {
                Ok(key) => key,
                Err(e) => {
                    tracing::error!(connection = row.id, error = %e, "skipping connection");
                    continue;
                }
            };
            match Account::new(&row, provider, api_key, &settings, secrets) {
                Ok(account) => accounts
                    .entry(provider.id.clone())
                    .or_default()
                    .push(Arc::new(account)),
                Err(e) => tracing::error!(connection = row.id, error = %e, "skipping connection"),
            }
        }
        for list in accounts.values_mut() {
            list.sort_by_key(|a| (a.priority, a.id));
        }

        let keys = store::api_keys::list(conn)?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .filter_map(|k| {
                let hash: [u8; 32] = hex::decode(&k.key_hash).ok()?.try_into().ok()?;
                Some((
                    hash,
                    Arc::new(KeyGrant {
                        id: k.id,
                        name: k.name,
                        models: k.models,
                        expires_at: k.expires_at,
                        limits: k.limits,
                    }),
                ))
            })
            .collect();

        Ok(Snapshot {
            providers,
            names,
            accounts,
            keys,
            injection_guard: crate::api::injection_guard::InjectionGuard::from_settings(&settings),
            settings,
            combos: store::combos::list(conn)?,
        })
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&Arc<ProviderDef>> {
        self.names.get(name).map(|&i| &self.providers[i])
    }

    /// Enabled accounts of a provider, best first.
    pub fn accounts(&self, provider_id: &str) -> &[Arc<Account>] {
        self.accounts
            .get(provider_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether a provider can be called: an account exists (a keyless
    /// provider such as Ollama still needs one, naming where it runs).
    pub fn is_usable(&self, provider: &ProviderDef) -> bool {
        self.accounts(&provider.id)
            .iter()
            .any(|a| a.api_key.is_some() || a.oauth.is_some() || provider.auth == AuthKind::None)
    }

    pub fn key(&self, hash: &[u8; 32]) -> Option<&Arc<KeyGrant>> {
        self.keys.get(hash)
    }

    /// Ids of the live keys that may manage the gateway.
    pub fn full_access_key_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.keys
            .values()
            .filter(|k| k.is_full_access())
            .map(|k| k.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::PriceOverride;

    #[test]
    fn price_overrides_replace_catalog_prices_and_add_unlisted_models() {
        let mut providers = Catalog::builtin().unwrap().providers;
        let mut settings = Settings::default();
        let price = |input, output| PriceOverride {
            input,
            output,
            cached_input: None,
        };
        settings
            .prices
            .insert("openai/gpt-4.1".into(), price(100.0, 200.0));
        settings
            .prices
            .insert("oai/my-finetune".into(), price(1.0, 2.0));
        settings.prices.insert("nowhere/x".into(), price(1.0, 1.0));
        apply_price_overrides(&mut providers, &settings);
        let openai = providers.iter().find(|p| p.id == "openai").unwrap();
        let model = openai.model("gpt-4.1").unwrap();
        assert_eq!(
            (model.input, model.output, model.cached_input),
            (100.0, 200.0, None)
        );
        assert_eq!(model.cost(1_000_000, 0, 1_000_000), 300.0);
        assert_eq!(openai.model("my-finetune").unwrap().output, 2.0);
    }
}
