//! Black-box tests of gateway keys beyond the full-access one: a key limited to `mock/*` is refused other models with 403 in every inbound format and sees only its models in the model lists; a key past its expiry and a revoked key get 401; rotation gives a new secret and retires the old one at once; request limits and budgets cut off at the exact request, in the caller's format, and still hold after a restart.

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, json_of, mock_config};
use serde_json::{Value, json};

const NARROW: &str = "sk-omni-narrow-key-0001";

async fn gateway() -> (MockUpstream, TestGateway) {
    let mock = MockUpstream::start().await;
    let config = format!(
        "{}\n[[api_keys]]\nname = \"narrow\"\nkey = \"{NARROW}\"\nmodels = [\"mock/*\"]\n",
        mock_config(&mock.base_url())
    );
    (mock, TestGateway::start(&config).await)
}

/// One request in each inbound format for `model`, with `key`: (format, response).
async fn every_format(
    gw: &TestGateway,
    key: &str,
    model: &str,
) -> Vec<(&'static str, reqwest::Response)> {
    let text = json!([{"role": "user", "content": "hi"}]);
    let send = |path: String, body: Value| {
        gw.http
            .post(format!("{}{path}", gw.url))
            .header("x-api-key", key)
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    vec![
        (
            "openai",
            send(
                "/v1/chat/completions".into(),
                json!({"model": model, "messages": text}),
            )
            .await
            .unwrap(),
        ),
        (
            "anthropic",
            send(
                "/v1/messages".into(),
                json!({"model": model, "max_tokens": 16, "messages": text}),
            )
            .await
            .unwrap(),
        ),
        (
            "responses",
            send(
                "/v1/responses".into(),
                json!({"model": model, "input": "hi"}),
            )
            .await
            .unwrap(),
        ),
        (
            "gemini",
            send(
                format!("/v1beta/models/{model}:generateContent"),
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            )
            .await
            .unwrap(),
        ),
    ]
}

#[tokio::test]
async fn a_narrow_key_is_refused_other_models_in_every_format_and_lists_only_its_own() {
    let (_mock, gw) = gateway().await;
    for (format, response) in every_format(&gw, NARROW, "mock/gpt-4.1").await {
        assert_eq!(response.status(), 200, "{format} with an allowed model");
    }
    for (format, response) in every_format(&gw, NARROW, "openai/gpt-4.1").await {
        let body = json_of(response, 403).await;
        let shaped = match format {
            "anthropic" => body["type"] == "error" && body["error"]["type"] == "permission_error",
            "gemini" => body["error"]["status"] == "PERMISSION_DENIED",
            _ => body["error"]["code"] == "model_not_allowed",
        };
        assert!(shaped, "{format}: {body}");
    }
    let openai_list = json_of(
        gw.http
            .get(format!("{}/v1/models", gw.url))
            .bearer_auth(NARROW)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let ids: Vec<&str> = openai_list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| id.starts_with("mock/")), "{ids:?}");
    let gemini_list = json_of(
        gw.http
            .get(format!("{}/v1beta/models", gw.url))
            .header("x-goog-api-key", NARROW)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let names: Vec<&str> = gemini_list["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.starts_with("models/mock/")),
        "{names:?}"
    );
}

#[tokio::test]
async fn expired_revoked_and_rotated_keys_stop_working() {
    let (_mock, gw) = gateway().await;
    let chat = json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]});
    let call = |key: String| {
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(key)
            .json(&chat)
            .send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    // A key in the past is refused at creation.
    let past = gw
        .post("/api/keys")
        .json(&json!({"name": "old", "expires_at": now - 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 400);

    let soon = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "soon", "models": ["mock/*"], "expires_at": now + 1500}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let soon_key = soon["key"].as_str().unwrap().to_owned();
    assert_eq!(soon["expires_at"], now + 1500);
    assert_eq!(call(soon_key.clone()).await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let expired = json_of(call(soon_key).await.unwrap(), 401).await;
    assert_eq!(expired["error"]["code"], "key_expired", "{expired}");

    // Rotation: same id, name and models; the old secret is dead at once.
    let made = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop", "models": ["mock/*"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let old_key = made["key"].as_str().unwrap().to_owned();
    let id = made["id"].as_i64().unwrap();
    let rotated = json_of(
        gw.post(&format!("/api/keys/{id}/rotate"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(
        (rotated["id"].as_i64(), rotated["name"].as_str()),
        (Some(id), Some("laptop"))
    );
    assert_eq!(rotated["models"], json!(["mock/*"]));
    assert_eq!(call(old_key).await.unwrap().status(), 401);
    assert_eq!(call(new_key.clone()).await.unwrap().status(), 200);

    // An expiry can be set later, and a revoked key is refused.
    let patched = json_of(
        gw.patch(&format!("/api/keys/{id}"))
            .json(&json!({"expires_at": now + 3_600_000}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(patched["expires_at"], now + 3_600_000);
    assert_eq!(
        gw.delete(&format!("/api/keys/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(call(new_key).await.unwrap().status(), 401);
    let again = gw
        .post(&format!("/api/keys/{id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}

/// Creates a key for `mock/*` with `limits`; returns (id, key).
async fn limited_key(gw: &TestGateway, name: &str, limits: Value) -> (i64, String) {
    let made = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": name, "models": ["mock/*"], "limits": limits}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(made["limits"], limits, "{made}");
    (
        made["id"].as_i64().unwrap(),
        made["key"].as_str().unwrap().to_owned(),
    )
}

/// One Anthropic Messages call with `key`.
async fn message(gw: &TestGateway, key: &str) -> reqwest::Response {
    gw.http
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", key)
        .json(&json!({"model": "mock/gpt-4.1", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

/// Sends `allowed` requests that must pass, then one that must be refused
/// with 429 `code` in Anthropic's error shape and a `Retry-After`.
async fn passes_then_refuses(gw: &TestGateway, key: &str, allowed: usize, code: &str) {
    for n in 1..=allowed {
        assert_eq!(
            message(gw, key).await.status(),
            200,
            "request {n} of {allowed}"
        );
    }
    let refused = message(gw, key).await;
    assert!(refused.headers().contains_key("retry-after"), "{refused:?}");
    let body = json_of(refused, 429).await;
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(code),
        "{code}: {body}"
    );
}

/// The `usage` the keys page shows for key `id`.
async fn key_usage(gw: &TestGateway, id: i64) -> Value {
    let keys = json_of(gw.get("/api/keys").send().await.unwrap(), 200).await;
    keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap()["usage"]
        .clone()
}

#[tokio::test]
async fn request_limits_and_budgets_cut_off_at_the_exact_request_and_survive_a_restart() {
    let (mock, gw) = gateway().await;
    let config = format!(
        "{}\n[[api_keys]]\nname = \"narrow\"\nkey = \"{NARROW}\"\nmodels = [\"mock/*\"]\n",
        mock_config(&mock.base_url())
    );
    gw.patch_settings(json!({"prices": {"mock/gpt-4.1": {"input": 1000, "output": 2000}}}))
        .await;

    let (per_minute, minute_key) =
        limited_key(&gw, "per-minute", json!({"requests_per_minute": 2})).await;
    passes_then_refuses(&gw, &minute_key, 2, "2 requests per minute").await;
    let (per_day, day_key) = limited_key(&gw, "per-day", json!({"requests_per_day": 3})).await;
    passes_then_refuses(&gw, &day_key, 3, "3 requests per day").await;
    let (_, month_key) = limited_key(&gw, "per-month", json!({"requests_per_month": 1})).await;
    passes_then_refuses(&gw, &month_key, 1, "1 requests per month").await;

    // A budget: one request shows what a request costs; the limit is then
    // set at 2.5 requests' worth, so the third one crosses it and the
    // fourth is refused.
    let (budget, budget_key) = limited_key(&gw, "budget", json!({})).await;
    assert_eq!(message(&gw, &budget_key).await.status(), 200);
    let rows = gw.usage(8).await;
    let cost = rows[0]["cost"].as_f64().unwrap();
    assert!(cost > 0.0, "{}", rows[0]);
    let limits = json!({"daily_usd": cost * 2.5});
    let patched = json_of(
        gw.patch(&format!("/api/keys/{budget}"))
            .json(&json!({"limits": limits}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(patched["limits"], limits);
    passes_then_refuses(&gw, &budget_key, 2, "daily budget").await;

    let day_usage = key_usage(&gw, per_day).await;
    assert_eq!(
        (&day_usage["today"], &day_usage["this_month"]),
        (&json!(3), &json!(3)),
        "{day_usage}"
    );
    assert_eq!(key_usage(&gw, per_minute).await["last_minute"], 2);
    let budget_usage = key_usage(&gw, budget).await;
    assert!(
        (budget_usage["day_usd"].as_f64().unwrap() - 3.0 * cost).abs() < 1e-9,
        "{budget_usage}"
    );
    // A malformed limit changes nothing.
    let bad = gw
        .patch(&format!("/api/keys/{budget}"))
        .json(&json!({"limits": {"daily_usd": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = gw
        .patch(&format!("/api/keys/{budget}"))
        .json(&json!({"limits": {"per_hour": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    // After a restart the day's use is counted from the usage records, the
    // refused requests not among them: one more request fits under 4.
    // (passed + refused) per key: minute, day, month, budget.
    let records = (2 + 1) + (3 + 1) + (1 + 1) + (3 + 1);
    assert_eq!(gw.usage(records).await.len(), records);
    let gw = TestGateway::start_in(gw.stop().await, &config).await;
    assert_eq!(message(&gw, &day_key).await.status(), 429);
    assert_eq!(message(&gw, &budget_key).await.status(), 429);
    assert_eq!(message(&gw, &month_key).await.status(), 429);
    gw.patch(&format!("/api/keys/{per_day}"))
        .json(&json!({"limits": {"requests_per_day": 4}}))
        .send()
        .await
        .unwrap();
    passes_then_refuses(&gw, &day_key, 1, "4 requests per day").await;
    // Lifting the limits lets the key through again.
    gw.patch(&format!("/api/keys/{budget}"))
        .json(&json!({"limits": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(message(&gw, &budget_key).await.status(), 200);
}
