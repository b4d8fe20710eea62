//! The API keys page: the gateway's keys with their model permissions, limits and use, creating a key (shown once), changing its limits and revoking one.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::browser;
use crate::components::{
    CopyButton, Empty, ErrorBox, Modal, Page, notify_error, notify_ok, resolved,
};
use crate::format;
use crate::i18n::{t, t_now, t_with, tr};
use crate::pages::key_limits::{self, KeyLimits, KeyUsage, LimitFields, LimitInputs};
use crate::pages::overview::{ProviderInfo, ProviderList};

/// A key as `GET /api/keys` lists it; the key itself is never listed, only a preview.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The start and end of the key, to recognise it.
    pub key_preview: String,
    /// Model patterns the key may use: `*`, `openai/*`, `claude-*` or exact names.
    pub models: Vec<String>,
    /// `api` (made here or at first start) or `config` (from the config file).
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the key stops working; `None` for never.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub request_count: i64,
    /// How much the key may use; no field set is no limit.
    pub limits: KeyLimits,
    /// What it used this minute, day and month, against `limits`.
    pub usage: KeyUsage,
}

impl ApiKey {
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// Past its expiry at `now_ms` (still listed, no longer accepted).
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

/// The end of the chosen day (`YYYY-MM-DD`, local time) in ms, for an
/// expiry picked from a date field; `None` when the field is empty or odd.
pub fn end_of_day_ms(date: &str) -> Option<i64> {
    let date = date.trim();
    if date.is_empty() {
        return None;
    }
    if cfg!(target_arch = "wasm32") {
        let ms = js_sys::Date::new(&format!("{date}T23:59:59").into()).get_time();
        (!ms.is_nan()).then_some(ms as i64)
    } else {
        None
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KeyList {
    pub data: Vec<ApiKey>,
}

/// `POST /api/keys`' answer: the new row and, this once, the key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Created {
    name: String,
    key: String,
}

/// The patterns typed in the models field: separated by commas, spaces or
/// lines, without blanks or repeats.
pub fn parse_patterns(text: &str) -> Vec<String> {
    let mut patterns: Vec<String> = Vec::new();
    for part in text.split(|c: char| c == ',' || c.is_whitespace()) {
        let part = part.trim();
        if !part.is_empty() && !patterns.iter().any(|p| p == part) {
            patterns.push(part.to_owned());
        }
    }
    patterns
}

/// What is wrong with one pattern, as a message key. The gateway matches
/// a `*` only at the end (a prefix), so one elsewhere would match nothing.
pub fn pattern_problem(pattern: &str) -> Option<&'static str> {
    let star = pattern.find('*')?;
    (star != pattern.len() - 1).then_some("keys.pattern_star_end")
}

/// A key with `*` may use every model and also the management API.
pub fn is_full_access(patterns: &[String]) -> bool {
    patterns.iter().any(|p| p == "*")
}

/// The field's text with `pattern` added: `*` replaces everything, and a
/// narrower pattern replaces `*` (which would make it pointless).
pub fn add_pattern(text: &str, pattern: &str) -> String {
    if pattern == "*" {
        return "*".into();
    }
    let mut patterns: Vec<String> = parse_patterns(text)
        .into_iter()
        .filter(|p| p != "*")
        .collect();
    if !patterns.iter().any(|p| p == pattern) {
        patterns.push(pattern.to_owned());
    }
    patterns.join(", ")
}

/// Live keys first, then revoked ones (only with `show_revoked`); newest first within each.
pub fn visible_keys(mut keys: Vec<ApiKey>, show_revoked: bool) -> Vec<ApiKey> {
    keys.retain(|k| show_revoked || k.is_live());
    keys.sort_by(|a, b| b.is_live().cmp(&a.is_live()).then_with(|| b.id.cmp(&a.id)));
    keys
}

/// The `prefix/*` patterns of providers that have an account, for one-click adding.
pub fn provider_patterns(providers: &[ProviderInfo]) -> Vec<String> {
    let mut patterns: Vec<String> = providers
        .iter()
        .filter(|p| p.connections > 0)
        .map(|p| format!("{}/*", p.prefix_or_id()))
        .collect();
    patterns.dedup();
    patterns
}

fn key_row(
    key: ApiKey,
    on_revoke: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
    on_rotate: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
    on_limits: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let live = key.is_live();
    let expired = live && key.is_expired(browser::now_ms());
    let models = key
        .models
        .iter()
        .map(|m| {
            if m == "*" {
                view! { <span class="badge badge-info">{t("keys.all_models")}</span> }.into_any()
            } else {
                view! { <code class="pattern">{m.clone()}</code> }.into_any()
            }
        })
        .collect_view();
    let last_used = key
        .last_used_at
        .map_or_else(|| t("keys.never"), browser::local_datetime);
    let expiry = key.expires_at.filter(|_| live).map(|at| {
        view! {
            <div class="muted small ltr" data-testid="key-expires">
                {t_with("keys.expires_on", &[("date", browser::local_datetime(at))])}
            </div>
        }
    });
    let status = match (live, key.source == "config") {
        (false, _) => view! { <span class="badge badge-muted">{t("keys.revoked")}</span> }.into_any(),
        (true, _) if expired => view! {
            <span class="badge badge-warn" data-testid="key-expired">{t("keys.expired")}</span>
        }
        .into_any(),
        (true, true) => view! {
            <span class="badge badge-ok">{t("keys.active")}</span>
            " "
            <span class="badge badge-muted" title=t("keys.config_hint")>{t("keys.from_config")}</span>
        }
        .into_any(),
        (true, false) => view! { <span class="badge badge-ok">{t("keys.active")}</span> }.into_any(),
    };
    // Only live keys: a revoked key's use no longer matters.
    let limit_summary = live
        .then(|| key_limits::summary(&key.limits, &key.usage))
        .filter(|lines| !lines.is_empty())
        .map(|lines| {
            let reached = key_limits::reached(&key.limits, &key.usage);
            let lines = lines
                .into_iter()
                .map(|line| view! { <div>{line}</div> })
                .collect_view();
            view! {
                <div
                    class=if reached { "limit-summary small reached" } else { "limit-summary small muted" }
                    data-testid="key-limit-summary"
                    data-reached=reached.to_string()
                    title=reached.then(|| t("keys.limit_reached_hint"))
                >
                    {lines}
                </div>
            }
        });
    let revoke = live.then(|| {
        let (for_limits, for_rotate, for_revoke) = (key.clone(), key.clone(), key.clone());
        view! {
            <button class="btn btn-small" data-testid="key-limits" on:click=move |_| on_limits(for_limits.clone())>
                {t("keys.limits")}
            </button>
            " "
            <button class="btn btn-small" data-testid="key-rotate" on:click=move |_| on_rotate(for_rotate.clone())>
                {t("keys.rotate")}
            </button>
            " "
            <button class="btn btn-small btn-danger" data-testid="key-revoke" on:click=move |_| on_revoke(for_revoke.clone())>
                {t("keys.revoke")}
            </button>
        }
    });
    view! {
        <tr
            class=if live { "key-row" } else { "key-row revoked" }
            data-testid="key-row"
            data-name=key.name.clone()
            data-id=key.id.to_string()
            data-live=live.to_string()
        >
            <td>
                <div class="key-name">{key.name.clone()}</div>
                <div class="mono muted small key-preview">{key.key_preview.clone()}</div>
            </td>
            <td><div class="patterns">{models}</div></td>
            <td class="nowrap ltr">{browser::local_datetime(key.created_at)}</td>
            <td class="nowrap ltr" data-testid="key-last-used">{last_used}</td>
            <td class="num" data-testid="key-requests">{format::group_thousands(key.request_count.max(0) as u64)}</td>
            <td class="nowrap">{status}{expiry}{limit_summary}</td>
            <td class="actions">{revoke}</td>
        </tr>
    }
}

fn keys_table(
    keys: Vec<ApiKey>,
    show_revoked: bool,
    on_revoke: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
    on_rotate: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
    on_limits: impl Fn(ApiKey) + Clone + Send + Sync + 'static,
) -> AnyView {
    let revoked = keys.iter().filter(|k| !k.is_live()).count();
    let shown = visible_keys(keys, show_revoked);
    if shown.is_empty() {
        let message = if revoked > 0 {
            "keys.empty_live"
        } else {
            "keys.empty"
        };
        return view! { <Empty message=message/> }.into_any();
    }
    let rows = shown
        .into_iter()
        .map(|k| key_row(k, on_revoke.clone(), on_rotate.clone(), on_limits.clone()))
        .collect_view();
    view! {
        <div class="table-wrap">
            <table data-testid="keys-table">
                <thead>
                    <tr>
                        <th>{t("keys.col_name")}</th>
                        <th>{t("keys.col_models")}</th>
                        <th>{t("keys.col_created")}</th>
                        <th>{t("keys.col_last_used")}</th>
                        <th class="num">{t("keys.col_requests")}</th>
                        <th>{t("keys.col_status")}</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The form of a new key, in a dialog.
#[component]
fn CreateKey(
    /// Called with the new key's name and the key itself.
    on_created: impl Fn(String, String) + Clone + Send + Sync + 'static,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let models = RwSignal::new("*".to_owned());
    let expires = RwSignal::new(String::new());
    let limits = RwSignal::new(LimitInputs::default());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let providers =
        LocalResource::new(|| async { api::get::<ProviderList>("/api/providers").await });
    let patterns = Memo::new(move |_| parse_patterns(&models.get()));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let key_name = name.get_untracked().trim().to_owned();
        let list = patterns.get_untracked();
        if key_name.is_empty() {
            error.set(Some(local_error(t("keys.name_required"))));
            return;
        }
        if list.is_empty() {
            error.set(Some(local_error(t("keys.models_required"))));
            return;
        }
        if let Some(bad) = list.iter().find(|p| pattern_problem(p).is_some()) {
            error.set(Some(local_error(t_with(
                "keys.pattern_star_end",
                &[("pattern", bad.clone())],
            ))));
            return;
        }
        let key_limits = match limits.with_untracked(LimitInputs::to_json) {
            Ok(key_limits) => key_limits,
            Err(problem) => {
                error.set(Some(local_error(t_now(problem))));
                return;
            }
        };
        let expires_at = end_of_day_ms(&expires.get_untracked());
        busy.set(true);
        error.set(None);
        let on_created = on_created.clone();
        leptos::task::spawn_local(async move {
            let reply: Result<Created, ApiError> = api::post(
                "/api/keys",
                &json!({"name": key_name, "models": list, "expires_at": expires_at, "limits": key_limits}),
            )
            .await;
            busy.set(false);
            match reply {
                Ok(created) => on_created(created.name, created.key),
                Err(e) => error.set(Some(e)),
            }
        });
    };

    let chips = move || {
        let mut options = vec!["*".to_owned()];
        if let Some(Ok(list)) = providers.get() {
            options.extend(provider_patterns(&list.data));
        }
        options
            .into_iter()
            .map(|pattern| {
                let label = if pattern == "*" {
                    t("keys.all_models")
                } else {
                    pattern.clone()
                };
                view! {
                    <button
                        type="button"
                        class="btn btn-small chip"
                        data-testid="key-pattern-chip"
                        data-pattern=pattern.clone()
                        on:click=move |_| models.update(|text| *text = add_pattern(text, &pattern))
                    >
                        {label}
                    </button>
                }
            })
            .collect_view()
    };

    view! {
        <Modal title=Signal::derive(|| t("keys.new_title")) on_close=on_close.clone()>
            <form class="key-form" data-testid="key-form" on:submit=submit>
                <label class="field">
                    <span>{tr("keys.name")}</span>
                    <input
                        type="text"
                        data-testid="key-name"
                        placeholder=move || t("keys.name_placeholder")
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                        autofocus
                    />
                </label>
                <label class="field">
                    <span>{tr("keys.models")}</span>
                    <input
                        type="text"
                        class="mono"
                        dir="ltr"
                        data-testid="key-models"
                        placeholder="*, openai/*, claude-*"
                        prop:value=move || models.get()
                        on:input=move |ev| models.set(event_target_value(&ev))
                    />
                </label>
                <p class="muted small">{tr("keys.models_hint")}</p>
                <label class="field">
                    <span>{tr("keys.expires")}</span>
                    <input
                        type="date"
                        dir="ltr"
                        data-testid="key-expires-input"
                        prop:value=move || expires.get()
                        on:input=move |ev| expires.set(event_target_value(&ev))
                    />
                    <small class="muted">{tr("keys.expires_hint")}</small>
                </label>
                <div class="row chips">{chips}</div>
                <div class="pattern-preview" data-testid="key-models-preview">
                    {move || {
                        let list = patterns.get();
                        if is_full_access(&list) {
                            view! { <p class="note note-warn small">{t("keys.full_access")}</p> }.into_any()
                        } else if list.is_empty() {
                            view! { <p class="note small">{t("keys.models_required")}</p> }.into_any()
                        } else {
                            let items = list
                                .into_iter()
                                .map(|p| {
                                    let bad = pattern_problem(&p).is_some();
                                    view! { <code class=if bad { "pattern bad" } else { "pattern" }>{p}</code> }
                                })
                                .collect_view();
                            view! {
                                <p class="small muted">{t("keys.limited_access")}</p>
                                <div class="patterns">{items}</div>
                            }
                            .into_any()
                        }
                    }}
                </div>
                <LimitFields inputs=limits/>
                {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
                {form_actions(on_close.clone(), busy, "key-create", "keys.create")}
            </form>
        </Modal>
    }
}

/// A key's limits, in a dialog; saving replaces them whole (all fields empty: none).
#[component]
fn LimitsDialog(
    key: ApiKey,
    on_saved: impl Fn() + Clone + Send + Sync + 'static,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let inputs = RwSignal::new(LimitInputs::from_limits(&key.limits));
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let name = key.name.clone();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let limits = match inputs.with_untracked(LimitInputs::to_json) {
            Ok(limits) => limits,
            Err(problem) => {
                error.set(Some(local_error(t_now(problem))));
                return;
            }
        };
        busy.set(true);
        error.set(None);
        let on_saved = on_saved.clone();
        leptos::task::spawn_local(async move {
            let reply: Result<ApiKey, ApiError> =
                api::patch(&format!("/api/keys/{}", key.id), &json!({"limits": limits})).await;
            busy.set(false);
            match reply {
                Ok(_) => {
                    notify_ok("keys.limits_saved_ok");
                    on_saved();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <Modal
            title=Signal::derive(move || t_with("keys.limits_title", &[("name", name.clone())]))
            on_close=on_close.clone()
        >
            <form class="key-form" data-testid="key-limits-form" on:submit=submit>
                <LimitFields inputs=inputs/>
                {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
                {form_actions(on_close.clone(), busy, "key-limits-save", "common.save")}
            </form>
        </Modal>
    }
}

/// A dialog form's Cancel and submit buttons; submit is off while `busy`.
fn form_actions(
    on_close: impl Fn() + Clone + Send + Sync + 'static,
    busy: RwSignal<bool>,
    submit_testid: &'static str,
    submit_label: &'static str,
) -> impl IntoView {
    view! {
        <div class="row form-actions">
            <button type="button" class="btn" on:click=move |_| on_close()>{tr("common.cancel")}</button>
            <button type="submit" class="btn btn-primary" data-testid=submit_testid disabled=move || busy.get()>
                {tr(submit_label)}
            </button>
        </div>
    }
}

/// A mistake caught before calling the gateway, shown like the gateway's own errors.
fn local_error(message: String) -> ApiError {
    ApiError {
        status: 400,
        code: None,
        message,
    }
}

/// The new key, shown this one time. Its button or Escape closes it; a stray
/// click outside does not, so the key is not lost by accident.
#[component]
fn SecretDialog(
    name: String,
    key: String,
    on_close: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let copy = key.clone();
    // Escape from anywhere: the focus may be on nothing once the form is gone.
    let escape = {
        let close = on_close.clone();
        window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                close();
            }
        })
    };
    on_cleanup(move || escape.remove());
    view! {
        <div class="overlay">
            <div class="modal secret-modal" role="dialog" aria-modal="true" data-testid="key-secret-dialog">
                <header class="modal-head">
                    <h2>{move || t_with("keys.secret_title", &[("name", name.clone())])}</h2>
                </header>
                <div class="modal-body stack">
                    <p class="note note-warn">{tr("keys.secret_warning")}</p>
                    <div class="secret-row">
                        <code class="secret mono" dir="ltr" data-testid="key-secret">{key}</code>
                        <CopyButton text=Signal::derive(move || copy.clone())/>
                    </div>
                    <p class="muted small">{tr("keys.secret_usage")}</p>
                    <div class="row form-actions">
                        <button class="btn btn-primary" data-testid="key-secret-done" autofocus on:click=move |_| on_close()>
                            {tr("keys.secret_done")}
                        </button>
                    </div>
                </div>
            </div>
        </div>
    }
}

#[component]
pub fn KeysPage() -> impl IntoView {
    let keys = LocalResource::new(|| async { api::get::<KeyList>("/api/keys").await });
    // The overview's "create a key" step opens the form at once (`?new`).
    let asked = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("new")
        .is_some();
    let creating = RwSignal::new(asked);
    let secret = RwSignal::new(None::<(String, String)>);
    let show_revoked = RwSignal::new(false);
    // The key whose limits dialog is open.
    let editing_limits = RwSignal::new(None::<ApiKey>);

    let revoke = move |key: ApiKey| {
        if !browser::confirm(&t_with(
            "keys.confirm_revoke",
            &[("name", key.name.clone())],
        )) {
            return;
        }
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/keys/{}", key.id)).await {
                Ok(()) => {
                    notify_ok("keys.revoked_ok");
                    keys.refetch();
                }
                Err(e) => notify_error(&e),
            }
        });
    };

    let rotate = move |key: ApiKey| {
        if !browser::confirm(&t_with(
            "keys.confirm_rotate",
            &[("name", key.name.clone())],
        )) {
            return;
        }
        leptos::task::spawn_local(async move {
            let reply: Result<Created, ApiError> =
                api::post(&format!("/api/keys/{}/rotate", key.id), &json!({})).await;
            match reply {
                Ok(rotated) => {
                    secret.set(Some((rotated.name, rotated.key)));
                    notify_ok("keys.rotated_ok");
                    keys.refetch();
                }
                Err(e) => notify_error(&e),
            }
        });
    };

    let actions = Box::new(move || {
        view! {
            <label class="row show-revoked">
                <input
                    type="checkbox"
                    data-testid="key-show-revoked"
                    prop:checked=move || show_revoked.get()
                    on:change=move |ev| show_revoked.set(event_target_checked(&ev))
                />
                <span>{tr("keys.show_revoked")}</span>
            </label>
            <button class="btn btn-primary" data-testid="key-new" on:click=move |_| creating.set(true)>
                {tr("keys.new")}
            </button>
        }
        .into_any()
    });

    view! {
        <Page title="keys.title" subtitle="keys.subtitle" actions=actions>
            <div class="card">
                {move || {
                    let show = show_revoked.get();
                    let edit_limits = move |key: ApiKey| editing_limits.set(Some(key));
                    resolved(keys.get(), move |list: KeyList| {
                        keys_table(list.data, show, revoke, rotate, edit_limits)
                    })
                }}
            </div>
            {move || creating.get().then(|| view! {
                <CreateKey
                    on_created=move |name, key| {
                        creating.set(false);
                        secret.set(Some((name, key)));
                        notify_ok("keys.created_ok");
                        keys.refetch();
                    }
                    on_close=move || creating.set(false)
                />
            })}
            {move || editing_limits.get().map(|key| view! {
                <LimitsDialog
                    key=key
                    on_saved=move || {
                        editing_limits.set(None);
                        keys.refetch();
                    }
                    on_close=move || editing_limits.set(None)
                />
            })}
            {move || secret.get().map(|(name, key)| view! {
                <SecretDialog name=name key=key on_close=move || secret.set(None)/>
            })}
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, name: &str, revoked: bool) -> ApiKey {
        ApiKey {
            id,
            name: name.into(),
            revoked_at: revoked.then_some(5),
            ..ApiKey::default()
        }
    }

    #[test]
    fn patterns_split_on_commas_spaces_and_lines() {
        assert_eq!(
            parse_patterns(" openai/*, claude-*\nopenai/*  gpt-4.1 ,, "),
            vec!["openai/*", "claude-*", "gpt-4.1"]
        );
        assert!(parse_patterns(" , \n").is_empty());
    }

    #[test]
    fn a_star_only_works_at_the_end() {
        assert_eq!(pattern_problem("*"), None);
        assert_eq!(pattern_problem("openai/*"), None);
        assert_eq!(pattern_problem("gpt-4.1"), None);
        assert_eq!(pattern_problem("*-mini"), Some("keys.pattern_star_end"));
        assert_eq!(pattern_problem("openai/*/x"), Some("keys.pattern_star_end"));
    }

    #[test]
    fn a_star_grants_full_access() {
        assert!(is_full_access(&parse_patterns("openai/*, *")));
        assert!(!is_full_access(&parse_patterns("openai/*, claude-*")));
    }

    #[test]
    fn adding_a_pattern_replaces_or_narrows_the_star() {
        assert_eq!(add_pattern("*", "openai/*"), "openai/*");
        assert_eq!(add_pattern("openai/*", "claude-*"), "openai/*, claude-*");
        assert_eq!(
            add_pattern("openai/*, claude-*", "openai/*"),
            "openai/*, claude-*"
        );
        assert_eq!(add_pattern("openai/*", "*"), "*");
        assert_eq!(add_pattern("", "gemini/*"), "gemini/*");
    }

    #[test]
    fn live_keys_come_first_and_revoked_ones_hide() {
        let keys = vec![key(1, "a", false), key(2, "b", true), key(3, "c", false)];
        let names = |list: Vec<ApiKey>| list.into_iter().map(|k| k.name).collect::<Vec<_>>();
        assert_eq!(names(visible_keys(keys.clone(), false)), ["c", "a"]);
        assert_eq!(names(visible_keys(keys, true)), ["c", "a", "b"]);
    }

    #[test]
    fn the_key_json_reads_and_the_created_key_is_found() {
        let json = r#"{"data":[{"id":2,"name":"laptop","key_preview":"sk-o…abcd","models":["openai/*"],
            "source":"api","created_at":1000,"revoked_at":null,"last_used_at":2000,"request_count":7}]}"#;
        let list: KeyList = serde_json::from_str(json).unwrap();
        assert_eq!(list.data[0].request_count, 7);
        assert_eq!(list.data[0].last_used_at, Some(2000));
        assert!(list.data[0].is_live());
        // Listed before limits existed: none set, nothing used.
        assert_eq!(list.data[0].limits, KeyLimits::default());
        let limited: KeyList = serde_json::from_str(
            r#"{"data":[{"id":4,"name":"ci","limits":{"requests_per_day":2},
                "usage":{"last_minute":0,"today":1,"this_month":1,"day_usd":0.0,"month_usd":0.0}}]}"#,
        )
        .unwrap();
        assert_eq!(limited.data[0].limits.requests_per_day, Some(2));
        assert_eq!(limited.data[0].usage.today, 1);
        let created: Created = serde_json::from_str(
            r#"{"id":3,"name":"ci","key_preview":"x","models":["*"],"source":"api","created_at":1,
                "revoked_at":null,"last_used_at":null,"request_count":0,"key":"sk-omni-secret"}"#,
        )
        .unwrap();
        assert_eq!(
            (created.name.as_str(), created.key.as_str()),
            ("ci", "sk-omni-secret")
        );
    }
}
