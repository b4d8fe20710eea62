//! The mock's OpenAI Responses endpoint (`POST /v1/responses`), streamed with OpenAI's full event lifecycle.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    Answer, Behaviour, Call, Inbound, MockState, Pacing, RESPONSES_CACHED_TOKENS,
    RESPONSES_ENCRYPTED_CONTENT, RESPONSES_INPUT_TOKENS, RESPONSES_OUTPUT_TOKENS,
    RESPONSES_REASONING_TOKENS, RESPONSES_TEXT, THINKING_TEXT, argument_pieces, delay_reply,
    header_text, html_bad_gateway, json_response, openai_error, pieces, stream_response, text_of,
};

const RESPONSE_ID: &str = "resp_mock01";
const MESSAGE_ID: &str = "msg_mock01";
const REASONING_ID: &str = "rs_mock01";

/// The error `behaviour` answers with, in OpenAI's shape.
fn behaviour_error(behaviour: Behaviour) -> Option<Response> {
    Some(match behaviour {
        Behaviour::Error400 => openai_error(
            StatusCode::BAD_REQUEST,
            "Invalid value for 'temperature': must be <= 2.",
            "invalid_request_error",
            Some("invalid_value"),
        ),
        Behaviour::Error401 => openai_error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        Behaviour::Error429 => {
            let mut r = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests.",
                "requests",
                Some("rate_limit_exceeded"),
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

/// What the behaviours read from a Responses request.
fn inbound(request: &Value) -> Inbound {
    let last = request["input"].as_array().and_then(|items| items.last());
    let tool_result = last
        .filter(|item| item["type"] == "function_call_output")
        .and_then(|item| text_of(&item["output"]));
    let first_tool = request["tools"].as_array().and_then(|tools| {
        tools
            .iter()
            .filter(|t| t["type"] == "function")
            .find_map(|t| t["name"].as_str().map(str::to_string))
    });
    Inbound {
        tool_result,
        first_tool,
        max_tokens: request["max_output_tokens"].as_u64(),
    }
}

pub(super) async fn create(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(authorization) = header_text(&headers, header::AUTHORIZATION.as_str()) else {
        return super::openai::missing_key();
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            None,
        );
    };
    if request.get("input").is_none_or(Value::is_null) {
        let body = json!({"error": {"message": "Missing required parameter: 'input'.",
            "type": "invalid_request_error", "param": "input", "code": "missing_required_parameter"}});
        return json_response(StatusCode::BAD_REQUEST, &body);
    }
    state.record("/v1/responses", Some(authorization), &request);
    let model = request["model"].as_str().unwrap_or_default().to_string();
    let behaviour = Behaviour::of(&model);
    if let Some(response) = behaviour_error(behaviour) {
        return response;
    }
    let answer = Answer::plan(behaviour, &inbound(&request), RESPONSES_TEXT);
    if !request["stream"].as_bool().unwrap_or(false) {
        delay_reply(behaviour).await;
        let body = if behaviour == Behaviour::StreamError {
            // The whole-response form of response.failed.
            response_object(&request, "failed", Vec::new(), Value::Null)
        } else {
            let output = output_items(&answer, "completed");
            response_object(&request, "completed", output, usage(&answer))
        };
        return json_response(StatusCode::OK, &body);
    }
    let pacing = match behaviour.pacing() {
        // created, in_progress, the first item and part, one delta.
        Pacing::CutAfter(_) => Pacing::CutAfter(5),
        other => other,
    };
    stream_response(
        Events::of(&request, &answer, behaviour),
        pacing,
        "text/event-stream; charset=utf-8",
    )
}

fn usage(answer: &Answer) -> Value {
    let reasoning = if matches!(answer, Answer::Reasoning(_)) {
        RESPONSES_REASONING_TOKENS
    } else {
        0
    };
    json!({
        "input_tokens": RESPONSES_INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": RESPONSES_CACHED_TOKENS},
        "output_tokens": RESPONSES_OUTPUT_TOKENS,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": RESPONSES_INPUT_TOKENS + RESPONSES_OUTPUT_TOKENS
    })
}

/// The response object, in OpenAI's field order, echoing the request's settings.
fn response_object(request: &Value, status: &str, output: Vec<Value>, usage: Value) -> Value {
    let echo = |key: &str, default: Value| match request.get(key) {
        Some(v) if !v.is_null() => v.clone(),
        _ => default,
    };
    let error = if status == "failed" {
        json!({"code": "server_error", "message": "The server had an error while processing your request."})
    } else {
        Value::Null
    };
    json!({
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "background": false,
        "error": error,
        "incomplete_details": null,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": null,
        "model": request["model"],
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "prompt_cache_key": echo("prompt_cache_key", Value::Null),
        "reasoning": echo("reasoning", json!({"effort": null, "summary": null})),
        "safety_identifier": null,
        "service_tier": "default",
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1)),
        "text": echo("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_logprobs": 0,
        "top_p": echo("top_p", json!(1)),
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": echo("metadata", json!({}))
    })
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

fn message_item(status: &str, content: Vec<Value>) -> Value {
    json!({"id": MESSAGE_ID, "type": "message", "status": status, "content": content, "role": "assistant"})
}

fn reasoning_item(summary: Vec<Value>) -> Value {
    json!({"id": REASONING_ID, "type": "reasoning", "encrypted_content": RESPONSES_ENCRYPTED_CONTENT,
        "summary": summary})
}

fn call_item(call: &Call, status: &str, arguments: &str) -> Value {
    json!({"id": format!("fc_mock{}", call.index), "type": "function_call", "status": status,
        "arguments": arguments, "call_id": format!("call_mock{}", call.index), "name": call.name})
}

/// The output items of a finished answer.
fn output_items(answer: &Answer, status: &str) -> Vec<Value> {
    match answer {
        Answer::Text(text) => vec![message_item(status, vec![output_text(text)])],
        Answer::Reasoning(text) => vec![
            reasoning_item(vec![json!({"type": "summary_text", "text": THINKING_TEXT})]),
            message_item(status, vec![output_text(text)]),
        ],
        Answer::Calls(calls) => calls
            .iter()
            .map(|c| call_item(c, status, c.arguments))
            .collect(),
    }
}

/// A Responses SSE stream under construction: numbers its events.
struct Events<'a> {
    request: &'a Value,
    frames: Vec<String>,
    sequence: u64,
}

impl Events<'_> {
    /// `event: <type>` + data whose first fields are `type` and
    /// `sequence_number`, then `fields` in their order.
    fn push(&mut self, kind: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".into(), json!(kind));
        data.insert("sequence_number".into(), json!(self.sequence));
        if let Value::Object(rest) = fields {
            data.extend(rest);
        }
        self.sequence += 1;
        self.frames
            .push(format!("event: {kind}\ndata: {}\n\n", Value::Object(data)));
    }

    /// The events of `answer` streamed as `behaviour` says.
    fn of(request: &Value, answer: &Answer, behaviour: Behaviour) -> Vec<String> {
        let mut events = Events {
            request,
            frames: Vec::new(),
            sequence: 0,
        };
        let in_progress = response_object(request, "in_progress", Vec::new(), Value::Null);
        events.push("response.created", json!({"response": in_progress}));
        events.push("response.in_progress", json!({"response": in_progress}));
        let mut output_index = 0;
        if let Answer::Reasoning(_) = answer {
            events.reasoning(output_index);
            output_index += 1;
        }
        match answer {
            Answer::Text(text) | Answer::Reasoning(text) => {
                if !events.message(output_index, text, behaviour) {
                    return events.frames;
                }
            }
            Answer::Calls(calls) => {
                for (i, call) in calls.iter().enumerate() {
                    events.call(output_index + i, call);
                }
            }
        }
        if behaviour != Behaviour::NoTerminal {
            let done = response_object(
                request,
                "completed",
                output_items(answer, "completed"),
                usage(answer),
            );
            events.push("response.completed", json!({"response": done}));
        }
        events.frames
    }

    fn reasoning(&mut self, output_index: usize) {
        self.push(
            "response.output_item.added",
            json!({"output_index": output_index, "item": reasoning_item(Vec::new())}),
        );
        let ids =
            json!({"item_id": REASONING_ID, "output_index": output_index, "summary_index": 0});
        let with = |extra: Value| {
            let mut v = ids.clone();
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
            v
        };
        self.push(
            "response.reasoning_summary_part.added",
            with(json!({"part": {"type": "summary_text", "text": ""}})),
        );
        for piece in pieces(THINKING_TEXT) {
            self.push(
                "response.reasoning_summary_text.delta",
                with(json!({"delta": piece})),
            );
        }
        self.push(
            "response.reasoning_summary_text.done",
            with(json!({"text": THINKING_TEXT})),
        );
        let part = json!({"type": "summary_text", "text": THINKING_TEXT});
        self.push(
            "response.reasoning_summary_part.done",
            with(json!({"part": part})),
        );
        self.push(
            "response.output_item.done",
            json!({"output_index": output_index, "item": reasoning_item(vec![part])}),
        );
    }

    /// The message item's events; false when `stream-error` ended the
    /// stream inside it.
    fn message(&mut self, output_index: usize, text: &str, behaviour: Behaviour) -> bool {
        self.push(
            "response.output_item.added",
            json!({"output_index": output_index, "item": message_item("in_progress", Vec::new())}),
        );
        self.push(
            "response.content_part.added",
            json!({"item_id": MESSAGE_ID, "output_index": output_index, "content_index": 0,
                "part": output_text("")}),
        );
        for (i, piece) in pieces(text).into_iter().enumerate() {
            if behaviour == Behaviour::StreamError && i == 2 {
                self.fail();
                return false;
            }
            self.push(
                "response.output_text.delta",
                json!({"item_id": MESSAGE_ID, "output_index": output_index, "content_index": 0,
                    "delta": piece, "logprobs": []}),
            );
        }
        self.push(
            "response.output_text.done",
            json!({"item_id": MESSAGE_ID, "output_index": output_index, "content_index": 0,
                "text": text, "logprobs": []}),
        );
        self.push(
            "response.content_part.done",
            json!({"item_id": MESSAGE_ID, "output_index": output_index, "content_index": 0,
                "part": output_text(text)}),
        );
        self.push(
            "response.output_item.done",
            json!({"output_index": output_index, "item": message_item("completed", vec![output_text(text)])}),
        );
        true
    }

    /// OpenAI's mid-stream failure: an `error` event, then `response.failed`.
    fn fail(&mut self) {
        let message = "The server had an error while processing your request.";
        self.push(
            "error",
            json!({"error": {"type": "server_error", "code": "server_error", "message": message, "param": null}}),
        );
        let failed = response_object(self.request, "failed", Vec::new(), Value::Null);
        self.push("response.failed", json!({"response": failed}));
    }

    fn call(&mut self, output_index: usize, call: &Call) {
        let item_id = format!("fc_mock{}", call.index);
        self.push(
            "response.output_item.added",
            json!({"output_index": output_index, "item": call_item(call, "in_progress", "")}),
        );
        for piece in argument_pieces(call.arguments) {
            self.push(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": output_index, "delta": piece}),
            );
        }
        self.push(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": output_index, "arguments": call.arguments}),
        );
        self.push(
            "response.output_item.done",
            json!({"output_index": output_index, "item": call_item(call, "completed", call.arguments)}),
        );
    }
}
