//! The one thread that writes usage records: batches from the channel, one transaction per batch.

use std::collections::HashMap;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{api_keys, open_connection, usage};
use crate::observe::live::LiveFeed;
use crate::observe::usage::WriterMsg;
use crate::observe::{UsageRecord, UsageSink};

/// Records queued before senders wait (back-pressure).
pub const CHANNEL_CAPACITY: usize = 8192;
/// Most records committed in one transaction.
const MAX_BATCH: usize = 1024;
/// How long the writer gathers records before committing them. This is
/// also the most a hard crash (not a graceful stop) can lose.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// How often it looks for more records while gathering.
const BATCH_POLL: Duration = Duration::from_millis(5);
/// Attempts to commit one batch before its records are written to the log instead.
const COMMIT_ATTEMPTS: u32 = 20;

/// Starts the writer thread on its own connection to `db_path`.
pub fn spawn(db_path: &Path) -> rusqlite::Result<(UsageSink, JoinHandle<()>)> {
    let conn = open_connection(db_path)?;
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let live = LiveFeed::new();
    let feed = live.clone();
    let handle = std::thread::Builder::new()
        .name("usage-writer".into())
        .spawn(move || run(conn, rx, feed))
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok((UsageSink::new(tx, live), handle))
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<WriterMsg>, live: LiveFeed) {
    let mut records: Vec<UsageRecord> = Vec::with_capacity(MAX_BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut prune_before: Option<i64> = None;
    loop {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut stop = false;
        let mut next = Some(first);
        // Gather a batch: whatever arrives within BATCH_WINDOW of the first
        // message, up to MAX_BATCH, so a busy gateway pays one transaction
        // per batch rather than per request. A flush or stop ends the wait.
        let deadline = Instant::now() + BATCH_WINDOW;
        loop {
            match next.take() {
                Some(WriterMsg::Record(r)) => records.push(*r),
                Some(WriterMsg::Prune(t)) => prune_before = Some(t),
                Some(WriterMsg::Flush(ack)) => acks.push(ack),
                Some(WriterMsg::Stop) => stop = true,
                None => {
                    let urgent = stop || !acks.is_empty();
                    if urgent || records.len() >= MAX_BATCH || Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(BATCH_POLL);
                }
            }
            if records.len() < MAX_BATCH || stop {
                next = rx.try_recv().ok();
            }
        }
        commit(&mut conn, &mut records, &live);
        if let Some(t) = prune_before.take() {
            match usage::prune(&conn, t) {
                Ok(n) if n > 0 => tracing::info!(removed = n, "pruned old usage records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "usage pruning failed"),
            }
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        if stop {
            break;
        }
    }
    // Anything still queued after Stop (late senders) is committed too.
    while let Ok(msg) = rx.try_recv() {
        if let WriterMsg::Record(r) = msg {
            records.push(*r);
        }
    }
    commit(&mut conn, &mut records, &live);
}

/// Commits `records` in one transaction, retrying while the database is
/// busy; a batch that still fails is logged record by record, never dropped
/// without a trace. Committed rows go to the live feed when someone watches.
fn commit(conn: &mut Connection, records: &mut Vec<UsageRecord>, live: &LiveFeed) {
    if records.is_empty() {
        return;
    }
    for attempt in 1..=COMMIT_ATTEMPTS {
        match write_batch(conn, records) {
            Ok(ids) => {
                // Checked once per batch: with no live view open, no row
                // is built (the common case costs one atomic load).
                if live.is_watched() {
                    for (id, mut record) in ids.into_iter().zip(records.drain(..)) {
                        record.request_body = None;
                        record.response_body = None;
                        live.publish(usage::UsageRow { id, record });
                    }
                }
                records.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "usage batch commit failed; retrying");
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
            }
        }
    }
    for r in records.drain(..) {
        let json = serde_json::to_string(&r).unwrap_or_default();
        tracing::error!(record = %json, "usage record could not be stored");
    }
}

/// Writes one batch in one transaction; the row ids, in `records` order.
fn write_batch(conn: &mut Connection, records: &[UsageRecord]) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction()?;
    let mut key_use: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut ids = Vec::with_capacity(records.len());
    let mut any_bodies = false;
    for r in records {
        let id = usage::insert(&tx, r)?;
        any_bodies |= usage::insert_bodies(&tx, id, r)?;
        ids.push(id);
        if let Some(id) = r.api_key_id {
            let entry = key_use.entry(id).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(r.ts);
        }
    }
    for (id, (count, at)) in key_use {
        api_keys::record_use(&tx, id, count, at).map_err(|e| match e {
            crate::store::StoreError::Sqlite(e) => e,
            other => rusqlite::Error::ToSqlConversionFailure(other.to_string().into()),
        })?;
    }
    if any_bodies {
        usage::trim_bodies(&tx, usage::BODIES_KEPT)?;
    }
    tx.commit()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_queued_record_is_committed_before_stop_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        migrate::apply(&mut open_connection(&path).unwrap()).unwrap();
        let (sink, handle) = spawn(&path).unwrap();
        for i in 0..5000 {
            sink.send(UsageRecord {
                ts: i,
                inbound_format: "openai".into(),
                requested_model: "m".into(),
                status: 200,
                ..Default::default()
            })
            .await;
        }
        sink.stop().await;
        tokio::task::spawn_blocking(move || handle.join().unwrap())
            .await
            .unwrap();
        let conn = open_connection(&path).unwrap();
        assert_eq!(usage::count(&conn).unwrap(), 5000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_rows_reach_live_listeners_with_their_ids_and_bodies_are_stored() {
        use crate::observe::bodies::LoggedBody;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        migrate::apply(&mut open_connection(&path).unwrap()).unwrap();
        let (sink, _handle) = spawn(&path).unwrap();
        let mut live = sink.live().subscribe();
        sink.send(UsageRecord {
            ts: 7,
            requested_model: "m".into(),
            status: 200,
            request_body: Some(LoggedBody {
                bytes: bytes::Bytes::from_static(b"{\"q\":1}"),
                truncated: false,
            }),
            ..Default::default()
        })
        .await;
        let row = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.record.ts, 7);
        assert!(row.record.request_body.is_none(), "rows carry no bodies");
        let conn = open_connection(&path).unwrap();
        let detail = usage::get(&conn, row.id).unwrap().unwrap();
        assert_eq!(detail.request_body.as_deref(), Some("{\"q\":1}"));
        assert_eq!(detail.response_body, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flush_waits_for_commit_and_prune_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        migrate::apply(&mut open_connection(&path).unwrap()).unwrap();
        let (sink, _handle) = spawn(&path).unwrap();
        for ts in [1, 2, 3] {
            sink.send(UsageRecord {
                ts,
                status: 200,
                ..Default::default()
            })
            .await;
        }
        sink.flush().await;
        let conn = open_connection(&path).unwrap();
        assert_eq!(usage::count(&conn).unwrap(), 3);
        sink.prune(3).await;
        sink.flush().await;
        assert_eq!(usage::count(&conn).unwrap(), 1);
    }
}
