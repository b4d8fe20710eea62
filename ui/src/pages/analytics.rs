//! The analytics page: requests, tokens, cost and success rate for today and a chosen month, charts per day, model and provider, and latency percentiles per provider.
//!
//! The report types here (`Summary`, `Health`) are also read by the overview page.

use leptos::prelude::*;
use serde::Deserialize;

use crate::api;
use crate::browser;
use crate::charts::{AreaChart, BarChart, Point, RankChart, is_blank};
use crate::components::{Empty, Page, StatCard, resolved};
use crate::format;
use crate::i18n::{t, t_with, tr};
pub use crate::records::{Percentiles, ProviderHealth};

const DAY_MS: i64 = 86_400_000;

/// Sums over a set of requests: the whole month, one day, one provider or one model
/// (`/api/usage/summary`; the grouping field is set on the rows of each list).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Bucket {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tier: Option<String>,
    /// `YYYY-MM-DD` (UTC) in `by_day`.
    pub date: Option<String>,
    pub requests: u64,
    /// Requests whose status was not 2xx.
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl Bucket {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// The share of requests that succeeded; `None` without requests.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| self.requests.saturating_sub(self.errors) as f64 / self.requests as f64)
    }
}

/// `GET /api/usage/summary?month=YYYY-MM`: one month's report (UTC).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub month: String,
    pub total: Bucket,
    /// Most expensive first.
    pub by_provider: Vec<Bucket>,
    pub by_tier: Vec<Bucket>,
    /// The top models, most expensive first.
    pub by_model: Vec<Bucket>,
    /// Days with at least one request, in order.
    pub by_day: Vec<Bucket>,
}

impl Summary {
    /// The totals of day `date` (`YYYY-MM-DD`); zeros when nothing happened that day.
    pub fn day(&self, date: &str) -> Bucket {
        self.by_day
            .iter()
            .find(|d| d.date.as_deref() == Some(date))
            .cloned()
            .unwrap_or_default()
    }
}

/// A circuit breaker that is not closed, or was recently used.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Breaker {
    /// `provider` or `connection`.
    pub scope: String,
    pub provider: String,
    pub connection_id: Option<i64>,
    /// `closed`, `open` or `half-open`.
    pub state: String,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Routing {
    pub breakers: Vec<Breaker>,
}

/// `GET /api/health`, the parts the overview and analytics pages show.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    pub uptime_secs: u64,
    pub providers: Vec<ProviderHealth>,
    pub routing: Routing,
}

/// What the charts measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Requests,
    Tokens,
    Cost,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Requests, Metric::Tokens, Metric::Cost];

    pub fn value(self, bucket: &Bucket) -> f64 {
        match self {
            Metric::Requests => bucket.requests as f64,
            Metric::Tokens => bucket.tokens() as f64,
            Metric::Cost => bucket.cost_usd,
        }
    }

    /// How a value of this metric is written.
    pub fn format(self) -> fn(f64) -> String {
        match self {
            Metric::Requests | Metric::Tokens => count_text,
            Metric::Cost => format::usd,
        }
    }

    /// Counts have whole-number axes.
    pub fn integer(self) -> bool {
        self != Metric::Cost
    }

    fn key(self) -> &'static str {
        match self {
            Metric::Requests => "analytics.metric_requests",
            Metric::Tokens => "analytics.metric_tokens",
            Metric::Cost => "analytics.metric_cost",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::Tokens => "tokens",
            Metric::Cost => "cost",
        }
    }
}

/// A count on a chart axis or tooltip: `950`, `1.2k`.
pub fn count_text(value: f64) -> String {
    format::count(value.max(0.0).round() as u64)
}

