//! The combos page: named fallback chains with their strategy, entries and which entry served the latest requests; create, edit, toggle, delete.

pub mod form;
pub mod model;

use leptos::prelude::*;
use serde_json::json;

use self::form::ComboForm;
use self::model::{Combo, ComboList, UsageList, UsageRow, served_entry, strategy_key};
use crate::api::{self, ApiError, encode_component, with_query};
use crate::components::{Empty, Page, Toggle, notify_error, notify_ok, resolved};
use crate::i18n::{t, t_with, tr};
use crate::pages::providers::model::{Provider, ProviderList};
use crate::{browser, format};

/// How many of the latest requests a row shows, of the 20 it reads.
const LAST_SHOWN: usize = 5;

/// What the editor is open for.
#[derive(Debug, Clone, PartialEq)]
enum Editor {
    New,
    Edit(Combo),
}

/// The badge of one request: which entry served it, or how it failed.
fn served_badge(
    row: UsageRow,
    entries: &[String],
    providers: &[Provider],
    now: i64,
) -> impl IntoView {
    let ok = (200..300).contains(&row.status);
    let index = match (&row.provider, &row.upstream_model) {
        (Some(p), Some(m)) => served_entry(entries, p, m, providers),
        _ => None,
    };
    let target = match (&row.provider, &row.upstream_model) {
        (Some(p), Some(m)) => Some(format!("{p}/{m}")),
        _ => None,
    };
    let (class, text) = if let Some(from) = row.served_from.clone().filter(|_| ok) {
        (
            "badge badge-info",
            t_with("combos.served_from", &[("from", from)]),
        )
    } else if ok {
        let target = target.clone().unwrap_or_default();
        let text = match index {
            Some(i) => format!("#{} {target}", i + 1),
            None => target,
        };
        ("badge badge-ok", text)
    } else {
        ("badge badge-bad", format!("HTTP {}", row.status))
    };
    let hops = row.hops.len();
    let mut title = vec![format::ago(now, row.ts), format::millis(row.latency_ms)];
    if let Some(e) = row.error.clone().filter(|_| !ok) {
        title.push(e);
    }
    for hop in &row.hops {
        let status = hop.status.map_or_else(String::new, |s| format!(" {s}"));
        title.push(format!(
            "↪ {}/{}{status}: {}",
            hop.provider, hop.model, hop.error
        ));
    }
    view! {
        <span
            class=format!("{class} combo-served")
            data-testid="combo-served"
            data-entry=index.map_or_else(String::new, |i| i.to_string())
            data-ok=ok.to_string()
            title=title.join("\n")
            dir="ltr"
        >
            {text}
            {(hops > 0).then(|| view! { <span class="combo-hops">{format!(" +{hops}")}</span> })}
        </span>
    }
}

/// Which entries served the combo's latest requests (newest first).
#[component]
fn LastServed(combo: Combo, providers: Signal<Vec<Provider>>) -> impl IntoView {
    let name = combo.name.clone();
    let usage = LocalResource::new(move || {
        let path = with_query(
            "/api/usage",
            &[("model", name.clone()), ("limit", "20".to_owned())],
        );
        async move { api::get::<UsageList>(&path).await }
    });
    let entries = combo.models.clone();
    view! {
        <div class="combo-last" data-testid="combo-last-served">
            {move || {
                let entries = entries.clone();
                match usage.get() {
                    None => view! { <span class="muted small">"…"</span> }.into_any(),
                    Some(Err(e)) => view! { <span class="muted small" title=e.message>{t("combos.served_unknown")}</span> }.into_any(),
                    Some(Ok(list)) if list.data.is_empty() => {
                        view! { <span class="muted small">{t("combos.served_none")}</span> }.into_any()
                    }
                    Some(Ok(list)) => {
                        let now = browser::now_ms();
                        let catalog = providers.get();
                        list.data
                            .into_iter()
                            .take(LAST_SHOWN)
                            .map(|row| served_badge(row, &entries, &catalog, now))
                            .collect_view()
                            .into_any()
                    }
                }
            }}
        </div>
    }
}

/// The strategy as words (an unknown one as it is).
fn strategy_label(strategy: &str) -> String {
    strategy_key(strategy).map_or_else(|| strategy.to_owned(), t)
}

