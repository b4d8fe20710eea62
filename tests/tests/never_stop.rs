//! The "never stop coding" promise end to end: a combo subscription -> api key -> cheap -> free keeps answering while scripted upstreams fail in every way, and the usage records, the events stream and the health endpoint tell what happened.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use omniroute_tests::mock::{self, MockUpstream, Step};
use omniroute_tests::{TEST_KEY, TestGateway, assert_billed_once, hops_of, parse_sse};
use serde_json::{Value, json};

/// One upstream account per tier, each with its own key on the mock.
const SUBSCRIPTION: &str = "sk-ns-subscription";
const API_KEY: &str = "sk-ns-api-key";
const CHEAP: &str = "sk-ns-cheap";
const FREE: &str = "sk-ns-free";

const COMBO: &str = "never-stop";

fn config(mock_url: &str) -> String {
    format!(
        r#"
[[connections]]
provider = "anthropic"
name = "subscription"
api_key = "{SUBSCRIPTION}"
base_url = "{mock_url}"
tier = "subscription"

[[connections]]
provider = "openai"
name = "api-key"
api_key = "{API_KEY}"
base_url = "{mock_url}"
tier = "api-key"

[[connections]]
provider = "glm"
name = "cheap"
api_key = "{CHEAP}"
base_url = "{mock_url}"
tier = "cheap"

[[connections]]
provider = "nvidia"
name = "free"
api_key = "{FREE}"
base_url = "{mock_url}"
tier = "free"

[[combos]]
name = "{COMBO}"
strategy = "fill-first"
models = [
  "anthropic/claude-sonnet-4-5",
  "openai/gpt-4.1",
  "glm/glm-5.2",
  "nvidia/qwen/qwen3-coder-480b-a35b-instruct",
]

[[api_keys]]
name = "ci"
key = "{TEST_KEY}"
models = ["*"]
"#
    )
}

