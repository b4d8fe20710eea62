//! Black-box tests of the `omniroute` binary: start-up errors, persistence across restarts, graceful shutdown.

use std::time::Duration;

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{
    TEST_KEY, TestGateway, mock_config, run_gateway_expect_failure, spawn_gateway, terminate,
};
use serde_json::{Value, json};

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("omniroute.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_bad_config_file_is_one_clear_line_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (text, line, needle) in [
        ("[server]\nport = 20128\ncolour = \"blue\"\n", 3, "colour"),
        (
            "[[combos]]\nname = \"c\"\nstrategy = \"fastest\"\nmodels = []\n",
            3,
            "fastest",
        ),
        (
            "[[connections]]\nprovider = \"nope\"\nname = \"x\"\napi_key = \"k\"\n",
            2,
            "unknown provider `nope`",
        ),
        ("[server\n", 1, ""),
    ] {
        let config = write_config(dir.path(), text);
        let (code, stderr) = run_gateway_expect_failure(
            &[
                "--port",
                "0",
                "--no-open",
                "--data-dir",
                data,
                "--config",
                &config,
            ],
            &[],
        );
        assert_ne!(code, 0);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("omniroute: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {stderr}");
        assert!(
            errors[0].contains(&format!("line {line}")) && errors[0].contains(needle),
            "{stderr}"
        );
    }
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_gateway_expect_failure(
        &[
            "--port",
            &port,
            "--no-open",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("already in use"),
        "{stderr}"
    );
}

#[test]
fn an_unusable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let data = file.join("data");
    let (code, stderr) = run_gateway_expect_failure(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("data dir") && stderr.contains("not usable"),
        "{stderr}"
    );
}

#[test]
fn a_non_loopback_bind_needs_required_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[settings]\nrequire_api_key = false\n");
    let data = dir.path().join("data");
    let (code, stderr) = run_gateway_expect_failure(
        &[
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            &config,
        ],
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");
}

#[test]
fn a_bad_secret_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_gateway_expect_failure(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[("OMNIROUTE_SECRET_KEY", "abc")],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("OMNIROUTE_SECRET_KEY must be 64 hexadecimal"),
        "{stderr}"
    );
}

#[tokio::test]
async fn first_start_prints_a_usable_key_once() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap().to_string();
    // A config with a connection but no API key at all.
    let config = mock_config(&mock.base_url());
    let config = config.split("[[api_keys]]").next().unwrap().to_string();
    let config = write_config(dir.path(), &config);
    let mut gw = spawn_gateway(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            &data,
            "--config",
            &config,
        ],
        &[],
    );
    let key = gw
        .stdout_lines
        .iter()
        .find_map(|l| l.split("store it now): ").nth(1).map(str::to_string))
        .unwrap_or_else(|| panic!("no generated key among {:?}", gw.stdout_lines));
    assert!(key.starts_with("sk-omni-"));
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(&key)
        .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    terminate(&gw.child);
    gw.child.wait().unwrap();

    // A second start has a key already and prints none.
    let mut again = spawn_gateway(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            &data,
            "--config",
            &config,
        ],
        &[],
    );
    assert!(
        !again
            .stdout_lines
            .iter()
            .any(|l| l.contains("store it now"))
    );
    terminate(&again.child);
    again.child.wait().unwrap();
}

fn chat_body(i: usize) -> Value {
    json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": format!("request {i}")}]})
}

