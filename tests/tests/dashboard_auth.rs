//! Black-box tests of the dashboard login: password, session cookie, CSRF, rate limit, desktop login tokens, `reset-password`, and the chat playground.

use std::process::Command;

use omniroute::{Gateway, Options};
use omniroute_tests::mock::{self, MockUpstream};
use omniroute_tests::{TestGateway, json_of, mock_config, workspace_binary};
use serde_json::{Value, json};

const PASSWORD: &str = "first password";

/// A gateway on a mock upstream started with `INITIAL_PASSWORD` = `initial`.
async fn start(data_dir: tempfile::TempDir, config: &str, initial: Option<&str>) -> TestGateway {
    TestGateway::start_with_password(data_dir, config, initial).await
}

async fn gateway() -> (MockUpstream, TestGateway) {
    let mock = MockUpstream::start().await;
    let gw = start(
        tempfile::tempdir().unwrap(),
        &mock_config(&mock.base_url()),
        Some(PASSWORD),
    )
    .await;
    (mock, gw)
}

/// A signed-in browser: the cookie it would send back, and its CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn try_login(gw: &TestGateway, password: &str) -> reqwest::Response {
    gw.http
        .post(format!("{}/api/auth/login", gw.url))
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

async fn login(gw: &TestGateway, password: &str) -> Browser {
    browser_of(try_login(gw, password).await).await
}

