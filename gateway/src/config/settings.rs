//! Typed runtime settings with their defaults and validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::routing::Strategy;

/// Settings a user can change at run time (`/api/settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Data-plane requests need a gateway API key. Binding a non-loopback
    /// address is refused while this is off.
    pub require_api_key: bool,
    /// Largest accepted data-plane request body.
    pub max_body_bytes: u64,
    /// Smaller body limits for some data-plane routes, by path: an exact
    /// path (`/v1/messages`) or a prefix ending in `*` (`/v1beta/models/*`).
    /// The longest match applies, never above `max_body_bytes`.
    pub route_body_limits: BTreeMap<String, u64>,
    /// Web origins (`https://app.example.com`, or `*` for any) whose pages
    /// may call the data plane from a browser. Empty (the default): no
    /// cross-origin browser access. Never the management API.
    pub cors_origins: Vec<String>,
    /// Usage records older than this are pruned.
    pub usage_retention_days: u32,
    /// Copy the database to `backups/` once a day.
    pub daily_backup: bool,
    /// How many automatic backups of each kind (daily, before a migration) are kept.
    pub backups_kept: u32,
    /// How long to wait for an upstream's response headers.
    pub upstream_timeout_secs: u64,
    /// How long to wait for a TCP (and TLS) connection to an upstream.
    pub connect_timeout_secs: u64,
    /// How long a streamed 200 may take to send its first useful event; a
    /// stream that stays silent this long is a failure that can fall back.
    pub stream_ready_timeout_secs: u64,
    /// Longest silence between two stream events once the stream is going.
    pub stream_idle_timeout_secs: u64,
    /// Deadline for a whole request, streaming included.
    pub request_deadline_secs: u64,

    /// Extra attempts on the same account after a 5xx, timeout or
    /// connection error, before moving to the next candidate.
    pub retry_attempts: u32,
    /// First retry delay; it doubles on each attempt, with jitter.
    pub retry_base_ms: u64,

    /// Failures (408/5xx, timeouts, connection errors) within the window
    /// that open a breaker.
    pub breaker_failure_threshold: u32,
    pub breaker_window_secs: u64,
    /// How long an open breaker rejects calls before one probe goes through.
    pub breaker_cooldown_secs: u64,
    /// First cooldown of a connection without a retry hint; doubles per
    /// strike up to `cooldown_max_secs`.
    pub cooldown_base_secs: u64,
    pub cooldown_max_secs: u64,

    /// How a provider's accounts of equal priority share the load, by
    /// provider id; `fill-first` when not listed.
    pub account_strategies: BTreeMap<String, Strategy>,
    /// Concurrency and pacing limits, by provider id.
    pub provider_limits: BTreeMap<String, ProviderLimits>,

    /// Price overrides in USD per million tokens, by `provider/model`.
    pub prices: BTreeMap<String, PriceOverride>,
    /// Spending limits; an exceeded budget makes routing skip its scope.
    pub budgets: Vec<Budget>,

    /// Exact response cache (off by default).
    pub response_cache_enabled: bool,
    pub response_cache_ttl_secs: u64,
    pub response_cache_max_bytes: u64,

    /// Prepended to every request's system prompt when not empty.
    pub system_prompt: String,
    pub thinking_mode: ThinkingMode,
    /// The budget of `custom` mode, and the ceiling of `adaptive`.
    pub thinking_budget_tokens: u32,

    /// Outbound proxy for every upstream call (http://, https://,
    /// socks5://, socks5h://); empty for none.
    pub proxy: String,
    /// Outbound proxy by provider id; overrides `proxy`.
    pub provider_proxies: BTreeMap<String, String>,

    /// Debug mode: keep each request's body and the response sent back (up
    /// to 256 KiB each, never headers or keys) for the newest 1,000 usage
    /// rows, shown by `GET /api/usage/{id}`. Off by default: bodies can hold
    /// private data, and when off nothing is captured.
    pub log_bodies: bool,

    /// Desktop notifications, by kind: a quota used up, a provider down
    /// (and back), a budget exceeded, a token refresh failed, an account
    /// stopped (auth failed, banned, out of credits).
    pub notify_quota: bool,
    pub notify_outage: bool,
    pub notify_budget: bool,
    pub notify_token_refresh: bool,
    pub notify_account_disabled: bool,

    /// Addresses (CIDR or single IPs) refused before any key is checked.
    /// Clients on this machine always pass.
    pub ip_blocklist: Vec<IpRange>,
    /// When not empty, only these addresses (and this machine) get in.
    pub ip_allowlist: Vec<IpRange>,
    /// Reverse proxies whose `X-Forwarded-For` names the real client; the
    /// header is ignored from anyone else, and from everyone when empty.
    pub trusted_proxies: Vec<IpRange>,
    /// Data-plane requests one address (not this machine) may send per
    /// minute; 0 for no limit.
    pub ip_requests_per_minute: u32,

    /// What the prompt-injection guard does when a request matches one of
    /// `injection_patterns`.
    pub injection_guard: InjectionMode,
    /// Case-insensitive regular expressions matched against request text.
    pub injection_patterns: Vec<String>,
}

