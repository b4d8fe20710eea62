//! Black-box tests of the health surface: `/api/health` (and its reset), `/metrics` and the `/api/events` stream.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use omniroute::observe::events::Event;
use omniroute_tests::mock::{self};
use omniroute_tests::{TestGateway, mock_and_gateway};
use serde_json::{Value, json};

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "Say hello"}]})
}

/// Three answered requests to `openai` (one streamed) and one failing on `mock`.
async fn some_traffic(gw: &TestGateway) {
    for stream in [false, false, true] {
        let response = gw
            .post("/v1/chat/completions")
            .json(&chat("openai/gpt-4.1", stream))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    let failed = gw
        .post("/v1/chat/completions")
        .json(&chat("mock/error-500", false))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    failed.text().await.unwrap();
}

/// The health answer once `provider` has `requests` requests (a streamed
/// record is sent when its body ends, just after the client read it).
async fn health_with(gw: &TestGateway, provider: &str, requests: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = gw.get_json("/api/health").await;
        let seen = entry(&health, provider).and_then(|p| p["requests"].as_u64());
        if seen == Some(requests) || Instant::now() > deadline {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn entry<'a>(health: &'a Value, provider: &str) -> Option<&'a Value> {
    health["providers"]
        .as_array()?
        .iter()
        .find(|p| p["provider"] == provider)
}

#[tokio::test]
async fn health_reports_per_provider_latency_and_success() {
    let (_mock, gw) = mock_and_gateway().await;
    some_traffic(&gw).await;
    let health = health_with(&gw, "openai", 3).await;

    // Routing may open breakers on the failing provider; the status must
    // say so exactly when it did.
    let open = health["routing"]["breakers"]
        .as_array()
        .expect("breakers")
        .iter()
        .any(|b| b["state"] == "open");
    assert_eq!(
        health["status"],
        if open { "degraded" } else { "ok" },
        "{health}"
    );
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_secs"].as_u64().is_some(), "{health}");
    if cfg!(target_os = "linux") {
        assert!(
            health["memory"]["rss_bytes"]
                .as_u64()
                .is_some_and(|b| b > 1_000_000),
            "{health}"
        );
    }
    let openai = entry(&health, "openai").expect("openai listed");
    assert_eq!(openai["requests"], 3, "{openai}");
    assert_eq!(openai["successes"], 3);
    assert_eq!(openai["success_rate"], 1.0);
    assert_eq!(openai["fallback_hops"], 0);
    assert_eq!(
        openai["tokens"]["input"].as_u64(),
        Some(3 * mock::PROMPT_TOKENS)
    );
    for p in ["p50", "p95", "p99"] {
        assert!(
            openai["latency_ms"][p].as_f64().is_some_and(|v| v >= 0.0),
            "{openai}"
        );
    }
    assert!(
        openai["latency_ms"]["p50"].as_f64() <= openai["latency_ms"]["p99"].as_f64(),
        "{openai}"
    );
    assert!(
        openai["ttft_ms"]["p50"].as_f64().is_some(),
        "the streamed request has a time to first token: {openai}"
    );

    let failing = entry(&health, "mock").expect("mock listed");
    assert_eq!(failing["requests"], 1);
    assert_eq!(failing["success_rate"], 0.0);
    assert_eq!(failing["status_classes"]["5xx"], 1);

    assert!(health["routing"].is_object(), "{health}");
    assert!(health["routing"]["breakers"].is_array(), "{health}");
    assert!(health["events"].is_array(), "{health}");
}

#[tokio::test]
async fn reset_forgets_the_metrics() {
    let (_mock, gw) = mock_and_gateway().await;
    some_traffic(&gw).await;
    health_with(&gw, "openai", 3).await;
    let response = gw.post("/api/health/reset").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let fresh: Value = response.json().await.unwrap();
    assert_eq!(fresh["providers"], json!([]), "{fresh}");
    assert_eq!(fresh["status"], "ok");
    assert_eq!(gw.get_json("/api/health").await["providers"], json!([]));
}

#[tokio::test]
async fn metrics_expose_counters_in_prometheus_text() {
    let (_mock, gw) = mock_and_gateway().await;
    some_traffic(&gw).await;
    health_with(&gw, "openai", 3).await;

    let response = gw.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    for line in [
        "omniroute_up 1".to_string(),
        "# TYPE omniroute_requests_total counter".to_string(),
        "omniroute_requests_total{provider=\"openai\",code_class=\"2xx\"} 3".to_string(),
        "omniroute_requests_total{provider=\"openai\",code_class=\"5xx\"} 0".to_string(),
        "omniroute_requests_total{provider=\"mock\",code_class=\"5xx\"} 1".to_string(),
        "omniroute_request_duration_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 3".to_string(),
        "omniroute_request_duration_seconds_count{provider=\"openai\"} 3".to_string(),
        "omniroute_time_to_first_token_seconds_count{provider=\"openai\"} 1".to_string(),
        format!(
            "omniroute_tokens_total{{provider=\"openai\",direction=\"input\"}} {}",
            3 * mock::PROMPT_TOKENS
        ),
        format!(
            "omniroute_tokens_total{{provider=\"openai\",direction=\"output\"}} {}",
            3 * mock::COMPLETION_TOKENS
        ),
        "omniroute_fallback_hops_total{provider=\"openai\"} 0".to_string(),
        "# TYPE omniroute_breaker_open gauge".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("omniroute_uptime_seconds ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("omniroute_cost_usd_total{provider=\"openai\"} ")),
        "{text}"
    );
}

#[tokio::test]
async fn the_health_surface_needs_a_full_access_key() {
    let (_mock, gw) = mock_and_gateway().await;
    for (method, path) in [
        ("GET", "/api/health"),
        ("POST", "/api/health/reset"),
        ("GET", "/api/events"),
        ("GET", "/metrics"),
    ] {
        let request = match method {
            "GET" => gw.http.get(format!("{}{path}", gw.url)),
            _ => gw.http.post(format!("{}{path}", gw.url)),
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
        let response = match method {
            "GET" => gw.http.get(format!("{}{path}", gw.url)),
            _ => gw.http.post(format!("{}{path}", gw.url)),
        }
        .bearer_auth("sk-not-a-key")
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 401, "{method} {path} with a wrong key");
    }
}

/// Reads SSE text from `stream` until it contains `needle` (or 10 s pass).
async fn read_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    seen: &mut String,
    needle: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no `{needle}` in the stream ({other:?}); read so far:\n{seen}"),
        }
    }
}

