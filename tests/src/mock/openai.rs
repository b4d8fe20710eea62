//! The mock's OpenAI Chat Completions endpoint (`POST /v1/chat/completions`, `GET /v1/models`).

use std::sync::{Arc, LazyLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    Answer, Behaviour, CACHED_TOKENS, COMPLETION_TOKENS, Inbound, MockState, OPENAI_TEXT,
    PROMPT_TOKENS, Pacing, REASONING_TOKENS, THINKING_TEXT, argument_pieces, delay_reply,
    header_text, html_bad_gateway, json_response, openai_error, pieces, script, stream_response,
    text_of,
};

pub(super) async fn models(State(state): State<Arc<MockState>>) -> Response {
    if !state.models_route {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    }
    axum::Json(json!({"object": "list", "data": [
        {"id": "gpt-4.1", "object": "model", "created": 1700000000, "owned_by": "mock"}
    ]}))
    .into_response()
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

/// The error `behaviour` answers with, in OpenAI's shape.
fn behaviour_error(behaviour: Behaviour) -> Option<Response> {
    Some(match behaviour {
        Behaviour::Error400 => openai_error(
            StatusCode::BAD_REQUEST,
            "Invalid value for 'temperature': must be <= 2.",
            "invalid_request_error",
            None,
        ),
        Behaviour::Error401 => openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            None,
        ),
        Behaviour::Error429 => {
            let mut r = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests.",
                "requests",
                None,
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("7"));
            r
        }
        Behaviour::Error500 => openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request.",
            "server_error",
            None,
        ),
        Behaviour::Error502Html => html_bad_gateway(),
        _ => return None,
    })
}

/// OpenAI's answer to a request without a key.
pub(super) fn missing_key() -> Response {
    openai_error(
        StatusCode::UNAUTHORIZED,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
        None,
    )
}

/// What the behaviours read from a Chat Completions request.
fn inbound(request: &Value) -> Inbound {
    let last = request["messages"].as_array().and_then(|m| m.last());
    let tool_result = last
        .filter(|m| m["role"] == "tool")
        .and_then(|m| text_of(&m["content"]));
    let first_tool = request["tools"].as_array().and_then(|tools| {
        tools
            .iter()
            .find_map(|t| t["function"]["name"].as_str().map(str::to_string))
    });
    let max_tokens = request["max_completion_tokens"]
        .as_u64()
        .or_else(|| request["max_tokens"].as_u64());
    Inbound {
        tool_result,
        first_tool,
        max_tokens,
    }
}

pub(super) async fn chat(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.quiet {
        return prepared_reply(&body);
    }
    let Some(authorization) = header_text(&headers, header::AUTHORIZATION.as_str()) else {
        return missing_key();
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    let key = script::bare_key(&authorization).to_string();
    state.record("/v1/chat/completions", Some(authorization), &request);
    let model = request["model"].as_str().unwrap_or("").to_string();
    let streams = request["stream"].as_bool().unwrap_or(false);
    let step = state.scripts.next(Some(&key), &model);
    let cut = match script::play(step, script::Format::OpenAi, streams).await {
        script::Flow::Respond(response) => return response,
        script::Flow::CutAfter(events) => Some(Pacing::CutAfter(events)),
        script::Flow::Normal => None,
    };
    let behaviour = Behaviour::of(&model);
    if let Some(response) = behaviour_error(behaviour) {
        return response;
    }
    let answer = Answer::plan(behaviour, &inbound(&request), OPENAI_TEXT);
    if request["stream"].as_bool().unwrap_or(false) {
        let include_usage = request["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false);
        let frames = answer_frames(&model, &answer, include_usage, behaviour);
        return stream_response(
            frames,
            cut.unwrap_or_else(|| behaviour.pacing()),
            "text/event-stream; charset=utf-8",
        );
    }
    delay_reply(behaviour).await;
    let mut body = completion(&model, &answer);
    if behaviour == Behaviour::VendorFields {
        body["x_groq"] = json!({"id": "req_01mock"});
        body["service_tier"] = json!("on_demand");
        body["usage"]["usage_breakdown"] = json!({"models": null});
    }
    json_response(StatusCode::OK, &body)
}

fn finish_reason(answer: &Answer) -> &'static str {
    if answer.is_calls() {
        "tool_calls"
    } else {
        "stop"
    }
}

/// A whole (non-stream) completion in OpenAI's shape.
fn completion(model: &str, answer: &Answer) -> Value {
    let message = match answer {
        Answer::Text(text) => {
            json!({"role": "assistant", "content": text, "refusal": null, "annotations": []})
        }
        Answer::Reasoning(text) => json!({"role": "assistant", "content": text,
            "reasoning_content": THINKING_TEXT, "refusal": null, "annotations": []}),
        Answer::Calls(calls) => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|c| {
                    json!({"id": call_id(c.index), "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            json!({"role": "assistant", "content": null, "tool_calls": tool_calls,
                "refusal": null, "annotations": []})
        }
    };
    json!({
        "id": "chatcmpl-mock123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(answer)
        }],
        "usage": usage(),
        "system_fingerprint": "fp_mock"
    })
}

