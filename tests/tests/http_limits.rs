//! Black-box tests of the HTTP-level limits: cross-origin browser access is closed by default and opens, for the data plane only, to the origins a user lists; a per-route body limit refuses a larger body with 413 in the caller's format while other routes keep the global limit.

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TEST_KEY, TestGateway, json_of, mock_config};
use serde_json::json;

const APP: &str = "https://app.example.com";

async fn gateway() -> (MockUpstream, TestGateway) {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    (mock, gw)
}

/// A browser's preflight for a POST to `path` from `origin`.
async fn preflight(gw: &TestGateway, path: &str, origin: &str) -> reqwest::Response {
    gw.http
        .request(reqwest::Method::OPTIONS, format!("{}{path}", gw.url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, anthropic-version",
        )
        .send()
        .await
        .unwrap()
}

fn allow_origin(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_to_listed_origins_for_the_data_plane_only() {
    let (_mock, gw) = gateway().await;
    let chat = json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]});
    let from_page = |origin: &'static str| {
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("origin", origin)
            .bearer_auth(TEST_KEY)
            .json(&chat)
            .send()
    };

    let closed = preflight(&gw, "/v1/chat/completions", APP).await;
    assert_eq!(allow_origin(&closed), None, "{closed:?}");
    let answered = from_page(APP).await.unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(allow_origin(&answered), None, "closed by default");

    gw.patch_settings(json!({"cors_origins": [APP]})).await;
    let open = preflight(&gw, "/v1/chat/completions", APP).await;
    assert!(open.status().is_success(), "{open:?}");
    assert_eq!(allow_origin(&open), Some(APP));
    let headers = open.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("anthropic-version"), "{headers}");
    assert!(
        open.headers()
            .get("access-control-allow-credentials")
            .is_none(),
        "never with cookies"
    );
    let answered = from_page(APP).await.unwrap();
    assert_eq!(allow_origin(&answered), Some(APP));
    assert_eq!(answered.status(), 200);

    // Another origin, and the management API from the listed one, stay closed.
    let other = preflight(&gw, "/v1/chat/completions", "https://evil.example").await;
    assert_eq!(allow_origin(&other), None);
    assert_eq!(
        allow_origin(&from_page("https://evil.example").await.unwrap()),
        None
    );
    for path in ["/api/keys", "/api/settings", "/dashboard/"] {
        let management = preflight(&gw, path, APP).await;
        assert_eq!(allow_origin(&management), None, "{path}");
    }
    let keys = gw
        .get("/api/keys")
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200);
    assert_eq!(allow_origin(&keys), None);

    let bad = gw
        .patch("/api/settings")
        .json(&json!({"cors_origins": ["https://app.example.com/path"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_route_body_limit_refuses_larger_bodies_in_the_callers_format() {
    let (_mock, gw) = gateway().await;
    gw.patch_settings(
        json!({"route_body_limits": {"/v1/messages": 2048, "/v1beta/models/*": 2048}}),
    )
    .await;
    let text = "x".repeat(4096);
    let messages = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", TEST_KEY)
        .json(&json!({"model": "mock/gpt-4.1", "max_tokens": 16,
            "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    let body = json_of(messages, 413).await;
    assert_eq!(body["type"], "error", "Anthropic's shape: {body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2048"),
        "{body}"
    );
    let gemini = gw
        .http
        .post(format!(
            "{}/v1beta/models/mock/gpt-4.1:generateContent",
            gw.url
        ))
        .header("x-goog-api-key", TEST_KEY)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}))
        .send()
        .await
        .unwrap();
    let body = json_of(gemini, 413).await;
    assert_eq!(body["error"]["code"], 413, "Gemini's shape: {body}");

    // Other routes keep the global limit.
    let chat = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(TEST_KEY)
        .json(&json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
}
