//! The connected accounts, grouped under their provider: state, proxy, quota bars, the OAuth account's email, plan and token, and the enable / test / edit / delete / sign-in-again actions.

use std::collections::HashMap;

use leptos::prelude::*;
use serde_json::json;

use super::model::{
    AccountStatus, Connection, Provider, ProxySettings, QuotaAccount, QuotaReport, TestResult,
    WindowStatus, account_status, bar_tone, group_connections, proxy_source, state_key, tier_key,
    window_key,
};
use crate::api::{self, ApiError};
use crate::components::{Empty, Toggle, notify_error, notify_ok};
use crate::i18n::{t, t_with, tr};
use crate::{browser, format};

/// Where a connection test stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TestState {
    Running,
    Done(TestResult),
    /// The test could not be run (the gateway refused it).
    Error(String),
}

/// What every account row needs from the page.
#[derive(Clone, Copy)]
pub struct AccountsCtx {
    pub quota: LocalResource<Result<QuotaReport, ApiError>>,
    /// The clock the countdowns use; the page ticks it.
    pub now: RwSignal<i64>,
    pub tests: RwSignal<HashMap<i64, TestState>>,
    pub on_edit: Callback<Connection>,
    /// Signs an OAuth account in again (after the provider revoked it).
    pub on_sign_in: Callback<Connection>,
    /// Called after a change, so the page reloads what it shows.
    pub on_changed: Callback<()>,
}

/// A countdown to `until_ms` seen at `now_ms`, in words.
fn time_left(until_ms: i64, now_ms: i64) -> String {
    let secs = (until_ms - now_ms).div_euclid(1000);
    if secs <= 0 {
        t("providers.now")
    } else {
        format::countdown(secs)
    }
}

/// The message key of a terminal state; an OAuth account's refusal means
/// its sign-in ended, not a bad key.
fn state_label_key(state: &str, oauth: bool) -> &'static str {
    match state {
        "auth_failed" | "revoked" if oauth => "providers.state_signed_out",
        _ => state_key(state),
    }
}

/// The state badge of a connection, with the detail that explains it.
fn status_view(
    status: AccountStatus,
    connection: &Connection,
    ctx: AccountsCtx,
    now: i64,
) -> AnyView {
    let connection_id = connection.id;
    match status {
        AccountStatus::Active => {
            view! { <span class="badge badge-ok">{t("providers.status_active")}</span> }.into_any()
        }
        AccountStatus::Disabled => {
            view! { <span class="badge badge-muted">{t("providers.status_disabled")}</span> }.into_any()
        }
        AccountStatus::Cooling { until_ms, reason } => view! {
            <span class="badge badge-warn">{t("providers.status_cooling")}</span>
            <span class="small muted">
                {t_with("providers.back_in", &[("time", time_left(until_ms, now))])}
                {(!reason.is_empty()).then(|| format!(" · {reason}"))}
            </span>
        }
        .into_any(),
        AccountStatus::Exhausted { until_ms } => view! {
            <span class="badge badge-warn">{t("providers.status_exhausted")}</span>
            <span class="small muted">{t_with("providers.back_in", &[("time", time_left(until_ms, now))])}</span>
        }
        .into_any(),
        AccountStatus::Failed { state, reason } if connection.oauth => {
            let again = connection.clone();
            view! {
                <span class="badge badge-bad">{t(state_label_key(&state, true))}</span>
                {reason.map(|r| view! { <span class="small muted prov-reason" title=r.clone()>{r.clone()}</span> })}
                <button
                    class="btn btn-small btn-primary"
                    data-testid="connection-sign-in-again"
                    title=t("providers.sign_in_again_hint")
                    on:click=move |_| ctx.on_sign_in.run(again.clone())
                >
                    {t("providers.sign_in_again")}
                </button>
            }
            .into_any()
        }
        AccountStatus::Failed { state, reason } => {
            let clear = move |_| {
                leptos::task::spawn_local(async move {
                    let reply: Result<serde_json::Value, ApiError> = api::patch(
                        &format!("/api/connections/{connection_id}"),
                        &json!({ "state": null }),
                    )
                    .await;
                    match reply {
                        Ok(_) => {
                            notify_ok("providers.state_cleared");
                            ctx.on_changed.run(());
                        }
                        Err(e) => notify_error(&e),
                    }
                });
            };
            view! {
                <span class="badge badge-bad">{t(state_key(&state))}</span>
                {reason.map(|r| view! { <span class="small muted prov-reason" title=r.clone()>{r.clone()}</span> })}
                <button class="btn btn-small" data-testid="connection-clear-state" title=t("providers.clear_state_hint") on:click=clear>
                    {t("providers.clear_state")}
                </button>
            }
            .into_any()
        }
    }
}

