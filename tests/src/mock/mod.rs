//! Mock AI upstreams on 127.0.0.1 speaking four real wire formats: OpenAI Chat Completions, Anthropic Messages, Gemini generateContent and the OpenAI Responses API.
//!
//! One server answers every format, so one mock serves a whole test:
//!
//! | route | format | auth (missing -> the format's 401) |
//! |---|---|---|
//! | `POST /v1/chat/completions`, `GET /v1/models` | OpenAI Chat | `Authorization: Bearer` |
//! | `POST /v1/messages`, `POST /v1/messages/count_tokens` | Anthropic | `x-api-key` (+ `anthropic-version`) |
//! | `POST /v1beta/models/{model}:generateContent`, `…:streamGenerateContent[?alt=sse]`, `GET /v1beta/models` | Gemini | `x-goog-api-key` or `?key=` |
//! | `POST /v1/responses` | Responses | `Authorization: Bearer` |
//!
//! The model name (for Gemini, the one in the path) picks the behaviour, the
//! same names in every format:
//! - any ordinary name: the format's text answer ([`OPENAI_TEXT`],
//!   [`CLAUDE_TEXT`], [`GEMINI_TEXT`], [`RESPONSES_TEXT`]) with usage, streamed
//!   in several pieces when the request streams;
//! - `tool-call`: when the last message of the request is a tool result
//!   (OpenAI `role: "tool"`, Anthropic `tool_result` block, Gemini
//!   `functionResponse` part, Responses `function_call_output` item), the
//!   text `Tool said: <that result's text>`; otherwise a call of the first
//!   tool the request declares (or [`FALLBACK_TOOL`] when it declares none)
//!   with arguments [`PARIS_ARGUMENTS`], streamed in several argument pieces
//!   where the format streams arguments (Gemini sends a call whole);
//! - `parallel-tools`: the same, but two calls of that tool in one answer,
//!   with [`PARIS_ARGUMENTS`] and [`TOKYO_ARGUMENTS`] and distinct ids;
//! - `reasoning`: [`THINKING_TEXT`] as the format's reasoning (OpenAI
//!   `reasoning_content`, Anthropic `thinking` block signed
//!   [`CLAUDE_SIGNATURE`], Gemini `thought: true` parts, a Responses
//!   `reasoning` item with summary text and [`RESPONSES_ENCRYPTED_CONTENT`]),
//!   then the format's text answer, with reasoning tokens in the usage;
//! - `echo-max-tokens`: a text answer that is the request's max-tokens value
//!   (`max_completion_tokens` or else `max_tokens` / `max_tokens` /
//!   `generationConfig.maxOutputTokens` / `max_output_tokens`), or `none`;
//! - `error-400`, `error-401`, `error-429`, `error-500`: the format's error
//!   JSON with that status (the OpenAI formats' 429 carries `Retry-After`);
//!   `error-502-html`: a 502 with an HTML body, as a broken proxy sends;
//! - `break-stream`: a stream cut off (connection error) after a few events;
//! - `no-terminal`: a stream that ends cleanly but without its terminal event
//!   (OpenAI: no `finish_reason` chunk, usage chunk or `[DONE]`; Anthropic:
//!   no `message_delta` / `message_stop`; Gemini: no `finishReason` chunk;
//!   Responses: no `response.completed`);
//! - `stream-error`: an error inside a 200 stream after a few events (OpenAI
//!   a `data: {"error":…}` chunk; Anthropic `event: error` with
//!   `overloaded_error`; Gemini a `data: {"error":…}` chunk; Responses
//!   `error` then `response.failed`); asked without streaming, Responses
//!   answers a 200 response object with `status: "failed"` and its `error`,
//!   the other formats their ordinary text;
//! - `think-tags`: the format's text answer preceded by
//!   `<think>`[`THINK_TAGS_TEXT`]`</think>`, as local models (Ollama, vLLM)
//!   send reasoning inside the content; streamed, the tags fall inside
//!   pieces (`"<think>Let"`, … `" think.</think>Hello"`);
//! - `chunks-200`: a text answer streamed in [`LONG_ANSWER_PIECES`] pieces
//!   (`w0 w1 … w199`), for the translation benchmark: the first events at
//!   once, the rest [`HEAD_GAP`] later;
//! - `slow-stream`: stream events [`SLOW_GAP`] apart; `slow-reply`: a whole
//!   answer after 2 s;
//! - `vendor-fields` (OpenAI only): Groq-style `x_groq`, `service_tier` and
//!   `usage_breakdown` fields;
//! - `flaky-30` (OpenAI and Anthropic): the ordinary answer, but about 30 %
//!   of calls get a 500 instead, from a seeded sequence (see [`script`]).
//!
//! `POST /_mock/script` queues scripted answers per upstream API key, ahead
//! of the model-driven ones (OpenAI Chat and Anthropic endpoints): statuses
//! with headers, delays, connection resets, silent and broken streams; see
//! [`script`]. `DELETE /_mock/script` forgets them.
//!
//! Every POST handler records the parsed body, the path (without query) and
//! the credential it was given in [`MockUpstream::received`], unless the mock
//! is quiet (the benchmark's mode); `GET /_mock/received` returns that log
//! as JSON (`[{"path", "authorization", "key", "body"}]`, `key` being the
//! credential without `Bearer `) for tests that run the mock as a process.

