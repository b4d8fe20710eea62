//! Scripted upstream failures: per-API-key queues of steps (`POST /_mock/script`) that make one account of a provider fail in a chosen way, plus the seeded `flaky-30` model.
//!
//! The gateway presents one API key per connection, so a key names one
//! upstream account: two connections of the same provider with different
//! keys can be made to behave differently. Each request that carries a key
//! with a non-empty queue takes the first step of that queue; with an empty
//! queue the mock answers as its model names say.
//!
//! `POST /_mock/script` `{"key": "sk-…", "steps": [step, …]}` appends steps
//! (answers `{"queued": <steps now waiting for that key>}`);
//! `DELETE /_mock/script` forgets every queue. A step is one JSON object:
//!
//! | step | what the request gets |
//! |---|---|
//! | `{"status": 429, "headers": {"retry-after": "1"}, "body": {…}}` | that status, headers and body; without `body`, the format's real error JSON for the status |
//! | `{"delay_ms": 3000}` | the normal answer, that much later (response-header timeouts) |
//! | `{"reset": true}` | the TCP connection closed before a single byte is sent |
//! | `{"silent_stream": true}` | 200 and the stream's headers, then nothing for [`SILENT_HOLD`], then a cut |
//! | `{"break_after_events": 2}` | the normal stream cut (connection dropped) after that many events; a non-stream request gets its 200 head, then the cut |
//! | `{"ok": true}` | the normal answer (to interleave successes) |
//!
//! `delay_ms` may accompany any other step: the mock waits, then plays it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::json_response;

/// How long a `silent_stream` step keeps the connection open, silent.
pub const SILENT_HOLD: Duration = Duration::from_secs(30);

/// The model whose calls fail with a 500 about [`FLAKY_PERCENT`] % of the
/// time when no step is queued for the key.
pub const FLAKY_MODEL: &str = "flaky-30";
/// Share of `flaky-30` calls that fail, in percent.
pub const FLAKY_PERCENT: u64 = 30;
/// Seed of the `flaky-30` sequence: the n-th call fails when
/// `splitmix64(FLAKY_SEED + n) % 100 < FLAKY_PERCENT`, so a run always has
/// the same failures, whatever the order in which concurrent calls arrive.
pub const FLAKY_SEED: u64 = 0x5EED_0F1A_4E30;

/// One scripted answer; see the module documentation for the JSON forms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reset: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub silent_stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_after_events: Option<usize>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ok: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Step {
    /// That status with the format's error JSON.
    pub fn status(status: u16) -> Step {
        Step {
            status: Some(status),
            ..Step::default()
        }
    }

    /// A 429 with `Retry-After: <secs>`.
    pub fn rate_limited(retry_after_secs: u64) -> Step {
        Step::status(429).header("retry-after", &retry_after_secs.to_string())
    }

    /// The normal answer, `ms` later.
    pub fn delay(ms: u64) -> Step {
        Step {
            delay_ms: Some(ms),
            ..Step::default()
        }
    }

    /// The connection closed before the first byte.
    pub fn reset() -> Step {
        Step {
            reset: true,
            ..Step::default()
        }
    }

    /// A 200 stream that never sends an event.
    pub fn silent_stream() -> Step {
        Step {
            silent_stream: true,
            ..Step::default()
        }
    }

    /// The normal stream, cut after `events` events.
    pub fn break_after(events: usize) -> Step {
        Step {
            break_after_events: Some(events),
            ..Step::default()
        }
    }

    /// The normal answer.
    pub fn ok() -> Step {
        Step {
            ok: true,
            ..Step::default()
        }
    }

    /// This step with one more response header (status steps).
    pub fn header(mut self, name: &str, value: &str) -> Step {
        self.headers.insert(name.to_string(), value.to_string());
        self
    }

    /// This step with its own body instead of the format's error JSON.
    pub fn body(mut self, body: Value) -> Step {
        self.body = Some(body);
        self
    }

    /// Whether the step says exactly one thing to do; a message if not.
    pub fn check(&self) -> Result<(), String> {
        let kinds = [
            self.status.is_some(),
            self.reset,
            self.silent_stream,
            self.break_after_events.is_some(),
            self.ok,
        ]
        .into_iter()
        .filter(|k| *k)
        .count();
        if kinds > 1 {
            return Err(
                "a step takes one of status, reset, silent_stream, break_after_events, ok".into(),
            );
        }
        if kinds == 0 && self.delay_ms.is_none() {
            return Err(
                "a step needs one of status, delay_ms, reset, silent_stream, break_after_events, ok"
                    .into(),
            );
        }
        if self.status.is_none() && (!self.headers.is_empty() || self.body.is_some()) {
            return Err("headers and body go with a status".into());
        }
        if let Some(status) = self.status
            && StatusCode::from_u16(status).is_err()
        {
            return Err(format!("{status} is not an HTTP status"));
        }
        for (name, value) in &self.headers {
            if HeaderName::try_from(name.as_str()).is_err()
                || HeaderValue::try_from(value.as_str()).is_err()
            {
                return Err(format!("bad header `{name}: {value}`"));
            }
        }
        Ok(())
    }
}

