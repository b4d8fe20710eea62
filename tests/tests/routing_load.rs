//! Load through a combo with a flaky first upstream (bounded concurrency, loopback): every request gets a success or a clear error, and the usage table holds exactly one record per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use omniroute_tests::mock::{self, MockUpstream};
use omniroute_tests::{TEST_KEY, TestGateway, hops_of};
use serde_json::{Value, json};

/// Requests sent; `OMNIROUTE_LOAD_REQUESTS` overrides it for a quicker run.
const REQUESTS: usize = 20_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 48;

const FLAKY: &str = "sk-load-flaky";
const STEADY: &str = "sk-load-steady";

/// `load`: the mock's `flaky-30` model (a 500 on about 30 % of calls) at an
/// OpenAI account, then GLM, which always answers.
fn config(mock_url: &str) -> String {
    format!(
        r#"
[[connections]]
provider = "openai"
name = "flaky"
api_key = "{FLAKY}"
base_url = "{mock_url}"

[[connections]]
provider = "glm"
name = "steady"
api_key = "{STEADY}"
base_url = "{mock_url}"

[[combos]]
name = "load"
strategy = "fill-first"
models = ["openai/{flaky}", "glm/glm-5.2"]

[[api_keys]]
name = "ci"
key = "{TEST_KEY}"
models = ["*"]
"#,
        flaky = mock::script::FLAKY_MODEL
    )
}

/// How one request ended.
enum Outcome {
    Answered,
    /// A JSON error with a message (status, message).
    ClearError(u16, String),
}

async fn one_request(http: &reqwest::Client, url: &str, i: usize) -> Outcome {
    let response = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(TEST_KEY)
        .json(&json!({"model": "load",
            "messages": [{"role": "user", "content": format!("request {i}")}]}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("request {i} got no HTTP answer: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("request {i}: status {status}, not JSON: {text}"));
    if status == 200 {
        assert_eq!(
            body["choices"][0]["message"]["content"],
            mock::OPENAI_TEXT,
            "request {i}: {text}"
        );
        return Outcome::Answered;
    }
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty(),
        "request {i}: status {status} without a clear error: {text}"
    );
    Outcome::ClearError(status, message.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_through_a_flaky_combo_is_answered_and_recorded_once() {
    let requests: usize = std::env::var("OMNIROUTE_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REQUESTS);
    let started = Instant::now();
    let mock = MockUpstream::start().await;
    let config = config(&mock.base_url());
    let gw = TestGateway::start(&config).await;
    // Quick retries, and a breaker that seldom opens (1,000 failures within
    // one second) and then only for a second, so the flaky upstream keeps
    // being tried nearly all along (the breaker has its own tests). A fast
    // machine can still reach the threshold now and then.
    gw.patch_settings(json!({
        "retry_base_ms": 5,
        "retry_attempts": 2,
        "breaker_failure_threshold": 1000,
        "breaker_window_secs": 1,
        "breaker_cooldown_secs": 1
    }))
    .await;

    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (next, http, url) = (next.clone(), http.clone(), gw.url.clone());
            tokio::spawn(async move {
                let mut answered = 0usize;
                let mut errors = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return (answered, errors);
                    }
                    match one_request(&http, &url, i).await {
                        Outcome::Answered => answered += 1,
                        Outcome::ClearError(status, message) => errors.push((status, message)),
                    }
                }
            })
        })
        .collect();
    let mut answered = 0;
    let mut errors = Vec::new();
    for worker in workers {
        let (a, e) = worker.await.expect("worker");
        answered += a;
        errors.extend(e);
    }
    let sent_in = started.elapsed();
    assert_eq!(answered + errors.len(), requests);
    // The second entry never fails, so nothing should reach the caller as
    // an error; the first few are shown if some did.
    assert!(
        errors.is_empty(),
        "{} of {requests} requests failed, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    // Stopping flushes every queued record; a fresh start on the same data
    // dir reads what was committed.
    let data_dir = gw.stop().await;
    let gw = TestGateway::start_in(data_dir, &config).await;
    let rows = gw.all_usage().await;
    assert_eq!(rows.len(), requests, "one usage record per request");

    let by = |provider: &str| rows.iter().filter(|r| r["provider"] == provider).count();
    let (flaky_answers, steady_answers) = (by("openai"), by("glm"));
    assert_eq!(flaky_answers + steady_answers, requests);
    assert!(rows.iter().all(|r| r["status"] == 200));
    let with_hops = rows
        .iter()
        .filter(|r| !hops_of(r).is_empty())
        .inspect(|r| {
            // A hop is a 500 of the flaky upstream, or a skip of it: when its
            // failures outrun the breaker's threshold within one window (a
            // fast machine does more than 1,000 a second), the breaker opens,
            // which is the breaker doing its job.
            let flaky_only = r["hops"].as_array().unwrap().iter().all(|h| {
                h["provider"] == "openai"
                    && (h["status"] == 500
                        || h["error"]
                            .as_str()
                            .is_some_and(|e| e.contains("the breaker of openai is open")))
            });
            assert!(flaky_only, "only the flaky upstream fails: {r}");
        })
        .count();
    // About 30 % of calls fail, and a request falls back only when the call
    // and both retries fail (about 2.7 %).
    assert!(
        with_hops > 0 && steady_answers > 0,
        "the flaky upstream never failed"
    );
    // Closed, the flaky upstream answers about 97 % of requests; each time
    // the breaker opens, a second of them goes to the fallback instead. How
    // often that happens depends on the machine's speed, so the share is
    // printed below, not asserted.
    assert!(flaky_answers > 0, "the flaky upstream answered none");
    let flaky_calls = mock.calls_with_key(FLAKY);
    assert!(
        flaky_calls > flaky_answers,
        "failed calls were retried: {flaky_calls} calls for {flaky_answers} answers"
    );
    assert_eq!(mock.calls_with_key(STEADY), steady_answers);
    eprintln!(
        "{requests} requests at concurrency {CONCURRENCY}: sent in {sent_in:.1?}, whole test {:.1?}; \
         {flaky_answers} answered by the flaky upstream ({flaky_calls} calls), {steady_answers} by the fallback, \
         {with_hops} records with hops",
        started.elapsed()
    );
}
