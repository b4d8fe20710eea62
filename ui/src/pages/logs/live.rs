//! The live monitor tab: requests as the gateway records them, over Server-Sent Events from `/api/usage/live`.
//!
//! The tab first shows the latest rows from `/api/usage`, then opens an
//! `EventSource` with `since_id` set to the newest of them, so no row falls
//! in between. The browser reconnects by itself after a dropped stream
//! (sending `Last-Event-ID`); when it gives up (the gateway restarted, the
//! reply was an error) the tab reconnects with a growing delay. Rows already
//! seen are skipped by id, so a replay never duplicates one.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{PageReply, UsageRow, usage_head, usage_row};
use crate::api::{self, ApiError};
use crate::components::{Empty, ErrorBox};
use crate::i18n::{t, t_with, tr};

/// Most rows the monitor keeps on screen (the newest).
pub const LIVE_KEEP: usize = 200;
/// Rows shown from the log when the monitor opens.
const SEED_ROWS: u32 = 50;

/// The state of the stream, for the badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    Connecting,
    Connected,
    Reconnecting,
}

impl LiveStatus {
    /// The badge's `data-state`.
    pub fn id(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "connecting",
            LiveStatus::Connected => "connected",
            LiveStatus::Reconnecting => "reconnecting",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "logs.live_connecting",
            LiveStatus::Connected => "logs.live_connected",
            LiveStatus::Reconnecting => "logs.live_reconnecting",
        }
    }

    pub fn tone(self) -> &'static str {
        match self {
            LiveStatus::Connecting => "info",
            LiveStatus::Connected => "ok",
            LiveStatus::Reconnecting => "warn",
        }
    }
}

/// A row on the monitor; `fresh` ones arrived over the stream and flash once.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEntry {
    pub row: UsageRow,
    pub fresh: bool,
}

/// Adds `incoming` to `list` (newest first), skipping ids already in it and
/// keeping the newest `keep`.
pub fn merge_rows(list: &mut Vec<LiveEntry>, incoming: Vec<LiveEntry>, keep: usize) {
    for entry in incoming {
        if !list.iter().any(|e| e.row.id == entry.row.id) {
            list.push(entry);
        }
    }
    list.sort_by_key(|e| std::cmp::Reverse(e.row.id));
    list.truncate(keep);
}

/// How long to wait before reconnecting after the `attempt`-th failure in a
/// row: 1 s, 2 s, 4 s… up to 30 s.
pub fn reconnect_delay_ms(attempt: u32) -> u64 {
    (1000u64 << attempt.min(5)).min(30_000)
}

/// The signals the stream's callbacks write.
#[derive(Clone, Copy)]
struct LiveSignals {
    rows: RwSignal<Vec<LiveEntry>>,
    /// Rows that arrived while paused, shown on resume.
    pending: RwSignal<Vec<LiveEntry>>,
    paused: RwSignal<bool>,
    status: RwSignal<LiveStatus>,
}

impl LiveSignals {
    fn deliver(self, entries: Vec<LiveEntry>) {
        let target = if self.paused.get_untracked() {
            self.pending
        } else {
            self.rows
        };
        target.update(|list| merge_rows(list, entries, LIVE_KEEP));
    }
}