fn recovered(provider: &str) -> Event {
    Event::ProviderRecovered {
        provider: provider.into(),
        connection_id: None,
    }
}

#[tokio::test]
async fn events_stream_live_and_replay_after_since() {
    let (_mock, gw) = mock_and_gateway().await;
    let bus = gw.handle.as_ref().expect("running").events().clone();
    bus.publish(recovered("before"));

    let response = gw.get("/api/events").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "retry: 3000\n\n").await;

    bus.publish(Event::ProviderDown {
        provider: "openai".into(),
        connection_id: Some(3),
        until_ms: 1_700_000_030_000,
        reason: "5 failures in 60 s".into(),
    });
    read_until(&mut stream, &mut seen, "event: ProviderDown\n").await;
    read_until(&mut stream, &mut seen, "}\n\n").await;
    let data = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let envelope: Value = serde_json::from_str(data).unwrap();
    assert_eq!(envelope["id"], 2, "{envelope}");
    assert_eq!(envelope["type"], "ProviderDown");
    assert_eq!(envelope["connection_id"], 3);
    assert!(envelope["ts"].as_i64().is_some_and(|t| t > 0));
    assert!(!seen.contains("before"), "no replay without since: {seen}");
    drop(stream);

    // A reconnecting client gets what it missed, then live events.
    let response = gw.get("/api/events?since=1").send().await.unwrap();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "id: 2\nevent: ProviderDown\n").await;
    bus.publish(recovered("openai"));
    read_until(&mut stream, &mut seen, "id: 3\nevent: ProviderRecovered\n").await;
    assert!(!seen.contains("\"before\""), "id 1 is not replayed: {seen}");

    // The EventSource way of asking the same.
    let response = gw
        .get("/api/events")
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "id: 3\n").await;
    assert!(!seen.contains("id: 2\n"), "{seen}");

    // The health answer carries the recent events too.
    let health = gw.get_json("/api/health").await;
    let ids: Vec<_> = health["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);

    let bad = gw.get("/api/events?since=soon").send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn shutdown_is_prompt_with_an_event_stream_open() {
    let (_mock, gw) = mock_and_gateway().await;
    let response = gw.get("/api/events").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "retry: 3000\n\n").await;

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), gw.stop())
        .await
        .expect("shutdown does not wait on the event stream");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The client sees its stream end.
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream ended");
}
