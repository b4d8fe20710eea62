//! Black-box tests of the management JSON API under `/api`.

use axum::routing::post;
use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, json_of, mock_and_gateway, mock_config};
use serde_json::{Value, json};

#[tokio::test]
async fn the_api_needs_a_gateway_key() {
    let (_mock, gw) = mock_and_gateway().await;
    for path in [
        "/api/providers",
        "/api/connections",
        "/api/keys",
        "/api/settings",
        "/api/usage",
    ] {
        let response = gw
            .http
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn providers_list_the_catalog_and_user_providers() {
    let (_mock, gw) = mock_and_gateway().await;
    let list = json_of(gw.get("/api/providers").send().await.unwrap(), 200).await;
    let providers = list["data"].as_array().unwrap();
    assert!(providers.len() >= 27, "{}", providers.len());
    let openai = providers.iter().find(|p| p["id"] == "openai").unwrap();
    assert_eq!(openai["source"], "catalog");
    assert_eq!(openai["usable"], true);
    assert!(
        openai["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt-4.1" && m["input"].as_f64().unwrap() > 0.0)
    );
    let mock = providers.iter().find(|p| p["id"] == "mock").unwrap();
    assert_eq!(mock["source"], "user");

    let created = json_of(
        gw.post("/api/providers")
            .json(&json!({"id": "lab", "name": "Lab box", "format": "openai", "base_url": "http://10.1.2.3:8000/v1/", "prefix": "lab", "models": ["qwen3"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["base_url"], "http://10.1.2.3:8000/v1");
    json_of(gw.post("/api/providers").json(&json!({"id": "lab", "name": "again", "format": "openai", "base_url": "http://x/v1", "prefix": "lab2"})).send().await.unwrap(), 409).await;
    json_of(gw.post("/api/providers").json(&json!({"id": "openai", "name": "x", "format": "openai", "base_url": "http://x/v1", "prefix": "zzz"})).send().await.unwrap(), 409).await;
    json_of(gw.post("/api/providers").json(&json!({"id": "Bad Id", "name": "x", "format": "openai", "base_url": "http://x/v1", "prefix": "q"})).send().await.unwrap(), 400).await;
    json_of(gw.post("/api/providers").json(&json!({"id": "q", "name": "x", "format": "klingon", "base_url": "http://x/v1", "prefix": "q"})).send().await.unwrap(), 400).await;

    let replaced = json_of(
        gw.put("/api/providers/lab")
            .json(&json!({"id": "lab", "name": "Lab box 2", "format": "openai", "base_url": "http://10.1.2.3:9000/v1", "prefix": "lab"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(replaced["name"], "Lab box 2");
    let delete = |id: &str| gw.delete(&format!("/api/providers/{id}")).send();
    json_of(delete("lab").await.unwrap(), 204).await;
    json_of(delete("lab").await.unwrap(), 404).await;
    json_of(delete("openai").await.unwrap(), 409).await;
    // A provider with connections cannot go away under them.
    json_of(delete("mock").await.unwrap(), 409).await;
}

#[tokio::test]
async fn connections_crud_never_shows_the_key_and_takes_effect_at_once() {
    let (mock, gw) = mock_and_gateway().await;
    let model = json!({"model": "deepseek/deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&model)
            .send()
            .await
            .unwrap()
            .status(),
        503
    );

    let created = json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "ds", "name": "personal", "api_key": "sk-deepseek-secret-999", "base_url": mock.base_url(), "priority": 2}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["provider"], "deepseek", "alias resolved to the id");
    assert_eq!(created["api_key_preview"], "sk-d…-999");
    assert!(!created.to_string().contains("sk-deepseek-secret-999"));
    let id = created["id"].as_i64().unwrap();

    // Usable immediately, with the stored key.
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&model)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        mock.received().last().unwrap().authorization.as_deref(),
        Some("Bearer sk-deepseek-secret-999")
    );

    let list = json_of(gw.get("/api/connections").send().await.unwrap(), 200).await;
    assert!(!list.to_string().contains("sk-deepseek-secret-999"));
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        6,
        "five from the config file, one made here"
    );

    let patch = |body: Value| {
        gw.patch(&format!("/api/connections/{id}"))
            .json(&body)
            .send()
    };
    let disabled = json_of(patch(json!({"enabled": false})).await.unwrap(), 200).await;
    assert_eq!(disabled["enabled"], false);
    assert_eq!(
        disabled["api_key_preview"], "sk-d…-999",
        "patch keeps the key"
    );
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&model)
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    json_of(
        patch(json!({"enabled": true, "api_key": "sk-rotated-key-0000"}))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&model)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        mock.received().last().unwrap().authorization.as_deref(),
        Some("Bearer sk-rotated-key-0000")
    );
    json_of(patch(json!({"base_url": "ftp://nope"})).await.unwrap(), 400).await;
    json_of(patch(json!({"colour": "red"})).await.unwrap(), 400).await;

    json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "ds", "name": "personal", "api_key": "k"}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "nope", "name": "x"}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    json_of(
        gw.post("/api/connections")
            .header("content-type", "application/json")
            .body("{bad")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    let del = gw
        .delete(&format!("/api/connections/{id}"))
        .send()
        .await
        .unwrap();
    json_of(del, 204).await;
    json_of(
        gw.get(&format!("/api/connections/{id}"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&model)
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
}

#[tokio::test]
async fn connection_test_uses_models_then_falls_back_to_a_tiny_chat() {
    let (_mock, gw) = mock_and_gateway().await;
    let conns = json_of(gw.get("/api/connections").send().await.unwrap(), 200).await;
    let openai_id = conns["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "openai")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let result = json_of(
        gw.post(&format!("/api/connections/{openai_id}/test"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["method"].as_str()),
        (Some(true), Some("models")),
        "{result}"
    );

    // An upstream without /models: the test falls back to a one-token chat.
    let no_models = MockUpstream::start_without_models().await;
    let created = json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "groq", "name": "t", "api_key": "gsk-123456789", "base_url": no_models.base_url()}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let result = json_of(
        gw.post(&format!("/api/connections/{id}/test"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["method"].as_str()),
        (Some(true), Some("chat")),
        "{result}"
    );
    let sent = no_models.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["max_tokens"], 1);

    // A failing chat reports the upstream's message.
    let result = json_of(
        gw.post(&format!("/api/connections/{id}/test"))
            .json(&json!({"model": "error-401"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(result["ok"], false);
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("Incorrect API key"),
        "{result}"
    );

    // An upstream that rejects the key on /models.
    let rejecting = axum::Router::new().route("/v1/models", axum::routing::get(|| async {
        (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"message": "Invalid API key", "type": "invalid_request_error"}})))
    })).route("/v1/chat/completions", post(|| async { "unused" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, rejecting).await.unwrap() });
    let created = json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "xai", "name": "bad", "api_key": "xai-bad-key-1", "base_url": format!("http://{addr}/v1")}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let result = json_of(
        gw.post(&format!("/api/connections/{}/test", created["id"]))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (result["ok"].as_bool(), result["status"].as_u64()),
        (Some(false), Some(401)),
        "{result}"
    );
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("Invalid API key")
    );
}

#[tokio::test]
async fn keys_are_shown_once_and_revocation_takes_effect() {
    let (_mock, gw) = mock_and_gateway().await;
    let created = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop", "models": ["openai/*"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-omni-"));
    let list = json_of(gw.get("/api/keys").send().await.unwrap(), 200).await;
    assert!(!list.to_string().contains(&key), "the key is never listed");
    let row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "laptop")
        .unwrap()
        .clone();
    assert_eq!(row["models"], json!(["openai/*"]));

    let call = || {
        gw.http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&key)
            .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let id = row["id"].as_i64().unwrap();
    let revoke = || gw.delete(&format!("/api/keys/{id}")).send();
    let revoked = json_of(revoke().await.unwrap(), 200).await;
    assert!(revoked["revoked_at"].as_i64().is_some());
    assert_eq!(call().await.unwrap().status(), 401);
    json_of(revoke().await.unwrap(), 409).await;
    json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop"}))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "x", "models": []}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    // Usage counters of the key moved.
    let rows = gw.usage(1).await;
    assert_eq!(rows[0]["api_key_id"].as_i64(), Some(id));
    let list = json_of(gw.get("/api/keys").send().await.unwrap(), 200).await;
    let row = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "laptop")
        .unwrap()
        .clone();
    assert_eq!(row["request_count"], 1);
    assert!(row["last_used_at"].as_i64().is_some());
}

#[tokio::test]
async fn settings_are_validated_and_applied() {
    let (_mock, gw) = mock_and_gateway().await;
    let settings = json_of(gw.get("/api/settings").send().await.unwrap(), 200).await;
    assert_eq!(settings["usage_retention_days"], 90);
    assert_eq!(settings["require_api_key"], true);
    let patch = |body: Value| gw.patch("/api/settings").json(&body).send();
    json_of(
        patch(json!({"usage_retention_days": 0})).await.unwrap(),
        400,
    )
    .await;
    json_of(patch(json!({"mystery": 1})).await.unwrap(), 400).await;
    let updated = json_of(patch(json!({"max_body_bytes": 2048})).await.unwrap(), 200).await;
    assert_eq!(updated["max_body_bytes"], 2048);
    // The new limit applies to the next request.
    let big = json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&big)
            .send()
            .await
            .unwrap()
            .status(),
        413
    );
    // Turning keys off lets anonymous callers in.
    json_of(patch(json!({"require_api_key": false})).await.unwrap(), 200).await;
    let anon = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 200);
}

#[tokio::test]
async fn usage_filters_narrow_the_log() {
    let (_mock, gw) = mock_and_gateway().await;
    let send = |model: &str| {
        gw.post("/v1/chat/completions")
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    send("openai/gpt-4.1").await.unwrap();
    send("mock/gpt-4.1").await.unwrap();
    send("mock/error-500").await.unwrap();
    send("nosuch/model").await.unwrap();
    assert_eq!(gw.usage(4).await.len(), 4);
    let count = |query: &str| {
        let request = gw.get(&format!("/api/usage?{query}"));
        async move {
            request.send().await.unwrap().json::<Value>().await.unwrap()["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("provider=mock").await, 2);
    assert_eq!(count("model=openai/gpt-4.1").await, 1);
    assert_eq!(count("ok=false").await, 2);
    assert_eq!(count("status=404").await, 1);
    assert_eq!(count("limit=1").await, 1);
    assert_eq!(count("since=0&until=1").await, 0);
    let bad = gw.get("/api/usage?limit=lots").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let combos = json_of(gw.get("/api/combos").send().await.unwrap(), 200).await;
    assert_eq!(combos["data"][0]["name"], "my-stack");
    assert_eq!(
        combos["data"][0]["models"],
        json!(["openai/gpt-4.1", "mock/some-model"])
    );
}

#[tokio::test]
async fn only_full_access_keys_manage_and_errors_stay_json() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url())
        + "\n[[api_keys]]\nname = \"narrow\"\nkey = \"sk-omni-narrow-key\"\nmodels = [\"mock/*\"]\n";
    let gw = TestGateway::start(&config).await;
    let narrow = gw
        .http
        .get(format!("{}/api/keys", gw.url))
        .bearer_auth("sk-omni-narrow-key")
        .send()
        .await
        .unwrap();
    json_of(narrow, 403).await;
    // The narrow key sees only its own models.
    let models = gw
        .http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth("sk-omni-narrow-key")
        .send()
        .await
        .unwrap();
    let models = json_of(models, 200).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id.starts_with("mock/")),
        "{ids:?}"
    );

    // Non-numeric ids and wrong methods answer in JSON too.
    let body = json_of(gw.get("/api/connections/abc").send().await.unwrap(), 400).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("integer")
    );
    let body = json_of(gw.delete("/v1/chat/completions").send().await.unwrap(), 405).await;
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    json_of(
        gw.post("/api/keys")
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
        413,
    )
    .await;

    // Even with keys optional on the data plane, /api still needs one.
    let patch = gw
        .patch("/api/settings")
        .json(&json!({"require_api_key": false}));
    json_of(patch.send().await.unwrap(), 200).await;
    json_of(
        gw.http
            .get(format!("{}/api/keys", gw.url))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
}

#[tokio::test]
async fn the_last_full_access_key_cannot_be_revoked() {
    let (_mock, gw) = mock_and_gateway().await;
    let keys = json_of(gw.get("/api/keys").send().await.unwrap(), 200).await;
    let ci = keys["data"][0]["id"].as_i64().unwrap();
    let revoke = |id: i64| gw.delete(&format!("/api/keys/{id}")).send();
    let body = json_of(revoke(ci).await.unwrap(), 409).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last full-access key")
    );
    let other = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "second"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    json_of(revoke(other["id"].as_i64().unwrap()).await.unwrap(), 200).await;
}

#[tokio::test]
async fn a_connection_holds_a_key_or_an_env_var_never_both() {
    let (_mock, gw) = mock_and_gateway().await;
    let created = json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "groq", "name": "g", "api_key": "gsk-1234567890"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let patch = |body: Value| {
        gw.patch(&format!("/api/connections/{id}"))
            .json(&body)
            .send()
    };
    let switched = json_of(
        patch(json!({"api_key_env": "GROQ_API_KEY_FOR_TEST"}))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        switched["has_api_key"], false,
        "the stored key is gone: {switched}"
    );
    assert_eq!(switched["api_key_env"], "GROQ_API_KEY_FOR_TEST");
    json_of(
        patch(json!({"api_key": "a-key-1234567", "api_key_env": "B"}))
            .await
            .unwrap(),
        400,
    )
    .await;
    let back = json_of(
        patch(json!({"api_key": "gsk-abcdefghij"})).await.unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (back["has_api_key"].as_bool(), back["api_key_env"].as_str()),
        (Some(true), None)
    );
}

#[tokio::test]
async fn usage_pages_end_with_no_next_cursor() {
    let (_mock, gw) = mock_and_gateway().await;
    for _ in 0..3 {
        gw.post("/v1/chat/completions").json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]})).send().await.unwrap();
    }
    gw.usage(3).await;
    let first = json_of(gw.get("/api/usage?limit=2").send().await.unwrap(), 200).await;
    let cursor = first["next_before_id"]
        .as_i64()
        .expect("a full page has a cursor");
    let second = json_of(
        gw.get(&format!("/api/usage?limit=2&before_id={cursor}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second["next_before_id"].is_null());
}

#[tokio::test]
async fn keys_cannot_be_made_optional_on_a_public_address() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_on(
        "0.0.0.0",
        tempfile::tempdir().unwrap(),
        &mock_config(&mock.base_url()),
    )
    .await;
    let patch = gw
        .patch("/api/settings")
        .json(&json!({"require_api_key": false}));
    let body = json_of(patch.send().await.unwrap(), 409).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not loopback")
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_and_changes_nothing() {
    let (_mock, gw) = mock_and_gateway().await;
    let made = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = made["id"].as_i64().unwrap();
    // Serde would read `[ms]` into the first field, `expires_at`.
    for body in ["[4102444800001]", "[]", "\"text\"", "42"] {
        let response = gw
            .patch(&format!("/api/keys/{id}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = json_of(response, 400).await;
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("JSON object"),
            "{body}: {error}"
        );
    }
    let combos = gw
        .post("/api/combos")
        .header("content-type", "application/json")
        .body(r#"["fast", "round-robin", ["mock/gpt-4.1"]]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(combos.status(), 400);
    let keys = gw.get_json("/api/keys").await;
    let key = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap();
    assert_eq!(key["expires_at"], Value::Null, "unchanged");
}
