//! The settings page: runtime settings (read with GET, saved as one PATCH of what changed), the dashboard password, and backup, restore, export and import.

mod data;
pub mod form;

use std::collections::BTreeSet;

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use self::form::{
    LimitRow, PairRow, RowError, field_of_error, limits_from_json, limits_to_json, pairs_from_json,
    pairs_to_json, parse_scaled, patch_body, show_scaled,
};
use crate::api::{self, ApiError};
use crate::components::{ErrorBox, Loading, Page, Toggle, show_toast};
use crate::i18n::{self, t, tr};

type Settings = Map<String, Value>;

/// Account strategies, as the gateway names them.
const STRATEGIES: [&str; 6] = [
    "fill-first",
    "round-robin",
    "power-of-two-choices",
    "random",
    "least-used",
    "cost-optimized",
];

/// Prompt-injection guard modes, as the gateway names them.
const INJECTION_MODES: [&str; 3] = ["off", "warn", "block"];

/// Thinking modes, as the gateway names them.
const THINKING_MODES: [&str; 4] = ["passthrough", "auto", "custom", "adaptive"];

/// Every setting this page edits, to tell which one a validation message is about.
const KEYS: [&str; 39] = [
    "require_api_key",
    "max_body_bytes",
    "usage_retention_days",
    "daily_backup",
    "backups_kept",
    "upstream_timeout_secs",
    "connect_timeout_secs",
    "stream_ready_timeout_secs",
    "stream_idle_timeout_secs",
    "request_deadline_secs",
    "retry_attempts",
    "retry_base_ms",
    "breaker_failure_threshold",
    "breaker_window_secs",
    "breaker_cooldown_secs",
    "cooldown_base_secs",
    "cooldown_max_secs",
    "account_strategies",
    "provider_limits",
    "response_cache_enabled",
    "response_cache_ttl_secs",
    "response_cache_max_bytes",
    "system_prompt",
    "thinking_mode",
    "thinking_budget_tokens",
    "proxy",
    "provider_proxies",
    "notify_quota",
    "notify_outage",
    "notify_budget",
    "notify_token_refresh",
    "notify_account_disabled",
    "ip_blocklist",
    "ip_allowlist",
    "trusted_proxies",
    "cors_origins",
    "ip_requests_per_minute",
    "injection_guard",
    "injection_patterns",
];

/// The unit a number field is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
    Days,
    Tokens,
    Mib,
    Count,
}

impl Unit {
    fn scale(self) -> u64 {
        if self == Unit::Mib { 1024 * 1024 } else { 1 }
    }

    fn key(self) -> &'static str {
        match self {
            Unit::Seconds => "settings.unit_secs",
            Unit::Millis => "settings.unit_ms",
            Unit::Days => "settings.unit_days",
            Unit::Tokens => "settings.unit_tokens",
            Unit::Mib => "settings.unit_mib",
            Unit::Count => "settings.unit_count",
        }
    }
}

/// The label of a setting (`settings.f_<key>`), for views.
fn label_of(key: &str) -> String {
    t(&format!("settings.f_{key}"))
}

/// A message in the current language, read without subscribing to language
/// changes: for event handlers and tasks, which run outside any view.
fn t_now(key: &str) -> String {
    i18n::message(i18n::current().get_untracked(), key)
}

/// [`t_now`] with `{name}` placeholders filled in.
fn t_now_with(key: &str, args: &[(&str, String)]) -> String {
    i18n::fill(&t_now(key), args)
}

/// A success toast, from an event handler or task.
fn toast_ok(key: &str) {
    show_toast(true, t_now(key));
}

/// A row problem as a message, from an event handler.
fn row_message(key: &str, error: RowError) -> String {
    let section = t_now(&format!("settings.f_{key}"));
    match error {
        RowError::MissingProvider => {
            t_now_with("settings.row_missing_provider", &[("section", section)])
        }
        RowError::Duplicate(provider) => t_now_with(
            "settings.row_duplicate",
            &[("section", section), ("provider", provider)],
        ),
        RowError::BadNumber { provider, field } => t_now_with(
            "settings.row_bad_number",
            &[
                ("provider", provider),
                ("field", t_now(&format!("settings.limit_{field}"))),
            ],
        ),
    }
}

