//! What is on disk: the database (with its WAL) and a downloaded backup hold no provider key or gateway key in plain text; and a gateway killed with SIGKILL in the middle of heavy traffic leaves a database that opens, passes SQLite's integrity check and keeps every usage record it had committed.
#![cfg(unix)]

use std::path::Path;

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TEST_KEY, TestGateway, json_of, mock_config, spawn_gateway};
use serde_json::json;

/// The database files in `dir` (the database, its WAL and shared memory),
/// as bytes. The config file the test wrote there is the user's own text.
fn bytes_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.path().is_file() && e.file_name().to_string_lossy().starts_with("omniroute.db")
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn no_provider_or_gateway_key_is_stored_in_plain_text() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    // Secrets from the config file (TEST_KEY, "sk-upstream-openai", …), and
    // more made through the API.
    let provider_secret = "sk-provider-secret-made-through-the-api-1234";
    json_of(
        gw.post("/api/connections")
            .json(&json!({"provider": "openai", "name": "second", "api_key": provider_secret}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let made = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "laptop"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let gateway_secret = made["key"].as_str().unwrap().to_owned();
    // A request, so that usage and audit rows are written too.
    let answer = gw
        .post("/v1/chat/completions")
        .bearer_auth(&gateway_secret)
        .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let backup = gw.get("/api/backup").send().await.unwrap();
    assert_eq!(backup.status(), 200);
    let backup = backup.bytes().await.unwrap().to_vec();
    let export = gw.get("/api/backup/export").send().await.unwrap();
    let export = export.bytes().await.unwrap().to_vec();

    let secrets = [
        TEST_KEY,
        "sk-upstream-openai",
        "sk-ant-upstream",
        "sk-upstream-responses",
        provider_secret,
        gateway_secret.as_str(),
    ];
    let mut files = bytes_under(gw.data_dir.path());
    files.push(("backup download".into(), backup));
    files.push(("settings export".into(), export));
    assert!(
        files.iter().any(|(name, _)| name.ends_with(".db")),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, bytes) in &files {
        for secret in secrets {
            assert!(!holds(bytes, secret), "{name} holds {secret} in plain text");
        }
    }
}

#[tokio::test]
async fn sigkill_under_load_keeps_every_committed_usage_record() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("omniroute.toml");
    std::fs::write(&config, mock_config(&mock.base_url())).unwrap();
    let args = [
        "--port",
        "0",
        "--no-open",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let mut gw = spawn_gateway(&args, &[]);
    let client = reqwest::Client::new();
    let url = gw.url.clone();

    // Eight senders keep the gateway writing until it is killed.
    let mut senders = Vec::new();
    for worker in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = client
                    .post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(TEST_KEY)
                    .json(&json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": format!("{worker}-{i}")}]}))
                    .send()
                    .await;
                if sent.is_err() {
                    return;
                }
            }
        }));
    }
    // Wait until a good number of rows are committed, note how many, then
    // kill the process while the senders are still going.
    let committed = loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let rows = client
            .get(format!("{url}/api/usage?limit=1000"))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let count = rows["data"].as_array().unwrap().len();
        if count >= 200 {
            break count;
        }
    };
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }

    // The database opens as SQLite left it (WAL replayed) and is whole.
    let db = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "db"))
        .expect("a database file");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let kept: i64 = conn
        .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
        .unwrap();
    assert!(
        kept >= committed as i64,
        "{kept} usage rows after the kill, {committed} were committed before it"
    );
    drop(conn);

    // And the gateway starts on it again and lists them.
    let again = spawn_gateway(&args, &[]);
    let rows = client
        .get(format!("{}/api/usage?limit=1000", again.url))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(rows["data"].as_array().unwrap().len() >= committed.min(1000));
}
