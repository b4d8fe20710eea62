//! Device sign-ins of Kiro (AWS SSO OIDC), Kilo Code (Kilo's own status-code protocol), Cline (WorkOS, then Cline's registration) and Kimi Coding, end to end against the mock providers: pending and slow-down polls, the named account, each provider's request shape, Kiro's event stream in several caller formats, renewals before expiry, a revoked Kiro grant, and Kilo's denied and expired codes.

use omniroute_tests::mock::oauth::{
    DeviceStep, OAUTH_INPUT_TOKENS, OAUTH_OUTPUT_TOKENS, OAUTH_TEXT, OAuthMock, Recorded,
};
use omniroute_tests::oauth::{advance, chat, connection_in_state, poll, start, start_login};
use omniroute_tests::{TestGateway, json_of, parse_sse};
use serde_json::{Value, json};

const AWS_OIDC: &str = "oidc.us-east-1.amazonaws.com";
const KIRO_API: &str = "q.us-east-1.amazonaws.com";
const CLINE_WORKOS_CLIENT: &str = "client_01K3A541FN8TA3EPPHTD2325AR";

/// Starts a device sign-in; the answer's JSON.
async fn start_device_login(gw: &TestGateway, provider: &str, body: Value) -> Value {
    let started = start_login(gw, provider, body).await;
    assert_eq!(started["flow"], "device", "{started}");
    started
}

/// Polls once per interval (moving the gateway's clock) until the sign-in
/// ends; its last status.
async fn finish_login(gw: &TestGateway, provider: &str, started: &Value) -> Value {
    let mut interval = started["interval"].as_i64().unwrap();
    for _ in 0..10 {
        advance(gw, interval * 1000);
        let status = poll(gw, provider, &started["login_id"]).await;
        match status["status"].as_str() {
            Some("pending") => {}
            Some("slow_down") => interval = status["interval"].as_i64().unwrap(),
            _ => return status,
        }
    }
    panic!("the {provider} sign-in did not end");
}

/// A whole sign-in; the finished status (with the connection).
async fn sign_in(gw: &TestGateway, provider: &str) -> Value {
    let started = start_device_login(gw, provider, json!({})).await;
    let done = finish_login(gw, provider, &started).await;
    assert_eq!(done["status"], "done", "{done}");
    done
}

async fn send(gw: &TestGateway, path: &str, body: Value) -> reqwest::Response {
    gw.post(path).json(&body).send().await.unwrap()
}

/// The requests `host` received at `path`, oldest first.
fn calls_to(mock: &OAuthMock, host: &str, path: &str) -> Vec<Recorded> {
    mock.requests()
        .into_iter()
        .filter(|r| r.host == host && r.path == path)
        .collect()
}

fn last_call(mock: &OAuthMock, host: &str, path: &str) -> Recorded {
    calls_to(mock, host, path)
        .pop()
        .unwrap_or_else(|| panic!("{host}{path} was not called"))
}

/// How many device polls `host`'s provider received.
fn device_polls(mock: &OAuthMock, host: &str) -> usize {
    mock.token_calls(host)
        .iter()
        .filter(|c| c.grant_type.ends_with("device_code"))
        .count()
}