/// The short name of a status, for the row's `data-state`.
fn status_name(status: &AccountStatus) -> &'static str {
    match status {
        AccountStatus::Active => "active",
        AccountStatus::Disabled => "disabled",
        AccountStatus::Failed { .. } => "failed",
        AccountStatus::Cooling { .. } => "cooling",
        AccountStatus::Exhausted { .. } => "exhausted",
    }
}

/// One bar: `used` of `limit` in a window.
fn quota_bar(
    window: &WindowStatus,
    kind: &'static str,
    used: u64,
    limit: u64,
    now: i64,
) -> impl IntoView {
    let tone = bar_tone(used, limit, window.exhausted);
    let width = format::fill_ratio(used as f64, limit as f64) * 100.0;
    let label_key = if kind == "requests" {
        "providers.quota_requests"
    } else {
        "providers.quota_tokens"
    };
    let reset = match (window.window_start_ms, window.resets_at_ms) {
        (None, _) if window.window == "5h" => t("providers.window_idle"),
        (_, Some(at)) => t_with("providers.resets_in", &[("time", time_left(at, now))]),
        _ => String::new(),
    };
    view! {
        <div class="prov-quota" data-testid="quota-bar" data-window=window.window.clone() data-kind=kind data-tone=tone>
            <div class="prov-quota-head small">
                <span>{t(window_key(&window.window))}" · "{t(label_key)}</span>
                <span class="num" dir="ltr">{format::count(used)}" / "{format::count(limit)}</span>
            </div>
            <div class=format!("bar {tone}") role="progressbar" aria-valuemin="0" aria-valuemax=limit.to_string() aria-valuenow=used.to_string()>
                <span style=format!("width: {width:.1}%")></span>
            </div>
            <div class="small muted" data-testid="quota-reset">{reset}</div>
        </div>
    }
}

/// A connection's quota windows as bars, or a word saying there are none.
fn quota_view(account: Option<&QuotaAccount>, enabled: bool, now: i64) -> AnyView {
    let Some(account) = account else {
        let key = if enabled {
            "providers.quota_none"
        } else {
            "providers.quota_paused"
        };
        return view! { <span class="small muted">{t(key)}</span> }.into_any();
    };
    let bars: Vec<AnyView> = account
        .windows
        .iter()
        .flat_map(|w| {
            let requests = w
                .requests_limit
                .map(|limit| quota_bar(w, "requests", w.requests_used, limit, now).into_any());
            let tokens = w
                .tokens_limit
                .map(|limit| quota_bar(w, "tokens", w.tokens_used, limit, now).into_any());
            requests.into_iter().chain(tokens)
        })
        .collect();
    if bars.is_empty() {
        return view! { <span class="small muted">{t("providers.quota_none")}</span> }.into_any();
    }
    view! { <div class="prov-quotas">{bars}</div> }.into_any()
}