/// The connection ids of the four tiers.
struct Ids {
    subscription: i64,
    api_key: i64,
    cheap: i64,
    free: i64,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn chat(stream: bool) -> Value {
    json!({"model": COMBO, "stream": stream,
        "messages": [{"role": "user", "content": "Keep coding"}]})
}

/// A request that must be answered: the answer's text (streamed or not).
async fn ask(gw: &TestGateway, stream: bool) -> String {
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat(stream))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    if stream {
        assert!(!text.contains("\"error\""), "{text}");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        parse_sse(&text)
            .iter()
            .filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str())
            .collect()
    } else {
        let body: Value = serde_json::from_str(&text).unwrap();
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Calls each account has received: (subscription, api key, cheap, free).
fn calls(mock: &MockUpstream) -> (usize, usize, usize, usize) {
    (
        mock.calls_with_key(SUBSCRIPTION),
        mock.calls_with_key(API_KEY),
        mock.calls_with_key(CHEAP),
        mock.calls_with_key(FREE),
    )
}

/// Every scripted step was played: each failure reached the account it was
/// meant for (a step left over would change what a later phase sees).
fn all_played(mock: &MockUpstream, phase: &str) {
    for key in [SUBSCRIPTION, API_KEY, CHEAP, FREE] {
        assert_eq!(
            mock.pending_steps(key),
            0,
            "{phase}: the account with key {key} was not called as scripted"
        );
    }
}

/// The newest usage row once there are exactly `n`, and its hops.
async fn newest(gw: &TestGateway, n: usize) -> (Value, Vec<HopView>) {
    let rows = gw.usage_exactly(n).await;
    let row = rows[0].clone();
    let hops = hops_of(&row);
    (row, hops)
}

type HopView = (String, Option<i64>, Option<u64>);

/// The hops of every provider but `skipped`, whose hops must all be skips
/// (no status: not called). The combo is fill-first, so an entry listed
/// before the answer that cannot be used now (cooling down, breaker open)
/// is noted as a skip; an entry left without any connection (disabled) is
/// not a candidate at all.
fn except_skips_of(hops: &[HopView], skipped: &[&str]) -> Vec<HopView> {
    for hop in hops.iter().filter(|h| skipped.contains(&h.0.as_str())) {
        assert_eq!(hop.2, None, "a skipped entry is not called: {hop:?}");
    }
    hops.iter()
        .filter(|h| !skipped.contains(&h.0.as_str()))
        .cloned()
        .collect()
}

fn hop(provider: &str, id: i64, status: Option<u64>) -> HopView {
    (provider.to_string(), Some(id), status)
}

/// The states `/api/health` shows for `provider`'s breakers.
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
async fn a_four_tier_combo_keeps_answering_while_upstreams_fail_in_every_way() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&config(&mock.base_url())).await;
    let ids = Ids {
        subscription: gw.connection_id("subscription").await,
        api_key: gw.connection_id("api-key").await,
        cheap: gw.connection_id("cheap").await,
        free: gw.connection_id("free").await,
    };
    // One attempt per account (retries have their own test), three
    // breaker failures open a breaker for 3 s, and the cheap tier may
    // spend $0.0001 a day: about three GLM answers.
    gw.patch_settings(json!({
        "retry_attempts": 0,
        "retry_base_ms": 10,
        "upstream_timeout_secs": 1,
        "stream_ready_timeout_secs": 1,
        "breaker_failure_threshold": 3,
        "breaker_window_secs": 60,
        "breaker_cooldown_secs": 3,
        "cooldown_base_secs": 1,
        "budgets": [{"scope": "tier:cheap", "daily_usd": 0.0001}]
    }))
    .await;
    let events = gw.events().await;

    // 1. All healthy: the subscription answers.
    assert_eq!(ask(&gw, false).await, mock::CLAUDE_TEXT);
    let (row, hops) = newest(&gw, 1).await;
    assert_eq!(
        (&row["connection_id"], &row["tier"]),
        (&json!(ids.subscription), &json!("subscription"))
    );
    assert!(hops.is_empty(), "{row}");

    // 2. The subscription's usage window is used up (a 429 as Claude
    //    sends it, the window resetting within 2 s), the api key answers a
    //    server error, the cheap tier resets the connection before the
    //    first byte: the free tier answers, and the hops say each reason.
    let window_reset_secs = unix_secs() + 2;
    mock.script(
        SUBSCRIPTION,
        [Step::rate_limited(1)
            .header("anthropic-ratelimit-unified-status", "rejected")
            .header(
                "anthropic-ratelimit-unified-reset",
                &window_reset_secs.to_string(),
            )],
    );
    mock.script(API_KEY, [Step::status(500)]);
    mock.script(CHEAP, [Step::reset()]);
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    all_played(&mock, "rate limit, 500, reset");
    let (row, hops) = newest(&gw, 2).await;
    assert_eq!(
        (&row["connection_id"], &row["tier"]),
        (&json!(ids.free), &json!("free"))
    );
    assert_eq!(
        hops,
        [
            hop("anthropic", ids.subscription, Some(429)),
            hop("openai", ids.api_key, Some(500)),
            hop("glm", ids.cheap, None),
        ]
    );
    assert_eq!(calls(&mock), (2, 1, 1, 1));

    // 3. A stream while the subscription cools down: a 500 again, and a
    //    200 that never sends an event; the free tier streams the answer.
    mock.script(API_KEY, [Step::status(500)]);
    mock.script(CHEAP, [Step::silent_stream()]);
    assert_eq!(ask(&gw, true).await, mock::OPENAI_TEXT);
    all_played(&mock, "cooldown, 500, silent stream");
    let (row, hops) = newest(&gw, 3).await;
    assert_eq!(row["connection_id"], ids.free);
    assert_eq!(row["stream"], true);
    // The subscription is cooling down: skipped, not called, and noted.
    assert_eq!(hops[0], hop("anthropic", ids.subscription, None), "{row}");
    let hops = except_skips_of(&hops, &["anthropic"]);
    assert_eq!(hops.len(), 2, "{row}");
    assert_eq!(hops[0], hop("openai", ids.api_key, Some(500)));
    assert_eq!((hops[1].0.as_str(), hops[1].1), ("glm", Some(ids.cheap)));
    assert_eq!(calls(&mock), (2, 2, 2, 2));

    // 4. The window has reset: the subscription is tried again, and times
    //    out before its response headers; the api key answers.
    let reset_at = UNIX_EPOCH + Duration::from_secs(window_reset_secs) + Duration::from_millis(300);
    if let Ok(wait) = reset_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    mock.script(SUBSCRIPTION, [Step::delay(2500)]);
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    all_played(&mock, "header timeout");
    let (row, hops) = newest(&gw, 4).await;
    assert_eq!(
        (&row["connection_id"], &row["tier"]),
        (&json!(ids.api_key), &json!("api-key"))
    );
    assert_eq!(hops, [hop("anthropic", ids.subscription, None)]);
    assert_eq!(calls(&mock), (3, 3, 2, 2));

    // 5. The subscription's key is refused (the account is disabled), and
    //    the api key's context is too small: the cheap tier answers.
    mock.script(SUBSCRIPTION, [Step::status(401)]);
    mock.script(
        API_KEY,
        [Step::status(400).body(json!({"error": {
            "message": "This model's maximum context length is 1047576 tokens. However, your messages resulted in 1100000 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}))],
    );
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    all_played(&mock, "401, context length");
    let (row, hops) = newest(&gw, 5).await;
    assert_eq!(
        (&row["connection_id"], &row["tier"]),
        (&json!(ids.cheap), &json!("cheap"))
    );
    assert_eq!(
        hops,
        [
            hop("anthropic", ids.subscription, Some(401)),
            hop("openai", ids.api_key, Some(400)),
        ]
    );
    let subscription = gw.connection(ids.subscription).await;
    assert_eq!(subscription["state"], "auth_failed", "{subscription}");

    // 6. The api key's third breaker failure opens its breaker.
    mock.script(API_KEY, [Step::status(500)]);
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    let breaker_opened_at = Instant::now();
    all_played(&mock, "third failure");
    let (row, hops) = newest(&gw, 6).await;
    assert_eq!(row["connection_id"], ids.cheap);
    assert_eq!(
        except_skips_of(&hops, &["anthropic"]),
        [hop("openai", ids.api_key, Some(500))]
    );
    assert_eq!(calls(&mock), (4, 5, 4, 2));

    // 7. Open breaker: the api key is skipped without a call.
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    let (row, hops) = newest(&gw, 7).await;
    assert_eq!(row["connection_id"], ids.cheap);
    assert_eq!(hops, [hop("openai", ids.api_key, None)], "{row}");
    assert!(
        row["hops"][0]["error"]
            .as_str()
            .unwrap()
            .contains("breaker"),
        "{row}"
    );
    assert_eq!(
        calls(&mock),
        (4, 5, 5, 2),
        "nothing reached the open breaker"
    );
    let health = gw.health().await;
    assert!(
        breaker_states(&health, "openai")
            .iter()
            .any(|s| s == "open"),
        "{health}"
    );
    assert_eq!(health["status"], "degraded");

    // 8. Three GLM answers spent the cheap tier's budget: the free tier
    //    answers, the cheap tier is skipped for its budget.
    let rows = gw.usage_exactly(7).await;
    let cheap_spent: f64 = rows
        .iter()
        .filter(|r| r["tier"] == "cheap")
        .map(|r| r["cost"].as_f64().unwrap())
        .sum();
    assert!(cheap_spent >= 0.0001, "{cheap_spent}");
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    let (row, hops) = newest(&gw, 8).await;
    assert_eq!(row["connection_id"], ids.free);
    assert_eq!(
        except_skips_of(&hops, &["anthropic", "openai"]),
        [hop("glm", ids.cheap, None)],
        "{row}"
    );
    let budget_hop = row["hops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["provider"] == "glm")
        .unwrap();
    assert!(
        budget_hop["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("budget"),
        "{budget_hop}"
    );
    assert_eq!(calls(&mock), (4, 5, 5, 3));

    // 9. The last account breaks its stream after the first events: bytes
    //    had gone out, so the caller gets a clean error event, and the
    //    record says 502.
    mock.script(FREE, [Step::break_after(2)]);
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let (_, last) = parse_sse(&text).pop().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    all_played(&mock, "broken stream");
    let (row, _) = newest(&gw, 9).await;
    assert_eq!(row["status"], 502);
    assert_eq!(row["connection_id"], ids.free);
    assert_eq!(
        calls(&mock),
        (4, 5, 5, 4),
        "no fallback after bytes went out"
    );

    // 10. The breaker's cooldown has passed: one probe reaches the api key,
    //     succeeds, and the breaker closes.
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(breaker_opened_at.elapsed()))
        .await;
    assert_eq!(ask(&gw, false).await, mock::OPENAI_TEXT);
    let (row, hops) = newest(&gw, 10).await;
    assert_eq!(row["connection_id"], ids.api_key);
    assert!(except_skips_of(&hops, &["anthropic"]).is_empty(), "{row}");
    assert_eq!(calls(&mock), (4, 6, 5, 4));

    // The records: one per request, each billed once.
    let rows = gw.usage_exactly(10).await;
    assert_billed_once(&rows);
    let failed: Vec<&Value> = rows.iter().filter(|r| r["status"] != 200).collect();
    assert_eq!(failed.len(), 1, "only the broken stream failed");
    let free_cost: f64 = rows
        .iter()
        .filter(|r| r["tier"] == "free")
        .map(|r| r["cost"].as_f64().unwrap())
        .sum();
    assert_eq!(free_cost, 0.0, "the free tier costs nothing");

    // The events.
    let subscription_id = json!(ids.subscription);
    let api_key_id = json!(ids.api_key);
    let exhausted = events
        .wait_for("QuotaExhausted", |e| e["connection_id"] == subscription_id)
        .await;
    assert_eq!(
        exhausted.map(|e| e["until_ms"].clone()),
        Some(json!(window_reset_secs * 1000)),
        "the subscription's window, until it resets: {:?}",
        events.seen()
    );
    let disabled = events
        .wait_for("ConnectionDisabled", |e| {
            e["connection_id"] == subscription_id
        })
        .await;
    assert_eq!(
        disabled.as_ref().map(|e| e["state"].clone()),
        Some(json!("auth_failed")),
        "{:?}",
        events.seen()
    );
    let down = events
        .wait_for("ProviderDown", |e| e["provider"] == "openai")
        .await;
    assert!(
        down.is_some_and(|e| e["connection_id"].is_null() || e["connection_id"] == api_key_id),
        "{:?}",
        events.seen()
    );
    assert!(
        events
            .wait_for("BudgetExceeded", |e| e["scope"] == "tier:cheap")
            .await
            .is_some(),
        "{:?}",
        events.seen()
    );
    assert!(
        events
            .wait_for("ProviderRecovered", |e| e["provider"] == "openai")
            .await
            .is_some(),
        "{:?}",
        events.seen()
    );
    let seen = events.seen();
    let position = |kind: &str| seen.iter().position(|e| e["type"] == kind);
    assert!(
        position("ProviderDown") < position("ProviderRecovered"),
        "{seen:?}"
    );
    for envelope in seen.iter().filter(|e| e["type"].is_string()) {
        assert!(
            envelope["id"].as_u64().is_some() && envelope["ts"].as_i64().is_some(),
            "{envelope}"
        );
    }

    // Health: the api key's breaker closed again; the subscription is
    // still disabled until someone looks at it.
    let health = gw.health().await;
    assert!(
        breaker_states(&health, "openai")
            .iter()
            .all(|s| s == "closed"),
        "{health}"
    );
    let providers: Vec<&str> = health["providers"]
        .as_array()
        .unwrap_or_else(|| panic!("{health}"))
        .iter()
        .filter_map(|p| p["provider"].as_str())
        .collect();
    for provider in ["anthropic", "openai", "glm", "nvidia"] {
        assert!(providers.contains(&provider), "{provider}: {health}");
    }
    let subscription = gw.connection(ids.subscription).await;
    assert_eq!(subscription["state"], "auth_failed");
}
