//! The providers page's data (catalog, connections, quota, proxy settings) and the pure rules that shape it for display.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One model of a provider (`models[]` of `GET /api/providers`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Model {
    pub id: String,
    pub name: Option<String>,
}

/// How a provider's accounts sign in (`oauth` of `GET /api/providers`; only
/// the part the dashboard uses).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OAuthInfo {
    /// `pkce` (a sign-in page in the browser) or `device` (a code to enter).
    pub flow: String,
}

/// A provider of the catalog or a user-defined one (`GET /api/providers`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub aliases: Vec<String>,
    /// The upstream's wire format: `openai`, `anthropic`, `gemini` or `responses`.
    pub format: String,
    pub base_url: String,
    /// How the key is sent: `bearer`, `x-api-key`, `x-goog-api-key` or `none`.
    pub auth: String,
    /// `subscription`, `api-key`, `cheap`, `free` or `local`.
    pub tier: String,
    pub api_key_env: Option<String>,
    pub docs_url: Option<String>,
    pub models: Vec<Model>,
    /// `catalog` (built in) or `user`.
    pub source: String,
    /// Enabled accounts.
    pub connections: u64,
    /// Set when accounts sign in with OAuth instead of an API key.
    pub oauth: Option<OAuthInfo>,
    /// `active` or `deprecated` (the service stopped; nothing is routed to it).
    pub status: String,
    /// Why a deprecated provider stopped, and what to use instead.
    pub status_note: Option<String>,
    /// The provider's terms restrict use through other tools: shown before
    /// signing in, and the user must accept it.
    pub terms_warning: Option<String>,
}

impl Provider {
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    pub fn is_deprecated(&self) -> bool {
        self.status == "deprecated"
    }

    /// How accounts of this provider sign in.
    pub fn sign_in(&self) -> SignIn {
        if self.oauth.is_some() {
            SignIn::OAuth
        } else {
            sign_in(&self.auth)
        }
    }

    /// What model names of this provider start with (`openai/gpt-4.1`).
    pub fn prefix_or_id(&self) -> &str {
        if self.prefix.is_empty() {
            &self.id
        } else {
            &self.prefix
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderList {
    pub data: Vec<Provider>,
}

/// A provider account (`GET /api/connections`); the key itself is never sent, only a preview.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Connection {
    pub id: i64,
    pub provider: String,
    pub name: String,
    pub api_key_env: Option<String>,
    pub base_url: Option<String>,
    pub priority: i64,
    pub enabled: bool,
    /// `api` or `config` (from the config file).
    pub source: String,
    /// `None` while usable; else why the gateway stopped using it
    /// (`auth_failed`, `revoked`, `banned`, `out_of_credits`).
    pub state: Option<String>,
    pub state_reason: Option<String>,
    pub state_at: Option<i64>,
    /// Overrides the provider's tier.
    pub tier: Option<String>,
    pub proxy: Option<String>,
    pub has_api_key: bool,
    pub api_key_preview: Option<String>,
    /// Signed in with OAuth: the secret is a token set the gateway renews.
    pub oauth: bool,
    /// The account an OAuth sign-in belongs to.
    pub account_email: Option<String>,
    /// When the current access token expires (the gateway renews it before).
    pub token_expires_at_ms: Option<i64>,
    /// The subscription plan the provider reported (`plus`, `pro`…).
    pub plan: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConnectionList {
    pub data: Vec<Connection>,
}

/// Where one quota window of a connection stands (`GET /api/quota`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct WindowStatus {
    /// `5h`, `daily`, `weekly` or `monthly`.
    pub window: String,
    pub requests_used: u64,
    pub requests_limit: Option<u64>,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    /// `None` for a 5-hour window with no session running.
    pub window_start_ms: Option<i64>,
    pub resets_at_ms: Option<i64>,
    pub exhausted: bool,
}

/// A cooldown keeping the gateway away from a connection for a while.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Cooldown {
    pub until_ms: i64,
    pub reason: String,
    /// `connection` or `model`.
    pub scope: String,
}

/// One enabled connection's quota and cooldown.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct QuotaAccount {
    pub connection_id: i64,
    pub windows: Vec<WindowStatus>,
    pub exhausted_until_ms: Option<i64>,
    pub cooldown: Option<Cooldown>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct QuotaReport {
    pub data: Vec<QuotaAccount>,
    pub now_ms: i64,
}

impl QuotaReport {
    pub fn account(&self, connection_id: i64) -> Option<&QuotaAccount> {
        self.data.iter().find(|a| a.connection_id == connection_id)
    }
}

/// The proxy part of `GET /api/settings` (the other settings are ignored here).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProxySettings {
    pub proxy: String,
    pub provider_proxies: BTreeMap<String, String>,
}

