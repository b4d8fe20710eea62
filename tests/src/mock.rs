//! A mock OpenAI Chat Completions upstream on 127.0.0.1 that speaks the real wire format.
//!
//! The model name picks the behaviour, so one mock serves every test:
//! - any ordinary name: a normal completion (`Hello from mock`) with usage;
//! - `error-400`, `error-401`, `error-429`, `error-500`: an OpenAI error body with that status
//!   (429 carries `Retry-After`);
//! - `error-502-html`: a 502 with an HTML body, as a broken proxy sends;
//! - `slow-stream`: stream chunks 300 ms apart;
//! - `slow-reply`: a whole completion after 2 s;
//! - `break-stream`: two chunks, then the connection is cut;
//! - `vendor-fields`: Groq-style `x_groq`, `service_tier` and `usage_breakdown` fields.
//!
//! `POST /v1/messages` speaks Anthropic Messages the same way (`error-429`,
//! `break-stream`, else `Hello from claude mock`), and checks the
//! `x-api-key` and `anthropic-version` headers.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;
use serde_json::{Value, json};

/// Token counts the mock reports for every completion.
pub const PROMPT_TOKENS: u64 = 12;
pub const COMPLETION_TOKENS: u64 = 5;
pub const CACHED_TOKENS: u64 = 4;
pub const REASONING_TOKENS: u64 = 2;
/// Gap between chunks of `slow-stream`.
pub const SLOW_GAP: Duration = Duration::from_millis(300);

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct MockState {
    received: Mutex<Vec<Received>>,
    /// Whether `GET /models` exists (some providers lack it).
    models_route: bool,
    /// Keep no log (benchmarks).
    quiet: bool,
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
    /// Starts a mock with a `/models` route.
    pub async fn start() -> MockUpstream {
        Self::start_with(true, false, 0).await
    }

    /// Starts a mock without `GET /models`.
    pub async fn start_without_models() -> MockUpstream {
        Self::start_with(false, false, 0).await
    }

    /// `port` 0 picks a free port. `quiet` (the benchmark's mode) keeps no
    /// request log and answers every request with prepared `gpt-4.1` replies.
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
            .route("/v1/chat/completions", post(chat))
            .route("/v1/messages", post(anthropic_messages))
            .route("/v1/messages/count_tokens", post(anthropic_count_tokens))
            .route("/v1/models", get(models))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockUpstream { addr, state, task }
    }

    /// The base URL a connection points at: `http://127.0.0.1:P/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

async fn models(State(state): State<Arc<MockState>>) -> Response {
    if !state.models_route {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    }
    axum::Json(json!({"object": "list", "data": [
        {"id": "gpt-4.1", "object": "model", "created": 1700000000, "owned_by": "mock"}
    ]}))
    .into_response()
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("header"),
    );
    response
}

fn usage() -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

async fn chat(State(state): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    if state.quiet {
        return prepared_reply(&body);
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
        );
    };
    if !state.quiet
        && let Ok(mut log) = state.received.lock()
    {
        log.push(Received {
            path: "/v1/chat/completions".into(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: request.clone(),
        });
    }
    let model = request["model"].as_str().unwrap_or("").to_string();
    match model.as_str() {
        "error-400" => {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid value for 'temperature': must be <= 2.",
                "invalid_request_error",
            );
        }
        "error-401" => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
            );
        }
        "error-429" => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests.",
                "requests",
            );
            r.headers_mut()
                .insert("retry-after", "7".parse().expect("header"));
            return r;
        }
        "error-500" => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request.",
                "server_error",
            );
        }
        "error-502-html" => {
            let mut r = (
                StatusCode::BAD_GATEWAY,
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, "text/html".parse().expect("header"));
            return r;
        }
        _ => {}
    }
    if model == "slow-reply" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let stream = request["stream"].as_bool().unwrap_or(false);
    let include_usage = request["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    if stream {
        return stream_reply(&model, include_usage);
    }
    let mut body = completion(&model);
    if model == "vendor-fields" {
        body["x_groq"] = json!({"id": "req_01mock"});
        body["service_tier"] = json!("on_demand");
        body["usage"]["usage_breakdown"] = json!({"models": null});
    }
    let mut response = body.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("header"),
    );
    response
}

/// A whole (non-stream) completion in OpenAI's shape.
fn completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-mock123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from mock", "refusal": null, "annotations": []},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(),
        "system_fingerprint": "fp_mock"
    })
}

/// The benchmark's path (`--quiet`): no JSON parsing and no request log, the
/// replies built once, so the mock costs as little CPU as it can.
fn prepared_reply(request: &[u8]) -> Response {
    static COMPLETION: LazyLock<Bytes> =
        LazyLock::new(|| Bytes::from(completion("gpt-4.1").to_string()));
    static STREAM: LazyLock<Bytes> =
        LazyLock::new(|| Bytes::from(stream_frames("gpt-4.1", false).concat()));
    static STREAM_USAGE: LazyLock<Bytes> =
        LazyLock::new(|| Bytes::from(stream_frames("gpt-4.1", true).concat()));
    let has = |needle: &[u8]| memchr::memmem::find(request, needle).is_some();
    let (body, content_type) = if has(b"\"stream\":true") {
        let frames = if has(b"\"include_usage\":true") {
            &STREAM_USAGE
        } else {
            &STREAM
        };
        ((*frames).clone(), "text/event-stream; charset=utf-8")
    } else {
        ((*COMPLETION).clone(), "application/json")
    };
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
    response
}

