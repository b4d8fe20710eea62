//! The logs page: the request log with filters, the live monitor, the audit log, and the detail drawer of one request.

mod audit;
mod detail;
mod live;
mod requests;

use leptos::prelude::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiError};
use crate::browser;
use crate::components::{Empty, ErrorBox, Loading, Page};
use crate::format;
use crate::i18n::{t, t_with, tr};
pub use crate::records::{Hop, UsageRow};

/// Rows asked for per page of the request and audit logs.
pub const PAGE_SIZE: u32 = 50;

/// One page of a log: `{"data": [...], "next_before_id": id|null}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PageReply<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// The `before_id` of the next page; `None` on the last one.
    #[serde(default)]
    pub next_before_id: Option<i64>,
}

/// The badge tone of an HTTP status: successes ok, a client that went away
/// muted, other client errors (rate limits, bad requests) warn, the rest bad.
pub fn status_tone(status: u16) -> &'static str {
    match status {
        200..=299 => "ok",
        499 => "muted",
        400..=498 => "warn",
        _ => "bad",
    }
}

/// The message key saying where an answer came from (`served_from`).
pub fn served_key(served_from: Option<&str>) -> &'static str {
    match served_from {
        None | Some("") => "logs.served_upstream",
        Some("cache") => "logs.served_cache",
        Some("replay") => "logs.served_replay",
        Some("shared") => "logs.served_shared",
        Some(_) => "logs.served_other",
    }
}

/// A logged body for reading: JSON indented, anything else (an SSE
/// transcript, plain text) as it is.
pub fn pretty_body(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if value.is_object() || value.is_array() => {
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned())
        }
        _ => text.to_owned(),
    }
}

/// Where a paged list stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    Idle,
    Loading,
    Failed(ApiError),
}

/// A log read page by page, newest first: the rows so far and the cursor of
/// the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub rows: Vec<T>,
    pub next_before_id: Option<i64>,
    pub load: Load,
    /// Bumped when the list starts over (new filters), so a reply to an
    /// older request cannot land in the new list.
    pub generation: u64,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Paged {
            rows: Vec::new(),
            next_before_id: None,
            load: Load::Idle,
            generation: 0,
        }
    }
}

impl<T> Paged<T> {
    /// Starts a load: from the top when `reset`, else the next page. Returns
    /// the generation the reply belongs to and the `before_id` to ask for;
    /// `None` when there is nothing to do (no next page, or one loading).
    pub fn begin(&mut self, reset: bool) -> Option<(u64, Option<i64>)> {
        if reset {
            self.generation += 1;
            self.rows.clear();
            self.next_before_id = None;
            self.load = Load::Loading;
            return Some((self.generation, None));
        }
        if self.load == Load::Loading {
            return None;
        }
        let before = self.next_before_id?;
        self.load = Load::Loading;
        Some((self.generation, Some(before)))
    }

    /// Takes the reply of a load started at `generation`; a stale one is
    /// ignored. Returns whether it was taken.
    pub fn finish(&mut self, generation: u64, reply: Result<PageReply<T>, ApiError>) -> bool {
        if generation != self.generation {
            return false;
        }
        match reply {
            Ok(page) => {
                self.rows.extend(page.data);
                self.next_before_id = page.next_before_id;
                self.load = Load::Idle;
            }
            Err(e) => self.load = Load::Failed(e),
        }
        true
    }

    /// Whether nothing is shown yet because the first page is on its way.
    pub fn first_loading(&self) -> bool {
        self.rows.is_empty() && self.load == Load::Loading
    }
}

/// Loads the first (`reset`) or the next page of `path?pairs` into `state`.
pub fn load_page<T>(
    state: RwSignal<Paged<T>>,
    path: &'static str,
    pairs: Vec<(&'static str, String)>,
    reset: bool,
) where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let Some((generation, before)) = state.try_update(|s| s.begin(reset)).flatten() else {
        return;
    };
    let mut pairs = pairs;
    pairs.push(("limit", PAGE_SIZE.to_string()));
    if let Some(before) = before {
        pairs.push(("before_id", before.to_string()));
    }
    let url = api::with_query(path, &pairs);
    leptos::task::spawn_local(async move {
        let reply = api::get::<PageReply<T>>(&url).await;
        state.try_update(|s| s.finish(generation, reply));
    });
}