/// The form: the settings as loaded, the edits, and the per-provider rows.
#[derive(Clone, Copy)]
struct Form {
    original: RwSignal<Settings>,
    /// Scalar settings as edited (the maps live in the rows below).
    draft: RwSignal<Settings>,
    strategies: RwSignal<Vec<PairRow>>,
    limits: RwSignal<Vec<LimitRow>>,
    proxies: RwSignal<Vec<PairRow>>,
    /// Fields whose text is not a number.
    bad: RwSignal<BTreeSet<&'static str>>,
    /// The field the gateway's last validation message was about.
    server_bad: RwSignal<Option<&'static str>>,
    error: RwSignal<Option<String>>,
    saving: RwSignal<bool>,
    /// Bumped when the form is (re)loaded, so inputs show the loaded values;
    /// typing does not bump it, so a half-typed number is never rewritten.
    version: RwSignal<u64>,
    next_id: StoredValue<u64>,
}

impl Form {
    fn new() -> Form {
        Form {
            original: RwSignal::new(Map::new()),
            draft: RwSignal::new(Map::new()),
            strategies: RwSignal::new(Vec::new()),
            limits: RwSignal::new(Vec::new()),
            proxies: RwSignal::new(Vec::new()),
            bad: RwSignal::new(BTreeSet::new()),
            server_bad: RwSignal::new(None),
            error: RwSignal::new(None),
            saving: RwSignal::new(false),
            version: RwSignal::new(0),
            next_id: StoredValue::new(0),
        }
    }

    /// Shows `settings` as saved, discarding edits.
    fn load(self, settings: Settings) {
        let mut next = self.next_id.get_value();
        self.strategies.set(pairs_from_json(
            settings.get("account_strategies"),
            &mut next,
        ));
        self.limits
            .set(limits_from_json(settings.get("provider_limits"), &mut next));
        self.proxies
            .set(pairs_from_json(settings.get("provider_proxies"), &mut next));
        self.next_id.set_value(next);
        self.draft.set(settings.clone());
        self.original.set(settings);
        self.bad.set(BTreeSet::new());
        self.server_bad.set(None);
        self.error.set(None);
        self.version.update(|v| *v += 1);
    }

    fn new_id(self) -> u64 {
        self.next_id.update_value(|n| *n += 1);
        self.next_id.get_value()
    }

    /// The draft with the maps rebuilt from their rows, or the map whose rows are wrong.
    fn assembled(self) -> Result<Settings, (&'static str, RowError)> {
        let mut all = self.draft.get();
        let named =
            |key: &'static str, result: Result<Value, RowError>| result.map_err(|e| (key, e));
        all.insert(
            "account_strategies".into(),
            named("account_strategies", pairs_to_json(&self.strategies.get()))?,
        );
        all.insert(
            "provider_limits".into(),
            named("provider_limits", limits_to_json(&self.limits.get()))?,
        );
        all.insert(
            "provider_proxies".into(),
            named("provider_proxies", pairs_to_json(&self.proxies.get()))?,
        );
        Ok(all)
    }

    fn set(self, key: &'static str, value: Value) {
        self.draft.update(|d| {
            d.insert(key.to_owned(), value);
        });
        if self.server_bad.get_untracked() == Some(key) {
            self.server_bad.set(None);
        }
    }

    fn is_bad(self, key: &'static str) -> bool {
        self.bad.with(|b| b.contains(key)) || self.server_bad.get() == Some(key)
    }

