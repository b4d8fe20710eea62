//! End-to-end fallback through combos and accounts, one scripted failure per test: what the caller gets, which upstream accounts were called, and what the usage records say.

use std::time::{Duration, Instant};

use omniroute_tests::mock::{self, MockUpstream, Step};
use omniroute_tests::{TEST_KEY, TestGateway, assert_billed_once, hops_of as hops, parse_sse};
use serde_json::{Value, json};

/// Upstream keys: each names one account on the mock.
const OPENAI_A: &str = "sk-fb-openai-a";
const OPENAI_B: &str = "sk-fb-openai-b";
const CLAUDE: &str = "sk-fb-claude";
const GLM: &str = "sk-fb-glm";

/// Two OpenAI accounts (a before b), one Anthropic and one GLM account, and
/// combos over them:
/// - `accounts`: OpenAI (two accounts), then Claude;
/// - `solo`: GLM (one account), then Claude;
/// - `claude-first`: Claude, then OpenAI;
/// - `tiers`: OpenAI (api-key tier), then GLM (cheap tier).
fn config(mock_url: &str) -> String {
    format!(
        r#"
[[connections]]
provider = "openai"
name = "openai-a"
api_key = "{OPENAI_A}"
base_url = "{mock_url}"
priority = 1

[[connections]]
provider = "openai"
name = "openai-b"
api_key = "{OPENAI_B}"
base_url = "{mock_url}"
priority = 2

[[connections]]
provider = "anthropic"
name = "claude"
api_key = "{CLAUDE}"
base_url = "{mock_url}"

[[connections]]
provider = "glm"
name = "glm"
api_key = "{GLM}"
base_url = "{mock_url}"

[[combos]]
name = "accounts"
strategy = "fill-first"
models = ["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"]

[[combos]]
name = "solo"
strategy = "fill-first"
models = ["glm/glm-5.2", "anthropic/claude-sonnet-4-5"]

[[combos]]
name = "claude-first"
strategy = "fill-first"
models = ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]

[[combos]]
name = "tiers"
strategy = "fill-first"
models = ["openai/gpt-4.1", "glm/glm-5.2"]

[[api_keys]]
name = "ci"
key = "{TEST_KEY}"
models = ["*"]
"#
    )
}

struct Fixture {
    mock: MockUpstream,
    gw: TestGateway,
    openai_a: i64,
    openai_b: i64,
    claude: i64,
    glm: i64,
}

