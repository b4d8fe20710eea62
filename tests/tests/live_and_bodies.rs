//! Black-box tests of the live request monitor (`GET /api/usage/live`) and of request/response bodies kept in debug mode (`log_bodies`, `GET /api/usage/{id}`).

use std::time::Duration;

use futures_util::StreamExt;
use omniroute_tests::{TEST_KEY, TestGateway, json_of, mock_and_gateway};
use serde_json::{Value, json};

fn chat(content: &str, stream: bool) -> Value {
    json!({"model": "openai/gpt-4.1", "stream": stream,
           "messages": [{"role": "user", "content": content}]})
}

/// One SSE frame: its `id`, `event` and `data` lines.
#[derive(Debug, Default)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Reads `GET /api/usage/live` frame by frame.
struct LiveReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl LiveReader {
    async fn open(gw: &TestGateway, query: &str) -> LiveReader {
        let response = gw
            .get(&format!("/api/usage/live{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        LiveReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Frame {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        frame.id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        frame.event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        frame.data.push_str(v);
                    }
                }
                return frame;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("a frame within 10 s")
                .expect("the stream stays open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `usage` event's row.
    async fn next_row(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if frame.event.as_deref() == Some("usage") {
                let row: Value = serde_json::from_str(&frame.data).unwrap();
                assert_eq!(frame.id, Some(row["id"].to_string()), "id: is the row id");
                return row;
            }
        }
    }
}

#[tokio::test]
async fn the_live_stream_sends_new_rows_and_replays_after_since_id() {
    let (_mock, gw) = mock_and_gateway().await;
    gw.post_text("/v1/chat/completions", &chat("first", false))
        .await;
    let first = gw.usage(1).await[0].clone();
    let first_id = first["id"].as_i64().unwrap();

    let mut fresh = LiveReader::open(&gw, "").await;
    let mut replaying = LiveReader::open(&gw, "?since_id=0").await;
    let replayed = replaying.next_row().await;
    assert_eq!(
        replayed, first,
        "the replayed row is the row /api/usage lists"
    );

    gw.post_text("/v1/chat/completions", &chat("second", true))
        .await;
    let live = fresh.next_row().await;
    assert!(live["id"].as_i64().unwrap() > first_id);
    assert_eq!(live["requested_model"], "openai/gpt-4.1");
    assert_eq!(live["stream"], true);
    assert_eq!(live["status"], 200);
    assert!(live.get("request_body").is_none(), "rows carry no bodies");
    assert_eq!(replaying.next_row().await["id"], live["id"]);
    let listed = gw.usage(2).await;
    assert_eq!(listed[0], live, "same shape as a row of GET /api/usage");

    // A client reconnecting after the first row gets only what came later.
    let mut reconnect = LiveReader::open(&gw, &format!("?since_id={first_id}")).await;
    assert_eq!(reconnect.next_row().await["id"], live["id"]);

    let bad = gw.get("/api/usage/live?since_id=x").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let anonymous = reqwest::get(format!("{}/api/usage/live", gw.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn the_live_stream_ends_when_the_gateway_stops() {
    let (_mock, gw) = mock_and_gateway().await;
    let mut live = LiveReader::open(&gw, "").await;
    let hint = live.next().await;
    assert!(hint.event.is_none() && hint.data.is_empty(), "{hint:?}");
    let stopping = tokio::spawn(gw.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), live.body.next())
        .await
        .expect("the stream ends before the drain timeout");
    assert!(ended.is_none_or(|r| r.is_err()));
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown is quick")
        .unwrap();
}

/// The newest row's id, once `expected` rows are stored.
async fn newest_id(gw: &TestGateway, expected: usize) -> i64 {
    let rows = gw.usage(expected).await;
    assert_eq!(rows.len(), expected);
    rows[0]["id"].as_i64().unwrap()
}

async fn detail(gw: &TestGateway, id: i64) -> Value {
    json_of(
        gw.get(&format!("/api/usage/{id}")).send().await.unwrap(),
        200,
    )
    .await
}

#[tokio::test]
async fn bodies_are_kept_only_in_debug_mode_capped_and_without_keys() {
    let (_mock, gw) = mock_and_gateway().await;

    gw.post_text("/v1/chat/completions", &chat("quiet please", false))
        .await;
    let off = detail(&gw, newest_id(&gw, 1).await).await;
    assert_eq!(off["request_body"], Value::Null);
    assert_eq!(off["response_body"], Value::Null);
    assert_eq!(off["requested_model"], "openai/gpt-4.1");

    gw.patch_settings(json!({"log_bodies": true})).await;

    let answer = gw
        .post_text("/v1/chat/completions", &chat("Say hello", false))
        .await;
    let whole = detail(&gw, newest_id(&gw, 2).await).await;
    let request = whole["request_body"].as_str().unwrap();
    let sent: Value = serde_json::from_str(request).unwrap();
    assert_eq!(sent, chat("Say hello", false), "the caller's body as sent");
    assert_eq!(
        whole["response_body"].as_str().unwrap(),
        answer,
        "the bytes the caller got"
    );

    let streamed_text = gw
        .post_text("/v1/chat/completions", &chat("stream it", true))
        .await;
    let streamed = detail(&gw, newest_id(&gw, 3).await).await;
    assert!(
        streamed["request_body"]
            .as_str()
            .unwrap()
            .contains("stream it")
    );
    assert_eq!(streamed["response_body"].as_str().unwrap(), streamed_text);
    assert!(streamed_text.contains("data: [DONE]"));

    // Errors keep the error body the caller got.
    let unknown = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "nope/x", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let failed = detail(&gw, newest_id(&gw, 4).await).await;
    assert_eq!(failed["status"], 404);
    assert_eq!(failed["response_body"].as_str().unwrap(), unknown);

    // A request body past 256 KiB is cut there and marked.
    let big = "x".repeat(300 * 1024);
    gw.post_text("/v1/chat/completions", &chat(&big, false))
        .await;
    let cut = detail(&gw, newest_id(&gw, 5).await).await;
    let request = cut["request_body"].as_str().unwrap();
    assert!(request.ends_with("…[truncated]"), "{}", &request[..80]);
    assert_eq!(request.len(), 256 * 1024 + "…[truncated]".len());

    for row in gw.usage(5).await {
        assert!(
            row.get("request_body").is_none(),
            "the list carries no bodies"
        );
        let stored = detail(&gw, row["id"].as_i64().unwrap()).await.to_string();
        for secret in [TEST_KEY, "sk-upstream-openai", "Bearer"] {
            assert!(!stored.contains(secret), "{secret} stored: {stored:.300}");
        }
    }

    // Off again: new rows have no bodies.
    gw.patch_settings(json!({"log_bodies": false})).await;
    gw.post_text("/v1/chat/completions", &chat("off again", true))
        .await;
    let after = detail(&gw, newest_id(&gw, 6).await).await;
    assert_eq!(after["request_body"], Value::Null);
    assert_eq!(after["response_body"], Value::Null);
}

#[tokio::test]
async fn an_unknown_usage_id_is_a_404_and_a_bad_one_a_400() {
    let (_mock, gw) = mock_and_gateway().await;
    let missing = json_of(gw.get("/api/usage/999999").send().await.unwrap(), 404).await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("999999"))
    );
    json_of(gw.get("/api/usage/abc").send().await.unwrap(), 400).await;
    let anonymous = reqwest::get(format!("{}/api/usage/1", gw.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
