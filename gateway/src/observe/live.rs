//! The live request monitor's feed: every usage row, once committed (so it has its id), broadcast to the dashboard's live views.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::usage::UsageRow;

/// How many rows a slow listener may fall behind before it is told it lagged.
pub const LIVE_CAPACITY: usize = 1024;

/// The sending side, shared by the usage writer and `/api/usage/live`.
/// Publishing never blocks: a listener that falls behind skips rows.
#[derive(Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<Arc<UsageRow>>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed::new()
    }
}

impl LiveFeed {
    pub fn new() -> LiveFeed {
        let (sender, _) = broadcast::channel(LIVE_CAPACITY);
        LiveFeed { sender }
    }

    /// Listens to rows committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<UsageRow>> {
        self.sender.subscribe()
    }

    /// Someone is listening; with nobody, the writer skips building rows.
    pub fn is_watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn publish(&self, row: UsageRow) {
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(Arc::new(row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::UsageRecord;

    fn row(id: i64) -> UsageRow {
        UsageRow {
            id,
            record: UsageRecord::default(),
        }
    }

    #[tokio::test]
    async fn listeners_get_rows_published_after_they_subscribe() {
        let feed = LiveFeed::new();
        assert!(!feed.is_watched());
        feed.publish(row(1));
        let mut rx = feed.subscribe();
        assert!(feed.is_watched());
        feed.publish(row(2));
        assert_eq!(rx.recv().await.unwrap().id, 2);
    }

    #[tokio::test]
    async fn a_slow_listener_lags_instead_of_blocking_the_publisher() {
        let feed = LiveFeed::new();
        let mut rx = feed.subscribe();
        for id in 0..(LIVE_CAPACITY as i64 + 3) {
            feed.publish(row(id));
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(3))
        ));
        assert_eq!(rx.recv().await.unwrap().id, 3);
    }
}