fn combo_row(
    combo: Combo,
    providers: Signal<Vec<Provider>>,
    on_edit: Callback<Combo>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let name = combo.name.clone();
    let path = format!("/api/combos/{}", encode_component(&name));
    let enabled = combo.enabled;
    let chain = combo
        .models
        .iter()
        .map(|m| view! { <li><code dir="ltr">{m.clone()}</code></li> })
        .collect_view();
    let strategy = combo.strategy.clone();
    let sticky = (combo.strategy == "round-robin" && combo.sticky > 1).then(|| {
        let n = combo.sticky;
        view! { <div class="muted small">{move || t_with("combos.sticky_n", &[("n", n.to_string())])}</div> }
    });
    let from_config = (combo.source == "config").then(|| {
        view! { <span class="badge badge-muted" title=t("combos.from_config_hint")>{t("combos.from_config")}</span> }
    });
    let toggle = {
        let path = path.clone();
        move |on: bool| {
            let path = path.clone();
            leptos::task::spawn_local(async move {
                let reply: Result<serde_json::Value, ApiError> =
                    api::patch(&path, &json!({ "enabled": on })).await;
                match reply {
                    Ok(_) => notify_ok(if on {
                        "combos.enabled_ok"
                    } else {
                        "combos.disabled_ok"
                    }),
                    Err(e) => notify_error(&e),
                }
                on_changed.run(());
            });
        }
    };
    let delete = {
        let name = name.clone();
        move |_| {
            if !browser::confirm(&t_with("common.confirm_delete", &[("name", name.clone())])) {
                return;
            }
            let path = path.clone();
            leptos::task::spawn_local(async move {
                match api::delete(&path).await {
                    Ok(()) => {
                        notify_ok("combos.deleted_ok");
                        on_changed.run(());
                    }
                    Err(e) => notify_error(&e),
                }
            });
        }
    };
    let edit = combo.clone();
    view! {
        <tr data-testid="combo-row" data-name=name.clone() data-enabled=enabled.to_string() class=if enabled { "" } else { "combo-off" }>
            <td>
                <div class="row combo-name">
                    <strong dir="ltr">{name.clone()}</strong>
                    {from_config}
                </div>
            </td>
            <td data-testid="combo-strategy-label" data-strategy=combo.strategy.clone()>
                <div>{move || strategy_label(&strategy)}</div>
                {sticky}
            </td>
            <td><ol class="combo-chain" data-testid="combo-chain">{chain}</ol></td>
            <td><LastServed combo=combo providers=providers/></td>
            <td>
                <Toggle checked=Signal::derive(move || enabled) on_change=toggle testid="combo-toggle"/>
            </td>
            <td class="combo-actions">
                <div class="row">
                    <button class="btn btn-small" data-testid="combo-edit" on:click=move |_| on_edit.run(edit.clone())>
                        {tr("common.edit")}
                    </button>
                    <button class="btn btn-small btn-danger" data-testid="combo-delete" on:click=delete>
                        {tr("common.delete")}
                    </button>
                </div>
            </td>
        </tr>
    }
}

fn combos_table(
    combos: Vec<Combo>,
    providers: Signal<Vec<Provider>>,
    on_edit: Callback<Combo>,
    on_changed: Callback<()>,
) -> AnyView {
    if combos.is_empty() {
        return view! { <Empty message="combos.empty"/> }.into_any();
    }
    let rows = combos
        .into_iter()
        .map(|c| combo_row(c, providers, on_edit, on_changed))
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="combo-table" data-testid="combos-table">
                <thead>
                    <tr>
                        <th>{tr("combos.col_name")}</th>
                        <th>{tr("combos.col_strategy")}</th>
                        <th>{tr("combos.col_entries")}</th>
                        <th>{tr("combos.col_served")}</th>
                        <th>{tr("combos.col_enabled")}</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn CombosPage() -> impl IntoView {
    let combos = LocalResource::new(|| async { api::get::<ComboList>("/api/combos").await });
    let catalog = LocalResource::new(|| async { api::get::<ProviderList>("/api/providers").await });
    let providers = Signal::derive(move || {
        catalog
            .get()
            .and_then(Result::ok)
            .map(|l| l.data)
            .unwrap_or_default()
    });
    let editor = RwSignal::new(None::<Editor>);
    let on_edit = Callback::new(move |c: Combo| editor.set(Some(Editor::Edit(c))));
    let on_changed = Callback::new(move |()| combos.refetch());

    let actions = Box::new(move || {
        view! {
            <button class="btn" data-testid="combos-refresh" on:click=move |_| combos.refetch()>
                {tr("common.refresh")}
            </button>
            <button class="btn btn-primary" data-testid="combo-new" on:click=move |_| editor.set(Some(Editor::New))>
                {tr("combos.new")}
            </button>
        }
        .into_any()
    });

    view! {
        <Page title="combos.title" subtitle="combos.subtitle" actions=actions>
            <div class="card">
                {move || resolved(combos.get(), move |list: ComboList| {
                    combos_table(list.data, providers, on_edit, on_changed)
                })}
            </div>
            {move || editor.get().map(|which| {
                let all = combos
                    .get_untracked()
                    .and_then(Result::ok)
                    .map(|l| l.data)
                    .unwrap_or_default();
                let editing = match which {
                    Editor::New => None,
                    Editor::Edit(c) => Some(c),
                };
                view! {
                    <ComboForm
                        editing=editing
                        providers=providers
                        combos=all
                        on_saved=move || {
                            editor.set(None);
                            combos.refetch();
                        }
                        on_close=move || editor.set(None)
                    />
                }
            })}
        </Page>
    }
}
