//! Gemini CLI (`gc/`) and Antigravity (`ag/`) end to end against the mock Google issuer and Cloud Code Assist backend behind the real URLs: sign-in (the gateway's own callback, Antigravity's fixed port, manual mode), project discovery and onboarding, the enveloped request each client sends, answers in every caller format, and the account-ending and quota errors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use omniroute::observe::events::Event;
use omniroute_tests::mock::oauth::{
    CODE_ASSIST_PROJECT, CodeAssistState, OAUTH_INPUT_TOKENS, OAUTH_OUTPUT_TOKENS, OAUTH_TEXT,
    OAuthMock, Recorded,
};
use omniroute_tests::oauth::{authorize_redirect, chat, poll, start, start_login};
use omniroute_tests::{TestGateway, json_of, parse_sse};
use serde_json::{Value, json};

const GEMINI_CLI_CLIENT: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
const ANTIGRAVITY_CLIENT: &str =
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com";
const ANTIGRAVITY_REDIRECT: &str = "http://localhost:51121/oauth-callback";
const ANTIGRAVITY_UA: &str = "antigravity/hub/2.9.1 darwin/arm64";
const PROD_HOST: &str = "cloudcode-pa.googleapis.com";
const DAILY_HOST: &str = "daily-cloudcode-pa.googleapis.com";

/// The value of query parameter `name` in `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A browser: the authorize page sends it (302) to the redirect URI, where
/// the gateway exchanges the code and shows a page.
async fn browse(auth_url: &str) -> (u16, String) {
    let page = reqwest::get(auth_url).await.unwrap();
    let status = page.status().as_u16();
    (status, page.text().await.unwrap())
}

