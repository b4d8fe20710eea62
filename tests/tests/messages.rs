//! Black-box tests of `POST /v1/messages` (Anthropic Messages) served by a mock OpenAI Chat upstream.

use omniroute_tests::mock::{self};
use omniroute_tests::mock_and_gateway;
use serde_json::{Value, json};

fn message(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 1024,
        "stream": stream,
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}]
    })
}

/// (event name, data) of every SSE frame.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in f.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_message_is_answered_from_an_openai_upstream() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/messages")
        .json(&message("openai/gpt-4.1", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello from mock"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(
        body["usage"]["input_tokens"],
        mock::PROMPT_TOKENS - mock::CACHED_TOKENS
    );
    assert_eq!(
        body["usage"]["cache_read_input_tokens"],
        mock::CACHED_TOKENS
    );
    assert_eq!(body["usage"]["output_tokens"], mock::COMPLETION_TOKENS);

    let sent = &mock.received()[0].body;
    assert_eq!(sent["model"], "gpt-4.1");
    assert_eq!(
        sent["max_completion_tokens"], 1024,
        "OpenAI's reasoning models refuse max_tokens"
    );
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        sent["messages"][1],
        json!({"role": "user", "content": "Say hello"})
    );

    let rows = gw.usage(1).await;
    assert_eq!(rows[0]["inbound_format"], "anthropic");
    assert_eq!(rows[0]["input_tokens"], mock::PROMPT_TOKENS);
    assert_eq!(rows[0]["status"], 200);
}

#[tokio::test]
async fn a_streamed_message_has_anthropic_events_in_order() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/messages")
        .json(&message("openai/gpt-4.1", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "content_block_start")
            .count(),
        1
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello from mock");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], mock::COMPLETION_TOKENS);
    assert_eq!(
        mock.received()[0].body["stream_options"]["include_usage"],
        true
    );

    let rows = gw.usage(1).await;
    assert_eq!(
        (
            rows[0]["stream"].as_bool(),
            rows[0]["output_tokens"].as_u64()
        ),
        (Some(true), Some(mock::COMPLETION_TOKENS))
    );
}

#[tokio::test]
async fn errors_are_anthropic_error_objects() {
    let (_mock, gw) = mock_and_gateway().await;
    let cases = [
        (
            gw.http
                .post(format!("{}/v1/messages", gw.url))
                .json(&message("openai/gpt-4.1", false)),
            401,
            "authentication_error",
        ),
        (
            gw.post("/v1/messages")
                .json(&message("nosuch/model", false)),
            404,
            "not_found_error",
        ),
        (
            gw.post("/v1/messages")
                .json(&json!({"model": "openai/gpt-4.1", "messages": "hi"})),
            400,
            "invalid_request_error",
        ),
        (
            gw.post("/v1/messages")
                .header("content-type", "application/json")
                .body("{nope"),
            400,
            "invalid_request_error",
        ),
        (
            gw.post("/v1/messages")
                .json(&message("mock/error-429", false)),
            429,
            "rate_limit_error",
        ),
        (
            gw.post("/v1/messages").json(&message("xai/grok-4", false)),
            503,
            "overloaded_error",
        ),
    ];
    for (request, status, kind) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_broken_upstream_stream_ends_with_an_error_event() {
    let (_mock, gw) = mock_and_gateway().await;
    let text = gw
        .post("/v1/messages")
        .json(&message("mock/break-stream", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert_eq!(
        events.first().map(|(n, _)| n.as_str()),
        Some("message_start")
    );
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{text}");
    assert_eq!(data["error"]["type"], "api_error");
    let rows = gw.usage(1).await;
    assert_eq!(rows[0]["status"], 502);
}

#[tokio::test]
async fn a_message_to_an_anthropic_upstream_is_passed_through() {
    let (mock, gw) = mock_and_gateway().await;
    let mut request = message("anthropic/claude-sonnet-4-5", false);
    request["system"][0]["cache_control"] = json!({"type": "ephemeral"});
    request["metadata"] = json!({"user_id": "u-1"});
    let body: Value = gw
        .post("/v1/messages")
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["content"][0]["text"], "Hello from claude mock",
        "{body}"
    );
    assert_eq!(body["usage"]["input_tokens"], mock::CLAUDE_INPUT_TOKENS);
    assert_eq!(
        body["usage"]["cache_read_input_tokens"],
        mock::CLAUDE_CACHE_READ_TOKENS
    );
    let sent = &mock.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.authorization.as_deref(), Some("sk-ant-upstream"));
    let mut expected = request.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(sent.body, expected, "only the model changed");

    let text = gw
        .post("/v1/messages")
        .json(&message("anthropic/claude-sonnet-4-5", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert!(
        events.iter().any(|(n, _)| n == "ping"),
        "relayed as sent, pings included: {text}"
    );
    let streamed: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "Hello from claude mock");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let rows = gw.usage(2).await;
    assert!(
        rows.iter()
            .all(|r| r["provider"] == "anthropic" && r["status"] == 200),
        "{rows:?}"
    );
    for r in &rows {
        assert_eq!(
            r["input_tokens"],
            mock::CLAUDE_INPUT_TOKENS + mock::CLAUDE_CACHE_READ_TOKENS,
            "{r}"
        );
        assert_eq!(r["cached_tokens"], mock::CLAUDE_CACHE_READ_TOKENS);
        assert_eq!(r["output_tokens"], mock::CLAUDE_OUTPUT_TOKENS);
    }
}

#[tokio::test]
async fn tokens_are_counted_by_claude_or_estimated() {
    let (_mock, gw) = mock_and_gateway().await;
    let counted: Value = gw
        .post("/v1/messages/count_tokens")
        .json(&json!({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted["input_tokens"], mock::CLAUDE_COUNTED_TOKENS);
    let long = "word ".repeat(400);
    let estimated: Value = gw
        .post("/v1/messages/count_tokens")
        .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": long}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = estimated["input_tokens"].as_u64().unwrap();
    assert!((400..=700).contains(&n), "about a token per word: {n}");
    let missing = gw
        .post("/v1/messages/count_tokens")
        .json(&json!({"model": "nosuch/m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_broken_anthropic_passthrough_stream_ends_with_an_anthropic_error_event() {
    let (_mock, gw) = mock_and_gateway().await;
    let text = gw
        .post("/v1/messages")
        .json(&message("anthropic/break-stream", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert_eq!(
        events.first().map(|(n, _)| n.as_str()),
        Some("message_start"),
        "{text}"
    );
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{text}");
    assert_eq!(data["type"], "error");
    assert_eq!(data["error"]["type"], "api_error");
    let rows = gw.usage(1).await;
    assert_eq!(rows[0]["status"], 502);
}