/// The answer of `POST /api/connections/{id}/test`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TestResult {
    pub ok: bool,
    /// `models` or `chat`: which check decided.
    pub method: String,
    pub status: u16,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// The tiers in fallback order; the catalog's `tier` field says which one a provider is in.
pub const TIERS: [&str; 5] = ["subscription", "api-key", "cheap", "free", "local"];

/// The message key naming a tier.
pub fn tier_key(tier: &str) -> &'static str {
    match tier {
        "subscription" => "providers.tier_subscription",
        "api-key" => "providers.tier_api_key",
        "cheap" => "providers.tier_cheap",
        "free" => "providers.tier_free",
        "local" => "providers.tier_local",
        _ => "providers.tier_other",
    }
}

/// Providers grouped by tier, in fallback order, each group in catalog order;
/// a tier this dashboard does not know comes last, under its own name.
pub fn group_by_tier(providers: Vec<Provider>) -> Vec<(String, Vec<Provider>)> {
    let mut groups: Vec<(String, Vec<Provider>)> = Vec::new();
    for provider in providers {
        match groups.iter_mut().find(|(tier, _)| *tier == provider.tier) {
            Some((_, list)) => list.push(provider),
            None => groups.push((provider.tier.clone(), vec![provider])),
        }
    }
    let rank = |tier: &str| TIERS.iter().position(|t| *t == tier).unwrap_or(TIERS.len());
    // A stable sort keeps unknown tiers in the order they first appeared.
    groups.sort_by_key(|(tier, _)| rank(tier));
    groups
}

/// Whether a provider matches the search box: every word must appear in its
/// name, id, prefix, an alias, or one of its models' ids or names.
pub fn matches_search(provider: &Provider, query: &str) -> bool {
    let query = query.trim().to_lowercase();
    query.split_whitespace().all(|word| {
        let hit = |text: &str| text.to_lowercase().contains(word);
        hit(&provider.name)
            || hit(&provider.id)
            || hit(&provider.prefix)
            || provider.aliases.iter().any(|a| hit(a))
            || provider
                .models
                .iter()
                .any(|m| hit(&m.id) || m.name.as_deref().is_some_and(hit))
    })
}

/// How a person signs in to a provider, by its `auth` kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// An API key (sent as a bearer token or a vendor header).
    ApiKey,
    /// No key: a local server such as Ollama.
    NoKey,
    /// An OAuth sign-in in the browser (a pasted token may also work).
    OAuth,
}

pub fn sign_in(auth: &str) -> SignIn {
    match auth {
        "none" => SignIn::NoKey,
        a if a.starts_with("oauth") => SignIn::OAuth,
        _ => SignIn::ApiKey,
    }
}

/// The message key describing a sign-in kind.
pub fn sign_in_key(kind: SignIn) -> &'static str {
    match kind {
        SignIn::ApiKey => "providers.auth_key",
        SignIn::NoKey => "providers.auth_none",
        SignIn::OAuth => "providers.auth_oauth",
    }
}

/// Where the proxy a connection uses comes from; the most specific one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySource {
    /// The connection's own `proxy`.
    Connection,
    /// `provider_proxies[<provider id>]` in the settings.
    Provider,
    /// The global `proxy` setting.
    Global,
}

impl ProxySource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxySource::Connection => "connection",
            ProxySource::Provider => "provider",
            ProxySource::Global => "global",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            ProxySource::Connection => "providers.proxy_connection",
            ProxySource::Provider => "providers.proxy_provider",
            ProxySource::Global => "providers.proxy_global",
        }
    }

    /// The badge tone: the closer to the connection, the more it stands out.
    pub fn tone(self) -> &'static str {
        match self {
            ProxySource::Connection => "warn",
            ProxySource::Provider => "info",
            ProxySource::Global => "muted",
        }
    }
}

