//! Black-box tests of the maintenance commands: `omniroute backup` copies a running gateway's database, `omniroute restore` puts it back and the running gateway reloads, `omniroute rekey` is refused while a gateway runs and, once stopped, re-seals every secret under a new key the next start uses; a daily backup exists in `backups/` after the first start.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TestGateway, json_of, mock_config, workspace_binary};
use serde_json::json;

/// Runs `omniroute <args> --data-dir <dir>`: (succeeded, stdout, stderr).
fn omniroute(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let out = Command::new(workspace_binary("omniroute"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("OMNIROUTE_SECRET_KEY")
        .output()
        .expect("run omniroute");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn chat_status(gw: &TestGateway, key: &str) -> u16 {
    gw.http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn backup_restore_and_rekey_from_the_command_line() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    let dir = gw.data_dir.path().to_path_buf();
    // The housekeeping task makes the first daily backup at start.
    let has_daily = || {
        std::fs::read_dir(dir.join("backups")).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with("-daily.db"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_daily() {
        assert!(Instant::now() < deadline, "no daily backup in backups/");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A backup of the running gateway, then a key made after it.
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("before.db");
    let (ok, stdout, stderr) = omniroute(&["backup", "--out", copy.to_str().unwrap()], &dir);
    assert!(ok, "{stdout}{stderr}");
    assert!(copy.exists());
    let (ok, _, stderr) = omniroute(&["backup", "--out", copy.to_str().unwrap()], &dir);
    assert!(
        !ok && stderr.contains("exists"),
        "never overwrites: {stderr}"
    );
    let made = json_of(
        gw.post("/api/keys")
            .json(&json!({"name": "after-backup"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let later_key = made["key"].as_str().unwrap().to_owned();
    assert_eq!(chat_status(&gw, &later_key).await, 200);

    // Restoring under the running gateway: it reloads, and the key made
    // after the backup stops working.
    let (ok, stdout, stderr) = omniroute(&["restore", copy.to_str().unwrap()], &dir);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("before-restore"), "{stdout}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while chat_status(&gw, &later_key).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the running gateway did not reload"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, _, stderr) = omniroute(&["restore", "/nonexistent/file.db"], &dir);
    assert!(!ok, "{stderr}");

    // No rekey under a running gateway: it holds the old key in memory.
    let (ok, _, stderr) = omniroute(&["rekey"], &dir);
    assert!(!ok && stderr.contains("running"), "{stderr}");

    let old_key_file = std::fs::read_to_string(dir.join("secret.key")).unwrap();
    let data_dir = gw.stop().await;
    let (ok, stdout, stderr) = omniroute(&["rekey"], data_dir.path());
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("secrets re-sealed"), "{stdout}");
    let new_key_file = std::fs::read_to_string(data_dir.path().join("secret.key")).unwrap();
    assert_ne!(old_key_file.trim(), new_key_file.trim());
    assert_eq!(new_key_file.trim().len(), 64);
    assert!(!data_dir.path().join("secret.key.new").exists());

    // The next start, without the config file that would re-seal the
    // upstream keys, opens them with the new key and serves.
    let gw = TestGateway::start_in(data_dir, "").await;
    assert_eq!(chat_status(&gw, omniroute_tests::TEST_KEY).await, 200);
    let audit = gw.get_json("/api/audit").await;
    let paths: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    for command in ["omniroute restore", "omniroute rekey"] {
        assert!(paths.contains(&command), "{command} in {paths:?}");
    }
}
