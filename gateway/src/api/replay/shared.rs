//! A response shared between requests: one handler's answer, pumped by its own task and teed chunk by chunk to every request that joined it (the leader included), and kept whole for a replay when it succeeds.
//!
//! Ownership: the pump task owns the handler's future and then its body, so
//! the upstream keeps flowing when the leader's client leaves while others
//! still listen. Every listener holds a [`Ticket`] (a consumer); when the
//! last one goes before the answer is finished, the pump is aborted, which
//! drops the handler's future or body and so cancels the upstream call, as
//! a client disconnect does without this layer.
//!
//! The pump reads at the upstream's pace, not the slowest caller's: each
//! consumer has an unbounded queue (of shared `Bytes`, so a chunk exists
//! once however many read it), holding at most the one answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::verdict;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;

/// The most an answer in flight keeps for requests that join it late.
pub const MAX_SHARED_BYTES: usize = 32 * 1024 * 1024;

/// The head of the answer.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    /// The handler's headers: all of them for the leader, a few for others.
    pub headers: HeaderMap,
    /// The body's length when the handler knew it (a whole answer).
    pub length: Option<u64>,
}

impl Head {
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.headers.get(header::CONTENT_TYPE)
    }

    pub fn request_id(&self) -> Option<&HeaderValue> {
        self.headers.get("x-request-id")
    }

    /// The leader's response: every header the handler set.
    pub fn leader_response(&self, body: Body) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        self.set_length(&mut response);
        response
    }

    /// A joiner's response: the status, content type and request id only.
    pub fn joiner_response(&self, body: Body) -> Response {
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(value) = self.content_type() {
            headers.insert(header::CONTENT_TYPE, value.clone());
        }
        if let Some(value) = self.request_id() {
            headers.insert("x-request-id", value.clone());
        }
        self.set_length(&mut response);
        response
    }

    /// A streamed body has no size of its own; a whole answer keeps its
    /// `Content-Length` as it would have without this layer.
    fn set_length(&self, response: &mut Response) {
        if let Some(length) = self.length {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
}

/// A finished answer that succeeded whole: what a replay or the cache serves.
#[derive(Clone)]
pub struct Recording {
    pub head: Arc<Head>,
    pub body: Bytes,
}

/// What goes down a consumer's queue.
enum Msg {
    Head(Arc<Head>),
    Chunk(Bytes),
    /// The handler's body failed; the consumer's body fails the same way.
    Broken(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    /// Succeeded whole; the history is the recording.
    Replayable,
    /// Ended some other way (error status, broken or aborted stream, too
    /// large to keep): joiners from then on go upstream themselves.
    Done,
}

struct State {
    head: Option<Arc<Head>>,
    /// Everything sent so far, while it fits in the limit.
    history: Vec<Bytes>,
    history_bytes: usize,
    /// Still within the limit: late joiners can be given the history.
    shareable: bool,
    outcome: Option<Outcome>,
    /// The queues of the consumers still reading.
    queues: Vec<mpsc::UnboundedSender<Msg>>,
    /// Consumers alive (tickets not dropped), whether or not they read.
    live: usize,
    /// Body bytes passed on so far.
    pushed: u64,
    /// Every byte of a body of known length has been passed on: consumers
    /// that leave now have had it all, and the pump only has to see the end.
    all_pushed: bool,
    /// The last consumer left before the end: the pump is being cancelled.
    abandoned: bool,
    pump: Option<AbortHandle>,
}

/// One answer shared between requests.
pub struct Shared {
    format: WireFormat,
    limit: usize,
    state: Mutex<State>,
}

impl Shared {
    /// A new answer to come, with its first consumer (the leader).
    pub fn lead(format: WireFormat) -> (Arc<Shared>, Ticket) {
        Self::lead_with_limit(format, MAX_SHARED_BYTES)
    }

    pub(super) fn lead_with_limit(format: WireFormat, limit: usize) -> (Arc<Shared>, Ticket) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            format,
            limit,
            state: Mutex::new(State {
                head: None,
                history: Vec::new(),
                history_bytes: 0,
                shareable: true,
                outcome: None,
                queues: vec![tx],
                live: 1,
                pushed: 0,
                all_pushed: false,
                abandoned: false,
                pump: None,
            }),
        });
        let ticket = Ticket {
            head: None,
            backlog: Vec::new(),
            rx: Some(rx),
            guard: Some(ConsumerGuard(shared.clone())),
        };
        (shared, ticket)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-changed in a way
        // that matters more than refusing every later request would.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A ticket for a request that wants this answer: what was sent so far,
    /// then the rest live. A finished answer is given only when
    /// `after_finish` and it succeeded. `None`: go upstream yourself (the
    /// answer failed, grew too large to share, or is being cancelled).
    pub fn join(self: &Arc<Self>, after_finish: bool) -> Option<Ticket> {
        let mut state = self.state();
        match state.outcome {
            Some(Outcome::Replayable) if after_finish => Some(Ticket {
                head: state.head.clone(),
                backlog: state.history.clone(),
                rx: None,
                guard: None,
            }),
            Some(_) => None,
            None if !state.shareable || state.abandoned => None,
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                state.queues.push(tx);
                state.live += 1;
                Some(Ticket {
                    head: state.head.clone(),
                    backlog: state.history.clone(),
                    rx: Some(rx),
                    guard: Some(ConsumerGuard(self.clone())),
                })
            }
        }
    }

    /// Runs `answer` (the handler) and its body in a task of their own,
    /// feeding every consumer. `settle` is called once, when the answer is
    /// over, with its recording if it succeeded whole.
    pub fn spawn_pump<A, S>(self: &Arc<Self>, answer: A, settle: S)
    where
        A: Future<Output = Response> + Send + 'static,
        S: FnOnce(&Arc<Shared>, Option<Recording>) + Send + 'static,
    {
        let guard = PumpGuard {
            shared: self.clone(),
            settle: Some(settle),
        };
        let task = tokio::spawn(pump(answer, guard));
        let mut state = self.state();
        if state.outcome.is_none() {
            if state.abandoned {
                task.abort();
            } else {
                state.pump = Some(task.abort_handle());
            }
        }
    }

    /// Publishes the head; `false` when nobody listens any more.
    fn publish_head(&self, head: Arc<Head>) -> bool {
        let mut state = self.state();
        if state.abandoned {
            return false;
        }
        state.all_pushed = head.length == Some(0);
        state.head = Some(head.clone());
        state
            .queues
            .retain(|q| q.send(Msg::Head(head.clone())).is_ok());
        true
    }

    /// Passes a chunk on and keeps it for late joiners while it fits;
    /// `false` when nobody listens any more.
    fn push(&self, chunk: Bytes) -> bool {
        let mut state = self.state();
        if state.abandoned {
            return false;
        }
        state.pushed += chunk.len() as u64;
        let length = state.head.as_ref().and_then(|h| h.length);
        state.all_pushed = length.is_some_and(|n| state.pushed >= n);
        if state.shareable {
            state.history_bytes += chunk.len();
            if state.history_bytes > self.limit {
                // Too large to keep: later requests go upstream themselves;
                // those already here still get every chunk live.
                state.shareable = false;
                state.history = Vec::new();
            } else {
                state.history.push(chunk.clone());
            }
        }
        state
            .queues
            .retain(|q| q.send(Msg::Chunk(chunk.clone())).is_ok());
        true
    }

    /// The answer as a recording, if it succeeded whole.
    fn recording(&self, head: &Arc<Head>) -> Option<Recording> {
        if !head.status.is_success() {
            return None;
        }
        let history = {
            let state = self.state();
            if !state.shareable {
                return None;
            }
            state.history.clone()
        };
        // Only the pump writes the history, so it cannot change meanwhile.
        let body = match history.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut whole = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
                for chunk in many {
                    whole.extend_from_slice(chunk);
                }
                whole.freeze()
            }
        };
        verdict::replayable(self.format, head.status, head.content_type(), &body).then(|| {
            Recording {
                head: head.clone(),
                body,
            }
        })
    }

    /// Ends the answer: queues close (after `broken`, if any), and the
    /// history stays only as a successful recording.
    fn end(&self, broken: Option<String>, recording: Option<&Recording>) {
        let mut state = self.state();
        if state.outcome.is_some() {
            return;
        }
        if let Some(message) = broken {
            for queue in &state.queues {
                let _ = queue.send(Msg::Broken(message.clone()));
            }
        }
        state.queues.clear();
        state.pump = None;
        match recording {
            Some(recording) => {
                state.outcome = Some(Outcome::Replayable);
                state.history = vec![recording.body.clone()];
            }
            None => {
                state.outcome = Some(Outcome::Done);
                state.history = Vec::new();
                state.shareable = false;
            }
        }
    }

    /// A consumer went away; the last one cancels an unfinished answer.
    fn leave(&self) {
        let mut state = self.state();
        state.live = state.live.saturating_sub(1);
        if state.live == 0 && state.outcome.is_none() && !state.all_pushed {
            state.abandoned = true;
            if let Some(pump) = state.pump.take() {
                pump.abort();
            }
        }
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        self.state().live
    }
}

