//! Request idempotency, in-flight deduplication and the exact response cache: a layer in front of the data-plane handlers that lets identical requests share one upstream answer.
//!
//! The layer sees HTTP only; the handlers behind it do not know it exists.
//! For each data-plane POST it decides, cheapest test first, whether the
//! request could be served by another one's answer:
//! - it carries `Idempotency-Key` (else `X-Request-Id`): a repeat from the
//!   same caller on the same path joins the first request while it runs, or
//!   replays its answer up to 5 s after it succeeded ([`idempotency`]); the
//!   same key with another body is a 422;
//! - it has no such header and its body names a temperature of at most 0.1:
//!   identical requests in flight at the same time share one upstream call
//!   ([`key::shares_in_flight`]); no replay once the first has finished;
//! - the exact response cache is on ([`cache`]).
//!
//! Anything else reaches its handler untouched, its body read once and
//! handed on whole (the handler reads it whole anyway); only a substring
//! scan for `"temperature"` is added, no parse and no hash.
//!
//! A request that leads runs its handler in a task of its own (see
//! [`shared`] for why) and reads the answer like every joiner does. The
//! leader's usage record is the handler's; every joiner, replay, cache hit
//! and 422 gets one record of its own here, with `served_from` set and no
//! cost or tokens.

mod cache;
mod idempotency;
mod key;
mod shared;
mod verdict;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};

pub use cache::CacheStats;
use cache::{CachedResponse, ResponseCache};
use idempotency::{IdempotencyTable, Lookup};
use key::Digest;
use shared::{Recording, Shared, Ticket};

use super::{App, auth};
use crate::error::ApiError;
use crate::observe::UsageRecord;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::store::now_ms;

/// How many times a request tries to find or start an answer before it
/// simply goes to its handler. A second try happens only when the answer
/// it joined died before its head; a third only if that happened twice.
const MAX_ADMISSIONS: usize = 3;

/// Idempotency, in-flight sharing and the response cache; one per gateway,
/// cheap to clone.
#[derive(Clone, Default)]
pub struct Replay {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    idempotency: Mutex<IdempotencyTable<Arc<Shared>>>,
    /// Answers in flight that identical low-temperature requests may join.
    in_flight: Mutex<HashMap<Digest, Arc<Shared>>>,
    cache: ResponseCache,
    replays: AtomicU64,
    joins: AtomicU64,
}

/// What the layer did, for the health endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayStats {
    /// The response cache: `enabled`, `hits`, `misses`, `entries`, `bytes`, `max_bytes`.
    #[serde(flatten)]
    pub cache: CacheStats,
    /// Requests served by a repeated idempotency key's answer.
    pub replays: u64,
    /// Requests that joined an identical one in flight.
    pub shared: u64,
    /// Answers in flight that identical requests can join now.
    pub in_flight: u64,
    /// Idempotency keys remembered now (in flight or within 5 s).
    pub idempotency_keys: u64,
}

/// How a request may be served, worked out once.
#[derive(Clone, Copy)]
struct Plan {
    format: WireFormat,
    /// Caller, path, query and body.
    request: Digest,
    idempotency: Option<Digest>,
    /// May join an identical request in flight.
    dedup: bool,
    /// The cache is on, with this time to live.
    cache_ttl_ms: Option<i64>,
}

