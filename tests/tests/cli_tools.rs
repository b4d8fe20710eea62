//! Black-box tests of `/api/cli-tools`: the gateway binary started with its own HOME and PATH finds a fake Claude Code there and sees that its settings point at the gateway; and a tool is previewed, set up with a key made for it, and put back byte for byte.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use omniroute_tests::{TEST_KEY, json_of, spawn_gateway, terminate};
use serde_json::{Value, json};

/// The binary each non-editor tool is looked for under, as the gateway names it.
const BINARIES: &[(&str, &str)] = &[
    ("codex", "codex"),
    ("gemini-cli", "gemini"),
    ("opencode", "opencode"),
    ("openclaw", "openclaw"),
    ("cursor", "cursor"),
];

/// The gateway with `TEST_KEY`, its data in `dir`, run with this HOME and PATH.
fn start_gateway(dir: &Path, home: &Path, path: &Path) -> omniroute_tests::GatewayProcess {
    let config = dir.join("omniroute.toml");
    write(
        &config,
        &format!("[[api_keys]]\nname = \"ci\"\nkey = \"{TEST_KEY}\"\nmodels = [\"*\"]\n"),
    );
    let data = dir.join("data");
    spawn_gateway(
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &[
            ("HOME", home.to_str().unwrap()),
            ("PATH", path.to_str().unwrap()),
        ],
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_fake_claude_on_path_is_installed_versioned_and_configured() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bin = dir.path().join("bin");
    let claude = bin.join("claude");
    write(&claude, "#!/bin/sh\necho '2.0.14 (Claude Code)'\n");
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Gemini has a config but no binary, and the config names no gateway.
    write(
        &home.join(".gemini/settings.json"),
        r#"{"security":{"auth":{"selectedType":"gemini-api-key"}}}"#,
    );
    let mut gw = start_gateway(dir.path(), &home, &bin);
    let port = gw.url.rsplit(':').next().unwrap().to_string();
    write(
        &home.join(".claude/settings.json"),
        &json!({"env": {"ANTHROPIC_BASE_URL": format!("http://127.0.0.1:{port}"),
                        "ANTHROPIC_AUTH_TOKEN": TEST_KEY}})
        .to_string(),
    );

    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!("{}/api/cli-tools", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body = json_of(
        http.get(format!("{}/api/cli-tools", gw.url))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    terminate(&gw.child);
    gw.child.wait().unwrap();

    let tools = body["data"].as_array().unwrap();
    let tool = |id: &str| -> &Value {
        tools
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {body}"))
    };
    let ids: Vec<&str> = tools.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "claude-code",
            "codex",
            "gemini-cli",
            "openclaw",
            "cline",
            "kilo-code",
            "roo-code",
            "continue",
            "opencode",
            "qwen-code",
            "droid",
            "copilot",
            "cursor"
        ]
    );

    let found = tool("claude-code");
    assert_eq!(found["name"], "Claude Code");
    assert_eq!(found["installed"], true);
    assert_eq!(found["path"], claude.display().to_string());
    assert_eq!(found["version"], "2.0.14 (Claude Code)");
    assert_eq!(
        found["config_path"],
        home.join(".claude/settings.json").display().to_string()
    );
    assert_eq!(found["configured"], true);
    assert_eq!(found["can_setup"], true);
    assert_eq!(found["restorable"], false);
    assert_eq!(tool("cursor")["can_setup"], false);
    assert!(
        found["docs"]
            .as_str()
            .unwrap()
            .contains(&format!("http://127.0.0.1:{port}")),
        "{found}"
    );

    for (id, binary) in BINARIES {
        // /usr/local/bin is searched whatever PATH says; only an install
        // there may show up on the machine running the tests.
        let on_system = Path::new("/usr/local/bin").join(binary).exists();
        assert_eq!(tool(id)["installed"], on_system, "{}", tool(id));
        assert_eq!(tool(id)["configured"], false, "{}", tool(id));
    }
    let gemini = tool("gemini-cli");
    assert_eq!(
        gemini["config_path"],
        home.join(".gemini/settings.json").display().to_string()
    );
    assert_eq!(tool("cline")["installed"], false);
    assert_eq!(tool("cline")["path"], Value::Null);
    assert_eq!(tool("codex")["config_path"], Value::Null);
}

/// Preview writes nothing; apply without a key creates one that the gateway
/// takes at once; a malformed file is refused and left alone; restore gives
/// back the original bytes.
#[tokio::test]
async fn a_tool_is_previewed_set_up_with_a_new_key_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let settings = home.join(".claude/settings.json");
    let original = "{\n  // mine\n  \"theme\": \"dark\",\n}\n";
    write(&settings, original);
    let codex = home.join(".codex/config.toml");
    write(&codex, "model = \"gpt-5\"\n[model_providers\n");
    let mut gw = start_gateway(dir.path(), &home, Path::new("/nonexistent"));
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}/api/cli-tools/{path}", gw.url))
            .bearer_auth(TEST_KEY)
            .json(&body)
            .send()
    };
    let model = json!({"model": "anthropic/claude-sonnet-4-5"});

    let preview = json_of(
        post("claude-code/preview", model.clone()).await.unwrap(),
        200,
    )
    .await;
    let diff = preview["files"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("+    \"ANTHROPIC_BASE_URL\": \"{}\"", gw.url)),
        "{diff}"
    );
    assert!(
        diff.contains("<a new key, created when you apply>"),
        "{diff}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);

    let applied = json_of(post("claude-code/apply", model.clone()).await.unwrap(), 200).await;
    let key = applied["created_key"]["key"].as_str().unwrap().to_owned();
    let written: String = std::fs::read_to_string(&settings).unwrap();
    assert!(
        written.starts_with("{\n  // mine\n  \"theme\": \"dark\","),
        "{written}"
    );
    assert!(
        written.contains(&format!("\"ANTHROPIC_AUTH_TOKEN\": \"{key}\"")),
        "{written}"
    );
    // The new key is live without a restart.
    let models = http
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let list = json_of(
        http.get(format!("{}/api/cli-tools", gw.url))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let claude = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "claude-code")
        .unwrap()
        .clone();
    assert_eq!(claude["configured"], true, "{claude}");
    assert_eq!(claude["restorable"], true, "{claude}");

    // A file that does not parse: a clear error, no key made, file untouched.
    let before_keys = key_count(&http, &gw.url).await;
    let refused = post("codex/apply", model.clone()).await.unwrap();
    assert_eq!(refused.status(), 409);
    let error = refused.json::<Value>().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("config.toml is not valid TOML"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&codex).unwrap(),
        "model = \"gpt-5\"\n[model_providers\n"
    );
    assert_eq!(key_count(&http, &gw.url).await, before_keys);

    let unknown = post("notepad/apply", model.clone()).await.unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = post(
        "claude-code/preview",
        json!({"model": "m", "url": "ftp://x"}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);

    let restored = json_of(post("claude-code/restore", json!({})).await.unwrap(), 200).await;
    assert_eq!(restored["files"][0]["outcome"], "put_back");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(home.join(".claude"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["settings.json"],
        "backups are gone after a restore"
    );
    terminate(&gw.child);
    gw.child.wait().unwrap();
}

async fn key_count(http: &reqwest::Client, url: &str) -> usize {
    let keys = json_of(
        http.get(format!("{url}/api/keys"))
            .bearer_auth(TEST_KEY)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    keys["data"].as_array().unwrap().len()
}
