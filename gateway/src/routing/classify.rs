//! Error classification: what an upstream failure means for routing (retry, cool down, fall back, or give up).
//!
//! Pure functions over the status, headers and body of an upstream answer.
//! The rules, in the order they are applied:
//!
//! | answer | verdict |
//! |---|---|
//! | any 4xx but 408 with a terminal marker (`insufficient_quota`, "credit balance is too low", "organization has been disabled", "has been suspended", `TOS_VIOLATION`, "API key revoked", ...) | `Terminal` (`OutOfCredits` / `Banned` / `Revoked`) |
//! | any 4xx but 408 from Code Assist refusing the client (`UNSUPPORTED_CLIENT`, "this client is no longer supported") | `Terminal { AuthFailed }` |
//! | 402 | `Terminal { OutOfCredits }` |
//! | 429 "Request too large ... tokens per min" (a request bigger than the limit itself) | `FallbackClientError` |
//! | 429 | `RateLimited` (hint, model scope, exhaustion; Code Assist's `QUOTA_EXHAUSTED` is the model's quota used up) |
//! | 408, 5xx (incl. 529) | `Transient` |
//! | 401; 403 not about model access; 400 `API_KEY_INVALID` (Gemini) | `Auth` |
//! | 403 about access to the model | `FallbackClientError` |
//! | 413; 404 about a model or without a JSON body; other 4xx with a context-overflow, unsupported-feature or unknown-model marker | `FallbackClientError` |
//! | other 4xx | `ClientError` |
//! | anything else (1xx/2xx/3xx, >599) | `Transient` (an answer nobody can use; another try may differ) |
//!
//! OpenAI's no-credit 429 and Gemini's rate-limit 429 share the message "You
//! exceeded your current quota, please check your plan and billing
//! details", so credits are recognised by the `insufficient_quota` code, never
//! by that sentence.

use std::time::UNIX_EPOCH;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::store::connections::AccountState;

/// What an upstream failure means for routing.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 429 or a quota message. `until_ms`: from Retry-After / provider reset headers / body hints.
    /// `model_scoped`: the limit is on one model (e.g. Gemini "...PerDay...PerModel", "quota for model X")
    /// so only that model is locked on the connection. `exhausted`: a quota (not a short rate limit) is used up.
    RateLimited {
        until_ms: Option<i64>,
        model_scoped: bool,
        exhausted: bool,
    },
    /// 401/403 without a terminal marker: refresh the token (OAuth) or disable the connection.
    Auth { status: u16 },
    /// A state that persists until a person acts (crate::store::connections::AccountState):
    /// 402 / insufficient_quota / "credit balance is too low" -> OutOfCredits; banned/suspended/disabled
    /// organization -> Banned; "API key revoked"/"has been deleted" -> Revoked.
    Terminal { state: AccountState },
    /// 408, 5xx (incl. 529 overloaded), timeouts, connection errors: retry with backoff, then next candidate.
    Transient { status: Option<u16> },
    /// A 400-class answer another provider may accept: context-length overflow
    /// ("context_length_exceeded", "prompt is too long", "maximum context length", "too many tokens"),
    /// 413, a model not found / not supported on this provider (404 model_not_found), malformed-for-this-provider
    /// (e.g. "unsupported parameter", "does not support tools/images"). Moves to the next candidate, no retry.
    FallbackClientError { status: u16 },
    /// Any other 4xx: returned to the caller unchanged, no fallback.
    ClientError { status: u16 },
}

impl Failure {
    /// Whether the fallback loop may try another candidate after this.
    pub fn falls_back(&self) -> bool {
        !matches!(self, Failure::ClientError { .. })
    }

    /// The upstream status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::RateLimited { .. } => Some(429),
            Failure::Terminal { .. } => None,
            Failure::Auth { status }
            | Failure::FallbackClientError { status }
            | Failure::ClientError { status } => Some(*status),
            Failure::Transient { status } => *status,
        }
    }

    /// A short stable name for usage-record hops and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::RateLimited {
                exhausted: true, ..
            } => "quota_exhausted",
            Failure::RateLimited { .. } => "rate_limited",
            Failure::Auth { .. } => "auth",
            Failure::Terminal { state } => state.as_str(),
            Failure::Transient { .. } => "transient",
            Failure::FallbackClientError { .. } => "unsupported_here",
            Failure::ClientError { .. } => "client_error",
        }
    }
}

/// A failure before any response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    Connect,
    Timeout,
    Reset,
}

/// Transport failures are all transient: the next try may reach the upstream.
pub fn classify_transport(_kind: TransportError) -> Failure {
    Failure::Transient { status: None }
}

/// Whether a failure counts for the provider-wide breaker: only 408, 5xx and transport errors.
/// A 429 or an auth error is about one account, not the provider.
pub fn counts_for_provider_breaker(f: &Failure) -> bool {
    match f {
        Failure::Transient { status: None } => true,
        Failure::Transient { status: Some(s) } => *s == 408 || (500..=599).contains(s),
        _ => false,
    }
}

/// Delay before retry `attempt` (0-based): base_ms * 2^attempt, capped at max_ms, times a jitter
/// factor in [0.5, 1.0] given as `jitter01` in [0,1) (the caller draws it, so this stays pure).
/// Out-of-range or NaN jitter is clamped into [0, 1].
pub fn backoff_ms(attempt: u32, base_ms: u64, max_ms: u64, jitter01: f64) -> u64 {
    let factor = 1_u64.checked_shl(attempt).unwrap_or(u64::MAX);
    let raw = base_ms.saturating_mul(factor).min(max_ms);
    let jitter = if jitter01.is_nan() {
        0.0
    } else {
        jitter01.clamp(0.0, 1.0)
    };
    let scaled = raw as f64 * (0.5 + 0.5 * jitter);
    // `as` saturates; `min` keeps float rounding from passing the cap.
    (scaled as u64).min(raw)
}

