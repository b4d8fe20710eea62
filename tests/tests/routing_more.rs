//! End-to-end tests of the routing features the other suites leave out: combos in `/v1/models`, wildcard combos, quota windows, provider limits, account and combo strategies, stream idle and request deadlines, client hang-ups, price overrides, and who may read `/api/quota` and `/api/health`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use omniroute_tests::mock::{self, MockUpstream, Step};
use omniroute_tests::{TEST_KEY, TestGateway, hops_of, parse_sse};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upstream keys: each names one account on the mock.
const OPENAI_A: &str = "sk-rm-openai-a";
const OPENAI_B: &str = "sk-rm-openai-b";
const CLAUDE: &str = "sk-rm-claude";
const STALL: &str = "sk-rm-stall";
/// A gateway key limited to one combo and one provider.
const LIMITED_KEY: &str = "sk-omni-limited-0002";

/// A `[[connections]]` table; `extra` adds lines (priority, quota...).
fn connection(provider: &str, name: &str, key: &str, base_url: &str, extra: &str) -> String {
    format!(
        "\n[[connections]]\nprovider = \"{provider}\"\nname = \"{name}\"\napi_key = \"{key}\"\nbase_url = \"{base_url}\"\n{extra}\n"
    )
}

/// A `[[combos]]` table; `extra` adds lines (enabled, sticky).
fn combo(name: &str, strategy: &str, models: &[&str], extra: &str) -> String {
    let models = models
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "\n[[combos]]\nname = \"{name}\"\nstrategy = \"{strategy}\"\nmodels = [{models}]\n{extra}\n"
    )
}

/// `parts` plus the full-access test key and [`LIMITED_KEY`], which may use
/// the combo `stack` and every Anthropic model.
fn config(parts: &[String]) -> String {
    let mut text = parts.concat();
    text.push_str(&format!(
        r#"
[[api_keys]]
name = "ci"
key = "{TEST_KEY}"
models = ["*"]

[[api_keys]]
name = "limited"
key = "{LIMITED_KEY}"
models = ["stack", "anthropic/*"]
"#
    ));
    text
}

