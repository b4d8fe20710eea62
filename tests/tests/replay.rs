//! Black-box tests of request idempotency, in-flight sharing and the exact response cache: what reaches the mock upstream, what each caller gets, and the usage record each request leaves.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, mock_and_gateway};
use serde_json::{Value, json};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

/// What the mock received on `path` so far.
fn calls(mock: &MockUpstream, path: &str) -> usize {
    mock.received().iter().filter(|r| r.path == path).count()
}

/// Status, content type and body of a finished answer.
async fn answer(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn post_with(
    gw: &TestGateway,
    path: &str,
    header: Option<(&str, &str)>,
    body: &Value,
) -> (u16, String, String) {
    let mut request = gw.post(path).json(body);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    answer(request.send().await.unwrap()).await
}

/// Usage rows once `expected` are written, checked to be exactly that many.
async fn rows(gw: &TestGateway, expected: usize) -> Vec<Value> {
    let rows = gw.usage(expected).await;
    assert_eq!(rows.len(), expected, "{rows:#?}");
    rows
}

fn served_from(rows: &[Value], from: &str) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["served_from"] == from)
        .cloned()
        .collect()
}

async fn set(gw: &TestGateway, settings: Value) {
    let response = gw
        .patch("/api/settings")
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

const CHAT: &str = "/v1/chat/completions";

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer() {
    let (mock, gw) = mock_and_gateway().await;
    let body = chat("openai/gpt-4.1");
    let key = Some(("Idempotency-Key", "idem-1"));
    let first = post_with(&gw, CHAT, key, &body).await;
    let second = post_with(&gw, CHAT, key, &body).await;
    assert_eq!(first.0, 200, "{first:?}");
    assert!(first.1.starts_with("application/json"));
    assert_eq!(first, second, "same status, content type and body");
    assert_eq!(
        calls(&mock, CHAT),
        1,
        "the repeat never reached the upstream"
    );

    let rows = rows(&gw, 2).await;
    let replays = served_from(&rows, "replay");
    assert_eq!(replays.len(), 1, "{rows:#?}");
    let replay = &replays[0];
    assert_eq!(replay["cost"], 0.0);
    assert_eq!(replay["input_tokens"], 0);
    assert_eq!(replay["output_tokens"], 0);
    assert_eq!(replay["status"], 200);
    assert_eq!(replay["requested_model"], "openai/gpt-4.1");
    assert_eq!(replay["inbound_format"], "openai");
    assert!(replay["api_key_id"].as_i64().is_some());
    let billed: Vec<_> = rows.iter().filter(|r| r["served_from"].is_null()).collect();
    assert_eq!(billed.len(), 1);
    assert!(billed[0]["cost"].as_f64().unwrap() > 0.0, "{:?}", billed[0]);

    // `X-Request-Id` works the same when there is no Idempotency-Key, and
    // another key is another request.
    let id = Some(("X-Request-Id", "req-7"));
    let third = post_with(&gw, CHAT, id, &body).await;
    let fourth = post_with(&gw, CHAT, id, &body).await;
    assert_eq!(third, fourth);
    assert_eq!(calls(&mock, CHAT), 2);
    post_with(&gw, CHAT, Some(("Idempotency-Key", "idem-2")), &body).await;
    assert_eq!(calls(&mock, CHAT), 3);
}

#[tokio::test]
async fn a_key_is_forgotten_five_seconds_after_its_answer() {
    let (mock, gw) = mock_and_gateway().await;
    let body = chat("openai/gpt-4.1");
    let key = Some(("Idempotency-Key", "idem-late"));
    post_with(&gw, CHAT, key, &body).await;
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    post_with(&gw, CHAT, key, &body).await;
    assert_eq!(calls(&mock, CHAT), 2);
    let rows = rows(&gw, 2).await;
    assert!(served_from(&rows, "replay").is_empty());
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422_in_the_callers_format() {
    let (mock, gw) = mock_and_gateway().await;
    let key = Some(("Idempotency-Key", "reused"));
    let first = post_with(&gw, CHAT, key, &chat("openai/gpt-4.1")).await;
    assert_eq!(first.0, 200);
    let mut other = chat("openai/gpt-4.1");
    other["messages"][0]["content"] = json!("Something else");
    let (status, content_type, text) = post_with(&gw, CHAT, key, &other).await;
    assert_eq!(status, 422, "{text}");
    assert!(content_type.starts_with("application/json"));
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{error}"
    );
    assert_eq!(calls(&mock, CHAT), 1);

    // Anthropic callers get Anthropic's error shape.
    let message = |text: &str| {
        json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": text}]})
    };
    let key = Some(("Idempotency-Key", "reused-anthropic"));
    let first = post_with(&gw, "/v1/messages", key, &message("Hi")).await;
    assert_eq!(first.0, 200, "{first:?}");
    let (status, _, text) = post_with(&gw, "/v1/messages", key, &message("Bye")).await;
    assert_eq!(status, 422);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(calls(&mock, "/v1/messages"), 1);

    // Each request leaves one record, the refused ones as 422s.
    let rows = rows(&gw, 4).await;
    assert_eq!(rows.iter().filter(|r| r["status"] == 422).count(), 2);
}

#[tokio::test]
async fn a_repeat_joins_a_stream_in_flight_and_gets_all_of_it() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/slow-stream");
    body["stream"] = json!(true);
    let leader = gw
        .post(CHAT)
        .header("Idempotency-Key", "stream-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(leader.status(), 200);
    let mut leader_stream = leader.bytes_stream();
    // The follower comes once the leader has seen the stream begin.
    let mut leader_bytes = leader_stream.next().await.unwrap().unwrap().to_vec();

    let follower = gw
        .post(CHAT)
        .header("Idempotency-Key", "stream-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(follower.status(), 200);
    assert!(
        follower.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (rest, follower_text) = tokio::join!(
        async {
            let mut rest = Vec::new();
            while let Some(chunk) = leader_stream.next().await {
                rest.extend_from_slice(&chunk.unwrap());
            }
            rest
        },
        follower.text()
    );
    leader_bytes.extend_from_slice(&rest);
    let leader_text = String::from_utf8(leader_bytes).unwrap();
    assert!(leader_text.contains("data: [DONE]"), "{leader_text}");
    assert_eq!(
        follower_text.unwrap(),
        leader_text,
        "the whole stream, identical"
    );
    assert_eq!(calls(&mock, CHAT), 1);

    let rows = rows(&gw, 2).await;
    let replays = served_from(&rows, "replay");
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0]["stream"], true);
    assert_eq!(replays[0]["status"], 200);

    // Once it has finished, the same key replays the recorded stream.
    let replayed = post_with(&gw, CHAT, Some(("Idempotency-Key", "stream-1")), &body).await;
    assert_eq!(replayed.2, leader_text);
    assert_eq!(calls(&mock, CHAT), 1);
}

#[tokio::test]
async fn identical_streams_at_temperature_zero_share_one_call_while_it_runs() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/slow-stream");
    body["stream"] = json!(true);
    body["temperature"] = json!(0);
    let leader = gw.post(CHAT).json(&body).send().await.unwrap();
    let mut leader_stream = leader.bytes_stream();
    let mut leader_bytes = leader_stream.next().await.unwrap().unwrap().to_vec();
    let follower = gw.post(CHAT).json(&body).send().await.unwrap();
    let (rest, follower_text) = tokio::join!(
        async {
            let mut rest = Vec::new();
            while let Some(chunk) = leader_stream.next().await {
                rest.extend_from_slice(&chunk.unwrap());
            }
            rest
        },
        follower.text()
    );
    leader_bytes.extend_from_slice(&rest);
    assert_eq!(follower_text.unwrap().as_bytes(), &leader_bytes[..]);
    assert_eq!(calls(&mock, CHAT), 1);
    let rows = rows(&gw, 2).await;
    assert_eq!(served_from(&rows, "shared").len(), 1);

    // Finished, it is not replayed: sharing is for requests in flight only.
    gw.post(CHAT)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(calls(&mock, CHAT), 2);
}

