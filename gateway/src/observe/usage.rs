//! The usage record of one request, and the bounded channel that carries it to the writer.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// What one data-plane request used and how it went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Unix milliseconds when the request arrived.
    pub ts: i64,
    pub api_key_id: Option<i64>,
    /// The caller's wire format (`openai`, `anthropic`, `gemini`, `responses`).
    pub inbound_format: String,
    pub requested_model: String,
    pub provider: Option<String>,
    pub connection_id: Option<i64>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// USD, from the catalog price of the upstream model.
    pub cost: f64,
    pub latency_ms: u64,
    /// Time to the first upstream body byte, for streams.
    pub ttft_ms: Option<u64>,
    pub status: u16,
    pub error: Option<String>,
}

/// A message to the usage writer thread.
pub enum WriterMsg {
    Record(Box<UsageRecord>),
    /// Delete records older than this Unix-millisecond time.
    Prune(i64),
    /// Answer once everything sent before is committed.
    Flush(oneshot::Sender<()>),
    /// Commit what is queued, then stop.
    Stop,
}

/// The sending side of the usage channel. Cloned into every request.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<WriterMsg>,
}

impl UsageSink {
    pub fn new(tx: mpsc::Sender<WriterMsg>) -> UsageSink {
        UsageSink { tx }
    }

    /// Queues a record, waiting for room when the channel is full
    /// (back-pressure rather than a dropped record).
    pub async fn send(&self, record: UsageRecord) {
        if self
            .tx
            .send(WriterMsg::Record(Box::new(record)))
            .await
            .is_err()
        {
            tracing::error!("usage writer stopped; a usage record could not be queued");
        }
    }

    /// Queues a record from synchronous code (a `Drop`). When the channel is
    /// full the record waits in a task instead of being dropped.
    pub fn send_now(&self, record: UsageRecord) {
        match self.tx.try_send(WriterMsg::Record(Box::new(record))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(handle) => {
                        handle.spawn(async move {
                            if tx.send(msg).await.is_err() {
                                tracing::error!("usage writer stopped; a usage record was lost");
                            }
                        });
                    }
                    Err(_) => {
                        if tx.blocking_send(msg).is_err() {
                            tracing::error!("usage writer stopped; a usage record was lost");
                        }
                    }
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("usage writer stopped; a usage record was lost");
            }
        }
    }

    pub async fn prune(&self, older_than_ms: i64) {
        let _ = self.tx.send(WriterMsg::Prune(older_than_ms)).await;
    }

    /// Waits until every record queued before this call is committed.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(WriterMsg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Asks the writer to commit what is queued and stop.
    pub async fn stop(&self) {
        let _ = self.tx.send(WriterMsg::Stop).await;
    }
}