fn chunk(
    model: &str,
    delta: Value,
    finish: Value,
    extra: &[(&str, Value)],
    usage_null: bool,
) -> String {
    let mut c = json!({
        "id": "chatcmpl-mock123",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    if usage_null {
        c["usage"] = Value::Null;
    }
    for (k, v) in extra {
        c[*k] = v.clone();
    }
    format!("data: {c}\n\n")
}

/// The SSE frames of a streamed completion, in OpenAI's order and shape.
pub fn stream_frames(model: &str, include_usage: bool) -> Vec<String> {
    let vendor = model == "vendor-fields";
    let extra: Vec<(&str, Value)> = if vendor {
        vec![
            ("x_groq", json!({"id": "req_01mock"})),
            ("service_tier", json!("on_demand")),
        ]
    } else {
        Vec::new()
    };
    let mut frames = vec![chunk(
        model,
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
        &extra,
        include_usage,
    )];
    for piece in ["Hello", " from", " mock"] {
        frames.push(chunk(
            model,
            json!({"content": piece}),
            Value::Null,
            &extra,
            include_usage,
        ));
    }
    frames.push(chunk(
        model,
        json!({}),
        json!("stop"),
        &extra,
        include_usage,
    ));
    if include_usage {
        let mut last = json!({
            "id": "chatcmpl-mock123",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": usage()
        });
        if vendor {
            last["x_groq"] = json!({"id": "req_01mock", "usage": usage()});
        }
        frames.push(format!("data: {last}\n\n"));
    }
    frames.push("data: [DONE]\n\n".to_string());
    frames
}

fn stream_reply(model: &str, include_usage: bool) -> Response {
    let frames = stream_frames(model, include_usage);
    let body = match model {
        "slow-stream" => {
            Body::from_stream(stream::unfold(frames.into_iter(), |mut it| async move {
                let frame = it.next()?;
                tokio::time::sleep(SLOW_GAP).await;
                Some((Ok::<_, std::io::Error>(Bytes::from(frame)), it))
            }))
        }
        "break-stream" => {
            // Two frames, flushed, then the connection is cut mid-stream.
            let items: Vec<Option<String>> =
                frames.into_iter().take(2).map(Some).chain([None]).collect();
            Body::from_stream(stream::unfold(items.into_iter(), |mut it| async move {
                let item = it.next()?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let result = item
                    .map(Bytes::from)
                    .ok_or_else(|| std::io::Error::other("mock cut the connection"));
                Some((result, it))
            }))
        }
        _ => Body::from(frames.concat()),
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        "text/event-stream; charset=utf-8".parse().expect("header"),
    );
    h.insert(header::CACHE_CONTROL, "no-cache".parse().expect("header"));
    response
}

/// Token counts the Anthropic endpoint reports (input excludes cache reads).
pub const CLAUDE_INPUT_TOKENS: u64 = 20;
pub const CLAUDE_CACHE_READ_TOKENS: u64 = 5;
pub const CLAUDE_OUTPUT_TOKENS: u64 = 6;

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("header"),
    );
    response
}

fn claude_usage(output: u64) -> Value {
    json!({"input_tokens": CLAUDE_INPUT_TOKENS, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": CLAUDE_CACHE_READ_TOKENS, "output_tokens": output})
}

async fn anthropic_messages(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header("anthropic-version").is_none() {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    let Some(key) = header("x-api-key") else {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "The request body is not valid JSON.",
        );
    };
    if request["max_tokens"].as_u64().is_none() {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    if let Ok(mut log) = state.received.lock() {
        log.push(Received {
            path: "/v1/messages".into(),
            authorization: Some(key),
            body: request.clone(),
        });
    }
    let model = request["model"].as_str().unwrap_or_default().to_string();
    if model == "error-429" {
        return anthropic_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        );
    }
    if !request["stream"].as_bool().unwrap_or(false) {
        let body = json!({
            "id": "msg_mock01", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "Hello from claude mock"}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": claude_usage(CLAUDE_OUTPUT_TOKENS)
        });
        let mut response = body.to_string().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        return response;
    }
    let frame = |event: &str, data: Value| format!("event: {event}\ndata: {data}\n\n");
    let mut frames = vec![
        frame(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_mock01", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": claude_usage(1)}}),
        ),
        frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        frame("ping", json!({"type": "ping"})),
    ];
    for piece in ["Hello", " from", " claude mock"] {
        frames.push(frame("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
    }
    frames.push(frame(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(frame("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": CLAUDE_OUTPUT_TOKENS}})));
    frames.push(frame("message_stop", json!({"type": "message_stop"})));
    let body = if model == "break-stream" {
        let items: Vec<Option<String>> =
            frames.into_iter().take(4).map(Some).chain([None]).collect();
        Body::from_stream(stream::unfold(items.into_iter(), |mut it| async move {
            let item = it.next()?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((
                item.map(Bytes::from)
                    .ok_or_else(|| std::io::Error::other("mock cut the connection")),
                it,
            ))
        }))
    } else {
        Body::from(frames.concat())
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/event-stream; charset=utf-8".parse().expect("header"),
    );
    response
}

/// What the Anthropic endpoint answers to every token count.
pub const CLAUDE_COUNTED_TOKENS: u64 = 42;

async fn anthropic_count_tokens(headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-api-key").is_none() {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(request) if request["model"].as_str().is_some() => {
            axum::Json(json!({"input_tokens": CLAUDE_COUNTED_TOKENS})).into_response()
        }
        _ => anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "model: Field required",
        ),
    }
}
