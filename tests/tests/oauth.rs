//! OAuth sign-ins end to end against a mock issuer and mock provider backends behind the real URLs: PKCE through redirects, manual mode, the device flow, renewal before expiry (one renewal for many requests), a revoked grant, and two accounts of one provider rotating on quota.

use std::time::Duration;

use omniroute_tests::mock::oauth::DeviceStep;
use omniroute_tests::oauth::{
    advance, authorize_redirect, chat, config, connection_in_state, start, start_login,
};
use omniroute_tests::{TestGateway, json_of};
use serde_json::{Value, json};

/// Signs in to Codex in manual mode: the browser's final URL is pasted
/// back (no loopback port needed).
async fn codex_manual_login(gw: &TestGateway) -> Value {
    let started = start_login(gw, "cx", json!({"mode": "manual"})).await;
    let landed = authorize_redirect(&started).await;
    assert!(
        landed.starts_with("http://localhost:1455/auth/callback?"),
        "{landed}"
    );
    let done = json_of(
        gw.post("/api/oauth/cx/complete")
            .json(&json!({"login_id": started["login_id"], "url": landed}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(done["status"], "done", "{done}");
    done
}

fn header<'a>(request: &'a omniroute_tests::mock::oauth::Recorded, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn codex_pkce_sign_in_follows_redirects_to_the_fixed_loopback_port_and_the_account_answers() {
    let (mock, gw) = start().await;
    mock.set_email("auth.openai.com", "dev@example.com");
    let started = start_login(&gw, "cx", json!({})).await;
    assert_eq!(started["flow"], "pkce");
    assert_eq!(
        started["redirect_uri"],
        "http://localhost:1455/auth/callback"
    );
    let auth_url = started["auth_url"].as_str().unwrap();
    for param in [
        "code_challenge=",
        "code_challenge_method=S256",
        "client_id=app_EMoamEEZ73f0CkXaXp7hrann",
        "codex_cli_simplified_flow=true",
    ] {
        assert!(auth_url.contains(param), "{param} missing from {auth_url}");
    }

    // A browser: authorize, 302 to localhost:1455, the gateway's listener
    // exchanges the code and shows a page.
    let page = reqwest::get(auth_url).await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("dev@example.com"), "{text}");

    let status = json_of(
        gw.post("/api/oauth/cx/poll")
            .json(&json!({"login_id": started["login_id"]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["connection"]["email"], "dev@example.com");
    let exchange = &mock.token_calls("auth.openai.com")[0];
    assert_eq!(exchange.grant_type, "authorization_code");
    assert!(exchange.params.contains_key("code_verifier"));

    // A whole answer from a backend that only streams.
    let answer = json_of(chat(&gw, "cx/gpt-5.1-codex").await, 200).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        omniroute_tests::mock::oauth::OAUTH_TEXT
    );
    let sent = mock
        .requests()
        .into_iter()
        .find(|r| r.host == "chatgpt.com")
        .expect("the Codex backend was called");
    assert_eq!(sent.path, "/backend-api/codex/responses");
    assert!(
        header(&sent, "authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    assert!(header(&sent, "chatgpt-account-id").is_some());
    assert_eq!(header(&sent, "originator"), Some("codex_cli_rs"));
    assert_eq!(sent.body["store"], false);
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["model"], "gpt-5.1-codex");
    assert!(sent.body["instructions"].is_string());

    // The token set is sealed: neither the API nor the database files
    // (WAL included) hold the access token in clear.
    let connection = gw
        .connection(status["connection"]["id"].as_i64().unwrap())
        .await;
    assert_eq!(connection["oauth"], true);
    assert_eq!(connection["api_key_preview"], Value::Null);
    let access = header(&sent, "authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    assert!(!connection.to_string().contains(&access));
    for entry in std::fs::read_dir(gw.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(access.len()).any(|w| w == access.as_bytes()),
                "{} holds the access token in clear",
                path.display()
            );
        }
    }

    // With 1455 taken (another Codex CLI signing in), the sign-in listens
    // on Codex's registered fallback port 1457 and says so.
    let mut held = None;
    for _ in 0..40 {
        // The first sign-in's listener lets 1455 go once it is done.
        match std::net::TcpListener::bind("127.0.0.1:1455") {
            Ok(listener) => {
                held = Some(listener);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _held = held.expect("port 1455 is released after the sign-in");
    mock.set_email("auth.openai.com", "second@example.com");
    let again = start_login(&gw, "cx", json!({})).await;
    assert_eq!(again["redirect_uri"], "http://localhost:1457/auth/callback");
    let page = reqwest::get(again["auth_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("second@example.com"));
    gw.stop().await;
}

#[tokio::test]
async fn claude_manual_mode_needs_the_terms_acknowledged_and_sends_claude_codes_shape() {
    let (mock, gw) = start().await;
    mock.set_email("platform.claude.com", "claude@example.com");
    let refused = gw
        .post("/api/oauth/cc/start")
        .json(&json!({"mode": "manual"}))
        .send()
        .await
        .unwrap();
    let refused = json_of(refused, 400).await;
    assert_eq!(refused["error"]["code"], "terms_not_accepted");

    let started = start_login(&gw, "cc", json!({"mode": "manual", "accept_terms": true})).await;
    assert_eq!(
        started["redirect_uri"],
        "https://platform.claude.com/oauth/code/callback"
    );
    let landed = authorize_redirect(&started).await;
    let url = reqwest::Url::parse(&landed).unwrap();
    let q = |n: &str| {
        url.query_pairs()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .into_owned()
    };
    // What Claude's page shows: `code#state`.
    let pasted = format!("{}#{}", q("code"), q("state"));

    let wrong = gw
        .post("/api/oauth/cc/complete")
        .json(
            &json!({"login_id": started["login_id"], "url": format!("{}#other-state", q("code"))}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(wrong, 400).await["error"]["code"], "state_mismatch");
    let done = json_of(
        gw.post("/api/oauth/cc/complete")
            .json(&json!({"login_id": started["login_id"], "url": pasted}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(done["connection"]["email"], "claude@example.com", "{done}");

    let answer = gw
        .post("/v1/messages")
        .json(&json!({"model": "cc/claude-sonnet-4-5", "max_tokens": 50, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let answer = json_of(answer, 200).await;
    assert_eq!(
        answer["content"][0]["text"],
        omniroute_tests::mock::oauth::OAUTH_TEXT
    );
    let sent = mock
        .requests()
        .into_iter()
        .find(|r| r.host == "api.anthropic.com")
        .unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.query.as_deref(), Some("beta=true"));
    assert!(
        header(&sent, "anthropic-beta")
            .unwrap()
            .contains("oauth-2025-04-20")
    );
    assert!(header(&sent, "x-api-key").is_none());
    assert_eq!(
        sent.body["system"][0]["text"],
        "You are Claude Code, Anthropic's official CLI for Claude."
    );
    assert_eq!(sent.body["system"][1]["text"], "Be brief.");

    // Claude Code counts tokens before it asks; a subscription account is
    // counted by the gateway (the OAuth token is not sent to the count route).
    let calls_before = mock.requests().len();
    let counted = gw
        .post("/v1/messages/count_tokens")
        .json(&json!({"model": "cc/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap();
    let counted = json_of(counted, 200).await;
    assert!(counted["input_tokens"].as_u64().unwrap() > 0, "{counted}");
    assert_eq!(mock.requests().len(), calls_before, "no upstream call");
    gw.stop().await;
}

#[tokio::test]
async fn copilot_device_flow_goes_through_pending_and_slow_down_then_answers() {
    let (mock, gw) = start().await;
    mock.script_device(
        "github.com",
        vec![
            DeviceStep::Pending,
            DeviceStep::SlowDown,
            DeviceStep::Approve,
        ],
    );
    let clock = gw.handle.as_ref().unwrap().clock();
    let started = start_login(&gw, "gh", json!({})).await;
    assert_eq!(started["flow"], "device");
    assert!(!started["user_code"].as_str().unwrap().is_empty());
    let interval = started["interval"].as_i64().unwrap();
    let poll = || async {
        json_of(
            gw.post("/api/oauth/gh/poll")
                .json(&json!({"login_id": started["login_id"]}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    };
    let polls = || {
        mock.token_calls("github.com")
            .iter()
            .filter(|c| c.grant_type.ends_with("device_code"))
            .count()
    };
    // Before the interval has passed, the provider is not asked.
    assert_eq!(poll().await["status"], "pending");
    assert_eq!(polls(), 0);
    clock.advance(interval * 1000);
    assert_eq!(poll().await["status"], "pending");
    assert_eq!(polls(), 1);
    clock.advance(interval * 1000);
    let slow = poll().await;
    assert_eq!(slow["status"], "slow_down");
    let slower = slow["interval"].as_i64().unwrap();
    assert!(slower >= interval + 5, "{slow}");
    clock.advance(interval * 1000);
    assert_eq!(
        poll().await["status"],
        "pending",
        "still within the longer interval"
    );
    assert_eq!(polls(), 2);
    clock.advance(slower * 1000);
    let done = poll().await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(polls(), 3);

    let answer = json_of(chat(&gw, "gh/gpt-4.1").await, 200).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        omniroute_tests::mock::oauth::OAUTH_TEXT
    );
    let sent = mock
        .requests()
        .into_iter()
        .find(|r| r.host == "api.githubcopilot.com" && r.method == "POST")
        .unwrap();
    assert_eq!(sent.path, "/chat/completions");
    assert_eq!(header(&sent, "copilot-integration-id"), Some("vscode-chat"));
    assert!(header(&sent, "editor-version").is_some());
    assert_eq!(header(&sent, "x-initiator"), Some("user"));
    // The Copilot token, not the GitHub one, is the bearer.
    let github_token = mock
        .requests()
        .into_iter()
        .find(|r| r.host == "api.github.com" && r.path == "/copilot_internal/v2/token")
        .and_then(|r| header(&r, "authorization").map(str::to_string))
        .unwrap();
    assert_ne!(
        header(&sent, "authorization").map(str::to_string),
        Some(github_token)
    );

    // gpt-5.4 lists only /responses in Copilot's /models: it is asked
    // there, and its answer comes back as Chat Completions, whole or streamed.
    let answer = json_of(chat(&gw, "gh/gpt-5.4").await, 200).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        omniroute_tests::mock::oauth::OAUTH_TEXT,
        "{answer}"
    );
    let sent = mock
        .requests()
        .into_iter()
        .rfind(|r| r.host == "api.githubcopilot.com" && r.method == "POST")
        .unwrap();
    assert_eq!(sent.path, "/responses");
    assert_eq!(sent.body["model"], "gpt-5.4");
    assert!(sent.body["input"].is_array(), "{}", sent.body);
    let streamed = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "gh/gpt-5.4", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    let text = streamed.text().await.unwrap();
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, omniroute_tests::mock::oauth::OAUTH_TEXT, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn tokens_renew_before_expiry_once_for_many_concurrent_requests() {
    let (mock, gw) = start().await;
    mock.set_access_lifetime(3600);
    codex_manual_login(&gw).await;
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    assert_eq!(
        mock.refresh_count("auth.openai.com"),
        0,
        "a fresh token is used as is"
    );

    // 56 minutes later the token is inside the five-minute margin.
    advance(&gw, 56 * 60 * 1000);
    mock.set_refresh_delay(Duration::from_millis(300));
    let calls = (0..20).map(|_| chat(&gw, "cx/gpt-5.1"));
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        mock.refresh_count("auth.openai.com"),
        1,
        "one renewal for 20 requests"
    );
    let refresh = mock
        .token_calls("auth.openai.com")
        .into_iter()
        .find(|c| c.grant_type == "refresh_token")
        .unwrap();
    assert_eq!(refresh.params["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    // The renewed token is the one in use, and no further renewal is due.
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    assert_eq!(mock.refresh_count("auth.openai.com"), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_revoked_grant_disables_the_account_with_a_clear_state_and_event() {
    let (mock, gw) = start().await;
    let done = codex_manual_login(&gw).await;
    let id = done["connection"]["id"].as_i64().unwrap();
    mock.revoke_refresh_tokens("auth.openai.com");
    advance(&gw, 2 * 3600 * 1000);
    let failed = chat(&gw, "cx/gpt-5.1").await;
    assert!(!failed.status().is_success());
    let text = failed.text().await.unwrap();
    assert!(text.contains("Sign in to this account again"), "{text}");

    let events = gw.handle.as_ref().unwrap().events().recent();
    let refresh_failed = events
        .iter()
        .filter(|e| e.event.kind() == "TokenRefreshFailed")
        .count();
    assert_eq!(refresh_failed, 1, "{events:?}");
    // The state is saved (it survives restarts) and the account is out of rotation.
    let connection = connection_in_state(&gw, id, "auth_failed").await;
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    let again = chat(&gw, "cx/gpt-5.1").await;
    assert_eq!(again.status(), 503);
    assert_eq!(
        mock.refresh_count("auth.openai.com"),
        1,
        "a dead grant is not retried"
    );
    gw.stop().await;
}

#[tokio::test]
async fn two_accounts_rotate_and_the_exhausted_one_is_skipped_until_its_reset() {
    let (mock, gw) = start().await;
    mock.set_email("auth.openai.com", "first@example.com");
    let first = codex_manual_login(&gw).await;
    mock.set_email("auth.openai.com", "second@example.com");
    let second = codex_manual_login(&gw).await;
    let first_id = first["connection"]["id"].as_i64().unwrap();
    let second_id = second["connection"]["id"].as_i64().unwrap();
    assert_ne!(first_id, second_id, "two accounts of one provider");
    // Rotate between them.
    gw.patch_settings(json!({"account_strategies": {"codex": "round-robin"}}))
        .await;

    let reset_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    mock.exhaust("first@example.com", reset_at);
    for _ in 0..6 {
        assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    }
    let records = gw.usage(6).await;
    let served_by: Vec<i64> = records
        .iter()
        .filter(|r| r["status"] == 200)
        .filter_map(|r| r["connection_id"].as_i64())
        .collect();
    assert!(served_by.iter().all(|&id| id == second_id), "{served_by:?}");
    let exhausted = gw
        .handle
        .as_ref()
        .unwrap()
        .events()
        .recent()
        .iter()
        .filter(|e| e.event.kind() == "QuotaExhausted")
        .count();
    assert_eq!(exhausted, 1, "the event fires once per window");

    // After the reset the first account serves again.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    mock.exhaust("first@example.com", 0);
    let mut seen_first = false;
    for _ in 0..6 {
        assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    }
    for r in gw.usage(12).await {
        seen_first |= r["connection_id"].as_i64() == Some(first_id) && r["status"] == 200;
    }
    assert!(seen_first, "the first account is back after its reset");
    gw.stop().await;
}

#[tokio::test]
async fn discontinued_providers_say_so_in_the_callers_format() {
    let (_mock, gw) = start().await;
    let answer = chat(&gw, "qw/coder-model").await;
    let body = json_of(answer, 410).await;
    assert_eq!(body["error"]["code"], "provider_discontinued");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-04-15")
    );
    let answer = gw
        .post("/v1/messages")
        .json(&json!({"model": "if/any", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let body = json_of(answer, 410).await;
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("iFlow shut down")
    );
    let start = gw.post("/api/oauth/qw/start").send().await.unwrap();
    assert_eq!(
        json_of(start, 410).await["error"]["code"],
        "provider_discontinued"
    );
    gw.stop().await;
}

#[tokio::test]
async fn quota_windows_come_from_the_providers_own_headers() {
    let (_mock, gw) = start().await;
    let done = codex_manual_login(&gw).await;
    let id = done["connection"]["id"].as_i64().unwrap();
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    let quota = gw.get_json("/api/quota").await;
    let account = quota["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["connection_id"] == id)
        .cloned()
        .unwrap();
    let reported = account["reported"].as_array().unwrap();
    let window = |name: &str| {
        reported
            .iter()
            .find(|w| w["window"] == name)
            .unwrap_or_else(|| panic!("no {name} window in {account}"))
    };
    assert!(window("5h")["used_percent"].as_f64().unwrap() < 100.0);
    assert_eq!(window("weekly")["used_percent"], 8.0);
    assert!(window("5h")["resets_at_ms"].as_i64().unwrap() > 0);
    assert_eq!(account["exhausted_until_ms"], Value::Null);
    gw.stop().await;
}

#[tokio::test]
async fn idle_accounts_are_renewed_in_the_background_and_a_dead_grant_disables_them() {
    let (mock, gw) = start().await;
    mock.set_email("auth.openai.com", "idle@example.com");
    let idle = codex_manual_login(&gw).await;
    let handle = gw.handle.as_ref().unwrap();
    // Nothing is due yet: the background pass renews nothing.
    handle.renew_due_tokens().await;
    assert_eq!(mock.refresh_count("auth.openai.com"), 0);
    // Inside the margin, with no request at all, the pass renews.
    handle.clock().advance(56 * 60 * 1000);
    handle.renew_due_tokens().await;
    assert_eq!(mock.refresh_count("auth.openai.com"), 1);
    // Another hour on, the grant is revoked: the pass disables the account.
    mock.revoke_refresh_tokens("auth.openai.com");
    handle.clock().advance(60 * 60 * 1000);
    handle.renew_due_tokens().await;
    let id = idle["connection"]["id"].as_i64().unwrap();
    let connection = connection_in_state(&gw, id, "auth_failed").await;
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    let kinds: Vec<&str> = handle
        .events()
        .recent()
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert!(kinds.contains(&"TokenRefreshFailed"), "{kinds:?}");
    assert!(kinds.contains(&"ConnectionDisabled"), "{kinds:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_renewed_token_survives_a_restart() {
    let (mock, gw) = start().await;
    let bearer_of_last_call = || {
        mock.requests()
            .into_iter()
            .rfind(|r| r.host == "chatgpt.com")
            .and_then(|r| header(&r, "authorization").map(str::to_string))
            .unwrap()
    };
    codex_manual_login(&gw).await;
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    let first = bearer_of_last_call();
    advance(&gw, 56 * 60 * 1000);
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    let renewed = bearer_of_last_call();
    assert_ne!(first, renewed);
    assert_eq!(mock.refresh_count("auth.openai.com"), 1);
    let data_dir = gw.stop().await;

    // The refresh token rotated: only the saved renewal still works.
    let gw = TestGateway::start_in_with_upstream(data_dir, &config(), &mock.origin()).await;
    assert_eq!(chat(&gw, "cx/gpt-5.1").await.status(), 200);
    assert_eq!(bearer_of_last_call(), renewed, "the saved renewal is used");
    assert_eq!(
        mock.refresh_count("auth.openai.com"),
        1,
        "no new renewal was needed"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_connection_test_of_an_oauth_account_sends_its_providers_request() {
    let (mock, gw) = start().await;
    let done = codex_manual_login(&gw).await;
    let id = done["connection"]["id"].as_i64().unwrap();
    let test = json_of(
        gw.post(&format!("/api/connections/{id}/test"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(test["ok"], true, "{test}");
    let sent = mock
        .requests()
        .into_iter()
        .rfind(|r| r.host == "chatgpt.com")
        .expect("the test reached the Codex backend");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["store"], false);

    // A dead grant fails the test with the reason, not a 200 from elsewhere.
    mock.revoke_refresh_tokens("auth.openai.com");
    advance(&gw, 2 * 3600 * 1000);
    let test = json_of(
        gw.post(&format!("/api/connections/{id}/test"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(test["ok"], false);
    assert!(
        test["error"]
            .as_str()
            .unwrap()
            .contains("renewing the OAuth token failed"),
        "{test}"
    );
    gw.stop().await;
}
