//! Black-box tests of the audit log: every change through `/api` is recorded with who, where and what, secrets redacted, and kept across a restart.

use omniroute_tests::{TestGateway, json_of, mock_and_gateway, mock_config};
use serde_json::{Value, json};

async fn audit(gw: &TestGateway, query: &str) -> Value {
    json_of(
        gw.get(&format!("/api/audit{query}")).send().await.unwrap(),
        200,
    )
    .await
}

fn rows(page: &Value) -> &Vec<Value> {
    page["data"].as_array().unwrap()
}

#[tokio::test]
async fn changes_are_recorded_with_their_actor_and_without_secrets() {
    let (mock, gw) = mock_and_gateway().await;
    let keys = gw.get_json("/api/keys").await;
    let ci_id = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    let created = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop", "models": ["openai/*"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let new_id = created["id"].as_i64().unwrap();
    json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "openai", "name": "second", "api_key": "sk-very-secret-upstream", "base_url": mock.base_url()}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    gw.delete(&format!("/api/keys/{new_id}"))
        .send()
        .await
        .unwrap();
    // Reads and computations are not changes.
    gw.get_json("/api/combos").await;
    gw.post("/api/translate")
        .json(
            &json!({"from": "openai", "to": "anthropic", "kind": "request",
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}),
        )
        .send()
        .await
        .unwrap();

    let page = audit(&gw, "").await;
    let text = page.to_string();
    assert!(!text.contains("sk-very-secret-upstream"), "{text}");
    let rows = rows(&page);
    let summaries: Vec<&str> = rows
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            format!("deleted API key {new_id}").as_str(),
            "created connection \"second\"",
            "created API key \"laptop\"",
        ]
    );
    for row in rows {
        assert_eq!(row["actor"], format!("key:{ci_id}"));
        assert_eq!(row["ip"], "127.0.0.1");
        assert!(row["ts_ms"].as_i64().unwrap() > 0);
    }
    let connection = &rows[1];
    assert_eq!(connection["method"], "POST");
    assert_eq!(connection["path"], "/api/connections");
    assert_eq!(connection["status"], 201);
    assert_eq!(connection["changes"]["api_key"], "[redacted]");
    assert_eq!(connection["changes"]["name"], "second");
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["changes"], Value::Null);
}

#[tokio::test]
async fn failures_and_sign_ins_are_recorded_and_pages_follow_ids() {
    let (_mock, gw) = mock_and_gateway().await;
    let wrong = gw
        .http
        .post(format!("{}/api/auth/login", gw.url))
        .json(&json!({"password": "guess-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    json_of(
        gw.delete("/api/combos/no-such-combo").send().await.unwrap(),
        404,
    )
    .await;
    gw.patch("/api/settings")
        .json(&json!({"log_bodies": true}))
        .send()
        .await
        .unwrap();

    let first = audit(&gw, "?limit=2").await;
    let newest: Vec<&str> = rows(&first)
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        newest,
        [
            "updated settings log_bodies",
            "failed to delete combo no-such-combo (404)"
        ]
    );
    let next = first["next_before_id"].as_i64().unwrap();
    let rest = audit(&gw, &format!("?limit=2&before_id={next}")).await;
    let sign_in = &rows(&rest)[0];
    assert_eq!(sign_in["summary"], "failed sign-in");
    assert_eq!(sign_in["actor"], "anonymous");
    // A password is never recorded, not even redacted.
    assert_eq!(sign_in["changes"], Value::Null);
    assert!(!rest.to_string().contains("guess-1"));
    assert_eq!(rest["next_before_id"], Value::Null);

    let bad = gw.get("/api/audit?limit=x").send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_log_survives_a_restart() {
    let (mock, gw) = mock_and_gateway().await;
    json_of(
        gw.post("/api/combos")
            .json(&json!({"name": "kept", "strategy": "fill-first", "models": ["openai/gpt-4.1"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let dir = gw.stop().await;
    let gw = TestGateway::start_in(dir, &mock_config(&mock.base_url())).await;
    let page = audit(&gw, "").await;
    assert_eq!(rows(&page)[0]["summary"], "created combo \"kept\"");
}