/// The text of an SSE answer's deltas, in Anthropic or OpenAI chat form.
fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, data)| {
            data.pointer("/delta/text")
                .or_else(|| data.pointer("/choices/0/delta/content"))
                .and_then(Value::as_str)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Kiro

#[tokio::test]
async fn kiro_builder_id_registers_a_client_and_polls_through_pending_and_slow_down() {
    let (mock, gw) = start().await;
    mock.set_email(AWS_OIDC, "kiro@example.com");
    mock.script_device(
        AWS_OIDC,
        vec![
            DeviceStep::Pending,
            DeviceStep::SlowDown,
            DeviceStep::Approve,
        ],
    );
    let started = start_device_login(&gw, "kr", json!({})).await;
    assert!(!started["user_code"].as_str().unwrap().is_empty());
    assert!(
        started["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with("https://view.awsapps.com/start"),
        "{started}"
    );
    // A public client is registered first, for the device code grant and
    // refreshes, with Kiro's scopes; then the Builder ID portal is named.
    let register = last_call(&mock, AWS_OIDC, "/client/register");
    assert_eq!(register.body["clientType"], "public");
    assert_eq!(register.body["clientName"], "Kiro IDE");
    assert_eq!(
        register.body["grantTypes"],
        json!([
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token"
        ])
    );
    assert!(
        register.body["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("codewhisperer:conversations"))
    );
    let device = last_call(&mock, AWS_OIDC, "/device_authorization");
    assert_eq!(device.body["startUrl"], "https://view.awsapps.com/start");
    assert!(device.body["clientId"].is_string() && device.body["clientSecret"].is_string());

    let interval = started["interval"].as_i64().unwrap();
    assert_eq!(
        poll(&gw, "kr", &started["login_id"]).await["status"],
        "pending"
    );
    assert_eq!(device_polls(&mock, AWS_OIDC), 0, "not before the interval");
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "kr", &started["login_id"]).await["status"],
        "pending"
    );
    advance(&gw, interval * 1000);
    let slow = poll(&gw, "kr", &started["login_id"]).await;
    assert_eq!(slow["status"], "slow_down", "{slow}");
    let slower = slow["interval"].as_i64().unwrap();
    assert_eq!(slower, interval + 5, "AWS's slow_down adds 5 s");
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "kr", &started["login_id"]).await["status"],
        "pending"
    );
    assert_eq!(
        device_polls(&mock, AWS_OIDC),
        2,
        "still within the longer interval"
    );
    advance(&gw, slower * 1000);
    let done = poll(&gw, "kr", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["connection"]["email"], "kiro@example.com");

    // CreateToken polls: camelCase JSON with the registered client.
    let polls = mock.token_calls(AWS_OIDC);
    assert_eq!(polls.len(), 3);
    for call in &polls {
        assert_eq!(call.params["clientId"], device.body["clientId"]);
        assert_eq!(call.params["clientSecret"], device.body["clientSecret"]);
        assert!(call.params["deviceCode"].starts_with("dc_mock"));
    }
    let connection = gw
        .connection(done["connection"]["id"].as_i64().unwrap())
        .await;
    assert_eq!(connection["plan"], "KIRO PRO", "{connection}");
    assert!(connection["token_expires_at_ms"].as_i64().is_some());
    gw.stop().await;
}