mod anthropic;
mod gemini;
pub mod oauth;
mod openai;
pub mod proxy;
mod responses;
pub mod script;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;
use serde_json::Value;

pub use openai::stream_frames;
pub use script::Step;

/// Token counts the OpenAI Chat endpoint reports for every completion.
pub const PROMPT_TOKENS: u64 = 12;
pub const COMPLETION_TOKENS: u64 = 5;
pub const CACHED_TOKENS: u64 = 4;
pub const REASONING_TOKENS: u64 = 2;
/// Gap between stream events of `slow-stream`.
pub const SLOW_GAP: Duration = Duration::from_millis(300);

/// Token counts the Anthropic endpoint reports (input excludes cache reads;
/// thinking is counted inside the output, Anthropic has no field for it).
pub const CLAUDE_INPUT_TOKENS: u64 = 20;
pub const CLAUDE_CACHE_READ_TOKENS: u64 = 5;
pub const CLAUDE_OUTPUT_TOKENS: u64 = 6;
/// What the Anthropic endpoint answers to every token count.
pub const CLAUDE_COUNTED_TOKENS: u64 = 42;

/// Gemini's `usageMetadata`: `promptTokenCount` includes the cached tokens
/// (`cachedContentTokenCount`); `thoughtsTokenCount` (only for `reasoning`)
/// is counted apart from `candidatesTokenCount`, and all three add up to
/// `totalTokenCount`.
pub const GEMINI_PROMPT_TOKENS: u64 = 30;
pub const GEMINI_CACHED_TOKENS: u64 = 8;
pub const GEMINI_CANDIDATES_TOKENS: u64 = 7;
pub const GEMINI_THOUGHTS_TOKENS: u64 = 3;

/// The Responses API's usage: `input_tokens` includes
/// `input_tokens_details.cached_tokens`; `output_tokens` includes
/// `output_tokens_details.reasoning_tokens`, which is
/// [`RESPONSES_REASONING_TOKENS`] for `reasoning` and 0 otherwise.
pub const RESPONSES_INPUT_TOKENS: u64 = 16;
pub const RESPONSES_CACHED_TOKENS: u64 = 6;
pub const RESPONSES_OUTPUT_TOKENS: u64 = 9;
pub const RESPONSES_REASONING_TOKENS: u64 = 3;

/// Each format's text answer.
pub const OPENAI_TEXT: &str = "Hello from mock";
pub const CLAUDE_TEXT: &str = "Hello from claude mock";
pub const GEMINI_TEXT: &str = "Hello from gemini mock";
pub const RESPONSES_TEXT: &str = "Hello from responses mock";