#[tokio::test]
async fn a_restart_keeps_connections_keys_and_usage() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    // A connection and a key made through the API, not the config file.
    let created: Value = gw
        .post("/api/connections")
        .json(&json!({"provider": "deepseek", "name": "api-made", "api_key": "sk-deepseek-123456", "base_url": mock.base_url()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = gw
        .post("/api/keys")
        .json(&json!({"name": "laptop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let laptop_key = key["key"].as_str().unwrap().to_string();
    for i in 0..3 {
        assert_eq!(
            gw.post("/v1/chat/completions")
                .json(&chat_body(i))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let data_dir = gw.stop().await;

    // Started again on the same data dir, with a config that no longer names the mock provider's connection.
    let gw = TestGateway::start_in(data_dir, &mock_config(&mock.base_url())).await;
    let usage = gw.usage(3).await;
    assert_eq!(usage.len(), 3);
    let conns: Value = gw
        .get("/api/connections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_made = conns["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "api-made")
        .expect("kept");
    assert_eq!(api_made["id"], created["id"]);
    assert_eq!(
        api_made["api_key_preview"], "sk-d…3456",
        "key still decrypts"
    );
    let response = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(&laptop_key)
        .json(&json!({"model": "deepseek/deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "API-made key and connection work after restart"
    );
    gw.stop().await;
}

#[tokio::test]
async fn sigterm_flushes_every_usage_record() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &mock_config(&mock.base_url()));
    let gw = spawn_gateway(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            &config,
        ],
        &[],
    );
    let client = reqwest::Client::new();
    const N: usize = 300;
    let mut tasks = Vec::new();
    for i in 0..N {
        let request = client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(TEST_KEY)
            .json(&chat_body(i));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // Streams still running when the signal comes are drained, not cut.
    let mut streams = Vec::new();
    for _ in 0..5 {
        let response = client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(TEST_KEY)
            .json(&json!({"model": "mock/slow-stream", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let mut body = response.bytes_stream();
        let first = futures_util::StreamExt::next(&mut body)
            .await
            .unwrap()
            .unwrap();
        assert!(!first.is_empty());
        streams.push(body);
    }
    terminate(&gw.child);
    for mut body in streams {
        let mut rest = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        assert!(
            String::from_utf8_lossy(&rest).contains("[DONE]"),
            "stream completed during shutdown"
        );
    }
    let status = tokio::task::spawn_blocking(move || {
        let mut gw = gw;
        gw.child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "clean exit: {status}");

    let db = rusqlite_count(&data.join("omniroute.db"));
    assert_eq!(db, N as i64 + 5, "every usage record is in the database");
}

/// Counts usage rows by reading the database the way an operator would.
fn rusqlite_count(path: &std::path::Path) -> i64 {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from usage').fetchone()[0])")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn the_gateway_survives_garbage_and_keeps_serving() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        br#"{"model":"openai/gpt-4.1","messages":[{"role":"user","content":"\ud800"}]}"#.to_vec(),
        br#"{"model":{"nested":true},"messages":[]}"#.to_vec(),
        br#"{"model":"openai/gpt-4.1","messages":[],"stream":"yes"}"#.to_vec(),
        br#"{"model":"openai/gpt-4.1","messages":[],"stream_options":5,"stream":true}"#.to_vec(),
        "{\"model\":\"a\",".repeat(10_000).into_bytes(),
    ];
    for body in bodies {
        let response = gw
            .post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (400..500).contains(&status) || status == 200,
            "status {status}"
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let ok = gw
        .post("/v1/chat/completions")
        .json(&chat_body(0))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn usage_older_than_the_retention_period_is_pruned_at_start() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url()) + "\n[settings]\nusage_retention_days = 30\n";
    let gw = TestGateway::start(&config).await;
    assert_eq!(
        gw.post("/v1/chat/completions")
            .json(&chat_body(0))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let data_dir = gw.stop().await;

    // Two records from long ago, written the way the gateway writes them.
    let db = data_dir.path().join("omniroute.db");
    let mut conn = omniroute::store::open_connection(&db).unwrap();
    let tx = conn.transaction().unwrap();
    let day_ms = 86_400_000;
    for age_days in [31, 400] {
        let old = omniroute::observe::UsageRecord {
            ts: omniroute::store::now_ms() - age_days * day_ms,
            inbound_format: "openai".into(),
            requested_model: "openai/gpt-4.1".into(),
            status: 200,
            ..Default::default()
        };
        omniroute::store::usage::insert(&tx, &old).unwrap();
    }
    tx.commit().unwrap();
    drop(conn);

    let gw = TestGateway::start_in(data_dir, &config).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = gw.usage(0).await;
        if rows.len() == 1 {
            assert!(rows[0]["ts"].as_i64().unwrap() > omniroute::store::now_ms() - day_ms);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old records still there: {}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}