/// The wire format whose error JSON a status step answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    OpenAi,
    Anthropic,
}

/// What a handler does after its step has been played.
pub(super) enum Flow {
    /// Answer as the model name says.
    Normal,
    /// Stream the normal answer but cut the connection after that many events.
    CutAfter(usize),
    /// Send this instead.
    Respond(Response),
}

/// The queues of every key, and the `flaky-30` call counter.
#[derive(Default)]
pub(super) struct Scripts {
    queues: Mutex<HashMap<String, VecDeque<Step>>>,
    flaky_calls: AtomicU64,
}

impl Scripts {
    /// Appends `steps` to `key`'s queue; returns how many now wait.
    pub(super) fn push(&self, key: &str, steps: Vec<Step>) -> usize {
        let Ok(mut queues) = self.queues.lock() else {
            return 0;
        };
        let queue = queues.entry(key.to_string()).or_default();
        queue.extend(steps);
        queue.len()
    }

    /// Forgets every queue and restarts the `flaky-30` sequence.
    pub(super) fn clear(&self) {
        if let Ok(mut queues) = self.queues.lock() {
            queues.clear();
        }
        self.flaky_calls.store(0, Ordering::Relaxed);
    }

    /// Steps still waiting for `key`.
    pub(super) fn pending(&self, key: &str) -> usize {
        self.queues
            .lock()
            .map(|q| q.get(key).map_or(0, VecDeque::len))
            .unwrap_or(0)
    }

    /// The step for a request with `key` asking for `model`: the next queued
    /// one, else a 500 for a failing `flaky-30` call.
    pub(super) fn next(&self, key: Option<&str>, model: &str) -> Option<Step> {
        if let Some(key) = key {
            let queued = self
                .queues
                .lock()
                .ok()
                .and_then(|mut q| q.get_mut(key).and_then(VecDeque::pop_front));
            if queued.is_some() {
                return queued;
            }
        }
        if model == FLAKY_MODEL {
            let n = self.flaky_calls.fetch_add(1, Ordering::Relaxed);
            if flaky_fails(n) {
                return Some(Step::status(500));
            }
        }
        None
    }
}

/// Whether the `n`-th `flaky-30` call (from 0) fails.
pub fn flaky_fails(n: u64) -> bool {
    splitmix64(FLAKY_SEED.wrapping_add(n)) % 100 < FLAKY_PERCENT
}

/// A well-mixed 64-bit hash of `x` (SplitMix64's output function).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of a credential as the mock logs it: `Authorization: Bearer k`
/// gives `k`; `x-api-key` and Gemini keys are already bare.
pub(super) fn bare_key(credential: &str) -> &str {
    credential
        .strip_prefix("Bearer ")
        .unwrap_or(credential)
        .trim()
}