/// A gateway over `parts`, with fast retries.
async fn start(parts: &[String]) -> TestGateway {
    let gw = TestGateway::start(&config(parts)).await;
    gw.patch_settings(json!({"retry_base_ms": 10})).await;
    gw
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Sends a Chat Completions request; the status, headers and whole body.
async fn send(gw: &TestGateway, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let response = gw
        .post("/v1/chat/completions")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A non-stream Chat Completions request that must succeed; the answer's text.
async fn answer(gw: &TestGateway, model: &str) -> String {
    let (status, _, text) = send(gw, &chat(model, false)).await;
    assert_eq!(status, 200, "{model}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The error object of an OpenAI-format error body.
fn error_of(text: &str) -> Value {
    let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    body["error"].clone()
}

/// The models the mock was asked for, oldest first.
fn models_asked(mock: &MockUpstream) -> Vec<String> {
    mock.received()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits up to 10 s for `check` to hold, polling every 5 ms.
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `/api/quota` entry of connection `id`.
async fn quota_of(gw: &TestGateway, id: i64) -> Value {
    let report = gw.get_json("/api/quota").await;
    report["data"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["connection_id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no quota entry for connection {id}: {report}"))
}

/// `/api/health`'s `routing.in_flight` (only counters above zero are listed).
async fn in_flight(gw: &TestGateway) -> serde_json::Map<String, Value> {
    let health = gw.health().await;
    health["routing"]["in_flight"]
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("routing.in_flight missing: {health}"))
}

/// An OpenAI-format upstream that opens a stream with two events (the
/// assistant role, then "Hello") and then stalls, sending nothing more,
/// until the caller closes the connection or 30 s pass. It counts the
/// requests it took and the connections the caller closed during the stall:
/// a gateway that gives up on (or loses) its caller must hang up on it.
struct StallingUpstream {
    url: String,
    requests: Arc<AtomicUsize>,
    hung_up: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StallingUpstream {
    async fn start() -> StallingUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(AtomicUsize::new(0));
        let (req, hup) = (requests.clone(), hung_up.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (req, hup) = (req.clone(), hup.clone());
                tokio::spawn(async move {
                    if let Some(true) = Self::serve(socket, &req).await {
                        hup.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        StallingUpstream {
            url,
            requests,
            hung_up,
            task,
        }
    }

    /// Serves one request; `Some(true)` when the caller hung up during the stall.
    async fn serve(mut socket: tokio::net::TcpStream, requests: &AtomicUsize) -> Option<bool> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = socket.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
            if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while seen.len() < head_end + length {
            let n = socket.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let chunk = |delta: Value| {
            json!({"id": "chatcmpl-stall", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4.1",
                "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
        };
        let mut out = String::from(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        for event in [
            chunk(json!({"role": "assistant", "content": ""})),
            chunk(json!({"content": "Hello"})),
        ] {
            let data = format!("data: {event}\n\n");
            out.push_str(&format!("{:x}\r\n{data}\r\n", data.len()));
        }
        socket.write_all(out.as_bytes()).await.ok()?;
        socket.flush().await.ok()?;
        let hung_up = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok();
        Some(hung_up)
    }
}

#[tokio::test]
async fn models_list_enabled_combos_but_not_disabled_or_wildcard_ones_and_respect_a_limited_key() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &url, ""),
        connection("anthropic", "claude", CLAUDE, &url, ""),
        combo(
            "stack",
            "fill-first",
            &["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"],
            "",
        ),
        combo("off", "fill-first", &["openai/gpt-4.1"], "enabled = false"),
        combo("claude-*", "fill-first", &["anthropic/*", "openai/*"], ""),
    ])
    .await;

    let list = gw.get_json("/v1/models").await;
    let data = list["data"].as_array().unwrap_or_else(|| panic!("{list}"));
    let ids: Vec<&str> = data.iter().filter_map(|m| m["id"].as_str()).collect();
    let combos: Vec<&Value> = data.iter().filter(|m| m["owned_by"] == "combo").collect();
    assert_eq!(combos.len(), 1, "only the enabled plain combo: {list}");
    assert_eq!(combos[0]["id"], "stack");
    assert_eq!(combos[0]["object"], "model");
    assert!(
        !ids.contains(&"off"),
        "a disabled combo is not listed: {list}"
    );
    assert!(
        !ids.iter().any(|id| id.contains('*')),
        "a wildcard combo is a pattern, not a model: {list}"
    );
    assert!(ids.contains(&"openai/gpt-4.1"), "{list}");
    assert!(ids.contains(&"anthropic/claude-sonnet-4-5"), "{list}");

    // The limited key sees the combo it may use and Anthropic's models only.
    let limited: Value = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(LIMITED_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limited_ids: Vec<&str> = limited["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{limited}"))
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(limited_ids.contains(&"stack"), "{limited}");
    assert!(
        limited_ids.contains(&"anthropic/claude-sonnet-4-5"),
        "{limited}"
    );
    assert!(
        limited_ids
            .iter()
            .all(|id| *id == "stack" || id.starts_with("anthropic/")),
        "nothing the key may not use: {limited}"
    );
    let one: Value = gw
        .http
        .get(format!("{}/v1/models/stack", gw.url))
        .bearer_auth(LIMITED_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["owned_by"], "combo", "{one}");

    // Disabling the combo takes it off the list at once.
    let response = gw
        .patch("/api/combos/stack")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list = gw.get_json("/v1/models").await;
    assert!(
        !list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["owned_by"] == "combo"),
        "{list}"
    );
}

#[tokio::test]
async fn a_wildcard_combo_serves_any_matching_name_and_falls_back_to_its_next_entry() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &url, ""),
        connection("anthropic", "claude", CLAUDE, &url, ""),
        combo("claude-*", "fill-first", &["anthropic/*", "openai/*"], ""),
    ])
    .await;
    let claude = gw.connection_id("claude").await;
    let openai = gw.connection_id("openai-a").await;

    // The first entry serves the requested name as it is.
    assert_eq!(answer(&gw, "claude-sonnet-4-5").await, mock::CLAUDE_TEXT);
    assert_eq!(mock.calls_with_key(CLAUDE), 1);
    assert_eq!(models_asked(&mock), ["claude-sonnet-4-5"]);
    let rows = gw.usage_exactly(1).await;
    assert_eq!(rows[0]["provider"], "anthropic");
    assert_eq!(rows[0]["connection_id"], claude);
    assert_eq!(rows[0]["requested_model"], "claude-sonnet-4-5");
    assert_eq!(rows[0]["upstream_model"], "claude-sonnet-4-5");

    // The Anthropic account fails every attempt: the second entry answers,
    // asked for the same name.
    mock.script(CLAUDE, std::iter::repeat_n(Step::status(500), 3));
    assert_eq!(answer(&gw, "claude-sonnet-4-5").await, mock::OPENAI_TEXT);
    assert_eq!(mock.calls_with_key(CLAUDE), 4, "one call and two retries");
    assert_eq!(mock.calls_with_key(OPENAI_A), 1);
    assert_eq!(
        models_asked(&mock).last().map(String::as_str),
        Some("claude-sonnet-4-5")
    );
    let rows = gw.usage_exactly(2).await;
    let row = &rows[0];
    assert_eq!(row["status"], 200);
    assert_eq!(row["provider"], "openai");
    assert_eq!(row["connection_id"], openai);
    assert_eq!(row["requested_model"], "claude-sonnet-4-5");
    assert_eq!(row["upstream_model"], "claude-sonnet-4-5");
    let hops = hops_of(row);
    assert_eq!(hops.len(), 3, "{row}");
    assert!(
        hops.iter()
            .all(|h| *h == ("anthropic".to_string(), Some(claude), Some(500))),
        "{row}"
    );

    // A name the pattern does not match routes as it would without the combo.
    assert_eq!(answer(&gw, "gpt-4.1").await, mock::OPENAI_TEXT);
    let rows = gw.usage_exactly(3).await;
    assert_eq!(rows[0]["provider"], "openai");
    assert!(hops_of(&rows[0]).is_empty());
}

#[tokio::test]
async fn a_request_quota_moves_traffic_to_the_next_account_then_answers_429() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[
        connection(
            "openai",
            "openai-a",
            OPENAI_A,
            &url,
            "priority = 1\nquota = [{window = \"daily\", requests = 2}]",
        ),
        connection("openai", "openai-b", OPENAI_B, &url, "priority = 2"),
    ])
    .await;
    let a = gw.connection_id("openai-a").await;
    let b = gw.connection_id("openai-b").await;

    for _ in 0..2 {
        assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    }
    assert_eq!(mock.calls_with_key(OPENAI_A), 2);
    assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    assert_eq!(
        (mock.calls_with_key(OPENAI_A), mock.calls_with_key(OPENAI_B)),
        (2, 1),
        "the third request goes to the next account"
    );
    let rows = gw.usage_exactly(3).await;
    assert_eq!(rows[0]["connection_id"], b);
    assert_eq!(
        hops_of(&rows[0]),
        [("openai".to_string(), Some(a), None)],
        "the used-up account is skipped without a call"
    );
    assert!(
        rows[0]["hops"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("quota")),
        "{}",
        rows[0]
    );

    let entry = quota_of(&gw, a).await;
    let window = &entry["windows"][0];
    assert_eq!(window["window"], "daily", "{entry}");
    assert_eq!(window["requests_used"], 2, "{entry}");
    assert_eq!(window["requests_limit"], 2, "{entry}");
    assert_eq!(window["exhausted"], true, "{entry}");
    let resets_in = window["resets_in_ms"].as_i64().unwrap_or(0);
    assert!(
        resets_in > 0 && resets_in <= 86_400_000,
        "a daily window resets within a day: {entry}"
    );
    assert!(
        entry["exhausted_until_ms"]
            .as_i64()
            .is_some_and(|t| t > now_ms()),
        "{entry}"
    );
    let other = quota_of(&gw, b).await;
    assert_eq!(other["windows"], json!([]), "{other}");
    assert!(other["exhausted_until_ms"].is_null(), "{other}");

    // A quota set through the API counts from then on: one more request for
    // the second account, then no account is left.
    let response = gw
        .patch(&format!("/api/connections/{b}"))
        .json(&json!({"quota": [{"window": "daily", "requests": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    assert_eq!(mock.calls_with_key(OPENAI_B), 2);
    let entry = quota_of(&gw, b).await;
    assert_eq!(entry["windows"][0]["requests_used"], 1, "{entry}");
    assert_eq!(entry["windows"][0]["exhausted"], true, "{entry}");

    let (status, headers, text) = send(&gw, &chat("openai/gpt-4.1", false)).await;
    assert_eq!(status, 429, "{text}");
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing: {headers:?}"));
    assert!(
        (1..=86_400).contains(&retry_after),
        "until the daily window resets: {retry_after}"
    );
    assert_eq!(error_of(&text)["type"], "rate_limit_error", "{text}");
    assert_eq!(
        (mock.calls_with_key(OPENAI_A), mock.calls_with_key(OPENAI_B)),
        (2, 2),
        "no account was called"
    );
    let rows = gw.usage_exactly(5).await;
    assert_eq!(rows[0]["status"], 429);
}

#[tokio::test]
async fn an_anthropic_unified_rejection_marks_the_quota_exhausted_until_its_reset() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[connection(
        "anthropic",
        "claude",
        CLAUDE,
        &url,
        "quota = [{window = \"5h\", requests = 50}]",
    )])
    .await;
    let claude = gw.connection_id("claude").await;
    let events = gw.events().await;
    let reset_secs = now_ms() / 1000 + 7200;
    mock.script(
        CLAUDE,
        [Step::status(429)
            .header("anthropic-ratelimit-unified-status", "rejected")
            .header("anthropic-ratelimit-unified-reset", &reset_secs.to_string())],
    );
    let body = json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello"}]});
    let response = gw.post("/v1/messages").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "rate_limit_error", "{error}");

    let entry = quota_of(&gw, claude).await;
    assert_eq!(entry["windows"][0]["exhausted"], true, "{entry}");
    assert_eq!(
        entry["windows"][0]["requests_used"], 0,
        "a refused request is not counted: {entry}"
    );
    let until = entry["exhausted_until_ms"].as_i64().unwrap_or(0);
    assert!(
        (until - reset_secs * 1000).abs() <= 1000,
        "exhausted until the unified reset {reset_secs}: {entry}"
    );
    let announced = events
        .wait_for("QuotaExhausted", |e| e["connection_id"] == claude)
        .await;
    assert!(announced.is_some(), "events: {:?}", events.seen());

    // Used up: the next request does not reach the account.
    let response = gw.post("/v1/messages").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(mock.calls_with_key(CLAUDE), 1);
    gw.usage_exactly(2).await;
}

#[tokio::test]
async fn max_concurrent_keeps_upstream_calls_from_overlapping() {
    let mock = MockUpstream::start().await;
    let gw = start(&[connection(
        "openai",
        "openai-a",
        OPENAI_A,
        &mock.base_url(),
        "",
    )])
    .await;
    gw.patch_settings(json!({"provider_limits": {"openai": {"max_concurrent": 1}}}))
        .await;
    const DELAY_MS: u64 = 400;
    mock.script(OPENAI_A, std::iter::repeat_n(Step::delay(DELAY_MS), 4));
    let started = Instant::now();
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let url = gw.url.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(TEST_KEY)
                    .json(&chat("openai/gpt-4.1", false))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    wait_until("the first call", || mock.calls_with_key(OPENAI_A) >= 1).await;
    tokio::time::sleep(Duration::from_millis(DELAY_MS / 2)).await;
    assert_eq!(
        mock.calls_with_key(OPENAI_A),
        1,
        "the others wait for the slot"
    );
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(4 * DELAY_MS),
        "one call at a time: {:?}",
        started.elapsed()
    );
    assert_eq!(mock.calls_with_key(OPENAI_A), 4);
    gw.usage_exactly(4).await;
}

#[tokio::test]
async fn requests_per_minute_skips_the_provider_once_reached() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &url, ""),
        connection("anthropic", "claude", CLAUDE, &url, ""),
        combo(
            "stack",
            "fill-first",
            &["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"],
            "",
        ),
    ])
    .await;
    gw.patch_settings(json!({"provider_limits": {"openai": {"requests_per_minute": 2}}}))
        .await;
    let openai = gw.connection_id("openai-a").await;

    for _ in 0..2 {
        assert_eq!(answer(&gw, "stack").await, mock::OPENAI_TEXT);
    }
    assert_eq!(answer(&gw, "stack").await, mock::CLAUDE_TEXT);
    assert_eq!(mock.calls_with_key(OPENAI_A), 2);
    assert_eq!(mock.calls_with_key(CLAUDE), 1);
    let rows = gw.usage_exactly(3).await;
    let row = &rows[0];
    assert_eq!(row["provider"], "anthropic");
    assert_eq!(
        hops_of(row),
        [("openai".to_string(), Some(openai), None)],
        "a skip, not a call: {row}"
    );
    assert!(
        row["hops"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("2 requests per minute")),
        "{row}"
    );

    // Asked for directly, the provider has nothing to fall back to.
    let (status, headers, text) = send(&gw, &chat("openai/gpt-4.1", false)).await;
    assert_eq!(status, 429, "{text}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(mock.calls_with_key(OPENAI_A), 2);
}