/// Signs in to Gemini CLI through the gateway's own `/callback`; the
/// finished login's status.
async fn gemini_cli_sign_in(gw: &TestGateway) -> Value {
    let started = start_login(gw, "gc", json!({"accept_terms": true})).await;
    let (status, page) = browse(started["auth_url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    let done = poll(gw, "gc", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    done
}

/// Signs in to Antigravity in manual mode (the redirect URL pasted back),
/// so that no test but one needs port 51121.
async fn antigravity_manual_sign_in(gw: &TestGateway) -> Value {
    let started = start_login(gw, "ag", json!({"mode": "manual", "accept_terms": true})).await;
    assert_eq!(started["redirect_uri"], ANTIGRAVITY_REDIRECT);
    let landed = authorize_redirect(&started).await;
    assert!(landed.starts_with(ANTIGRAVITY_REDIRECT), "{landed}");
    let done = json_of(
        gw.post("/api/oauth/ag/complete")
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

fn code_assist_calls(mock: &OAuthMock, method: &str) -> Vec<Recorded> {
    mock.requests()
        .into_iter()
        .filter(|r| r.host.ends_with(PROD_HOST) && r.path == format!("/v1internal:{method}"))
        .collect()
}

/// Generate calls of either kind, streamed or not.
fn generate_calls(mock: &OAuthMock) -> Vec<Recorded> {
    mock.requests()
        .into_iter()
        .filter(|r| r.host.ends_with(PROD_HOST) && r.path.ends_with("enerateContent"))
        .collect()
}

/// The text of an OpenAI chat stream.
fn openai_stream_text(sse: &str) -> String {
    parse_sse(sse)
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// The text of Gemini candidates, one answer or each event of a stream.
fn gemini_text(answers: &[Value]) -> String {
    answers
        .iter()
        .flat_map(|a| {
            a["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn gemini_cli_sign_in_comes_back_to_the_gateway_and_finds_the_project() {
    let (mock, gw) = start().await;
    mock.set_email("accounts.google.com", "seat@example.com");
    let started = start_login(&gw, "gc", json!({"accept_terms": true})).await;
    assert_eq!(started["flow"], "pkce");
    // Google takes any loopback port: the gateway's own callback.
    assert_eq!(
        started["redirect_uri"],
        format!("{}/callback", gw.url).replace("127.0.0.1", "localhost")
    );
    let auth_url = started["auth_url"].as_str().unwrap();
    assert!(auth_url.starts_with(&mock.url("https://accounts.google.com/o/oauth2/v2/auth")));
    assert_eq!(
        query_param(auth_url, "client_id").as_deref(),
        Some(GEMINI_CLI_CLIENT)
    );
    // Without these Google issues no refresh token.
    assert_eq!(
        query_param(auth_url, "access_type").as_deref(),
        Some("offline")
    );
    assert_eq!(query_param(auth_url, "prompt").as_deref(), Some("consent"));
    let scope = query_param(auth_url, "scope").unwrap();
    assert!(
        scope.contains("https://www.googleapis.com/auth/cloud-platform"),
        "{scope}"
    );
    assert!(
        scope.contains("https://www.googleapis.com/auth/userinfo.email"),
        "{scope}"
    );

    let (status, page) = browse(auth_url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("seat@example.com"), "{page}");
    let done = poll(&gw, "gc", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["connection"]["email"], "seat@example.com");

    let exchange = &mock.token_calls("accounts.google.com")[0];
    assert_eq!(exchange.grant_type, "authorization_code");
    assert_eq!(
        exchange.params["client_secret"],
        "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"
    );
    assert!(exchange.params.contains_key("code_verifier"));

    // Project discovery, dressed as Gemini CLI; an onboarded account needs
    // no onboarding.
    let load = code_assist_calls(&mock, "loadCodeAssist");
    assert_eq!(load.len(), 1);
    assert_eq!(
        load[0].body,
        json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}})
    );
    assert!(
        load[0]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    assert!(
        load[0]
            .header("user-agent")
            .unwrap()
            .starts_with("GeminiCLI/0.61.0/")
    );
    assert!(code_assist_calls(&mock, "onboardUser").is_empty());

    // The project is kept with the account: the backend serves it.
    let answer = json_of(chat(&gw, "gc/gemini-2.5-pro").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    assert_eq!(
        generate_calls(&mock)[0].body["project"],
        CODE_ASSIST_PROJECT
    );
    gw.stop().await;
}

#[tokio::test]
async fn gemini_cli_onboards_a_new_account_and_waits_for_its_project() {
    let (mock, gw) = start().await;
    mock.set_code_assist(CodeAssistState::NeedsOnboarding);
    gemini_cli_sign_in(&gw).await;

    let onboard = code_assist_calls(&mock, "onboardUser");
    assert_eq!(onboard.len(), 1);
    // The free tier is onboarded without a project of the user's.
    assert_eq!(onboard[0].body["tierId"], "free-tier");
    assert!(onboard[0].body.get("cloudaicompanionProject").is_none());
    assert_eq!(onboard[0].body["metadata"]["pluginType"], "GEMINI");
    let operations: Vec<Recorded> = mock
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/v1internal/operations/mock-onboard")
        .collect();
    assert_eq!(
        operations.len(),
        1,
        "one look at the operation once it is done"
    );

    let answer = json_of(chat(&gw, "gc/gemini-2.5-flash").await, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    assert_eq!(
        generate_calls(&mock)[0].body["project"],
        CODE_ASSIST_PROJECT
    );
    gw.stop().await;
}

#[tokio::test]
async fn gemini_cli_sends_a_chat_request_in_the_code_assist_envelope() {
    let (mock, gw) = start().await;
    gemini_cli_sign_in(&gw).await;
    let answer = gw
        .post("/v1/chat/completions")
        .json(&json!({
            "model": "gc/gemini-3.5-flash",
            "max_tokens": 50,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        }))
        .send()
        .await
        .unwrap();
    let answer = json_of(answer, 200).await;
    assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
    assert_eq!(answer["usage"]["prompt_tokens"], OAUTH_INPUT_TOKENS);
    assert_eq!(answer["usage"]["completion_tokens"], OAUTH_OUTPUT_TOKENS);

    let calls = generate_calls(&mock);
    assert_eq!(calls.len(), 1);
    let sent = &calls[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.host, PROD_HOST);
    assert_eq!(sent.path, "/v1internal:generateContent");
    assert_eq!(sent.query, None);
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.")
    );
    let ua = sent.header("user-agent").unwrap();
    assert!(
        ua.starts_with("GeminiCLI/0.61.0/gemini-3.5-flash ("),
        "{ua}"
    );
    assert!(ua.ends_with("; terminal)"), "{ua}");
    assert_eq!(
        sent.header("x-goog-api-client"),
        Some("google-genai-sdk/1.30.0 gl-node/v20.20.2")
    );
    assert!(
        sent.header("client-metadata").is_none(),
        "Gemini CLI sends none"
    );

    let body = &sent.body;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["model", "project", "user_prompt_id", "request"]);
    // The Code Assist name of Gemini 3.5 Flash.
    assert_eq!(body["model"], "gemini-3-flash");
    assert_eq!(body["project"], CODE_ASSIST_PROJECT);
    assert_eq!(body["user_prompt_id"].as_str().unwrap().len(), 36);
    let request = &body["request"];
    assert!(request.get("model").is_none());
    assert_eq!(
        request["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}]}])
    );
    assert_eq!(
        request["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(request["generationConfig"]["maxOutputTokens"], 50);
    assert!(request["session_id"].as_str().unwrap().starts_with('-'));
    gw.stop().await;
}

#[tokio::test]
async fn gemini_cli_answers_every_caller_format_streamed_and_whole() {
    let (mock, gw) = start().await;
    gemini_cli_sign_in(&gw).await;

    // OpenAI chat, streamed.
    let sse = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "gc/gemini-2.5-pro", "stream": true,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(openai_stream_text(&sse), OAUTH_TEXT, "{sse}");
    assert!(sse.trim_end().ends_with("data: [DONE]"), "{sse}");
    let streamed = generate_calls(&mock).pop().unwrap();
    assert_eq!(streamed.path, "/v1internal:streamGenerateContent");
    assert_eq!(streamed.query.as_deref(), Some("alt=sse"));
    assert_eq!(streamed.header("accept"), Some("text/event-stream"));

    // Gemini, whole: the envelope is gone from the answer.
    let gemini_body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let whole = gw
        .post("/v1beta/models/gc/gemini-2.5-pro:generateContent")
        .json(&gemini_body)
        .send()
        .await
        .unwrap();
    let whole = json_of(whole, 200).await;
    assert_eq!(
        gemini_text(std::slice::from_ref(&whole)),
        OAUTH_TEXT,
        "{whole}"
    );
    assert!(whole.get("response").is_none() && whole.get("traceId").is_none());
    assert_eq!(
        whole["usageMetadata"]["promptTokenCount"],
        OAUTH_INPUT_TOKENS
    );
    assert_eq!(
        generate_calls(&mock).pop().unwrap().body["request"]["contents"],
        gemini_body["contents"]
    );

    // Gemini, streamed.
    let sse = gw
        .post_text(
            "/v1beta/models/gc/gemini-2.5-pro:streamGenerateContent?alt=sse",
            &gemini_body,
        )
        .await;
    let events: Vec<Value> = parse_sse(&sse).into_iter().map(|(_, v)| v).collect();
    assert!(events.len() > 1, "{sse}");
    assert!(events.iter().all(|e| e.get("response").is_none()), "{sse}");
    assert_eq!(gemini_text(&events), OAUTH_TEXT, "{sse}");

    // Anthropic messages, streamed.
    let sse = gw
        .post_text(
            "/v1/messages",
            &json!({"model": "gc/gemini-2.5-pro", "max_tokens": 64, "stream": true,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let text: String = parse_sse(&sse)
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .filter_map(|(_, v)| v["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, OAUTH_TEXT, "{sse}");
    assert!(sse.contains("event: message_stop"), "{sse}");

    // Responses, whole.
    let answer = gw
        .post("/v1/responses")
        .json(&json!({"model": "gc/gemini-2.5-pro", "input": "hi"}))
        .send()
        .await
        .unwrap();
    let answer = json_of(answer, 200).await;
    let text: String = answer["output"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, OAUTH_TEXT, "{answer}");
    assert_eq!(generate_calls(&mock).len(), 5);
    gw.stop().await;
}

#[tokio::test]
async fn unsupported_client_ends_the_sign_in_and_the_account_with_a_clear_reason() {
    let (mock, gw) = start().await;
    let done = gemini_cli_sign_in(&gw).await;
    let id = done["connection"]["id"].as_i64().unwrap();

    // Google stops serving the account: its requests are refused, and the
    // account leaves the rotation instead of being retried.
    mock.set_code_assist(CodeAssistState::UnsupportedClient);
    let refused = chat(&gw, "gc/gemini-2.5-pro").await;
    assert_eq!(refused.status(), 403);
    let mut connection = Value::Null;
    for _ in 0..50 {
        connection = gw.connection(id).await;
        if connection["state"] == "auth_failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(connection["state"], "auth_failed", "{connection}");
    let calls = generate_calls(&mock).len();
    assert_eq!(chat(&gw, "gc/gemini-2.5-pro").await.status(), 503);
    assert_eq!(
        generate_calls(&mock).len(),
        calls,
        "a dead account is not called"
    );

    // Signing in again says why, pointing to what still works, and saves nothing.
    let started = start_login(&gw, "gc", json!({"accept_terms": true})).await;
    let (status, page) = browse(started["auth_url"].as_str().unwrap()).await;
    assert_eq!(status, 502);
    assert!(page.contains("Gemini API key"), "{page}");
    let failed = poll(&gw, "gc", &started["login_id"]).await;
    assert_eq!(failed["status"], "error", "{failed}");
    let why = failed["error"].as_str().unwrap();
    for words in ["2026-06-18", "Gemini API key", "https://antigravity.google"] {
        assert!(why.contains(words), "{words} missing from: {why}");
    }
    let connections = gw.get_json("/api/connections").await;
    let google: Vec<&Value> = connections["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["provider"] == "gemini-cli")
        .collect();
    assert_eq!(google.len(), 1, "{connections}");
    assert_eq!(generate_calls(&mock).len(), calls);
    gw.stop().await;
}

#[tokio::test]
async fn antigravity_signs_in_on_its_fixed_port_and_sends_its_envelope() {
    let (mock, gw) = start().await;
    mock.set_email("accounts.google.com", "ag@example.com");
    let refused = gw
        .post("/api/oauth/ag/start")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let refused = json_of(refused, 400).await;
    assert_eq!(refused["error"]["code"], "terms_not_accepted");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TOS_VIOLATION"),
        "{refused}"
    );

    // The only test that binds port 51121.
    let started = start_login(&gw, "ag", json!({"accept_terms": true})).await;
    assert_eq!(started["redirect_uri"], ANTIGRAVITY_REDIRECT);
    let auth_url = started["auth_url"].as_str().unwrap();
    assert_eq!(
        query_param(auth_url, "client_id").as_deref(),
        Some(ANTIGRAVITY_CLIENT)
    );
    assert_eq!(
        query_param(auth_url, "access_type").as_deref(),
        Some("offline")
    );
    assert_eq!(query_param(auth_url, "prompt").as_deref(), Some("consent"));
    let scope = query_param(auth_url, "scope").unwrap();
    for extra in [
        "auth/cclog",
        "auth/experimentsandconfigs",
        "auth/cloud-platform",
    ] {
        assert!(scope.contains(extra), "{extra} missing from {scope}");
    }
    let (status, page) = browse(auth_url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ag@example.com"), "{page}");
    let done = poll(&gw, "ag", &started["login_id"]).await;
    assert_eq!(done["status"], "done", "{done}");

    let exchange = &mock.token_calls("accounts.google.com")[0];
    assert_eq!(
        exchange.params["client_secret"],
        "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"
    );
    assert_eq!(exchange.params["redirect_uri"], ANTIGRAVITY_REDIRECT);
    // Antigravity asks production who the user is.
    let load = code_assist_calls(&mock, "loadCodeAssist");
    assert_eq!(load.len(), 1);
    assert_eq!(load[0].host, PROD_HOST);
    assert_eq!(
        load[0].body,
        json!({"metadata": {"ideType": "ANTIGRAVITY"}})
    );
    assert_eq!(load[0].header("user-agent"), Some(ANTIGRAVITY_UA));
    assert_eq!(load[0].header("accept"), Some("*/*"));

    // A streamed chat with a tool to a Claude model, on the daily host.
    let sse = gw
        .post_text(
            "/v1/chat/completions",
            &json!({"model": "ag/claude-sonnet-4-6", "stream": true,
                    "messages": [{"role": "user", "content": "list files"}],
                    "tools": [{"type": "function", "function": {"name": "ls",
                        "parameters": {"type": "object", "properties": {}}}}]}),
        )
        .await;
    assert_eq!(openai_stream_text(&sse), OAUTH_TEXT, "{sse}");
    let sent = generate_calls(&mock).pop().unwrap();
    assert_eq!(sent.host, DAILY_HOST);
    assert_eq!(sent.path, "/v1internal:streamGenerateContent");
    assert_eq!(sent.query.as_deref(), Some("alt=sse"));
    assert_eq!(sent.header("user-agent"), Some(ANTIGRAVITY_UA));
    assert!(sent.header("x-goog-api-client").is_none());
    let body = &sent.body;
    assert_eq!(body["project"], CODE_ASSIST_PROJECT);
    assert_eq!(body["model"], "claude-sonnet-4-6");
    assert_eq!(body["userAgent"], "antigravity");
    assert_eq!(body["requestType"], "agent");
    assert!(body["requestId"].as_str().unwrap().starts_with("agent-"));
    let request = &body["request"];
    assert!(request["sessionId"].as_str().unwrap().starts_with('-'));
    assert_eq!(request["tools"][0]["functionDeclarations"][0]["name"], "ls");
    assert_eq!(
        request["toolConfig"]["functionCallingConfig"]["mode"],
        "VALIDATED"
    );

    // A Gemini caller's whole request to a Gemini model: no output cap.
    let whole = gw
        .post("/v1beta/models/ag/gemini-3-flash:generateContent")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                      "generationConfig": {"maxOutputTokens": 100, "temperature": 0.3},
                      "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]}))
        .send()
        .await
        .unwrap();
    let whole = json_of(whole, 200).await;
    assert_eq!(
        gemini_text(std::slice::from_ref(&whole)),
        OAUTH_TEXT,
        "{whole}"
    );
    let sent = generate_calls(&mock).pop().unwrap();
    assert_eq!(
        (sent.host.as_str(), sent.path.as_str()),
        (DAILY_HOST, "/v1internal:generateContent")
    );
    assert_eq!(sent.body["model"], "gemini-3-flash");
    let request = &sent.body["request"];
    assert!(request["generationConfig"].get("maxOutputTokens").is_none());
    assert_eq!(request["generationConfig"]["temperature"], 0.3);
    assert!(request.get("safetySettings").is_none());
    gw.stop().await;
}

#[tokio::test]
async fn antigravity_quota_exhaustion_cools_the_account_down_with_a_quota_event() {
    let (mock, gw) = start().await;
    mock.set_email("accounts.google.com", "quota@example.com");
    let done = antigravity_manual_sign_in(&gw).await;
    let id = done["connection"]["id"].as_i64().unwrap();
    assert_eq!(chat(&gw, "ag/gemini-3-flash").await.status(), 200);

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mock.exhaust("quota@example.com", now + 120);
    let limited = chat(&gw, "ag/gemini-3-flash").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let text = limited.text().await.unwrap();
    assert!(text.contains("exhausted your capacity"), "{text}");

    let events = gw.handle.as_ref().unwrap().events().recent();
    let quota: Vec<&Event> = events
        .iter()
        .map(|e| &e.event)
        .filter(|e| e.kind() == "QuotaExhausted")
        .collect();
    assert_eq!(quota.len(), 1, "{events:?}");
    let Event::QuotaExhausted {
        connection_id,
        model,
        until_ms,
        ..
    } = quota[0]
    else {
        unreachable!()
    };
    assert_eq!(*connection_id, id);
    // Code Assist quotas are per model.
    assert_eq!(model.as_deref(), Some("gemini-3-flash"));
    let until = until_ms.unwrap();
    assert!(until >= ((now + 100) * 1000) as i64, "{until}");

    // Until the reset the account is not called for that model.
    let calls = generate_calls(&mock).len();
    let again = chat(&gw, "ag/gemini-3-flash").await;
    assert_eq!(again.status(), 429);
    assert!(again.headers().contains_key("retry-after"));
    assert_eq!(
        generate_calls(&mock).len(),
        calls,
        "the cooled-down account is skipped"
    );
    gw.stop().await;
}
