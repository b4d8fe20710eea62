//! The fallback loop: tries a plan's candidates and accounts until one answers; the only routing code that does I/O.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use super::classify::{Failure, TransportError, backoff_ms, classify, classify_transport};
use super::plan::{Candidate, Plan};
use super::state::{RoutingState, SkipKind, Ticket};
use crate::error::ApiError;
use crate::observe::events::Event;
use crate::observe::usage::{Hop, UsageRecord};
use crate::providers::WireFormat;
use crate::providers::adapters;
use crate::providers::oauth::OAuthRuntime;
use crate::providers::oauth::token::TokenError;
use crate::providers::upstream::{UpstreamClient, describe_send_error, error_chain, error_text};
use crate::snapshot::{Account, Snapshot};
use crate::store::connections::AccountState;
use crate::store::{Store, now_ms};
use crate::translate::codec::{self, StreamDecoder};
use crate::translate::collect::Collector;
use crate::wire::sse::{event_data, event_ranges};

/// Largest upstream body read whole (non-stream answers).
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;
/// Largest upstream error body read (to classify and report it).
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// Longest retry delay, whatever the attempt number.
const MAX_BACKOFF_MS: u64 = 30_000;

/// What the loop needs from the gateway.
pub struct Attempts<'a> {
    pub upstream: &'a UpstreamClient,
    pub routing: &'a Arc<RoutingState>,
    /// The configuration the request started with.
    pub snapshot: &'a Arc<Snapshot>,
    /// When the whole request must be over, streaming included.
    pub deadline: Instant,
    /// Live OAuth tokens, renewed before use.
    pub oauth: &'a OAuthRuntime,
    /// Where renewed tokens are saved.
    pub store: &'a Store,
}

/// A stream's failure after it started, as text for the caller's error event.
#[derive(Debug, Clone)]
pub struct StreamBroke(pub String);

impl std::fmt::Display for StreamBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upstream stream as the relays read it.
pub type UpstreamBody = BoxStream<'static, Result<Bytes, StreamBroke>>;

/// How a request ended.
pub enum Outcome {
    Answered(Answer),
    /// A client error that no other provider would judge differently; it
    /// goes back to the caller as the upstream sent it.
    Refused(Refusal),
    Failed(ApiError),
}

/// The upstream that answered.
pub struct Answer {
    /// Index into the plan's candidates.
    pub candidate: usize,
    pub account: Arc<Account>,
    pub body: AnswerBody,
}

pub enum AnswerBody {
    /// A stream that proved ready (its first event arrived and was not an error).
    Stream(UpstreamBody),
    /// A whole 2xx body.
    Whole { status: u16, body: Bytes },
}

pub struct Refusal {
    pub candidate: usize,
    pub account: Arc<Account>,
    pub status: StatusCode,
    pub body: Bytes,
    /// The upstream's message, for the record and for translated callers.
    pub message: String,
}

/// Why one attempt failed.
struct AttemptFailure {
    failure: Failure,
    status: Option<u16>,
    message: String,
    /// The upstream's error body, kept for a refusal.
    body: Bytes,
    /// Whether trying the same account again may help.
    retry: bool,
}

/// What the failures so far say about the final error.
#[derive(Default)]
struct Tally {
    calls: u32,
    rate_limited: u32,
    other: u32,
    skipped_for_time: u32,
    skipped_otherwise: u32,
    retry_at: Option<i64>,
    /// Statuses the upstreams answered with.
    upstream_statuses: std::collections::BTreeSet<u16>,
    /// The last upstream answer's status and message.
    last_upstream: Option<(u16, String)>,
    /// The last failure without an answer (connection error, timeout).
    last_transport: Option<String>,
}

impl Tally {
    fn note_retry_at(&mut self, until: Option<i64>) {
        if let Some(until) = until {
            self.retry_at = Some(self.retry_at.map_or(until, |t| t.min(until)));
        }
    }
}