/// What a paged list shows when it has no rows: loading, the error, or its
/// empty message. `None` once there are rows.
pub fn paged_state<T>(paged: &Paged<T>, empty: &'static str) -> Option<AnyView> {
    if !paged.rows.is_empty() {
        return None;
    }
    Some(match &paged.load {
        Load::Loading => view! { <Loading/> }.into_any(),
        Load::Failed(e) => view! { <ErrorBox error=e.clone()/> }.into_any(),
        Load::Idle => view! { <Empty message=empty/> }.into_any(),
    })
}

/// Below a list with rows: the error of a failed next page, how many rows
/// are shown, and the "load more" button while there is more.
pub fn paged_footer<T: Send + Sync + 'static>(
    state: RwSignal<Paged<T>>,
    testid: &'static str,
    on_more: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        state.with(|p| {
            if p.rows.is_empty() {
                return None;
            }
            let error = match &p.load {
                Load::Failed(e) => Some(view! { <ErrorBox error=e.clone()/> }),
                _ => None,
            };
            let loading = p.load == Load::Loading;
            let shown = format::group_thousands(p.rows.len() as u64);
            let more = p.next_before_id.is_some().then(|| {
                let on_more = on_more.clone();
                view! {
                    <button class="btn" data-testid=testid disabled=loading on:click=move |_| on_more()>
                        {if loading { t("common.loading") } else { t("logs.more") }}
                    </button>
                }
            });
            Some(view! {
                {error}
                <div class="logs-footer">
                    <span class="muted small">{t_with("logs.shown", &[("n", shown)])}</span>
                    {more}
                </div>
            })
        })
    }
}

/// The header row of a table of requests.
pub fn usage_head() -> impl IntoView {
    view! {
        <thead>
            <tr>
                <th>{tr("logs.col_time")}</th>
                <th>{tr("logs.col_model")}</th>
                <th>{tr("logs.col_provider")}</th>
                <th>{tr("logs.col_status")}</th>
                <th class="num">{tr("logs.col_tokens")}</th>
                <th class="num">{tr("logs.col_cost")}</th>
                <th class="num">{tr("logs.col_latency")}</th>
                <th>{tr("logs.col_stream")}</th>
                <th>{tr("logs.col_served")}</th>
            </tr>
        </thead>
    }
}

/// One request as a table row; a click opens its detail.
pub fn usage_row(
    row: UsageRow,
    testid: &'static str,
    fresh: bool,
    selected: RwSignal<Option<i64>>,
) -> impl IntoView {
    let id = row.id;
    let upstream = row
        .upstream_model
        .clone()
        .filter(|m| !m.is_empty() && *m != row.requested_model);
    let hops = row.hops.len();
    let served_from = row.served_from.clone();
    let served = served_key(served_from.as_deref());
    let served_tone = if served_from.is_some() {
        "info"
    } else {
        "muted"
    };
    let class = if fresh {
        "clickable log-row logs-fresh"
    } else {
        "clickable log-row"
    };
    view! {
        <tr
            class=class
            class:logs-selected=move || selected.get() == Some(id)
            data-testid=testid
            data-id=id.to_string()
            data-status=row.status.to_string()
            on:click=move |_| selected.set(Some(id))
        >
            <td class="logs-nowrap"><span dir="ltr">{browser::local_datetime(row.ts)}</span></td>
            <td class="logs-model">
                <span class="mono" dir="ltr">{row.requested_model}</span>
                {upstream.map(|m| view! { <div class="muted small mono" dir="ltr">"→ "{m}</div> })}
            </td>
            <td class="logs-nowrap">
                {row.provider.unwrap_or_else(|| "—".into())}
                {(hops > 0).then(|| view! {
                    " "
                    <span class="badge badge-warn" title=move || t("logs.hops_hint")>
                        {move || t_with("logs.hops_count", &[("n", hops.to_string())])}
                    </span>
                })}
            </td>
            <td>
                <span
                    class=format!("badge badge-{}", status_tone(row.status))
                    title=row.error.unwrap_or_default()
                >
                    {row.status.to_string()}
                </span>
            </td>
            <td class="num logs-nowrap">
                <span dir="ltr">{format!("{} / {}", format::count(row.input_tokens), format::count(row.output_tokens))}</span>
            </td>
            <td class="num">{format::usd(row.cost)}</td>
            <td class="num logs-nowrap">{format::millis(row.latency_ms)}</td>
            <td>{stream_label(row.stream)}</td>
            <td><span class=format!("badge badge-{served_tone}")>{tr(served)}</span></td>
        </tr>
    }
}

