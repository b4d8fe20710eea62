//! The mock's Anthropic Messages endpoint (`POST /v1/messages`, `POST /v1/messages/count_tokens`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    Answer, Behaviour, CLAUDE_CACHE_READ_TOKENS, CLAUDE_COUNTED_TOKENS, CLAUDE_INPUT_TOKENS,
    CLAUDE_OUTPUT_TOKENS, CLAUDE_SIGNATURE, CLAUDE_TEXT, Inbound, MockState, Pacing, THINKING_TEXT,
    argument_pieces, delay_reply, header_text, html_bad_gateway, json_response, pieces, script,
    stream_response, text_of,
};

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    json_response(status, &body)
}

fn claude_usage(output: u64) -> Value {
    json!({"input_tokens": CLAUDE_INPUT_TOKENS, "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": CLAUDE_CACHE_READ_TOKENS, "output_tokens": output})
}

/// The error `behaviour` answers with, in Anthropic's shape.
fn behaviour_error(behaviour: Behaviour) -> Option<Response> {
    Some(match behaviour {
        Behaviour::Error400 => anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "temperature: range: 0..1",
        ),
        Behaviour::Error401 => anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        ),
        Behaviour::Error429 => anthropic_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        Behaviour::Error500 => anthropic_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        ),
        Behaviour::Error502Html => html_bad_gateway(),
        _ => return None,
    })
}

/// What the behaviours read from a Messages request.
fn inbound(request: &Value) -> Inbound {
    let last = request["messages"].as_array().and_then(|m| m.last());
    let tool_result = last
        .filter(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_array())
        .and_then(|blocks| blocks.iter().rev().find(|b| b["type"] == "tool_result"))
        .map(|b| text_of(&b["content"]).unwrap_or_default());
    let first_tool = request["tools"].as_array().and_then(|tools| {
        tools
            .iter()
            .find_map(|t| t["name"].as_str().map(str::to_string))
    });
    Inbound {
        tool_result,
        first_tool,
        max_tokens: request["max_tokens"].as_u64(),
    }
}

pub(super) async fn messages(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if header_text(&headers, "anthropic-version").is_none() {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    let Some(key) = header_text(&headers, "x-api-key") else {
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
    let bare = script::bare_key(&key).to_string();
    state.record("/v1/messages", Some(key), &request);
    let model = request["model"].as_str().unwrap_or_default().to_string();
    let streams = request["stream"].as_bool().unwrap_or(false);
    let step = state.scripts.next(Some(&bare), &model);
    let cut = match script::play(step, script::Format::Anthropic, streams).await {
        script::Flow::Respond(response) => return response,
        script::Flow::CutAfter(events) => Some(Pacing::CutAfter(events)),
        script::Flow::Normal => None,
    };
    let behaviour = Behaviour::of(&model);
    if let Some(response) = behaviour_error(behaviour) {
        return response;
    }
    let answer = Answer::plan(behaviour, &inbound(&request), CLAUDE_TEXT);
    if !request["stream"].as_bool().unwrap_or(false) {
        delay_reply(behaviour).await;
        return json_response(StatusCode::OK, &message(&model, &answer));
    }
    // A scripted cut counts its own events.
    let pacing = cut.unwrap_or_else(|| match behaviour.pacing() {
        // message_start, content_block_start, ping and one delta.
        Pacing::CutAfter(_) => Pacing::CutAfter(4),
        Pacing::HeadThenRest(_) => Pacing::HeadThenRest(4),
        other => other,
    });
    stream_response(
        stream_frames(&model, &answer, behaviour),
        pacing,
        "text/event-stream; charset=utf-8",
    )
}

fn stop_reason(answer: &Answer) -> &'static str {
    if answer.is_calls() {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn tool_use_id(index: usize) -> String {
    format!("toolu_mock{index}")
}

/// A whole (non-stream) message in Anthropic's shape.
fn message(model: &str, answer: &Answer) -> Value {
    let content = match answer {
        Answer::Text(text) => json!([{"type": "text", "text": text}]),
        Answer::Reasoning(text) => json!([
            {"type": "thinking", "thinking": THINKING_TEXT, "signature": CLAUDE_SIGNATURE},
            {"type": "text", "text": text}
        ]),
        Answer::Calls(calls) => Value::Array(
            calls
                .iter()
                .map(|c| json!({"type": "tool_use", "id": tool_use_id(c.index), "name": c.name, "input": c.input()}))
                .collect(),
        ),
    };
    json!({
        "id": "msg_mock01", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop_reason(answer), "stop_sequence": null,
        "usage": claude_usage(CLAUDE_OUTPUT_TOKENS)
    })
}

fn frame(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// The content blocks of `answer` as (block, deltas) pairs.
fn blocks(answer: &Answer) -> Vec<(Value, Vec<Value>)> {
    let text_block = |text: &str| {
        let deltas = pieces(text)
            .into_iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        (json!({"type": "text", "text": ""}), deltas)
    };
    match answer {
        Answer::Text(text) => vec![text_block(text)],
        Answer::Reasoning(text) => {
            let mut deltas: Vec<Value> = pieces(THINKING_TEXT)
                .into_iter()
                .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                .collect();
            deltas.push(json!({"type": "signature_delta", "signature": CLAUDE_SIGNATURE}));
            vec![
                (
                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                    deltas,
                ),
                text_block(text),
            ]
        }
        Answer::Calls(calls) => calls
            .iter()
            .map(|c| {
                // The API opens every tool input with an empty partial_json.
                let deltas = std::iter::once(String::new())
                    .chain(argument_pieces(c.arguments))
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect();
                (
                    json!({"type": "tool_use", "id": tool_use_id(c.index), "name": c.name, "input": {}}),
                    deltas,
                )
            })
            .collect(),
    }
}

/// The SSE frames of `answer` streamed as `behaviour` says.
fn stream_frames(model: &str, answer: &Answer, behaviour: Behaviour) -> Vec<String> {
    let mut frames = vec![frame(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_mock01", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": claude_usage(1)}}),
    )];
    for (index, (block, deltas)) in blocks(answer).into_iter().enumerate() {
        frames.push(frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        if index == 0 {
            frames.push(frame("ping", json!({"type": "ping"})));
        }
        for delta in deltas {
            frames.push(frame(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        frames.push(frame(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    match behaviour {
        Behaviour::NoTerminal => return frames,
        Behaviour::StreamError => {
            // message_start, content_block_start, ping and two deltas.
            frames.truncate(5);
            frames.push(frame(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            return frames;
        }
        _ => {}
    }
    frames.push(frame(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(answer), "stop_sequence": null},
            "usage": {"output_tokens": CLAUDE_OUTPUT_TOKENS}}),
    ));
    frames.push(frame("message_stop", json!({"type": "message_stop"})));
    frames
}

pub(super) async fn count_tokens(headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-api-key").is_none() {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(request) if request["model"].as_str().is_some() => json_response(
            StatusCode::OK,
            &json!({"input_tokens": CLAUDE_COUNTED_TOKENS}),
        ),
        _ => anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "model: Field required",
        ),
    }
}