/// Tries the plan until a candidate answers. `prepare` makes the upstream
/// body for a candidate (in its provider's format); it is called once per
/// candidate, and its error (the caller's request cannot be read) ends the
/// request. The record always names the attempt in flight (so a caller who
/// hangs up still gets an honest record), and every failed or skipped
/// attempt is appended to its hops.
pub async fn run(
    ctx: &Attempts<'_>,
    plan: &Plan,
    stream: bool,
    prepare: &mut (dyn FnMut(&Candidate) -> Result<Bytes, ApiError> + Send),
    record: &mut UsageRecord,
) -> Outcome {
    let settings = &ctx.snapshot.settings;
    let mut tally = Tally::default();
    let order = ctx.routing.candidate_order(plan, now_ms());
    // A fill-first combo lists its entries in the order the user wants
    // them used; an entry moved back because it cannot serve now is noted,
    // so the record says why the answer came from further down the list.
    let fill_first = plan
        .combo
        .as_ref()
        .is_some_and(|c| c.strategy == super::Strategy::FillFirst);
    'candidates: for index in order {
        if fill_first {
            note_passed_over(ctx, plan, index, record);
        }
        let candidate = &plan.candidates[index];
        let mut body: Option<Bytes> = None;
        'accounts: for account in ctx.routing.account_order(candidate, settings, now_ms()) {
            let mut attempt = 0u32;
            loop {
                let mut ticket = match ctx.routing.admit(candidate, &account, settings, now_ms()) {
                    Ok(ticket) => ticket,
                    Err(skip) => {
                        match skip.kind {
                            SkipKind::RateLimited => tally.skipped_for_time += 1,
                            _ => tally.skipped_otherwise += 1,
                        }
                        if skip.kind == SkipKind::RateLimited {
                            tally.note_retry_at(skip.until_ms);
                        }
                        let noted = record.hops.iter().any(|h| {
                            h.status.is_none()
                                && h.connection_id == Some(account.id)
                                && h.model == candidate.upstream_model
                        });
                        if !noted {
                            record
                                .hops
                                .push(hop(candidate, &account, None, skip.reason));
                        }
                        continue 'accounts;
                    }
                };
                let body = match &body {
                    Some(body) => body.clone(),
                    None => match prepare(candidate) {
                        Ok(prepared) => body.insert(prepared).clone(),
                        Err(e) => return Outcome::Failed(e),
                    },
                };
                if ticket.wait_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(ticket.wait_ms)).await;
                }
                let slot = match ctx.routing.slot(&candidate.provider.id, settings).await {
                    Some(Ok(permit)) => Some(permit),
                    _ => None,
                };
                tally.calls += 1;
                note_attempt(record, candidate, &account);
                let failed = match call(ctx, candidate, &account, body, stream, attempt).await {
                    Ok(Called::Stream { first, rest }) => {
                        ticket.success(now_ms());
                        let guarded = GuardedStream::new(first, rest, ticket, slot, ctx);
                        return Outcome::Answered(Answer {
                            candidate: index,
                            account,
                            body: AnswerBody::Stream(guarded.boxed()),
                        });
                    }
                    Ok(Called::Whole { status, body }) => {
                        ticket.success(now_ms());
                        return Outcome::Answered(Answer {
                            candidate: index,
                            account,
                            body: AnswerBody::Whole { status, body },
                        });
                    }
                    Err(failed) => failed,
                };
                ticket.failure(&failed.failure, &failed.message, settings, now_ms());
                drop(ticket);
                let retry = failed.retry;
                drop(slot);
                match failed.failure {
                    Failure::ClientError { .. } => {
                        return Outcome::Refused(Refusal {
                            candidate: index,
                            account,
                            status: failed
                                .status
                                .and_then(|s| StatusCode::from_u16(s).ok())
                                .unwrap_or(StatusCode::BAD_REQUEST),
                            body: failed.body,
                            message: failed.message,
                        });
                    }
                    Failure::RateLimited { until_ms, .. } => {
                        tally.rate_limited += 1;
                        tally.note_retry_at(until_ms);
                    }
                    _ => tally.other += 1,
                }
                if let Some(status) = failed.status {
                    tally.upstream_statuses.insert(status);
                    tally.last_upstream = Some((status, failed.message.clone()));
                } else {
                    tally.last_transport = Some(failed.message.clone());
                }
                record
                    .hops
                    .push(hop(candidate, &account, failed.status, failed.message));
                match failed.failure {
                    Failure::Transient { .. } if retry && attempt < settings.retry_attempts => {
                        let delay = backoff_ms(
                            attempt,
                            settings.retry_base_ms,
                            MAX_BACKOFF_MS,
                            rand::random::<f64>(),
                        );
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    Failure::FallbackClientError { .. } => continue 'candidates,
                    _ => continue 'accounts,
                }
            }
        }
    }
    Outcome::Failed(all_failed(plan, &record.hops, &tally))
}

