//! The health page: uptime, memory and load, per-provider breakers and latency, cooldowns and disabled accounts, cache counters, recent events, and the reset action.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::api;
use crate::browser;
use crate::components::{Empty, Page, notify_error, notify_ok, resolved};
use crate::format;
use crate::i18n::{t_now, t_with, tr};
use crate::records::ProviderHealth;

/// The page reloads the health this often while it is on screen.
const REFRESH_EVERY_SECS: u32 = 5;

/// A circuit breaker of a provider (`scope: provider`) or of one account.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Breaker {
    pub scope: String,
    pub provider: String,
    pub connection_id: Option<i64>,
    /// `closed`, `half-open` or `open`.
    pub state: String,
    /// When an open breaker lets a probe through.
    pub until_ms: Option<i64>,
    pub recent_failures: u64,
}

/// An account (or one model of it) resting after failures or a rate limit.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Cooldown {
    pub connection_id: i64,
    /// `None` for the whole account, else the locked-out model.
    pub model: Option<String>,
    pub until_ms: i64,
    pub remaining_ms: i64,
    pub reason: String,
    pub strikes: u64,
}

/// An account the gateway stopped using (auth failed, revoked, banned, out of credits).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DisabledAccount {
    pub connection_id: i64,
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Routing {
    pub breakers: Vec<Breaker>,
    pub cooldowns: Vec<Cooldown>,
    pub disabled: Vec<DisabledAccount>,
    /// Requests in flight per key: `c:<connection id>` and `m:<provider>/<model>`.
    pub in_flight: BTreeMap<String, u64>,
}

/// Response cache and request-sharing counters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheStats {
    pub enabled: bool,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub replays: u64,
    pub shared: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub rss_bytes: Option<u64>,
}

/// One event of the bus: `{id, ts, type, ...fields of the type}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HealthEvent {
    pub id: u64,
    pub ts: i64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

/// `GET /api/health`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `ok`, or `degraded` while a provider breaker is open.
    pub status: String,
    pub version: String,
    pub uptime_secs: u64,
    pub memory: Memory,
    pub providers: Vec<ProviderHealth>,
    pub routing: Routing,
    pub cache: CacheStats,
    pub events: Vec<HealthEvent>,
    /// Start-up problems of the app around the gateway (no OS keychain, …).
    pub warnings: Vec<String>,
}

/// The badge tone of a breaker state.
pub fn breaker_tone(state: &str) -> &'static str {
    match state {
        "closed" => "ok",
        "half-open" => "warn",
        "open" => "bad",
        _ => "muted",
    }
}

/// The message key naming a breaker state.
pub fn breaker_label(state: &str) -> &'static str {
    match state {
        "closed" => "health.breaker_closed",
        "half-open" => "health.breaker_half_open",
        "open" => "health.breaker_open",
        _ => "health.breaker_unknown",
    }
}

/// Requests in flight: each holds one `c:<connection>` slot (the
/// `m:<provider>/<model>` slots count the same requests again).
pub fn in_flight_total(in_flight: &BTreeMap<String, u64>) -> u64 {
    in_flight
        .iter()
        .filter(|(key, _)| key.starts_with("c:"))
        .map(|(_, n)| n)
        .sum()
}

/// A byte count: `512 B`, `1.5 KiB`, `42 MiB`, `1.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{} {}", text.trim_end_matches(".0"), UNITS[unit])
}

/// How long the gateway has run: `45 s`, `12 m`, `3 h 20 m`, `2 d 4 h`.
pub fn uptime(secs: u64) -> String {
    if secs < 60 {
        format!("{secs} s")
    } else {
        format::countdown(secs.min(i64::MAX as u64) as i64)
    }
}

/// A latency percentile, or a dash before any sample.
pub fn latency(ms: Option<f64>) -> String {
    ms.filter(|v| v.is_finite() && *v >= 0.0)
        .map_or_else(|| "—".into(), |v| format::millis(v.round() as u64))
}

/// The share of lookups the cache answered, when there were any.
pub fn hit_rate(cache: &CacheStats) -> Option<f64> {
    let lookups = cache.hits + cache.misses;
    (lookups > 0).then(|| cache.hits as f64 / lookups as f64)
}