/// The prompt-injection guard's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionMode {
    /// Nothing is checked.
    Off,
    /// A match is logged; the request is served.
    Warn,
    /// A match is refused with 400 in the caller's format.
    Block,
}

/// An address range in settings: `10.0.0.0/8`, `2001:db8::/32`, or a single
/// address (`203.0.113.7`), written and stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(ipnet::IpNet);

impl IpRange {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 client reached over an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;
    fn from_str(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(IpRange)
            .map_err(|_| format!("{text:?} is not an IP address or a CIDR range like 10.0.0.0/8"))
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<IpRange, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Limits that keep a burst of requests from stampeding one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderLimits {
    /// Requests in flight at once; more wait for a slot.
    pub max_concurrent: Option<u32>,
    /// Minimum time between the starts of two requests.
    pub min_gap_ms: Option<u64>,
    /// Requests started per rolling minute; past it the provider is skipped.
    pub requests_per_minute: Option<u32>,
}

/// A model's price in USD per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
}

/// A spending limit on one provider (`provider:<id>`) or one tier
/// (`tier:subscription`, `tier:api-key`, `tier:cheap`, `tier:free`, `tier:local`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub scope: String,
    #[serde(default)]
    pub daily_usd: Option<f64>,
    #[serde(default)]
    pub monthly_usd: Option<f64>,
}

/// What the gateway does with a request's thinking (reasoning) budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThinkingMode {
    /// Leave it as the client sent it.
    Passthrough,
    /// Give requests that ask for thinking a budget that matches their effort.
    Auto,
    /// Give requests that ask for thinking exactly `thinking_budget_tokens`.
    Custom,
    /// Scale the budget with the size of the request, up to `thinking_budget_tokens`.
    Adaptive,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_api_key: true,
            max_body_bytes: 32 * 1024 * 1024,
            route_body_limits: BTreeMap::new(),
            cors_origins: Vec::new(),
            usage_retention_days: 90,
            daily_backup: true,
            backups_kept: 7,
            upstream_timeout_secs: 600,
            connect_timeout_secs: 10,
            stream_ready_timeout_secs: 120,
            stream_idle_timeout_secs: 300,
            request_deadline_secs: 3600,
            retry_attempts: 2,
            retry_base_ms: 250,
            breaker_failure_threshold: 5,
            breaker_window_secs: 60,
            breaker_cooldown_secs: 30,
            cooldown_base_secs: 5,
            cooldown_max_secs: 600,
            account_strategies: BTreeMap::new(),
            provider_limits: BTreeMap::new(),
            prices: BTreeMap::new(),
            budgets: Vec::new(),
            response_cache_enabled: false,
            response_cache_ttl_secs: 300,
            response_cache_max_bytes: 64 * 1024 * 1024,
            system_prompt: String::new(),
            thinking_mode: ThinkingMode::Passthrough,
            thinking_budget_tokens: 8192,
            proxy: String::new(),
            provider_proxies: BTreeMap::new(),
            log_bodies: false,
            notify_quota: true,
            notify_outage: true,
            notify_budget: true,
            notify_token_refresh: true,
            notify_account_disabled: true,
            ip_blocklist: Vec::new(),
            ip_allowlist: Vec::new(),
            trusted_proxies: Vec::new(),
            ip_requests_per_minute: 600,
            // Warn costs one pass of a compiled pattern set over the body
            // and never refuses work; block is the user's choice.
            injection_guard: InjectionMode::Warn,
            injection_patterns: crate::api::injection_guard::default_patterns(),
        }
    }
}

impl Settings {
    /// Settings from stored rows; unknown or invalid rows fall back to defaults
    /// so that one bad row never stops the gateway.
    pub fn from_stored(stored: &Map<String, Value>) -> Settings {
        let mut settings = Settings::default();
        for (key, value) in stored {
            match settings.with_patch(&Map::from_iter([(key.clone(), value.clone())])) {
                Ok(next) => settings = next,
                Err(e) => tracing::warn!(key, error = %e, "ignoring stored setting"),
            }
        }
        settings
    }