/// Where a request's answer comes from.
enum Admission {
    /// Its idempotency key was used for another request.
    Conflict,
    Cached(Arc<CachedResponse>),
    /// Another request's answer; `served_from` says why.
    Join(Ticket, &'static str),
    /// Its own handler, shared with whoever joins.
    Lead(Arc<Shared>, Ticket),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent between statements; a panic elsewhere while
    // one was locked leaves nothing half-done worth refusing service over.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replay {
    pub fn new() -> Replay {
        Replay::default()
    }

    pub fn stats(&self) -> ReplayStats {
        let inner = &*self.inner;
        ReplayStats {
            cache: inner.cache.stats(),
            replays: inner.replays.load(Ordering::Relaxed),
            shared: inner.joins.load(Ordering::Relaxed),
            in_flight: lock(&inner.in_flight).len() as u64,
            idempotency_keys: lock(&inner.idempotency).len() as u64,
        }
    }

    /// Zeroes the counters (cache hits and misses, replays, joins); what is
    /// cached or in flight stays.
    pub fn reset_stats(&self) {
        self.inner.cache.reset_stats();
        self.inner.replays.store(0, Ordering::Relaxed);
        self.inner.joins.store(0, Ordering::Relaxed);
    }

    fn cached(&self, plan: &Plan, now_ms: i64) -> Option<Arc<CachedResponse>> {
        let ttl_ms = plan.cache_ttl_ms?;
        self.inner.cache.get(&plan.request, ttl_ms, now_ms)
    }

    /// Finds this request's answer, or makes it the leader of a new one.
    /// Each map is checked and filled under one lock, so two identical
    /// requests never both lead.
    fn admit(&self, plan: &Plan, now_ms: i64) -> Admission {
        let inner = &*self.inner;
        if let Some(key) = plan.idempotency {
            let mut table = lock(&inner.idempotency);
            match table.lookup(&key, &plan.request, now_ms) {
                Lookup::Conflict => return Admission::Conflict,
                Lookup::Found(shared) => {
                    if let Some(ticket) = shared.join(true) {
                        inner.replays.fetch_add(1, Ordering::Relaxed);
                        return Admission::Join(ticket, "replay");
                    }
                }
                Lookup::Vacant => {}
            }
            if let Some(hit) = self.cached(plan, now_ms) {
                return Admission::Cached(hit);
            }
            let (shared, ticket) = Shared::lead(plan.format);
            table.insert(key, plan.request, shared.clone(), now_ms);
            return Admission::Lead(shared, ticket);
        }
        if let Some(hit) = self.cached(plan, now_ms) {
            return Admission::Cached(hit);
        }
        if plan.dedup {
            let mut in_flight = lock(&inner.in_flight);
            if let Some(ticket) = in_flight.get(&plan.request).and_then(|s| s.join(false)) {
                inner.joins.fetch_add(1, Ordering::Relaxed);
                return Admission::Join(ticket, "shared");
            }
            let (shared, ticket) = Shared::lead(plan.format);
            in_flight.insert(plan.request, shared.clone());
            return Admission::Lead(shared, ticket);
        }
        let (shared, ticket) = Shared::lead(plan.format);
        Admission::Lead(shared, ticket)
    }

    /// What happens when a led answer is over: the maps forget it (unless
    /// a newer answer took its place), a success stays replayable for its
    /// idempotency key and goes into the cache.
    fn settler(&self, plan: Plan) -> impl FnOnce(&Arc<Shared>, Option<Recording>) + Send + 'static {
        let replay = self.clone();
        move |shared: &Arc<Shared>, recording: Option<Recording>| {
            let inner = &*replay.inner;
            let now = now_ms();
            if let Some(key) = plan.idempotency {
                lock(&inner.idempotency).settle(
                    &key,
                    |s| Arc::ptr_eq(s, shared),
                    recording.is_some(),
                    now,
                );
            }
            if plan.dedup {
                let mut in_flight = lock(&inner.in_flight);
                if in_flight
                    .get(&plan.request)
                    .is_some_and(|s| Arc::ptr_eq(s, shared))
                {
                    in_flight.remove(&plan.request);
                }
            }
            if plan.cache_ttl_ms.is_some()
                && let Some(recording) = recording
            {
                inner.cache.insert(
                    plan.request,
                    CachedResponse {
                        status: recording.head.status,
                        content_type: recording.head.content_type().cloned(),
                        request_id: recording.head.request_id().cloned(),
                        body: recording.body,
                        stored_at_ms: now,
                    },
                );
            }
        }
    }
}

