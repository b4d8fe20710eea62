//! Black-box tests of the OpenAI-compatible data plane against a mock OpenAI upstream.

use std::time::Instant;

use futures_util::StreamExt;
use omniroute_tests::mock::{self, MockUpstream};
use omniroute_tests::{TEST_KEY, TestGateway, mock_and_gateway, mock_config};
use serde_json::{Value, json};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        ct.starts_with("application/json"),
        "error content-type {ct}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, body)
}

#[tokio::test]
async fn non_stream_completion_is_forwarded_with_model_and_key_rewritten() {
    let (mock, gw) = mock_and_gateway().await;
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat("openai/gpt-4.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");
    assert_eq!(body["usage"]["prompt_tokens"], mock::PROMPT_TOKENS);

    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "gpt-4.1", "prefix stripped");
    assert_eq!(received[0].body["messages"][0]["content"], "Say hello");
    assert_eq!(
        received[0].body.get("stream"),
        None,
        "no stream field invented"
    );
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer sk-upstream-openai")
    );
}

#[tokio::test]
async fn usage_is_recorded_with_tokens_and_catalog_cost() {
    let (_mock, gw) = mock_and_gateway().await;
    gw.post("/v1/chat/completions")
        .json(&chat("openai/gpt-4.1"))
        .send()
        .await
        .unwrap();
    let rows = gw.usage(1).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["requested_model"], "openai/gpt-4.1");
    assert_eq!(r["provider"], "openai");
    assert_eq!(r["upstream_model"], "gpt-4.1");
    assert_eq!(r["inbound_format"], "openai");
    assert_eq!(r["status"], 200);
    assert_eq!(r["stream"], false);
    assert_eq!(r["input_tokens"], mock::PROMPT_TOKENS);
    assert_eq!(r["output_tokens"], mock::COMPLETION_TOKENS);
    assert_eq!(r["cached_tokens"], mock::CACHED_TOKENS);
    assert_eq!(r["reasoning_tokens"], mock::REASONING_TOKENS);
    assert!(r["api_key_id"].as_i64().is_some());
    assert!(r["connection_id"].as_i64().is_some());
    // gpt-4.1 has a catalog price, so the cost is positive.
    assert!(r["cost"].as_f64().unwrap() > 0.0, "{r}");
}

#[tokio::test]
async fn stream_chunks_arrive_as_the_upstream_sends_them() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/slow-stream");
    body["stream"] = json!(true);
    let started = Instant::now();
    let response = gw
        .post("/v1/chat/completions")
        .json(&body)
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
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push(started.elapsed());
        all.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(all).unwrap();
    // The upstream waits 300 ms before each of its 6 frames. Had the gateway
    // buffered, everything would arrive at once at the end.
    assert!(
        arrivals.len() >= 4,
        "only {} reads: {arrivals:?}",
        arrivals.len()
    );
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        spread >= mock::SLOW_GAP * 3,
        "chunks came together: {arrivals:?}"
    );
    assert!(text.contains("\"content\":\"Hello\""));
    assert!(text.trim_end().ends_with("data: [DONE]"));
    // Usage was requested upstream for counting, but the caller did not ask
    // for it, so the usage-only chunk is not forwarded.
    assert!(!text.contains("\"choices\":[]"), "{text}");
}

#[tokio::test]
async fn stream_usage_is_counted_and_forwarded_when_asked() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = chat("openai/gpt-4.1");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = gw
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"choices\":[]"),
        "usage chunk forwarded: {text}"
    );
    assert_eq!(
        mock.received()[0].body["stream_options"]["include_usage"],
        true
    );

    let mut body = chat("openai/gpt-4.1");
    body["stream"] = json!(true);
    gw.post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        mock.received()[1].body["stream_options"]["include_usage"],
        true,
        "asked upstream anyway"
    );

    let rows = gw.usage(2).await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["stream"], true);
        assert_eq!(r["status"], 200);
        assert_eq!(r["input_tokens"], mock::PROMPT_TOKENS, "{r}");
        assert_eq!(r["output_tokens"], mock::COMPLETION_TOKENS);
        assert_eq!(r["cached_tokens"], mock::CACHED_TOKENS);
        assert_eq!(r["reasoning_tokens"], mock::REASONING_TOKENS);
        assert!(r["ttft_ms"].as_u64().is_some());
    }
}

#[tokio::test]
async fn vendor_fields_are_stripped_from_responses_and_chunks() {
    let (_mock, gw) = mock_and_gateway().await;
    let text = gw
        .post("/v1/chat/completions")
        .json(&chat("mock/vendor-fields"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");
    for field in ["x_groq", "service_tier", "usage_breakdown"] {
        assert!(!text.contains(field), "{field} left in {text}");
    }
    let mut stream_body = chat("mock/vendor-fields");
    stream_body["stream"] = json!(true);
    stream_body["stream_options"] = json!({"include_usage": true});
    let text = gw
        .post("/v1/chat/completions")
        .json(&stream_body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"content\":\" mock\""));
    for field in ["x_groq", "service_tier"] {
        assert!(!text.contains(field), "{field} left in {text}");
    }
    let rows = gw.usage(2).await;
    assert!(
        rows.iter()
            .all(|r| r["input_tokens"] == mock::PROMPT_TOKENS),
        "{rows:?}"
    );
}

#[tokio::test]
async fn upstream_errors_keep_their_status_and_message() {
    // One gateway per case: a 401 disables the only connection, and a 429
    // cools it down, so each case needs a fresh one.
    for (model, status, needle) in [
        ("mock/error-400", 400, "temperature"),
        ("mock/error-401", 401, "Incorrect API key"),
        ("mock/error-429", 429, "Rate limit"),
        ("mock/error-500", 500, "server had an error"),
        ("mock/error-502-html", 502, "502 Bad Gateway"),
    ] {
        let (_mock, gw) = mock_and_gateway().await;
        let response = gw
            .post("/v1/chat/completions")
            .json(&chat(model))
            .send()
            .await
            .unwrap();
        let (got, body) = error_of(response).await;
        assert_eq!(got, status, "{model}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{model}: {body}"
        );
        let rows = gw.usage(1).await;
        assert_eq!(rows[0]["status"], status, "{model}");
        assert_eq!(rows[0]["provider"], "mock", "{model}");
        assert!(rows[0]["error"].as_str().is_some(), "{model}");
    }
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/break-stream");
    body["stream"] = json!(true);
    let text = gw
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(event["error"]["code"], "stream_interrupted", "{text}");
    let rows = gw.usage(1).await;
    assert_eq!(rows[0]["status"], 502);
}

#[tokio::test]
async fn an_abandoned_stream_still_gets_its_usage_record() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/slow-stream");
    body["stream"] = json!(true);
    let response = gw
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let rows = gw.usage(1).await;
    assert_eq!(rows.len(), 1, "record written for the abandoned stream");
    assert_eq!(rows[0]["status"], 499);
    assert!(rows[0]["error"].as_str().unwrap().contains("closed"));
}

