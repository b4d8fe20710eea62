//! Test harness: a real gateway on an ephemeral port, a temp data dir, mock upstreams, and the built binaries.

pub mod mock;
pub mod oauth;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use omniroute::{Gateway, Handle, Options};
use serde_json::Value;

/// The gateway API key every test config declares.
pub const TEST_KEY: &str = "sk-omni-test-key-0001";

/// A mock upstream, and a gateway whose connections point at it.
pub async fn mock_and_gateway() -> (mock::MockUpstream, TestGateway) {
    let mock = mock::MockUpstream::start().await;
    let gw = TestGateway::start(&mock_config(&mock.base_url())).await;
    (mock, gw)
}

/// The JSON body of a response that must have `status` (`null` when empty).
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

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
        Self::launch(host, data_dir, config, None, None).await
    }

    /// Starts on 127.0.0.1 with `INITIAL_PASSWORD` = `password` (dashboard tests).
    pub async fn start_with_password(
        data_dir: tempfile::TempDir,
        config: &str,
        password: Option<&str>,
    ) -> TestGateway {
        Self::launch("127.0.0.1", data_dir, config, password, None).await
    }

    /// Starts with every built-in provider URL sent to `origin` (a mock
    /// provider server; see `Options::upstream_override`).
    pub async fn start_with_upstream(config: &str, origin: &str) -> TestGateway {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::launch("127.0.0.1", data_dir, config, None, Some(origin)).await
    }

    /// Starts again in `data_dir` (a restart) with every built-in provider
    /// URL sent to `origin`.
    pub async fn start_in_with_upstream(
        data_dir: tempfile::TempDir,
        config: &str,
        origin: &str,
    ) -> TestGateway {
        Self::launch("127.0.0.1", data_dir, config, None, Some(origin)).await
    }

    async fn launch(
        host: &str,
        data_dir: tempfile::TempDir,
        config: &str,
        password: Option<&str>,
        upstream_override: Option<&str>,
    ) -> TestGateway {
        let config_path = data_dir.path().join("omniroute.toml");
        std::fs::write(&config_path, config).expect("write config");
        let handle = Gateway::start(Options {
            host: Some(host.into()),
            port: Some(0),
            data_dir: data_dir.path().to_path_buf(),
            config_path: Some(config_path),
            secret_key_hex: None,
            initial_password: password.map(str::to_owned),
            warnings: Vec::new(),
            upstream_override: upstream_override.map(str::to_owned),
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

/// Management helpers for the routing tests (settings, connections, health,
/// events, whole usage table).
impl TestGateway {
    /// `PATCH /api/settings` with `patch`; panics with the answer unless 200.
    pub async fn patch_settings(&self, patch: Value) {
        let response = self
            .patch("/api/settings")
            .json(&patch)
            .send()
            .await
            .expect("settings");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "PATCH /api/settings {patch}: {body}");
    }

    /// The id of the connection called `name`.
    pub async fn connection_id(&self, name: &str) -> i64 {
        let list = self.get_json("/api/connections").await;
        list["data"]
            .as_array()
            .and_then(|rows| rows.iter().find(|c| c["name"] == name))
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_else(|| panic!("no connection `{name}` in {list}"))
    }

    /// `GET /api/connections/{id}`.
    pub async fn connection(&self, id: i64) -> Value {
        self.get_json(&format!("/api/connections/{id}")).await
    }

    /// `GET /api/health`.
    pub async fn health(&self) -> Value {
        self.get_json("/api/health").await
    }

    /// Every usage record, newest first, paging through `/api/usage` with
    /// `before_id` (the API's page holds at most 1000).
    pub async fn all_usage(&self) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(id) => format!("/api/usage?limit=1000&before_id={id}"),
                None => "/api/usage?limit=1000".to_string(),
            };
            let page = self.get_json(&path).await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            rows.extend(data);
            match page["next_before_id"].as_i64() {
                Some(id) => before = Some(id),
                None => return rows,
            }
        }
    }

    /// Usage records once there are exactly `expected` of them: waits up to
    /// 10 s for the writer to catch up, then a little longer to make sure no
    /// extra record follows (a request billed twice would show up there).
    pub async fn usage_exactly(&self, expected: usize) -> Vec<Value> {
        let rows = self.usage(expected).await;
        assert_eq!(
            rows.len(),
            expected,
            "usage records: {}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = self.usage(expected).await;
        assert_eq!(
            again.len(),
            expected,
            "a late extra usage record: {}",
            serde_json::to_string_pretty(&again).unwrap_or_default()
        );
        again
    }

    /// Subscribes to `GET /api/events?since=0`; the tap collects every
    /// envelope the gateway still remembers, then every new one.
    pub async fn events(&self) -> EventTap {
        let response = self
            .get("/api/events?since=0")
            .send()
            .await
            .expect("GET /api/events");
        assert_eq!(response.status(), 200, "GET /api/events");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    for (_, data) in parse_sse(&block) {
                        if let Ok(mut seen) = sink.lock() {
                            seen.push(data);
                        }
                    }
                }
            }
        });
        EventTap { seen, task }
    }
}