    fn text(self, key: &str) -> String {
        self.version.get();
        self.draft.with_untracked(|d| match d.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        })
    }

    fn flag(self, key: &str) -> bool {
        self.draft
            .with(|d| d.get(key).and_then(Value::as_bool).unwrap_or(false))
    }

    /// Sends what changed; on success the gateway's reply is the new state.
    fn save(self) {
        if self.saving.get_untracked() {
            return;
        }
        let bad = self.bad.get_untracked();
        if !bad.is_empty() {
            let names: Vec<String> = bad
                .iter()
                .map(|k| t_now(&format!("settings.f_{k}")))
                .collect();
            self.error.set(Some(t_now_with(
                "settings.fix_fields",
                &[("fields", names.join(", "))],
            )));
            return;
        }
        let assembled = match self.untracked(|| self.assembled()) {
            Ok(all) => all,
            Err((key, error)) => {
                self.error.set(Some(row_message(key, error)));
                return;
            }
        };
        let patch = patch_body(&self.original.get_untracked(), &assembled);
        if patch.is_empty() {
            self.error.set(None);
            toast_ok("settings.nothing_changed");
            return;
        }
        self.saving.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            match api::patch::<_, Settings>("/api/settings", &Value::Object(patch)).await {
                Ok(next) => {
                    self.load(next);
                    toast_ok("settings.saved");
                }
                Err(e) => self.refused(&e),
            }
            self.saving.set(false);
        });
    }

    /// Shows why the gateway refused the change, next to the setting it names
    /// (in the save bar, which is always in view, so no toast).
    fn refused(self, error: &ApiError) {
        let field = field_of_error(&error.message, &KEYS);
        self.server_bad.set(field);
        let message = match field {
            Some(key) => t_now_with(
                "settings.save_failed_field",
                &[
                    ("field", t_now(&format!("settings.f_{key}"))),
                    ("message", error.message.clone()),
                ],
            ),
            None => t_now_with(
                "settings.save_failed",
                &[("message", error.message.clone())],
            ),
        };
        self.error.set(Some(message));
    }

    /// Runs `f` without subscribing to the signals it reads (handlers run outside views).
    fn untracked<T>(self, f: impl FnOnce() -> T) -> T {
        leptos::prelude::untrack(f)
    }
}

/// A labelled number input shown in `unit`.
fn number_field(form: Form, key: &'static str, unit: Unit, min: u64, max: u64) -> impl IntoView {
    let scale = unit.scale();
    let testid = format!("setting-{}", key.replace('_', "-"));
    let shown = move || {
        form.version.get();
        form.draft.with_untracked(|d| {
            d.get(key)
                .and_then(Value::as_u64)
                .map(|v| show_scaled(v, scale))
                .unwrap_or_default()
        })
    };
    let (min, max) = (show_scaled(min, scale), show_scaled(max, scale));
    let step = if scale == 1 { "1" } else { "any" };
    let on_input = move |ev: leptos::ev::Event| match parse_scaled(&event_target_value(&ev), scale)
    {
        Some(n) => {
            form.set(key, json!(n));
            form.bad.update(|b| {
                b.remove(key);
            });
        }
        None => form.bad.update(|b| {
            b.insert(key);
        }),
    };
    view! {
        <label class="field" class:invalid=move || form.is_bad(key)>
            <span>{move || label_of(key)}</span>
            <div class="input-unit">
                <input
                    type="number"
                    min=min
                    max=max
                    step=step
                    data-testid=testid
                    prop:value=shown
                    on:input=on_input
                />
                <span class="unit muted">{move || t(unit.key())}</span>
            </div>
            <small class="muted">{move || t(&format!("settings.h_{key}"))}</small>
        </label>
    }
}

/// A labelled on/off setting.
fn toggle_field(form: Form, key: &'static str) -> impl IntoView {
    let testid = format!("setting-{}", key.replace('_', "-"));
    view! {
        <div class="field toggle-field" class:invalid=move || form.is_bad(key)>
            // Rebuilt when the language changes: the toggle's label is plain text.
            {move || view! {
                <Toggle
                    checked=Signal::derive(move || form.flag(key))
                    on_change=move |on| form.set(key, json!(on))
                    label=label_of(key)
                    testid=testid.clone()
                />
            }}
            <small class="muted">{move || t(&format!("settings.h_{key}"))}</small>
        </div>
    }
}

/// A labelled text setting.
fn text_field(form: Form, key: &'static str, placeholder: &'static str) -> impl IntoView {
    let testid = format!("setting-{}", key.replace('_', "-"));
    view! {
        <label class="field" class:invalid=move || form.is_bad(key)>
            <span>{move || label_of(key)}</span>
            <input
                data-testid=testid
                placeholder=placeholder
                spellcheck="false"
                prop:value=move || form.text(key)
                on:input=move |ev| form.set(key, json!(event_target_value(&ev).trim()))
            />
            <small class="muted">{move || t(&format!("settings.h_{key}"))}</small>
        </label>
    }
}

