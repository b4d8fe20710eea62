//! The request log tab: every request, newest first, filtered by model, provider and outcome, page by page.

use std::collections::BTreeSet;

use leptos::prelude::*;

use super::{Paged, UsageRow, load_page, paged_footer, paged_state, usage_head, usage_row};
use crate::api;
use crate::i18n::tr;
use crate::pages::overview::ProviderList;

/// Which outcomes the log shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    All,
    Ok,
    Failed,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 3] = [StatusFilter::All, StatusFilter::Ok, StatusFilter::Failed];

    /// The `<option>` value.
    pub fn id(self) -> &'static str {
        match self {
            StatusFilter::All => "",
            StatusFilter::Ok => "ok",
            StatusFilter::Failed => "failed",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            StatusFilter::All => "logs.status_all",
            StatusFilter::Ok => "logs.status_ok",
            StatusFilter::Failed => "logs.status_failed",
        }
    }

    pub fn from_id(id: &str) -> StatusFilter {
        StatusFilter::ALL
            .into_iter()
            .find(|s| s.id() == id)
            .unwrap_or_default()
    }
}

/// The filters above the request log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// The model as the caller asked for it (exact).
    pub model: String,
    /// A provider id.
    pub provider: String,
    pub status: StatusFilter,
}

impl Filters {
    /// The `/api/usage` query of these filters; empty values are left out
    /// by `api::with_query`.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let ok = match self.status {
            StatusFilter::All => String::new(),
            StatusFilter::Ok => "true".into(),
            StatusFilter::Failed => "false".into(),
        };
        vec![
            ("model", self.model.trim().to_owned()),
            ("provider", self.provider.trim().to_owned()),
            ("ok", ok),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self == &Filters::default()
    }
}