/// One provider's row: its metrics (when it served traffic), the state of its
/// provider breaker, and how many of its account breakers are not closed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderRow {
    pub provider: String,
    pub metrics: Option<ProviderHealth>,
    pub breaker: String,
    pub tripped_accounts: usize,
}

/// Providers with metrics or breakers, by name.
pub fn provider_rows(health: &Health) -> Vec<ProviderRow> {
    let mut names: BTreeSet<&str> = health
        .providers
        .iter()
        .map(|p| p.provider.as_str())
        .collect();
    names.extend(
        health
            .routing
            .breakers
            .iter()
            .map(|b| b.provider.as_str())
            .filter(|p| !p.is_empty()),
    );
    names
        .into_iter()
        .map(|name| {
            let breaker = health
                .routing
                .breakers
                .iter()
                .find(|b| b.scope == "provider" && b.provider == name)
                .map_or_else(|| "closed".to_owned(), |b| b.state.clone());
            let tripped_accounts = health
                .routing
                .breakers
                .iter()
                .filter(|b| b.scope != "provider" && b.provider == name && b.state != "closed")
                .count();
            ProviderRow {
                provider: name.to_owned(),
                metrics: health
                    .providers
                    .iter()
                    .find(|p| p.provider == name)
                    .cloned(),
                breaker,
                tripped_accounts,
            }
        })
        .collect()
}

/// A field of an event as text (strings bare, numbers as written, null empty).
fn field(event: &HealthEvent, name: &str) -> String {
    match event.fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// "provider" or "provider #id" for an event about a provider or one account.
fn target(event: &HealthEvent) -> String {
    let provider = field(event, "provider");
    match event.fields.get("connection_id").and_then(Value::as_i64) {
        Some(id) => {
            let name = field(event, "connection");
            if name.is_empty() {
                format!("{provider} #{id}")
            } else {
                format!("{provider} / {name}")
            }
        }
        None => provider,
    }
}

/// An event as a message key, its placeholders and a badge tone.
pub fn event_message(
    event: &HealthEvent,
) -> (&'static str, Vec<(&'static str, String)>, &'static str) {
    let reason = ("reason", field(event, "reason"));
    match event.kind.as_str() {
        "QuotaExhausted" => (
            "health.ev_quota",
            vec![("target", target(event)), reason],
            "warn",
        ),
        "ProviderDown" => (
            "health.ev_down",
            vec![("target", target(event)), reason],
            "bad",
        ),
        "ProviderRecovered" => ("health.ev_recovered", vec![("target", target(event))], "ok"),
        "BudgetExceeded" => {
            let money = |name: &str| {
                event
                    .fields
                    .get(name)
                    .and_then(Value::as_f64)
                    .map_or_else(String::new, format::usd)
            };
            (
                "health.ev_budget",
                vec![
                    ("scope", field(event, "scope")),
                    ("period", field(event, "period")),
                    ("spent", money("spent_usd")),
                    ("limit", money("limit_usd")),
                ],
                "warn",
            )
        }
        "TokenRefreshFailed" => (
            "health.ev_refresh",
            vec![("target", target(event)), reason],
            "bad",
        ),
        "ConnectionDisabled" => (
            "health.ev_disabled",
            vec![
                ("target", target(event)),
                ("state", field(event, "state")),
                reason,
            ],
            "bad",
        ),
        _ => (
            "health.ev_other",
            vec![("type", event.kind.clone())],
            "muted",
        ),
    }
}

/// Enough of `GET /api/connections` to name accounts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
struct ConnectionName {
    id: i64,
    provider: String,
    name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
struct ConnectionNames {
    data: Vec<ConnectionName>,
}

/// Account id -> "provider / name", for the lists that only carry the id.
type Names = HashMap<i64, String>;

fn account(names: &Names, id: i64) -> String {
    names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
}

/// Whether the browser tab is in the background (no point refreshing then).
fn document_hidden() -> bool {
    if cfg!(target_arch = "wasm32") {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden())
    } else {
        false
    }
}