/// A labelled list, one item per line (and per comma when `commas`), saved
/// as a JSON array.
fn list_field(
    form: Form,
    key: &'static str,
    placeholder: &'static str,
    commas: bool,
) -> impl IntoView {
    let testid = format!("setting-{}", key.replace('_', "-"));
    let shown = move || {
        form.version.get();
        form.draft.with_untracked(|d| {
            d.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default()
        })
    };
    let on_input = move |ev: leptos::ev::Event| {
        let separators: &[char] = if commas { &['\n', ','] } else { &['\n'] };
        let items: Vec<String> = event_target_value(&ev)
            .split(separators)
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        form.set(key, json!(items));
    };
    view! {
        <label class="field" class:invalid=move || form.is_bad(key)>
            <span>{move || label_of(key)}</span>
            <textarea
                class="list-area mono"
                rows="3"
                spellcheck="false"
                data-testid=testid
                placeholder=placeholder
                prop:value=shown
                on:change=on_input
            ></textarea>
            <small class="muted">{move || t(&format!("settings.h_{key}"))}</small>
        </label>
    }
}

/// A select over fixed values, each labelled `settings.<prefix>_<value>`.
fn choice_field(
    form: Form,
    key: &'static str,
    values: &'static [&'static str],
    prefix: &'static str,
) -> impl IntoView {
    let testid = format!("setting-{}", key.replace('_', "-"));
    let current = move || {
        form.draft
            .with(|d| d.get(key).and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    };
    view! {
        <label class="field" class:invalid=move || form.is_bad(key)>
            <span>{move || label_of(key)}</span>
            <select data-testid=testid on:change=move |ev| form.set(key, json!(event_target_value(&ev)))>
                {values
                    .iter()
                    .map(|value| {
                        let label = format!("settings.{prefix}_{}", value.replace('-', "_"));
                        view! {
                            <option value=*value selected=move || current() == *value>{move || t(&label)}</option>
                        }
                    })
                    .collect_view()}
            </select>
            <small class="muted">{move || t(&format!("settings.h_{key}_{}", current().replace('-', "_")))}</small>
        </label>
    }
}

/// A card of the settings form.
fn section(id: &'static str, children: impl IntoView) -> impl IntoView {
    view! {
        <section class="card settings-section" data-testid=format!("settings-section-{id}")>
            <h2 class="card-title">{move || t(&format!("settings.section_{id}"))}</h2>
            <p class="muted small section-intro">{move || t(&format!("settings.intro_{id}"))}</p>
            {children}
        </section>
    }
}

fn update_pair(rows: RwSignal<Vec<PairRow>>, id: u64, edit: impl FnOnce(&mut PairRow)) {
    rows.update(|rows| {
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            edit(row);
        }
    });
}

fn update_limit(rows: RwSignal<Vec<LimitRow>>, id: u64, edit: impl FnOnce(&mut LimitRow)) {
    rows.update(|rows| {
        if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
            edit(row);
        }
    });
}

/// The provider id input of a row, with the known providers as suggestions.
fn provider_input(initial: String, on_input: impl Fn(String) + 'static) -> impl IntoView {
    view! {
        <input
            class="provider-input"
            list="settings-providers"
            placeholder=tr("settings.provider_id")
            aria-label=tr("settings.provider_id")
            spellcheck="false"
            value=initial
            on:input=move |ev| on_input(event_target_value(&ev))
        />
    }
}

fn remove_button(on_click: impl Fn() + 'static) -> impl IntoView {
    view! {
        <button
            class="btn btn-small btn-ghost"
            title=tr("settings.remove_row")
            aria-label=tr("settings.remove_row")
            on:click=move |_| on_click()
        >
            "×"
        </button>
    }
}

