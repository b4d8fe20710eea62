//! Black-box tests of `/api/backup` and `/api/restore`: a downloaded backup brings the configuration back, the gateway keeps serving, history made since survives, and a bad upload changes nothing.

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, json_of, mock_and_gateway, mock_config};
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["revoked_at"].is_null())
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn chat(gw: &omniroute_tests::TestGateway, model: &str) -> u16 {
    gw.post("/v1/chat/completions")
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_backup_restores_the_configuration_and_keeps_the_history() {
    let (_mock, gw) = mock_and_gateway().await;
    assert_eq!(chat(&gw, "my-stack").await, 200);
    let response = gw.get("/api/backup").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.sqlite3"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"omniroute-backup-")
            && disposition.ends_with(".sqlite\""),
        "{disposition}"
    );
    let backup = response.bytes().await.unwrap();
    assert!(backup.starts_with(b"SQLite format 3\0"));

    // Changes after the backup: a combo deleted, a key added, a request served.
    json_of(gw.delete("/api/combos/my-stack").send().await.unwrap(), 204).await;
    json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "later"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(chat(&gw, "openai/gpt-4.1").await, 200);
    assert_eq!(gw.usage(2).await.len(), 2);

    let restored = json_of(
        gw.post("/api/restore")
            .header("content-type", "application/vnd.sqlite3")
            .body(backup.clone())
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(restored["restored"], true);
    let previous = restored["previous_copy"].as_str().unwrap();
    assert!(previous.starts_with("omniroute.db.before-restore-"));
    assert!(gw.data_dir.path().join(previous).is_file());

    assert!(names(&gw.get_json("/api/combos").await).contains(&"my-stack".to_owned()));
    assert!(!names(&gw.get_json("/api/keys").await).contains(&"later".to_owned()));
    // The restored combo serves at once, and no usage record was lost.
    assert_eq!(chat(&gw, "my-stack").await, 200);
    let usage = gw.usage(3).await;
    assert_eq!(usage.len(), 3, "{usage:?}");
}

#[tokio::test]
async fn a_bad_upload_is_refused_and_changes_nothing() {
    let (_mock, gw) = mock_and_gateway().await;
    let before = gw.get_json("/api/combos").await;

    let other = tempfile::tempdir().unwrap();
    let foreign = other.path().join("notes.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    let uploads: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"this is not a database at all".repeat(10),
            "not an SQLite database",
        ),
        ("empty", Vec::new(), "empty"),
        (
            "foreign",
            std::fs::read(&foreign).unwrap(),
            "not an OmniRoute backup",
        ),
    ];
    for (what, body, says) in uploads {
        let error = json_of(
            gw.post("/api/restore")
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(error["error"]["code"], "invalid_backup", "{what}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{what}: {message}");
    }
    assert_eq!(gw.get_json("/api/combos").await, before);
    assert_eq!(chat(&gw, "my-stack").await, 200);
    // Nothing was left behind in the data directory.
    let leftovers: Vec<String> = std::fs::read_dir(gw.data_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".omniroute-") || n.contains("before-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn an_export_rebuilds_the_configuration_on_a_fresh_gateway_without_secrets() {
    let (mock, gw) = mock_and_gateway().await;
    json_of(
        gw.post("/api/combos")
            .json(&json!({"name": "team", "strategy": "round-robin", "models": ["my-stack", "anthropic/claude-sonnet-4"], "sticky": 3}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    gw.patch_settings(json!({"retry_attempts": 2})).await;
    let document = json_of(gw.get("/api/backup/export").send().await.unwrap(), 200).await;
    assert_eq!(document["format"], "omniroute-config");
    let text = document.to_string();
    for secret in ["sk-upstream-openai", "sk-ant-upstream", "sk-omni-test-key"] {
        assert!(!text.contains(secret), "{secret} leaked into the export");
    }
    assert!(
        document["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "ci")
    );

    // A fresh gateway with only a key learns everything but the secrets.
    let fresh = omniroute_tests::TestGateway::start(&format!(
        "[[api_keys]]\nname = \"ci\"\nkey = \"{}\"\nmodels = [\"*\"]\n",
        omniroute_tests::TEST_KEY
    ))
    .await;
    let report = json_of(
        fresh
            .post("/api/backup/import")
            .json(&document)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(report["imported"]["combos"], 2);
    let waiting: Vec<String> = report["needs_secret"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}/{}",
                n["provider"].as_str().unwrap(),
                n["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(waiting.contains(&"openai/work".to_owned()), "{waiting:?}");
    let without_source = |mut list: Value| {
        for combo in list["data"].as_array_mut().unwrap() {
            combo.as_object_mut().unwrap().remove("source");
        }
        list
    };
    assert_eq!(
        without_source(fresh.get_json("/api/combos").await),
        without_source(gw.get_json("/api/combos").await)
    );
    assert_eq!(fresh.get_json("/api/settings").await["retry_attempts"], 2);
    assert!(
        fresh.get_json("/api/providers").await["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "mock")
    );
    let work = fresh.connection(fresh.connection_id("work").await).await;
    assert_eq!(work["enabled"], false, "an account without its key waits");
    assert_eq!(work["base_url"], mock.base_url());

    // Importing into the gateway it came from keeps every secret and serves on.
    let combos_before = gw.get_json("/api/combos").await;
    let again = json_of(
        gw.post("/api/backup/import")
            .json(&document)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(again["needs_secret"], json!([]));
    assert_eq!(gw.get_json("/api/combos").await, combos_before);
    assert_eq!(chat(&gw, "team").await, 200);
}

#[tokio::test]
async fn an_export_with_a_passphrase_carries_the_secrets_sealed_and_only_that_passphrase_opens_them()
 {
    let (_mock, gw) = mock_and_gateway().await;
    let work = gw.connection_id("work").await;
    json_of(
        gw.patch(&format!("/api/connections/{work}"))
            .json(&json!({"proxy": "http://me:hunter2@127.0.0.1:9"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    gw.patch_settings(json!({"provider_proxies": {
        "anthropic": "socks5://u:s3cr3t-pw@127.0.0.1:1080",
        "gemini": "http://127.0.0.1:3128"
    }}))
    .await;
    let secrets = [
        "sk-upstream-openai",
        "sk-ant-upstream",
        "hunter2",
        "s3cr3t-pw",
    ];

    // Without a passphrase: no secret at all, proxies with a password left out.
    let plain = json_of(gw.get("/api/backup/export").send().await.unwrap(), 200).await;
    for secret in secrets {
        assert!(!plain.to_string().contains(secret), "{secret} in {plain}");
    }
    assert!(plain.get("secrets").is_none());
    assert_eq!(
        plain["settings"]["provider_proxies"],
        json!({"gemini": "http://127.0.0.1:3128"})
    );
    let short = gw
        .post("/api/backup/export")
        .json(&json!({"passphrase": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 400);

    // With one: sealed, not readable in the document.
    let passphrase = "correct horse battery staple";
    let sealed = json_of(
        gw.post("/api/backup/export")
            .json(&json!({"passphrase": passphrase}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(sealed["secrets"]["kdf"], "argon2id");
    for secret in secrets {
        assert!(
            !sealed.to_string().contains(secret),
            "{secret} in the clear"
        );
    }
    let audit = gw.get_json("/api/audit").await.to_string();
    assert!(!audit.contains("horse"), "the passphrase is not audited");

    // A wrong passphrase imports nothing.
    let target = omniroute_tests::TestGateway::start(&format!(
        "[[api_keys]]\nname = \"ci\"\nkey = \"{}\"\nmodels = [\"*\"]\n",
        omniroute_tests::TEST_KEY
    ))
    .await;
    let wrong = target
        .post("/api/backup/import")
        .header("x-omniroute-passphrase", "not the passphrase")
        .json(&sealed)
        .send()
        .await
        .unwrap();
    let body = json_of(wrong, 400).await;
    assert_eq!(body["error"]["code"], "invalid_import", "{body}");
    assert!(
        target.get_json("/api/connections").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The right one brings the accounts with their keys, ready to serve,
    // and the proxies with their passwords.
    let report = json_of(
        target
            .post("/api/backup/import")
            .header("x-omniroute-passphrase", passphrase)
            .json(&sealed)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(report["needs_secret"], json!([]), "{report}");
    assert_eq!(report["secrets_skipped"], false);
    // Stored, and listed, with the password sealed under the new gateway's key.
    let moved = target.connection(target.connection_id("work").await).await;
    assert_eq!(moved["enabled"], true);
    let proxy = moved["proxy"].as_str().unwrap();
    assert!(proxy.starts_with("http://me:omniroute-sealed-"), "{proxy}");
    let proxies = target.get_json("/api/settings").await["provider_proxies"].clone();
    assert_eq!(proxies["gemini"], "http://127.0.0.1:3128");
    let anthropic = proxies["anthropic"].as_str().unwrap();
    assert!(
        anthropic.starts_with("socks5://u:omniroute-sealed-"),
        "{anthropic}"
    );
    for secret in secrets {
        assert!(!moved.to_string().contains(secret) && !proxies.to_string().contains(secret));
    }
    // Its own export with a passphrase opens them again: the round trip
    // kept the passwords themselves.
    let exported = json_of(
        target
            .post("/api/backup/export")
            .json(&json!({"passphrase": "another long passphrase"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let fresh = omniroute_tests::TestGateway::start(&format!(
        "[[api_keys]]\nname = \"ci\"\nkey = \"{}\"\nmodels = [\"*\"]\n",
        omniroute_tests::TEST_KEY
    ))
    .await;
    json_of(
        fresh
            .post("/api/backup/import")
            .header("x-omniroute-passphrase", "another long passphrase")
            .json(&exported)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(chat(&fresh, "mock/gpt-4.1").await, 200);
    assert_eq!(chat(&target, "mock/gpt-4.1").await, 200);

    // Back into the gateway it came from without the passphrase: the
    // proxies with passwords stay as they are.
    let before_proxy = gw.connection(work).await["proxy"].clone();
    let before_settings =
        gw.get_json("/api/settings").await["provider_proxies"]["anthropic"].clone();
    assert!(before_proxy.as_str().unwrap().contains("omniroute-sealed-"));
    let again = json_of(
        gw.post("/api/backup/import")
            .json(&sealed)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(again["secrets_skipped"], true);
    let kept = gw.connection(work).await;
    assert_eq!(kept["proxy"], before_proxy);
    assert_eq!(
        gw.get_json("/api/settings").await["provider_proxies"]["anthropic"],
        before_settings
    );
}

#[tokio::test]
async fn one_bad_item_imports_nothing() {
    let (_mock, gw) = mock_and_gateway().await;
    let before = gw.get_json("/api/combos").await;
    let settings_before = gw.get_json("/api/settings").await;
    let bad_documents = [
        (
            json!({"format": "omniroute-config", "version": 1,
            "settings": {"retry_attempts": 3},
            "combos": [
                {"name": "good", "strategy": "fill-first", "models": ["openai/gpt-4.1"]},
                {"name": "bad", "strategy": "fill-first", "models": []}
            ]}),
            "combo `bad`",
        ),
        (
            json!({"format": "omniroute-config", "version": 1,
                "combos": [{"name": "good", "strategy": "fill-first", "models": ["openai/gpt-4.1"]}],
                "connections": [{"provider": "nowhere", "name": "x"}]}),
            "unknown provider `nowhere`",
        ),
        (
            json!({"format": "omniroute-config", "version": 1, "settings": {"no_such_setting": 1}}),
            "settings",
        ),
        (
            json!({"format": "something-else", "version": 1}),
            "not an OmniRoute configuration",
        ),
    ];
    for (document, says) in bad_documents {
        let error = json_of(
            gw.post("/api/backup/import")
                .json(&document)
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(gw.get_json("/api/combos").await, before);
    assert_eq!(gw.get_json("/api/settings").await, settings_before);
}

#[tokio::test]
async fn a_session_without_the_csrf_header_cannot_restore() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with_password(
        tempfile::tempdir().unwrap(),
        &mock_config(&mock.base_url()),
        Some("backup password"),
    )
    .await;
    let login = gw
        .http
        .post(format!("{}/api/auth/login", gw.url))
        .json(&json!({"password": "backup password"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = json_of(login, 200).await["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The session may download a backup (a GET needs no CSRF header)...
    let backup = gw
        .http
        .get(format!("{}/api/backup", gw.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(backup.status(), 200);
    let backup = backup.bytes().await.unwrap();
    let before = gw.get_json("/api/combos").await;
    json_of(gw.delete("/api/combos/my-stack").send().await.unwrap(), 204).await;

    // ...but a restore another site's page could send, cookie alone, is refused.
    let error = json_of(
        gw.http
            .post(format!("{}/api/restore", gw.url))
            .header("cookie", &cookie)
            .header("content-type", "application/vnd.sqlite3")
            .body(backup.clone())
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_eq!(error["error"]["code"], "csrf_failed");
    assert_ne!(gw.get_json("/api/combos").await, before);

    // With the header it goes through.
    json_of(
        gw.http
            .post(format!("{}/api/restore", gw.url))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/vnd.sqlite3")
            .body(backup)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(gw.get_json("/api/combos").await, before);
}
