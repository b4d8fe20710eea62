//! Black-box test of `GET /api/cli-tools`: the gateway binary started with its own HOME and PATH finds a fake Claude Code there and sees that its settings point at the gateway.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use omniroute_tests::{TEST_KEY, json_of, spawn_gateway, terminate};
use serde_json::{Value, json};

/// The binary each non-editor tool is looked for under, as the gateway names it.
const BINARIES: &[(&str, &str)] = &[
    ("codex", "codex"),
    ("gemini", "gemini"),
    ("opencode", "opencode"),
    ("openclaw", "openclaw"),
    ("cursor", "cursor"),
];

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
    let config = dir.path().join("omniroute.toml");
    write(
        &config,
        &format!("[[api_keys]]\nname = \"ci\"\nkey = \"{TEST_KEY}\"\nmodels = [\"*\"]\n"),
    );
    let data = dir.path().join("data");
    let mut gw = spawn_gateway(
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
            ("PATH", bin.to_str().unwrap()),
        ],
    );
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
            "claude", "codex", "gemini", "opencode", "openclaw", "cline", "cursor"
        ]
    );

    let found = tool("claude");
    assert_eq!(found["name"], "Claude Code");
    assert_eq!(found["installed"], true);
    assert_eq!(found["path"], claude.display().to_string());
    assert_eq!(found["version"], "2.0.14 (Claude Code)");
    assert_eq!(
        found["config_path"],
        home.join(".claude/settings.json").display().to_string()
    );
    assert_eq!(found["configured"], true);
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
    let gemini = tool("gemini");
    assert_eq!(
        gemini["config_path"],
        home.join(".gemini/settings.json").display().to_string()
    );
    assert_eq!(tool("cline")["installed"], false);
    assert_eq!(tool("cline")["path"], Value::Null);
    assert_eq!(tool("codex")["config_path"], Value::Null);
}