/// Per-provider account strategies.
fn strategy_rows(form: Form) -> impl IntoView {
    let rows = form.strategies;
    view! {
        <div class="rows" data-testid="setting-account-strategies">
            <h3>{move || label_of("account_strategies")}</h3>
            <p class="muted small">{tr("settings.h_account_strategies")}</p>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="muted small rows-empty">{tr("settings.rows_empty")}</p>
            </Show>
            <For each=move || rows.get() key=|row| row.id let:row>
                {
                    let id = row.id;
                    let chosen = row.value.clone();
                    view! {
                        <div class="row-edit pair" data-testid="strategy-row">
                            {provider_input(row.provider.clone(), move |v| update_pair(rows, id, |r| r.provider = v))}
                            <select
                                aria-label=move || label_of("account_strategies")
                                on:change=move |ev| {
                                    let v = event_target_value(&ev);
                                    update_pair(rows, id, |r| r.value = v);
                                }
                            >
                                {STRATEGIES
                                    .iter()
                                    .map(|s| {
                                        let label = format!("settings.strategy_{}", s.replace('-', "_"));
                                        view! { <option value=*s selected=chosen == *s>{move || t(&label)}</option> }
                                    })
                                    .collect_view()}
                            </select>
                            {remove_button(move || rows.update(|r| r.retain(|x| x.id != id)))}
                        </div>
                    }
                }
            </For>
            <button
                class="btn btn-small"
                data-testid="strategy-add"
                on:click=move |_| {
                    let id = form.new_id();
                    rows.update(|r| r.push(PairRow { id, provider: String::new(), value: "round-robin".into() }));
                }
            >
                {tr("settings.add_row")}
            </button>
        </div>
    }
}

/// Per-provider pacing limits.
fn limit_rows(form: Form) -> impl IntoView {
    let rows = form.limits;
    let number =
        move |id: u64, initial: String, field: &'static str, edit: fn(&mut LimitRow, String)| {
            view! {
                <input
                    type="number"
                    min="0"
                    step="1"
                    placeholder=tr("settings.no_limit")
                    aria-label=move || t(&format!("settings.limit_{field}"))
                    value=initial
                    on:input=move |ev| {
                        let v = event_target_value(&ev);
                        update_limit(rows, id, |r| edit(r, v));
                    }
                />
            }
        };
    view! {
        <div class="rows limits" data-testid="setting-provider-limits">
            <div class="row-edit limit head" aria-hidden="true">
                <span>{tr("settings.provider_id")}</span>
                <span>{tr("settings.limit_max_concurrent")}</span>
                <span>{tr("settings.limit_min_gap_ms")}</span>
                <span>{tr("settings.limit_requests_per_minute")}</span>
                <span></span>
            </div>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="muted small rows-empty">{tr("settings.limits_empty")}</p>
            </Show>
            <For each=move || rows.get() key=|row| row.id let:row>
                {
                    let id = row.id;
                    view! {
                        <div class="row-edit limit" data-testid="limit-row">
                            {provider_input(row.provider.clone(), move |v| update_limit(rows, id, |r| r.provider = v))}
                            {number(id, row.max_concurrent.clone(), "max_concurrent", |r, v| r.max_concurrent = v)}
                            {number(id, row.min_gap_ms.clone(), "min_gap_ms", |r, v| r.min_gap_ms = v)}
                            {number(id, row.requests_per_minute.clone(), "requests_per_minute", |r, v| r.requests_per_minute = v)}
                            {remove_button(move || rows.update(|r| r.retain(|x| x.id != id)))}
                        </div>
                    }
                }
            </For>
            <button
                class="btn btn-small"
                data-testid="limit-add"
                on:click=move |_| {
                    let id = form.new_id();
                    rows.update(|r| r.push(LimitRow { id, ..LimitRow::default() }));
                }
            >
                {tr("settings.add_row")}
            </button>
        </div>
    }
}

