//! Test harness: a real gateway on an ephemeral port, a temp data dir, mock upstreams, and the built binaries.

pub mod mock;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use omniroute::{Gateway, Handle, Options};
use serde_json::Value;

/// The gateway API key every test config declares.
pub const TEST_KEY: &str = "sk-omni-test-key-0001";

/// A config file pointing the `openai`, `anthropic`, `openai-responses` and
/// `gemini` catalog providers and a user provider `mock` at the mock
/// upstream whose base URL (`http://127.0.0.1:P/v1`) is `mock_base_url`.
pub fn mock_config(mock_base_url: &str) -> String {
    // Gemini's API lives under /v1beta on the same mock.
    let gemini_base_url = match mock_base_url.strip_suffix("/v1") {
        Some(root) => format!("{root}/v1beta"),
        None => format!("{}/v1beta", mock_base_url.trim_end_matches('/')),
    };
    format!(
        r#"
[[providers]]
id = "mock"
name = "Local mock"
format = "openai"
base_url = "{mock_base_url}"
prefix = "mock"
models = ["gpt-4.1"]

[[connections]]
provider = "openai"
name = "work"
api_key = "sk-upstream-openai"
base_url = "{mock_base_url}"
priority = 1

[[connections]]
provider = "mock"
name = "local"
api_key = "sk-upstream-mock"

[[connections]]
provider = "anthropic"
name = "claude"
api_key = "sk-ant-upstream"
base_url = "{mock_base_url}"

[[connections]]
provider = "gemini"
name = "gemini"
api_key = "gm-upstream"
base_url = "{gemini_base_url}"

[[connections]]
provider = "openai-responses"
name = "responses"
api_key = "sk-upstream-responses"
base_url = "{mock_base_url}"

[[combos]]
name = "my-stack"
strategy = "fill-first"
models = ["openai/gpt-4.1", "mock/some-model"]

[[api_keys]]
name = "ci"
key = "{TEST_KEY}"
models = ["*"]
"#
    )
}

/// A gateway started in this process on 127.0.0.1 with an ephemeral port.
pub struct TestGateway {
    pub handle: Option<Handle>,
    pub url: String,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestGateway {
    /// Starts with `config` (TOML) in a fresh data dir.
    pub async fn start(config: &str) -> TestGateway {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, config).await
    }

    /// Starts with `config` in an existing data dir (restart tests).
    pub async fn start_in(data_dir: tempfile::TempDir, config: &str) -> TestGateway {
        Self::start_on("127.0.0.1", data_dir, config).await
    }

    /// Starts listening on `host` (port chosen by the OS); requests go to
    /// the loopback address either way.
    pub async fn start_on(host: &str, data_dir: tempfile::TempDir, config: &str) -> TestGateway {
        let config_path = data_dir.path().join("omniroute.toml");
        std::fs::write(&config_path, config).expect("write config");
        let handle = Gateway::start(Options {
            host: Some(host.into()),
            port: Some(0),
            data_dir: data_dir.path().to_path_buf(),
            config_path: Some(config_path),
            secret_key_hex: None,
        })
        .await
        .expect("gateway starts");
        TestGateway {
            url: format!("http://127.0.0.1:{}", handle.addr().port()),
            handle: Some(handle),
            data_dir,
            http: reqwest::Client::new(),
        }
    }

    /// POST with the test key.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TEST_KEY)
    }

    /// PATCH with the test key.
    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .patch(format!("{}{path}", self.url))
            .bearer_auth(TEST_KEY)
    }

    /// PUT with the test key.
    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .put(format!("{}{path}", self.url))
            .bearer_auth(TEST_KEY)
    }

    /// DELETE with the test key.
    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(TEST_KEY)
    }

    /// GET with the test key.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TEST_KEY)
    }

    /// GET with the test key; the body as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("JSON body")
    }

    /// POST `body` with the test key; the whole response text (a stream read to its end).
    pub async fn post_text(&self, path: &str, body: &Value) -> String {
        self.post(path)
            .json(body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body")
    }

    /// Stops the gateway (flushing usage) and hands back the data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
        self.data_dir
    }

    /// Usage records through the management API, newest first, after the
    /// writer has caught up with `expected` records (or 10 s have passed).
    pub async fn usage(&self, expected: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let page: Value = self
                .get("/api/usage?limit=1000")
                .send()
                .await
                .expect("usage")
                .json()
                .await
                .expect("json");
            let rows = page["data"].as_array().cloned().unwrap_or_default();
            if rows.len() >= expected || std::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Path of a binary of this workspace (built by `make test` before the tests
/// run, next to the test executables).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: build it first (`cargo build --workspace --bins`, as `make test` does)",
        path.display()
    );
    path
}

/// The `omniroute` binary as a child process.
pub struct GatewayProcess {
    pub child: Child,
    pub url: String,
    pub stdout_lines: Vec<String>,
}

impl Drop for GatewayProcess {
    /// A test that fails half-way must not leave a gateway running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `omniroute` with `args` and waits for its "listening" line.
pub fn spawn_gateway(args: &[&str], envs: &[(&str, &str)]) -> GatewayProcess {
    let mut cmd = Command::new(workspace_binary("omniroute"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn omniroute");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                let found = line
                    .strip_prefix("OmniRoute listening on ")
                    .map(|u| u.trim_end_matches("/v1").to_string());
                seen.push(line);
                if let Some(url) = found {
                    break url;
                }
            }
            _ => {
                let out = child.wait_with_output().expect("output");
                panic!(
                    "omniroute exited before listening: {}\nstdout: {:?}\nstderr: {}",
                    out.status,
                    seen,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    };
    // Keep draining both pipes so the child never blocks on a full one.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .for_each(drop)
        });
    }
    GatewayProcess {
        child,
        url,
        stdout_lines: seen,
    }
}

/// Runs `omniroute` expecting it to fail at start; returns (exit code, stderr).
pub fn run_gateway_expect_failure(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(workspace_binary("omniroute"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("omniroute kept running although it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}
