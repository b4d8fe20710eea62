//! The providers page: the accounts already connected (state, proxy, quota, test) and the catalog to connect more (an API key, or an OAuth sign-in), grouped by tier.

pub mod accounts;
pub mod connect;
pub mod model;
pub mod sign_in;

use std::collections::HashMap;
use std::time::Duration;

use leptos::prelude::*;

use self::accounts::{AccountsCtx, TestState, accounts_view};
use self::connect::{ConnectDialog, ConnectTarget};
use self::model::{
    Connection, ConnectionList, Provider, ProviderList, ProxySettings, QuotaReport, SignIn,
    default_connection_name, group_by_tier, matches_search, sign_in_key, tier_key,
};
use self::sign_in::{SignInDialog, SignInTarget};
use crate::api;
use crate::browser;
use crate::components::{Empty, Page, resolved};
use crate::i18n::{t, t_with, tr};

/// How often countdowns move, and how many ticks between quota reloads.
const TICK: Duration = Duration::from_secs(5);
const TICKS_PER_QUOTA_RELOAD: u32 = 6;

/// "1 account" or "{n} accounts": `one` for exactly one, else `many` with `{n}`.
pub fn count_text(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        t_with(one, &[("n", n.to_string())])
    } else {
        t_with(many, &[("n", n.to_string())])
    }
}

/// The message key of a tier's one-line explanation.
fn tier_hint_key(tier: &str) -> &'static str {
    match tier {
        "subscription" => "providers.tier_subscription_hint",
        "api-key" => "providers.tier_api_key_hint",
        "cheap" => "providers.tier_cheap_hint",
        "free" => "providers.tier_free_hint",
        "local" => "providers.tier_local_hint",
        _ => "providers.tier_other_hint",
    }
}

/// What a catalog card's buttons open.
#[derive(Clone, Copy)]
struct CardActions {
    /// The API key (or token) dialog.
    connect: Callback<Provider>,
    /// The OAuth sign-in.
    sign_in: Callback<Provider>,
}

/// The buttons at the foot of a card: sign in (OAuth) with a token as the
/// second way, connect with a key, or for a discontinued provider nothing.
fn card_buttons(provider: &Provider, accounts: usize, actions: CardActions) -> AnyView {
    if provider.is_deprecated() {
        return ().into_any();
    }
    let id = provider.id.clone();
    let target = provider.clone();
    let primary = if accounts > 0 {
        "btn btn-small"
    } else {
        "btn btn-small btn-primary"
    };
    if provider.oauth.is_some() {
        let token_target = provider.clone();
        return view! {
            <button
                class="btn btn-small btn-ghost"
                data-testid=format!("connect-{id}")
                title=t("providers.paste_token_hint")
                on:click=move |_| actions.connect.run(token_target.clone())
            >
                {tr("providers.paste_token")}
            </button>
            <button
                class=primary
                data-testid=format!("sign-in-{id}")
                on:click=move |_| actions.sign_in.run(target.clone())
            >
                {if accounts > 0 { tr("providers.connect_another") } else { tr("providers.sign_in") }}
            </button>
        }
        .into_any();
    }
    view! {
        <button
            class=primary
            data-testid=format!("connect-{id}")
            on:click=move |_| actions.connect.run(target.clone())
        >
            {if accounts > 0 { tr("providers.connect_another") } else { tr("providers.connect") }}
        </button>
    }
    .into_any()
}