fn call_id(index: usize) -> String {
    format!("call_mock{index}")
}

/// The benchmark's path (`--quiet`): no JSON parsing and no request log, the
/// replies built once, so the mock costs as little CPU as it can.
fn prepared_reply(request: &[u8]) -> Response {
    static COMPLETION: LazyLock<Bytes> = LazyLock::new(|| {
        Bytes::from(completion("gpt-4.1", &Answer::Text(OPENAI_TEXT.into())).to_string())
    });
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
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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

/// The SSE frames of a streamed text completion (`Hello from mock`, or the
/// vendor fields for `vendor-fields`), in OpenAI's order and shape.
pub fn stream_frames(model: &str, include_usage: bool) -> Vec<String> {
    answer_frames(
        model,
        &Answer::Text(OPENAI_TEXT.into()),
        include_usage,
        Behaviour::of(model),
    )
}

/// The SSE frames of `answer` streamed as `behaviour` says.
fn answer_frames(
    model: &str,
    answer: &Answer,
    include_usage: bool,
    behaviour: Behaviour,
) -> Vec<String> {
    let vendor = behaviour == Behaviour::VendorFields;
    let extra: Vec<(&str, Value)> = if vendor {
        vec![
            ("x_groq", json!({"id": "req_01mock"})),
            ("service_tier", json!("on_demand")),
        ]
    } else {
        Vec::new()
    };
    let delta = |delta: Value| chunk(model, delta, Value::Null, &extra, include_usage);
    let mut frames = Vec::new();
    match answer {
        Answer::Text(text) => {
            frames.push(delta(
                json!({"role": "assistant", "content": "", "refusal": null}),
            ));
            for piece in pieces(text) {
                frames.push(delta(json!({"content": piece})));
            }
        }
        Answer::Reasoning(text) => {
            // DeepSeek's shape: reasoning_content deltas before the content.
            frames.push(delta(
                json!({"role": "assistant", "content": null, "reasoning_content": ""}),
            ));
            for piece in pieces(THINKING_TEXT) {
                frames.push(delta(json!({"content": null, "reasoning_content": piece})));
            }
            for piece in pieces(text) {
                frames.push(delta(json!({"content": piece, "reasoning_content": null})));
            }
        }
        Answer::Calls(calls) => {
            frames.push(delta(json!({"role": "assistant", "content": null})));
            for (i, call) in calls.iter().enumerate() {
                frames.push(delta(
                    json!({"tool_calls": [{"index": i, "id": call_id(call.index),
                    "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
                ));
                for piece in argument_pieces(call.arguments) {
                    frames.push(delta(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    ));
                }
            }
        }
    }
    match behaviour {
        Behaviour::NoTerminal => return frames,
        Behaviour::StreamError => {
            frames.truncate(3);
            let error = json!({"error": {"message": "The server had an error while processing your request.",
                "type": "server_error", "param": null, "code": null}});
            frames.push(format!("data: {error}\n\n"));
            return frames;
        }
        _ => {}
    }
    frames.push(chunk(
        model,
        json!({}),
        json!(finish_reason(answer)),
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
