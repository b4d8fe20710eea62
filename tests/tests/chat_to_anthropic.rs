//! Black-box tests of OpenAI Chat Completions callers served by an Anthropic Messages upstream.

use omniroute_tests::mock::{self};
use omniroute_tests::mock_and_gateway;
use serde_json::{Value, json};

fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    })
}

#[tokio::test]
async fn a_completion_is_answered_by_claude() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = chat("anthropic/claude-sonnet-4-5", false);
    body.as_object_mut().unwrap().remove("stream_options");
    let response = gw
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from claude mock"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let input = mock::CLAUDE_INPUT_TOKENS + mock::CLAUDE_CACHE_READ_TOKENS;
    assert_eq!(body["usage"]["prompt_tokens"], input);
    assert_eq!(
        body["usage"]["prompt_tokens_details"]["cached_tokens"],
        mock::CLAUDE_CACHE_READ_TOKENS
    );

    let sent = &mock.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(
        sent.body["system"], "Be brief.",
        "developer role became the system prompt"
    );
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}])
    );
    assert!(
        sent.body["max_tokens"].as_u64().is_some(),
        "Anthropic requires max_tokens"
    );
}

#[tokio::test]
async fn a_streamed_completion_is_answered_by_claude_in_openai_chunks() {
    let (_mock, gw) = mock_and_gateway().await;
    let text = gw
        .post("/v1/chat/completions")
        .json(&chat("anthropic/claude-sonnet-4-5", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let payloads: Vec<&str> = text
        .split("\n\n")
        .filter_map(|f| f.strip_prefix("data: "))
        .collect();
    assert_eq!(payloads.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = payloads
        .iter()
        .filter(|p| **p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from claude mock");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], mock::CLAUDE_OUTPUT_TOKENS);
    let rows = gw.usage(1).await;
    assert_eq!(
        (rows[0]["provider"].as_str(), rows[0]["status"].as_u64()),
        (Some("anthropic"), Some(200))
    );
    assert_eq!(rows[0]["output_tokens"], mock::CLAUDE_OUTPUT_TOKENS);
}

#[tokio::test]
async fn claude_errors_come_back_as_openai_errors() {
    let (_mock, gw) = mock_and_gateway().await;
    // The broken stream first: the 429 below cools the only connection down.
    let text = gw
        .post("/v1/chat/completions")
        .json(&chat("anthropic/break-stream", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["error"]["code"], "stream_interrupted", "{text}");

    let response = gw
        .post("/v1/chat/completions")
        .json(&chat("anthropic/error-429", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{body}"
    );
}