/// Bodies past this are scanned only in their first part: error bodies are
/// small, and markers sit at the start.
const SCAN_LIMIT: usize = 64 * 1024;
/// A rate limit that lasts this long or more outlasts any per-minute window:
/// treat it as a used-up quota.
const LONG_WAIT_MS: i64 = 60 * 60 * 1000;
/// Hints further away than this are clamped: they come from a misread header
/// more likely than from any real quota.
const MAX_HINT_MS: i64 = 400 * 24 * 60 * 60 * 1000;

const OUT_OF_CREDITS: &[&str] = &[
    "insufficient_quota",
    "credit balance is too low",
    "insufficient credits",
    "insufficient_credits",
    "insufficient balance",
    "insufficient_balance",
    "out of credits",
    "billing_hard_limit_reached",
];

const BANNED: &[&str] = &[
    "organization has been disabled",
    "organization is disabled",
    "account has been disabled",
    "account is disabled",
    "has been suspended",
    "account is suspended",
    "account suspended",
    "has been banned",
    "account_deactivated",
    "has been deactivated",
    // Code Assist (Gemini CLI, Antigravity) ErrorInfo reason of a ban.
    "tos_violation",
];

/// Code Assist no longer serves this kind of account through this client
/// (Gemini CLI's consumer tiers since 2026-06-18): only another provider or
/// another kind of account helps.
const CLIENT_REFUSED: &[&str] = &["unsupported_client", "this client is no longer supported"];

const REVOKED: &[&str] = &[
    "api key revoked",
    "api_key_revoked",
    "key has been revoked",
    "key was revoked",
    "key has been deleted",
    "key was deleted",
    "account has been deleted",
];

const BAD_KEY: &[&str] = &[
    "api_key_invalid",
    "api key not valid",
    "api key expired",
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
    "invalid x-api-key",
    "authentication_error",
];

const CONTEXT_OVERFLOW: &[&str] = &[
    "context_length_exceeded",
    "prompt is too long",
    "maximum context length",
    "too many tokens",
    "context window",
    "context length",
    "exceeds the maximum number of tokens",
    "input token count",
    "prompt token count",
    "maximum prompt length",
    "exceeded model token limit",
    "input is too long",
    "reduce the length of the message",
    "request_too_large",
    "max_tokens is too large",
    "maximum allowed number of output tokens",
];

const UNSUPPORTED: &[&str] = &[
    "unsupported parameter",
    "unsupported_parameter",
    "unsupported value",
    "unsupported_value",
    "unknown parameter",
    "unknown_parameter",
    "unrecognized request argument",
    "extra inputs are not permitted",
    "does not support",
    "not supported",
];

const UNKNOWN_MODEL: &[&str] = &[
    "model_not_found",
    "model not found",
    "no such model",
    "unknown model",
    "invalid model",
    "model_not_supported",
    "is not a valid model",
];

const EXHAUSTED: &[&str] = &[
    "per day",
    "perday",
    "daily",
    "(rpd)",
    "(tpd)",
    "per week",
    "weekly",
    "per month",
    "monthly",
    "usage_limit_reached",
    "usage limit",
];

/// Classifies an upstream answer that was not a success.
pub fn classify(status: u16, headers: &HeaderMap, body: &str, now_ms: i64) -> Failure {
    let text = scan_text(body);
    let has = |markers: &[&str]| markers.iter().any(|m| text.contains(m));
    let json = parse_body(body);

    if (400..=499).contains(&status) && status != 408 {
        // "Your organization org-abc has been disabled." names the
        // organization between the words, so a phrase list is not enough.
        let disabled_account = text.contains("has been disabled")
            && (text.contains("organization") || text.contains("account"));
        if has(BANNED) || disabled_account {
            return Failure::Terminal {
                state: AccountState::Banned,
            };
        }
        if has(REVOKED) {
            return Failure::Terminal {
                state: AccountState::Revoked,
            };
        }
        if has(CLIENT_REFUSED) {
            return Failure::Terminal {
                state: AccountState::AuthFailed,
            };
        }
        if has(OUT_OF_CREDITS) || status == 402 {
            return Failure::Terminal {
                state: AccountState::OutOfCredits,
            };
        }
    }
    match status {
        429 if text.contains("request too large") => Failure::FallbackClientError { status },
        429 => rate_limited(headers, json.as_ref(), &text, now_ms),
        408 | 500..=599 => Failure::Transient {
            status: Some(status),
        },
        401 => Failure::Auth { status },
        403 => {
            let about_model = has(UNKNOWN_MODEL)
                || (text.contains("model")
                    && ["access", "not allowed", "not available", "permission"]
                        .iter()
                        .any(|m| text.contains(m)));
            if about_model {
                Failure::FallbackClientError { status }
            } else {
                Failure::Auth { status }
            }
        }
        413 => Failure::FallbackClientError { status },
        404 => {
            // The gateway chose the URL and the model id: a 404 about the
            // model, or a bare 404 page (wrong base URL), says this provider
            // cannot serve the request, not that the caller got it wrong.
            if text.contains("model") || json.is_none() {
                Failure::FallbackClientError { status }
            } else {
                Failure::ClientError { status }
            }
        }
        400..=499 => {
            if has(BAD_KEY) {
                Failure::Auth { status }
            } else if has(CONTEXT_OVERFLOW) || has(UNSUPPORTED) || has(UNKNOWN_MODEL) {
                Failure::FallbackClientError { status }
            } else {
                Failure::ClientError { status }
            }
        }
        _ => Failure::Transient {
            status: Some(status),
        },
    }
}