#[tokio::test]
async fn min_gap_spaces_the_starts_of_requests() {
    let mock = MockUpstream::start().await;
    let gw = start(&[connection(
        "openai",
        "openai-a",
        OPENAI_A,
        &mock.base_url(),
        "",
    )])
    .await;
    gw.patch_settings(json!({"provider_limits": {"openai": {"min_gap_ms": 300}}}))
        .await;
    // Sent together: without the gap both calls would start at once.
    let started = Instant::now();
    let second_call = async {
        wait_until("the second call", || mock.calls_with_key(OPENAI_A) >= 2).await;
        started.elapsed()
    };
    let (a, b, second) = tokio::join!(
        answer(&gw, "openai/gpt-4.1"),
        answer(&gw, "openai/gpt-4.1"),
        second_call
    );
    assert_eq!(
        (a.as_str(), b.as_str()),
        (mock::OPENAI_TEXT, mock::OPENAI_TEXT)
    );
    assert!(
        second >= Duration::from_millis(300),
        "the second call started {second:?} after both were sent"
    );
    gw.usage_exactly(2).await;
}

#[tokio::test]
async fn round_robin_accounts_alternate_while_fill_first_uses_the_first() {
    let mock = MockUpstream::start().await;
    let url = mock.base_url();
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &url, "priority = 1"),
        connection("openai", "openai-b", OPENAI_B, &url, "priority = 1"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    }
    assert_eq!(
        (mock.calls_with_key(OPENAI_A), mock.calls_with_key(OPENAI_B)),
        (2, 0),
        "fill-first by default"
    );

    gw.patch_settings(json!({"account_strategies": {"openai": "round-robin"}}))
        .await;
    for _ in 0..4 {
        assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    }
    assert_eq!(
        (mock.calls_with_key(OPENAI_A), mock.calls_with_key(OPENAI_B)),
        (4, 2)
    );
    let keys: Vec<String> = mock.received()[2..]
        .iter()
        .map(|r| r.key.clone().unwrap_or_default())
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] != w[1]),
        "every request takes the other account: {keys:?}"
    );
    gw.usage_exactly(6).await;
}