/// The reasoning every format sends for `reasoning`.
pub const THINKING_TEXT: &str = "The user wants a greeting, so I will say hello.";
/// The reasoning inside `<think>` tags of `think-tags`.
pub const THINK_TAGS_TEXT: &str = "Let me think.";
/// The signature of the Anthropic `thinking` block.
pub const CLAUDE_SIGNATURE: &str = "sig-mock-claude";
/// The `encrypted_content` of the Responses reasoning item.
pub const RESPONSES_ENCRYPTED_CONTENT: &str = "enc-mock-responses";

/// Arguments of the first tool call (as JSON text), and of the second one of
/// `parallel-tools`.
pub const PARIS_ARGUMENTS: &str = r#"{"city":"Paris"}"#;
pub const TOKYO_ARGUMENTS: &str = r#"{"city":"Tokyo"}"#;
/// The tool called when the request declares none.
pub const FALLBACK_TOOL: &str = "get_weather";
/// What a `tool-call` answer starts with once the tool result is back.
pub const TOOL_SAID: &str = "Tool said: ";

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path without query; Gemini's includes the model and method
    /// (`/v1beta/models/gemini-2.5-flash:streamGenerateContent`).
    pub path: String,
    /// The credential: OpenAI and Responses the whole `Authorization`
    /// header, Anthropic the `x-api-key`, Gemini the API key (header or `?key=`).
    pub authorization: Option<String>,
    /// The API key alone (`authorization` without `Bearer `): which
    /// upstream account the request used.
    pub key: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct MockState {
    received: Mutex<Vec<Received>>,
    /// Whether the model lists (`GET /v1/models`, `GET /v1beta/models`)
    /// exist: some providers lack them.
    models_route: bool,
    /// Keep no log (benchmarks).
    quiet: bool,
    /// Scripted answers by API key (`POST /_mock/script`).
    scripts: script::Scripts,
}

impl MockState {
    fn record(&self, path: &str, authorization: Option<String>, body: &Value) {
        if self.quiet {
            return;
        }
        if let Ok(mut log) = self.received.lock() {
            log.push(Received {
                path: path.to_string(),
                key: authorization
                    .as_deref()
                    .map(|a| script::bare_key(a).to_string()),
                authorization,
                body: body.clone(),
            });
        }
    }
}