/// The proxy a connection's calls go through and where it is set, as the
/// gateway resolves it: the connection's, else its provider's, else the global one.
pub fn proxy_source(
    connection: &Connection,
    settings: &ProxySettings,
) -> Option<(ProxySource, String)> {
    let set = |value: Option<&String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    set(connection.proxy.as_ref())
        .map(|p| (ProxySource::Connection, p))
        .or_else(|| {
            set(settings.provider_proxies.get(&connection.provider))
                .map(|p| (ProxySource::Provider, p))
        })
        .or_else(|| set(Some(&settings.proxy)).map(|p| (ProxySource::Global, p)))
}

/// Whether the gateway uses a connection now, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountStatus {
    Active,
    /// Switched off by a person.
    Disabled,
    /// The upstream refused it for good (`auth_failed`, `revoked`…) until someone clears the state.
    Failed {
        state: String,
        reason: Option<String>,
    },
    /// Skipped until `until_ms` after errors.
    Cooling {
        until_ms: i64,
        reason: String,
    },
    /// Its quota is used up until `until_ms`.
    Exhausted {
        until_ms: i64,
    },
}

/// A connection's status at `now_ms`, from its own fields and its quota entry.
pub fn account_status(
    connection: &Connection,
    quota: Option<&QuotaAccount>,
    now_ms: i64,
) -> AccountStatus {
    if !connection.enabled {
        return AccountStatus::Disabled;
    }
    if let Some(state) = connection.state.clone().filter(|s| !s.is_empty()) {
        return AccountStatus::Failed {
            state,
            reason: connection.state_reason.clone(),
        };
    }
    let Some(quota) = quota else {
        return AccountStatus::Active;
    };
    let cooling = quota
        .cooldown
        .as_ref()
        .filter(|c| c.scope != "model" && c.until_ms > now_ms);
    let exhausted = quota.exhausted_until_ms.filter(|&t| t > now_ms);
    match (cooling, exhausted) {
        // Both: the later end is when the account comes back.
        (Some(c), Some(e)) if e > c.until_ms => AccountStatus::Exhausted { until_ms: e },
        (Some(c), _) => AccountStatus::Cooling {
            until_ms: c.until_ms,
            reason: c.reason.clone(),
        },
        (None, Some(e)) => AccountStatus::Exhausted { until_ms: e },
        (None, None) => AccountStatus::Active,
    }
}

/// The message key of a terminal state (`auth_failed`…).
pub fn state_key(state: &str) -> &'static str {
    match state {
        "auth_failed" => "providers.state_auth_failed",
        "revoked" => "providers.state_revoked",
        "banned" => "providers.state_banned",
        "out_of_credits" => "providers.state_out_of_credits",
        _ => "providers.state_other",
    }
}

/// The message key of a quota window (`5h`, `daily`…).
pub fn window_key(window: &str) -> &'static str {
    match window {
        "5h" => "providers.window_5h",
        "daily" => "providers.window_daily",
        "weekly" => "providers.window_weekly",
        "monthly" => "providers.window_monthly",
        _ => "providers.window_other",
    }
}

/// The extra class of a quota bar: none while there is room, `warn` from
/// 75 % used, `bad` from 90 % or when the window is used up.
pub fn bar_tone(used: u64, limit: u64, exhausted: bool) -> &'static str {
    if exhausted || used >= limit {
        return "bad";
    }
    let ratio = crate::format::fill_ratio(used as f64, limit as f64);
    if ratio >= 0.9 {
        "bad"
    } else if ratio >= 0.75 {
        "warn"
    } else {
        ""
    }
}