/// Ends the answer exactly once, also when the pump task is aborted or its
/// handler panics: joiners are never left waiting.
struct PumpGuard<S: FnOnce(&Arc<Shared>, Option<Recording>)> {
    shared: Arc<Shared>,
    settle: Option<S>,
}

impl<S: FnOnce(&Arc<Shared>, Option<Recording>)> PumpGuard<S> {
    fn finish(&mut self, broken: Option<String>, recording: Option<Recording>) {
        self.shared.end(broken, recording.as_ref());
        if let Some(settle) = self.settle.take() {
            settle(&self.shared, recording);
        }
    }
}

impl<S: FnOnce(&Arc<Shared>, Option<Recording>)> Drop for PumpGuard<S> {
    fn drop(&mut self) {
        if self.settle.is_some() {
            self.finish(None, None);
        }
    }
}

async fn pump<A, S>(answer: A, mut guard: PumpGuard<S>)
where
    A: Future<Output = Response>,
    S: FnOnce(&Arc<Shared>, Option<Recording>),
{
    let response = answer.await;
    let (parts, body) = response.into_parts();
    let head = Arc::new(Head {
        status: parts.status,
        headers: parts.headers,
        length: body.size_hint().exact(),
    });
    if !guard.shared.publish_head(head.clone()) {
        return;
    }
    let mut data = body.into_data_stream();
    while let Some(item) = data.next().await {
        match item {
            Ok(chunk) if chunk.is_empty() => {}
            Ok(chunk) => {
                if !guard.shared.push(chunk) {
                    return;
                }
            }
            Err(e) => {
                guard.finish(Some(e.to_string()), None);
                return;
            }
        }
    }
    let recording = guard.shared.recording(&head);
    guard.finish(None, recording);
}

