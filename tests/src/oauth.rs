//! Helpers of the OAuth sign-in tests: a gateway whose built-in providers all live on one mock OAuth server, and the sign-in API calls every such test makes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock::oauth::OAuthMock;
use crate::{TEST_KEY, TestGateway, json_of};

/// A config with nothing but the test key: every account comes from a sign-in.
pub fn config() -> String {
    format!("[[api_keys]]\nname = \"ci\"\nkey = \"{TEST_KEY}\"\nmodels = [\"*\"]\n")
}

/// The mock OAuth server, and a gateway whose built-in URLs point at it.
pub async fn start() -> (OAuthMock, TestGateway) {
    let mock = OAuthMock::start().await;
    let gw = TestGateway::start_with_upstream(&config(), &mock.origin()).await;
    (mock, gw)
}

/// `POST /api/oauth/{provider}/start`, which must answer 200.
pub async fn start_login(gw: &TestGateway, provider: &str, body: Value) -> Value {
    json_of(
        gw.post(&format!("/api/oauth/{provider}/start"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

/// `POST /api/oauth/{provider}/poll` for the sign-in `login_id`.
pub async fn poll(gw: &TestGateway, provider: &str, login_id: &Value) -> Value {
    json_of(
        gw.post(&format!("/api/oauth/{provider}/poll"))
            .json(&json!({"login_id": login_id}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

/// Where the provider's authorize page sends the browser for a sign-in
/// started as `started` (its `Location`, not followed), after checking it
/// is a redirect.
pub async fn authorize_redirect(started: &Value) -> String {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects
        .get(started["auth_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    answer.headers()["location"].to_str().unwrap().to_string()
}

/// A one-message chat completion for `model`.
pub async fn chat(gw: &TestGateway, model: &str) -> reqwest::Response {
    gw.post("/v1/chat/completions")
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

/// Moves the gateway's clock `ms` forward.
pub fn advance(gw: &TestGateway, ms: i64) {
    gw.handle
        .as_ref()
        .expect("a running gateway")
        .clock()
        .advance(ms);
}

/// The connection once its saved state is `state` (states are saved in
/// the background), or as it is after 2.5 s.
pub async fn connection_in_state(gw: &TestGateway, id: i64, state: &str) -> Value {
    let mut connection = Value::Null;
    for _ in 0..50 {
        connection = gw.connection(id).await;
        if connection["state"] == state {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    connection
}