/// Connections grouped under their provider: providers in tier order, then by
/// name; accounts by priority (lower first, as the gateway tries them), then age.
pub fn group_connections(
    mut connections: Vec<Connection>,
    providers: &[Provider],
) -> Vec<(String, Vec<Connection>)> {
    let rank = |id: &str| {
        let provider = providers.iter().find(|p| p.id == id);
        let tier = provider.map_or(TIERS.len() + 1, |p| {
            TIERS
                .iter()
                .position(|t| *t == p.tier)
                .unwrap_or(TIERS.len())
        });
        let name = provider.map_or(id, |p| p.display_name()).to_lowercase();
        (tier, name)
    };
    connections.sort_by(|a, b| {
        rank(&a.provider)
            .cmp(&rank(&b.provider))
            .then_with(|| a.provider.cmp(&b.provider))
            .then_with(|| a.priority.cmp(&b.priority))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut groups: Vec<(String, Vec<Connection>)> = Vec::new();
    for connection in connections {
        match groups.last_mut() {
            Some((provider, list)) if *provider == connection.provider => list.push(connection),
            _ => groups.push((connection.provider.clone(), vec![connection])),
        }
    }
    groups
}

/// A name for a new connection that no other connection has: the provider's
/// name, else the name with the first free number (`OpenAI 2`).
pub fn default_connection_name(provider_name: &str, existing: &[String]) -> String {
    let taken = |name: &str| existing.iter().any(|e| e.eq_ignore_ascii_case(name));
    if !taken(provider_name) {
        return provider_name.to_owned();
    }
    (2..)
        .map(|n| format!("{provider_name} {n}"))
        .find(|name| !taken(name))
        .unwrap_or_else(|| provider_name.to_owned())
}

/// What the connect form holds, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectForm {
    pub name: String,
    pub api_key: String,
    pub api_key_env: String,
    pub base_url: String,
    /// Empty: the provider's own tier.
    pub tier: String,
    pub proxy: String,
    pub priority: String,
}

impl ConnectForm {
    /// The form filled from an existing connection (the key is never known).
    pub fn from_connection(c: &Connection) -> ConnectForm {
        ConnectForm {
            name: c.name.clone(),
            api_key: String::new(),
            api_key_env: c.api_key_env.clone().unwrap_or_default(),
            base_url: c.base_url.clone().unwrap_or_default(),
            tier: c.tier.clone().unwrap_or_default(),
            proxy: c.proxy.clone().unwrap_or_default(),
            priority: c.priority.to_string(),
        }
    }
}

fn trimmed(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The priority typed, if any; a message key when it is not a whole number.
fn priority(text: &str) -> Result<Option<i64>, &'static str> {
    match trimmed(text) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "providers.priority_invalid"),
    }
}

/// The body of `POST /api/connections`, or the message key of what is missing.
/// Empty optional fields are left out so the gateway's defaults apply.
pub fn create_body(
    provider_id: &str,
    kind: SignIn,
    form: &ConnectForm,
) -> Result<Value, &'static str> {
    let name = trimmed(&form.name).ok_or("providers.name_required")?;
    let api_key = trimmed(&form.api_key);
    let api_key_env = trimmed(&form.api_key_env);
    if api_key.is_some() && api_key_env.is_some() {
        return Err("providers.key_or_env");
    }
    if kind != SignIn::NoKey && api_key.is_none() && api_key_env.is_none() {
        return Err("providers.key_required");
    }
    let mut body = Map::new();
    body.insert("provider".into(), json!(provider_id));
    body.insert("name".into(), json!(name));
    let optional = [
        ("api_key", api_key),
        ("api_key_env", api_key_env),
        ("base_url", trimmed(&form.base_url)),
        ("tier", trimmed(&form.tier)),
        ("proxy", trimmed(&form.proxy)),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            body.insert(field.into(), json!(value));
        }
    }
    if let Some(p) = priority(&form.priority)? {
        body.insert("priority".into(), json!(p));
    }
    Ok(Value::Object(body))
}