    /// These settings with `patch` applied, or a message naming the bad field.
    pub fn with_patch(&self, patch: &Map<String, Value>) -> Result<Settings, String> {
        let mut merged = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in patch {
            if !merged.contains_key(key) {
                return Err(format!("unknown setting `{key}`"));
            }
            merged.insert(key.clone(), value.clone());
        }
        let next: Settings =
            serde_json::from_value(Value::Object(merged)).map_err(|e| e.to_string())?;
        next.validate()?;
        Ok(next)
    }

    /// The body limit of a data-plane request to `path`.
    pub fn body_limit(&self, path: &str) -> usize {
        let matching = self
            .route_body_limits
            .iter()
            .filter(|(route, _)| match route.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == route.as_str(),
            })
            // The most specific: an exact path, else the longest prefix.
            .max_by_key(|(route, _)| (!route.ends_with('*'), route.len()))
            .map(|(_, &limit)| limit);
        matching
            .map_or(self.max_body_bytes, |limit| limit.min(self.max_body_bytes))
            .try_into()
            .unwrap_or(usize::MAX)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err("max_body_bytes must be between 1024 and 1073741824".into());
        }
        if !(1..=365).contains(&self.backups_kept) {
            return Err("backups_kept must be between 1 and 365".into());
        }
        for (route, limit) in &self.route_body_limits {
            if !route.starts_with('/') || route[..route.len() - 1].contains('*') {
                return Err(format!(
                    "route_body_limits: `{route}` must be a path like /v1/messages, or a prefix ending in * like /v1beta/models/*"
                ));
            }
            if !(1024..=1024 * 1024 * 1024).contains(limit) {
                return Err(format!(
                    "route_body_limits.{route} must be between 1024 and 1073741824"
                ));
            }
        }
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|e| format!("cors_origins: {e}"))?;
        }
        if self.injection_patterns.len() > 200 {
            return Err("injection_patterns holds at most 200 patterns".into());
        }
        crate::api::injection_guard::compile(&self.injection_patterns)?;
        if self.ip_requests_per_minute > 1_000_000 {
            return Err("ip_requests_per_minute must be between 0 (no limit) and 1000000".into());
        }
        if !(1..=3650).contains(&self.usage_retention_days) {
            return Err("usage_retention_days must be between 1 and 3650".into());
        }
        let seconds = [
            ("upstream_timeout_secs", self.upstream_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("stream_ready_timeout_secs", self.stream_ready_timeout_secs),
            ("stream_idle_timeout_secs", self.stream_idle_timeout_secs),
            ("breaker_window_secs", self.breaker_window_secs),
            ("breaker_cooldown_secs", self.breaker_cooldown_secs),
            ("cooldown_base_secs", self.cooldown_base_secs),
        ];
        for (name, value) in seconds {
            if !(1..=3600).contains(&value) {
                return Err(format!("{name} must be between 1 and 3600"));
            }
        }
        if !(1..=86_400).contains(&self.request_deadline_secs) {
            return Err("request_deadline_secs must be between 1 and 86400".into());
        }
        if self.cooldown_max_secs < self.cooldown_base_secs || self.cooldown_max_secs > 86_400 {
            return Err("cooldown_max_secs must be between cooldown_base_secs and 86400".into());
        }
        if self.retry_attempts > 10 {
            return Err("retry_attempts must be at most 10".into());
        }
        if self.retry_base_ms > 60_000 {
            return Err("retry_base_ms must be at most 60000".into());
        }
        if !(1..=1000).contains(&self.breaker_failure_threshold) {
            return Err("breaker_failure_threshold must be between 1 and 1000".into());
        }
        if self.response_cache_max_bytes > 16 * 1024 * 1024 * 1024 {
            return Err("response_cache_max_bytes must be at most 16 GiB".into());
        }
        if !(1..=30 * 86_400).contains(&self.response_cache_ttl_secs) {
            return Err("response_cache_ttl_secs must be between 1 and 2592000".into());
        }
        if !(1024..=128_000).contains(&self.thinking_budget_tokens) {
            return Err("thinking_budget_tokens must be between 1024 and 128000".into());
        }
        for (name, limits) in &self.provider_limits {
            if limits.max_concurrent == Some(0) || limits.requests_per_minute == Some(0) {
                return Err(format!(
                    "provider_limits.{name}: limits must be at least 1 (leave a limit out for none)"
                ));
            }
        }
        for (model, price) in &self.prices {
            let fields = [Some(price.input), Some(price.output), price.cached_input];
            if !model.contains('/')
                || fields
                    .into_iter()
                    .flatten()
                    .any(|p| !(0.0..1e6).contains(&p))
            {
                return Err(format!(
                    "prices.{model}: the key is `provider/model` and prices are USD per million tokens, 0 or more"
                ));
            }
        }
        for budget in &self.budgets {
            let scope_ok = match budget.scope.split_once(':') {
                Some(("provider", id)) => !id.is_empty(),
                Some(("tier", tier)) => {
                    serde_json::from_value::<crate::providers::Tier>(Value::String(tier.into()))
                        .is_ok()
                }
                _ => false,
            };
            if !scope_ok {
                return Err(format!(
                    "budget scope `{}` must be `provider:<id>` or `tier:<subscription|api-key|cheap|free|local>`",
                    budget.scope
                ));
            }
            let limits = [budget.daily_usd, budget.monthly_usd];
            if limits.iter().all(Option::is_none)
                || limits
                    .into_iter()
                    .flatten()
                    .any(|v| !(v >= 0.0 && v.is_finite()))
            {
                return Err(format!(
                    "budget `{}` needs daily_usd and/or monthly_usd, 0 or more",
                    budget.scope
                ));
            }
        }
        let proxies = std::iter::once(("proxy".to_string(), &self.proxy)).chain(
            self.provider_proxies
                .iter()
                .map(|(p, url)| (format!("provider_proxies.{p}"), url)),
        );
        for (name, url) in proxies {
            if !url.is_empty() {
                check_proxy_url(url).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Checks that `origin` is `*` or a web origin: scheme, host and port only.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || {
        format!("`{origin}` is not an origin like https://app.example.com or http://localhost:3000")
    };
    let url = reqwest::Url::parse(origin).map_err(|_| bad())?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty()
        && !origin.ends_with('/');
    if bare { Ok(()) } else { Err(bad()) }
}

/// Checks that `url` is a proxy reqwest can use.
pub fn check_proxy_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" | "socks5" | "socks5h" => Ok(()),
        other => Err(format!(
            "proxy scheme `{other}` is not supported (http, https, socks5, socks5h)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn patch_validates_names_types_and_ranges() {
        let s = Settings::default();
        assert_eq!(
            s.with_patch(&patch(json!({"usage_retention_days": 7})))
                .unwrap()
                .usage_retention_days,
            7
        );
        assert!(
            s.with_patch(&patch(json!({"nope": 1})))
                .unwrap_err()
                .contains("unknown setting `nope`")
        );
        assert!(
            s.with_patch(&patch(json!({"usage_retention_days": "x"})))
                .is_err()
        );
        assert!(
            s.with_patch(&patch(json!({"usage_retention_days": 0})))
                .is_err()
        );
    }

    #[test]
    fn route_body_limits_pick_the_most_specific_route_and_never_exceed_the_global_one() {
        let s = Settings::default()
            .with_patch(&patch(json!({
                "max_body_bytes": 1_000_000,
                "route_body_limits": {
                    "/v1/*": 500_000,
                    "/v1/messages/*": 2_000,
                    "/v1/messages": 4_000,
                    "/v1/responses": 9_000_000,
                }
            })))
            .unwrap();
        assert_eq!(s.body_limit("/v1/messages"), 4_000);
        assert_eq!(s.body_limit("/v1/messages/count_tokens"), 2_000);
        assert_eq!(s.body_limit("/v1/chat/completions"), 500_000);
        assert_eq!(s.body_limit("/v1/responses"), 1_000_000);
        assert_eq!(s.body_limit("/chat/completions"), 1_000_000);
        for bad in [
            json!({"v1": 5000}),
            json!({"/v1/*/x": 5000}),
            json!({"/v1": 10}),
        ] {
            assert!(
                s.with_patch(&patch(json!({"route_body_limits": bad})))
                    .is_err()
            );
        }
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let s = Settings::default();
        assert!(s.cors_origins.is_empty(), "closed by default");
        let ok = json!(["*", "https://app.example.com", "http://localhost:3000"]);
        assert!(s.with_patch(&patch(json!({"cors_origins": ok}))).is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://example.com",
            "https://user@example.com",
        ] {
            assert!(
                s.with_patch(&patch(json!({"cors_origins": [bad]})))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn log_bodies_is_off_by_default_and_takes_only_a_boolean() {
        let s = Settings::default();
        assert!(!s.log_bodies);
        assert!(
            s.with_patch(&patch(json!({"log_bodies": true})))
                .unwrap()
                .log_bodies
        );
        assert!(s.with_patch(&patch(json!({"log_bodies": "yes"}))).is_err());
    }

    #[test]
    fn bad_stored_rows_fall_back_to_defaults() {
        let stored = patch(json!({"max_body_bytes": 5, "usage_retention_days": 30, "old": true}));
        let s = Settings::from_stored(&stored);
        assert_eq!(s.max_body_bytes, Settings::default().max_body_bytes);
        assert_eq!(s.usage_retention_days, 30);
    }
}
