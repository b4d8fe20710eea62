//! The events bus: typed events a person should know about, broadcast to live listeners and kept in a short ring for late ones.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// How many envelopes a slow subscriber may fall behind before it is told
/// it lagged.
pub const CHANNEL_CAPACITY: usize = 1024;
/// How many past envelopes are kept for `recent()` and reconnect replay.
pub const RING_SIZE: usize = 200;

/// Something a person should know about, for notifications (desktop) and live views (dashboard).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    QuotaExhausted {
        provider: String,
        connection_id: i64,
        connection: String,
        model: Option<String>,
        until_ms: Option<i64>,
        reason: String,
    },
    /// A breaker opened: `connection_id` None means the whole provider.
    ProviderDown {
        provider: String,
        connection_id: Option<i64>,
        until_ms: i64,
        reason: String,
    },
    ProviderRecovered {
        provider: String,
        connection_id: Option<i64>,
    },
    BudgetExceeded {
        scope: String,
        period: String,
        spent_usd: f64,
        limit_usd: f64,
    },
    TokenRefreshFailed {
        provider: String,
        connection_id: i64,
        reason: String,
    },
    /// A connection was put in a terminal state (auth failed, revoked, banned, out of credits).
    ConnectionDisabled {
        provider: String,
        connection_id: i64,
        connection: String,
        state: String,
        reason: String,
    },
}

impl Event {
    /// The variant's name, as serialised in `type` (the SSE `event:` field).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::QuotaExhausted { .. } => "QuotaExhausted",
            Event::ProviderDown { .. } => "ProviderDown",
            Event::ProviderRecovered { .. } => "ProviderRecovered",
            Event::BudgetExceeded { .. } => "BudgetExceeded",
            Event::TokenRefreshFailed { .. } => "TokenRefreshFailed",
            Event::ConnectionDisabled { .. } => "ConnectionDisabled",
        }
    }
}

/// An event as delivered: a per-run sequence number (starting at 1) and
/// the Unix-millisecond time it was published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    pub id: u64,
    pub ts: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// A subscription taken together with the envelopes published before it:
/// every envelope is in exactly one of the two, so a listener that replays
/// `backlog` and then reads `receiver` sees each event once, in order.
pub struct Subscription {
    pub backlog: Vec<Envelope>,
    pub receiver: broadcast::Receiver<Envelope>,
}

struct Inner {
    sender: broadcast::Sender<Envelope>,
    /// Also the lock that orders publishing: id assignment, the ring and
    /// the broadcast happen under it, so ids reach listeners in order.
    ring: Mutex<VecDeque<Envelope>>,
    next_id: AtomicU64,
    /// Becomes `true` when the server shuts down, to end live streams.
    closed: watch::Sender<bool>,
}