/// A running mock upstream.
pub struct MockUpstream {
    pub addr: SocketAddr,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockUpstream {
    /// Starts a mock with its model lists.
    pub async fn start() -> MockUpstream {
        Self::start_with(true, false, 0).await
    }

    /// Starts a mock without `GET /v1/models` (nor Gemini's list).
    pub async fn start_without_models() -> MockUpstream {
        Self::start_with(false, false, 0).await
    }

    /// `port` 0 picks a free port. `quiet` (the benchmark's mode) keeps no
    /// request log and answers every chat completion with prepared `gpt-4.1`
    /// replies.
    pub async fn start_with(models_route: bool, quiet: bool, port: u16) -> MockUpstream {
        let state = Arc::new(MockState {
            models_route,
            quiet,
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind mock");
        let addr = listener.local_addr().expect("mock addr");
        let app = Router::new()
            .route("/v1/chat/completions", post(openai::chat))
            .route("/v1/models", get(openai::models))
            .route("/v1/messages", post(anthropic::messages))
            .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
            .route("/v1/responses", post(responses::create))
            .route("/v1beta/models", get(gemini::models))
            .route("/v1beta/models/{*rest}", post(gemini::generate))
            .route("/_mock/received", get(received_log))
            .route("/_mock/script", post(script_push).delete(script_clear))
            .with_state(state.clone());
        // Each stream event is its own small write; Nagle would hold them.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockUpstream { addr, state, task }
    }

    /// The base URL an OpenAI, Anthropic or Responses connection points at:
    /// `http://127.0.0.1:P/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL a Gemini connection points at: `http://127.0.0.1:P/v1beta`.
    pub fn gemini_base_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// Every request recorded so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// How many requests arrived with upstream API key `key` (one account).
    pub fn calls_with_key(&self, key: &str) -> usize {
        self.state
            .received
            .lock()
            .map(|log| log.iter().filter(|r| r.key.as_deref() == Some(key)).count())
            .unwrap_or(0)
    }

    /// Queues `steps` for the requests that carry API key `key`, as
    /// `POST /_mock/script` does; returns how many now wait for that key.
    pub fn script(&self, key: &str, steps: impl IntoIterator<Item = Step>) -> usize {
        self.state.scripts.push(key, steps.into_iter().collect())
    }

    /// Steps still queued for `key`.
    pub fn pending_steps(&self, key: &str) -> usize {
        self.state.scripts.pending(key)
    }

    /// Forgets every scripted step, as `DELETE /_mock/script` does.
    pub fn clear_scripts(&self) {
        self.state.scripts.clear();
    }
}

/// `POST /_mock/script` `{"key", "steps": [...]}`: queues steps for a key.
async fn script_push(
    axum::extract::State(state): axum::extract::State<Arc<MockState>>,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Push {
        key: String,
        steps: Vec<Step>,
    }
    let push = match serde_json::from_slice::<Push>(&body) {
        Ok(push) => push,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": format!("bad script: {e}")}),
            );
        }
    };
    if let Some(e) = push.steps.iter().find_map(|s| s.check().err()) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"error": format!("bad step: {e}")}),
        );
    }
    let queued = state.scripts.push(&push.key, push.steps);
    json_response(StatusCode::OK, &serde_json::json!({"queued": queued}))
}

/// `DELETE /_mock/script`: forgets every queue.
async fn script_clear(
    axum::extract::State(state): axum::extract::State<Arc<MockState>>,
) -> Response {
    state.scripts.clear();
    json_response(StatusCode::OK, &serde_json::json!({"cleared": true}))
}

/// `GET /_mock/received`: the request log as JSON, for tests that run the
/// mock as a process (the Python suites).
async fn received_log(
    axum::extract::State(state): axum::extract::State<Arc<MockState>>,
) -> Response {
    let log: Vec<Value> = state
        .received
        .lock()
        .map(|log| {
            log.iter()
                .map(|r| serde_json::json!({"path": r.path, "authorization": r.authorization, "key": r.key, "body": r.body}))
                .collect()
        })
        .unwrap_or_default();
    json_response(StatusCode::OK, &Value::Array(log))
}

/// What the model name asks for (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ordinary,
    ToolCall,
    ParallelTools,
    Reasoning,
    ThinkTags,
    EchoMaxTokens,
    Error400,
    Error401,
    Error429,
    Error500,
    Error502Html,
    BreakStream,
    NoTerminal,
    StreamError,
    SlowStream,
    SlowReply,
    VendorFields,
    /// A text answer of [`LONG_ANSWER_PIECES`] stream pieces (benchmarks).
    LongAnswer,
}

/// Stream pieces of the `chunks-200` answer.
pub const LONG_ANSWER_PIECES: usize = 200;

impl Behaviour {
    fn of(model: &str) -> Behaviour {
        match model {
            "tool-call" => Behaviour::ToolCall,
            "parallel-tools" => Behaviour::ParallelTools,
            "reasoning" => Behaviour::Reasoning,
            "think-tags" => Behaviour::ThinkTags,
            "echo-max-tokens" => Behaviour::EchoMaxTokens,
            "error-400" => Behaviour::Error400,
            "error-401" => Behaviour::Error401,
            "error-429" => Behaviour::Error429,
            "error-500" => Behaviour::Error500,
            "error-502-html" => Behaviour::Error502Html,
            "break-stream" => Behaviour::BreakStream,
            "no-terminal" => Behaviour::NoTerminal,
            "stream-error" => Behaviour::StreamError,
            "slow-stream" => Behaviour::SlowStream,
            "slow-reply" => Behaviour::SlowReply,
            "vendor-fields" => Behaviour::VendorFields,
            "chunks-200" => Behaviour::LongAnswer,
            _ => Behaviour::Ordinary,
        }
    }