/// The inline result of the last test of a connection.
fn test_view(state: Option<TestState>) -> AnyView {
    match state {
        None => ().into_any(),
        Some(TestState::Running) => view! {
            <div class="prov-test small muted" data-testid="connection-test-result" data-ok="pending">
                <span class="spinner"></span>{t("providers.testing")}
            </div>
        }
        .into_any(),
        Some(TestState::Error(message)) => view! {
            <div class="prov-test prov-test-bad small" data-testid="connection-test-result" data-ok="false">
                <span class="badge badge-bad">{t("providers.test_failed")}</span>
                <span>{message}</span>
            </div>
        }
        .into_any(),
        Some(TestState::Done(result)) => {
            let status = (result.status > 0).then(|| format!("HTTP {}", result.status));
            let detail = [
                status,
                Some(format::millis(result.latency_ms)),
                (!result.method.is_empty()).then(|| {
                    t_with("providers.test_method", &[("method", result.method.clone())])
                }),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            let (class, badge, label) = if result.ok {
                ("prov-test prov-test-ok small", "badge badge-ok", t("providers.test_ok"))
            } else {
                ("prov-test prov-test-bad small", "badge badge-bad", t("providers.test_failed"))
            };
            view! {
                <div class=class data-testid="connection-test-result" data-ok=result.ok.to_string()>
                    <span class=badge>{label}</span>
                    <span class="muted" dir="ltr">{detail}</span>
                    {result.error.map(|e| view! { <span class="prov-test-error">{e}</span> })}
                </div>
            }
            .into_any()
        }
    }
}

/// What the account is authenticated with, without the secret.
fn key_summary(c: &Connection) -> String {
    match (&c.api_key_env, &c.api_key_preview) {
        (Some(var), _) => t_with("providers.key_from_env", &[("var", var.clone())]),
        (None, Some(preview)) => preview.clone(),
        (None, None) if c.has_api_key => t("providers.key_set"),
        (None, None) => t("providers.key_none"),
    }
}

/// When an OAuth account's access token runs out, seen at `now_ms` (the
/// gateway renews it before then, or on the next request).
fn token_expiry(expires_at_ms: i64, now_ms: i64) -> String {
    if expires_at_ms > now_ms {
        t_with(
            "providers.token_expires_in",
            &[("time", time_left(expires_at_ms, now_ms))],
        )
    } else {
        t("providers.token_expired")
    }
}

/// An OAuth account's email, plan and token expiry.
fn oauth_line(c: &Connection, ctx: AccountsCtx) -> impl IntoView + use<> {
    let email = c
        .account_email
        .clone()
        .filter(|e| !e.is_empty())
        .map(|email| {
            view! { <span class="mono" dir="ltr" data-testid="connection-email">{email}</span> }
        });
    let plan = c.plan.clone().filter(|p| !p.is_empty()).map(|plan| {
        view! {
            <span class="badge badge-info" data-testid="connection-plan" data-plan=plan.clone()>
                {t_with("providers.plan", &[("plan", plan.clone())])}
            </span>
        }
    });
    let expiry = c.token_expires_at_ms.map(|at| {
        view! {
            <span data-testid="connection-token-expiry" data-expires-at=at.to_string()>
                {move || token_expiry(at, ctx.now.get())}
            </span>
        }
    });
    view! {
        <div class="row small muted" style="gap: 6px" data-testid="connection-oauth">
            <span class="badge badge-warn">{t("providers.auth_oauth")}</span>
            {email}
            {plan}
            {expiry}
        </div>
    }
}

fn account_row(
    c: Connection,
    provider: Option<Provider>,
    settings: &ProxySettings,
    ctx: AccountsCtx,
) -> impl IntoView {
    let id = c.id;
    let enabled = c.enabled;
    let tier = c
        .tier
        .clone()
        .or_else(|| provider.as_ref().map(|p| p.tier.clone()))
        .unwrap_or_default();
    let tier_overridden = c.tier.is_some();
    let proxy = proxy_source(&c, settings).map(|(source, url)| {
        view! {
            <span
                class=format!("badge badge-{} prov-proxy", source.tone())
                data-testid="proxy-badge"
                data-source=source.as_str()
                title=url.clone()
            >
                {t(source.label_key())}
            </span>
        }
    });
    let from_config = (c.source == "config").then(|| {
        view! { <span class="badge badge-muted" title=t("providers.from_config_hint")>{t("providers.from_config")}</span> }
    });
    // An OAuth account has no key: its own line below says who it is.
    let meta = [
        (!c.oauth).then(|| key_summary(&c)),
        Some(t_with(
            "providers.priority_n",
            &[("n", c.priority.to_string())],
        )),
        c.base_url.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");

    let status_connection = c.clone();
    let status = move || {
        let report = ctx.quota.get().and_then(Result::ok);
        let account = report.as_ref().and_then(|r| r.account(id));
        account_status(&status_connection, account, ctx.now.get())
    };
    let state_name = {
        let status = status.clone();
        move || status_name(&status()).to_owned()
    };
    let status_row = c.clone();
    let status_cell = move || status_view(status(), &status_row, ctx, ctx.now.get());
    let oauth = c.oauth.then(|| oauth_line(&c, ctx));
    let quota_cell = move || {
        let report = ctx.quota.get().and_then(Result::ok);
        quota_view(
            report.as_ref().and_then(|r| r.account(id)),
            enabled,
            ctx.now.get(),
        )
    };

    let toggle = move |on: bool| {
        leptos::task::spawn_local(async move {
            let reply: Result<serde_json::Value, ApiError> =
                api::patch(&format!("/api/connections/{id}"), &json!({ "enabled": on })).await;
            match reply {
                Ok(_) => notify_ok(if on {
                    "providers.enabled_ok"
                } else {
                    "providers.disabled_ok"
                }),
                Err(e) => notify_error(&e),
            }
            ctx.on_changed.run(());
        });
    };
    let test = move |_| {
        ctx.tests.update(|m| {
            m.insert(id, TestState::Running);
        });
        leptos::task::spawn_local(async move {
            let reply: Result<TestResult, ApiError> =
                api::post(&format!("/api/connections/{id}/test"), &json!({})).await;
            let state = match reply {
                Ok(result) => TestState::Done(result),
                Err(e) => TestState::Error(e.message),
            };
            ctx.tests.update(|m| {
                m.insert(id, state);
            });
        });
    };
    let name = c.name.clone();
    let delete = move |_| {
        if !browser::confirm(&t_with("common.confirm_delete", &[("name", name.clone())])) {
            return;
        }
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/connections/{id}")).await {
                Ok(()) => {
                    notify_ok("providers.deleted_ok");
                    ctx.tests.update(|m| {
                        m.remove(&id);
                    });
                    ctx.on_changed.run(());
                }
                Err(e) => notify_error(&e),
            }
        });
    };
    let edit_connection = c.clone();
    let testing = move || {
        matches!(
            ctx.tests.with(|m| m.get(&id).cloned()),
            Some(TestState::Running)
        )
    };

    view! {
        <div
            class="prov-account"
            data-testid="connection-row"
            data-id=id.to_string()
            data-name=c.name.clone()
            data-provider=c.provider.clone()
            data-enabled=enabled.to_string()
            data-state=state_name
            data-oauth=c.oauth.to_string()
        >
            <div class="prov-account-main">
                <div class="prov-account-name row">
                    <strong>{c.name.clone()}</strong>
                    <span class=if tier_overridden { "badge badge-info" } else { "badge badge-muted" } data-testid="connection-tier" data-tier=tier.clone()>
                        {t(tier_key(&tier))}
                    </span>
                    {proxy}
                    {from_config}
                </div>
                <div class="small muted mono prov-ellipsis" dir="ltr" title=meta.clone()>{meta.clone()}</div>
                {oauth}
            </div>
            <div class="prov-account-state" data-testid="connection-state">{status_cell}</div>
            <div class="prov-account-quota" data-testid="connection-quota">{quota_cell}</div>
            <div class="prov-account-actions row">
                <Toggle
                    checked=Signal::derive(move || enabled)
                    on_change=toggle
                    testid="connection-toggle"
                />
                <button class="btn btn-small" data-testid="connection-test" disabled=testing on:click=test>
                    {tr("providers.test")}
                </button>
                <button class="btn btn-small" data-testid="connection-edit" on:click=move |_| ctx.on_edit.run(edit_connection.clone())>
                    {tr("common.edit")}
                </button>
                <button class="btn btn-small btn-danger" data-testid="connection-delete" on:click=delete>
                    {tr("common.delete")}
                </button>
            </div>
            <div class="prov-account-test">{move || test_view(ctx.tests.with(|m| m.get(&id).cloned()))}</div>
        </div>
    }
}

