//! The overview page (home): the first-start setup wizard, today's numbers, the providers at a glance and the latest requests; and the not-found page.
//!
//! The wizard reads the real state (connections, keys, combos, usage), never a
//! "wizard finished" flag: it disappears once each step is really done.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::Deserialize;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::browser;
use crate::charts::{BarChart, is_blank};
use crate::components::{Empty, ErrorBox, Loading, Page, notify_error, notify_ok, resolved};
use crate::format;
use crate::i18n::{t, t_with, tr};
use crate::pages::analytics::{
    Health, Metric, Summary, daily_points, day_key, latency_text, ltr_isolate, stat_cards,
};
use crate::pages::keys::{ApiKey, KeyList};
use crate::records::{List, UsageRow};

/// A model of a provider, as `/api/providers` lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    pub id: String,
}

/// A provider of the catalog or a user-defined one (`GET /api/providers`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `subscription`, `api-key`, `cheap`, `free` or `local`.
    pub tier: String,
    /// Enabled accounts.
    pub connections: u64,
    pub usable: bool,
    pub models: Vec<ModelInfo>,
}

impl ProviderInfo {
    /// What model names start with (`openai/gpt-4.1`); the id when there is no prefix.
    pub fn prefix_or_id(&self) -> &str {
        if self.prefix.is_empty() {
            &self.id
        } else {
            &self.prefix
        }
    }

    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderList {
    pub data: Vec<ProviderInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
struct Named {
    name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
struct NamedList {
    data: Vec<Named>,
}

/// The newest requests of the log (`GET /api/usage?limit=N`).
pub type UsageList = List<UsageRow>;

/// What the setup wizard looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupFacts {
    pub connections: usize,
    pub keys: Vec<ApiKey>,
    pub combos: usize,
    /// At least one request went through the gateway.
    pub has_usage: bool,
    pub providers: Vec<ProviderInfo>,
}

/// The four steps of the wizard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Provider,
    Key,
    Combo,
    Tool,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Provider, Step::Key, Step::Combo, Step::Tool];

    fn id(self) -> &'static str {
        match self {
            Step::Provider => "provider",
            Step::Key => "key",
            Step::Combo => "combo",
            Step::Tool => "tool",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Step::Provider => "overview.step_provider",
            Step::Key => "overview.step_key",
            Step::Combo => "overview.step_combo",
            Step::Tool => "overview.step_tool",
        }
    }

    fn text(self) -> &'static str {
        match self {
            Step::Provider => "overview.step_provider_text",
            Step::Key => "overview.step_key_text",
            Step::Combo => "overview.step_combo_text",
            Step::Tool => "overview.step_tool_text",
        }
    }
}

/// The key the gateway makes by itself on a first start (the oldest key,
/// named `default`): its value was printed once on the console, so until it
/// is used it does not prove the user holds a key.
fn is_unused_first_start_key(key: &ApiKey, all: &[ApiKey]) -> bool {
    let oldest = all.iter().map(|k| k.id).min();
    oldest == Some(key.id)
        && key.name == "default"
        && key.source == "api"
        && key.request_count == 0
        && key.last_used_at.is_none()
}

/// Whether the user has a live key they can put in a tool.
pub fn has_usable_key(keys: &[ApiKey]) -> bool {
    keys.iter()
        .any(|k| k.is_live() && !is_unused_first_start_key(k, keys))
}

/// Which steps are done; the tool step also when the user said so.
pub fn steps_done(facts: &SetupFacts, tool_marked: bool) -> [bool; 4] {
    [
        facts.connections > 0,
        has_usable_key(&facts.keys),
        facts.combos > 0,
        facts.has_usage || tool_marked,
    ]
}

/// The first step not yet done.
pub fn current_step(done: &[bool; 4]) -> Option<Step> {
    Step::ALL
        .into_iter()
        .zip(done)
        .find(|(_, d)| !**d)
        .map(|(s, _)| s)
}

fn tier_rank(tier: &str) -> u8 {
    match tier {
        "subscription" => 0,
        "api-key" => 1,
        "cheap" => 2,
        "free" => 3,
        "local" => 4,
        _ => 5,
    }
}

