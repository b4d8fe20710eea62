//! The mock's Gemini endpoint (`POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`, `GET /v1beta/models`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    Answer, Behaviour, GEMINI_CACHED_TOKENS, GEMINI_CANDIDATES_TOKENS, GEMINI_PROMPT_TOKENS,
    GEMINI_TEXT, GEMINI_THOUGHTS_TOKENS, Inbound, MockState, THINKING_TEXT, delay_reply,
    header_text, html_bad_gateway, json_response, pieces, stream_response,
};

/// Google's error JSON: `{"error": {"code", "message", "status"}}`.
fn gemini_error(status: StatusCode, message: &str, code_name: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "status": code_name}});
    json_response(status, &body)
}

fn missing_key() -> Response {
    gemini_error(
        StatusCode::UNAUTHORIZED,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        "UNAUTHENTICATED",
    )
}

/// The API key, from `x-goog-api-key` or else `?key=`.
fn api_key(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    header_text(headers, "x-goog-api-key").or_else(|| query.get("key").cloned())
}

/// The error `behaviour` answers with, in Google's shape.
fn behaviour_error(behaviour: Behaviour) -> Option<Response> {
    Some(match behaviour {
        Behaviour::Error400 => gemini_error(
            StatusCode::BAD_REQUEST,
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), must be <= 2",
            "INVALID_ARGUMENT",
        ),
        Behaviour::Error401 => gemini_error(
            StatusCode::UNAUTHORIZED,
            "API key not valid. Please pass a valid API key.",
            "UNAUTHENTICATED",
        ),
        Behaviour::Error429 => {
            // Google says when to retry inside the body, not in a header.
            let body = json!({"error": {"code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
            ]}});
            json_response(StatusCode::TOO_MANY_REQUESTS, &body)
        }
        Behaviour::Error500 => gemini_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            "INTERNAL",
        ),
        Behaviour::Error502Html => html_bad_gateway(),
        _ => return None,
    })
}

pub(super) async fn models(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !state.models_route {
        return gemini_error(StatusCode::NOT_FOUND, "Method not found.", "NOT_FOUND");
    }
    if api_key(&headers, &query).is_none() {
        return missing_key();
    }
    let model = |id: &str, name: &str| {
        json!({"name": format!("models/{id}"), "version": "001", "displayName": name,
            "description": format!("{name} (mock)"), "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": true})
    };
    json_response(
        StatusCode::OK,
        &json!({"models": [
            model("gemini-2.5-flash", "Gemini 2.5 Flash"),
            model("gemini-2.5-pro", "Gemini 2.5 Pro")
        ]}),
    )
}

/// What the behaviours read from a generateContent request.
fn inbound(request: &Value) -> Inbound {
    let last = request["contents"].as_array().and_then(|c| c.last());
    let tool_result = last
        .and_then(|c| c["parts"].as_array())
        .and_then(|parts| parts.iter().rev().find_map(|p| p.get("functionResponse")))
        .map(|r| match &r["response"]["result"] {
            Value::String(s) => s.clone(),
            Value::Null => r["response"].to_string(),
            other => other.to_string(),
        });
    let first_tool = request["tools"].as_array().and_then(|tools| {
        tools.iter().find_map(|t| {
            t["functionDeclarations"]
                .as_array()
                .and_then(|d| d.first())
                .and_then(|d| d["name"].as_str())
                .map(str::to_string)
        })
    });
    Inbound {
        tool_result,
        first_tool,
        max_tokens: request["generationConfig"]["maxOutputTokens"].as_u64(),
    }
}

pub(super) async fn generate(
    State(state): State<Arc<MockState>>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // axum cannot match `{model}:{method}` inside one segment.
    let Some((model, method)) = rest.rsplit_once(':') else {
        return gemini_error(
            StatusCode::NOT_FOUND,
            &format!("models/{rest} is not found for API version v1beta, or is not supported."),
            "NOT_FOUND",
        );
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => {
            return gemini_error(
                StatusCode::NOT_FOUND,
                &format!("Method {method} is not supported for models/{model}."),
                "NOT_FOUND",
            );
        }
    };
    let Some(key) = api_key(&headers, &query) else {
        return missing_key();
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "INVALID_ARGUMENT",
        );
    };
    if request["contents"].as_array().is_none_or(Vec::is_empty) {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
            "INVALID_ARGUMENT",
        );
    }
    state.record(&format!("/v1beta/models/{rest}"), Some(key), &request);
    let behaviour = Behaviour::of(model);
    if let Some(response) = behaviour_error(behaviour) {
        return response;
    }
    let answer = Answer::plan(behaviour, &inbound(&request), GEMINI_TEXT);
    let chunks = chunks(model, &answer, behaviour, stream);
    if !stream {
        delay_reply(behaviour).await;
        let whole = chunks.into_iter().next().unwrap_or(Value::Null);
        return json_response(StatusCode::OK, &whole);
    }
    let pacing = behaviour.pacing();
    if query.get("alt").map(String::as_str) == Some("sse") {
        // Google frames alt=sse events with CRLF and sends neither event
        // names nor a [DONE].
        let frames = chunks
            .iter()
            .map(|c| format!("data: {c}\r\n\r\n"))
            .collect();
        return stream_response(frames, pacing, "text/event-stream");
    }
    // Without alt=sse the stream is one JSON array, sent element by element.
    let count = chunks.len();
    let frames = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i + 1 == count { "]" } else { "" };
            format!("{open}{c}{close}")
        })
        .collect();
    stream_response(frames, pacing, "application/json; charset=UTF-8")
}