/// Every connection, under its provider's heading.
pub fn accounts_view(
    connections: Vec<Connection>,
    providers: &[Provider],
    settings: &ProxySettings,
    ctx: AccountsCtx,
) -> AnyView {
    if connections.is_empty() {
        return view! { <Empty message="providers.accounts_empty"/> }.into_any();
    }
    let groups = group_connections(connections, providers)
        .into_iter()
        .map(|(provider_id, list)| {
            let provider = providers.iter().find(|p| p.id == provider_id).cloned();
            let title = provider
                .as_ref()
                .map_or_else(|| provider_id.clone(), |p| p.display_name().to_owned());
            let count = list.len();
            let rows = list
                .into_iter()
                .map(|c| account_row(c, provider.clone(), settings, ctx))
                .collect_view();
            view! {
                <div class="prov-account-group" data-testid="connection-group" data-provider=provider_id.clone()>
                    <div class="prov-account-group-head row">
                        <h3>{title}</h3>
                        <span class="muted small mono" dir="ltr">{provider_id.clone()}</span>
                        <span class="muted small">{move || super::count_text(count, "providers.accounts_one", "providers.accounts_n")}</span>
                    </div>
                    {rows}
                </div>
            }
        })
        .collect_view();
    view! { <div class="prov-accounts">{groups}</div> }.into_any()
}