/// The entries of a fill-first combo over the connected providers: each
/// one's first model, subscriptions first (already paid for), free last.
pub fn default_combo_models(providers: &[ProviderInfo]) -> Vec<String> {
    let mut connected: Vec<&ProviderInfo> = providers
        .iter()
        .filter(|p| p.connections > 0 && !p.models.is_empty())
        .collect();
    connected.sort_by_key(|p| tier_rank(&p.tier));
    let mut models: Vec<String> = Vec::new();
    for p in connected {
        if let Some(model) = p.models.iter().find(|m| !m.id.trim().is_empty()) {
            let entry = format!("{}/{}", p.prefix_or_id(), model.id);
            if !models.contains(&entry) {
                models.push(entry);
            }
        }
    }
    models
}

/// The name of the one-click combo.
pub const DEFAULT_COMBO: &str = "default";

/// How a provider is doing, at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    /// Answering well.
    Ok,
    /// Some accounts are failing or many requests fail.
    Degraded,
    /// Its breaker is open: traffic goes elsewhere.
    Down,
    /// No request since the gateway started.
    Idle,
}

impl ProviderStatus {
    fn tone(self) -> &'static str {
        match self {
            ProviderStatus::Ok => "ok",
            ProviderStatus::Degraded => "warn",
            ProviderStatus::Down => "bad",
            ProviderStatus::Idle => "muted",
        }
    }

    fn key(self) -> &'static str {
        match self {
            ProviderStatus::Ok => "overview.status_ok",
            ProviderStatus::Degraded => "overview.status_degraded",
            ProviderStatus::Down => "overview.status_down",
            ProviderStatus::Idle => "overview.status_idle",
        }
    }

    fn id(self) -> &'static str {
        match self {
            ProviderStatus::Ok => "ok",
            ProviderStatus::Degraded => "degraded",
            ProviderStatus::Down => "down",
            ProviderStatus::Idle => "idle",
        }
    }
}

/// Below this success rate a provider shows as degraded.
const HEALTHY_SUCCESS: f64 = 0.9;

/// The status of provider `id` from the health report: its own breaker
/// open is down; an account's breaker not closed, or many failures, is degraded.
pub fn provider_status(id: &str, health: &Health) -> ProviderStatus {
    let breakers = health.routing.breakers.iter().filter(|b| b.provider == id);
    let mut degraded = false;
    for b in breakers {
        match (b.scope.as_str(), b.state.as_str()) {
            ("provider", "open") => return ProviderStatus::Down,
            (_, "open" | "half-open") => degraded = true,
            _ => {}
        }
    }
    let metrics = health.providers.iter().find(|p| p.provider == id);
    match metrics {
        _ if degraded => ProviderStatus::Degraded,
        Some(p) if p.requests > 0 => {
            if p.success_rate.unwrap_or(1.0) < HEALTHY_SUCCESS {
                ProviderStatus::Degraded
            } else {
                ProviderStatus::Ok
            }
        }
        _ => ProviderStatus::Idle,
    }
}

/// The providers worth showing: those with an account, then any other that
/// served traffic since the start; as (id, display name).
pub fn glance_providers(providers: &[ProviderInfo], health: &Health) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = providers
        .iter()
        .filter(|p| p.connections > 0)
        .map(|p| (p.id.clone(), p.display_name().to_owned()))
        .collect();
    // Metrics also count `cache` and `unrouted`, which are no providers.
    for p in &health.providers {
        if list.iter().any(|(id, _)| *id == p.provider) {
            continue;
        }
        if let Some(info) = providers.iter().find(|i| i.id == p.provider) {
            list.push((info.id.clone(), info.display_name().to_owned()));
        }
    }
    list
}

const DISMISSED_KEY: &str = "omniroute.onboarding.dismissed";
const TOOL_DONE_KEY: &str = "omniroute.onboarding.tool_done";

async fn load_setup() -> Result<SetupFacts, ApiError> {
    let (connections, keys, combos, usage, providers) = futures::join!(
        api::get::<NamedList>("/api/connections"),
        api::get::<KeyList>("/api/keys"),
        api::get::<NamedList>("/api/combos"),
        api::get::<UsageList>("/api/usage?limit=1"),
        api::get::<ProviderList>("/api/providers"),
    );
    Ok(SetupFacts {
        connections: connections?.data.len(),
        keys: keys?.data,
        combos: combos?.data.len(),
        has_usage: !usage?.data.is_empty(),
        providers: providers?.data,
    })
}