/// `usageMetadata` with `candidates` output tokens so far, in Google's field order.
fn usage_metadata(candidates: u64, thoughts: bool) -> Value {
    let thoughts_tokens = if thoughts { GEMINI_THOUGHTS_TOKENS } else { 0 };
    let mut meta = Map::new();
    meta.insert("promptTokenCount".into(), json!(GEMINI_PROMPT_TOKENS));
    meta.insert("candidatesTokenCount".into(), json!(candidates));
    meta.insert(
        "totalTokenCount".into(),
        json!(GEMINI_PROMPT_TOKENS + candidates + thoughts_tokens),
    );
    meta.insert(
        "cachedContentTokenCount".into(),
        json!(GEMINI_CACHED_TOKENS),
    );
    meta.insert(
        "promptTokensDetails".into(),
        json!([{"modality": "TEXT", "tokenCount": GEMINI_PROMPT_TOKENS}]),
    );
    meta.insert(
        "cacheTokensDetails".into(),
        json!([{"modality": "TEXT", "tokenCount": GEMINI_CACHED_TOKENS}]),
    );
    if thoughts {
        meta.insert("thoughtsTokenCount".into(), json!(thoughts_tokens));
    }
    Value::Object(meta)
}

/// One `GenerateContentResponse`: a single candidate with `parts`.
fn response(model: &str, parts: Vec<Value>, finish: bool, usage: Value) -> Value {
    let mut candidate = Map::new();
    candidate.insert("content".into(), json!({"parts": parts, "role": "model"}));
    if finish {
        candidate.insert("finishReason".into(), json!("STOP"));
    }
    candidate.insert("index".into(), json!(0));
    json!({"candidates": [Value::Object(candidate)], "usageMetadata": usage,
        "modelVersion": model, "responseId": "mock-gemini-response-01"})
}

fn function_call(call: &super::Call) -> Value {
    json!({"functionCall": {"name": call.name, "args": call.input(), "id": format!("mock-call-{}", call.index)}})
}

/// The answer as Gemini sends it: one whole response (`stream` false), or
/// the stream's chunks shaped by `behaviour`.
fn chunks(model: &str, answer: &Answer, behaviour: Behaviour, stream: bool) -> Vec<Value> {
    let thoughts = matches!(answer, Answer::Reasoning(_));
    if !stream {
        let parts = match answer {
            Answer::Text(text) => vec![json!({"text": text})],
            Answer::Reasoning(text) => vec![
                json!({"text": THINKING_TEXT, "thought": true}),
                json!({"text": text}),
            ],
            Answer::Calls(calls) => calls.iter().map(function_call).collect(),
        };
        let usage = usage_metadata(GEMINI_CANDIDATES_TOKENS, thoughts);
        return vec![response(model, parts, true, usage)];
    }
    // Each chunk carries the usage so far; only the last has finishReason.
    let mut parts_per_chunk: Vec<Vec<Value>> = Vec::new();
    match answer {
        Answer::Text(text) => {
            parts_per_chunk.extend(pieces(text).into_iter().map(|p| vec![json!({"text": p})]));
        }
        Answer::Reasoning(text) => {
            parts_per_chunk.extend(
                pieces(THINKING_TEXT)
                    .into_iter()
                    .map(|p| vec![json!({"text": p, "thought": true})]),
            );
            parts_per_chunk.extend(pieces(text).into_iter().map(|p| vec![json!({"text": p})]));
        }
        // Gemini sends calls whole, parallel ones in the same chunk.
        Answer::Calls(calls) => parts_per_chunk.push(calls.iter().map(function_call).collect()),
    }
    // Thoughts are counted apart, so only answer parts raise the count.
    let mut so_far = 0;
    let mut chunks: Vec<Value> = parts_per_chunk
        .into_iter()
        .map(|parts| {
            if !parts.iter().any(|p| p["thought"] == true) {
                so_far = (so_far + 1).min(GEMINI_CANDIDATES_TOKENS);
            }
            response(model, parts, false, usage_metadata(so_far, thoughts))
        })
        .collect();
    match behaviour {
        Behaviour::NoTerminal => return chunks,
        Behaviour::StreamError => {
            chunks.truncate(2);
            chunks.push(json!({"error": {"code": 503,
                "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}));
            return chunks;
        }
        _ => {}
    }
    chunks.push(response(
        model,
        vec![json!({"text": ""})],
        true,
        usage_metadata(GEMINI_CANDIDATES_TOKENS, thoughts),
    ));
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_and_keeps_googles_order() {
        let meta = usage_metadata(GEMINI_CANDIDATES_TOKENS, true);
        let keys: Vec<&str> = meta
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "promptTokenCount",
                "candidatesTokenCount",
                "totalTokenCount",
                "cachedContentTokenCount",
                "promptTokensDetails",
                "cacheTokensDetails",
                "thoughtsTokenCount"
            ]
        );
        assert_eq!(
            meta["totalTokenCount"],
            GEMINI_PROMPT_TOKENS + GEMINI_CANDIDATES_TOKENS + GEMINI_THOUGHTS_TOKENS
        );
        assert!(usage_metadata(1, false).get("thoughtsTokenCount").is_none());
    }

    #[test]
    fn a_function_response_result_is_read_as_the_tool_result() {
        let request = json!({"contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"result": "sunny"}}}]}
        ]});
        assert_eq!(inbound(&request).tool_result.as_deref(), Some("sunny"));
        let other = json!({"contents": [
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"output": "ok"}}}]}
        ]});
        assert_eq!(
            inbound(&other).tool_result.as_deref(),
            Some(r#"{"output":"ok"}"#)
        );
    }
}