#[tokio::test]
async fn gateway_errors_are_openai_json_with_the_right_status() {
    let (_mock, gw) = mock_and_gateway().await;
    let url = format!("{}/v1/chat/completions", gw.url);

    let (status, body) = error_of(
        gw.http
            .post(&url)
            .json(&chat("openai/gpt-4.1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = error_of(
        gw.http
            .post(&url)
            .bearer_auth("sk-wrong")
            .json(&chat("openai/gpt-4.1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);

    let bad_json = gw
        .post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(bad_json).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );

    let (status, body) = error_of(
        gw.post("/v1/chat/completions")
            .json(&json!({"messages": []}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("model"))
    );

    let (status, body) = error_of(
        gw.post("/v1/chat/completions")
            .json(&chat("nosuch/model"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    // A catalog provider without any connection.
    let (status, body) = error_of(
        gw.post("/v1/chat/completions")
            .json(&chat("groq/llama-3.3-70b-versatile"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_usable_connection"))
    );

    let big = json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "x".repeat(33 * 1024 * 1024)}]});
    let (status, _) = error_of(
        gw.post("/v1/chat/completions")
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);

    let (status, _) = error_of(gw.get("/v1/nothing-here").send().await.unwrap()).await;
    assert_eq!(status, 404);

    // The gateway is still healthy after all of that.
    let ok = gw
        .post("/v1/chat/completions")
        .json(&chat("openai/gpt-4.1"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let gw = TestGateway::start(&mock_config(&format!("http://127.0.0.1:{port}/v1"))).await;
    let (status, body) = error_of(
        gw.post("/v1/chat/completions")
            .json(&chat("openai/gpt-4.1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot reach")
    );
}

#[tokio::test]
async fn x_api_key_header_and_path_aliases_reach_the_same_handlers() {
    let (_mock, gw) = mock_and_gateway().await;
    for path in [
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/v1/chat/completions",
    ] {
        let response = gw
            .http
            .post(format!("{}{path}", gw.url))
            .header("x-api-key", TEST_KEY)
            .json(&chat("openai/gpt-4.1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    for path in ["/v1/models", "/models", "/v1/v1/models"] {
        let body: Value = gw.get(path).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["object"], "list", "{path}");
    }
}

#[tokio::test]
async fn models_lists_only_providers_with_a_connection() {
    let (_mock, gw) = mock_and_gateway().await;
    let body: Value = gw
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"openai/gpt-4.1"), "{ids:?}");
    assert!(ids.contains(&"mock/gpt-4.1"), "{ids:?}");
    assert!(
        !ids.iter().any(|id| id.starts_with("groq/")),
        "no groq connection: {ids:?}"
    );
    assert!(body["data"][0]["object"] == "model");
    let one: Value = gw
        .get("/v1/models/openai/gpt-4.1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "openai/gpt-4.1");
    let unauthenticated = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn key_model_permissions_are_enforced() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url())
        + "\n[[api_keys]]\nname = \"narrow\"\nkey = \"sk-omni-narrow-key\"\nmodels = [\"mock/*\"]\n";
    let gw = TestGateway::start(&config).await;
    let call = |model: &str| {
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth("sk-omni-narrow-key")
            .json(&chat(model))
            .send()
    };
    assert_eq!(call("mock/gpt-4.1").await.unwrap().status(), 200);
    let (status, body) = error_of(call("openai/gpt-4.1").await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("model_not_allowed"))
    );
}

#[tokio::test]
async fn concurrent_requests_all_succeed_and_are_all_recorded() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let request = gw.post("/v1/chat/completions").json(&json!({
            "model": "openai/gpt-4.1",
            "stream": i % 2 == 0,
            "messages": [{"role": "user", "content": format!("n{i}")}]
        }));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().text().await.unwrap()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().contains("Hello"));
    }
    let rows = gw.usage(64).await;
    assert_eq!(rows.len(), 64);
    assert!(rows.iter().all(|r| r["status"] == 200));
}

#[tokio::test]
async fn a_caller_that_hangs_up_before_the_reply_still_gets_a_record() {
    let (_mock, gw) = mock_and_gateway().await;
    let result = gw
        .post("/v1/chat/completions")
        .json(&chat("mock/slow-reply"))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err(), "the client gave up");
    let rows = gw.usage(1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], 499);
    assert_eq!(rows[0]["provider"], "mock");
}
