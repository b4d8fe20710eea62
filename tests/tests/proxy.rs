//! Black-box tests of outbound proxies: global, per provider and per connection, over HTTP and SOCKS5, and what a dead proxy does to callers.

use std::time::Duration;

use omniroute_tests::mock::proxy::{MockProxy, dead_proxy_url};
use omniroute_tests::mock::{self, MockUpstream};
use omniroute_tests::{TestGateway, mock_and_gateway};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

/// A chat completion through the gateway; the status and the body.
async fn ask(gw: &TestGateway, model: &str) -> (u16, Value) {
    let response = gw
        .post("/v1/chat/completions")
        .json(&chat(model))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ask_ok(gw: &TestGateway, model: &str) -> Value {
    let (status, body) = ask(gw, model).await;
    assert_eq!(status, 200, "{model}: {body}");
    body
}

#[tokio::test]
async fn the_global_proxy_carries_upstream_calls_until_it_is_cleared() {
    let (mock, gw) = mock_and_gateway().await;
    let http = MockProxy::http().await;
    gw.patch_settings(json!({"proxy": http.url()})).await;

    let body = ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(body["choices"][0]["message"]["content"], mock::OPENAI_TEXT);
    assert_eq!(
        http.relayed(),
        1,
        "one upstream call, one relayed connection"
    );
    assert_eq!(
        http.targets(),
        [format!("http://{}/v1/chat/completions", mock.addr)],
        "the proxy was asked for the upstream's own URL"
    );
    assert_eq!(mock.received().len(), 1, "the call reached the upstream");

    // A stream goes through the proxy as well, and arrives whole.
    let mut streamed = chat("openai/gpt-4.1");
    streamed["stream"] = json!(true);
    let text = gw.post_text("/v1/chat/completions", &streamed).await;
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(http.relayed(), 2);

    // Other formats' providers take the global proxy too.
    ask_ok(&gw, "anthropic/claude-sonnet-4-5").await;
    assert_eq!(http.relayed(), 3);
    assert!(
        http.targets()[2].ends_with("/v1/messages"),
        "{:?}",
        http.targets()
    );

    gw.patch_settings(json!({"proxy": ""})).await;
    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(http.relayed(), 3, "no proxy any more: the call went direct");
    assert_eq!(mock.received().len(), 4);
}

#[tokio::test]
async fn a_provider_proxy_overrides_the_global_one() {
    let (mock, gw) = mock_and_gateway().await;
    let http = MockProxy::http().await;
    let socks = MockProxy::socks5().await;
    gw.patch_settings(json!({"proxy": http.url(), "provider_proxies": {"openai": socks.url()}}))
        .await;

    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(
        (socks.relayed(), http.relayed()),
        (1, 0),
        "openai goes through its own proxy"
    );
    assert_eq!(
        socks.targets(),
        [mock.addr.to_string()],
        "SOCKS5 by address"
    );

    ask_ok(&gw, "anthropic/claude-sonnet-4-5").await;
    assert_eq!(
        (socks.relayed(), http.relayed()),
        (1, 1),
        "anthropic has none of its own: the global one"
    );

    // socks5h: the proxy resolves the name.
    let socks_h = socks.url().replace("socks5://", "socks5h://");
    gw.patch_settings(json!({"provider_proxies": {"openai": socks_h}}))
        .await;
    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(socks.relayed(), 2);
    assert_eq!(socks.targets()[1], mock.addr.to_string());

    gw.patch_settings(json!({"proxy": "", "provider_proxies": {}}))
        .await;
    ask_ok(&gw, "openai/gpt-4.1").await;
    ask_ok(&gw, "anthropic/claude-sonnet-4-5").await;
    assert_eq!(
        (socks.relayed(), http.relayed()),
        (2, 1),
        "all direct again"
    );
    assert_eq!(mock.received().len(), 5);
}

#[tokio::test]
async fn a_connection_proxy_overrides_the_provider_and_global_ones() {
    let (mock, gw) = mock_and_gateway().await;
    let global = MockProxy::http().await;
    let provider = MockProxy::socks5().await;
    let own = MockProxy::http().await;
    gw.patch_settings(
        json!({"proxy": global.url(), "provider_proxies": {"openai": provider.url()}}),
    )
    .await;
    let id = gw.connection_id("work").await;
    let response = gw
        .patch(&format!("/api/connections/{id}"))
        .json(&json!({"proxy": own.url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(
        (own.relayed(), provider.relayed(), global.relayed()),
        (1, 0, 0)
    );

    // Removing the connection's proxy falls back to the provider's.
    let response = gw
        .patch(&format!("/api/connections/{id}"))
        .json(&json!({"proxy": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(
        (own.relayed(), provider.relayed(), global.relayed()),
        (1, 1, 0)
    );
    assert_eq!(mock.received().len(), 2);
}

#[tokio::test]
async fn a_proxy_password_is_sealed_at_rest_and_sent_to_the_proxy() {
    let (_mock, gw) = mock_and_gateway().await;
    let proxy = MockProxy::http().await;
    let with_password = format!("http://me:hunter2%40x@{}", proxy.addr);
    let id = gw.connection_id("work").await;
    let listed = gw
        .patch(&format!("/api/connections/{id}"))
        .json(&json!({"proxy": with_password}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let shown = listed["proxy"].as_str().unwrap();
    assert!(shown.starts_with("http://me:omniroute-sealed-"), "{shown}");
    gw.patch_settings(
        json!({"provider_proxies": {"anthropic": format!("http://u:s3cret@{}", proxy.addr)}}),
    )
    .await;
    // The upstream is plain HTTP, so the proxy sees each request with its
    // credentials: the password, opened only to be sent.
    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(
        proxy.credentials(),
        ["Basic bWU6aHVudGVyMkB4"],
        "me:hunter2@x"
    );

    // On disk: sealed, in the database and its write-ahead log.
    let dir = gw.data_dir.path().to_path_buf();
    drop(gw.stop().await.keep());
    for file in ["omniroute.db", "omniroute.db-wal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
        for secret in [b"hunter2".as_slice(), b"s3cret"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} in {file}",
                String::from_utf8_lossy(secret)
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_dead_proxy_is_a_clear_gateway_error_and_the_gateway_keeps_serving() {
    let (mock, gw) = mock_and_gateway().await;
    let dead = dead_proxy_url();
    // No retries: the point is the error, not the backoff.
    gw.patch_settings(json!({"proxy": dead, "retry_attempts": 0}))
        .await;

    let (status, body) = tokio::time::timeout(Duration::from_secs(30), ask(&gw, "openai/gpt-4.1"))
        .await
        .expect("a dead proxy fails fast, it does not hang");
    assert!(
        (502..=504).contains(&status),
        "a gateway-class error, got {status}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("proxy") && message.contains(&dead),
        "the error names the proxy: {body}"
    );
    assert!(mock.received().is_empty(), "nothing went around the proxy");

    // The process keeps serving: management and, once the proxy is gone,
    // the data plane.
    let health = gw.get("/api/settings").send().await.unwrap();
    assert_eq!(health.status(), 200);
    gw.patch_settings(json!({"proxy": ""})).await;
    ask_ok(&gw, "openai/gpt-4.1").await;
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn proxy_settings_are_validated() {
    let (_mock, gw) = mock_and_gateway().await;
    for patch in [
        json!({"proxy": "ftp://127.0.0.1:21"}),
        json!({"proxy": "not a url"}),
        json!({"provider_proxies": {"openai": "gopher://x"}}),
    ] {
        let response = gw.patch("/api/settings").json(&patch).send().await.unwrap();
        assert_eq!(response.status(), 400, "{patch}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("proxy"),
            "{patch}: {body}"
        );
    }
}

/// The HTTP mock proxy's `CONNECT` tunnels (what clients use for
/// `https://` targets; the mock upstream is plain HTTP, so the gateway
/// tests above use absolute-form requests).
#[tokio::test]
async fn the_http_mock_proxy_tunnels_connect() {
    let mock = MockUpstream::start().await;
    let http = MockProxy::http().await;
    let mut stream = tokio::net::TcpStream::connect(http.addr).await.unwrap();
    stream
        .write_all(format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", mock.addr).as_bytes())
        .await
        .unwrap();
    let mut reply = [0u8; 39];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"HTTP/1.1 200 Connection Established\r\n\r\n");
    stream
        .write_all(b"GET /_mock/received HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("[]"), "{answer}");
    assert_eq!(http.relayed(), 1);
    assert_eq!(http.targets(), [mock.addr.to_string()]);

    // A target nobody listens on: 502 from the proxy, nothing relayed.
    let dead = dead_proxy_url().replace("http://", "");
    let mut stream = tokio::net::TcpStream::connect(http.addr).await.unwrap();
    stream
        .write_all(format!("CONNECT {dead} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert_eq!(http.relayed(), 1);
}
