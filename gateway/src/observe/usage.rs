//! The usage record of one request, and the bounded channel that carries it to the writer.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::bodies::LoggedBody;
use super::live::LiveFeed;
use crate::providers::{ModelDef, ProviderDef};
use crate::wire::openai_chat::TokenUsage;

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
    /// The candidates tried before the one that answered, and why each failed.
    #[serde(default)]
    pub hops: Vec<Hop>,
    /// `None` when an upstream served the request; else `cache`, `replay`
    /// (a repeated `Idempotency-Key`) or `shared` (joined an identical
    /// request in flight). Such records carry no cost.
    pub served_from: Option<String>,
    /// The fallback tier of the connection that served the request.
    pub tier: Option<String>,
    /// The caller's request body, kept only while `log_bodies` is on.
    /// Never part of a row's JSON: bodies are read one record at a time.
    #[serde(skip)]
    pub request_body: Option<LoggedBody>,
    /// The bytes sent back to the caller, kept only while `log_bodies` is on.
    #[serde(skip)]
    pub response_body: Option<LoggedBody>,
}

/// One failed attempt on the way to an answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub provider: String,
    pub model: String,
    pub connection_id: Option<i64>,
    /// The upstream's status; `None` when it never answered (connection
    /// error, timeout) or the candidate was skipped.
    pub status: Option<u16>,
    /// Why this candidate did not serve the request.
    pub error: String,
}

impl UsageRecord {
    /// Fills in the outcome: tokens, cost at `price`, latency and status.
    pub fn finish(
        &mut self,
        usage: Option<TokenUsage>,
        price: Option<&ModelDef>,
        status: u16,
        error: Option<String>,
        started: Instant,
    ) {
        if let Some(u) = usage {
            self.input_tokens = u.input;
            self.output_tokens = u.output;
            self.cached_tokens = u.cached;
            self.reasoning_tokens = u.reasoning;
            if let Some(price) = price {
                self.cost = price.cost(u.input, u.cached, u.output);
            }
        }
        self.latency_ms = started.elapsed().as_millis() as u64;
        self.status = status;
        self.error = error;
    }
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

/// Something that learns of every finished request as its record is
/// queued (latency metrics, spend, quotas). Called on the request's task:
/// it must be quick and must not block.
pub trait RecordObserver: Send + Sync {
    fn observe(&self, record: &UsageRecord);
}

/// The sending side of the usage channel. Cloned into every request.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<WriterMsg>,
    /// Set once at start, shared by every clone.
    observers: Arc<OnceLock<Vec<Arc<dyn RecordObserver>>>>,
    /// Where the writer announces committed rows (the live monitor).
    live: LiveFeed,
}

impl UsageSink {
    pub fn new(tx: mpsc::Sender<WriterMsg>, live: LiveFeed) -> UsageSink {
        UsageSink {
            tx,
            observers: Arc::new(OnceLock::new()),
            live,
        }
    }

    /// The feed of committed rows, for `/api/usage/live`.
    pub fn live(&self) -> &LiveFeed {
        &self.live
    }

    /// Installs the observers every record is shown to (once; later calls
    /// are ignored).
    pub fn set_observers(&self, observers: Vec<Arc<dyn RecordObserver>>) {
        let _ = self.observers.set(observers);
    }

    fn notify(&self, record: &UsageRecord) {
        if let Some(observers) = self.observers.get() {
            for observer in observers {
                observer.observe(record);
            }
        }
    }

    /// Queues a record, waiting for room when the channel is full
    /// (back-pressure rather than a dropped record).
    pub async fn send(&self, record: UsageRecord) {
        self.notify(&record);
        if self
            .tx
            .send(WriterMsg::Record(Box::new(record)))
            .await
            .is_err()
        {
            tracing::error!("usage writer stopped; a usage record could not be queued");
        }
    }

    /// Waits for room in the channel. Cancel-safe: dropping the future
    /// loses nothing, unlike dropping a pending `send`.
    pub async fn reserve(&self) -> Option<mpsc::Permit<'_, WriterMsg>> {
        self.tx.reserve().await.ok()
    }

    /// Queues a record from synchronous code (a `Drop`). When the channel is
    /// full the record waits in a task instead of being dropped.
    pub fn send_now(&self, record: UsageRecord) {
        self.notify(&record);
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

/// The usage record of a request in flight. It reaches the writer even when
/// the request's future is dropped (the caller hung up): then it is marked
/// 499 if it had no outcome yet.
pub struct PendingRecord {
    record: Option<UsageRecord>,
    sink: UsageSink,
    started: Instant,
}

/// Status recorded for a request whose caller went away first.
pub const CLIENT_CLOSED: u16 = 499;

impl PendingRecord {
    pub fn new(sink: UsageSink, record: UsageRecord, started: Instant) -> PendingRecord {
        PendingRecord {
            record: Some(record),
            sink,
            started,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn record_mut(&mut self) -> &mut UsageRecord {
        self.record.get_or_insert_with(UsageRecord::default)
    }

    /// Notes the time to the first upstream byte (once).
    pub fn mark_first_byte(&mut self) {
        let elapsed = self.started.elapsed().as_millis() as u64;
        self.record_mut().ttft_ms.get_or_insert(elapsed);
    }

    /// Fills in the outcome, priced from `provider`'s entry for the upstream model.
    pub fn complete(
        &mut self,
        usage: Option<TokenUsage>,
        provider: &ProviderDef,
        status: u16,
        error: Option<String>,
    ) {
        let started = self.started;
        let record = self.record_mut();
        let price = record
            .upstream_model
            .as_deref()
            .and_then(|m| provider.model(m));
        record.finish(usage, price, status, error, started);
    }

    /// Hands the record to someone else who will send it (a streaming body).
    pub fn take(&mut self) -> UsageRecord {
        self.record.take().unwrap_or_default()
    }

    /// Sends the record with back-pressure.
    pub async fn commit(mut self) {
        if let Some(permit) = self.sink.reserve().await
            && let Some(record) = self.record.take()
        {
            self.sink.notify(&record);
            permit.send(WriterMsg::Record(Box::new(record)));
        }
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            if record.status == 0 {
                let error = "the client closed the connection before the response ended";
                record.status = CLIENT_CLOSED;
                record.error = Some(error.into());
                record.latency_ms = self.started.elapsed().as_millis() as u64;
            }
            self.sink.send_now(record);
        }
    }
}
