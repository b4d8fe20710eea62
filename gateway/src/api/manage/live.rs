//! `GET /api/usage/live`: the request log as Server-Sent Events, one `usage` event per committed row; `GET /api/usage/{id}`: one row with its logged bodies.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::events::{KEEP_ALIVE, RETRY};
use super::{Admin, Id};
use crate::api::App;
use crate::error::ApiError;
use crate::observe::events::EventBus;
use crate::store::usage::{self, UsageRow};

/// Most rows replayed to a reconnecting client (the newest ones).
pub const MAX_REPLAY: u32 = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// Replay stored rows with a larger id first.
    since_id: Option<i64>,
}

/// Opens the stream. `?since_id=<id>`, or else the `Last-Event-ID` header
/// an `EventSource` sends when it reconnects, first replays the stored rows
/// with a larger id (at most [`MAX_REPLAY`], the newest).
pub async fn stream(
    _: Admin,
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let since = q
        .since_id
        .or_else(|| super::events::last_event_id(&headers));
    // Subscribed before the store is read: a row committed in between is
    // in both, and the stream drops the duplicate; none is in neither.
    let receiver = app.usage.live().subscribe();
    let backlog = match since {
        Some(after) => {
            app.store
                .call(move |conn, _| usage::list_after(conn, after, MAX_REPLAY))
                .await?
        }
        None => Vec::new(),
    };
    let body = row_stream(receiver, backlog, &app.events);
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

/// Where one client's stream is.
struct Cursor {
    greeted: bool,
    backlog: std::vec::IntoIter<UsageRow>,
    /// The largest id sent, so a row both replayed and broadcast goes once.
    last_id: i64,
    receiver: broadcast::Receiver<Arc<UsageRow>>,
    /// Resolves when the server shuts down, so graceful shutdown does not
    /// wait on the stream (the same signal `/api/events` ends on).
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// The SSE frames of one client: a `retry` hint, the `backlog` (oldest
/// first), then rows as the writer commits them, until shutdown.
fn row_stream(
    receiver: broadcast::Receiver<Arc<UsageRow>>,
    backlog: Vec<UsageRow>,
    bus: &EventBus,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let cursor = Cursor {
        greeted: false,
        backlog: backlog.into_iter(),
        last_id: i64::MIN,
        receiver,
        closed: Box::pin(bus.closed()),
    };
    futures_util::stream::unfold(cursor, |mut cursor| async move {
        if !cursor.greeted {
            cursor.greeted = true;
            return Some((Ok(SseEvent::default().retry(RETRY)), cursor));
        }
        if let Some(row) = cursor.backlog.next() {
            cursor.last_id = cursor.last_id.max(row.id);
            return Some((Ok(frame(&row)), cursor));
        }
        loop {
            let next = tokio::select! {
                biased;
                () = &mut cursor.closed => return None,
                next = cursor.receiver.recv() => next,
            };
            match next {
                Ok(row) if row.id <= cursor.last_id => continue,
                Ok(row) => {
                    cursor.last_id = row.id;
                    return Some((Ok(frame(&row)), cursor));
                }
                // The client read too slowly and missed rows; say how many.
                // It can fetch them from /api/usage.
                Err(RecvError::Lagged(skipped)) => {
                    let lagged = SseEvent::default()
                        .event("lagged")
                        .data(json!({"skipped": skipped}).to_string());
                    return Some((Ok(lagged), cursor));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// `id:` the row id (for `Last-Event-ID`), `event: usage`, `data:` the row
/// as `GET /api/usage` lists it.
fn frame(row: &UsageRow) -> SseEvent {
    let data = serde_json::to_string(row).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a usage row could not be serialised");
        json!({"id": row.id}).to_string()
    });
    SseEvent::default()
        .id(row.id.to_string())
        .event("usage")
        .data(data)
}

/// `GET /api/usage/{id}`: the row plus `request_body` and `response_body`
/// (null when bodies were not logged for it or are no longer kept).
pub async fn get_one(_: Admin, State(app): State<App>, Id(id): Id) -> Result<Response, ApiError> {
    let detail = app.store.call(move |conn, _| usage::get(conn, id)).await?;
    match detail {
        Some(detail) => Ok(Json(detail).into_response()),
        None => Err(ApiError::not_found(format!("No usage record {id}."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::UsageRecord;
    use crate::observe::live::LiveFeed;
    use futures_util::StreamExt;
    use std::time::Duration;

    fn row(id: i64) -> UsageRow {
        UsageRow {
            id,
            record: UsageRecord {
                ts: id * 10,
                requested_model: "m".into(),
                status: 200,
                ..Default::default()
            },
        }
    }

    async fn next_text(
        stream: &mut Pin<Box<impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>>,
    ) -> Option<String> {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a frame in time")?;
        let mut body = Sse::new(futures_util::stream::iter([event])).into_response();
        let bytes = axum::body::to_bytes(std::mem::take(body.body_mut()), usize::MAX)
            .await
            .unwrap();
        Some(String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn replays_the_backlog_then_live_rows_without_duplicates() {
        let feed = LiveFeed::new();
        let bus = EventBus::new();
        let receiver = feed.subscribe();
        // Row 3 was committed after subscribing but before the store was read.
        feed.publish(row(3));
        feed.publish(row(4));
        let mut stream = Box::pin(row_stream(receiver, vec![row(2), row(3)], &bus));
        assert_eq!(next_text(&mut stream).await.unwrap(), "retry: 3000\n\n");
        let first = next_text(&mut stream).await.unwrap();
        assert!(
            first.starts_with("id: 2\nevent: usage\ndata: {\"id\":2,\"ts\":20,"),
            "{first}"
        );
        assert!(next_text(&mut stream).await.unwrap().starts_with("id: 3\n"));
        assert!(next_text(&mut stream).await.unwrap().starts_with("id: 4\n"));
        bus.close();
        assert_eq!(next_text(&mut stream).await, None, "ends at shutdown");
    }

    #[tokio::test]
    async fn a_lagging_client_is_told_how_many_rows_it_missed() {
        let feed = LiveFeed::new();
        let bus = EventBus::new();
        let mut stream = Box::pin(row_stream(feed.subscribe(), Vec::new(), &bus));
        next_text(&mut stream).await;
        for id in 0..(crate::observe::live::LIVE_CAPACITY as i64 + 2) {
            feed.publish(row(id));
        }
        assert_eq!(
            next_text(&mut stream).await.unwrap(),
            "event: lagged\ndata: {\"skipped\":2}\n\n"
        );
        assert!(next_text(&mut stream).await.unwrap().starts_with("id: 2\n"));
    }
}