/// One open `EventSource` and the callbacks it calls; dropping it closes it.
struct Connection {
    source: web_sys::EventSource,
    _callbacks: Vec<Closure<dyn FnMut(web_sys::Event)>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// The monitor's connection state, owned by the tab (callbacks hold it weakly).
struct Feed {
    /// False once the tab is gone: nothing reconnects after that.
    alive: bool,
    /// The largest row id shown, for `since_id` and to skip replayed rows.
    last_id: i64,
    /// Failures since the last successful open, for the reconnect delay.
    attempts: u32,
    retry_pending: bool,
    connection: Option<Connection>,
}

/// Reconnects after a delay, unless one is already planned or the tab is gone.
fn schedule_reconnect(feed: &Rc<RefCell<Feed>>, signals: LiveSignals) {
    let delay = {
        let mut f = feed.borrow_mut();
        if !f.alive || f.retry_pending {
            return;
        }
        f.retry_pending = true;
        let delay = reconnect_delay_ms(f.attempts);
        f.attempts = f.attempts.saturating_add(1);
        delay
    };
    signals.status.set(LiveStatus::Reconnecting);
    let weak = Rc::downgrade(feed);
    set_timeout(
        move || {
            let Some(feed) = weak.upgrade() else {
                return;
            };
            {
                let mut f = feed.borrow_mut();
                f.retry_pending = false;
                if !f.alive {
                    return;
                }
                // Dropped here, outside its own callbacks.
                f.connection = None;
            }
            connect(&feed, signals);
        },
        Duration::from_millis(delay),
    );
}

fn listener(
    source: &web_sys::EventSource,
    event: &str,
    callback: impl FnMut(web_sys::Event) + 'static,
) -> Closure<dyn FnMut(web_sys::Event)> {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(callback);
    let _ = source.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    closure
}

/// Opens the stream from the newest row seen.
fn connect(feed: &Rc<RefCell<Feed>>, signals: LiveSignals) {
    let since = feed.borrow().last_id.max(0);
    let url = api::with_query("/api/usage/live", &[("since_id", since.to_string())]);
    let Ok(source) = web_sys::EventSource::new(&url) else {
        schedule_reconnect(feed, signals);
        return;
    };
    let weak: Weak<RefCell<Feed>> = Rc::downgrade(feed);
    let on_open = {
        let weak = weak.clone();
        listener(&source, "open", move |_| {
            if let Some(feed) = weak.upgrade() {
                feed.borrow_mut().attempts = 0;
            }
            signals.status.set(LiveStatus::Connected);
        })
    };
    let on_error = {
        let weak = weak.clone();
        let source = source.clone();
        listener(&source.clone(), "error", move |_| {
            let Some(feed) = weak.upgrade() else {
                return;
            };
            if source.ready_state() == web_sys::EventSource::CLOSED {
                // The browser gave up (an error reply, not a dropped line).
                schedule_reconnect(&feed, signals);
            } else {
                // The browser is already reconnecting by itself.
                signals.status.set(LiveStatus::Reconnecting);
            }
        })
    };
    let on_usage = {
        let weak = weak.clone();
        listener(&source, "usage", move |event| {
            let Some(data) = event
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|m| m.data().as_string())
            else {
                return;
            };
            let Ok(row) = serde_json::from_str::<UsageRow>(&data) else {
                return;
            };
            let Some(feed) = weak.upgrade() else {
                return;
            };
            {
                let mut f = feed.borrow_mut();
                if row.id <= f.last_id {
                    return;
                }
                f.last_id = row.id;
            }
            signals.deliver(vec![LiveEntry { row, fresh: true }]);
        })
    };
    // The gateway says this client fell behind and missed rows: start over
    // from the last one seen, which replays them.
    let on_lagged = {
        let source = source.clone();
        listener(&source.clone(), "lagged", move |_| {
            source.close();
            if let Some(feed) = weak.upgrade() {
                schedule_reconnect(&feed, signals);
            }
        })
    };
    feed.borrow_mut().connection = Some(Connection {
        source,
        _callbacks: vec![on_open, on_error, on_usage, on_lagged],
    });
}