/// One provider of the catalog, with its connect or sign-in button.
fn provider_card(provider: Provider, accounts: usize, actions: CardActions) -> impl IntoView {
    let id = provider.id.clone();
    let kind = provider.sign_in();
    let models = provider.models.len();
    let auth_class = match kind {
        SignIn::OAuth => "badge badge-warn",
        SignIn::NoKey => "badge badge-info",
        SignIn::ApiKey => "badge badge-muted",
    };
    let connected = (accounts > 0).then(|| {
        view! { <span class="badge badge-ok">{move || t("providers.connected")}</span> }
    });
    let custom = (provider.source == "user").then(|| {
        view! { <span class="badge badge-info">{move || t("providers.custom")}</span> }
    });
    let docs = provider.docs_url.clone().map(|url| {
        view! {
            <a class="small" href=url target="_blank" rel="noopener noreferrer">{tr("providers.docs")}</a>
        }
    });
    let deprecated = provider.is_deprecated().then(|| {
        view! { <span class="badge badge-bad" data-testid="provider-deprecated">{move || t("providers.status_deprecated")}</span> }
    });
    let status_note = provider
        .is_deprecated()
        .then(|| provider.status_note.clone())
        .flatten()
        .map(|note| {
            view! { <p class="prov-note prov-note-warn small" style="margin: 0" data-testid="provider-status-note">{note}</p> }
        });
    let buttons = card_buttons(&provider, accounts, actions);
    let flow = provider
        .oauth
        .as_ref()
        .map(|o| o.flow.clone())
        .unwrap_or_default();
    view! {
        <div
            class="prov-card"
            data-testid="provider-card"
            data-id=id.clone()
            data-tier=provider.tier.clone()
            data-auth=provider.auth.clone()
            data-oauth=flow
            data-status=if provider.is_deprecated() { "deprecated" } else { "active" }
        >
            <div class="prov-card-head">
                <div class="prov-card-title">
                    <strong>{provider.display_name().to_owned()}</strong>
                    <span class="mono small muted" dir="ltr">{format!("{}/…", provider.prefix_or_id())}</span>
                </div>
                {connected}
            </div>
            <div class="row prov-card-badges">
                <span class="badge badge-muted mono" data-testid="provider-format">{provider.format.clone()}</span>
                <span class=auth_class data-testid="provider-auth">{move || t(sign_in_key(kind))}</span>
                {custom}
                {deprecated}
            </div>
            {status_note}
            <div class="prov-card-stats small muted">
                <span data-testid="provider-models">{move || count_text(models, "providers.models_one", "providers.models_n")}</span>
                <span data-testid="provider-connections" data-count=accounts.to_string()>
                    {move || count_text(accounts, "providers.accounts_one", "providers.accounts_n")}
                </span>
            </div>
            <div class="prov-card-foot row">
                {docs}
                <span class="spacer"></span>
                {buttons}
            </div>
        </div>
    }
}

/// The catalog filtered by the search box, grouped by tier.
fn catalog_view(
    providers: Vec<Provider>,
    connections: &[Connection],
    query: &str,
    actions: CardActions,
) -> AnyView {
    let shown: Vec<Provider> = providers
        .into_iter()
        .filter(|p| matches_search(p, query))
        .collect();
    if shown.is_empty() {
        let message = if query.trim().is_empty() {
            "providers.catalog_empty"
        } else {
            "providers.search_empty"
        };
        return view! { <Empty message=message/> }.into_any();
    }
    let groups = group_by_tier(shown)
        .into_iter()
        .map(|(tier, list)| {
            let count = list.len();
            let cards = list
                .into_iter()
                .map(|p| {
                    let accounts = connections.iter().filter(|c| c.provider == p.id).count();
                    provider_card(p, accounts, actions)
                })
                .collect_view();
            let label = t(tier_key(&tier));
            let label = if tier_key(&tier) == "providers.tier_other" {
                format!("{label} ({tier})")
            } else {
                label
            };
            view! {
                <section class="prov-tier" data-testid="provider-tier" data-tier=tier.clone()>
                    <header class="prov-tier-head">
                        <h3>{label}<span class="muted small prov-tier-count">{count}</span></h3>
                        <p class="muted small">{t(tier_hint_key(&tier))}</p>
                    </header>
                    <div class="prov-cards">{cards}</div>
                </section>
            }
        })
        .collect_view();
    view! { <div class="prov-catalog">{groups}</div> }.into_any()
}