#[tokio::test]
async fn a_round_robin_combo_with_sticky_two_sends_batches_of_two() {
    let mock = MockUpstream::start().await;
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &mock.base_url(), ""),
        combo(
            "rotate",
            "round-robin",
            &["openai/gpt-4.1", "openai/gpt-4.1-mini", "openai/gpt-4o"],
            "sticky = 2",
        ),
    ])
    .await;
    for _ in 0..6 {
        assert_eq!(answer(&gw, "rotate").await, mock::OPENAI_TEXT);
    }
    assert_eq!(
        models_asked(&mock),
        [
            "gpt-4.1",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-mini",
            "gpt-4o",
            "gpt-4o"
        ]
    );
    let rows = gw.usage_exactly(6).await;
    let recorded: Vec<&str> = rows
        .iter()
        .rev()
        .filter_map(|r| r["upstream_model"].as_str())
        .collect();
    assert_eq!(recorded, models_asked(&mock));
    assert!(rows.iter().all(|r| hops_of(r).is_empty()));
}

#[tokio::test]
async fn a_cost_optimized_combo_picks_the_cheapest_entry_by_price() {
    let mock = MockUpstream::start().await;
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &mock.base_url(), ""),
        // Catalog prices (USD per million, input/output): 2/8, 2.5/10, 0.4/1.6.
        combo(
            "thrifty",
            "cost-optimized",
            &["openai/gpt-4.1", "openai/gpt-4o", "openai/gpt-4.1-mini"],
            "",
        ),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(answer(&gw, "thrifty").await, mock::OPENAI_TEXT);
    }
    assert_eq!(models_asked(&mock), ["gpt-4.1-mini", "gpt-4.1-mini"]);

    // A price override makes another entry the cheapest.
    gw.patch_settings(json!({"prices": {"openai/gpt-4o": {"input": 0.01, "output": 0.01}}}))
        .await;
    assert_eq!(answer(&gw, "thrifty").await, mock::OPENAI_TEXT);
    assert_eq!(
        models_asked(&mock).last().map(String::as_str),
        Some("gpt-4o")
    );
    gw.usage_exactly(3).await;
}