/// The body of `PATCH /api/connections/{id}`: only what changed. A cleared
/// optional field is sent as `null` (the gateway then uses its default); an
/// empty key field keeps the stored key.
pub fn patch_body(original: &Connection, form: &ConnectForm) -> Result<Value, &'static str> {
    let name = trimmed(&form.name).ok_or("providers.name_required")?;
    let api_key = trimmed(&form.api_key);
    let api_key_env = trimmed(&form.api_key_env);
    if api_key.is_some() && api_key_env.is_some() {
        return Err("providers.key_or_env");
    }
    let mut body = Map::new();
    if name != original.name {
        body.insert("name".into(), json!(name));
    }
    if let Some(key) = api_key {
        body.insert("api_key".into(), json!(key));
        // A typed key replaces a key read from the environment.
        if original.api_key_env.is_some() {
            body.insert("api_key_env".into(), Value::Null);
        }
    } else if api_key_env != original.api_key_env {
        body.insert("api_key_env".into(), json!(api_key_env));
    }
    let optional = [
        ("base_url", trimmed(&form.base_url), &original.base_url),
        ("tier", trimmed(&form.tier), &original.tier),
        ("proxy", trimmed(&form.proxy), &original.proxy),
    ];
    for (field, value, before) in optional {
        if value != *before {
            body.insert(field.into(), json!(value));
        }
    }
    match priority(&form.priority)? {
        Some(p) if p != original.priority => {
            body.insert("priority".into(), json!(p));
        }
        _ => {}
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str, tier: &str, models: &[&str]) -> Provider {
        Provider {
            id: id.into(),
            name: id.to_uppercase(),
            prefix: id.into(),
            tier: tier.into(),
            models: models
                .iter()
                .map(|m| Model {
                    id: (*m).into(),
                    name: None,
                })
                .collect(),
            ..Provider::default()
        }
    }

    fn connection(enabled: bool) -> Connection {
        Connection {
            id: 7,
            provider: "openai".into(),
            name: "work".into(),
            enabled,
            priority: 1,
            ..Connection::default()
        }
    }

    #[test]
    fn providers_are_grouped_by_tier_in_fallback_order() {
        let groups = group_by_tier(vec![
            provider("groq", "free", &[]),
            provider("openai", "api-key", &[]),
            provider("ollama", "local", &[]),
            provider("mystery", "premium", &[]),
            provider("claude", "api-key", &[]),
            provider("deepseek", "cheap", &[]),
        ]);
        let tiers: Vec<&str> = groups.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(tiers, ["api-key", "cheap", "free", "local", "premium"]);
        let api_key: Vec<&str> = groups[0].1.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(api_key, ["openai", "claude"], "catalog order is kept");
        assert_eq!(tier_key("premium"), "providers.tier_other");
        assert_eq!(tier_key("subscription"), "providers.tier_subscription");
    }

    #[test]
    fn search_looks_at_names_ids_aliases_and_models() {
        let mut p = provider("openai", "api-key", &["gpt-4.1", "o3-mini"]);
        p.name = "OpenAI".into();
        p.aliases = vec!["oai".into()];
        p.models[1].name = Some("Reasoner Mini".into());
        assert!(matches_search(&p, ""));
        assert!(matches_search(&p, "  OPENai "));
        assert!(matches_search(&p, "oai"));
        assert!(matches_search(&p, "gpt-4.1"));
        assert!(matches_search(&p, "reasoner"));
        assert!(
            matches_search(&p, "openai o3"),
            "every word may match a different field"
        );
        assert!(!matches_search(&p, "claude"));
        assert!(!matches_search(&p, "openai claude"));
    }

    #[test]
    fn sign_in_kinds_follow_the_auth_field() {
        assert_eq!(sign_in("bearer"), SignIn::ApiKey);
        assert_eq!(sign_in("x-goog-api-key"), SignIn::ApiKey);
        assert_eq!(sign_in("none"), SignIn::NoKey);
        assert_eq!(sign_in("oauth"), SignIn::OAuth);
        assert_eq!(sign_in("oauth-pkce"), SignIn::OAuth);
    }

    #[test]
    fn oauth_providers_and_accounts_are_read_from_the_api() {
        let provider: Provider = serde_json::from_value(json!({
            "id": "copilot", "name": "GitHub Copilot", "prefix": "gh", "auth": "bearer",
            "tier": "subscription", "status": "active",
            "oauth": {"flow": "device", "client_id": "Iv1.x", "token_url": "https://github.com/login/oauth/access_token"},
        }))
        .unwrap_or_default();
        assert_eq!(
            provider.sign_in(),
            SignIn::OAuth,
            "the oauth field decides, not auth"
        );
        assert_eq!(provider.oauth.map(|o| o.flow).as_deref(), Some("device"));
        let gone: Provider = serde_json::from_value(json!({
            "id": "qwen-code", "auth": "bearer", "status": "deprecated", "status_note": "Closed."
        }))
        .unwrap_or_default();
        assert!(gone.is_deprecated());
        assert_eq!(gone.sign_in(), SignIn::ApiKey);
        assert!(!provider_with_status("active").is_deprecated());

        let account: Connection = serde_json::from_value(json!({
            "id": 3, "provider": "codex", "name": "me@example.com", "oauth": true,
            "account_email": "me@example.com", "token_expires_at_ms": 1_700_000_000_000_i64,
            "plan": "plus", "state": "auth_failed", "has_api_key": false, "api_key_preview": null,
        }))
        .unwrap_or_default();
        assert!(account.oauth);
        assert_eq!(account.account_email.as_deref(), Some("me@example.com"));
        assert_eq!(account.token_expires_at_ms, Some(1_700_000_000_000));
        assert_eq!(account.plan.as_deref(), Some("plus"));
        let key: Connection =
            serde_json::from_value(json!({"id": 1, "provider": "openai"})).unwrap_or_default();
        assert!(!key.oauth, "rows from before OAuth read as key accounts");
    }

    fn provider_with_status(status: &str) -> Provider {
        Provider {
            status: status.into(),
            ..Provider::default()
        }
    }

    #[test]
    fn the_most_specific_proxy_wins() {
        let mut settings = ProxySettings::default();
        let mut c = connection(true);
        assert_eq!(proxy_source(&c, &settings), None);
        settings.proxy = "http://global:8080".into();
        assert_eq!(
            proxy_source(&c, &settings),
            Some((ProxySource::Global, "http://global:8080".into()))
        );
        settings
            .provider_proxies
            .insert("openai".into(), "socks5://p:1080".into());
        settings
            .provider_proxies
            .insert("claude".into(), "socks5://other:1080".into());
        assert_eq!(
            proxy_source(&c, &settings).map(|(s, _)| s),
            Some(ProxySource::Provider)
        );
        c.proxy = Some("  ".into());
        assert_eq!(
            proxy_source(&c, &settings).map(|(s, _)| s),
            Some(ProxySource::Provider),
            "a blank proxy is no proxy"
        );
        c.proxy = Some("http://mine:3128".into());
        assert_eq!(
            proxy_source(&c, &settings),
            Some((ProxySource::Connection, "http://mine:3128".into()))
        );
        assert_eq!(ProxySource::Provider.as_str(), "provider");
    }

    #[test]
    fn status_prefers_disabled_then_failed_then_the_later_block() {
        let now = 1_000_000;
        let cooling = QuotaAccount {
            connection_id: 7,
            cooldown: Some(Cooldown {
                until_ms: now + 30_000,
                reason: "429".into(),
                scope: "connection".into(),
            }),
            ..QuotaAccount::default()
        };
        let c = connection(true);
        assert_eq!(account_status(&c, None, now), AccountStatus::Active);
        assert_eq!(
            account_status(&c, Some(&cooling), now),
            AccountStatus::Cooling {
                until_ms: now + 30_000,
                reason: "429".into()
            }
        );
        assert_eq!(
            account_status(&c, Some(&cooling), now + 30_000),
            AccountStatus::Active,
            "an expired cooldown no longer counts"
        );
        let mut both = cooling.clone();
        both.exhausted_until_ms = Some(now + 3_600_000);
        assert_eq!(
            account_status(&c, Some(&both), now),
            AccountStatus::Exhausted {
                until_ms: now + 3_600_000
            }
        );
        let mut model_only = cooling.clone();
        if let Some(cd) = model_only.cooldown.as_mut() {
            cd.scope = "model".into();
        }
        assert_eq!(
            account_status(&c, Some(&model_only), now),
            AccountStatus::Active,
            "one locked model does not stop the account"
        );
        let mut failed = c.clone();
        failed.state = Some("auth_failed".into());
        failed.state_reason = Some("401 invalid key".into());
        assert_eq!(
            account_status(&failed, Some(&cooling), now),
            AccountStatus::Failed {
                state: "auth_failed".into(),
                reason: Some("401 invalid key".into())
            }
        );
        failed.enabled = false;
        assert_eq!(
            account_status(&failed, Some(&cooling), now),
            AccountStatus::Disabled
        );
    }

    #[test]
    fn quota_bars_warn_then_turn_bad() {
        assert_eq!(bar_tone(0, 100, false), "");
        assert_eq!(bar_tone(74, 100, false), "");
        assert_eq!(bar_tone(75, 100, false), "warn");
        assert_eq!(bar_tone(89, 100, false), "warn");
        assert_eq!(bar_tone(90, 100, false), "bad");
        assert_eq!(bar_tone(150, 100, false), "bad");
        assert_eq!(bar_tone(3, 100, true), "bad", "the upstream said used up");
        assert_eq!(
            bar_tone(0, 0, false),
            "bad",
            "a zero limit is always reached"
        );
    }

    #[test]
    fn accounts_are_grouped_under_their_provider_in_tier_order() {
        let providers = vec![
            provider("groq", "free", &[]),
            provider("openai", "api-key", &[]),
        ];
        let account = |id: i64, provider: &str, priority: i64| Connection {
            id,
            provider: provider.into(),
            priority,
            ..Connection::default()
        };
        let groups = group_connections(
            vec![
                account(1, "groq", 1),
                account(2, "gone", 1),
                account(3, "openai", 2),
                account(4, "openai", 1),
                account(5, "openai", 2),
            ],
            &providers,
        );
        let shape: Vec<(&str, Vec<i64>)> = groups
            .iter()
            .map(|(p, list)| (p.as_str(), list.iter().map(|c| c.id).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                ("openai", vec![4, 3, 5]),
                ("groq", vec![1]),
                ("gone", vec![2])
            ]
        );
    }

    #[test]
    fn new_connection_names_do_not_repeat() {
        assert_eq!(default_connection_name("OpenAI", &[]), "OpenAI");
        let existing = vec!["openai".to_owned(), "OpenAI 2".to_owned()];
        assert_eq!(default_connection_name("OpenAI", &existing), "OpenAI 3");
    }

    #[test]
    fn the_create_body_leaves_out_empty_fields() {
        let form = ConnectForm {
            name: " Work ".into(),
            api_key: "sk-123".into(),
            proxy: "socks5://127.0.0.1:1080".into(),
            ..ConnectForm::default()
        };
        assert_eq!(
            create_body("openai", SignIn::ApiKey, &form),
            Ok(
                json!({"provider": "openai", "name": "Work", "api_key": "sk-123", "proxy": "socks5://127.0.0.1:1080"})
            )
        );
        let full = ConnectForm {
            base_url: "http://localhost:9000/v1".into(),
            tier: "cheap".into(),
            priority: "3".into(),
            ..form.clone()
        };
        let body = create_body("openai", SignIn::ApiKey, &full).unwrap_or_default();
        assert_eq!(body["base_url"], "http://localhost:9000/v1");
        assert_eq!(body["tier"], "cheap");
        assert_eq!(body["priority"], 3);
    }

    #[test]
    fn the_create_body_checks_what_is_required() {
        let empty = ConnectForm::default();
        assert_eq!(
            create_body("openai", SignIn::ApiKey, &empty),
            Err("providers.name_required")
        );
        let named = ConnectForm {
            name: "a".into(),
            ..ConnectForm::default()
        };
        assert_eq!(
            create_body("openai", SignIn::ApiKey, &named),
            Err("providers.key_required")
        );
        assert!(create_body("ollama", SignIn::NoKey, &named).is_ok());
        let env = ConnectForm {
            api_key_env: "OPENAI_API_KEY".into(),
            ..named.clone()
        };
        assert!(create_body("openai", SignIn::ApiKey, &env).is_ok());
        let both = ConnectForm {
            api_key: "sk".into(),
            ..env
        };
        assert_eq!(
            create_body("openai", SignIn::ApiKey, &both),
            Err("providers.key_or_env")
        );
        let bad_priority = ConnectForm {
            priority: "high".into(),
            ..named
        };
        assert_eq!(
            create_body("ollama", SignIn::NoKey, &bad_priority),
            Err("providers.priority_invalid")
        );
    }

    #[test]
    fn the_patch_body_carries_only_changes_and_clears_with_null() {
        let mut original = connection(true);
        original.proxy = Some("http://old:1".into());
        original.api_key_env = Some("OLD_KEY".into());
        let unchanged = ConnectForm::from_connection(&original);
        assert_eq!(patch_body(&original, &unchanged), Ok(json!({})));
        let form = ConnectForm {
            name: "home".into(),
            proxy: String::new(),
            tier: "free".into(),
            priority: "2".into(),
            ..unchanged.clone()
        };
        assert_eq!(
            patch_body(&original, &form),
            Ok(json!({"name": "home", "proxy": null, "tier": "free", "priority": 2}))
        );
        let new_key = ConnectForm {
            api_key: "sk-new".into(),
            api_key_env: String::new(),
            ..unchanged
        };
        assert_eq!(
            patch_body(&original, &new_key),
            Ok(json!({"api_key": "sk-new", "api_key_env": null}))
        );
    }
}