#[component]
pub fn ProvidersPage() -> impl IntoView {
    let providers =
        LocalResource::new(|| async { api::get::<ProviderList>("/api/providers").await });
    let connections =
        LocalResource::new(|| async { api::get::<ConnectionList>("/api/connections").await });
    let settings =
        LocalResource::new(|| async { api::get::<ProxySettings>("/api/settings").await });
    let quota = LocalResource::new(|| async { api::get::<QuotaReport>("/api/quota").await });
    let now = RwSignal::new(browser::now_ms());
    let tests = RwSignal::new(HashMap::<i64, TestState>::new());
    let search = RwSignal::new(String::new());
    let dialog = RwSignal::new(None::<ConnectTarget>);
    let signing_in = RwSignal::new(None::<SignInTarget>);

    // Countdowns move on their own; quota and cooldowns are reloaded now and then.
    let ticks = StoredValue::new(0u32);
    if let Ok(handle) = set_interval_with_handle(
        move || {
            now.set(browser::now_ms());
            ticks.update_value(|n| *n += 1);
            if ticks.get_value().is_multiple_of(TICKS_PER_QUOTA_RELOAD) {
                quota.refetch();
            }
        },
        TICK,
    ) {
        on_cleanup(move || handle.clear());
    }

    let reload = Callback::new(move |()| {
        connections.refetch();
        settings.refetch();
        providers.refetch();
        quota.refetch();
    });
    let on_edit = Callback::new(move |connection: Connection| {
        let provider = providers
            .get_untracked()
            .and_then(Result::ok)
            .and_then(|list| list.data.into_iter().find(|p| p.id == connection.provider));
        dialog.set(Some(ConnectTarget::Edit {
            connection: Box::new(connection),
            provider,
        }));
    });
    let on_connect = Callback::new(move |provider: Provider| {
        let existing: Vec<String> = connections
            .get_untracked()
            .and_then(Result::ok)
            .map(|list| list.data.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        let name = default_connection_name(provider.display_name(), &existing);
        dialog.set(Some(ConnectTarget::New { provider, name }));
    });
    let on_sign_in = Callback::new(move |provider: Provider| {
        signing_in.set(Some(SignInTarget {
            provider,
            name: None,
        }));
    });
    // An account the provider stopped accepting signs in again under its
    // own name (the gateway matches it by email and renews it).
    let on_sign_in_again = Callback::new(move |connection: Connection| {
        let provider = providers
            .get_untracked()
            .and_then(Result::ok)
            .and_then(|list| list.data.into_iter().find(|p| p.id == connection.provider));
        if let Some(provider) = provider {
            signing_in.set(Some(SignInTarget {
                provider,
                name: Some(connection.name),
            }));
        }
    });
    let actions = CardActions {
        connect: on_connect,
        sign_in: on_sign_in,
    };
    let ctx = AccountsCtx {
        quota,
        now,
        tests,
        on_edit,
        on_sign_in: on_sign_in_again,
        on_changed: reload,
    };

    let accounts = move || {
        let catalog = providers
            .get()
            .and_then(Result::ok)
            .map(|l| l.data)
            .unwrap_or_default();
        let proxies = settings.get().and_then(Result::ok).unwrap_or_default();
        resolved(connections.get(), move |list: ConnectionList| {
            accounts_view(list.data, &catalog, &proxies, ctx)
        })
    };
    let catalog = move || {
        let accounts = connections
            .get()
            .and_then(Result::ok)
            .map(|l| l.data)
            .unwrap_or_default();
        let query = search.get();
        resolved(providers.get(), move |list: ProviderList| {
            catalog_view(list.data, &accounts, &query, actions)
        })
    };
    let connected_count = move || {
        connections
            .get()
            .and_then(Result::ok)
            .map_or(0, |l| l.data.len())
    };

    let actions = Box::new(move || {
        view! {
            <button class="btn" data-testid="providers-refresh" on:click=move |_| reload.run(())>
                {tr("common.refresh")}
            </button>
        }
        .into_any()
    });

    view! {
        <Page title="providers.title" subtitle="providers.subtitle" actions=actions>
            <div class="card prov-accounts-card" data-testid="connections">
                <div class="prov-section-head">
                    <h2 class="card-title">{tr("providers.accounts_title")}</h2>
                    <span class="muted small">{move || count_text(connected_count(), "providers.accounts_one", "providers.accounts_n")}</span>
                </div>
                {accounts}
            </div>
            <div class="card" data-testid="catalog">
                <div class="prov-section-head">
                    <h2 class="card-title">{tr("providers.catalog_title")}</h2>
                    <input
                        type="search"
                        class="prov-search"
                        data-testid="provider-search"
                        placeholder=move || t("providers.search_placeholder")
                        aria-label=move || t("providers.search_placeholder")
                        prop:value=move || search.get()
                        on:input=move |ev| search.set(event_target_value(&ev))
                    />
                </div>
                {catalog}
            </div>
            {move || dialog.get().map(|target| view! {
                <ConnectDialog
                    target=target
                    on_saved=move || {
                        dialog.set(None);
                        reload.run(());
                    }
                    on_close=move || dialog.set(None)
                />
            })}
            {move || signing_in.get().map(|target| view! {
                <SignInDialog
                    target=target
                    on_done=reload
                    on_close=move || signing_in.set(None)
                />
            })}
        </Page>
    }
}