/// The action links and buttons of one step.
fn step_actions(
    step: Step,
    done: bool,
    current: bool,
    facts: &SetupFacts,
    on_default_combo: impl Fn(Vec<String>) + Clone + Send + Sync + 'static,
    tool_marked: RwSignal<bool>,
) -> AnyView {
    let link_class = if current {
        "btn btn-small btn-primary"
    } else {
        "btn btn-small"
    };
    match step {
        Step::Provider => view! {
            <A href="/dashboard/providers" attr:class=link_class attr:data-testid="onboarding-go-providers">
                {tr("overview.go_providers")}
            </A>
        }
        .into_any(),
        Step::Key => view! {
            <A href="/dashboard/keys?new=1" attr:class=link_class attr:data-testid="onboarding-go-keys">
                {tr("overview.go_keys")}
            </A>
        }
        .into_any(),
        Step::Combo => {
            let models = default_combo_models(&facts.providers);
            let quick = (!done).then(|| {
                if models.is_empty() {
                    view! { <span class="muted small">{t("overview.default_combo_needs")}</span> }
                        .into_any()
                } else {
                    let title = models.join(" → ");
                    view! {
                        <button
                            class="btn btn-small"
                            data-testid="onboarding-default-combo"
                            title=title
                            on:click=move |_| on_default_combo(models.clone())
                        >
                            {t("overview.default_combo")}
                        </button>
                    }
                    .into_any()
                }
            });
            view! {
                <A href="/dashboard/combos" attr:class=link_class attr:data-testid="onboarding-go-combos">
                    {tr("overview.go_combos")}
                </A>
                {quick}
            }
            .into_any()
        }
        Step::Tool => {
            let mark = (!done).then(|| {
                view! {
                    <button
                        class="btn btn-small btn-ghost"
                        data-testid="onboarding-tool-done"
                        on:click=move |_| {
                            browser::local_set(TOOL_DONE_KEY, "1");
                            tool_marked.set(true);
                        }
                    >
                        {t("overview.mark_done")}
                    </button>
                }
            });
            view! {
                <A href="/dashboard/tools" attr:class=link_class attr:data-testid="onboarding-go-tools">
                    {tr("overview.go_tools")}
                </A>
                {mark}
            }
            .into_any()
        }
    }
}

/// The four-step wizard.
fn wizard(
    facts: SetupFacts,
    tool_marked: RwSignal<bool>,
    dismissed: RwSignal<bool>,
    on_default_combo: impl Fn(Vec<String>) + Clone + Send + Sync + 'static,
) -> AnyView {
    let done = steps_done(&facts, tool_marked.get());
    if done.iter().all(|d| *d) {
        return ().into_any();
    }
    let current = current_step(&done);
    let finished = done.iter().filter(|d| **d).count();
    let steps = Step::ALL
        .into_iter()
        .zip(done)
        .enumerate()
        .map(|(i, (step, is_done))| {
            let is_current = current == Some(step);
            let class = match (is_done, is_current) {
                (true, _) => "step done",
                (false, true) => "step current",
                _ => "step",
            };
            let marker = if is_done {
                "✓".to_owned()
            } else {
                (i + 1).to_string()
            };
            view! {
                <li class=class data-testid="onboarding-step" data-step=step.id() data-done=is_done.to_string()>
                    <div class="step-head">
                        <span class="step-num" aria-hidden="true">{marker}</span>
                        <strong>{t(step.title())}</strong>
                        {is_done.then(|| view! { <span class="badge badge-ok">{t("overview.done")}</span> })}
                    </div>
                    <p class="muted small step-text">{t(step.text())}</p>
                    <div class="row step-actions">
                        {step_actions(step, is_done, is_current, &facts, on_default_combo.clone(), tool_marked)}
                    </div>
                </li>
            }
        })
        .collect_view();
    let width = format!("width: {}%", finished * 25);
    view! {
        <section class="card onboarding" data-testid="onboarding">
            <div class="onboarding-head">
                <div>
                    <h2>{t("overview.setup_title")}</h2>
                    <p class="muted small">
                        {t_with("overview.setup_progress", &[("done", finished.to_string()), ("total", "4".into())])}
                    </p>
                </div>
                <button
                    class="btn btn-ghost btn-small"
                    data-testid="onboarding-dismiss"
                    on:click=move |_| {
                        browser::local_set(DISMISSED_KEY, "1");
                        dismissed.set(true);
                    }
                >
                    {t("overview.dismiss")}
                </button>
            </div>
            <div class="bar onboarding-bar"><span style=width></span></div>
            <ol class="steps onboarding-steps">{steps}</ol>
        </section>
    }
    .into_any()
}