/// When the upstream says to come back, as an absolute time: `Retry-After` (seconds or HTTP date),
/// `retry-after-ms`, OpenAI `x-ratelimit-reset-requests` / `-tokens` ("6m0s", "1.5s", "20ms"),
/// Anthropic `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` (RFC 3339),
/// `x-ratelimit-reset` (Unix seconds or delta seconds), and Gemini's body
/// `error.details[].retryDelay` ("12s", "0.5s") in a google.rpc.RetryInfo.
///
/// This is the rule for a plain rate limit: an explicit "retry after" wins,
/// in the order `retry-after-ms`, `Retry-After`, Gemini `retryDelay`, Codex
/// `resets_in_seconds` / `resets_at`; without one, the latest of the reset
/// headers of the limits that are used up (a limit whose `-remaining` header
/// is above zero is not what blocked the call). For a used-up quota see
/// [`exhaustion_hint_ms`]. Never earlier than `now_ms`.
pub fn retry_hint_ms(headers: &HeaderMap, body: &str, now_ms: i64) -> Option<i64> {
    plain_hint(headers, parse_body(body).as_ref(), now_ms)
}

/// The hint for a used-up quota: the latest of every hint, since the
/// account is usable only once every limit it hit has reset.
pub fn exhaustion_hint_ms(headers: &HeaderMap, body: &str, now_ms: i64) -> Option<i64> {
    latest_hint(headers, parse_body(body).as_ref(), now_ms)
}

fn rate_limited(headers: &HeaderMap, json: Option<&Value>, text: &str, now_ms: i64) -> Failure {
    let quota = gemini_quota(json);
    let model_scoped = quota.per_model
        || text.contains("quota for model")
        || text.contains("permodel")
        // OpenAI limits are per model: "Rate limit reached for gpt-4o in organization ...".
        || (text.contains("rate limit reached for") && text.contains(" in organization"));
    let unified_rejected = header_str(headers, "anthropic-ratelimit-unified-status")
        .is_some_and(|s| s.eq_ignore_ascii_case("rejected"));
    let plain = plain_hint(headers, json, now_ms);
    let exhausted = quota.long_window
        || unified_rejected
        || EXHAUSTED.iter().any(|m| text.contains(m))
        || plain.is_some_and(|until| until.saturating_sub(now_ms) >= LONG_WAIT_MS);
    let until_ms = if exhausted {
        latest_hint(headers, json, now_ms)
    } else {
        plain
    };
    Failure::RateLimited {
        until_ms,
        model_scoped,
        exhausted,
    }
}

/// What Gemini's `google.rpc.QuotaFailure` says about the limit that was hit.
#[derive(Default)]
struct GeminiQuota {
    per_model: bool,
    long_window: bool,
}

fn gemini_quota(json: Option<&Value>) -> GeminiQuota {
    let mut quota = GeminiQuota::default();
    for detail in details(json) {
        // Code Assist names a used-up quota in an ErrorInfo instead, with
        // the model in its metadata; Gemini CLI treats it as final until
        // the reset, however short the RetryInfo.
        if type_is(detail, "google.rpc.ErrorInfo")
            && detail.get("reason").and_then(Value::as_str) == Some("QUOTA_EXHAUSTED")
        {
            quota.long_window = true;
            quota.per_model |= detail
                .pointer("/metadata/model")
                .and_then(Value::as_str)
                .is_some_and(|m| !m.is_empty());
        }
        if !type_is(detail, "google.rpc.QuotaFailure") {
            continue;
        }
        let violations = detail.get("violations").and_then(Value::as_array);
        for violation in violations.into_iter().flatten() {
            let id = violation
                .get("quotaId")
                .and_then(Value::as_str)
                .unwrap_or("");
            quota.per_model |= id.contains("PerModel")
                || violation
                    .get("quotaDimensions")
                    .and_then(|d| d.get("model"))
                    .is_some();
            quota.long_window |=
                id.contains("PerDay") || id.contains("PerWeek") || id.contains("PerMonth");
        }
    }
    quota
}

fn plain_hint(headers: &HeaderMap, json: Option<&Value>, now_ms: i64) -> Option<i64> {
    explicit_hints(headers, json, now_ms)
        .into_iter()
        .next()
        .or_else(|| reset_hints(headers, now_ms).into_iter().max())
}

fn latest_hint(headers: &HeaderMap, json: Option<&Value>, now_ms: i64) -> Option<i64> {
    explicit_hints(headers, json, now_ms)
        .into_iter()
        .chain(reset_hints(headers, now_ms))
        .max()
}

/// "Come back then" answers, most precise first.
fn explicit_hints(headers: &HeaderMap, json: Option<&Value>, now_ms: i64) -> Vec<i64> {
    let mut hints = Vec::new();
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(parse_non_negative) {
        hints.push(after(now_ms, ms));
    }
    if let Some(value) = header_str(headers, "retry-after") {
        if let Some(secs) = parse_non_negative(value) {
            hints.push(after(now_ms, secs * 1000.0));
        } else if let Some(at) = parse_http_date_ms(value) {
            hints.push(clamp_hint(at, now_ms));
        }
    }
    for detail in details(json) {
        if type_is(detail, "google.rpc.RetryInfo")
            && let Some(ms) = detail
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_duration_ms)
        {
            hints.push(after(now_ms, ms));
        }
    }
    // The ChatGPT (Codex) backend: {"error":{"type":"usage_limit_reached","resets_in_seconds":..,"resets_at":..}}
    if let Some(error) = json.and_then(error_object) {
        if let Some(secs) = error.get("resets_in_seconds").and_then(Value::as_f64) {
            if secs.is_finite() && secs >= 0.0 {
                hints.push(after(now_ms, secs * 1000.0));
            }
        } else if let Some(at) = error.get("resets_at").and_then(Value::as_f64)
            && let Some(at) = epoch_or_delta_ms(at, now_ms)
        {
            hints.push(at);
        }
    }
    hints
}

