//! Black-box tests of request shaping: the global system prompt and the thinking-budget modes, as the upstream receives them.

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, mock_config};
use serde_json::{Value, json};

const PROMPT: &str = "Always answer in French.";

async fn setup(settings: Value) -> (MockUpstream, TestGateway) {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    gw.patch_settings(settings).await;
    (mock, gw)
}

/// POSTs `body` to `path` and expects a 200.
async fn send(gw: &TestGateway, path: &str, body: Value) {
    let response = gw.post(path).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
}

/// The body the upstream received last.
fn last_sent(mock: &MockUpstream) -> Value {
    mock.received()
        .last()
        .expect("a request reached the mock")
        .body
        .clone()
}

#[tokio::test]
async fn the_system_prompt_comes_first_for_an_openai_upstream() {
    let (mock, gw) = setup(json!({"system_prompt": PROMPT})).await;
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(
        last_sent(&mock)["messages"],
        json!([{"role": "system", "content": PROMPT}, {"role": "user", "content": "Say hello"}])
    );

    // The caller's own system prompt follows, in the same message.
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "openai/gpt-4.1", "messages": [
            {"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]}),
    )
    .await;
    let sent = last_sent(&mock);
    assert_eq!(
        sent["messages"][0],
        json!({"role": "developer", "content": format!("{PROMPT}\n\nBe brief.")})
    );
    assert_eq!(sent["messages"].as_array().unwrap().len(), 2);

    // The same through the process-level log the Python suites read.
    let log: Value = gw
        .http
        .get(format!("http://{}/_mock/received", mock.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["body"]["messages"][0]["content"], PROMPT);
}

#[tokio::test]
async fn the_system_prompt_comes_first_for_an_anthropic_upstream() {
    let (mock, gw) = setup(json!({"system_prompt": PROMPT})).await;
    // Same format: Claude Code's block system.
    send(
        &gw,
        "/v1/messages",
        json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 1024,
               "system": [{"type": "text", "text": "You are Claude Code."}],
               "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(
        last_sent(&mock)["system"],
        json!([{"type": "text", "text": PROMPT}, {"type": "text", "text": "You are Claude Code."}])
    );

    // Translated from OpenAI Chat.
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "anthropic/claude-sonnet-4-5", "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(last_sent(&mock)["system"], format!("{PROMPT}\n\nBe brief."));
}

#[tokio::test]
async fn the_system_prompt_comes_first_for_responses_and_gemini_upstreams() {
    let (mock, gw) = setup(json!({"system_prompt": PROMPT})).await;
    send(
        &gw,
        "/v1/responses",
        json!({"model": "openai-responses/gpt-5", "instructions": "Be brief.", "input": "Say hello"}),
    )
    .await;
    assert_eq!(
        last_sent(&mock)["instructions"],
        format!("{PROMPT}\n\nBe brief.")
    );

    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "gemini/gemini-2.5-flash", "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(
        last_sent(&mock)["systemInstruction"]["parts"][0]["text"],
        PROMPT
    );
}

#[tokio::test]
async fn no_system_prompt_setting_changes_nothing() {
    let (mock, gw) = setup(json!({"system_prompt": ""})).await;
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(
        last_sent(&mock)["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
}

#[tokio::test]
async fn custom_thinking_gives_claude_exactly_the_configured_budget() {
    let (mock, gw) =
        setup(json!({"thinking_mode": "custom", "thinking_budget_tokens": 4096})).await;
    let message = |max_tokens: u64, thinking: Option<Value>| {
        let mut body = json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": max_tokens,
                              "messages": [{"role": "user", "content": "Think, then say hello"}]});
        if let Some(thinking) = thinking {
            body["thinking"] = thinking;
        }
        body
    };
    send(
        &gw,
        "/v1/messages",
        message(
            8000,
            Some(json!({"type": "enabled", "budget_tokens": 2000})),
        ),
    )
    .await;
    let sent = last_sent(&mock);
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
    assert_eq!(sent["max_tokens"], 8000, "the budget fits: max_tokens kept");

    // max_tokens too small for the budget is raised to budget + 1024.
    send(
        &gw,
        "/v1/messages",
        message(
            3000,
            Some(json!({"type": "enabled", "budget_tokens": 2000})),
        ),
    )
    .await;
    let sent = last_sent(&mock);
    assert_eq!(sent["thinking"]["budget_tokens"], 4096);
    assert_eq!(sent["max_tokens"], 4096 + 1024);

    // A request that does not ask for thinking is not made to think.
    send(&gw, "/v1/messages", message(3000, None)).await;
    let sent = last_sent(&mock);
    assert!(sent.get("thinking").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 3000);

    // Translated from OpenAI Chat: the effort becomes the configured budget.
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "anthropic/claude-sonnet-4-5", "reasoning_effort": "high", "max_tokens": 30000,
               "messages": [{"role": "user", "content": "Think, then say hello"}]}),
    )
    .await;
    assert_eq!(last_sent(&mock)["thinking"]["budget_tokens"], 4096);
}

#[tokio::test]
async fn custom_thinking_sets_an_openai_effort() {
    let (mock, gw) =
        setup(json!({"thinking_mode": "custom", "thinking_budget_tokens": 30000})).await;
    send(
        &gw,
        "/v1/chat/completions",
        json!({"model": "openai/o4-mini", "reasoning_effort": "low",
               "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(last_sent(&mock)["reasoning_effort"], "high");
}