fn breaker_badge(state: &str) -> impl IntoView + use<> {
    view! {
        <span class=format!("badge badge-{}", breaker_tone(state)) data-state=state.to_owned()>
            {tr(breaker_label(state))}
        </span>
    }
}

fn stat(testid: &'static str, label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="card stat health-stat" data-testid=testid>
            <div class="stat-label">{tr(label)}</div>
            <div class="stat-value"><span dir="ltr">{value}</span></div>
        </div>
    }
}

fn stats_view(health: &Health) -> impl IntoView + use<> {
    let (status_tone, status_key) = if health.status == "degraded" {
        ("warn", "health.degraded")
    } else {
        ("ok", "health.ok")
    };
    let memory = health
        .memory
        .rss_bytes
        .map_or_else(|| "—".to_owned(), bytes);
    view! {
        <div class="health-stats">
            <div class="card stat health-stat" data-testid="health-status">
                <div class="stat-label">{tr("health.status")}</div>
                <div class="stat-value">
                    <span class=format!("badge badge-{status_tone} health-status-badge") data-state=health.status.clone()>
                        {tr(status_key)}
                    </span>
                </div>
            </div>
            {stat("health-uptime", "health.uptime", uptime(health.uptime_secs))}
            {stat("health-version", "health.version", health.version.clone())}
            {stat("health-memory", "health.memory", memory)}
            {stat(
                "health-in-flight",
                "health.in_flight",
                format::group_thousands(in_flight_total(&health.routing.in_flight)),
            )}
        </div>
    }
}