/// Reset times of the limits that are used up (remaining 0 or unknown).
fn reset_hints(headers: &HeaderMap, now_ms: i64) -> Vec<i64> {
    let mut hints = Vec::new();
    let used_up = |remaining: &str| {
        header_str(headers, remaining)
            .and_then(|v| v.parse::<f64>().ok())
            .is_none_or(|left| left <= 0.0)
    };
    for kind in ["requests", "tokens"] {
        if !used_up(&format!("x-ratelimit-remaining-{kind}")) {
            continue;
        }
        if let Some(ms) =
            header_str(headers, &format!("x-ratelimit-reset-{kind}")).and_then(parse_duration_ms)
        {
            hints.push(after(now_ms, ms));
        }
    }
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        if !used_up(&format!("anthropic-ratelimit-{kind}-remaining")) {
            continue;
        }
        if let Some(at) = header_str(headers, &format!("anthropic-ratelimit-{kind}-reset"))
            .and_then(parse_rfc3339_ms)
        {
            hints.push(clamp_hint(at, now_ms));
        }
    }
    // Claude subscription (OAuth) windows: Unix seconds, meaningful once rejected.
    let unified_allowed = header_str(headers, "anthropic-ratelimit-unified-status")
        .is_some_and(|s| !s.eq_ignore_ascii_case("rejected"));
    if !unified_allowed
        && let Some(value) = header_str(headers, "anthropic-ratelimit-unified-reset")
    {
        let at = match value.parse::<f64>() {
            Ok(n) => epoch_or_delta_ms(n, now_ms),
            Err(_) => parse_rfc3339_ms(value).map(|at| clamp_hint(at, now_ms)),
        };
        hints.extend(at);
    }
    if used_up("x-ratelimit-remaining")
        && let Some(at) = header_str(headers, "x-ratelimit-reset")
            .and_then(|v| v.parse::<f64>().ok())
            .and_then(|n| epoch_or_delta_ms(n, now_ms))
    {
        hints.push(at);
    }
    hints
}

/// A number that is either an absolute Unix time (seconds, or milliseconds
/// when that large) or a delay in seconds. Anything above 10^9 is read as a
/// date: no limit resets 31 years from now.
fn epoch_or_delta_ms(n: f64, now_ms: i64) -> Option<i64> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    if n >= 1e12 {
        Some(clamp_hint(n as i64, now_ms))
    } else if n >= 1e9 {
        Some(clamp_hint((n * 1000.0) as i64, now_ms))
    } else {
        Some(after(now_ms, n * 1000.0))
    }
}

fn after(now_ms: i64, delay_ms: f64) -> i64 {
    let delay = delay_ms.clamp(0.0, MAX_HINT_MS as f64).ceil() as i64;
    now_ms.saturating_add(delay)
}

fn clamp_hint(at_ms: i64, now_ms: i64) -> i64 {
    at_ms.clamp(now_ms, now_ms.saturating_add(MAX_HINT_MS))
}

fn parse_non_negative(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn parse_http_date_ms(value: &str) -> Option<i64> {
    let at = httpdate::parse_http_date(value).ok()?;
    let since = at.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// A Go-style duration as OpenAI sends it ("6m0s", "1.5s", "20ms", "1h2m")
/// or a protobuf Duration as Gemini sends it ("34.4s"), in milliseconds.
/// A bare number is read as seconds.
pub fn parse_duration_ms(value: &str) -> Option<f64> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs * 1000.0);
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut rest = value;
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c| !is_number(c)).unwrap_or(rest.len());
        let number: f64 = rest.get(..number_end)?.parse().ok()?;
        rest = rest.get(number_end..)?;
        let unit_end = rest.find(is_number).unwrap_or(rest.len());
        let unit_ms = match rest.get(..unit_end)? {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            "d" => 8.64e7,
            _ => return None,
        };
        total += number * unit_ms;
        rest = rest.get(unit_end..)?;
    }
    total.is_finite().then_some(total)
}