/// A gateway with small timeouts: backoff from 10 ms, 1 s to the response
/// headers and to a stream's first event, breakers cooling 1 s.
async fn setup() -> Fixture {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&config(&mock.base_url())).await;
    gw.patch_settings(json!({
        "retry_base_ms": 10,
        "upstream_timeout_secs": 1,
        "stream_ready_timeout_secs": 1,
        "breaker_cooldown_secs": 1
    }))
    .await;
    Fixture {
        openai_a: gw.connection_id("openai-a").await,
        openai_b: gw.connection_id("openai-b").await,
        claude: gw.connection_id("claude").await,
        glm: gw.connection_id("glm").await,
        mock,
        gw,
    }
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Sends a Chat Completions request; the status and the whole body.
async fn send(gw: &TestGateway, body: &Value) -> (u16, String) {
    let response = gw
        .post("/v1/chat/completions")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A non-stream request that must succeed; the answer's text.
async fn answer(gw: &TestGateway, model: &str) -> String {
    let (status, text) = send(gw, &chat(model, false)).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The text a Chat Completions stream carried in its content deltas.
fn streamed_text(sse: &str) -> String {
    parse_sse(sse)
        .iter()
        .filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// The error texts of a row's hops, lower-cased.
fn hop_errors(row: &Value) -> Vec<String> {
    row["hops"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| h["error"].as_str().unwrap_or_default().to_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// The states of the breakers `/api/health` lists for `provider`.
fn breaker_states(health: &Value, provider: &str) -> Vec<String> {
    health["routing"]["breakers"]
        .as_array()
        .unwrap_or_else(|| panic!("routing.breakers missing: {health}"))
        .iter()
        .filter(|b| b["provider"] == provider)
        .map(|b| b["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_rate_limit_moves_to_the_next_account_and_cools_the_first() {
    let f = setup().await;
    f.mock.script(OPENAI_A, [Step::rate_limited(1)]);

    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(
        (
            f.mock.calls_with_key(OPENAI_A),
            f.mock.calls_with_key(OPENAI_B)
        ),
        (1, 1)
    );
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    assert_eq!(
        hops(&rows[0]),
        [("openai".to_string(), Some(f.openai_a), Some(429))]
    );

    // While it cools down the first account is skipped without a call.
    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 1, "cooling account called");
    let rows = f.gw.usage_exactly(2).await;
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    assert_eq!(
        hops(&rows[0]),
        [("openai".to_string(), Some(f.openai_a), None)],
        "the skip is a hop without a status"
    );

    // Retry-After: 1 has passed: the first account serves again.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(
        (
            f.mock.calls_with_key(OPENAI_A),
            f.mock.calls_with_key(OPENAI_B)
        ),
        (2, 2)
    );
    let rows = f.gw.usage_exactly(3).await;
    assert_eq!(rows[0]["connection_id"], f.openai_a);
    assert!(hops(&rows[0]).is_empty(), "{}", rows[0]);
    assert_billed_once(&rows);
}

#[tokio::test]
async fn server_errors_are_retried_then_the_next_combo_entry_answers() {
    let f = setup().await;
    f.mock
        .script(GLM, std::iter::repeat_n(Step::status(500), 3));

    assert_eq!(answer(&f.gw, "solo").await, mock::CLAUDE_TEXT);
    // retry_attempts is 2: one call and two retries on the same account.
    assert_eq!(f.mock.calls_with_key(GLM), 3);
    assert_eq!(f.mock.calls_with_key(CLAUDE), 1);
    let rows = f.gw.usage_exactly(1).await;
    let row = &rows[0];
    assert_eq!(row["status"], 200);
    assert_eq!(row["provider"], "anthropic");
    assert_eq!(row["connection_id"], f.claude);
    let hops = hops(row);
    assert!(!hops.is_empty(), "{row}");
    assert!(
        hops.iter()
            .all(|h| *h == ("glm".to_string(), Some(f.glm), Some(500))),
        "{row}"
    );
    assert!(row["cost"].as_f64().unwrap() > 0.0);
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_response_header_timeout_falls_back() {
    let f = setup().await;
    // Slower than upstream_timeout_secs (1 s) on every attempt.
    f.mock
        .script(OPENAI_A, std::iter::repeat_n(Step::delay(2500), 3));
    let started = Instant::now();
    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        f.mock.calls_with_key(OPENAI_A),
        3,
        "a timeout is retried on the same account"
    );
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 1);
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    let hops = hops(&rows[0]);
    assert!(!hops.is_empty());
    assert!(
        hops.iter()
            .all(|h| *h == ("openai".to_string(), Some(f.openai_a), None)),
        "a timeout has no upstream status: {}",
        rows[0]
    );
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_connection_reset_before_the_first_byte_falls_back() {
    let f = setup().await;
    f.mock
        .script(OPENAI_A, std::iter::repeat_n(Step::reset(), 3));
    let (status, text) = send(&f.gw, &chat("accounts", true)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(streamed_text(&text), mock::OPENAI_TEXT, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 3);
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 1);
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    let hops = hops(&rows[0]);
    assert!(!hops.is_empty());
    assert!(
        hops.iter()
            .all(|h| *h == ("openai".to_string(), Some(f.openai_a), None))
    );
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_stream_broken_after_its_first_events_ends_with_an_openai_error_event() {
    let f = setup().await;
    f.mock.script(OPENAI_A, [Step::break_after(2)]);
    let (status, text) = send(&f.gw, &chat("accounts", true)).await;
    assert_eq!(status, 200, "the stream had started: {text}");
    let events = parse_sse(&text);
    assert_eq!(streamed_text(&text), "Hello", "the first events arrived");
    let (_, last) = events.last().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "ends with an OpenAI error event: {text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    // Bytes had reached the caller: no retry, no fallback.
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 1);
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 0);
    assert_eq!(f.mock.calls_with_key(CLAUDE), 0);
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 502);
    assert_eq!(rows[0]["connection_id"], f.openai_a);
    assert!(hops(&rows[0]).is_empty());
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_stream_broken_after_its_first_events_ends_with_an_anthropic_error_event() {
    let f = setup().await;
    // message_start, content_block_start, ping, the first text delta.
    f.mock.script(CLAUDE, [Step::break_after(4)]);
    let text =
        f.gw.post_text(
            "/v1/messages",
            &json!({"model": "claude-first", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "Say hello"}]}),
        )
        .await;
    let events = parse_sse(&text);
    assert_eq!(
        events.first().map(|(name, _)| name.as_str()),
        Some("message_start"),
        "{text}"
    );
    assert!(text.contains("Hello"), "{text}");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{text}");
    assert_eq!(data["type"], "error");
    assert!(data["error"]["type"].as_str().is_some(), "{text}");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"), "{text}");
    assert_eq!(f.mock.calls_with_key(CLAUDE), 1);
    assert_eq!(
        f.mock.calls_with_key(OPENAI_A),
        0,
        "no fallback after bytes"
    );
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 502);
    assert_eq!(rows[0]["inbound_format"], "anthropic");
    assert_eq!(rows[0]["connection_id"], f.claude);
    assert!(hops(&rows[0]).is_empty());
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_silent_stream_falls_back() {
    let f = setup().await;
    // Enough silent answers for every retry the gateway may make.
    f.mock
        .script(OPENAI_A, std::iter::repeat_n(Step::silent_stream(), 3));
    let started = Instant::now();
    let (status, text) = send(&f.gw, &chat("accounts", true)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "stream_ready_timeout_secs"
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(streamed_text(&text), mock::OPENAI_TEXT, "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    let silent_calls = f.mock.calls_with_key(OPENAI_A);
    assert!((1..=3).contains(&silent_calls), "{silent_calls}");
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 1);
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    let hops = hops(&rows[0]);
    assert!(!hops.is_empty());
    assert!(hops.iter().all(|h| h.1 == Some(f.openai_a)), "{}", rows[0]);
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_breaker_opens_after_failures_and_lets_one_probe_through_after_its_cooldown() {
    let f = setup().await;
    f.gw.patch_settings(json!({
        "breaker_failure_threshold": 3,
        "breaker_window_secs": 60,
        "retry_attempts": 0,
        "upstream_timeout_secs": 5
    }))
    .await;
    // Three failures, then a slow success (within the 5 s header timeout):
    // the probe stays in flight a while.
    f.mock.script(
        GLM,
        [
            Step::status(500),
            Step::status(500),
            Step::status(500),
            Step::delay(1500),
        ],
    );
    for _ in 0..3 {
        assert_eq!(answer(&f.gw, "solo").await, mock::CLAUDE_TEXT);
    }
    assert_eq!(f.mock.calls_with_key(GLM), 3);
    let health = f.gw.health().await;
    assert!(
        breaker_states(&health, "glm").iter().any(|s| s == "open"),
        "{health}"
    );
    assert_eq!(health["status"], "degraded");

    // Open: skipped without a call.
    assert_eq!(answer(&f.gw, "solo").await, mock::CLAUDE_TEXT);
    assert_eq!(
        f.mock.calls_with_key(GLM),
        3,
        "an open breaker lets nothing through"
    );
    let rows = f.gw.usage_exactly(4).await;
    assert_eq!(rows[0]["connection_id"], f.claude);
    // A strategy may put an unhealthy entry after the healthy ones, so the
    // skip is listed only if it came before the answer; never as a call.
    assert!(
        hops(&rows[0])
            .iter()
            .all(|h| h.0 == "glm" && h.2.is_none() && h.1.is_none_or(|id| id == f.glm)),
        "only a skip of the GLM entry: {}",
        rows[0]
    );

    // After the cooldown exactly one probe reaches the upstream.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let probe = {
        let gw_url = f.gw.url.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{gw_url}/v1/chat/completions"))
                .bearer_auth(TEST_KEY)
                .json(&chat("solo", false))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(f.mock.calls_with_key(GLM), 4, "the probe is in flight");
    let health = f.gw.health().await;
    assert!(
        breaker_states(&health, "glm")
            .iter()
            .any(|s| s == "half-open"),
        "{health}"
    );
    let (a, b) = tokio::join!(answer(&f.gw, "solo"), answer(&f.gw, "solo"));
    assert_eq!(
        (a.as_str(), b.as_str()),
        (mock::CLAUDE_TEXT, mock::CLAUDE_TEXT)
    );
    let probed = probe.await.unwrap();
    assert_eq!(
        probed["choices"][0]["message"]["content"],
        mock::OPENAI_TEXT
    );
    assert_eq!(f.mock.calls_with_key(GLM), 4, "exactly one probe");

    // The probe succeeded: closed again, the first entry serves.
    let health = f.gw.health().await;
    assert!(
        breaker_states(&health, "glm").iter().all(|s| s == "closed"),
        "{health}"
    );
    assert_eq!(answer(&f.gw, "solo").await, mock::OPENAI_TEXT);
    assert_eq!(f.mock.calls_with_key(GLM), 5);
    let rows = f.gw.usage_exactly(8).await;
    assert_eq!(rows[0]["connection_id"], f.glm);
    assert!(hops(&rows[0]).is_empty());
    let glm_answers = rows.iter().filter(|r| r["provider"] == "glm").count();
    assert_eq!(glm_answers, 2, "the probe and the last request");
    assert_billed_once(&rows);
}

#[tokio::test]
async fn an_auth_failure_disables_the_connection_and_the_state_survives_a_restart() {
    let f = setup().await;
    f.mock.script(OPENAI_A, [Step::status(401)]);
    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 1);
    let connection = f.gw.connection(f.openai_a).await;
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(
        hops(&rows[0]),
        [("openai".to_string(), Some(f.openai_a), Some(401))]
    );

    assert_eq!(answer(&f.gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(
        f.mock.calls_with_key(OPENAI_A),
        1,
        "a disabled account is not called"
    );
    let rows = f.gw.usage_exactly(2).await;
    assert_eq!(rows[0]["connection_id"], f.openai_b);
    assert_billed_once(&rows);

    // The same data dir and config file: still disabled.
    let data_dir = f.gw.stop().await;
    let gw = TestGateway::start_in(data_dir, &config(&f.mock.base_url())).await;
    let connection = gw.connection(f.openai_a).await;
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    assert_eq!(answer(&gw, "accounts").await, mock::OPENAI_TEXT);
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 1);
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 3);
    gw.usage_exactly(3).await;
}

#[tokio::test]
async fn a_plain_bad_request_goes_back_to_the_caller_unchanged() {
    let f = setup().await;
    let upstream_error = json!({"error": {
        "message": "Invalid value for 'temperature': must be <= 2.",
        "type": "invalid_request_error", "param": "temperature", "code": null}});
    f.mock
        .script(OPENAI_A, [Step::status(400).body(upstream_error.clone())]);
    let (status, text) = send(&f.gw, &chat("accounts", false)).await;
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["message"], upstream_error["error"]["message"]);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 1, "one call");
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 0, "no other account");
    assert_eq!(f.mock.calls_with_key(CLAUDE), 0, "no other combo entry");
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 400);
    assert_eq!(rows[0]["connection_id"], f.openai_a);
    assert!(hops(&rows[0]).is_empty());
    assert_billed_once(&rows);
}