#[tokio::test]
async fn kiro_requests_carry_a_conversation_state_and_answer_in_each_callers_format() {
    let (mock, gw) = start().await;
    sign_in(&gw, "kr").await;

    // Anthropic Messages, whole.
    let answer = send(
        &gw,
        "/v1/messages",
        json!({"model": "kr/claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let answer = json_of(answer, 200).await;
    assert_eq!(answer["content"][0]["text"], OAUTH_TEXT, "{answer}");
    assert_eq!(answer["usage"]["input_tokens"], OAUTH_INPUT_TOKENS);
    assert_eq!(answer["usage"]["output_tokens"], OAUTH_OUTPUT_TOKENS);

    let sent = last_call(&mock, KIRO_API, "/generateAssistantResponse");
    assert_eq!(sent.method, "POST");
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer aoaAAAAAG")
    );
    let accepts: Vec<&str> = sent
        .headers
        .iter()
        .filter(|(n, _)| n == "accept")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(accepts, ["application/vnd.amazon.eventstream"]);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("x-amzn-kiro-agent-mode"), Some("vibe"));
    assert_eq!(sent.header("x-amzn-codewhisperer-optout"), Some("true"));
    assert!(sent.header("x-amz-user-agent").unwrap().contains("KiroIDE"));
    assert!(sent.header("amz-sdk-invocation-id").is_some());
    assert_eq!(sent.header("amz-sdk-request"), Some("attempt=1; max=3"));
    let state = &sent.body["conversationState"];
    assert_eq!(state["chatTriggerType"], "MANUAL");
    let conversation = state["conversationId"].as_str().unwrap().to_string();
    assert_eq!(conversation.len(), 36, "{conversation}");
    let message = &state["currentMessage"]["userInputMessage"];
    assert_eq!(message["modelId"], "claude-sonnet-4.5");
    assert_eq!(message["origin"], "AI_EDITOR");
    let content = message["content"].as_str().unwrap();
    assert!(
        content.contains("Be brief.") && content.contains("hi"),
        "{content}"
    );
    assert!(
        sent.body.get("profileArn").is_none(),
        "Builder ID accounts have no profile ARN"
    );

    // The next turn of the same conversation keeps its id.
    let next = send(
        &gw,
        "/v1/messages",
        json!({"model": "kr/claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
            "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": OAUTH_TEXT},
                {"role": "user", "content": "and again"}]}),
    )
    .await;
    assert_eq!(next.status(), 200);
    let sent = last_call(&mock, KIRO_API, "/generateAssistantResponse");
    assert_eq!(
        sent.body["conversationState"]["conversationId"],
        conversation
    );
    assert_eq!(
        sent.body["conversationState"]["history"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Anthropic Messages, streamed.
    let text = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "kr/claude-sonnet-4-5", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let events = parse_sse(&text);
    assert_eq!(streamed_text(&events), OAUTH_TEXT, "{text}");
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
    assert!(
        events.iter().any(|(name, _)| name == "message_stop"),
        "{text}"
    );

    // OpenAI chat, whole and streamed.
    let answer = json_of(chat(&gw, "kr/claude-haiku-4-5").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    assert_eq!(answer["usage"]["prompt_tokens"], OAUTH_INPUT_TOKENS);
    let sent = last_call(&mock, KIRO_API, "/generateAssistantResponse");
    assert_eq!(
        sent.body["conversationState"]["currentMessage"]["userInputMessage"]["modelId"],
        "claude-haiku-4.5"
    );
    let text = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "kr/claude-sonnet-4-5", "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed_text(&parse_sse(&text)), OAUTH_TEXT, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Kiro has no token-count endpoint: the gateway estimates.
    let to_kiro = || {
        mock.requests()
            .iter()
            .filter(|r| r.host == KIRO_API)
            .count()
    };
    let calls = to_kiro();
    let counted = send(
        &gw,
        "/v1/messages/count_tokens",
        json!({"model": "kr/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let counted = json_of(counted, 200).await;
    assert!(counted["input_tokens"].as_u64().unwrap() > 0, "{counted}");
    assert_eq!(to_kiro(), calls, "nothing was sent to Kiro");

    // Every answer, streamed or whole, has its usage record.
    let rows = gw.usage(5).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == 200), "{rows:?}");
    gw.stop().await;
}

#[tokio::test]
async fn kiro_renews_with_its_registered_client_before_expiry() {
    let (mock, gw) = start().await;
    mock.set_access_lifetime(3600);
    sign_in(&gw, "kr").await;
    let client = last_call(&mock, AWS_OIDC, "/device_authorization").body["clientId"].clone();
    assert_eq!(chat(&gw, "kr/claude-sonnet-4-5").await.status(), 200);
    assert_eq!(
        mock.refresh_count(AWS_OIDC),
        0,
        "a fresh token is used as is"
    );
    let first_bearer = last_call(&mock, KIRO_API, "/generateAssistantResponse")
        .header("authorization")
        .map(str::to_string);

    // 56 minutes later the token is inside the five-minute margin.
    advance(&gw, 56 * 60 * 1000);
    assert_eq!(chat(&gw, "kr/claude-sonnet-4-5").await.status(), 200);
    assert_eq!(mock.refresh_count(AWS_OIDC), 1);
    let refresh = mock
        .token_calls(AWS_OIDC)
        .into_iter()
        .find(|c| c.grant_type == "refresh_token")
        .unwrap();
    assert_eq!(refresh.params["clientId"], client);
    assert!(refresh.params.contains_key("clientSecret"));
    assert!(refresh.params["refreshToken"].starts_with("aorAAAAAG"));
    let renewed_bearer = last_call(&mock, KIRO_API, "/generateAssistantResponse")
        .header("authorization")
        .map(str::to_string);
    assert_ne!(renewed_bearer, first_bearer, "the renewed token is in use");
    assert_eq!(chat(&gw, "kr/claude-sonnet-4-5").await.status(), 200);
    assert_eq!(mock.refresh_count(AWS_OIDC), 1, "no further renewal is due");
    gw.stop().await;
}

#[tokio::test]
async fn a_revoked_kiro_refresh_token_disables_the_account_and_says_so() {
    let (mock, gw) = start().await;
    let done = sign_in(&gw, "kr").await;
    let id = done["connection"]["id"].as_i64().unwrap();
    mock.revoke_refresh_tokens(AWS_OIDC);
    advance(&gw, 2 * 3600 * 1000);
    let failed = chat(&gw, "kr/claude-sonnet-4-5").await;
    assert!(!failed.status().is_success());
    let text = failed.text().await.unwrap();
    assert!(text.contains("Sign in to this account again"), "{text}");

    let events = gw.handle.as_ref().unwrap().events().recent();
    let refresh_failed = events
        .iter()
        .filter(|e| e.event.kind() == "TokenRefreshFailed")
        .count();
    assert_eq!(refresh_failed, 1, "{events:?}");
    let connection = connection_in_state(&gw, id, "auth_failed").await;
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    assert_eq!(chat(&gw, "kr/claude-sonnet-4-5").await.status(), 503);
    assert_eq!(
        mock.refresh_count(AWS_OIDC),
        1,
        "a dead grant is not retried"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------
// Kilo Code

#[tokio::test]
async fn kilo_sign_in_polls_by_status_and_chats_with_kilos_headers() {
    let (mock, gw) = start().await;
    mock.set_email("api.kilo.ai", "kilo@example.com");
    mock.script_device(
        "api.kilo.ai",
        vec![DeviceStep::Pending, DeviceStep::Pending],
    );
    let started = start_device_login(&gw, "kc", json!({})).await;
    let code = started["user_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert_eq!(
        started["verification_uri"],
        format!("https://app.kilo.ai/device-auth?code={code}")
    );
    assert_eq!(started["interval"], 3, "Kilo's CLI polls every 3 s");
    let interval = started["interval"].as_i64().unwrap();
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "kc", &started["login_id"]).await["status"],
        "pending"
    );
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "kc", &started["login_id"]).await["status"],
        "pending"
    );
    advance(&gw, interval * 1000);
    let done = poll(&gw, "kc", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["connection"]["email"], "kilo@example.com");
    // Each poll was a GET of the code itself.
    let polls = calls_to(
        &mock,
        "api.kilo.ai",
        &format!("/api/device-auth/codes/{code}"),
    );
    assert_eq!(polls.len(), 3);
    assert!(polls.iter().all(|r| r.method == "GET"));
    let connection = gw
        .connection(done["connection"]["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        connection["token_expires_at_ms"],
        Value::Null,
        "{connection}"
    );

    let answer = json_of(chat(&gw, "kc/minimax/minimax-m2.5:free").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    let sent = last_call(&mock, "api.kilo.ai", "/api/openrouter/chat/completions");
    assert_eq!(sent.body["model"], "minimax/minimax-m2.5:free");
    assert_eq!(sent.header("x-kilocode-editorname"), Some("OmniRoute"));
    let bearer = sent.header("authorization").unwrap();
    assert!(
        bearer.starts_with("Bearer ") && bearer != "Bearer anonymous",
        "{bearer}"
    );

    // Streamed too.
    let text = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "kc/z-ai/glm-5:free", "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed_text(&parse_sse(&text)), OAUTH_TEXT, "{text}");

    // The token has no refresh and does not expire: a month later it is
    // used as is.
    advance(&gw, (30 * 86_400) * 1000);
    assert_eq!(
        chat(&gw, "kc/minimax/minimax-m2.5:free").await.status(),
        200
    );
    assert_eq!(mock.refresh_count("api.kilo.ai"), 0);
    gw.stop().await;
}

#[tokio::test]
async fn kilo_denied_and_expired_codes_end_the_sign_in_with_a_clear_error() {
    let (mock, gw) = start().await;
    mock.script_device("api.kilo.ai", vec![DeviceStep::Denied]);
    let started = start_device_login(&gw, "kc", json!({})).await;
    let denied = finish_login(&gw, "kc", &started).await;
    assert_eq!(denied["status"], "error", "{denied}");
    let why = denied["error"].as_str().unwrap();
    assert!(why.contains("refused") && why.contains("denied"), "{why}");
    // The answer stays: a later poll does not call Kilo again.
    let calls = mock.token_calls("api.kilo.ai").len();
    advance(&gw, 3 * 1000);
    assert_eq!(
        poll(&gw, "kc", &started["login_id"]).await["status"],
        "error"
    );
    assert_eq!(mock.token_calls("api.kilo.ai").len(), calls);

    mock.script_device(
        "api.kilo.ai",
        vec![DeviceStep::Pending, DeviceStep::Expired],
    );
    let started = start_device_login(&gw, "kc", json!({})).await;
    let expired = finish_login(&gw, "kc", &started).await;
    assert_eq!(expired["status"], "error", "{expired}");
    let why = expired["error"].as_str().unwrap();
    assert!(
        why.contains("expired") && why.contains("start again"),
        "{why}"
    );

    let connections = gw.get_json("/api/connections").await;
    assert_eq!(
        connections["data"].as_array().map(Vec::len),
        Some(0),
        "{connections}"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------
// Cline

#[tokio::test]
async fn cline_signs_in_with_workos_registers_with_cline_and_chats_with_a_workos_bearer() {
    let (mock, gw) = start().await;
    mock.set_email("api.cline.bot", "cline@example.com");
    mock.script_device(
        "api.cline.bot",
        vec![
            DeviceStep::Pending,
            DeviceStep::SlowDown,
            DeviceStep::Approve,
        ],
    );
    let started = start_device_login(&gw, "cl", json!({})).await;
    let device = last_call(&mock, "api.workos.com", "/user_management/authorize/device");
    assert_eq!(
        device.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let interval = started["interval"].as_i64().unwrap();
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "cl", &started["login_id"]).await["status"],
        "pending"
    );
    advance(&gw, interval * 1000);
    let slow = poll(&gw, "cl", &started["login_id"]).await;
    assert_eq!(slow["status"], "slow_down", "{slow}");
    assert_eq!(
        slow["interval"].as_i64(),
        Some(interval + 1),
        "Cline's client adds 1 s on slow_down"
    );
    advance(&gw, (interval + 1) * 1000);
    let done = poll(&gw, "cl", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["connection"]["email"], "cline@example.com");

    let calls = mock.token_calls("api.cline.bot");
    let polls: Vec<_> = calls
        .iter()
        .filter(|c| c.grant_type.ends_with("device_code"))
        .collect();
    assert_eq!(polls.len(), 3);
    assert!(
        polls
            .iter()
            .all(|c| c.params["client_id"] == CLINE_WORKOS_CLIENT)
    );
    // The WorkOS tokens were registered with Cline, in camelCase JSON.
    let register = last_call(&mock, "api.cline.bot", "/api/v1/auth/register");
    assert!(
        register.body["accessToken"]
            .as_str()
            .unwrap()
            .starts_with("workos_at_")
    );
    assert!(
        register.body["refreshToken"]
            .as_str()
            .unwrap()
            .starts_with("workos_rt_")
    );

    // A whole answer from a forced stream.
    let answer = json_of(chat(&gw, "cl/openrouter/free").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    let sent = last_call(&mock, "api.cline.bot", "/api/v1/chat/completions");
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer workos:cline-at-"),
        "{:?}",
        sent.header("authorization")
    );
    assert_eq!(sent.header("http-referer"), Some("https://cline.bot"));
    assert_eq!(sent.header("x-title"), Some("Cline"));
    assert!(sent.header("x-task-id").is_some());
    assert_eq!(sent.body["model"], "openrouter/free");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);

    let text = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "cl/deepseek/deepseek-v4-flash", "max_tokens": 50, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed_text(&parse_sse(&text)), OAUTH_TEXT, "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn cline_renews_at_its_own_refresh_endpoint_before_expiry() {
    let (mock, gw) = start().await;
    mock.set_access_lifetime(3600);
    sign_in(&gw, "cl").await;
    assert_eq!(chat(&gw, "cl/openrouter/free").await.status(), 200);
    assert_eq!(mock.refresh_count("api.cline.bot"), 0);

    // Cline names an absolute `expiresAt` in the mock's (real) time while
    // the gateway's clock runs 56 minutes ahead: renewed tokens live two
    // hours so that the renewed one is not due at once on the gateway's clock.
    mock.set_access_lifetime(7200);
    let workos_calls = calls_to(&mock, "api.workos.com", "/user_management/authenticate").len();
    advance(&gw, 56 * 60 * 1000);
    assert_eq!(chat(&gw, "cl/openrouter/free").await.status(), 200);
    assert_eq!(mock.refresh_count("api.cline.bot"), 1);
    let refresh = last_call(&mock, "api.cline.bot", "/api/v1/auth/refresh");
    assert_eq!(refresh.body["grantType"], "refresh_token");
    assert!(
        refresh.body["refreshToken"]
            .as_str()
            .unwrap()
            .starts_with("cline-rt-")
    );
    assert_eq!(
        calls_to(&mock, "api.workos.com", "/user_management/authenticate").len(),
        workos_calls,
        "refreshes go to Cline, not WorkOS"
    );
    assert_eq!(chat(&gw, "cl/openrouter/free").await.status(), 200);
    assert_eq!(mock.refresh_count("api.cline.bot"), 1);
    gw.stop().await;
}

// ---------------------------------------------------------------------------
// Kimi Coding

#[tokio::test]
async fn kimi_device_sign_in_goes_through_pending_and_slow_down_and_chats_with_kimis_headers() {
    let (mock, gw) = start().await;
    mock.script_device(
        "auth.kimi.com",
        vec![
            DeviceStep::Pending,
            DeviceStep::SlowDown,
            DeviceStep::Approve,
        ],
    );
    let started = start_device_login(&gw, "kmc", json!({"name": "kimi at work"})).await;
    assert_eq!(
        started["verification_uri"],
        "https://www.kimi.com/code/authorize_device"
    );
    let interval = started["interval"].as_i64().unwrap();
    advance(&gw, interval * 1000);
    assert_eq!(
        poll(&gw, "kmc", &started["login_id"]).await["status"],
        "pending"
    );
    advance(&gw, interval * 1000);
    let slow = poll(&gw, "kmc", &started["login_id"]).await;
    assert_eq!(slow["status"], "slow_down", "{slow}");
    assert_eq!(slow["interval"].as_i64(), Some(interval + 5));
    advance(&gw, (interval + 5) * 1000);
    let done = poll(&gw, "kmc", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    // Kimi's token answer and API name no account (docs/oauth §4), so the
    // account goes by the name the user gave.
    assert_eq!(done["connection"]["name"], "kimi at work");
    assert_eq!(done["connection"]["email"], Value::Null);
    assert_eq!(device_polls(&mock, "auth.kimi.com"), 3);
    let token_call = last_call(&mock, "auth.kimi.com", "/api/oauth/token");
    assert_eq!(token_call.header("x-msh-platform"), Some("kimi_cli"));
    assert!(
        mock.token_calls("auth.kimi.com")
            .iter()
            .all(|c| c.params["client_id"] == "17e5f671-d194-4dfb-9706-5516cb48c098")
    );

    let answer = json_of(chat(&gw, "kmc/kimi-for-coding").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    let sent = last_call(&mock, "api.kimi.com", "/coding/v1/chat/completions");
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer kimi-at-")
    );
    assert_eq!(sent.header("x-msh-platform"), Some("kimi_cli"));
    assert_eq!(sent.header("x-msh-version"), Some("1.49.0"));
    assert_eq!(sent.header("user-agent"), Some("KimiCLI/1.49.0"));
    assert_eq!(sent.body["model"], "kimi-for-coding");

    let text = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "kmc/kimi-for-coding", "max_tokens": 50, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(streamed_text(&parse_sse(&text)), OAUTH_TEXT, "{text}");
    gw.stop().await;
}