/// The layer on the data-plane POST routes (`axum::middleware::from_fn_with_state`).
pub async fn middleware(State(app): State<App>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(format) = key::format_of_path(request.uri().path()) else {
        return next.run(request).await;
    };
    let started = Instant::now();
    let arrived_ms = now_ms();
    let snapshot = app.snapshot.load_full();
    let settings = &snapshot.settings;
    let cache_on = settings.response_cache_enabled && settings.response_cache_max_bytes > 0;
    app.replay
        .inner
        .cache
        .configure(cache_on, settings.response_cache_max_bytes);
    let cache_ttl_ms = cache_on.then(|| {
        i64::try_from(settings.response_cache_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    });
    let idempotency = key::idempotency_header(request.headers());

    let (parts, body) = request.into_parts();
    let body = match buffer(body, settings.body_limit(parts.uri.path())).await {
        Buffered::Whole(body) => body,
        // Too large or unreadable: the handler reads it again and answers
        // (and records) the error as it always does.
        Buffered::Unread(body) => return next.run(Request::from_parts(parts, body)).await,
    };
    let dedup = idempotency.is_none() && key::shares_in_flight(format, &body);
    if idempotency.is_none() && !cache_on && !dedup {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    }
    // Nothing shared is served to a caller the handler would turn away.
    let Ok(grant) = authenticate(format, &snapshot, &parts) else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    };
    let plan = {
        let query_key = match format {
            WireFormat::Gemini => auth::query_key(&parts.uri),
            _ => None,
        };
        let scope = key::Scope {
            caller: auth::presented_key(&parts.headers).or(query_key.as_deref()),
            path: parts.uri.path(),
            query: parts.uri.query(),
        };
        Plan {
            format,
            request: key::request_digest(&scope, &body),
            idempotency: idempotency
                .as_ref()
                .map(|(_, value)| key::idempotency_digest(&scope, value.as_bytes())),
            dedup,
            cache_ttl_ms,
        }
    };
    let caller = Caller {
        app: &app,
        api_key_id: grant.as_deref().map(|g: &KeyGrant| g.id),
        format,
        started,
        arrived_ms,
    };
    for _ in 0..MAX_ADMISSIONS {
        match app.replay.admit(&plan, now_ms()) {
            Admission::Conflict => {
                let header = match idempotency.as_ref().map(|(name, _)| *name) {
                    Some("x-request-id") => "X-Request-Id",
                    _ => "Idempotency-Key",
                };
                return caller.conflict(header, &parts, &body).await;
            }
            Admission::Cached(hit) => return caller.serve_cached(&hit, &parts, &body).await,
            Admission::Join(ticket, served_from) => {
                if let Some(response) = caller.follow(ticket, served_from, &parts, &body).await {
                    return response;
                }
            }
            Admission::Lead(shared, ticket) => {
                let answer = next.run(Request::from_parts(parts, Body::from(body)));
                return lead(&app.replay, plan, shared, ticket, answer).await;
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn authenticate(
    format: WireFormat,
    snapshot: &Snapshot,
    parts: &Parts,
) -> Result<Option<Arc<KeyGrant>>, ApiError> {
    match format {
        WireFormat::Gemini => auth::authenticate_gemini(snapshot, &parts.headers, &parts.uri),
        _ => auth::authenticate(snapshot, &parts.headers),
    }
}

/// Starts the handler as the pump of a shared answer and answers the
/// leader from it, with every header the handler set.
async fn lead(
    replay: &Replay,
    plan: Plan,
    shared: Arc<Shared>,
    mut ticket: Ticket,
    answer: impl Future<Output = Response> + Send + 'static,
) -> Response {
    shared.spawn_pump(answer, replay.settler(plan));
    match ticket.head().await {
        Some(head) => {
            let status = head.status.as_u16();
            head.leader_response(Body::from_stream(ticket.into_body(None, status)))
        }
        // The handler panicked: without this layer the connection would
        // have been dropped; an error in the caller's format says more.
        None => ApiError::internal("The request's handler stopped before it answered.")
            .into_format_response(plan.format),
    }
}

/// The request being served without its own handler, for its answer and
/// its usage record.
struct Caller<'a> {
    app: &'a App,
    api_key_id: Option<i64>,
    format: WireFormat,
    started: Instant,
    arrived_ms: i64,
}

impl Caller<'_> {
    fn record(&self, parts: &Parts, body: &[u8], served_from: Option<&str>) -> UsageRecord {
        let (requested_model, stream) = key::model_and_stream(self.format, parts.uri.path(), body);
        UsageRecord {
            ts: self.arrived_ms,
            api_key_id: self.api_key_id,
            inbound_format: self.format.as_str().to_string(),
            requested_model,
            stream,
            served_from: served_from.map(str::to_string),
            ..Default::default()
        }
    }

    fn latency_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Another request's answer, from its head on. `None` when that answer
    /// died before it had a head: then nothing was sent and no record is
    /// written, and the request tries again.
    async fn follow(
        &self,
        mut ticket: Ticket,
        served_from: &'static str,
        parts: &Parts,
        body: &[u8],
    ) -> Option<Response> {
        let record = self.record(parts, body, Some(served_from));
        // Made before the wait, so a caller that leaves while waiting is
        // still recorded (as a 499).
        let mut pending = PendingRecord::new(self.app.usage.clone(), record, self.started);
        let Some(head) = ticket.head().await else {
            let _ = pending.take();
            return None;
        };
        let status = head.status.as_u16();
        let body = ticket.into_body(Some(pending), status);
        Some(head.joiner_response(Body::from_stream(body)))
    }

    async fn serve_cached(&self, hit: &CachedResponse, parts: &Parts, body: &[u8]) -> Response {
        let mut record = self.record(parts, body, Some("cache"));
        record.status = hit.status.as_u16();
        record.latency_ms = self.latency_ms();
        self.app.usage.send(record).await;
        hit.response()
    }

    async fn conflict(&self, header: &str, parts: &Parts, body: &[u8]) -> Response {
        let error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            format!(
                "This {header} was already used for a different request (still running, or finished less than 5 seconds ago). Send a new {header} with a new request."
            ),
        )
        .with_code("idempotency_key_reused");
        let mut record = self.record(parts, body, None);
        record.status = error.status.as_u16();
        record.error = Some(error.message.clone());
        record.latency_ms = self.latency_ms();
        self.app.usage.send(record).await;
        error.into_format_response(self.format)
    }
}

/// A request body read whole, or given back unread when it could not be.
enum Buffered {
    Whole(Bytes),
    /// What was read, followed by the rest (or the read error), for the
    /// handler to read and fail on as it would have.
    Unread(Body),
}

/// Reads a body up to `limit` bytes.
async fn buffer(body: Body, limit: usize) -> Buffered {
    let mut data = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut size = 0usize;
    while let Some(item) = data.next().await {
        match item {
            Ok(chunk) => {
                size += chunk.len();
                chunks.push(chunk);
                if size > limit {
                    let read = stream::iter(chunks.into_iter().map(Ok));
                    return Buffered::Unread(Body::from_stream(read.chain(data)));
                }
            }
            Err(e) => {
                let read = chunks.into_iter().map(Ok).chain([Err(e)]);
                return Buffered::Unread(Body::from_stream(stream::iter(read)));
            }
        }
    }
    Buffered::Whole(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => {
            let mut whole = BytesMut::with_capacity(size);
            for chunk in &chunks {
                whole.extend_from_slice(chunk);
            }
            whole.freeze()
        }
    })
}