fn status_badge(status: ProviderStatus) -> impl IntoView {
    view! { <span class=format!("badge badge-{}", status.tone())>{t(status.key())}</span> }
}

/// The providers with an account (or traffic) and how each is doing.
fn providers_glance(providers: Vec<ProviderInfo>, health: Health) -> AnyView {
    let list = glance_providers(&providers, &health);
    if list.is_empty() {
        return view! {
            <Empty message="overview.no_providers">
                <A href="/dashboard/providers" attr:class="btn btn-primary">{tr("overview.go_providers")}</A>
            </Empty>
        }
        .into_any();
    }
    let rows = list
        .into_iter()
        .map(|(id, name)| {
            let status = provider_status(&id, &health);
            let metrics = health
                .providers
                .iter()
                .find(|p| p.provider == id)
                .cloned()
                .unwrap_or_default();
            view! {
                <tr data-testid="provider-status-row" data-name=id.clone() data-status=status.id()>
                    <td>
                        <div>{name}</div>
                        <div class="muted small mono">{id.clone()}</div>
                    </td>
                    <td>{status_badge(status)}</td>
                    <td class="num">{format::group_thousands(metrics.requests)}</td>
                    <td class="num">{format::percent(metrics.success_rate)}</td>
                    <td class="num ltr">{latency_text(metrics.latency_ms.p50)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="provider-status">
                <thead>
                    <tr>
                        <th>{t("overview.col_provider")}</th>
                        <th>{t("overview.col_status")}</th>
                        <th class="num">{t("overview.col_requests")}</th>
                        <th class="num">{t("overview.col_success")}</th>
                        <th class="num">{t("overview.col_p50")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="muted small">{t("overview.since_start")}</p>
    }
    .into_any()
}

fn status_tone(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        400..=499 => "warn",
        _ => "bad",
    }
}

/// When a request happened, short: the time for today, else the day and the time
/// (`datetime` is `YYYY-MM-DD HH:MM:SS` in the browser's zone).
pub fn short_time(ts_ms: i64, now_ms: i64, offset_minutes: i64) -> String {
    let when = format::datetime(ts_ms, offset_minutes);
    let today = format::datetime(now_ms, offset_minutes);
    if when.get(..10) == today.get(..10) {
        when.get(11..).unwrap_or(&when).to_owned()
    } else {
        when.get(5..16).unwrap_or(&when).to_owned()
    }
}

/// The latest requests.
fn recent_table(rows: Vec<UsageRow>) -> AnyView {
    if rows.is_empty() {
        return view! { <Empty message="overview.no_requests"/> }.into_any();
    }
    let now = browser::now_ms();
    let offset = browser::utc_offset_minutes();
    let rows = rows
        .into_iter()
        .map(|r| {
            let model = r.upstream_model.clone().unwrap_or_else(|| r.requested_model.clone());
            let provider = match (&r.provider, &r.served_from) {
                (_, Some(from)) => from.clone(),
                (Some(p), None) => p.clone(),
                (None, None) => "—".into(),
            };
            let title = r.error.clone().unwrap_or_else(|| browser::local_datetime(r.ts));
            view! {
                <tr data-testid="recent-row" data-id=r.id.to_string() title=title>
                    <td class="nowrap small ltr">{short_time(r.ts, now, offset)}</td>
                    <td class="recent-model">
                        <div class="mono small">{model}</div>
                        <div class="muted small">{provider}</div>
                    </td>
                    <td><span class=format!("badge badge-{}", status_tone(r.status))>{r.status}</span></td>
                    <td class="num nowrap ltr">{format::millis(r.latency_ms)}</td>
                    <td class="num">{format::count(r.input_tokens + r.output_tokens)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="recent-requests">
                <thead>
                    <tr>
                        <th>{t("overview.col_time")}</th>
                        <th>{t("overview.col_model")}</th>
                        <th>{t("overview.col_status")}</th>
                        <th class="num">{t("overview.col_latency")}</th>
                        <th class="num">{t("overview.col_tokens")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Requests per day of the current month.
fn month_chart(summary: &Summary) -> AnyView {
    let points = daily_points(
        &summary.by_day,
        &summary.month,
        Metric::Requests,
        &day_key(browser::now_ms()),
    );
    if is_blank(&points) {
        return view! { <p class="chart-empty muted">{t("overview.no_requests")}</p> }.into_any();
    }
    let label = t_with(
        "overview.month_chart",
        &[("month", ltr_isolate(&summary.month))],
    );
    view! { <BarChart points=points format=Metric::Requests.format() integer=true label=label testid="overview-chart"/> }
        .into_any()
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let setup = LocalResource::new(load_setup);
    let summary = LocalResource::new(|| async { api::get::<Summary>("/api/usage/summary").await });
    let health = LocalResource::new(|| async { api::get::<Health>("/api/health").await });
    let providers =
        LocalResource::new(|| async { api::get::<ProviderList>("/api/providers").await });
    let recent = LocalResource::new(|| async { api::get::<UsageList>("/api/usage?limit=5").await });
    let dismissed = RwSignal::new(browser::local_get(DISMISSED_KEY).as_deref() == Some("1"));
    let tool_marked = RwSignal::new(browser::local_get(TOOL_DONE_KEY).as_deref() == Some("1"));

    let create_default_combo = move |models: Vec<String>| {
        leptos::task::spawn_local(async move {
            let body = json!({"name": DEFAULT_COMBO, "strategy": "fill-first", "models": models});
            let reply: Result<serde_json::Value, ApiError> = api::post("/api/combos", &body).await;
            match reply {
                Ok(_) => {
                    notify_ok("overview.default_combo_ok");
                    setup.refetch();
                }
                Err(e) => notify_error(&e),
            }
        });
    };

    let refresh = move |_| {
        setup.refetch();
        summary.refetch();
        health.refetch();
        providers.refetch();
        recent.refetch();
    };

    // Reopening the guide is offered only while setup is unfinished.
    let unfinished = move || match setup.get() {
        Some(Ok(facts)) => !steps_done(&facts, tool_marked.get()).iter().all(|d| *d),
        _ => false,
    };
    let actions = Box::new(move || {
        view! {
            {move || (dismissed.get() && unfinished()).then(|| view! {
                <button
                    class="btn"
                    data-testid="onboarding-show"
                    on:click=move |_| {
                        browser::local_set(DISMISSED_KEY, "0");
                        dismissed.set(false);
                    }
                >
                    {tr("overview.show_setup")}
                </button>
            })}
            <button class="btn" data-testid="overview-refresh" on:click=refresh>{tr("common.refresh")}</button>
        }
        .into_any()
    });

    view! {
        <Page title="overview.title" subtitle="overview.subtitle" actions=actions>
            {move || {
                if dismissed.get() {
                    return ().into_any();
                }
                match setup.get() {
                    None => ().into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    Some(Ok(facts)) => wizard(facts, tool_marked, dismissed, create_default_combo),
                }
            }}
            <section class="overview-today" data-testid="overview-today">
                <h2>{tr("overview.today")}</h2>
                {move || resolved(summary.get(), |s: Summary| {
                    stat_cards(
                        s.day(&day_key(browser::now_ms())),
                        "overview.requests_today",
                        "overview.tokens_today",
                        "overview.cost_today",
                        "overview.success_today",
                    )
                })}
            </section>
            <div class="grid-2 overview-grid">
                <div class="card">
                    <div class="ov-card-head">
                        <h2 class="card-title">{tr("overview.providers")}</h2>
                        <A href="/dashboard/health" attr:class="small">{tr("overview.open_health")}</A>
                    </div>
                    {move || match (providers.get(), health.get()) {
                        (Some(Ok(p)), Some(Ok(h))) => providers_glance(p.data, h),
                        (Some(Err(e)), _) | (_, Some(Err(e))) => view! { <ErrorBox error=e/> }.into_any(),
                        _ => view! { <Loading/> }.into_any(),
                    }}
                </div>
                <div class="card">
                    <div class="ov-card-head">
                        <h2 class="card-title">{tr("overview.recent")}</h2>
                        <A href="/dashboard/logs" attr:class="small">{tr("overview.open_logs")}</A>
                    </div>
                    {move || resolved(recent.get(), |list: UsageList| recent_table(list.data))}
                </div>
            </div>
            <div class="card">
                <div class="ov-card-head">
                    <h2 class="card-title">{tr("overview.this_month")}</h2>
                    <A href="/dashboard/analytics" attr:class="small">{tr("overview.open_analytics")}</A>
                </div>
                {move || resolved(summary.get(), |s: Summary| month_chart(&s))}
            </div>
        </Page>
    }
}

/// An address under /dashboard that is no page.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <div class="empty" data-testid="not-found">
            <h1>{tr("common.not_found")}</h1>
            <a href="/dashboard/">{tr("common.nav_overview")}</a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::analytics::{Breaker, ProviderHealth, Routing};

    fn key(id: i64, name: &str, requests: i64, revoked: bool) -> ApiKey {
        ApiKey {
            id,
            name: name.into(),
            source: "api".into(),
            request_count: requests,
            revoked_at: revoked.then_some(1),
            ..ApiKey::default()
        }
    }

    fn provider(id: &str, tier: &str, connections: u64, models: &[&str]) -> ProviderInfo {
        ProviderInfo {
            id: id.into(),
            name: id.to_uppercase(),
            prefix: id.into(),
            tier: tier.into(),
            connections,
            usable: connections > 0,
            models: models
                .iter()
                .map(|m| ModelInfo { id: (*m).into() })
                .collect(),
        }
    }

    #[test]
    fn the_unused_first_start_key_does_not_count() {
        assert!(!has_usable_key(&[]));
        assert!(!has_usable_key(&[key(1, "default", 0, false)]));
        // Used from the console print, it counts.
        assert!(has_usable_key(&[key(1, "default", 3, false)]));
        // A key the user made counts; a revoked one does not.
        assert!(has_usable_key(&[
            key(1, "default", 0, false),
            key(2, "laptop", 0, false)
        ]));
        assert!(!has_usable_key(&[
            key(1, "default", 0, false),
            key(2, "old", 0, true)
        ]));
        // A user key named "default" made later is theirs.
        assert!(has_usable_key(&[
            key(1, "first", 0, true),
            key(2, "default", 0, false)
        ]));
    }

    #[test]
    fn steps_follow_the_real_state() {
        let mut facts = SetupFacts::default();
        assert_eq!(steps_done(&facts, false), [false; 4]);
        assert_eq!(
            current_step(&steps_done(&facts, false)),
            Some(Step::Provider)
        );
        facts.connections = 1;
        facts.keys = vec![key(1, "default", 0, false), key(2, "mine", 0, false)];
        assert_eq!(steps_done(&facts, false), [true, true, false, false]);
        assert_eq!(current_step(&steps_done(&facts, false)), Some(Step::Combo));
        facts.combos = 1;
        assert_eq!(steps_done(&facts, true), [true; 4]);
        assert_eq!(current_step(&[true; 4]), None);
        facts.has_usage = true;
        assert_eq!(steps_done(&facts, false), [true; 4]);
    }

    #[test]
    fn the_default_combo_takes_each_connected_providers_first_model_by_tier() {
        let providers = vec![
            provider("groq", "free", 1, &["llama-3.3-70b", "other"]),
            provider("openai", "api-key", 2, &["gpt-4.1"]),
            provider("anthropic", "api-key", 0, &["claude-sonnet-4-5"]),
            provider("claude", "subscription", 1, &["claude-opus-4"]),
            provider("custom", "api-key", 1, &[]),
        ];
        assert_eq!(
            default_combo_models(&providers),
            vec![
                "claude/claude-opus-4",
                "openai/gpt-4.1",
                "groq/llama-3.3-70b"
            ]
        );
        assert!(default_combo_models(&providers[2..3]).is_empty());
        let mut no_prefix = provider("local", "local", 1, &["qwen"]);
        no_prefix.prefix.clear();
        assert_eq!(default_combo_models(&[no_prefix]), vec!["local/qwen"]);
    }

    fn health(breakers: Vec<Breaker>, providers: Vec<ProviderHealth>) -> Health {
        Health {
            status: "ok".into(),
            uptime_secs: 10,
            providers,
            routing: Routing { breakers },
        }
    }

    fn metrics(id: &str, requests: u64, rate: f64) -> ProviderHealth {
        ProviderHealth {
            provider: id.into(),
            requests,
            success_rate: (requests > 0).then_some(rate),
            ..ProviderHealth::default()
        }
    }

    fn breaker(scope: &str, provider: &str, state: &str) -> Breaker {
        Breaker {
            scope: scope.into(),
            provider: provider.into(),
            state: state.into(),
            ..Breaker::default()
        }
    }

    #[test]
    fn provider_status_reads_breakers_then_success() {
        let h = health(
            vec![
                breaker("provider", "a", "open"),
                breaker("connection", "b", "open"),
                breaker("provider", "c", "closed"),
            ],
            vec![
                metrics("a", 5, 1.0),
                metrics("c", 10, 0.95),
                metrics("d", 10, 0.5),
            ],
        );
        assert_eq!(provider_status("a", &h), ProviderStatus::Down);
        assert_eq!(provider_status("b", &h), ProviderStatus::Degraded);
        assert_eq!(provider_status("c", &h), ProviderStatus::Ok);
        assert_eq!(provider_status("d", &h), ProviderStatus::Degraded);
        assert_eq!(provider_status("e", &h), ProviderStatus::Idle);
    }

    #[test]
    fn the_glance_lists_connected_providers_then_others_with_traffic() {
        let providers = vec![
            provider("openai", "api-key", 1, &[]),
            provider("groq", "free", 0, &[]),
            provider("mistral", "api-key", 0, &[]),
        ];
        let h = health(
            Vec::new(),
            vec![
                metrics("groq", 3, 1.0),
                metrics("openai", 1, 1.0),
                metrics("unrouted", 2, 0.0),
            ],
        );
        assert_eq!(
            glance_providers(&providers, &h),
            vec![
                ("openai".to_owned(), "OPENAI".to_owned()),
                ("groq".to_owned(), "GROQ".to_owned())
            ]
        );
    }

    #[test]
    fn usage_rows_read_from_the_log_json() {
        let json = r#"{"data":[{"id":9,"ts":1000,"api_key_id":1,"inbound_format":"openai",
            "requested_model":"default","provider":"openai","connection_id":1,"upstream_model":"gpt-4.1",
            "stream":false,"input_tokens":10,"output_tokens":5,"cached_tokens":0,"reasoning_tokens":0,
            "cost":0.001,"latency_ms":321,"ttft_ms":null,"status":200,"error":null,"hops":[],
            "served_from":null,"tier":"api-key"}],"next_before_id":null}"#;
        let list: UsageList = serde_json::from_str(json).unwrap();
        assert_eq!(list.data[0].upstream_model.as_deref(), Some("gpt-4.1"));
        assert_eq!(list.data[0].latency_ms, 321);
        assert_eq!(status_tone(200), "ok");
        assert_eq!(status_tone(429), "warn");
        assert_eq!(status_tone(502), "bad");
    }

    #[test]
    fn recent_times_are_short() {
        // 2026-11-28T18:30:05Z
        let now = 1_795_890_605_000;
        assert_eq!(short_time(now - 60_000, now, 0), "18:29:05");
        assert_eq!(short_time(now - 86_400_000, now, 0), "11-27 18:30");
        // Seven hours east it is already the 29th for both.
        assert_eq!(short_time(now - 60_000, now, 420), "01:29:05");
        assert_eq!(short_time(now - 3_600_000, now, 420), "00:30:05");
    }
}