/// "Streamed" as a badge, or a dash for a plain request.
pub fn stream_label(stream: bool) -> AnyView {
    if stream {
        view! { <span class="badge badge-info">{tr("logs.streamed")}</span> }.into_any()
    } else {
        view! { <span class="muted">"—"</span> }.into_any()
    }
}

/// The page's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Requests,
    Live,
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Requests, Tab::Live, Tab::Audit];

    /// The name in `?tab=` and in the tab's `data-testid` (`tab-<id>`).
    pub fn id(self) -> &'static str {
        match self {
            Tab::Requests => "requests",
            Tab::Live => "live",
            Tab::Audit => "audit",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Tab::Requests => "logs.tab_requests",
            Tab::Live => "logs.tab_live",
            Tab::Audit => "logs.tab_audit",
        }
    }

    pub fn from_id(id: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.id() == id)
    }
}

#[component]
pub fn LogsPage() -> impl IntoView {
    // `?tab=live` opens a tab directly (links from other pages, bookmarks).
    let tab = RwSignal::new(
        browser::query_param("tab")
            .and_then(|id| Tab::from_id(&id))
            .unwrap_or(Tab::Requests),
    );
    // The request whose detail drawer is open, from any tab.
    let selected = RwSignal::new(None::<i64>);
    view! {
        <Page title="logs.title" subtitle="logs.subtitle">
            <div class="tabs" role="tablist">
                {Tab::ALL
                    .into_iter()
                    .map(|t| {
                        view! {
                            <button
                                class="tab"
                                role="tab"
                                data-testid=format!("tab-{}", t.id())
                                aria-selected=move || (tab.get() == t).to_string()
                                on:click=move |_| tab.set(t)
                            >
                                {tr(t.key())}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            // Each tab is built anew when shown and cleaned up when left, so
            // the live monitor's connection lives only while it is on screen.
            {move || match tab.get() {
                Tab::Requests => view! { <requests::RequestsTab selected=selected/> }.into_any(),
                Tab::Live => view! { <live::LiveTab selected=selected/> }.into_any(),
                Tab::Audit => view! { <audit::AuditTab/> }.into_any(),
            }}
            {move || {
                selected
                    .get()
                    .map(|id| view! { <detail::DetailDrawer id=id on_close=move || selected.set(None)/> })
            }}
        </Page>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> UsageRow {
        UsageRow {
            id,
            ..UsageRow::default()
        }
    }

    fn page(ids: &[i64], next: Option<i64>) -> Result<PageReply<UsageRow>, ApiError> {
        Ok(PageReply {
            data: ids.iter().map(|&id| row(id)).collect(),
            next_before_id: next,
        })
    }

    #[test]
    fn statuses_map_to_tones() {
        assert_eq!(status_tone(200), "ok");
        assert_eq!(status_tone(204), "ok");
        assert_eq!(status_tone(429), "warn");
        assert_eq!(status_tone(400), "warn");
        assert_eq!(status_tone(499), "muted");
        assert_eq!(status_tone(500), "bad");
        assert_eq!(status_tone(502), "bad");
        assert_eq!(status_tone(0), "bad");
    }

    #[test]
    fn served_from_has_a_label_for_each_source() {
        assert_eq!(served_key(None), "logs.served_upstream");
        assert_eq!(served_key(Some("cache")), "logs.served_cache");
        assert_eq!(served_key(Some("replay")), "logs.served_replay");
        assert_eq!(served_key(Some("shared")), "logs.served_shared");
        assert_eq!(served_key(Some("tomorrow")), "logs.served_other");
    }

    #[test]
    fn json_bodies_are_indented_and_other_text_is_kept() {
        assert_eq!(pretty_body(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(pretty_body("[1]"), "[\n  1\n]");
        let sse = "data: {\"x\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(pretty_body(sse), sse);
        // A bare JSON string or number reads better as it was sent.
        assert_eq!(pretty_body("\"hi\""), "\"hi\"");
        assert_eq!(pretty_body(""), "");
    }

    #[test]
    fn a_page_reply_reads_with_missing_fields() {
        let reply: PageReply<UsageRow> =
            serde_json::from_str(r#"{"data":[{"id":7,"status":200}]}"#).unwrap_or(PageReply {
                data: Vec::new(),
                next_before_id: Some(-1),
            });
        assert_eq!(reply.data.len(), 1);
        assert_eq!(reply.next_before_id, None);
    }

    #[test]
    fn usage_rows_read_the_gateways_json() {
        let text = r#"{"id":12,"ts":1795890605000,"api_key_id":null,"inbound_format":"openai",
            "requested_model":"fast","provider":"openai","connection_id":3,
            "upstream_model":"gpt-4.1-mini","stream":true,"input_tokens":120,"output_tokens":30,
            "cached_tokens":0,"reasoning_tokens":0,"cost":0.0012,"latency_ms":850,"ttft_ms":300,
            "status":200,"error":null,
            "hops":[{"provider":"anthropic","model":"claude","connection_id":1,"status":529,"error":"overloaded"}],
            "served_from":null,"tier":"api-key","something_new":1}"#;
        let row: UsageRow = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(row.id, 12);
        assert_eq!(row.provider.as_deref(), Some("openai"));
        assert!(row.stream);
        assert_eq!(row.ttft_ms, Some(300));
        assert_eq!(row.hops.len(), 1);
        assert_eq!(row.hops[0].status, Some(529));
        assert_eq!(row.hops[0].error, "overloaded");
    }

    #[test]
    fn pages_append_and_stop_at_the_last() {
        let mut p = Paged::<UsageRow>::default();
        let (generation, before) = p.begin(true).unwrap_or((0, Some(-1)));
        assert_eq!(before, None);
        assert!(p.first_loading());
        assert!(p.finish(generation, page(&[9, 8], Some(8))));
        assert_eq!(p.load, Load::Idle);
        assert_eq!(p.begin(false), Some((generation, Some(8))));
        // A second click while the page loads does nothing.
        assert_eq!(p.begin(false), None);
        assert!(p.finish(generation, page(&[7], None)));
        let ids: Vec<i64> = p.rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, [9, 8, 7]);
        assert_eq!(p.begin(false), None, "no page after the last");
    }

    #[test]
    fn a_reply_to_an_older_filter_is_dropped() {
        let mut p = Paged::<UsageRow>::default();
        let (old, _) = p.begin(true).unwrap_or_default();
        let (new, _) = p.begin(true).unwrap_or_default();
        assert_ne!(old, new);
        assert!(!p.finish(old, page(&[1], None)));
        assert!(p.rows.is_empty());
        assert!(p.finish(new, page(&[2], None)));
        assert_eq!(p.rows.len(), 1);
    }

    #[test]
    fn a_failed_page_keeps_the_rows_and_can_be_retried() {
        let mut p = Paged::<UsageRow>::default();
        let (generation, _) = p.begin(true).unwrap_or_default();
        p.finish(generation, page(&[5], Some(5)));
        let (generation, _) = p.begin(false).unwrap_or_default();
        p.finish(generation, Err(ApiError::network("offline")));
        assert!(matches!(p.load, Load::Failed(_)));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.begin(false), Some((generation, Some(5))));
    }

    #[test]
    fn tabs_round_trip_their_ids() {
        for tab in Tab::ALL {
            assert_eq!(Tab::from_id(tab.id()), Some(tab));
        }
        assert_eq!(Tab::from_id("nope"), None);
    }
}
