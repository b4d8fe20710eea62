//! `GET /api/events`: the events bus as Server-Sent Events, with replay of recent events for reconnecting clients.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::Admin;
use crate::api::App;
use crate::error::ApiError;
use crate::observe::events::{Envelope, EventBus, Subscription};

/// A comment line this often keeps proxies and idle timeouts from closing
/// a quiet stream.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long an `EventSource` waits before reconnecting after a drop.
pub(super) const RETRY: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay the kept events with a larger id first.
    since: Option<u64>,
}

/// The `Last-Event-ID` an `EventSource` sends when it reconnects, parsed.
pub(super) fn last_event_id<T: std::str::FromStr>(headers: &HeaderMap) -> Option<T> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Opens the stream. `?since=<id>`, or else the `Last-Event-ID` header an
/// `EventSource` sends when it reconnects, first replays the kept events
/// with a larger id.
pub async fn stream(
    _: Admin,
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let since = q.since.or_else(|| last_event_id(&headers));
    let body = event_stream(&app.events, since);
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

/// Where one client's stream is.
struct Cursor {
    greeted: bool,
    backlog: std::vec::IntoIter<Envelope>,
    receiver: broadcast::Receiver<Envelope>,
    /// Resolves when the server shuts down: the stream then ends, so
    /// graceful shutdown does not wait on it.
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// The SSE frames of one client: a `retry` hint, the backlog after
/// `since`, then live events until the bus closes.
pub fn event_stream(
    bus: &EventBus,
    since: Option<u64>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    // Without `since` a new client starts with live events only; the kept
    // ones are in `/api/health` and come with any reconnect.
    let Subscription { backlog, receiver } = match since {
        Some(_) => bus.subscribe_since(since),
        None => Subscription {
            backlog: Vec::new(),
            receiver: bus.subscribe(),
        },
    };
    let cursor = Cursor {
        greeted: false,
        backlog: backlog.into_iter(),
        receiver,
        closed: Box::pin(bus.closed()),
    };
    futures_util::stream::unfold(cursor, |mut cursor| async move {
        if !cursor.greeted {
            cursor.greeted = true;
            return Some((Ok(SseEvent::default().retry(RETRY)), cursor));
        }
        if let Some(envelope) = cursor.backlog.next() {
            return Some((Ok(frame(&envelope)), cursor));
        }
        let next = tokio::select! {
            biased;
            () = &mut cursor.closed => return None,
            next = cursor.receiver.recv() => next,
        };
        match next {
            Ok(envelope) => Some((Ok(frame(&envelope)), cursor)),
            // The client read too slowly and the channel dropped its oldest
            // events; say how many and carry on from the oldest kept.
            Err(RecvError::Lagged(skipped)) => {
                let lagged = SseEvent::default()
                    .event("lagged")
                    .data(json!({"skipped": skipped}).to_string());
                Some((Ok(lagged), cursor))
            }
            Err(RecvError::Closed) => None,
        }
    })
}

/// `id:` (for `Last-Event-ID`), `event:` the type, `data:` the envelope JSON.
fn frame(envelope: &Envelope) -> SseEvent {
    let data = serde_json::to_string(envelope).unwrap_or_else(|e| {
        tracing::error!(error = %e, "an event could not be serialised");
        json!({"id": envelope.id, "ts": envelope.ts, "type": envelope.event.kind()}).to_string()
    });
    SseEvent::default()
        .id(envelope.id.to_string())
        .event(envelope.event.kind())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::events::{CHANNEL_CAPACITY, Event};
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    fn down(provider: &str) -> Event {
        Event::ProviderDown {
            provider: provider.into(),
            connection_id: None,
            until_ms: 99,
            reason: "breaker".into(),
        }
    }

    /// The stream as the bytes a client reads, frame by frame.
    async fn frames(
        stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
        n: usize,
    ) -> Vec<String> {
        let mut body = Sse::new(stream).into_response().into_body();
        let mut out = Vec::new();
        while out.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .expect("a frame in time");
            match next {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        out.push(String::from_utf8(data.to_vec()).expect("utf-8"));
                    }
                }
                _ => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn replays_after_since_then_streams_live() {
        let bus = EventBus::new();
        bus.publish_at(down("a"), 1);
        bus.publish_at(down("b"), 2);
        bus.publish_at(down("c"), 3);
        let stream = event_stream(&bus, Some(1));
        let live = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            live.publish_at(
                Event::ProviderRecovered {
                    provider: "a".into(),
                    connection_id: None,
                },
                4,
            );
        });
        let got = frames(stream, 4).await;
        assert_eq!(got[0], "retry: 3000\n\n");
        assert!(
            got[1].starts_with("id: 2\nevent: ProviderDown\ndata: {\"id\":2,"),
            "{}",
            got[1]
        );
        assert!(got[1].contains("\"provider\":\"b\""), "{}", got[1]);
        assert!(got[2].starts_with("id: 3\n"), "{}", got[2]);
        assert_eq!(
            got[3],
            "id: 4\nevent: ProviderRecovered\ndata: {\"id\":4,\"ts\":4,\"type\":\"ProviderRecovered\",\"provider\":\"a\",\"connection_id\":null}\n\n"
        );
    }

    #[tokio::test]
    async fn without_since_only_live_events_come() {
        let bus = EventBus::new();
        bus.publish_at(down("old"), 1);
        let stream = event_stream(&bus, None);
        bus.publish_at(down("new"), 2);
        let got = frames(stream, 2).await;
        assert!(got[1].starts_with("id: 2\n"), "{}", got[1]);
    }

    #[tokio::test]
    async fn a_lagging_client_is_told_and_continues() {
        let bus = EventBus::new();
        let stream = event_stream(&bus, None);
        for i in 0..(CHANNEL_CAPACITY as i64 + 5) {
            bus.publish_at(down("p"), i);
        }
        let got = frames(stream, 3).await;
        assert_eq!(got[1], "event: lagged\ndata: {\"skipped\":5}\n\n");
        assert!(got[2].starts_with("id: 6\n"), "{}", got[2]);
    }

    #[tokio::test]
    async fn closing_the_bus_ends_the_stream() {
        let bus = EventBus::new();
        let mut stream = Box::pin(event_stream(&bus, None));
        assert!(stream.next().await.is_some(), "the retry hint");
        let closer = bus.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            closer.close();
        });
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(end, Ok(None)), "the stream ended");
        // A client arriving after shutdown began gets an ending stream too.
        let mut late = Box::pin(event_stream(&bus, None));
        assert!(late.next().await.is_some());
        assert!(late.next().await.is_none());
    }
}