/// The caller's error when no candidate answered. When every upstream that
/// answered said the same thing, the caller gets that status and message
/// (a single-provider request keeps its provider's error); otherwise a 502,
/// a 503 when nothing could even be tried, or a 429 when only rate limits
/// stood in the way. The message lists every hop.
fn all_failed(plan: &Plan, hops: &[Hop], tally: &Tally) -> ApiError {
    let mut reasons: Vec<String> = hops
        .iter()
        .chain(&plan.unusable)
        .map(|h| {
            let connection = h
                .connection_id
                .map(|id| format!(" (connection {id})"))
                .unwrap_or_default();
            format!("{}/{}{connection}: {}", h.provider, h.model, h.error)
        })
        .collect();
    reasons.dedup();
    let target = plan
        .combo
        .as_ref()
        .map(|c| format!("the combo `{}`", c.name))
        .unwrap_or_else(|| {
            plan.candidates
                .first()
                .map(|c| format!("`{}`", c.label()))
                .unwrap_or_default()
        });
    let tried = reasons.join("; ");
    let only_time = tally.other == 0 && tally.skipped_otherwise == 0;
    let one_answer = tally.upstream_statuses.len() == 1 && tally.last_transport.is_none();
    let (status, kind, headline) = if only_time && tally.rate_limited + tally.skipped_for_time > 0 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            tally
                .last_upstream
                .as_ref()
                .map(|(_, m)| m.clone())
                .unwrap_or_else(|| format!("Every account for {target} is rate limited.")),
        )
    } else if let (true, Some((code, message))) = (one_answer, &tally.last_upstream) {
        let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY);
        (status, "upstream_error", message.clone())
    } else if tally.calls == 0 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_error",
            format!("No provider could serve {target} now."),
        )
    } else {
        let headline = match (&tally.last_transport, &tally.last_upstream) {
            (Some(m), None) => m.clone(),
            _ => format!("No provider could serve {target}."),
        };
        (StatusCode::BAD_GATEWAY, "upstream_error", headline)
    };
    let message = format!("{headline} Tried: {tried}");
    let mut error = ApiError::new(status, kind, message).with_code("all_candidates_failed");
    if status == StatusCode::TOO_MANY_REQUESTS
        && let Some(at) = tally.retry_at
    {
        let secs = ((at - now_ms()).max(0) as u64).div_ceil(1000).max(1);
        error = error.with_retry_after(secs);
    }
    error
}

/// Notes, as hops, the combo entries listed before `index` that were moved
/// back because none of their accounts can be used now.
fn note_passed_over(ctx: &Attempts<'_>, plan: &Plan, index: usize, record: &mut UsageRecord) {
    for earlier in &plan.candidates[..index] {
        let noted = record
            .hops
            .iter()
            .any(|h| h.provider == earlier.provider.id && h.model == earlier.upstream_model);
        if noted {
            continue;
        }
        if let Some(reason) = ctx.routing.why_unusable(earlier, now_ms()) {
            record.hops.push(Hop {
                provider: earlier.provider.id.clone(),
                model: earlier.upstream_model.clone(),
                connection_id: earlier.accounts.first().map(|a| a.id),
                status: None,
                error: format!("skipped: {reason}"),
            });
        }
    }
}

/// Names the attempt in flight in the record; the answer's attempt stays.
fn note_attempt(record: &mut UsageRecord, candidate: &Candidate, account: &Account) {
    record.provider = Some(candidate.provider.id.clone());
    record.upstream_model = Some(candidate.upstream_model.clone());
    record.connection_id = Some(account.id);
    record.tier = Some(account.tier.as_str().to_string());
}