/// The providers to offer in the filter: those with an account, those in
/// the rows shown, and the one selected, sorted.
pub fn provider_choices(connected: &[String], rows: &[UsageRow], selected: &str) -> Vec<String> {
    let mut set: BTreeSet<String> = connected.iter().cloned().collect();
    set.extend(rows.iter().filter_map(|r| r.provider.clone()));
    if !selected.is_empty() {
        set.insert(selected.to_owned());
    }
    set.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The requested models in the rows shown, for the model field's suggestions.
pub fn model_choices(rows: &[UsageRow]) -> Vec<String> {
    let set: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.requested_model.as_str())
        .filter(|m| !m.is_empty())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

#[component]
pub fn RequestsTab(selected: RwSignal<Option<i64>>) -> impl IntoView {
    let filters = RwSignal::new(Filters::default());
    let state = RwSignal::new(Paged::<UsageRow>::default());
    let providers =
        LocalResource::new(|| async { api::get::<ProviderList>("/api/providers").await });
    // The first page again whenever a filter changes (and once at the start).
    Effect::new(move |_| {
        let query = filters.with(Filters::query);
        load_page(state, "/api/usage", query, true);
    });
    let more = move || {
        load_page(
            state,
            "/api/usage",
            filters.with_untracked(Filters::query),
            false,
        )
    };
    let refresh = move |_| {
        load_page(
            state,
            "/api/usage",
            filters.with_untracked(Filters::query),
            true,
        )
    };
    let rows = Memo::new(move |_| state.with(|p| p.rows.clone()));
    let connected = move || {
        providers
            .get()
            .and_then(Result::ok)
            .map(|list| {
                list.data
                    .into_iter()
                    .filter(|p| p.connections > 0)
                    .map(|p| p.id)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let provider_options = move || {
        let current = filters.with(|f| f.provider.clone());
        let choices = rows.with(|r| provider_choices(&connected(), r, &current));
        choices
            .into_iter()
            .map(|id| {
                let is_current = id == current;
                view! { <option value=id.clone() selected=is_current>{id.clone()}</option> }
            })
            .collect_view()
    };
    let model_options = move || {
        rows.with(|r| model_choices(r))
            .into_iter()
            .map(|m| view! { <option value=m></option> })
            .collect_view()
    };

    view! {
        <div class="logs-toolbar">
            <label class="logs-filter">
                <span>{tr("logs.filter_model")}</span>
                <input
                    type="search"
                    list="logs-models"
                    data-testid="filter-model"
                    placeholder=tr("logs.filter_model_hint")
                    prop:value=move || filters.with(|f| f.model.clone())
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        filters.update(|f| f.model = value.trim().to_owned());
                    }
                />
                <datalist id="logs-models">{model_options}</datalist>
            </label>
            <label class="logs-filter">
                <span>{tr("logs.filter_provider")}</span>
                <select
                    data-testid="filter-provider"
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        filters.update(|f| f.provider = value);
                    }
                >
                    <option value="" selected=move || filters.with(|f| f.provider.is_empty())>
                        {tr("logs.all_providers")}
                    </option>
                    {provider_options}
                </select>
            </label>
            <label class="logs-filter">
                <span>{tr("logs.filter_status")}</span>
                <select
                    data-testid="filter-status"
                    on:change=move |ev| {
                        let value = StatusFilter::from_id(&event_target_value(&ev));
                        filters.update(|f| f.status = value);
                    }
                >
                    {StatusFilter::ALL
                        .into_iter()
                        .map(|s| {
                            view! {
                                <option value=s.id() selected=move || filters.with(|f| f.status == s)>
                                    {tr(s.key())}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <div class="spacer"></div>
            {move || {
                (!filters.with(Filters::is_empty))
                    .then(|| {
                        view! {
                            <button class="btn btn-ghost" data-testid="filter-clear" on:click=move |_| filters.set(Filters::default())>
                                {tr("logs.clear_filters")}
                            </button>
                        }
                    })
            }}
            <button class="btn" data-testid="logs-refresh" on:click=refresh>{tr("common.refresh")}</button>
        </div>
        <div class="card logs-card">
            {move || {
                let empty = if filters.with(Filters::is_empty) { "logs.empty" } else { "logs.empty_filtered" };
                state.with(|p| paged_state(p, empty))
            }}
            <Show when=move || rows.with(|r| !r.is_empty())>
                <div class="table-wrap">
                    <table class="logs-table" data-testid="logs-table">
                        {usage_head()}
                        <tbody>
                            <For each=move || rows.get() key=|r| r.id let:row>
                                {usage_row(row, "log-row", false, selected)}
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
            {paged_footer(state, "logs-more", more)}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_the_usage_query() {
        let none = Filters::default();
        assert!(none.is_empty());
        assert_eq!(api::with_query("/api/usage", &none.query()), "/api/usage");
        let some = Filters {
            model: " openai/gpt-4.1 ".into(),
            provider: "openai".into(),
            status: StatusFilter::Failed,
        };
        assert!(!some.is_empty());
        assert_eq!(
            api::with_query("/api/usage", &some.query()),
            "/api/usage?model=openai%2Fgpt-4.1&provider=openai&ok=false"
        );
        let ok = Filters {
            status: StatusFilter::Ok,
            ..Filters::default()
        };
        assert_eq!(
            api::with_query("/api/usage", &ok.query()),
            "/api/usage?ok=true"
        );
    }

    #[test]
    fn status_filters_round_trip_their_option_values() {
        for s in StatusFilter::ALL {
            assert_eq!(StatusFilter::from_id(s.id()), s);
        }
        assert_eq!(StatusFilter::from_id("garbage"), StatusFilter::All);
    }

    #[test]
    fn provider_choices_merge_accounts_rows_and_the_selection() {
        let rows = vec![
            UsageRow {
                provider: Some("groq".into()),
                ..UsageRow::default()
            },
            UsageRow {
                provider: None,
                ..UsageRow::default()
            },
            UsageRow {
                provider: Some("openai".into()),
                ..UsageRow::default()
            },
        ];
        assert_eq!(
            provider_choices(&["openai".into(), "anthropic".into()], &rows, "mistral"),
            ["anthropic", "groq", "mistral", "openai"]
        );
        assert_eq!(provider_choices(&[], &[], ""), Vec::<String>::new());
    }

    #[test]
    fn model_choices_are_distinct_and_sorted() {
        let rows: Vec<UsageRow> = ["b", "a", "b", ""]
            .into_iter()
            .map(|m| UsageRow {
                requested_model: m.into(),
                ..UsageRow::default()
            })
            .collect();
        assert_eq!(model_choices(&rows), ["a", "b"]);
    }
}