/// The envelopes `GET /api/events` has sent so far (`{"id","ts","type",...}`).
pub struct EventTap {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventTap {
    /// Every envelope received, oldest first.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The first envelope of `kind` that matches `matches`, waiting up to
    /// 5 s for it; `None` when none came.
    pub async fn wait_for(&self, kind: &str, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .seen()
                .into_iter()
                .find(|e| e["type"] == kind && matches(e));
            if found.is_some() || std::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The events of an SSE text as (event name, data as JSON): the name is
/// `message` when the event has none; `data:` lines that are not JSON
/// (`[DONE]`) are left out.
pub fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            serde_json::from_str(&data).ok().map(|v| (name, v))
        })
        .collect()
}

/// What a usage row should cost: the catalog price of its provider and
/// upstream model applied to the row's own tokens (one call's worth).
pub fn catalog_cost(row: &Value) -> f64 {
    let catalog = omniroute::providers::Catalog::builtin().expect("catalog");
    let provider = row["provider"].as_str().unwrap_or_default();
    let model = row["upstream_model"].as_str().unwrap_or_default();
    let tokens = |field: &str| row[field].as_u64().unwrap_or(0);
    catalog
        .get(provider)
        .and_then(|p| p.model(model))
        .map_or(0.0, |m| {
            m.cost(
                tokens("input_tokens"),
                tokens("cached_tokens"),
                tokens("output_tokens"),
            )
        })
}

/// A usage row's hops as (provider, connection id, upstream status); each
/// hop must say why it failed.
pub fn hops_of(row: &Value) -> Vec<(String, Option<i64>, Option<u64>)> {
    row["hops"]
        .as_array()
        .unwrap_or_else(|| panic!("hops missing: {row}"))
        .iter()
        .map(|h| {
            assert!(
                h["error"].as_str().is_some_and(|e| !e.is_empty()),
                "every hop says why: {h}"
            );
            (
                h["provider"].as_str().unwrap_or_default().to_string(),
                h["connection_id"].as_i64(),
                h["status"].as_u64(),
            )
        })
        .collect()
}

/// Checks that every row is billed once: at the catalog price of the model
/// that answered, for that one call's tokens (an OpenAI-format answer
/// carries the mock's prompt tokens once, not once per attempt).
pub fn assert_billed_once(rows: &[Value]) {
    for row in rows {
        let cost = row["cost"].as_f64().unwrap_or(f64::NAN);
        let expected = catalog_cost(row);
        assert!(
            (cost - expected).abs() < 1e-12,
            "cost {cost} != {expected}: {row}"
        );
        let openai_format = matches!(
            row["provider"].as_str(),
            Some("openai" | "glm" | "nvidia" | "mock")
        );
        if row["status"] == 200 && openai_format {
            assert_eq!(row["input_tokens"], mock::PROMPT_TOKENS, "{row}");
        }
    }
}
