//! Black-box tests of the network guard: behind a trusted proxy, a blocked client gets 403 in the caller's format before its key is looked at, an allowlist keeps others out, the per-address limit cuts off at the exact request, and the dashboard login lock counts the forwarded client; a forwarded header from anyone else is ignored.

use std::time::{SystemTime, UNIX_EPOCH};

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TEST_KEY, TestGateway, json_of, mock_config};
use serde_json::{Value, json};

const PASSWORD: &str = "guarded password";

/// A gateway whose `[settings]` trust the loopback proxy and block
/// 203.0.113.0/24, with `extra` settings lines.
async fn gateway(extra: &str) -> (MockUpstream, TestGateway) {
    let mock = MockUpstream::start().await;
    let config = format!(
        "{}\n[settings]\ntrusted_proxies = [\"127.0.0.1\"]\nip_blocklist = [\"203.0.113.0/24\"]\n{extra}\n",
        mock_config(&mock.base_url())
    );
    let gw =
        TestGateway::start_with_password(tempfile::tempdir().unwrap(), &config, Some(PASSWORD))
            .await;
    (mock, gw)
}

fn chat() -> Value {
    json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]})
}

async fn post_from(
    gw: &TestGateway,
    path: &str,
    client: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = gw.http.post(format!("{}{path}", gw.url)).json(body);
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key).header("x-api-key", key);
    }
    request.send().await.unwrap()
}

/// A chat request with the test key, sent by `client` through the proxy
/// (`None`: from this machine, no forwarded header).
async fn chat_from(gw: &TestGateway, client: Option<&str>) -> reqwest::Response {
    post_from(gw, "/v1/chat/completions", client, Some(TEST_KEY), &chat()).await
}

#[tokio::test]
async fn a_blocked_client_is_refused_before_its_key_in_its_own_format() {
    let (_mock, gw) = gateway("").await;
    // No key at all: the address is refused first.
    let openai = json_of(
        post_from(
            &gw,
            "/v1/chat/completions",
            Some("203.0.113.7"),
            None,
            &chat(),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(openai["error"]["code"], "ip_blocked", "{openai}");
    let anthropic_body = json!({"model": "mock/gpt-4.1", "max_tokens": 8,
                                "messages": [{"role": "user", "content": "hi"}]});
    let anthropic = json_of(
        post_from(
            &gw,
            "/v1/messages",
            Some("203.0.113.7"),
            Some(TEST_KEY),
            &anthropic_body,
        )
        .await,
        403,
    )
    .await;
    assert_eq!(anthropic["type"], "error", "{anthropic}");
    assert_eq!(anthropic["error"]["type"], "permission_error");
    let gemini_body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let gemini = json_of(
        post_from(
            &gw,
            "/v1beta/models/mock/gpt-4.1:generateContent",
            Some("10.1.1.1, 203.0.113.9"),
            Some(TEST_KEY),
            &gemini_body,
        )
        .await,
        403,
    )
    .await;
    assert_eq!(gemini["error"]["status"], "PERMISSION_DENIED", "{gemini}");
    // The management API and the dashboard are closed to it too.
    let keys = gw
        .http
        .get(format!("{}/api/keys", gw.url))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 403);

    // Another client through the proxy reaches authentication, then the answer.
    let no_key = post_from(
        &gw,
        "/v1/chat/completions",
        Some("198.51.100.4"),
        None,
        &chat(),
    )
    .await;
    assert_eq!(no_key.status(), 401);
    let served = chat_from(&gw, Some("198.51.100.4")).await;
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn without_trusted_proxies_the_forwarded_header_is_ignored() {
    let mock = MockUpstream::start().await;
    let config = format!(
        "{}\n[settings]\nip_blocklist = [\"203.0.113.0/24\"]\n",
        mock_config(&mock.base_url())
    );
    let gw = TestGateway::start(&config).await;
    // The peer is this machine; a header anyone can write changes nothing.
    let served = chat_from(&gw, Some("203.0.113.7")).await;
    assert_eq!(served.status(), 200);
}

#[tokio::test]
async fn an_allowlist_keeps_every_other_client_out_but_this_machine() {
    let (_mock, gw) = gateway("ip_allowlist = [\"198.51.100.0/24\"]").await;
    let outside = json_of(chat_from(&gw, Some("192.0.2.1")).await, 403).await;
    assert_eq!(outside["error"]["code"], "ip_not_allowed");
    let inside = chat_from(&gw, Some("198.51.100.20")).await;
    assert_eq!(inside.status(), 200);
    let local = chat_from(&gw, None).await;
    assert_eq!(local.status(), 200);
}

#[tokio::test]
async fn the_per_address_limit_cuts_off_at_the_exact_request() {
    let (_mock, gw) = gateway("ip_requests_per_minute = 3").await;
    // The window is the clock minute: start well inside one.
    let into_minute = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 50_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            60_500 - into_minute as u64,
        ))
        .await;
    }
    for _ in 0..3 {
        let ok = chat_from(&gw, Some("198.51.100.7")).await;
        assert_eq!(ok.status(), 200);
    }
    let limited = chat_from(&gw, Some("198.51.100.7")).await;
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = json_of(limited, 429).await;
    assert_eq!(body["error"]["code"], "ip_rate_limited");
    // Others, and this machine, are not held back by it.
    let other = chat_from(&gw, Some("198.51.100.8")).await;
    assert_eq!(other.status(), 200);
    for _ in 0..4 {
        let local = chat_from(&gw, None).await;
        assert_eq!(local.status(), 200);
    }
}

#[tokio::test]
async fn the_login_lock_counts_the_forwarded_client() {
    let (_mock, gw) = gateway("").await;
    let login = |client: &'static str, password: &'static str| {
        gw.http
            .post(format!("{}/api/auth/login", gw.url))
            .header("x-forwarded-for", client)
            .json(&json!({ "password": password }))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(login("198.51.100.30", "guess").await.unwrap().status(), 401);
    }
    let locked = login("198.51.100.30", PASSWORD).await.unwrap();
    assert_eq!(locked.status(), 429);
    // A different client behind the same proxy is not locked out.
    assert_eq!(
        login("198.51.100.31", PASSWORD).await.unwrap().status(),
        200
    );
}