    /// How a stream's frames go out.
    fn pacing(self) -> Pacing {
        match self {
            Behaviour::SlowStream => Pacing::Slow,
            Behaviour::BreakStream => Pacing::CutAfter(2),
            // The stream's opening events and first text delta.
            Behaviour::LongAnswer => Pacing::HeadThenRest(3),
            _ => Pacing::AtOnce,
        }
    }
}

/// The facts of a request that the behaviours depend on, read by each
/// format from its own fields.
#[derive(Debug, Default)]
struct Inbound {
    /// The text of the tool result when the request's last message is one.
    tool_result: Option<String>,
    /// The name of the first tool the request declares.
    first_tool: Option<String>,
    /// The request's max-tokens value.
    max_tokens: Option<u64>,
}

/// One tool call of an answer; `index` (from 1) makes each format's ids.
#[derive(Debug, Clone)]
struct Call {
    index: usize,
    name: String,
    arguments: &'static str,
}

impl Call {
    /// The arguments as a JSON value (formats that send objects, not text).
    fn input(&self) -> Value {
        serde_json::from_str(self.arguments).unwrap_or(Value::Null)
    }
}

/// What the mock answers, before a format renders it.
#[derive(Debug, Clone)]
enum Answer {
    Text(String),
    /// [`THINKING_TEXT`] as reasoning, then this text.
    Reasoning(String),
    Calls(Vec<Call>),
}