#[tokio::test]
async fn concurrent_identical_requests_at_temperature_zero_share_one_upstream_call() {
    let (mock, gw) = mock_and_gateway().await;
    let mut body = chat("mock/slow-reply");
    body["temperature"] = json!(0);
    let answers = join_all((0..5).map(|_| post_with(&gw, CHAT, None, &body))).await;
    assert_eq!(calls(&mock, CHAT), 1, "one upstream call for five requests");
    assert_eq!(answers[0].0, 200, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:#?}");

    let rows = rows(&gw, 5).await;
    let shared = served_from(&rows, "shared");
    assert_eq!(shared.len(), 4, "{rows:#?}");
    assert!(
        shared
            .iter()
            .all(|r| r["cost"] == 0.0 && r["status"] == 200)
    );
    assert!(
        shared
            .iter()
            .all(|r| r["requested_model"] == "mock/slow-reply")
    );
}

#[tokio::test]
async fn a_regenerate_above_the_threshold_or_without_temperature_is_never_shared() {
    let (mock, gw) = mock_and_gateway().await;
    let mut warm = chat("mock/slow-reply");
    warm["temperature"] = json!(0.7);
    let plain = chat("mock/slow-reply");
    let requests = (0..5)
        .map(|_| post_with(&gw, CHAT, None, &warm))
        .chain((0..5).map(|_| post_with(&gw, CHAT, None, &plain)));
    let answers = join_all(requests).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:#?}");
    assert_eq!(calls(&mock, CHAT), 10);
    let rows = rows(&gw, 10).await;
    assert!(rows.iter().all(|r| r["served_from"].is_null()), "{rows:#?}");
}

#[tokio::test]
async fn the_cache_serves_repeats_whole_or_streamed_until_turned_off() {
    let (mock, gw) = mock_and_gateway().await;
    set(&gw, json!({"response_cache_enabled": true})).await;
    let body = chat("openai/gpt-4.1");
    let first = post_with(&gw, CHAT, None, &body).await;
    let second = post_with(&gw, CHAT, None, &body).await;
    assert_eq!(first.0, 200);
    assert_eq!(first, second);
    assert_eq!(calls(&mock, CHAT), 1);

    let mut stream = chat("openai/gpt-4.1");
    stream["stream"] = json!(true);
    let first_stream = post_with(&gw, CHAT, None, &stream).await;
    let second_stream = post_with(&gw, CHAT, None, &stream).await;
    assert!(first_stream.1.starts_with("text/event-stream"));
    assert_eq!(first_stream, second_stream);
    assert_eq!(calls(&mock, CHAT), 2);

    let rows = rows(&gw, 4).await;
    let hits = served_from(&rows, "cache");
    assert_eq!(hits.len(), 2, "{rows:#?}");
    assert!(hits.iter().all(|r| r["cost"] == 0.0 && r["status"] == 200));
    assert_eq!(hits.iter().filter(|r| r["stream"] == true).count(), 1);

    // Turned off, the cache answers nothing at once.
    set(&gw, json!({"response_cache_enabled": false})).await;
    post_with(&gw, CHAT, None, &body).await;
    assert_eq!(calls(&mock, CHAT), 3);
}

#[tokio::test]
async fn cached_answers_expire_after_their_ttl() {
    let (mock, gw) = mock_and_gateway().await;
    set(
        &gw,
        json!({"response_cache_enabled": true, "response_cache_ttl_secs": 1}),
    )
    .await;
    let body = chat("openai/gpt-4.1");
    post_with(&gw, CHAT, None, &body).await;
    post_with(&gw, CHAT, None, &body).await;
    assert_eq!(calls(&mock, CHAT), 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    post_with(&gw, CHAT, None, &body).await;
    assert_eq!(calls(&mock, CHAT), 2, "expired after 1 s");
    post_with(&gw, CHAT, None, &body).await;
    assert_eq!(calls(&mock, CHAT), 2, "and cached again");
}

#[tokio::test]
async fn errors_and_broken_streams_are_not_cached() {
    let (mock, gw) = mock_and_gateway().await;
    set(&gw, json!({"response_cache_enabled": true})).await;

    let error = chat("openai/error-400");
    let first = post_with(&gw, CHAT, None, &error).await;
    assert_eq!(first.0, 400, "{first:?}");
    // However many calls one request makes (fallback, retries), a second
    // identical request makes as many again.
    let per_request = calls(&mock, CHAT);
    assert!(per_request >= 1);
    post_with(&gw, CHAT, None, &error).await;
    assert_eq!(calls(&mock, CHAT), 2 * per_request);

    let mut broken = chat("mock/break-stream");
    broken["stream"] = json!(true);
    let before = calls(&mock, CHAT);
    let cut = post_with(&gw, CHAT, None, &broken).await;
    assert_eq!(cut.0, 200);
    let per_stream = calls(&mock, CHAT) - before;
    post_with(&gw, CHAT, None, &broken).await;
    assert_eq!(calls(&mock, CHAT) - before, 2 * per_stream);

    let rows = gw.usage(4).await;
    assert!(served_from(&rows, "cache").is_empty(), "{rows:#?}");
}

#[tokio::test]
async fn gemini_calls_replay_by_key_and_refuse_a_reused_one_in_gemini_shape() {
    let (mock, gw) = mock_and_gateway().await;
    let path = "/v1beta/models/gemini/gemini-2.5-flash:generateContent";
    let upstream = "/v1beta/models/gemini-2.5-flash:generateContent";
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]});
    let key = Some(("Idempotency-Key", "gemini-1"));
    let first = post_with(&gw, path, key, &body).await;
    let second = post_with(&gw, path, key, &body).await;
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first, second);
    assert_eq!(calls(&mock, upstream), 1);

    let other = json!({"contents": [{"role": "user", "parts": [{"text": "Bye"}]}]});
    let (status, _, text) = post_with(&gw, path, key, &other).await;
    assert_eq!(status, 422);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["code"], 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );

    let rows = rows(&gw, 3).await;
    let replay = &served_from(&rows, "replay")[0];
    assert_eq!(replay["inbound_format"], "gemini");
    assert_eq!(replay["requested_model"], "gemini/gemini-2.5-flash");
}