#[tokio::test]
async fn a_context_length_error_falls_back() {
    let f = setup().await;
    f.mock.script(
        OPENAI_A,
        [Step::status(400).body(json!({"error": {
            "message": "This model's maximum context length is 1047576 tokens. However, your messages resulted in 1200000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}))],
    );
    let (status, text) = send(&f.gw, &chat("accounts", false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(f.mock.calls_with_key(OPENAI_A), 1);
    assert_eq!(
        f.mock.calls_with_key(OPENAI_B) + f.mock.calls_with_key(CLAUDE),
        1,
        "one other candidate answered"
    );
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 200);
    assert_ne!(rows[0]["connection_id"], f.openai_a);
    assert_eq!(
        hops(&rows[0]).first(),
        Some(&("openai".to_string(), Some(f.openai_a), Some(400)))
    );
    assert_billed_once(&rows);
}

#[tokio::test]
async fn an_exceeded_budget_makes_routing_skip_its_tier() {
    let f = setup().await;
    let events = f.gw.events().await;
    // gpt-4.1 costs about $0.000058 per mock answer: the second one crosses it.
    f.gw.patch_settings(json!({"budgets": [{"scope": "tier:api-key", "daily_usd": 0.0001}]}))
        .await;
    assert_eq!(answer(&f.gw, "tiers").await, mock::OPENAI_TEXT);
    let rows = f.gw.usage_exactly(1).await;
    assert_eq!(rows[0]["tier"], "api-key");
    assert!(rows[0]["cost"].as_f64().unwrap() < 0.0001);
    assert_eq!(answer(&f.gw, "tiers").await, mock::OPENAI_TEXT);
    let rows = f.gw.usage_exactly(2).await;
    let spent: f64 = rows.iter().map(|r| r["cost"].as_f64().unwrap()).sum();
    assert!(spent >= 0.0001, "the budget is spent: {spent}");

    assert_eq!(answer(&f.gw, "tiers").await, mock::OPENAI_TEXT);
    assert_eq!(
        f.mock.calls_with_key(OPENAI_A),
        2,
        "the api-key tier is skipped"
    );
    assert_eq!(f.mock.calls_with_key(OPENAI_B), 0);
    assert_eq!(f.mock.calls_with_key(GLM), 1);
    let rows = f.gw.usage_exactly(3).await;
    let row = &rows[0];
    assert_eq!(row["provider"], "glm");
    assert_eq!(row["tier"], "cheap");
    let hops = hops(row);
    assert!(
        hops.iter().any(|h| h.0 == "openai" && h.2.is_none()),
        "{row}"
    );
    assert!(
        hops.iter().all(|h| h.2.is_none()),
        "skips, not calls: {row}"
    );
    assert!(
        hop_errors(row).iter().all(|e| e.contains("budget")),
        "{row}"
    );
    assert_billed_once(&rows);
    let exceeded = events
        .wait_for("BudgetExceeded", |e| e["scope"] == "tier:api-key")
        .await;
    assert!(exceeded.is_some(), "events: {:?}", events.seen());
}