/// `YYYY-MM-DD` of the UTC day holding `ts_ms` (the report's days are UTC).
pub fn day_key(ts_ms: i64) -> String {
    let (y, m, d) = format::civil_from_days(ts_ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` of the UTC month holding `ts_ms`.
pub fn month_key(ts_ms: i64) -> String {
    let (y, m, _) = format::civil_from_days(ts_ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}")
}

/// `YYYY-MM` as (year, month).
pub fn parse_month(text: &str) -> Option<(i64, u32)> {
    let (year, month) = text.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let month: u32 = month.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The month of `ts_ms` and the `count - 1` before it, newest first.
pub fn recent_months(now_ms: i64, count: usize) -> Vec<String> {
    let Some((mut year, mut month)) = parse_month(&month_key(now_ms)) else {
        return Vec::new();
    };
    let mut months = Vec::with_capacity(count);
    for _ in 0..count {
        months.push(format!("{year:04}-{month:02}"));
        if month == 1 {
            year -= 1;
            month = 12;
        } else {
            month -= 1;
        }
    }
    months
}

/// One point per day of `month` (`YYYY-MM`), zero on days without requests,
/// up to `today` (`YYYY-MM-DD`) when the month is the current one: days to
/// come are not zeros.
pub fn daily_points(days: &[Bucket], month: &str, metric: Metric, today: &str) -> Vec<Point> {
    let Some((year, m)) = parse_month(month) else {
        return Vec::new();
    };
    (1..=days_in_month(year, m))
        .map(|day| format!("{month}-{day:02}"))
        .take_while(|date| !(date.as_str() > today && today.starts_with(month)))
        .map(|date| {
            let value = days
                .iter()
                .find(|b| b.date.as_deref() == Some(date.as_str()))
                .map_or(0.0, |b| metric.value(b));
            let label = date
                .get(8..)
                .unwrap_or("")
                .trim_start_matches('0')
                .to_owned();
            Point::with_hint(label, date, value)
        })
        .collect()
}

/// `text` isolated as a left-to-right run (`2026-11`, `3 h 20 m`), so an
/// Arabic sentence around it does not reorder its parts.
pub fn ltr_isolate(text: &str) -> String {
    format!("\u{2066}{text}\u{2069}")
}

/// The `limit` largest rows by `metric`, biggest first, leaving out zeros.
pub fn ranking(
    rows: &[Bucket],
    metric: Metric,
    limit: usize,
    name: impl Fn(&Bucket) -> (String, String),
) -> Vec<Point> {
    let mut ranked: Vec<(f64, &Bucket)> = rows
        .iter()
        .map(|b| (metric.value(b), b))
        .filter(|(v, _)| *v > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked
        .into_iter()
        .take(limit)
        .map(|(value, bucket)| {
            let (label, hint) = name(bucket);
            Point::with_hint(label, hint, value)
        })
        .collect()
}

/// A model row's chart label (the model) and tooltip name (`provider/model`).
pub fn model_name(bucket: &Bucket) -> (String, String) {
    let model = bucket.model.clone().unwrap_or_default();
    let hint = match &bucket.provider {
        Some(p) => format!("{p}/{model}"),
        None => model.clone(),
    };
    (model, hint)
}

/// The message key naming a metrics bucket that is no provider: requests the
/// gateway answered itself (`cache`) or that never reached one (`unrouted`).
pub fn pseudo_provider_key(name: &str) -> Option<&'static str> {
    match name {
        "cache" => Some("analytics.provider_cache"),
        "unrouted" => Some("analytics.provider_unrouted"),
        _ => None,
    }
}

/// Real providers first, busiest first; the pseudo ones last.
pub fn sort_latency_rows(rows: &mut [ProviderHealth]) {
    rows.sort_by_key(|p| {
        (
            pseudo_provider_key(&p.provider).is_some(),
            std::cmp::Reverse(p.requests),
        )
    });
}

/// A latency in milliseconds, `—` when there is none.
pub fn latency_text(ms: Option<f64>) -> String {
    match ms {
        Some(v) if v.is_finite() && v >= 0.0 => format::millis(v.round() as u64),
        _ => "—".into(),
    }
}

/// An uptime from seconds: `45 s`, `12 m`, `3 h 20 m`, `2 d 4 h`.
pub fn uptime_text(secs: u64) -> String {
    if secs < 60 {
        // The countdown writes zero as "now", which reads wrong for an uptime.
        return format!("{secs} s");
    }
    format::countdown(secs as i64)
}

/// The four stat cards of one period (`requests`… are the message keys of their labels).
pub fn stat_cards(
    bucket: Bucket,
    requests: &'static str,
    tokens: &'static str,
    cost: &'static str,
    success: &'static str,
) -> impl IntoView {
    let errors = bucket.errors;
    let (input, output) = (bucket.input_tokens, bucket.output_tokens);
    view! {
        <div class="grid stat-grid">
            <StatCard
                label=requests
                value=format::group_thousands(bucket.requests)
                hint=Signal::derive(move || t_with("analytics.errors_hint", &[("n", format::group_thousands(errors))]))
            />
            <StatCard
                label=tokens
                value=format::count(bucket.tokens())
                hint=Signal::derive(move || t_with(
                    "analytics.tokens_hint",
                    &[("input", format::count(input)), ("output", format::count(output))],
                ))
            />
            <StatCard label=cost value=format::usd(bucket.cost_usd)/>
            <StatCard label=success value=format::percent(bucket.success_rate())/>
        </div>
    }
}

/// A chart, or a line saying there is nothing to draw.
fn chart_or_empty(points: Vec<Point>, view: impl FnOnce(Vec<Point>) -> AnyView) -> AnyView {
    if is_blank(&points) {
        view! { <p class="chart-empty muted">{t("analytics.no_data")}</p> }.into_any()
    } else {
        view(points)
    }
}

/// The per-day chart of `metric` over `summary`'s month.
fn daily_chart(summary: &Summary, metric: Metric) -> AnyView {
    let points = daily_points(
        &summary.by_day,
        &summary.month,
        metric,
        &day_key(browser::now_ms()),
    );
    let label = t_with(
        "analytics.chart_daily",
        &[
            ("metric", t(metric.key())),
            ("month", ltr_isolate(&summary.month)),
        ],
    );
    chart_or_empty(points, move |points| {
        if metric == Metric::Requests {
            view! { <BarChart points=points format=metric.format() integer=true label=label testid="chart-daily"/> }
                .into_any()
        } else {
            view! { <AreaChart points=points format=metric.format() integer=metric.integer() label=label testid="chart-daily"/> }
                .into_any()
        }
    })
}

fn model_chart(summary: &Summary, metric: Metric) -> AnyView {
    let points = ranking(&summary.by_model, metric, 10, model_name);
    let label = t_with("analytics.chart_models", &[("metric", t(metric.key()))]);
    chart_or_empty(points, move |points| {
        view! { <RankChart points=points format=metric.format() label=label testid="chart-models"/> }
            .into_any()
    })
}

fn provider_chart(summary: &Summary, metric: Metric) -> AnyView {
    let points = ranking(&summary.by_provider, metric, 10, |b| {
        let name = b
            .provider
            .clone()
            .unwrap_or_else(|| t("analytics.no_provider"));
        (name.clone(), name)
    });
    let label = t_with("analytics.chart_providers", &[("metric", t(metric.key()))]);
    chart_or_empty(points, move |points| {
        view! { <RankChart points=points format=metric.format() label=label testid="chart-providers"/> }
            .into_any()
    })
}

/// Every model of the month with its numbers.
fn model_table(summary: &Summary) -> AnyView {
    if summary.by_model.is_empty() {
        return view! { <Empty message="analytics.empty"/> }.into_any();
    }
    let rows = summary
        .by_model
        .iter()
        .map(|b| {
            let model = b.model.clone().unwrap_or_default();
            let name = model.clone();
            view! {
                <tr data-testid="model-row" data-name=name>
                    <td class="mono">{model}</td>
                    <td>{b.provider.clone().unwrap_or_else(|| "—".into())}</td>
                    <td class="num">{format::group_thousands(b.requests)}</td>
                    <td class="num">{format::count(b.input_tokens)}</td>
                    <td class="num">{format::count(b.output_tokens)}</td>
                    <td class="num">{format::usd(b.cost_usd)}</td>
                    <td class="num">{format::percent(b.success_rate())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="model-table">
                <thead>
                    <tr>
                        <th>{t("analytics.col_model")}</th>
                        <th>{t("analytics.col_provider")}</th>
                        <th class="num">{t("analytics.col_requests")}</th>
                        <th class="num">{t("analytics.col_input")}</th>
                        <th class="num">{t("analytics.col_output")}</th>
                        <th class="num">{t("analytics.col_cost")}</th>
                        <th class="num">{t("analytics.col_success")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Latency percentiles per provider since the gateway started.
fn latency_table(health: Health) -> AnyView {
    let mut providers = health.providers;
    sort_latency_rows(&mut providers);
    let hint = t_with(
        "analytics.latency_since",
        &[("uptime", ltr_isolate(&uptime_text(health.uptime_secs)))],
    );
    if providers.is_empty() {
        return view! {
            <p class="muted small">{hint}</p>
            <Empty message="analytics.latency_empty"/>
        }
        .into_any();
    }
    let rows = providers
        .into_iter()
        .map(|p| {
            let pseudo = pseudo_provider_key(&p.provider);
            let name = pseudo.map_or_else(|| p.provider.clone(), t);
            view! {
                <tr
                    data-testid="latency-row"
                    data-name=p.provider.clone()
                    class=if pseudo.is_some() { "pseudo" } else { "" }
                >
                    <td>{name}</td>
                    <td class="num">{format::group_thousands(p.requests)}</td>
                    <td class="num">{format::percent(p.success_rate)}</td>
                    <td class="num ltr">{latency_text(p.latency_ms.p50)}</td>
                    <td class="num ltr">{latency_text(p.latency_ms.p95)}</td>
                    <td class="num ltr">{latency_text(p.latency_ms.p99)}</td>
                    <td class="num ltr">{latency_text(p.ttft_ms.p50)}</td>
                    <td class="num ltr">{latency_text(p.ttft_ms.p95)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="muted small">{hint}</p>
        <div class="table-wrap">
            <table data-testid="latency-table">
                <thead>
                    <tr>
                        <th>{t("analytics.col_provider")}</th>
                        <th class="num">{t("analytics.col_requests")}</th>
                        <th class="num">{t("analytics.col_success")}</th>
                        <th class="num">"p50"</th>
                        <th class="num">"p95"</th>
                        <th class="num">"p99"</th>
                        <th class="num">{t("analytics.col_ttft_p50")}</th>
                        <th class="num">{t("analytics.col_ttft_p95")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let now = browser::now_ms();
    let months = recent_months(now, 12);
    let current_month = month_key(now);
    let month = RwSignal::new(current_month.clone());
    let metric = RwSignal::new(Metric::Requests);

    let summary = LocalResource::new(move || {
        let m = month.get();
        async move { api::get::<Summary>(&api::with_query("/api/usage/summary", &[("month", m)])).await }
    });
    // Today always belongs to the current month, whichever month is shown.
    let current = LocalResource::new(|| async { api::get::<Summary>("/api/usage/summary").await });
    let health = LocalResource::new(|| async { api::get::<Health>("/api/health").await });

    let refresh = move |_| {
        summary.refetch();
        current.refetch();
        health.refetch();
    };
    let month_options = months
        .into_iter()
        .map(|m| {
            let value = m.clone();
            view! { <option value=value.clone() selected=move || month.get() == value>{m}</option> }
        })
        .collect_view();

    view! {
        <Page title="analytics.title" subtitle="analytics.subtitle" actions=Box::new(move || view! {
            <label class="row month-picker">
                <span class="muted small">{tr("analytics.month")}</span>
                <select data-testid="analytics-month" on:change=move |ev| month.set(event_target_value(&ev))>
                    {month_options}
                </select>
            </label>
            <button class="btn" data-testid="analytics-refresh" on:click=refresh>{tr("common.refresh")}</button>
        }.into_any())>
            <section class="analytics-section" data-testid="analytics-today">
                <h2>{tr("analytics.today")}</h2>
                {move || resolved(current.get(), |s: Summary| {
                    stat_cards(
                        s.day(&day_key(browser::now_ms())),
                        "analytics.requests_today",
                        "analytics.tokens_today",
                        "analytics.cost_today",
                        "analytics.success_today",
                    )
                })}
            </section>
            <section class="analytics-section" data-testid="analytics-month-totals">
                <h2>{move || t_with("analytics.month_heading", &[("month", ltr_isolate(&month.get()))])}</h2>
                {move || resolved(summary.get(), |s: Summary| {
                    stat_cards(
                        s.total,
                        "analytics.requests_month",
                        "analytics.tokens_month",
                        "analytics.cost_month",
                        "analytics.success_month",
                    )
                })}
            </section>
            <div class="card">
                <div class="chart-head">
                    <h2 class="card-title">{tr("analytics.per_day")}</h2>
                    <div class="tabs metric-tabs" role="tablist">
                        {Metric::ALL
                            .into_iter()
                            .map(|m| view! {
                                <button
                                    class="tab"
                                    role="tab"
                                    data-testid=format!("metric-{}", m.id())
                                    aria-selected=move || (metric.get() == m).to_string()
                                    on:click=move |_| metric.set(m)
                                >
                                    {tr(m.key())}
                                </button>
                            })
                            .collect_view()}
                    </div>
                </div>
                {move || {
                    let m = metric.get();
                    resolved(summary.get(), move |s: Summary| daily_chart(&s, m))
                }}
                <p class="muted small">{tr("analytics.utc_note")}</p>
            </div>
            <div class="grid-2">
                <div class="card">
                    <h2 class="card-title">
                        {move || t_with("analytics.by_model", &[("metric", t(metric.get().key()))])}
                    </h2>
                    {move || {
                        let m = metric.get();
                        resolved(summary.get(), move |s: Summary| model_chart(&s, m))
                    }}
                </div>
                <div class="card">
                    <h2 class="card-title">
                        {move || t_with("analytics.by_provider", &[("metric", t(metric.get().key()))])}
                    </h2>
                    {move || {
                        let m = metric.get();
                        resolved(summary.get(), move |s: Summary| provider_chart(&s, m))
                    }}
                </div>
            </div>
            <div class="card">
                <h2 class="card-title">{tr("analytics.models_table")}</h2>
                {move || resolved(summary.get(), |s: Summary| model_table(&s))}
            </div>
            <div class="card">
                <h2 class="card-title">{tr("analytics.latency")}</h2>
                {move || resolved(health.get(), latency_table)}
            </div>
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, requests: u64, cost: f64) -> Bucket {
        Bucket {
            date: Some(date.into()),
            requests,
            input_tokens: requests * 10,
            output_tokens: requests * 5,
            cost_usd: cost,
            ..Bucket::default()
        }
    }

    #[test]
    fn the_summary_json_reads_with_flattened_totals() {
        let json = r#"{"month":"2026-11","from_ms":1,"until_ms":2,
            "total":{"requests":4,"errors":1,"input_tokens":100,"output_tokens":50,"cost_usd":0.25},
            "by_provider":[{"provider":"openai","requests":4,"errors":1,"input_tokens":100,"output_tokens":50,"cost_usd":0.25}],
            "by_tier":[{"tier":null,"requests":4,"errors":1,"input_tokens":100,"output_tokens":50,"cost_usd":0.25}],
            "by_model":[{"provider":"openai","model":"gpt-4.1","requests":4,"errors":1,"input_tokens":100,"output_tokens":50,"cost_usd":0.25}],
            "by_day":[{"date":"2026-11-28","requests":4,"errors":1,"input_tokens":100,"output_tokens":50,"cost_usd":0.25}],
            "budgets":[],"a_future_field":true}"#;
        let s: Summary = serde_json::from_str(json).unwrap();
        assert_eq!(s.month, "2026-11");
        assert_eq!(s.total.tokens(), 150);
        assert_eq!(s.total.success_rate(), Some(0.75));
        assert_eq!(s.by_model[0].model.as_deref(), Some("gpt-4.1"));
        assert_eq!(s.day("2026-11-28").requests, 4);
        assert_eq!(s.day("2026-11-27"), Bucket::default());
        assert_eq!(Bucket::default().success_rate(), None);
    }

    #[test]
    fn the_health_json_reads_with_missing_percentiles() {
        let json = r#"{"status":"ok","uptime_secs":42,"memory":{"rss_bytes":null},
            "providers":[{"provider":"openai","requests":4,"successes":3,"success_rate":0.75,
              "status_classes":{"2xx":3},"latency_ms":{"p50":150.0,"p95":290.5,"p99":null},
              "ttft_ms":{"p50":null,"p95":null,"p99":null},"fallback_hops":0,
              "tokens":{"input":1,"output":2},"cost_usd":0.1}],
            "routing":{"breakers":[{"scope":"provider","provider":"b","connection_id":null,"state":"open","until_ms":99,"recent_failures":5}],"cooldowns":[]},
            "cache":{},"events":[]}"#;
        let h: Health = serde_json::from_str(json).unwrap();
        assert_eq!(h.providers[0].latency_ms.p95, Some(290.5));
        assert_eq!(h.providers[0].latency_ms.p99, None);
        assert_eq!(h.routing.breakers[0].state, "open");
        assert_eq!(latency_text(Some(290.5)), "291 ms");
        assert_eq!(latency_text(Some(1500.0)), "1.5 s");
        assert_eq!(latency_text(None), "—");
        assert_eq!(uptime_text(0), "0 s");
        assert_eq!(uptime_text(3 * 3600 + 1200), "3 h 20 m");
    }

    #[test]
    fn days_and_months_are_utc() {
        // 2026-11-28T23:30:00Z
        let ts = 1_795_908_600_000;
        assert_eq!(day_key(ts), "2026-11-28");
        assert_eq!(month_key(ts), "2026-11");
        assert_eq!(parse_month("2026-11"), Some((2026, 11)));
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("2026-1"), None);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2026, 11), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }

    #[test]
    fn the_month_list_goes_back_across_years() {
        // 2026-02-10
        let ts = 1_770_681_600_000;
        assert_eq!(
            recent_months(ts, 4),
            vec!["2026-02", "2026-01", "2025-12", "2025-11"]
        );
        assert!(recent_months(ts, 0).is_empty());
    }

    #[test]
    fn daily_points_cover_every_day_of_the_month() {
        let days = vec![day("2026-11-02", 3, 0.5), day("2026-11-30", 1, 0.25)];
        let past = "2026-12-05";
        let points = daily_points(&days, "2026-11", Metric::Requests, past);
        assert_eq!(points.len(), 30);
        assert_eq!(points[0], Point::with_hint("1", "2026-11-01", 0.0));
        assert_eq!(points[1].value, 3.0);
        assert_eq!(points[29], Point::with_hint("30", "2026-11-30", 1.0));
        let tokens = daily_points(&days, "2026-11", Metric::Tokens, past);
        assert_eq!(tokens[1].value, 45.0);
        let cost = daily_points(&days, "2026-11", Metric::Cost, past);
        assert_eq!(cost[29].value, 0.25);
        assert!(daily_points(&days, "nope", Metric::Cost, past).is_empty());
    }

    #[test]
    fn the_current_month_stops_at_today() {
        let days = vec![day("2026-11-02", 3, 0.5)];
        let points = daily_points(&days, "2026-11", Metric::Requests, "2026-11-28");
        assert_eq!(points.len(), 28);
        assert_eq!(points[27].hint, "2026-11-28");
        assert_eq!(
            daily_points(&days, "2026-11", Metric::Requests, "2026-11-01").len(),
            1
        );
        assert_eq!(ltr_isolate("2026-11"), "\u{2066}2026-11\u{2069}");
    }

    #[test]
    fn rankings_sort_biggest_first_and_drop_zeros() {
        let rows = vec![
            Bucket {
                model: Some("a".into()),
                provider: Some("p".into()),
                requests: 2,
                cost_usd: 0.0,
                ..Bucket::default()
            },
            Bucket {
                model: Some("b".into()),
                provider: None,
                requests: 9,
                cost_usd: 1.5,
                ..Bucket::default()
            },
            Bucket {
                model: Some("c".into()),
                provider: Some("q".into()),
                requests: 5,
                cost_usd: 0.5,
                ..Bucket::default()
            },
        ];
        let by_requests = ranking(&rows, Metric::Requests, 10, model_name);
        let labels: Vec<_> = by_requests.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["b", "c", "a"]);
        assert_eq!(by_requests[1].hint, "q/c");
        assert_eq!(by_requests[0].hint, "b");
        let by_cost = ranking(&rows, Metric::Cost, 10, model_name);
        assert_eq!(by_cost.len(), 2, "a zero cost is left out");
        assert_eq!(ranking(&rows, Metric::Requests, 1, model_name).len(), 1);
    }

    #[test]
    fn pseudo_providers_are_named_and_listed_last() {
        let row = |name: &str, requests| ProviderHealth {
            provider: name.into(),
            requests,
            ..ProviderHealth::default()
        };
        let mut rows = vec![
            row("unrouted", 50),
            row("openai", 3),
            row("cache", 9),
            row("groq", 7),
        ];
        sort_latency_rows(&mut rows);
        let names: Vec<_> = rows.iter().map(|r| r.provider.as_str()).collect();
        assert_eq!(names, ["groq", "openai", "unrouted", "cache"]);
        assert_eq!(
            pseudo_provider_key("cache"),
            Some("analytics.provider_cache")
        );
        assert_eq!(pseudo_provider_key("openai"), None);
    }

    #[test]
    fn metrics_read_and_write_their_values() {
        let b = day("2026-11-01", 1200, 0.004);
        assert_eq!(Metric::Requests.value(&b), 1200.0);
        assert_eq!(Metric::Tokens.value(&b), 18_000.0);
        assert_eq!((Metric::Requests.format())(1200.0), "1.2k");
        assert_eq!((Metric::Cost.format())(0.004), "$0.0040");
        assert!(Metric::Tokens.integer() && !Metric::Cost.integer());
        assert_eq!(count_text(-1.0), "0");
    }
}