impl Answer {
    /// The answer `behaviour` gives to a request whose facts are `inbound`;
    /// `text` is the format's ordinary text.
    fn plan(behaviour: Behaviour, inbound: &Inbound, text: &str) -> Answer {
        match behaviour {
            Behaviour::ToolCall | Behaviour::ParallelTools => {
                if let Some(result) = &inbound.tool_result {
                    return Answer::Text(format!("{TOOL_SAID}{result}"));
                }
                let name = inbound.first_tool.as_deref().unwrap_or(FALLBACK_TOOL);
                let mut calls = vec![Call {
                    index: 1,
                    name: name.to_string(),
                    arguments: PARIS_ARGUMENTS,
                }];
                if behaviour == Behaviour::ParallelTools {
                    calls.push(Call {
                        index: 2,
                        name: name.to_string(),
                        arguments: TOKYO_ARGUMENTS,
                    });
                }
                Answer::Calls(calls)
            }
            Behaviour::Reasoning => Answer::Reasoning(text.to_string()),
            Behaviour::ThinkTags => Answer::Text(format!("<think>{THINK_TAGS_TEXT}</think>{text}")),
            Behaviour::LongAnswer => Answer::Text(
                (0..LONG_ANSWER_PIECES)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Behaviour::EchoMaxTokens => Answer::Text(
                inbound
                    .max_tokens
                    .map_or_else(|| "none".to_string(), |n| n.to_string()),
            ),
            _ => Answer::Text(text.to_string()),
        }
    }

    fn is_calls(&self) -> bool {
        matches!(self, Answer::Calls(_))
    }
}

/// `text` in stream pieces: one per word, each word after the first with its
/// leading space (`"Hello from mock"` -> `"Hello"`, `" from"`, `" mock"`).
fn pieces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        if i == 0 {
            out.push(word.to_string());
        } else {
            out.push(format!(" {word}"));
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Tool-call arguments in pieces of at most 6 bytes (split on character
/// boundaries), so a client must join several deltas to read them.
fn argument_pieces(arguments: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in arguments.chars() {
        if current.len() + c.len_utf8() > 6 && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The text of a tool result given either as a string or as an array of
/// content parts carrying `text` (every format allows both).
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// The value of header `name` as text.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A JSON body with `status`.
fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// OpenAI's error JSON (the Chat and Responses APIs share it).
fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    json_response(status, &body)
}

/// The 502 a broken proxy in front of any provider sends.
fn html_bad_gateway() -> Response {
    let mut r = (
        StatusCode::BAD_GATEWAY,
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    )
        .into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// How a stream's frames are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// All in one body.
    AtOnce,
    /// [`SLOW_GAP`] before each frame.
    Slow,
    /// That many frames, flushed one by one, then the connection is cut.
    CutAfter(usize),
    /// That many frames at once, then the rest in one chunk [`HEAD_GAP`]
    /// later: a first byte that does not wait for the whole answer.
    HeadThenRest(usize),
}

/// The pause of [`Pacing::HeadThenRest`].
pub const HEAD_GAP: Duration = Duration::from_millis(2);

/// A streamed body of `frames` with `content_type`, sent as `pacing` says.
fn stream_response(frames: Vec<String>, pacing: Pacing, content_type: &'static str) -> Response {
    let body = match pacing {
        Pacing::AtOnce => Body::from(frames.concat()),
        Pacing::HeadThenRest(n) => {
            let split = n.min(frames.len());
            let chunks = vec![frames[..split].concat(), frames[split..].concat()];
            Body::from_stream(stream::unfold(
                (chunks.into_iter(), true),
                |(mut it, first)| async move {
                    let chunk = it.next()?;
                    if !first {
                        tokio::time::sleep(HEAD_GAP).await;
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), (it, false)))
                },
            ))
        }
        Pacing::Slow => {
            Body::from_stream(stream::unfold(frames.into_iter(), |mut it| async move {
                let frame = it.next()?;
                tokio::time::sleep(SLOW_GAP).await;
                Some((Ok::<_, std::io::Error>(Bytes::from(frame)), it))
            }))
        }
        Pacing::CutAfter(n) => {
            // Each frame is its own chunk, so the client has read them
            // before the cut, as when a provider dies mid-answer.
            let items: Vec<Option<String>> =
                frames.into_iter().take(n).map(Some).chain([None]).collect();
            Body::from_stream(stream::unfold(items.into_iter(), |mut it| async move {
                let item = it.next()?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let result = item
                    .map(Bytes::from)
                    .ok_or_else(|| std::io::Error::other("mock cut the connection"));
                Some((result, it))
            }))
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Waits as `slow-reply` asks before a whole answer.
async fn delay_reply(behaviour: Behaviour) {
    if behaviour == Behaviour::SlowReply {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_the_text_and_split_it() {
        assert_eq!(pieces("Hello from mock"), ["Hello", " from", " mock"]);
        assert_eq!(pieces("4096"), ["4096"]);
    }

    #[test]
    fn argument_pieces_join_back_to_the_arguments() {
        let parts = argument_pieces(PARIS_ARGUMENTS);
        assert!(parts.len() >= 2);
        assert_eq!(parts.concat(), PARIS_ARGUMENTS);
        assert!(parts.iter().all(|p| p.len() <= 6));
    }

    #[test]
    fn tool_behaviours_answer_the_result_once_it_is_back() {
        let back = Inbound {
            tool_result: Some("sunny".into()),
            ..Default::default()
        };
        match Answer::plan(Behaviour::ToolCall, &back, "x") {
            Answer::Text(t) => assert_eq!(t, "Tool said: sunny"),
            other => panic!("{other:?}"),
        }
        let fresh = Inbound {
            first_tool: Some("lookup".into()),
            ..Default::default()
        };
        match Answer::plan(Behaviour::ParallelTools, &fresh, "x") {
            Answer::Calls(calls) => {
                assert_eq!(calls.len(), 2);
                assert!(calls.iter().all(|c| c.name == "lookup"));
                assert_eq!(calls[1].arguments, TOKYO_ARGUMENTS);
            }
            other => panic!("{other:?}"),
        }
    }
}