/// Per-provider proxies.
fn proxy_rows(form: Form) -> impl IntoView {
    let rows = form.proxies;
    view! {
        <div class="rows" data-testid="setting-provider-proxies">
            <h3>{move || label_of("provider_proxies")}</h3>
            <p class="muted small">{tr("settings.h_provider_proxies")}</p>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="muted small rows-empty">{tr("settings.rows_empty")}</p>
            </Show>
            <For each=move || rows.get() key=|row| row.id let:row>
                {
                    let id = row.id;
                    view! {
                        <div class="row-edit pair" data-testid="proxy-row">
                            {provider_input(row.provider.clone(), move |v| update_pair(rows, id, |r| r.provider = v))}
                            <input
                                placeholder="socks5://127.0.0.1:1080"
                                aria-label=move || label_of("proxy")
                                spellcheck="false"
                                value=row.value.clone()
                                on:input=move |ev| {
                                    let v = event_target_value(&ev);
                                    update_pair(rows, id, |r| r.value = v);
                                }
                            />
                            {remove_button(move || rows.update(|r| r.retain(|x| x.id != id)))}
                        </div>
                    }
                }
            </For>
            <button
                class="btn btn-small"
                data-testid="proxy-add"
                on:click=move |_| {
                    let id = form.new_id();
                    rows.update(|r| r.push(PairRow { id, ..PairRow::default() }));
                }
            >
                {tr("settings.add_row")}
            </button>
        </div>
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProviderId {
    id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProviderList {
    data: Vec<ProviderId>,
}

/// The settings form with its save bar.
fn settings_form(form: Form) -> impl IntoView {
    let dirty = Memo::new(move |_| {
        !form.bad.with(BTreeSet::is_empty)
            || match form.assembled() {
                Ok(all) => form.original.with(|o| !patch_body(o, &all).is_empty()),
                Err(_) => true,
            }
    });
    view! {
        <div class="settings-grid">
            {section("general", view! {
                {toggle_field(form, "require_api_key")}
                <div class="form-grid">
                    {number_field(form, "max_body_bytes", Unit::Mib, 1024, 1024 * 1024 * 1024)}
                </div>
            })}
            {section("network", view! {
                <div class="form-grid">
                    {list_field(form, "ip_blocklist", "203.0.113.0/24", true)}
                    {list_field(form, "ip_allowlist", "192.168.1.0/24", true)}
                    {list_field(form, "trusted_proxies", "127.0.0.1", true)}
                    {list_field(form, "cors_origins", "https://app.example.com", true)}
                    {number_field(form, "ip_requests_per_minute", Unit::Count, 0, 1_000_000)}
                </div>
            })}
            {section("guard", view! {
                {choice_field(form, "injection_guard", &INJECTION_MODES, "guard")}
                {list_field(form, "injection_patterns", "ignore\\s+previous\\s+instructions", false)}
            })}
            {section("logging", view! {
                {toggle_field(form, "log_bodies")}
                {toggle_field(form, "daily_backup")}
                <div class="form-grid">
                    {number_field(form, "usage_retention_days", Unit::Days, 1, 3650)}
                    {number_field(form, "backups_kept", Unit::Count, 1, 365)}
                </div>
            })}
            {section("timeouts", view! {
                <div class="form-grid">
                    {number_field(form, "upstream_timeout_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "connect_timeout_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "stream_ready_timeout_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "stream_idle_timeout_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "request_deadline_secs", Unit::Seconds, 1, 86_400)}
                </div>
            })}
            {section("fallback", view! {
                <div class="form-grid">
                    {number_field(form, "retry_attempts", Unit::Count, 0, 10)}
                    {number_field(form, "retry_base_ms", Unit::Millis, 0, 60_000)}
                    {number_field(form, "breaker_failure_threshold", Unit::Count, 1, 1000)}
                    {number_field(form, "breaker_window_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "breaker_cooldown_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "cooldown_base_secs", Unit::Seconds, 1, 3600)}
                    {number_field(form, "cooldown_max_secs", Unit::Seconds, 1, 86_400)}
                </div>
            })}
            {section("routing", strategy_rows(form))}
            {section("limits", limit_rows(form))}
            {section("prompt", view! {
                <label class="field" class:invalid=move || form.is_bad("system_prompt")>
                    <span>{move || label_of("system_prompt")}</span>
                    <textarea
                        class="prompt-area"
                        data-testid="setting-system-prompt"
                        placeholder=tr("settings.system_prompt_placeholder")
                        prop:value=move || form.text("system_prompt")
                        on:input=move |ev| form.set("system_prompt", json!(event_target_value(&ev)))
                    ></textarea>
                    <small class="muted">{tr("settings.h_system_prompt")}</small>
                </label>
            })}
            {section("thinking", view! {
                <div class="form-grid">
                    {choice_field(form, "thinking_mode", &THINKING_MODES, "thinking")}
                    {number_field(form, "thinking_budget_tokens", Unit::Tokens, 1024, 128_000)}
                </div>
            })}
            {section("proxy", view! {
                {text_field(form, "proxy", "http://127.0.0.1:8080")}
                {proxy_rows(form)}
            })}
            {section("cache", view! {
                {toggle_field(form, "response_cache_enabled")}
                <div class="form-grid">
                    {number_field(form, "response_cache_ttl_secs", Unit::Seconds, 1, 30 * 86_400)}
                    {number_field(form, "response_cache_max_bytes", Unit::Mib, 0, 16 * 1024 * 1024 * 1024)}
                </div>
            })}
            {section("notifications", view! {
                {toggle_field(form, "notify_quota")}
                {toggle_field(form, "notify_outage")}
                {toggle_field(form, "notify_budget")}
                {toggle_field(form, "notify_token_refresh")}
                {toggle_field(form, "notify_account_disabled")}
            })}
        </div>
        <div class="settings-savebar" class:dirty=move || dirty.get() data-testid="settings-savebar">
            <div class="savebar-status">
                {move || form.error.get().map(|e| view! {
                    <div class="error-box" role="alert" data-testid="settings-error">{e}</div>
                })}
                <span class="muted">{move || if dirty.get() { t("settings.unsaved") } else { t("settings.all_saved") }}</span>
            </div>
            <button
                class="btn"
                data-testid="settings-discard"
                disabled=move || !dirty.get() || form.saving.get()
                on:click=move |_| form.load(form.original.get_untracked())
            >
                {tr("settings.discard")}
            </button>
            <button
                class="btn btn-primary"
                data-testid="settings-save"
                disabled=move || form.saving.get()
                on:click=move |_| form.save()
            >
                {move || if form.saving.get() { t("settings.saving") } else { t("common.save") }}
            </button>
        </div>
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let form = Form::new();
    let settings = LocalResource::new(|| async { api::get::<Settings>("/api/settings").await });
    let providers = LocalResource::new(|| async {
        api::get::<ProviderList>("/api/providers")
            .await
            .map(|list| list.data.into_iter().map(|p| p.id).collect::<Vec<_>>())
            .unwrap_or_default()
    });
    Effect::new(move |_| {
        if let Some(Ok(loaded)) = settings.get() {
            form.load(loaded);
        }
    });
    view! {
        <Page title="settings.title" subtitle="settings.subtitle">
            <datalist id="settings-providers">
                {move || providers
                    .get()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|id| view! { <option value=id></option> })
                    .collect_view()}
            </datalist>
            {move || match settings.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(_)) => settings_form(form).into_any(),
            }}
            <h2 class="settings-group-title">{tr("settings.group_account")}</h2>
            <data::AccountAndData on_replaced=move || settings.refetch()/>
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{Lang, message};

    fn exists(key: &str) -> bool {
        message(Lang::En, key) != key
    }

    #[test]
    fn every_built_message_key_exists() {
        let mut keys: Vec<String> = KEYS
            .iter()
            .chain(["log_bodies"].iter())
            .map(|k| format!("settings.f_{k}"))
            .collect();
        for section in [
            "general", "network", "guard", "logging", "timeouts", "fallback", "routing", "limits",
            "prompt", "thinking", "proxy", "cache",
        ] {
            keys.push(format!("settings.section_{section}"));
            keys.push(format!("settings.intro_{section}"));
        }
        for strategy in STRATEGIES {
            keys.push(format!("settings.strategy_{}", strategy.replace('-', "_")));
        }
        for mode in INJECTION_MODES {
            keys.push(format!("settings.guard_{mode}"));
            keys.push(format!("settings.h_injection_guard_{mode}"));
        }
        for mode in THINKING_MODES {
            keys.push(format!("settings.thinking_{mode}"));
            keys.push(format!("settings.h_thinking_mode_{mode}"));
        }
        for unit in [
            Unit::Seconds,
            Unit::Millis,
            Unit::Days,
            Unit::Tokens,
            Unit::Mib,
            Unit::Count,
        ] {
            keys.push(unit.key().to_owned());
        }
        for field in ["max_concurrent", "min_gap_ms", "requests_per_minute"] {
            keys.push(format!("settings.limit_{field}"));
        }
        let missing: Vec<_> = keys.iter().filter(|k| !exists(k)).collect();
        assert!(missing.is_empty(), "missing messages: {missing:?}");
    }

    #[test]
    fn the_keys_list_names_each_setting_once() {
        let unique: BTreeSet<_> = KEYS.iter().collect();
        assert_eq!(unique.len(), KEYS.len());
        assert_eq!(Unit::Mib.scale(), 1024 * 1024);
        assert_eq!(Unit::Seconds.scale(), 1);
    }
}