fn hop(candidate: &Candidate, account: &Account, status: Option<u16>, error: String) -> Hop {
    Hop {
        provider: candidate.provider.id.clone(),
        model: candidate.upstream_model.clone(),
        connection_id: Some(account.id),
        status,
        error,
    }
}

/// A successful call.
enum Called {
    Stream {
        first: Vec<Bytes>,
        rest: BoxStream<'static, reqwest::Result<Bytes>>,
    },
    Whole {
        status: u16,
        body: Bytes,
    },
}

/// One call to one account: response headers within the header timeout;
/// for a stream, its first event within the readiness timeout; for a whole
/// answer, its body. `attempt` counts the account's earlier tries.
async fn call(
    ctx: &Attempts<'_>,
    candidate: &Candidate,
    account: &Account,
    body: Bytes,
    stream: bool,
    attempt: u32,
) -> Result<Called, AttemptFailure> {
    let settings = &ctx.snapshot.settings;
    let headers_timeout = Duration::from_secs(settings.upstream_timeout_secs);
    let format = candidate.provider.format;
    // An OAuth account: fresh tokens, and the request its provider's own
    // client would send.
    let outgoing = match (&account.oauth, &candidate.provider.oauth) {
        (Some(_), Some(def)) => {
            let tokens = ctx
                .oauth
                .sessions
                .fresh(account, def, ctx.upstream, ctx.store, &ctx.oauth.clock)
                .await
                .map_err(|e| renewal_failed(ctx, account, e))?;
            let outgoing = adapters::prepare(
                &candidate.provider,
                account,
                &tokens,
                body.clone(),
                stream,
                adapters::Target {
                    model: &candidate.upstream_model,
                    attempt,
                },
                ctx.oauth.origin.as_deref(),
            )
            .map_err(|message| AttemptFailure {
                failure: Failure::Transient { status: None },
                status: None,
                message,
                body: Bytes::new(),
                retry: false,
            })?;
            Some(outgoing)
        }
        _ => None,
    };
    // The upstream only streams; the caller wants a whole answer.
    let collect = !stream && outgoing.as_ref().is_some_and(|o| o.force_stream);
    let mut outgoing = outgoing;
    let reshape = outgoing.as_mut().and_then(|o| o.reshape.take());
    let send = async {
        match outgoing {
            Some(outgoing) => {
                ctx.upstream
                    .send_prepared(account, outgoing, stream || collect)
                    .await
            }
            None => {
                ctx.upstream
                    .send(account, format, &candidate.upstream_model, body, stream)
                    .await
            }
        }
    };
    let response = match tokio::time::timeout(headers_timeout, send).await {
        Err(_) => {
            return Err(transport(
                TransportError::Timeout,
                format!("no response headers within {} s", headers_timeout.as_secs()),
            ));
        }
        Ok(Err(e)) => {
            let kind = if e.is_connect() {
                TransportError::Connect
            } else if e.is_timeout() {
                TransportError::Timeout
            } else {
                TransportError::Reset
            };
            let mut failed = transport(kind, describe_send_error(account, &e));
            // A request that cannot even be built (an unusable proxy URL)
            // fails the same way every time.
            failed.retry = !e.is_builder();
            return Err(failed);
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    // Subscription providers report their quota windows on every answer.
    if let (Some(adapter), Some(_)) = (candidate.provider.adapter, &account.oauth) {
        let windows = adapters::limits::read(adapter, response.headers(), now_ms());
        if !windows.is_empty() {
            ctx.routing.report_quota(account, windows, now_ms());
        }
    }
    if !response.status().is_success() {
        let headers = response.headers().clone();
        let body = read_limited(response, MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        return Err(AttemptFailure {
            failure: classify(status, &headers, &text, now_ms()),
            status: Some(status),
            message: error_text(status, &text),
            body,
            retry: true,
        });
    }
    // A reshaped upstream streams in its own wire (Kiro: AWS event stream).
    let is_sse = reshape.is_some()
        || response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
    if stream && is_sse {
        let ready = Duration::from_secs(settings.stream_ready_timeout_secs);
        let mut rest = response.bytes_stream().boxed();
        if let Some(reshape) = reshape {
            rest = reshaped(rest, reshape);
        }
        return match tokio::time::timeout(ready, first_event(&mut rest, candidate.provider.format))
            .await
        {
            Err(_) => Err(transport(
                TransportError::Timeout,
                format!("the stream sent no event within {} s", ready.as_secs()),
            )),
            Ok(Err(failed)) => Err(failed),
            Ok(Ok(first)) => Ok(Called::Stream { first, rest }),
        };
    }
    let whole = read_limited(response, MAX_UPSTREAM_BODY)
        .await
        .and_then(|body| match reshape {
            Some(reshape) => reshape.whole(&body),
            None => Ok(body),
        });
    match whole {
        Ok(body) if collect => {
            collect_stream(format, &body).map(|body| Called::Whole { status, body })
        }
        Ok(body) => Ok(Called::Whole { status, body }),
        Err(message) => Err(transport(TransportError::Reset, message)),
    }
}

/// An upstream stream in its own wire, read as the declared format.
fn reshaped(
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    reshape: adapters::Reshape,
) -> BoxStream<'static, reqwest::Result<Bytes>> {
    futures_util::stream::unfold(
        (upstream, Some(reshape)),
        |(mut upstream, mut reshape)| async move {
            loop {
                let shaper = reshape.as_mut()?;
                match upstream.next().await {
                    Some(Ok(chunk)) => {
                        let out = shaper.push(&chunk);
                        // A chunk inside one frame yields nothing yet.
                        if !out.is_empty() {
                            return Some((Ok(out), (upstream, reshape)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (upstream, reshape))),
                    None => {
                        let rest = shaper.finish();
                        reshape = None;
                        if !rest.is_empty() {
                            return Some((Ok(rest), (upstream, reshape)));
                        }
                    }
                }
            }
        },
    )
    .boxed()
}

/// A whole answer in `format` from a stream read to its end.
fn collect_stream(format: WireFormat, sse: &[u8]) -> Result<Bytes, AttemptFailure> {
    let mut decoder = StreamDecoder::new(format);
    let mut collector = Collector::new();
    for range in event_ranges(sse) {
        let Some(data) = event_data(&sse[range]) else {
            continue;
        };
        for event in decoder.data(&data) {
            collector.push(&event);
        }
    }
    if let Some(event) = decoder.finish() {
        collector.push(&event);
    }
    match collector.finish() {
        Ok(response) => Ok(Bytes::from(
            codec::encode_response(format, &response).to_string(),
        )),
        Err(message) => Err(transport(
            TransportError::Reset,
            format!("the upstream stream failed: {message}"),
        )),
    }
}

/// An OAuth renewal that failed: a dead grant takes the account out of
/// rotation until the user signs in again (and says so once); anything
/// else is an outage of the provider's token service.
fn renewal_failed(ctx: &Attempts<'_>, account: &Account, error: TokenError) -> AttemptFailure {
    let message = format!("renewing the OAuth token failed: {}", error.message);
    if error.permanent {
        ctx.routing.publish(Event::TokenRefreshFailed {
            provider: account.provider.clone(),
            connection_id: account.id,
            reason: error.message.clone(),
        });
    }
    AttemptFailure {
        failure: if error.permanent {
            Failure::Terminal {
                state: AccountState::AuthFailed,
            }
        } else {
            Failure::Transient { status: None }
        },
        status: None,
        message: if error.permanent {
            format!("{message}. Sign in to this account again from the dashboard.")
        } else {
            message
        },
        body: Bytes::new(),
        retry: !error.permanent,
    }
}

fn transport(kind: TransportError, message: String) -> AttemptFailure {
    AttemptFailure {
        failure: classify_transport(kind),
        status: None,
        message,
        body: Bytes::new(),
        retry: true,
    }
}

/// Reads a stream until its first complete event that carries data. A
/// stream that ends first, breaks, or opens with an error event failed
/// before anything reached the caller, so another candidate may still serve.
async fn first_event(
    stream: &mut BoxStream<'static, reqwest::Result<Bytes>>,
    format: WireFormat,
) -> Result<Vec<Bytes>, AttemptFailure> {
    let mut chunks = Vec::new();
    let mut seen = BytesMut::new();
    loop {
        let chunk = match stream.next().await {
            None => {
                return Err(transport(
                    TransportError::Reset,
                    "the stream ended before its first event".into(),
                ));
            }
            Some(Err(e)) => {
                return Err(transport(
                    TransportError::Reset,
                    format!(
                        "the stream broke before its first event: {}",
                        error_chain(&e)
                    ),
                ));
            }
            Some(Ok(chunk)) => chunk,
        };
        seen.extend_from_slice(&chunk);
        chunks.push(chunk);
        if let Some(verdict) = judge_first_events(&seen, format) {
            return verdict.map(|()| chunks);
        }
        if seen.len() > MAX_ERROR_BODY {
            // Events this large with no data line are not SSE; let the
            // relay deal with them rather than buffering more.
            return Ok(chunks);
        }
    }
}

/// `None` while no complete event with data has arrived; then `Ok` for a
/// useful event and `Err` for an error event. Only an event that mentions
/// an error is parsed: the common first event is judged by a byte search.
fn judge_first_events(seen: &[u8], format: WireFormat) -> Option<Result<(), AttemptFailure>> {
    for range in event_ranges(seen) {
        let event = &seen[range];
        if !(event.ends_with(b"\n\n") || event.ends_with(b"\n\r\n")) {
            // The last piece, still incomplete.
            return None;
        }
        let Some(data) = event_data(event) else {
            continue;
        };
        if data.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let named_error = event
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b"event:"))
            .any(|name| name.trim_ascii() == b"error");
        let mentions_error = memchr::memmem::find(&data, b"\"error\"").is_some()
            || (format == WireFormat::Responses
                && memchr::memmem::find(&data, b"response.failed").is_some());
        if !named_error && !mentions_error {
            return Some(Ok(()));
        }
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&data).ok();
        let is_error = named_error
            || parsed.as_ref().is_some_and(|v| {
                let kind = v.get("type").and_then(|t| t.as_str());
                (v.get("error").is_some_and(|e| !e.is_null())
                    && v.get("choices").is_none()
                    && v.get("candidates").is_none())
                    || kind == Some("error")
                    || (format == WireFormat::Responses && kind == Some("response.failed"))
            });
        if !is_error {
            return Some(Ok(()));
        }
        let message = parsed
            .as_ref()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.pointer("/response/error/message"))
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&data).into_owned());
        return Some(Err(AttemptFailure {
            failure: Failure::Transient { status: None },
            status: None,
            message: format!("the stream opened with an error: {message}"),
            body: Bytes::new(),
            retry: true,
        }));
    }
    None
}