#[tokio::test]
async fn another_caller_never_gets_this_callers_answers() {
    let (mock, gw) = mock_and_gateway().await;
    set(&gw, json!({"response_cache_enabled": true})).await;
    let created: Value = gw
        .post("/api/keys")
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = created["key"].as_str().unwrap().to_string();
    let body = chat("openai/gpt-4.1");
    let key = ("Idempotency-Key", "shared-key");
    post_with(&gw, CHAT, Some(key), &body).await;
    assert_eq!(calls(&mock, CHAT), 1);

    // The same idempotency key and body from another caller: neither a
    // replay, nor a cache hit, nor a conflict.
    let response = gw
        .http
        .post(format!("{}{CHAT}", gw.url))
        .bearer_auth(&other_key)
        .header(key.0, key.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls(&mock, CHAT), 2);

    // The first caller's repeat is still its own replay.
    post_with(&gw, CHAT, Some(key), &body).await;
    assert_eq!(calls(&mock, CHAT), 2);
    let rows = rows(&gw, 3).await;
    assert_eq!(served_from(&rows, "replay").len(), 1);
}

#[tokio::test]
async fn a_caller_the_handler_would_refuse_gets_nothing_shared() {
    let (mock, gw) = mock_and_gateway().await;
    let body = chat("openai/gpt-4.1");
    let key = ("Idempotency-Key", "auth-1");
    post_with(&gw, CHAT, Some(key), &body).await;
    let response = gw
        .http
        .post(format!("{}{CHAT}", gw.url))
        .bearer_auth("sk-omni-not-a-key")
        .header(key.0, key.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = gw
        .http
        .post(format!("{}{CHAT}", gw.url))
        .header(key.0, key.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(calls(&mock, CHAT), 1);
}