/// One consumer's place at a shared answer.
struct ConsumerGuard(Arc<Shared>);

impl Drop for ConsumerGuard {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A request's claim on a shared answer: the head, what was sent before it
/// joined, and a queue for the rest. Dropping it gives the place up.
pub struct Ticket {
    head: Option<Arc<Head>>,
    backlog: Vec<Bytes>,
    rx: Option<mpsc::UnboundedReceiver<Msg>>,
    guard: Option<ConsumerGuard>,
}

impl Ticket {
    /// Waits for the answer's head; `None` when the answer ended before it
    /// had one (its handler was cancelled or panicked).
    pub async fn head(&mut self) -> Option<Arc<Head>> {
        if let Some(head) = &self.head {
            return Some(head.clone());
        }
        let rx = self.rx.as_mut()?;
        loop {
            match rx.recv().await {
                Some(Msg::Head(head)) => {
                    self.head = Some(head.clone());
                    return Some(head);
                }
                Some(Msg::Chunk(chunk)) => self.backlog.push(chunk),
                Some(Msg::Broken(_)) | None => return None,
            }
        }
    }

    /// The body this consumer sends its caller. `record`, if any, is
    /// completed with `status` when the body ends (or as a 499 by its own
    /// `Drop` if the caller leaves first).
    pub fn into_body(self, record: Option<PendingRecord>, status: u16) -> ConsumerBody {
        ConsumerBody {
            left: self.head.as_ref().and_then(|h| h.length),
            backlog: self.backlog.into_iter(),
            rx: self.rx,
            guard: self.guard,
            record,
            status,
        }
    }
}

/// The stream of one consumer: the backlog, then the live chunks.
pub struct ConsumerBody {
    /// Bytes still to come when the length is known. The server stops
    /// polling a body once its `Content-Length` is sent, so the end is
    /// noticed here rather than by waiting for a `None` nobody asks for.
    left: Option<u64>,
    backlog: std::vec::IntoIter<Bytes>,
    rx: Option<mpsc::UnboundedReceiver<Msg>>,
    guard: Option<ConsumerGuard>,
    record: Option<PendingRecord>,
    status: u16,
}

impl ConsumerBody {
    fn finish(&mut self, error: Option<String>) {
        self.rx = None;
        self.guard = None;
        if let Some(mut pending) = self.record.take() {
            let elapsed = pending.started().elapsed().as_millis() as u64;
            let record = pending.record_mut();
            record.status = if error.is_some() { 502 } else { self.status };
            record.error = error;
            record.latency_ms = elapsed;
            // Dropping a record that has an outcome sends it.
            drop(pending);
        }
    }