#[tokio::test]
async fn a_disabled_combo_answers_400_combo_disabled_in_the_callers_format() {
    let mock = MockUpstream::start().await;
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &mock.base_url(), ""),
        combo("off", "fill-first", &["openai/gpt-4.1"], "enabled = false"),
    ])
    .await;

    let (status, _, text) = send(&gw, &chat("off", false)).await;
    assert_eq!(status, 400, "{text}");
    let error = error_of(&text);
    assert_eq!(error["code"], "combo_disabled", "{text}");
    assert_eq!(error["type"], "invalid_request_error", "{text}");
    assert_eq!(error["param"], "model", "{text}");

    let response = gw
        .post("/v1/messages")
        .json(&json!({"model": "off", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`off` is disabled")),
        "{body}"
    );

    let response = gw
        .post("/v1beta/models/off:generateContent")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400, "{body}");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("disabled")),
        "{body}"
    );

    assert!(mock.received().is_empty(), "nothing went upstream");
    let rows = gw.usage_exactly(3).await;
    assert!(rows.iter().all(|r| r["status"] == 400), "{rows:?}");
}

#[tokio::test]
async fn a_stream_that_stalls_ends_with_an_error_event_after_the_idle_timeout() {
    let stall = StallingUpstream::start().await;
    let gw = start(&[
        format!(
            "\n[[providers]]\nid = \"stall\"\nname = \"Stalling upstream\"\nformat = \"openai\"\nbase_url = \"{}\"\nprefix = \"stall\"\nmodels = [\"gpt-4.1\"]\n",
            stall.url
        ),
        format!("\n[[connections]]\nprovider = \"stall\"\nname = \"stall\"\napi_key = \"{STALL}\"\n"),
    ])
    .await;
    gw.patch_settings(json!({"stream_idle_timeout_secs": 1, "stream_ready_timeout_secs": 5}))
        .await;

    let started = Instant::now();
    let (status, _, text) = send(&gw, &chat("stall/gpt-4.1", true)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "the stream had started: {text}");
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10),
        "ended by the 1 s idle timeout: {elapsed:?}"
    );
    let events = parse_sse(&text);
    let content: String = events
        .iter()
        .filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello", "{text}");
    let (_, last) = events.last().unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing for 1 s")),
        "{text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    assert_eq!(
        stall.requests.load(Ordering::SeqCst),
        1,
        "no retry after bytes"
    );
    let rows = gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 502);
    assert_eq!(rows[0]["provider"], "stall");
    assert!(
        rows[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing for 1 s")),
        "{}",
        rows[0]
    );
    wait_until("the gateway to hang up on the stalled upstream", || {
        stall.hung_up.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn the_request_deadline_ends_a_slow_reply_with_504_and_a_slow_stream_with_an_error_event() {
    let mock = MockUpstream::start().await;
    let gw = start(&[connection(
        "openai",
        "openai-a",
        OPENAI_A,
        &mock.base_url(),
        "",
    )])
    .await;
    gw.patch_settings(json!({"request_deadline_secs": 1})).await;

    // `slow-reply` answers after 2 s.
    let started = Instant::now();
    let (status, _, text) = send(&gw, &chat("openai/slow-reply", false)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 504, "{text}");
    assert_eq!(error_of(&text)["code"], "deadline_exceeded", "{text}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "ended by the 1 s deadline: {elapsed:?}"
    );
    let rows = gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 504);
    assert_eq!(rows[0]["connection_id"], gw.connection_id("openai-a").await);

    // `slow-stream` would take about 2 s; its first event comes in time.
    let (status, _, text) = send(&gw, &chat("openai/slow-stream", true)).await;
    assert_eq!(status, 200, "{text}");
    let events = parse_sse(&text);
    let (_, last) = events.last().unwrap_or_else(|| panic!("no events: {text}"));
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("deadline")),
        "{text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    let rows = gw.usage_exactly(2).await;
    assert_eq!(rows[0]["status"], 502);
}

#[tokio::test]
async fn a_caller_that_hangs_up_cancels_the_upstream_call() {
    let mock = MockUpstream::start().await;
    let stall = StallingUpstream::start().await;
    let gw = start(&[
        connection("openai", "openai-a", OPENAI_A, &mock.base_url(), ""),
        format!(
            "\n[[providers]]\nid = \"stall\"\nname = \"Stalling upstream\"\nformat = \"openai\"\nbase_url = \"{}\"\nprefix = \"stall\"\nmodels = [\"gpt-4.1\"]\n",
            stall.url
        ),
        format!("\n[[connections]]\nprovider = \"stall\"\nname = \"stall\"\napi_key = \"{STALL}\"\n"),
    ])
    .await;
    let openai = gw.connection_id("openai-a").await;

    // A slow stream, dropped after its first chunk.
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat("openai/slow-stream", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let busy = in_flight(&gw).await;
    assert_eq!(
        busy.get("m:openai/slow-stream"),
        Some(&json!(1)),
        "{busy:?}"
    );
    assert_eq!(
        busy.get(&format!("c:{openai}")),
        Some(&json!(1)),
        "{busy:?}"
    );
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = in_flight(&gw).await;
        if now.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still in flight: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = gw.usage_exactly(1).await;
    assert_eq!(rows[0]["status"], 499);
    assert_eq!(rows[0]["connection_id"], openai);

    // The upstream connection itself is closed: a stream that would stall
    // for 30 s is hung up on as soon as the caller leaves.
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat("stall/gpt-4.1", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(stall.hung_up.load(Ordering::SeqCst), 0);
    drop(body);
    wait_until("the gateway to hang up on the upstream", || {
        stall.hung_up.load(Ordering::SeqCst) == 1
    })
    .await;
    let rows = gw.usage_exactly(2).await;
    assert_eq!(rows[0]["status"], 499);
    assert_eq!(rows[0]["provider"], "stall");
}

#[tokio::test]
async fn price_overrides_change_the_cost_of_the_next_request() {
    let mock = MockUpstream::start().await;
    let gw = start(&[connection(
        "openai",
        "openai-a",
        OPENAI_A,
        &mock.base_url(),
        "",
    )])
    .await;
    let (prompt, cached, completion) = (
        mock::PROMPT_TOKENS as f64,
        mock::CACHED_TOKENS as f64,
        mock::COMPLETION_TOKENS as f64,
    );
    assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    let rows = gw.usage_exactly(1).await;
    // The catalog's gpt-4.1: 2 input, 0.5 cached input, 8 output.
    let catalog = ((prompt - cached) * 2.0 + cached * 0.5 + completion * 8.0) / 1e6;
    let cost = rows[0]["cost"].as_f64().unwrap();
    assert!((cost - catalog).abs() < 1e-12, "{cost} != {catalog}");

    gw.patch_settings(json!({"prices": {"openai/gpt-4.1": {"input": 100, "output": 200}}}))
        .await;
    assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    let rows = gw.usage_exactly(2).await;
    assert_eq!(rows[0]["input_tokens"], mock::PROMPT_TOKENS);
    assert_eq!(rows[0]["output_tokens"], mock::COMPLETION_TOKENS);
    // Without a cached price, cached tokens cost the input price.
    let overridden = (prompt * 100.0 + completion * 200.0) / 1e6;
    let cost = rows[0]["cost"].as_f64().unwrap();
    assert!((cost - overridden).abs() < 1e-12, "{cost} != {overridden}");

    gw.patch_settings(
        json!({"prices": {"openai/gpt-4.1": {"input": 100, "output": 200, "cached_input": 10}}}),
    )
    .await;
    assert_eq!(answer(&gw, "openai/gpt-4.1").await, mock::OPENAI_TEXT);
    let rows = gw.usage_exactly(3).await;
    let with_cache = ((prompt - cached) * 100.0 + cached * 10.0 + completion * 200.0) / 1e6;
    let cost = rows[0]["cost"].as_f64().unwrap();
    assert!((cost - with_cache).abs() < 1e-12, "{cost} != {with_cache}");
}

#[tokio::test]
async fn quota_and_health_are_for_full_access_keys_only() {
    let mock = MockUpstream::start().await;
    let gw = start(&[connection(
        "openai",
        "openai-a",
        OPENAI_A,
        &mock.base_url(),
        "",
    )])
    .await;
    for path in ["/api/quota", "/api/health"] {
        let url = format!("{}{path}", gw.url);
        let anonymous = gw.http.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without a key");
        let wrong = gw
            .http
            .get(&url)
            .bearer_auth("sk-omni-nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path} with an unknown key");
        let limited = gw
            .http
            .get(&url)
            .bearer_auth(LIMITED_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(limited.status(), 403, "{path} with a limited key");
        let admin = gw.get(path).send().await.unwrap();
        assert_eq!(admin.status(), 200, "{path} with a full-access key");
    }
    let quota = gw.get_json("/api/quota").await;
    assert!(
        quota["data"].as_array().is_some_and(|d| !d.is_empty()),
        "{quota}"
    );
    assert!(quota["now_ms"].as_i64().is_some(), "{quota}");
}
