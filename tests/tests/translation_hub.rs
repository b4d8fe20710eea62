//! Black-box tests of the translation hub: the Gemini and Responses endpoints, same-format passthrough, errors in the caller's format, and the lessons from other gateways' bugs.

use omniroute_tests::{TEST_KEY, mock_and_gateway};
use serde_json::{Value, json};

fn gemini_body(text: &str) -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": 200, "temperature": 0.2}
    })
}

/// The `data:` payloads of an SSE body, parsed.
fn sse_data(text: &str) -> Vec<Value> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .filter(|d| *d != "[DONE]")
                .and_then(|d| serde_json::from_str(d).ok())
        })
        .collect()
}

/// The `event:` names of an SSE body.
fn sse_events(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_gemini_client_is_served_by_claude_with_a_key_in_the_query() {
    let (mock, gw) = mock_and_gateway().await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/anthropic/claude-sonnet-4-5:generateContent?key={TEST_KEY}",
            gw.url
        ))
        .json(&gemini_body("Say hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Hello from claude mock"
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    assert!(body["usageMetadata"]["promptTokenCount"].as_u64().unwrap() > 0);
    assert!(
        body["usageMetadata"]["cachedContentTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
    let sent = &mock.received()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert_eq!(sent.body["system"], "Be brief.");
    assert_eq!(sent.body["max_tokens"], 200);
}

#[tokio::test]
async fn a_gemini_stream_with_an_encoded_model_name_is_served_by_openai() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1beta/models/openai%2Fgpt-4.1:streamGenerateContent?alt=sse")
        .header("x-goog-api-key", TEST_KEY)
        .json(&gemini_body("Say hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let chunks = sse_data(&text);
    let answer: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(answer, "Hello from mock");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(
        last["usageMetadata"]["candidatesTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(mock.received()[0].body["model"], "gpt-4.1");
    assert_eq!(mock.received()[0].body["stream"], true);
}

#[tokio::test]
async fn the_google_genai_default_path_and_the_openai_model_lookup_share_v1_models() {
    let (_mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/models/anthropic/claude-sonnet-4-5:generateContent")
        .json(&gemini_body("Say hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "Hello from claude mock"
    );
    let lookup: Value = gw.get_json("/v1/models/openai/gpt-4.1").await;
    assert_eq!(lookup["object"], "model");
}

#[tokio::test]
async fn gemini_lists_models_and_answers_errors_in_its_own_format() {
    let (_mock, gw) = mock_and_gateway().await;
    let list: Value = gw.get_json("/v1beta/models").await;
    let names: Vec<&str> = list["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"models/anthropic/claude-sonnet-4-5"),
        "{names:?}"
    );
    assert!(
        names.contains(&"models/gemini/gemini-2.5-flash"),
        "{names:?}"
    );

    let unauthenticated = reqwest::Client::new()
        .post(format!(
            "{}/v1beta/models/openai/gpt-4.1:generateContent",
            gw.url
        ))
        .json(&gemini_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let body: Value = unauthenticated.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let limited = gw
        .post("/v1beta/models/openai/error-429:generateContent")
        .json(&gemini_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");

    let unknown = gw
        .post("/v1beta/models/nobody/nothing:generateContent")
        .json(&gemini_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn a_gemini_request_for_gemini_is_forwarded_untouched() {
    let (mock, gw) = mock_and_gateway().await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Say hello", "thoughtSignature": "keep-me"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true}},
        "futureField": {"anything": [1, 2, 3]}
    });
    let response = gw
        .post("/v1beta/models/gemini/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("Hello"), "{text}");
    let sent = &mock.received()[0];
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(sent.body, body, "same format: the body is not rewritten");
    let usage = gw.usage(1).await;
    assert_eq!(usage[0]["provider"], "gemini");
    assert!(usage[0]["input_tokens"].as_u64().unwrap() > 0, "{usage:?}");
}

fn responses_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}],
        "stream": stream,
        "store": false
    })
}

#[tokio::test]
async fn a_responses_client_is_served_by_claude() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/responses")
        .json(&responses_body("anthropic/claude-sonnet-4-5", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    let message = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "message")
        .unwrap();
    assert_eq!(message["content"][0]["type"], "output_text");
    assert_eq!(message["content"][0]["text"], "Hello from claude mock");
    assert!(
        body["usage"]["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(mock.received()[0].body["system"], "Be brief.");
}

#[tokio::test]
async fn a_responses_stream_from_gemini_has_the_full_event_lifecycle() {
    let (_mock, gw) = mock_and_gateway().await;
    let text = gw
        .post_text(
            "/v1/responses",
            &responses_body("gemini/gemini-2.5-flash", true),
        )
        .await;
    let events = sse_events(&text);
    assert_eq!(events.first().map(String::as_str), Some("response.created"));
    assert_eq!(
        events.last().map(String::as_str),
        Some("response.completed")
    );
    for needed in [
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
    ] {
        assert!(events.iter().any(|e| e == needed), "{needed} in {events:?}");
    }
    let data = sse_data(&text);
    let numbers: Vec<u64> = data
        .iter()
        .filter_map(|d| d["sequence_number"].as_u64())
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] > w[0]), "{numbers:?}");
    let answer: String = data
        .iter()
        .filter(|d| d["type"] == "response.output_text.delta")
        .filter_map(|d| d["delta"].as_str())
        .collect();
    assert_eq!(answer, "Hello from gemini mock");
}

#[tokio::test]
async fn a_responses_request_for_a_responses_upstream_keeps_everything_but_the_model() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = responses_body("openai-responses/gpt-5", false);
    body["input"].as_array_mut().unwrap().push(
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"}),
    );
    body["prompt_cache_key"] = json!("session-1");
    let response = gw.post("/v1/responses").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut sent = mock.received()[0].body.clone();
    assert_eq!(sent["model"], "gpt-5");
    sent["model"] = body["model"].clone();
    assert_eq!(sent, body);
}

#[tokio::test]
async fn previous_response_id_is_refused_clearly() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut body = responses_body("anthropic/claude-sonnet-4-5", false);
    body["previous_response_id"] = json!("resp_123");
    let response = gw.post("/v1/responses").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("previous_response_id"),
        "{body}"
    );
}

#[tokio::test]
async fn an_upstream_failure_event_is_an_error_for_the_caller_never_an_empty_200() {
    let (_mock, gw) = mock_and_gateway().await;
    // Responses upstream -> Chat caller, non-stream: the failure is an error status.
    let response = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "openai-responses/stream-error",
            "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error() || response.status().is_server_error());
    // Streamed: the caller's stream ends with a well-formed error event.
    let text = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "openai-responses/stream-error", "stream": true,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    let last = sse_data(&text).pop().unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    // Anthropic caller, Responses upstream: an Anthropic error event.
    let text = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "openai-responses/stream-error", "stream": true,
            "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(
        sse_events(&text).last().map(String::as_str),
        Some("error"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stream_that_loses_its_terminal_event_is_closed_for_every_caller() {
    let (_mock, gw) = mock_and_gateway().await;
    let chat = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "anthropic/no-terminal", "stream": true,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert!(chat.trim_end().ends_with("data: [DONE]"), "{chat}");
    assert!(chat.contains("\"finish_reason\":\"stop\""), "{chat}");
    let messages = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "gemini/no-terminal", "stream": true, "max_tokens": 50,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(
        sse_events(&messages).last().map(String::as_str),
        Some("message_stop")
    );
    let responses = gw
        .post_text(
            "/v1/responses",
            &json!({"model": "openai/no-terminal", "stream": true, "input": "x"}),
        )
        .await;
    assert_eq!(
        sse_events(&responses).last().map(String::as_str),
        Some("response.completed")
    );
}

#[tokio::test]
async fn max_tokens_beyond_the_model_cap_is_clamped_not_refused() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/chat/completions")
        .json(
            &json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 1_000_000,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.received()[0].body["max_tokens"], 64000);
}

#[tokio::test]
async fn openai_gets_max_completion_tokens_and_no_foreign_reasoning() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/messages")
        .json(&json!({"model": "openai/gpt-4.1", "max_tokens": 500,
            "messages": [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "secret", "signature": "sig-claude"},
                    {"type": "text", "text": "Hello"}]},
                {"role": "user", "content": "Again"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sent = &mock.received()[0].body;
    assert_eq!(sent["max_completion_tokens"], 500);
    assert!(sent.get("max_tokens").is_none(), "{sent}");
    let text = sent.to_string();
    assert!(
        !text.contains("secret") && !text.contains("sig-claude"),
        "{text}"
    );
}

#[tokio::test]
async fn empty_tool_names_are_refused_in_the_callers_format() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/messages")
        .json(&json!({"model": "openai/gpt-4.1", "max_tokens": 50,
            "tools": [{"name": "", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert!(mock.received().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn think_tags_from_an_openai_upstream_become_reasoning() {
    let (_mock, gw) = mock_and_gateway().await;
    // A Responses caller gets the reasoning as a reasoning item.
    let text = gw
        .post_text(
            "/v1/responses",
            &json!({"model": "openai/think-tags", "stream": true, "input": "x"}),
        )
        .await;
    let data = sse_data(&text);
    let joined = |kind: &str| -> String {
        data.iter()
            .filter(|d| d["type"] == kind)
            .filter_map(|d| d["delta"].as_str())
            .collect()
    };
    assert_eq!(
        joined("response.reasoning_summary_text.delta"),
        "Let me think."
    );
    assert_eq!(joined("response.output_text.delta"), "Hello from mock");
    // A Claude caller gets the answer without the tags, and no thinking
    // block: Claude clients send thinking back, and it has no signature.
    let text = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "openai/think-tags", "stream": true, "max_tokens": 100,
                "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    let answer: String = sse_data(&text)
        .iter()
        .filter(|d| d["delta"]["type"] == "text_delta")
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(answer, "Hello from mock");
    assert!(
        !text.contains("thinking") && !text.contains("signature"),
        "{text}"
    );
}

#[tokio::test]
async fn the_translate_api_converts_requests_and_responses() {
    let (_mock, gw) = mock_and_gateway().await;
    let request = gw
        .post("/api/translate")
        .json(&json!({"from": "openai", "to": "gemini", "kind": "request", "body": {
            "model": "x", "max_tokens": 50,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(request.status(), 200);
    let body: Value = request.json().await.unwrap();
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(body["contents"][0]["parts"][0]["text"], "Hi");
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );

    let response = gw
        .post("/api/translate")
        .json(
            &json!({"from": "anthropic", "to": "responses", "kind": "response", "body": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": "Hi there"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 2}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["usage"]["output_tokens"], 2);

    let bad = gw
        .post("/api/translate")
        .json(&json!({"from": "openai", "to": "klingon", "kind": "request", "body": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