    /// Passes a chunk on, ending the body with it when it is the last.
    fn deliver(&mut self, chunk: Bytes) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let last = match self.left.as_mut() {
            Some(left) => {
                *left = left.saturating_sub(chunk.len() as u64);
                *left == 0
            }
            None => self.rx.is_none() && self.backlog.len() == 0,
        };
        if last {
            self.finish(None);
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Stream for ConsumerBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(chunk) = this.backlog.next() {
            return this.deliver(chunk);
        }
        loop {
            let Some(rx) = this.rx.as_mut() else {
                this.finish(None);
                return Poll::Ready(None);
            };
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Msg::Chunk(chunk))) => return this.deliver(chunk),
                Poll::Ready(Some(Msg::Head(_))) => {}
                Poll::Ready(Some(Msg::Broken(message))) => {
                    this.finish(Some(message.clone()));
                    return Poll::Ready(Some(Err(std::io::Error::other(message))));
                }
                Poll::Ready(None) => {
                    this.finish(None);
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures_util::stream;
    use tokio::sync::oneshot;

    type Feed = mpsc::UnboundedSender<Result<Bytes, std::io::Error>>;

    /// A handler answer whose body the test feeds by hand.
    fn fed_answer(status: StatusCode, content_type: &'static str) -> (Response, Feed) {
        let (feed, rx) = mpsc::unbounded_channel::<Result<Bytes, std::io::Error>>();
        let body = Body::from_stream(stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        (response, feed)
    }

    /// A settle callback that reports what it was given.
    type Settle = Box<dyn FnOnce(&Arc<Shared>, Option<Recording>) + Send>;

    fn settled() -> (Settle, oneshot::Receiver<Option<Bytes>>) {
        let (tx, rx) = oneshot::channel();
        let settle = move |_: &Arc<Shared>, recording: Option<Recording>| {
            let _ = tx.send(recording.map(|r| r.body));
        };
        (Box::new(settle), rx)
    }

    async fn text(body: ConsumerBody) -> String {
        let chunks: Vec<_> = body.collect().await;
        let bytes: Vec<u8> = chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        String::from_utf8(bytes).unwrap()
    }

    fn send(feed: &Feed, text: &'static str) {
        feed.send(Ok(Bytes::from_static(text.as_bytes()))).unwrap();
    }

    #[tokio::test]
    async fn joiners_get_what_was_sent_then_the_rest_live() {
        let (shared, mut leader) = Shared::lead(WireFormat::Openai);
        let (answer, feed) = fed_answer(StatusCode::OK, "application/json");
        let (settle, outcome) = settled();
        shared.spawn_pump(async move { answer }, settle);

        let head = leader.head().await.unwrap();
        assert_eq!(head.status, StatusCode::OK);
        let mut leader_body = leader.into_body(None, 200);
        send(&feed, "{\"a\":");
        assert_eq!(leader_body.next().await.unwrap().unwrap(), "{\"a\":");

        let mut joiner = shared.join(false).unwrap();
        assert_eq!(joiner.head().await.unwrap().status, StatusCode::OK);
        let joiner_body = joiner.into_body(None, 200);
        send(&feed, "1}");
        drop(feed);

        assert_eq!(text(joiner_body).await, "{\"a\":1}");
        assert_eq!(leader_body.next().await.unwrap().unwrap(), "1}");
        assert!(leader_body.next().await.is_none());
        assert_eq!(outcome.await.unwrap().unwrap(), "{\"a\":1}");

        // Finished: a replay may have it whole, an in-flight join may not.
        assert!(shared.join(false).is_none());
        let replay = shared.join(true).unwrap();
        assert_eq!(text(replay.into_body(None, 200)).await, "{\"a\":1}");
    }

    #[tokio::test]
    async fn a_joiner_before_the_head_waits_for_it() {
        let (shared, leader) = Shared::lead(WireFormat::Openai);
        let (go, wait) = oneshot::channel::<()>();
        let (settle, outcome) = settled();
        shared.spawn_pump(
            async move {
                let _ = wait.await;
                let mut response = Response::new(Body::from("{\"late\":true}"));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            },
            settle,
        );
        let mut joiner = shared.join(false).unwrap();
        go.send(()).unwrap();
        let head = joiner.head().await.unwrap();
        assert_eq!(head.length, Some(13));
        assert_eq!(text(joiner.into_body(None, 200)).await, "{\"late\":true}");
        drop(leader);
        assert!(outcome.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn the_answer_keeps_flowing_when_the_leader_leaves() {
        let (shared, mut leader) = Shared::lead(WireFormat::Openai);
        let (answer, feed) = fed_answer(StatusCode::OK, "application/json");
        let (settle, outcome) = settled();
        shared.spawn_pump(async move { answer }, settle);
        leader.head().await.unwrap();
        let joiner = shared.join(false).unwrap();
        drop(leader);
        send(&feed, "{\"x\":");
        tokio::time::sleep(Duration::from_millis(20)).await;
        send(&feed, "2}");
        drop(feed);
        assert_eq!(text(joiner.into_body(None, 200)).await, "{\"x\":2}");
        assert_eq!(outcome.await.unwrap().unwrap(), "{\"x\":2}");
    }

    #[tokio::test]
    async fn the_last_consumer_leaving_cancels_the_handler() {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(dropped.clone());
        let (shared, leader) = Shared::lead(WireFormat::Openai);
        let (settle, outcome) = settled();
        shared.spawn_pump(
            async move {
                let _flag = flag;
                std::future::pending::<()>().await;
                Response::new(Body::empty())
            },
            settle,
        );
        let joiner = shared.join(false).unwrap();
        assert_eq!(shared.live(), 2);
        drop(leader);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!dropped.load(Ordering::SeqCst), "a joiner still waits");
        drop(joiner);
        assert!(outcome.await.unwrap().is_none());
        assert!(dropped.load(Ordering::SeqCst), "the handler was cancelled");
        assert!(shared.join(true).is_none());
    }

    #[tokio::test]
    async fn past_the_limit_nobody_new_joins_but_everyone_here_gets_it_all() {
        let (shared, mut leader) = Shared::lead_with_limit(WireFormat::Openai, 8);
        let (answer, feed) = fed_answer(StatusCode::OK, "application/json");
        let (settle, outcome) = settled();
        shared.spawn_pump(async move { answer }, settle);
        leader.head().await.unwrap();
        let joiner = shared.join(false).unwrap();
        send(&feed, "{\"abc\":");
        send(&feed, "\"defgh\"}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(shared.join(false).is_none(), "too large to share");
        drop(feed);
        let expected = "{\"abc\":\"defgh\"}";
        assert_eq!(text(joiner.into_body(None, 200)).await, expected);
        assert_eq!(text(leader.into_body(None, 200)).await, expected);
        assert!(outcome.await.unwrap().is_none(), "not kept for a replay");
    }

    #[tokio::test]
    async fn errors_and_broken_bodies_are_shared_live_but_never_replayed() {
        let (shared, mut leader) = Shared::lead(WireFormat::Openai);
        let (answer, feed) = fed_answer(StatusCode::TOO_MANY_REQUESTS, "application/json");
        let (settle, outcome) = settled();
        shared.spawn_pump(async move { answer }, settle);
        leader.head().await.unwrap();
        send(&feed, "{\"error\":{}}");
        drop(feed);
        assert_eq!(text(leader.into_body(None, 429)).await, "{\"error\":{}}");
        assert!(outcome.await.unwrap().is_none());
        assert!(shared.join(true).is_none());

        let (shared, mut leader) = Shared::lead(WireFormat::Openai);
        let (answer, feed) = fed_answer(StatusCode::OK, "text/event-stream");
        let (settle, outcome) = settled();
        shared.spawn_pump(async move { answer }, settle);
        leader.head().await.unwrap();
        let mut joiner = shared.join(false).unwrap();
        joiner.head().await.unwrap();
        send(&feed, "data: {}\n\n");
        feed.send(Err(std::io::Error::other("cut"))).unwrap();
        let items: Vec<_> = joiner.into_body(None, 200).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap(), "data: {}\n\n");
        assert!(items[1].is_err());
        assert!(outcome.await.unwrap().is_none());
        drop(leader);
    }

    fn broken_handler() -> Response {
        panic!("a handler bug")
    }

    #[tokio::test]
    async fn a_handler_that_panics_releases_its_waiters() {
        let (shared, mut leader) = Shared::lead(WireFormat::Openai);
        let (settle, outcome) = settled();
        shared.spawn_pump(
            async move {
                tokio::task::yield_now().await;
                broken_handler()
            },
            settle,
        );
        assert!(leader.head().await.is_none());
        assert!(outcome.await.unwrap().is_none());
    }
}