fn providers_view(health: &Health) -> AnyView {
    let rows = provider_rows(health);
    if rows.is_empty() {
        return view! { <Empty message="health.no_providers"/> }.into_any();
    }
    let body = rows
        .into_iter()
        .map(|row| {
            let m = row.metrics.clone().unwrap_or_default();
            let rate = m.success_rate;
            let rate_class = match rate {
                Some(r) if r < 0.8 => "bad",
                Some(r) if r < 0.95 => "warn",
                _ => "",
            };
            let tripped = row.tripped_accounts;
            view! {
                <tr data-testid="health-provider-row" data-name=row.provider.clone()>
                    <td class="health-name">{row.provider.clone()}</td>
                    <td class="health-nowrap">
                        {breaker_badge(&row.breaker)}
                        {(tripped > 0).then(|| view! {
                            " "
                            <span class="muted small">
                                {move || t_with("health.accounts_tripped", &[("n", tripped.to_string())])}
                            </span>
                        })}
                    </td>
                    <td class="num">{format::group_thousands(m.requests)}</td>
                    <td class="num">
                        <span class=format!("health-rate {rate_class}")>{format::percent(rate)}</span>
                    </td>
                    <td class="num">{latency(m.latency_ms.p50)}</td>
                    <td class="num">{latency(m.latency_ms.p95)}</td>
                    <td class="num">{latency(m.latency_ms.p99)}</td>
                    <td class="num">{latency(m.ttft_ms.p50)}</td>
                    <td class="num">{format::group_thousands(m.fallback_hops)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="health-providers">
                <thead>
                    <tr>
                        <th>{tr("health.col_provider")}</th>
                        <th>{tr("health.col_breaker")}</th>
                        <th class="num">{tr("health.col_requests")}</th>
                        <th class="num">{tr("health.col_success")}</th>
                        <th class="num">"p50"</th>
                        <th class="num">"p95"</th>
                        <th class="num">"p99"</th>
                        <th class="num">{tr("health.col_ttft")}</th>
                        <th class="num">{tr("health.col_hops")}</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The breakers that are not closed, with their failures and the time to the next probe.
fn breakers_view(health: &Health, names: &Names, now: i64) -> AnyView {
    let tripped: Vec<Breaker> = health
        .routing
        .breakers
        .iter()
        .filter(|b| b.state != "closed")
        .cloned()
        .collect();
    if tripped.is_empty() {
        return view! { <Empty message="health.breakers_none"/> }.into_any();
    }
    let items = tripped
        .into_iter()
        .map(|b| {
            let who = match b.connection_id {
                Some(id) => account(names, id),
                None => t_with("health.whole_provider", &[("provider", b.provider.clone())]),
            };
            let probe = b.until_ms.map(|until| {
                t_with(
                    "health.probe_in",
                    &[("time", format::countdown((until - now) / 1000))],
                )
            });
            view! {
                <li class="health-item" data-testid="health-breaker" data-state=b.state.clone()>
                    <div class="row">
                        {breaker_badge(&b.state)}
                        <strong>{who}</strong>
                        <span class="spacer"></span>
                        {probe.map(|p| view! { <span class="muted small">{p}</span> })}
                    </div>
                    <div class="muted small">
                        {t_with("health.recent_failures", &[("n", b.recent_failures.to_string())])}
                    </div>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="health-list">{items}</ul> }.into_any()
}

/// Cooldowns and disabled accounts with their reasons; cooldowns count down
/// from the moment the health was read.
fn resting_view(health: &Health, names: &Names, elapsed_ms: i64) -> AnyView {
    let routing = &health.routing;
    if routing.cooldowns.is_empty() && routing.disabled.is_empty() {
        return view! { <Empty message="health.resting_none"/> }.into_any();
    }
    let cooldowns = routing
        .cooldowns
        .iter()
        .map(|c| {
            let left = (c.remaining_ms - elapsed_ms).max(0) / 1000;
            let who = match &c.model {
                Some(model) => format!("{} · {model}", account(names, c.connection_id)),
                None => account(names, c.connection_id),
            };
            let strikes = c.strikes;
            view! {
                <li class="health-item" data-testid="health-cooldown" data-id=c.connection_id.to_string()>
                    <div class="row">
                        <span class="badge badge-warn">{tr("health.cooling")}</span>
                        <strong><span dir="ltr">{who}</span></strong>
                        <span class="spacer"></span>
                        <span class="health-countdown" data-testid="health-countdown">
                            {t_with("health.ends_in", &[("time", format::countdown(left))])}
                        </span>
                    </div>
                    <div class="muted small">
                        {c.reason.clone()}
                        {(strikes > 1).then(|| view! {
                            " · "
                            {move || t_with("health.strikes", &[("n", strikes.to_string())])}
                        })}
                    </div>
                </li>
            }
        })
        .collect_view();
    let disabled = routing
        .disabled
        .iter()
        .map(|d| {
            view! {
                <li class="health-item" data-testid="health-disabled" data-id=d.connection_id.to_string()>
                    <div class="row">
                        <span class="badge badge-bad">{d.state.replace('_', " ")}</span>
                        <strong><span dir="ltr">{account(names, d.connection_id)}</span></strong>
                    </div>
                    <div class="muted small">{d.reason.clone()}</div>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="health-list">{cooldowns}{disabled}</ul> }.into_any()
}

fn cache_view(cache: &CacheStats) -> impl IntoView + use<> {
    let fill = format::fill_ratio(cache.bytes as f64, cache.max_bytes as f64);
    let bar_class = if fill >= 0.95 { "bar warn" } else { "bar" };
    let (tone, key) = if cache.enabled {
        ("ok", "common.enabled")
    } else {
        ("muted", "common.disabled")
    };
    let cells = [
        ("health.cache_hits", format::group_thousands(cache.hits)),
        ("health.cache_misses", format::group_thousands(cache.misses)),
        ("health.cache_hit_rate", format::percent(hit_rate(cache))),
        (
            "health.cache_entries",
            format::group_thousands(cache.entries),
        ),
        (
            "health.cache_replays",
            format::group_thousands(cache.replays),
        ),
        ("health.cache_shared", format::group_thousands(cache.shared)),
    ]
    .into_iter()
    .map(|(label, value)| {
        view! {
            <div class="health-kv">
                <span class="muted small">{tr(label)}</span>
                <strong><span dir="ltr">{value}</span></strong>
            </div>
        }
    })
    .collect_view();
    let size = if cache.max_bytes > 0 {
        format!("{} / {}", bytes(cache.bytes), bytes(cache.max_bytes))
    } else {
        bytes(cache.bytes)
    };
    view! {
        <div class="stack" data-testid="health-cache">
            <div class="row">
                <span class=format!("badge badge-{tone}")>{tr(key)}</span>
                <span class="spacer"></span>
                <span class="muted small"><span dir="ltr">{size}</span></span>
            </div>
            {(cache.max_bytes > 0).then(|| view! {
                <div class=bar_class><span style=format!("width: {:.1}%", fill * 100.0)></span></div>
            })}
            <div class="health-kvs">{cells}</div>
        </div>
    }
}

fn events_view(events: &[HealthEvent]) -> AnyView {
    if events.is_empty() {
        return view! { <Empty message="health.events_none"/> }.into_any();
    }
    // Newest first, whatever order they came in.
    let mut events = events.to_vec();
    events.sort_by_key(|e| std::cmp::Reverse(e.id));
    let items = events
        .into_iter()
        .map(|event| {
            let (key, args, tone) = event_message(&event);
            let kind = event.kind.clone();
            let data_type = event.kind.clone();
            view! {
                <li class="health-event" data-testid="health-event" data-type=data_type>
                    <span class=format!("badge badge-{tone}")>{kind}</span>
                    <span class="health-event-text">{move || t_with(key, &args)}</span>
                    <span class="muted small health-nowrap">
                        <span dir="ltr">{browser::local_datetime(event.ts)}</span>
                    </span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="health-events">{items}</ul> }.into_any()
}

#[component]
pub fn HealthPage() -> impl IntoView {
    let now = RwSignal::new(browser::now_ms());
    // When the shown health was read, so countdowns keep moving between reads.
    let read_at = RwSignal::new(browser::now_ms());
    let health = LocalResource::new(move || async move {
        let reply = api::get::<Health>("/api/health").await;
        read_at.set(browser::now_ms());
        reply
    });
    let names =
        LocalResource::new(|| async { api::get::<ConnectionNames>("/api/connections").await });
    let names_map = move || -> Names {
        names
            .get()
            .and_then(Result::ok)
            .map(|list| {
                list.data
                    .into_iter()
                    .map(|c| {
                        let label = if c.name.is_empty() {
                            format!("{} #{}", c.provider, c.id)
                        } else {
                            format!("{} / {}", c.provider, c.name)
                        };
                        (c.id, label)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    // A one-second clock for the countdowns; every few ticks a fresh read,
    // skipped while the browser tab is in the background.
    let ticks = StoredValue::new(0u32);
    if let Ok(handle) = set_interval_with_handle(
        move || {
            now.set(browser::now_ms());
            ticks.update_value(|n| *n = n.wrapping_add(1));
            if ticks.get_value().is_multiple_of(REFRESH_EVERY_SECS) && !document_hidden() {
                health.refetch();
            }
        },
        Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }

    let busy = RwSignal::new(false);
    let refresh = move |_| {
        health.refetch();
        names.refetch();
    };
    let reset = move |_| {
        if busy.get_untracked() || !browser::confirm(&t_now("health.reset_confirm")) {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let reply: Result<Health, _> =
                api::post("/api/health/reset", &serde_json::json!({})).await;
            match reply {
                Ok(_) => {
                    notify_ok("health.reset_done");
                    health.refetch();
                }
                Err(e) => notify_error(&e),
            }
            busy.set(false);
        });
    };

    view! {
        <Page
            title="health.title"
            subtitle="health.subtitle"
            actions=Box::new(move || view! {
                <button class="btn" data-testid="health-refresh" on:click=refresh>{tr("common.refresh")}</button>
                <button
                    class="btn btn-danger"
                    data-testid="health-reset"
                    disabled=move || busy.get()
                    title=tr("health.reset_hint")
                    on:click=reset
                >
                    {tr("health.reset")}
                </button>
            }.into_any())
        >
            <p class="muted small health-updated" data-testid="health-updated">
                {move || {
                    t_with(
                        "health.updated",
                        &[
                            ("secs", ((now.get() - read_at.get()).max(0) / 1000).to_string()),
                            ("n", REFRESH_EVERY_SECS.to_string()),
                        ],
                    )
                }}
            </p>
            {move || resolved(health.get(), |h: Health| {
                let stats = stats_view(&h);
                let providers = providers_view(&h);
                let cache = cache_view(&h.cache);
                let events = events_view(&h.events);
                let for_breakers = h.clone();
                let warnings = h.warnings.clone();
                view! {
                    {warnings.into_iter().map(|w| view! {
                        <div class="error-box" role="alert" data-testid="health-warning">
                            <strong>{tr("health.warning")}</strong>" "{w}
                        </div>
                    }).collect_view()}
                    {stats}
                    <div class="card">
                        <h2 class="card-title">{tr("health.providers")}</h2>
                        {providers}
                    </div>
                    <div class="grid-2 health-grid">
                        <div class="card">
                            <h2 class="card-title">{tr("health.breakers")}</h2>
                            <div data-testid="health-breakers">
                                {move || breakers_view(&for_breakers, &names_map(), now.get())}
                            </div>
                        </div>
                        <div class="card">
                            <h2 class="card-title">{tr("health.resting")}</h2>
                            <div data-testid="health-resting">
                                {move || resting_view(&h, &names_map(), now.get() - read_at.get())}
                            </div>
                        </div>
                    </div>
                    <div class="grid-2 health-grid">
                        <div class="card">
                            <h2 class="card-title">{tr("health.cache")}</h2>
                            {cache}
                        </div>
                        <div class="card">
                            <h2 class="card-title">{tr("health.events")}</h2>
                            <div data-testid="health-events">{events}</div>
                        </div>
                    </div>
                }
            })}
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Health {
        serde_json::from_str(
            r#"{
            "status": "degraded", "version": "0.1.0", "uptime_secs": 4000,
            "memory": {"rss_bytes": 52428800},
            "providers": [
                {"provider": "openai", "requests": 4, "successes": 3, "success_rate": 0.75,
                 "status_classes": {"2xx": 3, "5xx": 1, "4xx": 0, "499": 0, "other": 0},
                 "latency_ms": {"p50": 150.0, "p95": 290.5, "p99": null},
                 "ttft_ms": {"p50": null, "p95": null, "p99": null},
                 "fallback_hops": 1, "tokens": {"input": 10, "output": 5}, "cost_usd": 0.01}
            ],
            "routing": {
                "breakers": [
                    {"scope": "provider", "provider": "groq", "connection_id": null, "state": "open", "until_ms": 5000, "recent_failures": 5},
                    {"scope": "connection", "provider": "openai", "connection_id": 2, "state": "half-open", "until_ms": null, "recent_failures": 2},
                    {"scope": "connection", "provider": "openai", "connection_id": 3, "state": "closed", "until_ms": null, "recent_failures": 0}
                ],
                "cooldowns": [{"connection_id": 2, "model": null, "until_ms": 9000, "remaining_ms": 4000, "reason": "429", "strikes": 2}],
                "disabled": [{"connection_id": 7, "state": "auth_failed", "reason": "401 from upstream"}],
                "in_flight": {"c:2": 2, "m:openai/gpt-4.1": 2, "c:5": 1}
            },
            "cache": {"enabled": true, "hits": 3, "misses": 1, "entries": 2, "bytes": 2048, "max_bytes": 1048576,
                      "replays": 0, "shared": 1, "in_flight": 0, "idempotency_keys": 0},
            "events": [{"id": 1, "ts": 5, "type": "ProviderRecovered", "provider": "openai", "connection_id": null}]
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn the_health_answer_is_read() {
        let h = sample();
        assert_eq!(h.status, "degraded");
        assert_eq!(h.memory.rss_bytes, Some(52_428_800));
        assert_eq!(h.providers[0].success_rate, Some(0.75));
        assert_eq!(h.providers[0].latency_ms.p99, None);
        assert_eq!(h.routing.cooldowns[0].strikes, 2);
        assert_eq!(h.routing.disabled[0].state, "auth_failed");
        assert!(h.cache.enabled);
        assert_eq!(h.events[0].kind, "ProviderRecovered");
        assert_eq!(h.events[0].fields["provider"], "openai");
    }

    #[test]
    fn breaker_states_have_tones_and_labels() {
        assert_eq!(breaker_tone("closed"), "ok");
        assert_eq!(breaker_tone("half-open"), "warn");
        assert_eq!(breaker_tone("open"), "bad");
        assert_eq!(breaker_tone("weird"), "muted");
        assert_eq!(breaker_label("closed"), "health.breaker_closed");
        assert_eq!(breaker_label("half-open"), "health.breaker_half_open");
        assert_eq!(breaker_label("open"), "health.breaker_open");
        assert_eq!(breaker_label(""), "health.breaker_unknown");
    }

    #[test]
    fn in_flight_counts_each_request_once() {
        assert_eq!(in_flight_total(&sample().routing.in_flight), 3);
        assert_eq!(in_flight_total(&BTreeMap::new()), 0);
    }

    #[test]
    fn providers_merge_metrics_and_breakers() {
        let rows = provider_rows(&sample());
        let names: Vec<&str> = rows.iter().map(|r| r.provider.as_str()).collect();
        assert_eq!(names, ["groq", "openai"]);
        assert_eq!(rows[0].breaker, "open");
        assert_eq!(
            rows[0].metrics, None,
            "a breaker without traffic still shows"
        );
        assert_eq!(
            rows[1].breaker, "closed",
            "only the provider breaker is the provider's state"
        );
        assert_eq!(
            rows[1].tripped_accounts, 1,
            "one account breaker is half-open"
        );
        assert_eq!(rows[1].metrics.as_ref().map(|m| m.requests), Some(4));
    }

    #[test]
    fn sizes_and_uptimes_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(52_428_800), "50 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3 GiB");
        assert_eq!(uptime(0), "0 s");
        assert_eq!(uptime(45), "45 s");
        assert_eq!(uptime(4000), "1 h 6 m");
        assert_eq!(latency(None), "—");
        assert_eq!(latency(Some(290.5)), "291 ms");
        assert_eq!(latency(Some(1500.0)), "1.5 s");
    }

    #[test]
    fn the_hit_rate_needs_lookups() {
        assert_eq!(hit_rate(&sample().cache), Some(0.75));
        assert_eq!(hit_rate(&CacheStats::default()), None);
    }

    #[test]
    fn events_become_messages() {
        let event = |text: &str| serde_json::from_str::<HealthEvent>(text).unwrap();
        let (key, args, tone) = event_message(&event(
            r#"{"id":2,"ts":1,"type":"ProviderDown","provider":"groq","connection_id":4,"until_ms":9,"reason":"5 failures"}"#,
        ));
        assert_eq!((key, tone), ("health.ev_down", "bad"));
        assert_eq!(
            args,
            [
                ("target", "groq #4".to_owned()),
                ("reason", "5 failures".to_owned())
            ]
        );
        let (key, args, _) = event_message(&event(
            r#"{"id":3,"ts":1,"type":"QuotaExhausted","provider":"claude","connection_id":1,"connection":"work","model":null,"until_ms":null,"reason":"weekly"}"#,
        ));
        assert_eq!(key, "health.ev_quota");
        assert_eq!(args[0], ("target", "claude / work".to_owned()));
        let (key, args, tone) = event_message(&event(
            r#"{"id":4,"ts":1,"type":"BudgetExceeded","scope":"global","period":"daily","spent_usd":5.5,"limit_usd":5}"#,
        ));
        assert_eq!((key, tone), ("health.ev_budget", "warn"));
        assert!(args.contains(&("spent", "$5.50".to_owned())));
        assert!(args.contains(&("limit", "$5.00".to_owned())));
        let (key, args, tone) = event_message(&event(
            r#"{"id":5,"ts":1,"type":"ProviderRecovered","provider":"groq","connection_id":null}"#,
        ));
        assert_eq!((key, tone), ("health.ev_recovered", "ok"));
        assert_eq!(args, [("target", "groq".to_owned())]);
        let (key, args, _) = event_message(&event(r#"{"id":6,"ts":1,"type":"Brand new"}"#));
        assert_eq!(key, "health.ev_other");
        assert_eq!(args, [("type", "Brand new".to_owned())]);
    }
}