async fn browser_of(response: reqwest::Response) -> Browser {
    let cookie = cookie_of(&response);
    let body = json_of(response, 200).await;
    assert_eq!(body["authenticated"], true);
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

impl Browser {
    fn get(&self, gw: &TestGateway, path: &str) -> reqwest::RequestBuilder {
        gw.http
            .get(format!("{}{path}", gw.url))
            .header("cookie", &self.cookie)
    }

    /// A POST as the dashboard sends it: the cookie and the CSRF header.
    fn post(&self, gw: &TestGateway, path: &str) -> reqwest::RequestBuilder {
        self.post_without_csrf(gw, path)
            .header("x-csrf-token", &self.csrf)
    }

    /// A POST as another site's page could make it: the cookie alone.
    fn post_without_csrf(&self, gw: &TestGateway, path: &str) -> reqwest::RequestBuilder {
        gw.http
            .post(format!("{}{path}", gw.url))
            .header("cookie", &self.cookie)
    }

    async fn signed_in(&self, gw: &TestGateway) -> bool {
        let status = self.get(gw, "/api/keys").send().await.unwrap().status();
        assert!(status == 200 || status == 401, "{status}");
        status == 200
    }
}

async fn code_of(response: reqwest::Response, status: u16) -> String {
    json_of(response, status).await["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_login_sets_a_strict_http_only_cookie_that_reaches_the_management_api() {
    let (_mock, gw) = gateway().await;
    let anonymous = json_of(
        gw.http
            .get(format!("{}/api/auth/session", gw.url))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        anonymous,
        json!({"authenticated": false, "csrf_token": null})
    );
    let nobody = json_of(
        gw.http
            .get(format!("{}/api/keys", gw.url))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(
        nobody["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Sign in to the dashboard"),
        "{nobody}"
    );

    let wrong = try_login(&gw, "not the password").await;
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_eq!(code_of(wrong, 401).await, "invalid_password");

    let right = try_login(&gw, PASSWORD).await;
    let set_cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    let attributes: Vec<&str> = set_cookie.split("; ").collect();
    assert!(attributes[0].starts_with("omniroute_session="));
    assert_eq!(attributes[0].len(), "omniroute_session=".len() + 64);
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=2592000"] {
        assert!(attributes.contains(&wanted), "{set_cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "{set_cookie}");
    let browser = browser_of(right).await;

    let session = json_of(
        browser.get(&gw, "/api/auth/session").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(
        session,
        json!({"authenticated": true, "csrf_token": browser.csrf})
    );
    let keys = json_of(browser.get(&gw, "/api/keys").send().await.unwrap(), 200).await;
    assert!(
        keys["data"].as_array().is_some_and(|k| !k.is_empty()),
        "{keys}"
    );

    // Behind an https proxy the cookie is only ever sent over https.
    let proxied = gw
        .http
        .post(format!("{}/api/auth/login", gw.url))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let set_cookie = proxied.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.split("; ").any(|a| a == "Secure"),
        "{set_cookie}"
    );

    // A made-up cookie is no session.
    let forged = Browser {
        cookie: format!("omniroute_session={}", "ab".repeat(32)),
        csrf: browser.csrf.clone(),
    };
    assert!(!forged.signed_in(&gw).await);
}

#[tokio::test]
async fn changes_made_with_a_cookie_need_the_csrf_token_and_logout_ends_the_session() {
    let (_mock, gw) = gateway().await;
    let browser = login(&gw, PASSWORD).await;
    let key = json!({"name": "from the dashboard", "models": ["*"]});

    let bare = browser
        .post_without_csrf(&gw, "/api/keys")
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(bare, 403).await, "csrf_failed");
    let wrong = browser
        .post_without_csrf(&gw, "/api/keys")
        .header("x-csrf-token", "0".repeat(48))
        .json(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(wrong, 403).await, "csrf_failed");
    let names = |keys: &Value| -> Vec<String> {
        keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names(&gw.get_json("/api/keys").await).contains(&"from the dashboard".into()));

    let made = browser
        .post(&gw, "/api/keys")
        .json(&key)
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    assert!(names(&gw.get_json("/api/keys").await).contains(&"from the dashboard".into()));

    // A bearer key needs no CSRF token: no browser sends it on its own.
    let by_key = gw
        .post("/api/keys")
        .json(&json!({"name": "by key"}))
        .send()
        .await
        .unwrap();
    assert!(by_key.status().is_success());

    let forged_logout = browser
        .post_without_csrf(&gw, "/api/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(forged_logout, 403).await, "csrf_failed");
    assert!(browser.signed_in(&gw).await);

    let logout = browser.post(&gw, "/api/auth/logout").send().await.unwrap();
    assert_eq!(logout.status(), 204);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("omniroute_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(!browser.signed_in(&gw).await);
    let session = json_of(
        browser.get(&gw, "/api/auth/session").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(session["authenticated"], false);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_outlives_initial_password() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url());
    let gw = start(tempfile::tempdir().unwrap(), &config, Some(PASSWORD)).await;
    assert_eq!(
        gw.handle.as_ref().unwrap().generated_dashboard_password(),
        None,
        "INITIAL_PASSWORD was used"
    );
    let mine = login(&gw, PASSWORD).await;
    let theirs = login(&gw, PASSWORD).await;

    let change = |current: &str, new: &str| {
        mine.post(&gw, "/api/auth/password")
            .json(&json!({"current": current, "new": new}))
    };
    let wrong = change("not it", "second password").send().await.unwrap();
    assert_eq!(code_of(wrong, 401).await, "invalid_password");
    let short = change(PASSWORD, "short").send().await.unwrap();
    json_of(short, 400).await;
    assert!(theirs.signed_in(&gw).await, "a refused change ends nothing");

    let changed = change(PASSWORD, "second password").send().await.unwrap();
    assert_eq!(changed.status(), 204);
    assert!(
        mine.signed_in(&gw).await,
        "the session that changed it stays"
    );
    assert!(!theirs.signed_in(&gw).await, "every other session ends");
    assert_eq!(
        code_of(try_login(&gw, PASSWORD).await, 401).await,
        "invalid_password"
    );
    login(&gw, "second password").await;

    // With a bearer key (no session of its own) every session ends.
    let by_key = gw
        .post("/api/auth/password")
        .json(&json!({"current": "second password", "new": "third password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 204);
    assert!(!mine.signed_in(&gw).await);

    // A stored password wins over INITIAL_PASSWORD on every later start.
    let data_dir = gw.stop().await;
    let gw = start(data_dir, &config, Some(PASSWORD)).await;
    assert_eq!(
        gw.handle.as_ref().unwrap().generated_dashboard_password(),
        None
    );
    assert_eq!(
        code_of(try_login(&gw, PASSWORD).await, 401).await,
        "invalid_password"
    );
    login(&gw, "third password").await;
}

#[tokio::test]
async fn without_initial_password_a_password_is_generated_once() {
    let mock = MockUpstream::start().await;
    let config = mock_config(&mock.base_url());
    let gw = start(tempfile::tempdir().unwrap(), &config, None).await;
    let generated = gw
        .handle
        .as_ref()
        .unwrap()
        .generated_dashboard_password()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 20);
    login(&gw, &generated).await;

    let data_dir = gw.stop().await;
    let gw = start(data_dir, &config, None).await;
    assert_eq!(
        gw.handle.as_ref().unwrap().generated_dashboard_password(),
        None
    );
    login(&gw, &generated).await;

    // Too short an INITIAL_PASSWORD is refused at start, not stored.
    let empty = tempfile::tempdir().unwrap();
    let err = Gateway::start(Options {
        host: Some("127.0.0.1".into()),
        port: Some(0),
        data_dir: empty.path().to_path_buf(),
        config_path: None,
        secret_key_hex: None,
        initial_password: Some("short".into()),
        warnings: Vec::new(),
        upstream_override: None,
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("INITIAL_PASSWORD must have at least 8"),
        "{err}"
    );
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_address_for_fifteen_minutes_with_retry_after() {
    let (_mock, gw) = gateway().await;
    for _ in 0..5 {
        assert_eq!(
            code_of(try_login(&gw, "guess").await, 401).await,
            "invalid_password"
        );
    }
    // Even the right password waits: the limit must not tell guesses apart.
    let limited = try_login(&gw, PASSWORD).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(code_of(limited, 429).await, "too_many_attempts");
}

#[tokio::test]
async fn a_desktop_login_token_signs_in_once() {
    let (_mock, gw) = gateway().await;
    let handle = gw.handle.as_ref().unwrap();
    let token_login = |token: String| {
        gw.http
            .post(format!("{}/api/auth/token-login", gw.url))
            .json(&json!({ "token": token }))
            .send()
    };

    let url = handle.dashboard_login_url();
    let token = url
        .strip_prefix(&format!("{}/dashboard/?login_token=", gw.url))
        .unwrap_or_else(|| panic!("{url}"))
        .to_string();
    assert_eq!(token.len(), 64);
    let browser = browser_of(token_login(token.clone()).await.unwrap()).await;
    assert!(browser.signed_in(&gw).await);
    let again = token_login(token).await.unwrap();
    assert_eq!(code_of(again, 401).await, "invalid_token");

    let unknown = token_login("ab".repeat(32)).await.unwrap();
    assert_eq!(code_of(unknown, 401).await, "invalid_token");
    let fresh = handle.issue_login_token();
    browser_of(token_login(fresh).await.unwrap()).await;
}

/// Runs `omniroute reset-password` on `data_dir`.
fn reset_password(data_dir: &std::path::Path, password: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(workspace_binary("omniroute"));
    cmd.arg("reset-password")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("OMNIROUTE_NEW_PASSWORD")
        .env_remove("DATA_DIR");
    if let Some(password) = password {
        cmd.args(["--password", password]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn reset_password_works_while_the_gateway_runs_and_signs_everyone_out() {
    let (_mock, gw) = gateway().await;
    let browser = login(&gw, PASSWORD).await;

    let (ok, stdout, stderr) = reset_password(gw.data_dir.path(), Some("reset password 1"));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("password was changed"), "{stdout}");
    assert!(stdout.contains("signed out"), "{stdout}");
    assert!(!browser.signed_in(&gw).await);
    assert_eq!(
        code_of(try_login(&gw, PASSWORD).await, 401).await,
        "invalid_password"
    );
    login(&gw, "reset password 1").await;

    let (ok, stdout, stderr) = reset_password(gw.data_dir.path(), None);
    assert!(ok, "{stdout}\n{stderr}");
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("New dashboard password (shown only this once): "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(generated.len(), 20);
    login(&gw, generated).await;

    let (ok, _, stderr) = reset_password(gw.data_dir.path(), Some("short"));
    assert!(!ok);
    assert!(stderr.contains("at least 8 characters"), "{stderr}");
    login(&gw, generated).await;
}

fn hello(stream: bool) -> Value {
    json!({
        "model": "openai/gpt-4.1",
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}

#[tokio::test]
async fn the_playground_chats_through_the_data_plane_for_a_signed_in_browser() {
    let (mock, gw) = gateway().await;
    let browser = login(&gw, PASSWORD).await;

    let reply = json_of(
        browser
            .post(&gw, "/api/playground/chat")
            .json(&hello(false))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(reply["choices"][0]["message"]["content"], mock::OPENAI_TEXT);
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body["model"], "gpt-4.1");
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer sk-upstream-openai")
    );

    let streamed = browser
        .post(&gw, "/api/playground/chat")
        .json(&hello(true))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(
        streamed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = streamed.text().await.unwrap();
    assert!(
        text.contains("data: ") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
    assert_eq!(mock.received().len(), 2);
    // Both were served and recorded like any other request.
    assert_eq!(gw.usage(2).await.len(), 2);

    // The playground is management API: CSRF and a session (or key) apply.
    let forged = browser
        .post_without_csrf(&gw, "/api/playground/chat")
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(forged, 403).await, "csrf_failed");
    let anonymous = gw
        .http
        .post(format!("{}/api/playground/chat", gw.url))
        .json(&hello(false))
        .send()
        .await
        .unwrap();
    json_of(anonymous, 401).await;

    // The data plane itself never takes the cookie in place of a key.
    for path in ["/v1/chat/completions", "/v1/messages", "/v1/responses"] {
        let with_cookie = browser
            .post(&gw, path)
            .json(&hello(false))
            .send()
            .await
            .unwrap();
        assert_eq!(with_cookie.status(), 401, "{path}");
    }
    assert_eq!(
        mock.received().len(),
        2,
        "nothing more reached the upstream"
    );
}