/// Plays `step` for a request in `format` (`stream`: whether it streams).
pub(super) async fn play(step: Option<Step>, format: Format, stream: bool) -> Flow {
    let Some(step) = step else {
        return Flow::Normal;
    };
    if let Some(ms) = step.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = step.status {
        return Flow::Respond(status_response(format, status, &step));
    }
    if step.reset {
        return Flow::Respond(reset_response());
    }
    if step.silent_stream {
        return Flow::Respond(silent_response(stream));
    }
    match step.break_after_events {
        Some(n) if stream => Flow::CutAfter(n),
        Some(_) => Flow::Respond(cut_after_head()),
        None => Flow::Normal,
    }
}

/// The answer of a status step: its body (JSON, or text for a string) or
/// the format's error JSON, with its headers.
fn status_response(format: Format, status: u16, step: &Step) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match &step.body {
        Some(Value::String(text)) => {
            let mut r = Response::new(Body::from(text.clone()));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Some(body) => json_response(status, body),
        None => json_response(status, &error_body(format, status)),
    };
    for (name, value) in &step.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The error JSON the real provider sends with `status`.
pub(super) fn error_body(format: Format, status: StatusCode) -> Value {
    let code = status.as_u16();
    match format {
        Format::OpenAi => {
            let (message, kind, code): (String, &str, Option<&str>) = match code {
                400 => (
                    "Invalid request: the request body is not valid.".into(),
                    "invalid_request_error",
                    None,
                ),
                401 => (
                    "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
                    "invalid_request_error",
                    Some("invalid_api_key"),
                ),
                402 => (
                    "You exceeded your current quota, please check your plan and billing details.".into(),
                    "insufficient_quota",
                    Some("insufficient_quota"),
                ),
                403 => (
                    "Country, region, or territory not supported".into(),
                    "request_forbidden",
                    Some("unsupported_country_region_territory"),
                ),
                404 => (
                    "The model does not exist or you do not have access to it.".into(),
                    "invalid_request_error",
                    Some("model_not_found"),
                ),
                429 => (
                    "Rate limit reached for requests per min (RPM). Please try again later.".into(),
                    "requests",
                    Some("rate_limit_exceeded"),
                ),
                503 => (
                    "The engine is currently overloaded, please try again later.".into(),
                    "server_error",
                    None,
                ),
                c if c >= 500 => (
                    "The server had an error while processing your request. Sorry about that!"
                        .into(),
                    "server_error",
                    None,
                ),
                c => (
                    format!("Request failed with status {c}."),
                    "invalid_request_error",
                    None,
                ),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Format::Anthropic => {
            let (kind, message): (&str, String) = match code {
                400 => (
                    "invalid_request_error",
                    "messages: the request is not valid".into(),
                ),
                401 => ("authentication_error", "invalid x-api-key".into()),
                402 => (
                    "billing_error",
                    "Your credit balance is too low to access the Anthropic API.".into(),
                ),
                403 => (
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.".into(),
                ),
                404 => ("not_found_error", "model: not found".into()),
                413 => (
                    "request_too_large",
                    "Request exceeds the maximum size".into(),
                ),
                429 => (
                    "rate_limit_error",
                    "Number of requests has exceeded your per-minute rate limit".into(),
                ),
                529 => ("overloaded_error", "Overloaded".into()),
                c if c >= 500 => ("api_error", "Internal server error".into()),
                c => (
                    "invalid_request_error",
                    format!("Request failed with status {c}."),
                ),
            };
            json!({"type": "error", "error": {"type": kind, "message": message},
                "request_id": "req_mock_script"})
        }
    }
}

/// A body that fails on its first poll: hyper then drops the connection
/// without flushing the response head, so the client reads zero bytes.
fn reset_response() -> Response {
    Response::new(Body::from_stream(stream::once(async {
        Err::<Bytes, _>(std::io::Error::other("mock reset the connection"))
    })))
}

/// 200 with the stream's (or JSON's) headers, then silence, then a cut.
fn silent_response(stream: bool) -> Response {
    let body = Body::from_stream(stream::once(async {
        tokio::time::sleep(SILENT_HOLD).await;
        Err::<Bytes, _>(std::io::Error::other("mock ended a silent stream"))
    }));
    let mut response = Response::new(body);
    let content_type = if stream {
        "text/event-stream; charset=utf-8"
    } else {
        "application/json"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A non-stream answer that breaks: the 200 head goes out, then the
/// connection drops before the body.
fn cut_after_head() -> Response {
    let body = Body::from_stream(stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<Bytes, _>(std::io::Error::other("mock cut the connection"))
    }));
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_from_their_json_forms() {
        let steps: Vec<Step> = serde_json::from_value(json!([
            {"status": 429, "headers": {"retry-after": "1"}},
            {"delay_ms": 3000},
            {"reset": true},
            {"silent_stream": true},
            {"break_after_events": 2},
            {"ok": true},
            {"status": 400, "body": {"error": {"message": "context_length_exceeded"}}, "delay_ms": 5}
        ]))
        .unwrap();
        assert!(steps.iter().all(|s| s.check().is_ok()));
        assert_eq!(steps[0], Step::rate_limited(1));
        assert_eq!(steps[1], Step::delay(3000));
        assert_eq!(steps[2], Step::reset());
        assert_eq!(steps[3], Step::silent_stream());
        assert_eq!(steps[4], Step::break_after(2));
        assert_eq!(steps[5], Step::ok());
        assert_eq!(steps[6].delay_ms, Some(5));
    }

    #[test]
    fn bad_steps_are_refused() {
        assert!(serde_json::from_value::<Step>(json!({"stauts": 500})).is_err());
        assert!(Step::default().check().is_err());
        assert!(
            Step {
                reset: true,
                ok: true,
                ..Step::default()
            }
            .check()
            .is_err()
        );
        assert!(Step::ok().header("x", "y").check().is_err());
        assert!(Step::status(99).check().is_err());
        assert!(Step::status(500).header("bad name", "v").check().is_err());
    }

    #[test]
    fn queues_are_per_key_and_first_in_first_out() {
        let scripts = Scripts::default();
        assert_eq!(scripts.push("a", vec![Step::status(500), Step::reset()]), 2);
        scripts.push("b", vec![Step::ok()]);
        assert_eq!(scripts.next(Some("a"), "m"), Some(Step::status(500)));
        assert_eq!(scripts.next(Some("b"), "m"), Some(Step::ok()));
        assert_eq!(scripts.next(Some("b"), "m"), None);
        assert_eq!(scripts.pending("a"), 1);
        assert_eq!(scripts.next(None, "m"), None);
        scripts.clear();
        assert_eq!(scripts.next(Some("a"), "m"), None);
    }

    #[test]
    fn flaky_model_fails_about_thirty_percent_of_calls() {
        let failures = (0..10_000).filter(|&n| flaky_fails(n)).count();
        assert!((2_700..3_300).contains(&failures), "{failures}");
        let scripts = Scripts::default();
        let fails = (0..1000)
            .filter(|_| scripts.next(Some("k"), FLAKY_MODEL).is_some())
            .count();
        assert_eq!(fails, (0..1000).filter(|&n| flaky_fails(n)).count());
        // A queued step comes first; other models never fail by themselves.
        scripts.push("k", vec![Step::ok()]);
        assert_eq!(scripts.next(Some("k"), FLAKY_MODEL), Some(Step::ok()));
        assert!((0..100).all(|_| scripts.next(Some("k"), "gpt-4.1").is_none()));
    }

    #[test]
    fn bearer_prefix_is_dropped_from_keys() {
        assert_eq!(bare_key("Bearer sk-1"), "sk-1");
        assert_eq!(bare_key("sk-ant-2"), "sk-ant-2");
    }

    /// The mock itself, driven over HTTP as a test (or the Python suite) does.
    mod served {
        use std::time::Instant;

        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        use super::*;
        use crate::mock::MockUpstream;

        fn chat(model: &str, stream: bool) -> Value {
            json!({"model": model, "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]})
        }

        async fn post_chat(mock: &MockUpstream, key: &str, body: &Value) -> reqwest::Response {
            reqwest::Client::new()
                .post(format!("{}/chat/completions", mock.base_url()))
                .bearer_auth(key)
                .json(body)
                .send()
                .await
                .unwrap()
        }

        #[tokio::test]
        async fn http_scripts_queue_per_key_then_the_model_answers() {
            let mock = MockUpstream::start().await;
            let root = format!("http://{}", mock.addr);
            let http = reqwest::Client::new();
            let queued: Value = http
                .post(format!("{root}/_mock/script"))
                .json(&json!({"key": "sk-a", "steps": [
                    {"status": 429, "headers": {"retry-after": "1"}}, {"ok": true}]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(queued["queued"], 2);

            let limited = post_chat(&mock, "sk-a", &chat("gpt-4.1", false)).await;
            assert_eq!(limited.status(), 429);
            assert_eq!(limited.headers()["retry-after"], "1");
            let body: Value = limited.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limit_exceeded");
            // Another account of the same mock is not scripted.
            let other = post_chat(&mock, "sk-b", &chat("gpt-4.1", false)).await;
            assert_eq!(other.status(), 200);
            assert_eq!(
                post_chat(&mock, "sk-a", &chat("gpt-4.1", false))
                    .await
                    .status(),
                200
            );
            assert_eq!(
                post_chat(&mock, "sk-a", &chat("gpt-4.1", false))
                    .await
                    .status(),
                200
            );
            assert_eq!(mock.calls_with_key("sk-a"), 3);
            assert_eq!(mock.calls_with_key("sk-b"), 1);

            let log: Value = http
                .get(format!("{root}/_mock/received"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(log[0]["key"], "sk-a");
            assert_eq!(log[0]["authorization"], "Bearer sk-a");
            assert_eq!(log[1]["key"], "sk-b");

            mock.script("sk-a", [Step::status(500), Step::status(500)]);
            let cleared = http
                .delete(format!("{root}/_mock/script"))
                .send()
                .await
                .unwrap();
            assert_eq!(cleared.status(), 200);
            assert_eq!(mock.pending_steps("sk-a"), 0);
            assert_eq!(
                post_chat(&mock, "sk-a", &chat("gpt-4.1", false))
                    .await
                    .status(),
                200
            );

            for bad in [
                json!({"key": "k", "steps": [{"status": 500, "reset": true}]}),
                json!({"key": "k", "steps": [{"stat": 500}]}),
                json!({"steps": []}),
            ] {
                let response = http
                    .post(format!("{root}/_mock/script"))
                    .json(&bad)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 400, "{bad}");
            }
        }

        #[tokio::test]
        async fn anthropic_requests_follow_their_key_with_anthropic_errors() {
            let mock = MockUpstream::start().await;
            mock.script(
                "sk-ant-1",
                [
                    Step::status(529),
                    Step::status(401).header("x-should-retry", "false"),
                ],
            );
            let http = reqwest::Client::new();
            let send = || {
                http.post(format!("{}/messages", mock.base_url()))
                    .header("x-api-key", "sk-ant-1")
                    .header("anthropic-version", "2023-06-01")
                    .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 10,
                        "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
            };
            let overloaded = send().await.unwrap();
            assert_eq!(overloaded.status(), 529);
            let body: Value = overloaded.json().await.unwrap();
            assert_eq!(body["error"]["type"], "overloaded_error");
            let denied = send().await.unwrap();
            assert_eq!(denied.status(), 401);
            assert_eq!(denied.headers()["x-should-retry"], "false");
            let body: Value = denied.json().await.unwrap();
            assert_eq!(body["error"]["type"], "authentication_error");
            assert_eq!(send().await.unwrap().status(), 200);
            assert_eq!(mock.calls_with_key("sk-ant-1"), 3);
        }

        #[tokio::test]
        async fn reset_closes_the_connection_before_any_byte() {
            let mock = MockUpstream::start().await;
            mock.script("sk-r", [Step::reset()]);
            let body = chat("gpt-4.1", false).to_string();
            let mut tcp = tokio::net::TcpStream::connect(mock.addr).await.unwrap();
            let head = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\nauthorization: Bearer sk-r\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            tcp.write_all(head.as_bytes()).await.unwrap();
            tcp.write_all(body.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            // A reset (rather than an orderly close) is an error: also no bytes.
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got))
                .await
                .expect("the mock closes the connection");
            assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
            assert_eq!(mock.calls_with_key("sk-r"), 1, "the request was received");
            // Through a real client it is a connection error, not a status.
            mock.script("sk-r", [Step::reset()]);
            let err = reqwest::Client::new()
                .post(format!("{}/chat/completions", mock.base_url()))
                .bearer_auth("sk-r")
                .json(&chat("gpt-4.1", false))
                .send()
                .await
                .unwrap_err();
            assert!(err.status().is_none(), "{err}");
        }

        #[tokio::test]
        async fn delays_silent_and_broken_streams() {
            let mock = MockUpstream::start().await;
            mock.script(
                "sk-s",
                [
                    Step::delay(300),
                    Step::silent_stream(),
                    Step::break_after(2),
                    Step::break_after(1),
                ],
            );
            let started = Instant::now();
            let slow = post_chat(&mock, "sk-s", &chat("gpt-4.1", false)).await;
            assert!(started.elapsed() >= Duration::from_millis(300));
            let body: Value = slow.json().await.unwrap();
            assert_eq!(
                body["choices"][0]["message"]["content"],
                crate::mock::OPENAI_TEXT
            );

            let silent = post_chat(&mock, "sk-s", &chat("gpt-4.1", true)).await;
            assert_eq!(silent.status(), 200);
            assert!(
                silent.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/event-stream")
            );
            let mut chunks = silent.bytes_stream();
            let waited = tokio::time::timeout(Duration::from_millis(500), chunks.next()).await;
            assert!(waited.is_err(), "a silent stream sends nothing");

            let broken = post_chat(&mock, "sk-s", &chat("gpt-4.1", true)).await;
            assert_eq!(broken.status(), 200);
            let mut chunks = broken.bytes_stream();
            let mut text = String::new();
            let mut failed = false;
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "the stream ends with a connection error");
            assert_eq!(text.matches("data: ").count(), 2, "{text}");
            assert!(!text.contains("[DONE]"));

            // Without streaming the 200 head arrives, then the cut.
            let cut = post_chat(&mock, "sk-s", &chat("gpt-4.1", false)).await;
            assert_eq!(cut.status(), 200);
            assert!(cut.bytes().await.is_err());
        }
    }

    #[test]
    fn default_error_bodies_are_each_formats_real_shape() {
        let openai = error_body(Format::OpenAi, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(openai["error"]["code"], "rate_limit_exceeded");
        assert!(openai["error"]["message"].as_str().is_some());
        let quota = error_body(Format::OpenAi, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(quota["error"]["type"], "insufficient_quota");
        let claude = error_body(Format::Anthropic, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(claude["type"], "error");
        assert_eq!(claude["error"]["type"], "rate_limit_error");
        let overloaded = error_body(Format::Anthropic, StatusCode::from_u16(529).unwrap());
        assert_eq!(overloaded["error"]["type"], "overloaded_error");
    }
}
