//! Black-box tests of the routing side of the management API: combos, connection routing fields, the spend report.

use omniroute::{Gateway, Options};
use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, json_of, mock_and_gateway, mock_config};
use serde_json::{Value, json};

/// The error message of a JSON error body.
fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn combos_crud_round_trip_with_toggle_and_conflicts() {
    let (_mock, gw) = mock_and_gateway().await;
    let anonymous = gw
        .http
        .get(format!("{}/api/combos", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let list = json_of(gw.get("/api/combos").send().await.unwrap(), 200).await;
    assert_eq!(
        list["data"],
        json!([{"name": "my-stack", "strategy": "fill-first", "models": ["openai/gpt-4.1", "mock/some-model"],
                "enabled": true, "sticky": 1, "source": "config"}])
    );

    let post = |body: Value| gw.post("/api/combos").json(&body).send();
    let created = json_of(
        post(json!({"name": "fast", "strategy": "round-robin", "models": ["openai/gpt-4.1", "mock/*"], "sticky": 2}))
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(
        created,
        json!({"name": "fast", "strategy": "round-robin", "models": ["openai/gpt-4.1", "mock/*"],
               "enabled": true, "sticky": 2, "source": "api"})
    );
    let again = json_of(
        post(json!({"name": "fast", "strategy": "random", "models": ["openai/gpt-4.1"]}))
            .await
            .unwrap(),
        409,
    )
    .await;
    assert!(message(&again).contains("already exists"), "{again}");

    // Every rule answers 400 and names the field.
    for (body, param, needle) in [
        (
            json!({"name": "x", "strategy": "random", "models": ["ghost/m"]}),
            "models",
            "unknown provider `ghost`",
        ),
        (
            json!({"name": "x", "strategy": "random", "models": []}),
            "models",
            "at least one",
        ),
        (
            json!({"name": "x", "strategy": "random", "models": ["openai/a", "openai/a"]}),
            "models",
            "twice",
        ),
        (
            json!({"name": "x", "strategy": "random", "models": ["nope"]}),
            "models",
            "neither a combo",
        ),
        (
            json!({"name": "openai", "strategy": "random", "models": ["mock/a"]}),
            "name",
            "provider",
        ),
        (
            json!({"name": "a/b", "strategy": "random", "models": ["mock/a"]}),
            "name",
            "/",
        ),
        (
            json!({"name": "a*b", "strategy": "random", "models": ["mock/a"]}),
            "name",
            "*",
        ),
        (
            json!({"name": "x", "strategy": "random", "models": ["mock/a"], "sticky": 0}),
            "sticky",
            "at least 1",
        ),
    ] {
        let err = json_of(post(body.clone()).await.unwrap(), 400).await;
        assert_eq!(err["error"]["param"], param, "{body}: {err}");
        assert!(message(&err).contains(needle), "{body}: {err}");
    }
    json_of(
        post(json!({"name": "x", "strategy": "fastest", "models": ["mock/a"]}))
            .await
            .unwrap(),
        400,
    )
    .await;
    json_of(
        post(json!({"strategy": "random", "models": ["mock/a"]}))
            .await
            .unwrap(),
        400,
    )
    .await;

    // Nesting and a wildcard combo.
    json_of(
        post(json!({"name": "outer", "strategy": "fill-first", "models": ["fast", "my-stack"]}))
            .await
            .unwrap(),
        201,
    )
    .await;
    let wildcard = json_of(
        post(json!({"name": "claude-*", "strategy": "fill-first", "models": ["anthropic/*"]}))
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(wildcard["name"], "claude-*");
    let got = json_of(gw.get("/api/combos/claude-*").send().await.unwrap(), 200).await;
    assert_eq!(got["models"], json!(["anthropic/*"]));
    json_of(gw.get("/api/combos/nope").send().await.unwrap(), 404).await;

    // A change that would close a loop is refused, naming it.
    let cycle = json_of(
        gw.put("/api/combos/fast")
            .json(&json!({"strategy": "fill-first", "models": ["mock/a", "outer"]}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        message(&cycle).contains("cycle: fast -> outer -> fast"),
        "{cycle}"
    );

    // The toggle keeps everything else.
    let patch =
        |name: &str, body: Value| gw.patch(&format!("/api/combos/{name}")).json(&body).send();
    let off = json_of(patch("fast", json!({"enabled": false})).await.unwrap(), 200).await;
    assert_eq!(
        (&off["enabled"], &off["sticky"], &off["strategy"]),
        (&json!(false), &json!(2), &json!("round-robin"))
    );
    let listed = json_of(gw.get("/api/combos/fast").send().await.unwrap(), 200).await;
    assert_eq!(listed["enabled"], false, "the change is live at once");
    let on = json_of(
        patch(
            "fast",
            json!({"enabled": true, "strategy": "cost-optimized"}),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (&on["enabled"], &on["strategy"]),
        (&json!(true), &json!("cost-optimized"))
    );
    json_of(
        patch("fast", json!({"name": "renamed"})).await.unwrap(),
        400,
    )
    .await;
    json_of(
        patch("fast", json!({"models": ["ghost/x"]})).await.unwrap(),
        400,
    )
    .await;
    json_of(patch("fast", json!({"colour": "red"})).await.unwrap(), 400).await;
    json_of(
        patch("ghost", json!({"enabled": false})).await.unwrap(),
        404,
    )
    .await;
    // A combo from the config file can be toggled; it stays the file's.
    let file_combo = json_of(
        patch("my-stack", json!({"enabled": false})).await.unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (&file_combo["enabled"], &file_combo["source"]),
        (&json!(false), &json!("config"))
    );

    let replaced = json_of(
        gw.put("/api/combos/fast")
            .json(&json!({"name": "fast", "strategy": "random", "models": ["mock/gpt-4.1"]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (
            &replaced["models"],
            &replaced["sticky"],
            &replaced["enabled"]
        ),
        (&json!(["mock/gpt-4.1"]), &json!(1), &json!(true))
    );
    json_of(
        gw.put("/api/combos/ghost")
            .json(&json!({"strategy": "random", "models": ["mock/a"]}))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    json_of(
        gw.put("/api/combos/fast")
            .json(&json!({"name": "slow", "strategy": "random", "models": ["mock/a"]}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;

    // A combo in use cannot go; the answer names its user.
    let delete = |name: &str| gw.delete(&format!("/api/combos/{name}")).send();
    let in_use = json_of(delete("fast").await.unwrap(), 409).await;
    assert!(message(&in_use).contains("`outer`"), "{in_use}");
    json_of(delete("outer").await.unwrap(), 204).await;
    json_of(delete("fast").await.unwrap(), 204).await;
    json_of(delete("fast").await.unwrap(), 404).await;

    // What the API made survives a restart; the file's combos are applied again.
    let config = mock_config("http://127.0.0.1:9/v1");
    let data_dir = gw.stop().await;
    let gw = TestGateway::start_in(data_dir, &config).await;
    let list = json_of(gw.get("/api/combos").send().await.unwrap(), 200).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["claude-*", "my-stack"]);
    assert_eq!(list["data"][1]["enabled"], true, "the file says enabled");
}

#[tokio::test]
async fn connection_routing_fields_round_trip_and_state_can_be_cleared() {
    let (_mock, gw) = mock_and_gateway().await;
    let created = json_of(
        gw.post("/api/connections")
            .json(
                &json!({"provider": "groq", "name": "cheap-one", "api_key": "gsk-1234567890",
                          "tier": "cheap", "proxy": "socks5://127.0.0.1:1080",
                          "quota": [{"window": "5h", "requests": 200}]}),
            )
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(created["tier"], "cheap");
    assert_eq!(created["proxy"], "socks5://127.0.0.1:1080");
    assert_eq!(
        created["quota"],
        json!([{"window": "5h", "reset_hour": 0, "requests": 200, "tokens": null}])
    );
    for field in ["state", "state_reason", "state_at"] {
        assert!(created[field].is_null(), "{field}: {created}");
        assert!(created.as_object().unwrap().contains_key(field), "{field}");
    }
    let id = created["id"].as_i64().unwrap();

    let create = |extra: Value| {
        let mut body = json!({"provider": "groq", "name": "bad", "api_key": "gsk-1234567890"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        gw.post("/api/connections").json(&body).send()
    };
    for (extra, param) in [
        (json!({"tier": "gold"}), None),
        (json!({"proxy": "ftp://127.0.0.1:21"}), Some("proxy")),
        (
            json!({"quota": [{"window": "daily", "reset_hour": 24, "requests": 5}]}),
            Some("quota"),
        ),
        (json!({"quota": [{"window": "daily"}]}), Some("quota")),
        (
            json!({"quota": [{"window": "hourly", "requests": 5}]}),
            None,
        ),
    ] {
        let err = json_of(create(extra.clone()).await.unwrap(), 400).await;
        if let Some(param) = param {
            assert_eq!(err["error"]["param"], param, "{extra}: {err}");
        }
    }

    let patch = |body: Value| {
        gw.patch(&format!("/api/connections/{id}"))
            .json(&body)
            .send()
    };
    let changed = json_of(
        patch(json!({"tier": null, "proxy": null,
                     "quota": [{"window": "daily", "reset_hour": 5, "tokens": 1000}]}))
        .await
        .unwrap(),
        200,
    )
    .await;
    assert!(
        changed["tier"].is_null() && changed["proxy"].is_null(),
        "{changed}"
    );
    assert_eq!(changed["quota"][0]["reset_hour"], 5);
    assert_eq!(
        changed["api_key_preview"], created["api_key_preview"],
        "the key stays"
    );
    let unchanged = json_of(patch(json!({"priority": 3})).await.unwrap(), 200).await;
    assert_eq!(unchanged["quota"], changed["quota"], "absent fields stay");
    let cleared = json_of(patch(json!({"quota": null})).await.unwrap(), 200).await;
    assert_eq!(cleared["quota"], json!([]));
    json_of(patch(json!({"proxy": "gopher://x"})).await.unwrap(), 400).await;

    // The gateway sets states; the user can only clear one.
    let cleared = json_of(patch(json!({"state": null})).await.unwrap(), 200).await;
    assert!(cleared["state"].is_null());
    let refused = json_of(patch(json!({"state": "banned"})).await.unwrap(), 400).await;
    assert_eq!(refused["error"]["param"], "state");
    let got = json_of(
        gw.get(&format!("/api/connections/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(got["priority"], 3);
    assert!(got["tier"].is_null());
}

#[tokio::test]
async fn the_config_file_carries_combo_options_and_connection_routing_fields() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url())
        + r#"
[[connections]]
provider = "groq"
name = "free-groq"
api_key = "gsk-config-000001"
tier = "free"
proxy = "http://127.0.0.1:3128"
quota = [{window = "5h", requests = 200}, {window = "monthly", tokens = 5000000}]

[[combos]]
name = "rotate"
strategy = "round-robin"
sticky = 4
enabled = false
models = ["groq/llama-3.3-70b", "my-stack", "mock/*"]
"#;
    let gw = TestGateway::start(&config).await;
    let rotate = json_of(gw.get("/api/combos/rotate").send().await.unwrap(), 200).await;
    assert_eq!(
        rotate,
        json!({"name": "rotate", "strategy": "round-robin", "models": ["groq/llama-3.3-70b", "my-stack", "mock/*"],
               "enabled": false, "sticky": 4, "source": "config"})
    );
    let conns = json_of(gw.get("/api/connections").send().await.unwrap(), 200).await;
    let groq = conns["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "free-groq")
        .unwrap()
        .clone();
    assert_eq!(
        (&groq["tier"], &groq["proxy"], &groq["source"]),
        (
            &json!("free"),
            &json!("http://127.0.0.1:3128"),
            &json!("config")
        )
    );
    assert_eq!(
        groq["quota"],
        json!([{"window": "5h", "reset_hour": 0, "requests": 200, "tokens": null},
               {"window": "monthly", "reset_hour": 0, "requests": null, "tokens": 5000000}])
    );

    // The same rules as the API refuse a bad file at start, naming the line.
    let data_dir = gw.stop().await;
    let bad = mock_config(&mock.base_url())
        + "\n[[combos]]\nname = \"loop\"\nstrategy = \"random\"\nmodels = [\"loop\"]\n";
    let path = data_dir.path().join("bad.toml");
    std::fs::write(&path, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l == "models = [\"loop\"]")
        .unwrap()
        + 1;
    let err = Gateway::start(Options {
        host: Some("127.0.0.1".into()),
        port: Some(0),
        data_dir: data_dir.path().to_path_buf(),
        config_path: Some(path),
        secret_key_hex: None,
        initial_password: None,
        warnings: Vec::new(),
        upstream_override: None,
    })
    .await
    .err()
    .expect("a combo listing itself is refused")
    .to_string();
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains("cycle: loop -> loop"), "{err}");
}

#[tokio::test]
async fn the_spend_report_sums_the_month_and_shows_budgets() {
    let (_mock, gw) = mock_and_gateway().await;
    let send = |model: &str| {
        gw.post("/v1/chat/completions")
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    for model in [
        "openai/gpt-4.1",
        "openai/gpt-4.1",
        "mock/gpt-4.1",
        "mock/error-500",
    ] {
        send(model).await.unwrap();
    }
    let rows = gw.usage(4).await;
    assert_eq!(rows.len(), 4);
    let logged_cost: f64 = rows.iter().map(|r| r["cost"].as_f64().unwrap()).sum();
    assert!(logged_cost > 0.0, "openai/gpt-4.1 has a catalog price");
    // Budgets set after the spending, so that routing does not skip anything above.
    json_of(
        gw.patch("/api/settings")
            .json(&json!({"budgets": [
                {"scope": "provider:openai", "daily_usd": 0.000001},
                {"scope": "tier:api-key", "monthly_usd": 100.0},
                {"scope": "provider:mock", "monthly_usd": 100.0}
            ]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    let report = json_of(gw.get("/api/usage/summary").send().await.unwrap(), 200).await;
    let month = report["month"].as_str().unwrap().to_string();
    assert_eq!(month.len(), 7, "{report}");
    let ts = rows[0]["ts"].as_i64().unwrap();
    assert!(
        report["from_ms"].as_i64().unwrap() <= ts && ts < report["until_ms"].as_i64().unwrap(),
        "{report}"
    );
    let total = &report["total"];
    assert_eq!(
        (total["requests"].as_u64(), total["errors"].as_u64()),
        (Some(4), Some(1)),
        "{report}"
    );
    assert!((total["cost_usd"].as_f64().unwrap() - logged_cost).abs() < 1e-12);
    assert!(total["input_tokens"].as_u64().unwrap() > 0);

    let providers = report["by_provider"].as_array().unwrap();
    assert_eq!(
        providers[0]["provider"], "openai",
        "most expensive first: {report}"
    );
    assert_eq!(providers[0]["requests"], 2);
    assert!((providers[0]["cost_usd"].as_f64().unwrap() - logged_cost).abs() < 1e-12);
    let mock_row = providers.iter().find(|p| p["provider"] == "mock").unwrap();
    assert_eq!(mock_row["cost_usd"], 0.0, "the mock provider has no prices");
    let per_provider: u64 = providers
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_provider, 4, "every record is in one group: {report}");
    assert_eq!(report["by_model"][0]["model"], "gpt-4.1");
    assert_eq!(report["by_model"][0]["provider"], "openai");
    let days = report["by_day"].as_array().unwrap();
    assert!(
        days.iter()
            .all(|d| d["date"].as_str().unwrap().starts_with(&month)),
        "{report}"
    );
    let per_day: u64 = days.iter().map(|d| d["requests"].as_u64().unwrap()).sum();
    assert_eq!(per_day, 4);
    // Both providers' connections are of the api-key tier.
    let tier = report["by_tier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "api-key")
        .unwrap();
    assert!(
        (tier["cost_usd"].as_f64().unwrap() - logged_cost).abs() < 1e-12,
        "{report}"
    );

    let budgets = report["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 3);
    assert_eq!(budgets[0]["scope"], "provider:openai");
    assert!((budgets[0]["spent_today_usd"].as_f64().unwrap() - logged_cost).abs() < 1e-12);
    assert_eq!(budgets[0]["exceeded"], true, "{report}");
    assert_eq!(budgets[1]["scope"], "tier:api-key");
    assert!((budgets[1]["spent_month_usd"].as_f64().unwrap() - logged_cost).abs() < 1e-12);
    assert_eq!(budgets[1]["exceeded"], false);
    assert_eq!(budgets[2]["scope"], "provider:mock");
    assert_eq!(budgets[2]["spent_month_usd"], 0.0);
    assert_eq!(budgets[2]["exceeded"], false);

    // Another month: nothing in it, budgets still about today.
    let old = json_of(
        gw.get("/api/usage/summary?month=2001-02")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(old["month"], "2001-02");
    assert_eq!(old["from_ms"], 980_985_600_000_i64);
    assert_eq!(old["until_ms"], 983_404_800_000_i64);
    assert_eq!(old["total"]["requests"], 0);
    assert_eq!(old["by_provider"], json!([]));
    assert_eq!(old["budgets"][0]["exceeded"], true);
    for bad in ["2026-13", "November", "2026-1"] {
        let err = json_of(
            gw.get(&format!("/api/usage/summary?month={bad}"))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(err["error"]["param"], "month", "{bad}");
    }
    json_of(
        gw.get("/api/usage/summary?year=2026").send().await.unwrap(),
        400,
    )
    .await;
}