/// The bus. Cheap to clone; every clone publishes to the same listeners.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let (closed, _) = watch::channel(false);
        EventBus {
            inner: Arc::new(Inner {
                sender,
                ring: Mutex::new(VecDeque::with_capacity(RING_SIZE)),
                next_id: AtomicU64::new(1),
                closed,
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, VecDeque<Envelope>> {
        // A panic elsewhere while holding the lock leaves the ring intact
        // (every mutation is a single push/pop), so poisoning is ignored.
        self.inner.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `event` stamped with the current time.
    pub fn publish(&self, event: Event) {
        self.publish_at(event, crate::store::now_ms());
    }

    /// Publishes `event` stamped `ts_ms`. Never blocks on listeners and
    /// never fails: with nobody listening the event is only kept in the ring.
    pub fn publish_at(&self, event: Event, ts_ms: i64) {
        tracing::info!(kind = event.kind(), event = ?event, "event");
        let mut ring = self.ring();
        let envelope = Envelope {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            ts: ts_ms,
            event,
        };
        if ring.len() == RING_SIZE {
            ring.pop_front();
        }
        ring.push_back(envelope.clone());
        // An error only means nobody is subscribed right now.
        let _ = self.inner.sender.send(envelope);
    }

    /// Listens to events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.inner.sender.subscribe()
    }

    /// Listens from now on and returns the kept envelopes with an id above
    /// `since` (all kept ones for `None`), with no gap and no duplicate
    /// between the two.
    pub fn subscribe_since(&self, since: Option<u64>) -> Subscription {
        let ring = self.ring();
        let receiver = self.inner.sender.subscribe();
        let backlog = ring
            .iter()
            .filter(|e| since.is_none_or(|s| e.id > s))
            .cloned()
            .collect();
        Subscription { backlog, receiver }
    }

    /// The kept envelopes, oldest first (at most [`RING_SIZE`]).
    pub fn recent(&self) -> Vec<Envelope> {
        self.ring().iter().cloned().collect()
    }

    /// The last `n` kept envelopes, oldest first.
    pub fn last(&self, n: usize) -> Vec<Envelope> {
        let ring = self.ring();
        ring.iter()
            .skip(ring.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// Ends every live stream (server shutdown): their listeners see
    /// [`EventBus::closed`] resolve. Publishing still works afterwards.
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Resolves once [`EventBus::close`] has been called (at once if it
    /// already was).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.inner.closed.subscribe();
        async move {
            // An error means the bus itself is gone, which also ends streams.
            let _ = closed.wait_for(|c| *c).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recovered(provider: &str) -> Event {
        Event::ProviderRecovered {
            provider: provider.into(),
            connection_id: None,
        }
    }

    #[test]
    fn publishing_without_subscribers_keeps_the_event() {
        let bus = EventBus::new();
        bus.publish_at(recovered("openai"), 1_000);
        let recent = bus.recent();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].id, 1);
        assert_eq!(recent[0].ts, 1_000);
        assert_eq!(recent[0].event, recovered("openai"));
    }

    #[test]
    fn the_ring_keeps_only_the_newest() {
        let bus = EventBus::new();
        for i in 0..(RING_SIZE as i64 + 50) {
            bus.publish_at(recovered("p"), i);
        }
        let recent = bus.recent();
        assert_eq!(recent.len(), RING_SIZE);
        assert_eq!(recent[0].id, 51, "the 50 oldest were dropped");
        assert_eq!(recent.last().map(|e| e.id), Some(RING_SIZE as u64 + 50));
        let last = bus.last(3);
        assert_eq!(
            last.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![248, 249, 250]
        );
        assert_eq!(bus.last(1000).len(), RING_SIZE);
    }

    #[tokio::test]
    async fn a_subscriber_receives_events_in_order() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        bus.publish_at(recovered("a"), 1);
        bus.publish_at(recovered("b"), 2);
        assert_eq!(rx.recv().await.map(|e| e.id).ok(), Some(1));
        assert_eq!(rx.recv().await.map(|e| e.id).ok(), Some(2));
    }

    #[tokio::test]
    async fn since_replays_only_newer_envelopes_then_goes_live() {
        let bus = EventBus::new();
        for i in 0..5 {
            bus.publish_at(recovered("p"), i);
        }
        let Subscription {
            backlog,
            mut receiver,
        } = bus.subscribe_since(Some(3));
        assert_eq!(backlog.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 5]);
        bus.publish_at(recovered("q"), 9);
        let live = receiver.recv().await.ok();
        assert_eq!(live.map(|e| e.id), Some(6), "no duplicate of 4 or 5");

        assert_eq!(bus.subscribe_since(None).backlog.len(), 6);
        assert!(bus.subscribe_since(Some(6)).backlog.is_empty());
        assert!(bus.subscribe_since(Some(1000)).backlog.is_empty());
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_it_missed() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        for i in 0..(CHANNEL_CAPACITY as i64 + 10) {
            bus.publish_at(recovered("p"), i);
        }
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert_eq!(rx.recv().await.map(|e| e.id).ok(), Some(11));
    }

    #[tokio::test]
    async fn close_resolves_closed_now_and_later() {
        let bus = EventBus::new();
        let waiting = tokio::spawn(bus.closed());
        bus.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("closed resolves")
            .expect("task");
        tokio::time::timeout(std::time::Duration::from_secs(5), bus.closed())
            .await
            .expect("already closed resolves at once");
    }

    #[test]
    fn an_envelope_serialises_flat_with_its_type() {
        let envelope = Envelope {
            id: 7,
            ts: 1_700_000_000_000,
            event: Event::ProviderDown {
                provider: "openai".into(),
                connection_id: Some(3),
                until_ms: 1_700_000_030_000,
                reason: "5 failures in 60 s".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&envelope).ok(),
            Some(json!({
                "id": 7,
                "ts": 1_700_000_000_000_i64,
                "type": "ProviderDown",
                "provider": "openai",
                "connection_id": 3,
                "until_ms": 1_700_000_030_000_i64,
                "reason": "5 failures in 60 s",
            }))
        );
        assert_eq!(envelope.event.kind(), "ProviderDown");
    }
}