/// Reads a whole body up to `limit` bytes.
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err("the upstream response is too large".into());
    }
    let broke = |e: reqwest::Error| format!("the upstream response broke off: {}", error_chain(&e));
    if response.content_length().is_some() {
        // Bounded by the length checked above; a one-chunk body is not copied.
        return response.bytes().await.map_err(broke);
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(broke)?;
        if body.len() + chunk.len() > limit {
            return Err("the upstream response is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The upstream stream once it is ready: replays the events read while
/// judging readiness, then relays the rest, ending it with an error when
/// the upstream goes silent too long or the request passes its deadline.
/// It holds the call's ticket (in flight until the stream ends) and the
/// provider's concurrency slot.
///
/// One timer serves both limits, and it is moved only when the stream
/// waits, not on every chunk: a chunk just notes the time it came.
struct GuardedStream {
    first: VecDeque<Bytes>,
    rest: BoxStream<'static, reqwest::Result<Bytes>>,
    idle: Duration,
    /// When the last chunk (or the readiness answer) came.
    last_chunk: Instant,
    deadline: Instant,
    deadline_secs: u64,
    timer: Pin<Box<Sleep>>,
    ticket: Option<Ticket>,
    _slot: Option<OwnedSemaphorePermit>,
    snapshot: Arc<Snapshot>,
    done: bool,
}

impl GuardedStream {
    fn new(
        first: Vec<Bytes>,
        rest: BoxStream<'static, reqwest::Result<Bytes>>,
        ticket: Ticket,
        slot: Option<OwnedSemaphorePermit>,
        ctx: &Attempts<'_>,
    ) -> GuardedStream {
        let settings = &ctx.snapshot.settings;
        let idle = Duration::from_secs(settings.stream_idle_timeout_secs);
        let now = Instant::now();
        GuardedStream {
            first: first.into(),
            rest,
            idle,
            last_chunk: now,
            deadline: ctx.deadline,
            deadline_secs: settings.request_deadline_secs,
            // Not registered with the timer driver until first polled.
            timer: Box::pin(tokio::time::sleep_until((now + idle).min(ctx.deadline))),
            ticket: Some(ticket),
            _slot: slot,
            snapshot: ctx.snapshot.clone(),
            done: false,
        }
    }

    /// Ends the stream with `message`, counting it against the upstream.
    fn fail(&mut self, message: String) -> Poll<Option<Result<Bytes, StreamBroke>>> {
        self.done = true;
        if let Some(mut ticket) = self.ticket.take() {
            let failure = Failure::Transient { status: None };
            ticket.failure(&failure, &message, &self.snapshot.settings, now_ms());
        }
        Poll::Ready(Some(Err(StreamBroke(message))))
    }

    fn deadline_passed(&mut self) -> Poll<Option<Result<Bytes, StreamBroke>>> {
        let message = format!(
            "the request passed its deadline of {} s",
            self.deadline_secs
        );
        self.fail(message)
    }
}

impl Stream for GuardedStream {
    type Item = Result<Bytes, StreamBroke>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(chunk) = this.first.pop_front() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if this.last_chunk >= this.deadline {
            return this.deadline_passed();
        }
        match this.rest.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.last_chunk = Instant::now();
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!("the upstream stream broke: {}", error_chain(&e));
                this.fail(message)
            }
            Poll::Ready(None) => {
                this.done = true;
                this.ticket.take();
                Poll::Ready(None)
            }
            Poll::Pending => loop {
                let now = Instant::now();
                if now >= this.deadline {
                    return this.deadline_passed();
                }
                let quiet_until = this.last_chunk + this.idle;
                if now >= quiet_until {
                    let message =
                        format!("the upstream sent nothing for {} s", this.idle.as_secs());
                    return this.fail(message);
                }
                let wake = quiet_until.min(this.deadline);
                if this.timer.deadline() != wake {
                    this.timer.as_mut().reset(wake);
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(text: &str, format: WireFormat) -> Option<Result<(), String>> {
        judge_first_events(text.as_bytes(), format).map(|r| r.map_err(|f| f.message))
    }

    #[test]
    fn readiness_waits_for_a_whole_event_with_data() {
        assert!(judge("data: {\"choices\":[]", WireFormat::Openai).is_none());
        assert!(judge(": keep-alive\n\n", WireFormat::Openai).is_none());
        assert_eq!(
            judge("data: {\"choices\":[]}\n\n", WireFormat::Openai),
            Some(Ok(()))
        );
        assert_eq!(
            judge(
                "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n",
                WireFormat::Anthropic
            ),
            Some(Ok(()))
        );
    }

    #[test]
    fn an_opening_error_event_is_a_failure_in_every_format() {
        let cases = [
            (
                "data: {\"error\":{\"message\":\"overloaded\"}}\n\n",
                WireFormat::Openai,
            ),
            (
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"overloaded\"}}\n\n",
                WireFormat::Anthropic,
            ),
            (
                "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"message\":\"overloaded\"}}}\n\n",
                WireFormat::Responses,
            ),
            (
                "data: {\"error\":{\"code\":503,\"message\":\"overloaded\"}}\n\n",
                WireFormat::Gemini,
            ),
        ];
        for (text, format) in cases {
            let verdict = judge(text, format).unwrap();
            assert!(verdict.unwrap_err().contains("overloaded"), "{format:?}");
        }
    }
}