#[component]
pub fn LiveTab(selected: RwSignal<Option<i64>>) -> impl IntoView {
    let signals = LiveSignals {
        rows: RwSignal::new(Vec::new()),
        pending: RwSignal::new(Vec::new()),
        paused: RwSignal::new(false),
        status: RwSignal::new(LiveStatus::Connecting),
    };
    let seed_error = RwSignal::new(None::<ApiError>);
    let feed = Rc::new(RefCell::new(Feed {
        alive: true,
        last_id: 0,
        attempts: 0,
        retry_pending: false,
        connection: None,
    }));
    let weak = Rc::downgrade(&feed);
    // The tab owns the feed; leaving it closes the stream and stops reconnects.
    let owner = StoredValue::new_local(feed);
    on_cleanup(move || {
        owner.with_value(|feed| {
            let mut f = feed.borrow_mut();
            f.alive = false;
            f.connection = None;
        });
    });
    leptos::task::spawn_local(async move {
        let url = api::with_query("/api/usage", &[("limit", SEED_ROWS.to_string())]);
        let seed = api::get::<PageReply<UsageRow>>(&url).await;
        let Some(feed) = weak.upgrade() else {
            return;
        };
        if !feed.borrow().alive {
            return;
        }
        match seed {
            Ok(page) => {
                let newest = page.data.iter().map(|r| r.id).max().unwrap_or(0);
                feed.borrow_mut().last_id = newest;
                let entries = page
                    .data
                    .into_iter()
                    .map(|row| LiveEntry { row, fresh: false })
                    .collect();
                signals
                    .rows
                    .update(|list| merge_rows(list, entries, LIVE_KEEP));
            }
            // Without the seed the stream still replays the latest rows.
            Err(e) => seed_error.set(Some(e)),
        }
        connect(&feed, signals);
    });

    let toggle_pause = move |_| {
        if signals.paused.get_untracked() {
            let waiting = signals
                .pending
                .try_update(std::mem::take)
                .unwrap_or_default();
            signals
                .rows
                .update(|list| merge_rows(list, waiting, LIVE_KEEP));
            signals.paused.set(false);
        } else {
            signals.paused.set(true);
        }
    };
    let clear = move |_| {
        signals.rows.set(Vec::new());
        signals.pending.set(Vec::new());
    };
    let status = signals.status;
    let rows = signals.rows;
    let pending = signals.pending;
    let paused = signals.paused;

    view! {
        <div class="logs-toolbar">
            <span
                class=move || format!("badge badge-{} logs-live-status", status.get().tone())
                data-testid="live-status"
                data-state=move || status.get().id()
                role="status"
            >
                <span class="logs-dot" aria-hidden="true"></span>
                {move || t(status.get().key())}
            </span>
            <span class="muted small">{move || t_with("logs.live_keep", &[("n", LIVE_KEEP.to_string())])}</span>
            <div class="spacer"></div>
            <button
                class=move || if paused.get() { "btn btn-primary" } else { "btn" }
                data-testid="live-pause"
                aria-pressed=move || paused.get().to_string()
                on:click=toggle_pause
            >
                {move || {
                    if paused.get() {
                        t_with("logs.live_resume", &[("n", pending.with(Vec::len).to_string())])
                    } else {
                        t("logs.live_pause")
                    }
                }}
            </button>
            <button class="btn btn-ghost" data-testid="live-clear" on:click=clear>{tr("logs.live_clear")}</button>
        </div>
        {move || seed_error.get().map(|e| view! { <ErrorBox error=e/> })}
        <div class="card logs-card">
            <Show
                when=move || rows.with(|r| !r.is_empty())
                fallback=|| view! { <Empty message="logs.live_empty"/> }
            >
                <div class="table-wrap">
                    <table class="logs-table" data-testid="live-table">
                        {usage_head()}
                        <tbody>
                            <For each=move || rows.get() key=|e| e.row.id let:entry>
                                {usage_row(entry.row, "live-row", entry.fresh, selected)}
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, fresh: bool) -> LiveEntry {
        LiveEntry {
            row: UsageRow {
                id,
                ..UsageRow::default()
            },
            fresh,
        }
    }

    fn ids(list: &[LiveEntry]) -> Vec<i64> {
        list.iter().map(|e| e.row.id).collect()
    }

    #[test]
    fn new_rows_go_on_top_without_duplicates() {
        let mut list = vec![entry(5, false), entry(4, false)];
        merge_rows(&mut list, vec![entry(6, true), entry(5, true)], LIVE_KEEP);
        assert_eq!(ids(&list), [6, 5, 4]);
        assert!(list[0].fresh);
        assert!(!list[1].fresh, "a row already shown keeps its place");
    }

    #[test]
    fn only_the_newest_rows_are_kept() {
        let mut list: Vec<LiveEntry> = (1..=3).rev().map(|id| entry(id, false)).collect();
        merge_rows(&mut list, vec![entry(4, true), entry(5, true)], 3);
        assert_eq!(ids(&list), [5, 4, 3]);
        // An old row replayed after a reconnect does not push a newer one out.
        merge_rows(&mut list, vec![entry(1, true)], 3);
        assert_eq!(ids(&list), [5, 4, 3]);
    }

    #[test]
    fn reconnect_delays_grow_and_are_capped() {
        assert_eq!(reconnect_delay_ms(0), 1000);
        assert_eq!(reconnect_delay_ms(1), 2000);
        assert_eq!(reconnect_delay_ms(3), 8000);
        assert_eq!(reconnect_delay_ms(5), 30_000);
        assert_eq!(reconnect_delay_ms(40), 30_000);
    }

    #[test]
    fn statuses_have_distinct_states_and_tones() {
        assert_eq!(LiveStatus::Connected.id(), "connected");
        assert_eq!(LiveStatus::Reconnecting.id(), "reconnecting");
        assert_eq!(LiveStatus::Connected.tone(), "ok");
        assert_eq!(LiveStatus::Reconnecting.tone(), "warn");
        assert_ne!(LiveStatus::Connecting.key(), LiveStatus::Connected.key());
    }
}