/// A strict RFC 3339 date-time ("2025-01-02T03:04:05Z", optional fraction,
/// `Z` or `±hh:mm` offset) as Unix milliseconds.
pub fn parse_rfc3339_ms(value: &str) -> Option<i64> {
    let b = value.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0_i64;
    if at(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && at(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The lowercased start of the body, where markers are searched.
fn scan_text(body: &str) -> String {
    let mut end = body.len().min(SCAN_LIMIT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body.get(..end).unwrap_or("").to_lowercase()
}

fn parse_body(body: &str) -> Option<Value> {
    if body.len() > 16 * SCAN_LIMIT {
        return None;
    }
    serde_json::from_str(body.trim()).ok()
}

/// The error object of a body: `{"error": {...}}`, Gemini's streaming
/// `[{"error": {...}}]`, or the body itself.
fn error_object(json: &Value) -> Option<&Value> {
    let root = match json {
        Value::Array(items) => items.first()?,
        other => other,
    };
    match root.get("error") {
        Some(error) if error.is_object() => Some(error),
        _ => Some(root),
    }
}

/// `error.details[]` of a google.rpc.Status body.
fn details(json: Option<&Value>) -> impl Iterator<Item = &Value> {
    json.and_then(error_object)
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn type_is(detail: &Value, name: &str) -> bool {
    detail
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with(name))
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.insert(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn none() -> HeaderMap {
        HeaderMap::new()
    }

    // Real bodies (shapes as the providers send them).
    const OPENAI_NO_CREDITS: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    const OPENAI_RATE_LIMIT: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    const OPENAI_DAILY: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-abc on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    const OPENAI_TOO_LARGE: &str = r#"{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 52000. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    const OPENAI_CONTEXT: &str = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    const OPENAI_BAD_MESSAGES: &str = r#"{"error":{"message":"Invalid type for 'messages[0].content': expected one of a string or array of objects, but got an integer instead.","type":"invalid_request_error","param":"messages[0].content","code":"invalid_type"}}"#;
    const OPENAI_EMPTY_MESSAGES: &str = r#"{"error":{"message":"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.","type":"invalid_request_error","param":"messages","code":"empty_array"}}"#;
    const OPENAI_BAD_KEY: &str = r#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    const OPENAI_MODEL_404: &str = r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
    const OPENAI_UNSUPPORTED: &str = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
    const OPENAI_ORG_DISABLED: &str = r#"{"error":{"message":"Your organization org-abc has been disabled.","type":"invalid_request_error","param":null,"code":null}}"#;
    const ANTHROPIC_OVERLOADED: &str =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    const ANTHROPIC_RATE_LIMIT: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."}}"#;
    const ANTHROPIC_TOO_LONG: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#;
    const ANTHROPIC_CREDITS: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;
    const ANTHROPIC_ORG_DISABLED: &str = r#"{"type":"error","error":{"type":"permission_error","message":"This organization has been disabled."}}"#;
    const ANTHROPIC_AUTH: &str =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    const ANTHROPIC_PERMISSION: &str = r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#;
    const ANTHROPIC_MODEL_404: &str =
        r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9-opus"}}"#;
    const ANTHROPIC_TOO_LARGE: &str = r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#;
    const ANTHROPIC_BAD_MESSAGES: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`."}}"#;
    /// /work/shared/wire-captures/fixtures/gemini/vercel-google-429-retry-info.json
    const GEMINI_PER_MINUTE: &str = r#"{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "34.4s"
      }
    ]
  }
}"#;
    const GEMINI_PER_DAY: &str = r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier","quotaDimensions":{"location":"global","model":"gemini-2.5-pro"},"quotaValue":"50"}]},{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#;
    const GEMINI_PLAIN_429: &str = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
    const GEMINI_STREAM_ARRAY_429: &str = r#"[{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.5s"}]}}]"#;
    const GEMINI_BAD_KEY: &str = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}"#;
    const GEMINI_TOO_LONG: &str = r#"{"error":{"code":400,"message":"The input token count (1300000) exceeds the maximum number of tokens allowed (1048575).","status":"INVALID_ARGUMENT"}}"#;
    const GEMINI_MODEL_404: &str = r#"{"error":{"code":404,"message":"models/gemini-9-pro is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}"#;
    const GEMINI_SUSPENDED: &str = r#"{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:AIza' has been suspended.","status":"PERMISSION_DENIED"}}"#;
    /// docs/oauth/google-qwen-kimi.md §2.7 (GCLI `AccountSuspendedError`).
    const CODE_ASSIST_TOS: &str = r#"{"error":{"code":403,"message":"This service has been disabled in this account for violation of Terms of Service. Please submit an appeal to continue using this product.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TOS_VIOLATION","domain":"cloudcode-pa.googleapis.com","metadata":{"appeal_url":"https://forms.gle/x","appeal_url_link_text":"Submit Appeal","uiMessage":"true"}}]}}"#;
    const CODE_ASSIST_UNSUPPORTED_CLIENT: &str = r#"{"error":{"code":403,"message":"This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products: https://antigravity.google","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"UNSUPPORTED_CLIENT","domain":"cloudcode-pa.googleapis.com"}]}}"#;
    /// docs/oauth/google-qwen-kimi.md §1.2 "Error shapes" (GCLI `googleQuotaErrors.test.ts`).
    const CODE_ASSIST_QUOTA_EXHAUSTED: &str = r#"{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota will reset after 1m30s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"QUOTA_EXHAUSTED","domain":"cloudcode-pa.googleapis.com","metadata":{"uiMessage":"true","model":"gemini-3-flash-preview","quotaResetDelay":"90s","quotaResetTimeStamp":"2025-10-20T19:14:08Z"}},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"90s"}]}}"#;
    const CODEX_USAGE_LIMIT: &str = r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":1750003600,"resets_in_seconds":3600}}"#;

    fn rate_limited(until_ms: Option<i64>, model_scoped: bool, exhausted: bool) -> Failure {
        Failure::RateLimited {
            until_ms,
            model_scoped,
            exhausted,
        }
    }

    #[test]
    fn openai_insufficient_quota_429_is_out_of_credits() {
        assert_eq!(
            classify(429, &none(), OPENAI_NO_CREDITS, NOW),
            Failure::Terminal {
                state: AccountState::OutOfCredits
            }
        );
    }

    #[test]
    fn gemini_quota_sentence_is_not_mistaken_for_no_credits() {
        // Same sentence as OpenAI's no-credit answer, but a rate limit.
        assert!(matches!(
            classify(429, &none(), GEMINI_PER_DAY, NOW),
            Failure::RateLimited { .. }
        ));
    }

    #[test]
    fn anthropic_credit_balance_and_402_are_out_of_credits() {
        let out = Failure::Terminal {
            state: AccountState::OutOfCredits,
        };
        assert_eq!(classify(400, &none(), ANTHROPIC_CREDITS, NOW), out);
        assert_eq!(classify(402, &none(), "", NOW), out);
        assert_eq!(
            classify(
                402,
                &none(),
                r#"{"error":{"message":"Insufficient credits","code":402}}"#,
                NOW
            ),
            out
        );
    }

    #[test]
    fn disabled_or_suspended_accounts_are_banned() {
        let banned = Failure::Terminal {
            state: AccountState::Banned,
        };
        assert_eq!(classify(403, &none(), ANTHROPIC_ORG_DISABLED, NOW), banned);
        assert_eq!(classify(401, &none(), OPENAI_ORG_DISABLED, NOW), banned);
        assert_eq!(classify(403, &none(), GEMINI_SUSPENDED, NOW), banned);
        assert_eq!(classify(403, &none(), CODE_ASSIST_TOS, NOW), banned);
    }

    #[test]
    fn code_assist_refusing_the_client_ends_the_account() {
        assert_eq!(
            classify(403, &none(), CODE_ASSIST_UNSUPPORTED_CLIENT, NOW),
            Failure::Terminal {
                state: AccountState::AuthFailed
            }
        );
    }

    #[test]
    fn code_assist_quota_exhausted_is_exhaustion_of_its_model() {
        // A short RetryInfo does not make it a passing rate limit.
        assert_eq!(
            classify(429, &none(), CODE_ASSIST_QUOTA_EXHAUSTED, NOW),
            rate_limited(Some(NOW + 90_000), true, true)
        );
    }

    #[test]
    fn revoked_or_deleted_keys_are_revoked() {
        let revoked = Failure::Terminal {
            state: AccountState::Revoked,
        };
        assert_eq!(
            classify(
                401,
                &none(),
                r#"{"error":{"message":"API key revoked"}}"#,
                NOW
            ),
            revoked
        );
        assert_eq!(
            classify(
                401,
                &none(),
                r#"{"error":{"message":"This API key has been deleted."}}"#,
                NOW
            ),
            revoked
        );
    }

    #[test]
    fn terminal_markers_do_not_apply_to_server_errors() {
        assert_eq!(
            classify(
                503,
                &none(),
                r#"{"error":{"message":"account has been disabled"}}"#,
                NOW
            ),
            Failure::Transient { status: Some(503) }
        );
    }

    #[test]
    fn auth_failures() {
        assert_eq!(
            classify(401, &none(), OPENAI_BAD_KEY, NOW),
            Failure::Auth { status: 401 }
        );
        assert_eq!(
            classify(401, &none(), ANTHROPIC_AUTH, NOW),
            Failure::Auth { status: 401 }
        );
        assert_eq!(
            classify(403, &none(), ANTHROPIC_PERMISSION, NOW),
            Failure::Auth { status: 403 }
        );
        assert_eq!(
            classify(401, &none(), "", NOW),
            Failure::Auth { status: 401 }
        );
        // Gemini answers a bad key with 400 INVALID_ARGUMENT.
        assert_eq!(
            classify(400, &none(), GEMINI_BAD_KEY, NOW),
            Failure::Auth { status: 400 }
        );
    }

    #[test]
    fn forbidden_model_falls_back() {
        assert_eq!(
            classify(
                403,
                &none(),
                r#"{"error":{"message":"You are not allowed to sample from this model","type":"invalid_request_error"}}"#,
                NOW
            ),
            Failure::FallbackClientError { status: 403 }
        );
    }

    #[test]
    fn transient_failures() {
        assert_eq!(
            classify(529, &none(), ANTHROPIC_OVERLOADED, NOW),
            Failure::Transient { status: Some(529) }
        );
        for status in [408, 500, 502, 503, 504] {
            assert_eq!(
                classify(status, &none(), "<html>bad gateway</html>", NOW),
                Failure::Transient {
                    status: Some(status)
                }
            );
        }
        for kind in [
            TransportError::Connect,
            TransportError::Timeout,
            TransportError::Reset,
        ] {
            assert_eq!(
                classify_transport(kind),
                Failure::Transient { status: None }
            );
        }
        assert_eq!(
            classify(302, &none(), "", NOW),
            Failure::Transient { status: Some(302) }
        );
    }

    #[test]
    fn fallback_client_errors() {
        let cases = [
            (400, OPENAI_CONTEXT),
            (400, ANTHROPIC_TOO_LONG),
            (400, GEMINI_TOO_LONG),
            (400, OPENAI_UNSUPPORTED),
            (
                400,
                r#"{"error":{"message":"This model does not support tools","type":"invalid_request_error"}}"#,
            ),
            (413, ANTHROPIC_TOO_LARGE),
            (413, ""),
            (404, OPENAI_MODEL_404),
            (404, ANTHROPIC_MODEL_404),
            (404, GEMINI_MODEL_404),
            (404, "404 page not found"),
            (429, OPENAI_TOO_LARGE),
            (
                422,
                r#"{"detail":[{"type":"extra_forbidden","msg":"Extra inputs are not permitted"}]}"#,
            ),
        ];
        for (status, body) in cases {
            assert_eq!(
                classify(status, &none(), body, NOW),
                Failure::FallbackClientError { status },
                "{status} {body}"
            );
        }
    }

    #[test]
    fn other_client_errors_go_back_to_the_caller() {
        let cases = [
            (400, OPENAI_BAD_MESSAGES),
            (400, OPENAI_EMPTY_MESSAGES),
            (400, ANTHROPIC_BAD_MESSAGES),
            (400, ""),
            (
                404,
                r#"{"error":{"message":"No such File object: file-abc"}}"#,
            ),
            (409, r#"{"error":{"message":"conflict"}}"#),
            (
                422,
                r#"{"error":{"message":"temperature must be at most 2"}}"#,
            ),
        ];
        for (status, body) in cases {
            let failure = classify(status, &none(), body, NOW);
            assert_eq!(failure, Failure::ClientError { status }, "{status} {body}");
            assert!(!failure.falls_back());
        }
    }

    #[test]
    fn gemini_per_minute_per_model_429_with_retry_delay() {
        assert_eq!(
            classify(429, &none(), GEMINI_PER_MINUTE, NOW),
            rate_limited(Some(NOW + 34_400), true, false)
        );
    }

    #[test]
    fn gemini_per_day_429_is_exhausted_and_model_scoped() {
        assert_eq!(
            classify(429, &none(), GEMINI_PER_DAY, NOW),
            rate_limited(Some(NOW + 12_000), true, true)
        );
    }

    #[test]
    fn gemini_plain_and_streamed_429() {
        assert_eq!(
            classify(429, &none(), GEMINI_PLAIN_429, NOW),
            rate_limited(None, false, false)
        );
        assert_eq!(
            classify(429, &none(), GEMINI_STREAM_ARRAY_429, NOW),
            rate_limited(Some(NOW + 500), false, false)
        );
    }

    #[test]
    fn openai_rate_limits() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        // Only the used-up limit (tokens) counts; per-model in OpenAI.
        assert_eq!(
            classify(429, &h, OPENAI_RATE_LIMIT, NOW),
            rate_limited(Some(NOW + 360_000), true, false)
        );
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(
            classify(429, &h, OPENAI_DAILY, NOW),
            rate_limited(Some(NOW + 2_000), true, true)
        );
    }

    #[test]
    fn anthropic_rate_limit_prefers_retry_after() {
        let h = headers(&[
            ("retry-after", "17"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2025-06-15T15:07:00Z"),
        ]);
        assert_eq!(
            classify(429, &h, ANTHROPIC_RATE_LIMIT, NOW),
            rate_limited(Some(NOW + 17_000), false, false)
        );
    }

    #[test]
    fn claude_subscription_window_rejected_is_exhausted() {
        let reset = NOW / 1000 + 4 * 3600;
        let h = headers(&[
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", &reset.to_string()),
            ("retry-after", "30"),
        ]);
        // Exhausted: the latest hint (the window reset) wins over Retry-After.
        assert_eq!(
            classify(429, &h, ANTHROPIC_RATE_LIMIT, NOW),
            rate_limited(Some(reset * 1000), false, true)
        );
    }

    #[test]
    fn codex_usage_limit_is_exhausted_until_reset() {
        assert_eq!(
            classify(429, &none(), CODEX_USAGE_LIMIT, NOW),
            rate_limited(Some(NOW + 3_600_000), false, true)
        );
    }

    #[test]
    fn a_long_wait_counts_as_exhaustion() {
        let h = headers(&[("retry-after", "7200")]);
        assert_eq!(
            classify(429, &h, "{}", NOW),
            rate_limited(Some(NOW + 7_200_000), false, true)
        );
        let h = headers(&[("retry-after", "3599")]);
        assert_eq!(
            classify(429, &h, "{}", NOW),
            rate_limited(Some(NOW + 3_599_000), false, false)
        );
    }

    #[test]
    fn hint_retry_after_seconds_and_http_date() {
        assert_eq!(
            retry_hint_ms(&headers(&[("retry-after", "5")]), "", NOW),
            Some(NOW + 5_000)
        );
        assert_eq!(
            retry_hint_ms(&headers(&[("retry-after", "1.5")]), "", NOW),
            Some(NOW + 1_500)
        );
        // 1750000000 = Sun, 15 Jun 2025 15:06:40 GMT
        assert_eq!(
            retry_hint_ms(
                &headers(&[("retry-after", "Sun, 15 Jun 2025 15:07:40 GMT")]),
                "",
                NOW
            ),
            Some(NOW + 60_000)
        );
        // A date in the past means "now".
        assert_eq!(
            retry_hint_ms(
                &headers(&[("retry-after", "Sun, 15 Jun 2025 15:00:00 GMT")]),
                "",
                NOW
            ),
            Some(NOW)
        );
        assert_eq!(
            retry_hint_ms(&headers(&[("retry-after", "soon")]), "", NOW),
            None
        );
        assert_eq!(
            retry_hint_ms(&headers(&[("retry-after", "-3")]), "", NOW),
            None
        );
    }

    #[test]
    fn hint_retry_after_ms_wins_over_retry_after() {
        let h = headers(&[("retry-after", "1"), ("retry-after-ms", "250")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 250));
        // For exhaustion the later one wins.
        assert_eq!(exhaustion_hint_ms(&h, "", NOW), Some(NOW + 1_000));
    }

    #[test]
    fn hint_openai_reset_durations() {
        for (value, ms) in [
            ("6m0s", 360_000),
            ("1.5s", 1_500),
            ("20ms", 20),
            ("1h2m3s", 3_723_000),
            ("0s", 0),
            ("2", 2_000),
        ] {
            let h = headers(&[("x-ratelimit-reset-requests", value)]);
            assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + ms), "{value}");
        }
        let h = headers(&[("x-ratelimit-reset-tokens", "6 minutes")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), None);
    }

    #[test]
    fn hint_resets_of_limits_with_room_left_are_ignored() {
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "10"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        assert_eq!(retry_hint_ms(&h, "", NOW), None);
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "3s"),
        ]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 3_000));
    }

    #[test]
    fn hint_anthropic_rfc3339_resets() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-reset", "2025-06-15T15:06:50Z"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-tokens-reset",
                "2025-06-15T15:07:40.250Z",
            ),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-06-15T17:06:45+02:00",
            ),
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2025-06-15T16:00:00Z",
            ),
        ]);
        // requests (remaining unknown) +10s, tokens +60.25s, input +5s; output has room.
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 60_250));
    }

    #[test]
    fn hint_x_ratelimit_reset_unix_or_delta() {
        let h = headers(&[("x-ratelimit-reset", "1750000030")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 30_000));
        let h = headers(&[("x-ratelimit-reset", "45")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 45_000));
        let h = headers(&[("x-ratelimit-reset", "1750000002000")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 2_000));
        let h = headers(&[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "45")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), None);
    }

    #[test]
    fn hint_gemini_retry_delay_in_body() {
        assert_eq!(
            retry_hint_ms(&none(), GEMINI_PER_MINUTE, NOW),
            Some(NOW + 34_400)
        );
        assert_eq!(
            retry_hint_ms(&none(), GEMINI_STREAM_ARRAY_429, NOW),
            Some(NOW + 500)
        );
        assert_eq!(retry_hint_ms(&none(), GEMINI_PLAIN_429, NOW), None);
    }

    #[test]
    fn hint_explicit_wins_for_plain_latest_for_exhaustion() {
        let h = headers(&[
            ("retry-after", "2"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "1h"),
        ]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + 2_000));
        assert_eq!(exhaustion_hint_ms(&h, "", NOW), Some(NOW + 3_600_000));
        assert_eq!(exhaustion_hint_ms(&none(), "not json", NOW), None);
    }

    #[test]
    fn hints_are_clamped_to_a_sane_range() {
        let h = headers(&[("retry-after", "1e30")]);
        assert_eq!(retry_hint_ms(&h, "", NOW), Some(NOW + MAX_HINT_MS));
        let h = headers(&[("retry-after", "5")]);
        assert_eq!(retry_hint_ms(&h, "", i64::MAX), Some(i64::MAX));
    }

    #[test]
    fn rfc3339_parser() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("2025-06-15T15:06:40Z"), Some(NOW));
        assert_eq!(parse_rfc3339_ms("2025-06-15t15:06:40z"), Some(NOW));
        assert_eq!(parse_rfc3339_ms("2025-06-15T15:06:40.5Z"), Some(NOW + 500));
        assert_eq!(
            parse_rfc3339_ms("2025-06-15T15:06:40.123456789Z"),
            Some(NOW + 123)
        );
        assert_eq!(parse_rfc3339_ms("2025-06-15T20:36:40+05:30"), Some(NOW));
        assert_eq!(parse_rfc3339_ms("2025-06-15T08:06:40-07:00"), Some(NOW));
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z"), Some(-1_000));
        for bad in [
            "",
            "2025-06-15",
            "2025-06-15 15:06:40Z",
            "2025-06-15T15:06:40",
            "2025-06-15T15:06:40.Z",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-06-15T24:00:00Z",
            "2025-06-15T15:06:40+0530",
            "2025-06-15T15:06:40Zjunk",
            "20x5-06-15T15:06:40Z",
            "2025-06-15T15:06:40+24:00",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn duration_parser_rejects_junk() {
        for bad in ["", "s", "5x", "1.2.3s", "-1s", "m5", "NaN"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000.0));
        assert_eq!(parse_duration_ms("250us"), Some(0.25));
    }

    #[test]
    fn provider_breaker_counts_only_408_5xx_and_transport() {
        assert!(counts_for_provider_breaker(&Failure::Transient {
            status: None
        }));
        assert!(counts_for_provider_breaker(&Failure::Transient {
            status: Some(408)
        }));
        assert!(counts_for_provider_breaker(&Failure::Transient {
            status: Some(529)
        }));
        assert!(!counts_for_provider_breaker(&Failure::Transient {
            status: Some(302)
        }));
        for f in [
            rate_limited(None, false, false),
            Failure::Auth { status: 401 },
            Failure::Terminal {
                state: AccountState::Banned,
            },
            Failure::FallbackClientError { status: 400 },
            Failure::ClientError { status: 400 },
        ] {
            assert!(!counts_for_provider_breaker(&f), "{f:?}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        assert_eq!(backoff_ms(0, 100, 10_000, 0.999_999), 99);
        assert_eq!(backoff_ms(0, 100, 10_000, 0.0), 50);
        assert_eq!(backoff_ms(3, 100, 10_000, 0.0), 400);
        assert_eq!(backoff_ms(10, 100, 10_000, 0.0), 5_000);
        assert_eq!(backoff_ms(200, 100, 10_000, 0.5), 7_500);
        assert_eq!(backoff_ms(2, u64::MAX, u64::MAX, 1.0), u64::MAX);
        assert_eq!(backoff_ms(1, 100, 10_000, f64::NAN), 100);
        assert_eq!(backoff_ms(1, 100, 10_000, 7.0), 200);
        assert_eq!(backoff_ms(1, 100, 10_000, -1.0), 100);
        for attempt in 0..70 {
            for step in 0..10 {
                let jitter = f64::from(step) / 10.0;
                let raw = 100_u64.saturating_mul(1_u64 << attempt.min(63)).min(30_000);
                let raw = if attempt >= 64 { 30_000 } else { raw };
                let delay = backoff_ms(attempt, 100, 30_000, jitter);
                assert!(
                    delay >= raw / 2 && delay <= raw,
                    "{attempt} {jitter} {delay}"
                );
            }
        }
    }

    #[test]
    fn failure_helpers() {
        assert_eq!(rate_limited(None, false, true).kind(), "quota_exhausted");
        assert_eq!(rate_limited(None, false, false).status(), Some(429));
        assert_eq!(
            Failure::Terminal {
                state: AccountState::Revoked
            }
            .kind(),
            "revoked"
        );
        assert!(Failure::FallbackClientError { status: 413 }.falls_back());
        assert_eq!(Failure::Transient { status: None }.status(), None);
    }
}
