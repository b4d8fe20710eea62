//! Pausing routing (the desktop tray's Pause item): requests are refused in the caller's own format and never reach a provider; resuming serves again.

use omniroute_tests::{json_of, mock_and_gateway};
use serde_json::json;

#[tokio::test]
async fn a_paused_gateway_refuses_in_each_callers_format_and_resumes() {
    let (mock, gw) = mock_and_gateway().await;
    let handle = gw.handle.as_ref().unwrap();
    assert!(!handle.routing_paused());
    handle.set_routing_paused(true);
    assert!(handle.routing_paused());
    assert!(handle.status().await.paused);

    let chat = json!({"model": "openai/gpt-4.1", "messages": [{"role": "user", "content": "hi"}]});
    let send_chat = || gw.post("/v1/chat/completions").json(&chat).send();
    let body = json_of(send_chat().await.unwrap(), 503).await;
    assert_eq!(body["error"]["code"], "routing_paused", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("paused"),
        "{body}"
    );

    let message = json!({
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let response = gw.post("/v1/messages").json(&message).send().await.unwrap();
    let body = json_of(response, 503).await;
    assert_eq!(body["type"], "error", "Anthropic's error envelope: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("paused")
    );
    assert!(mock.received().is_empty(), "nothing reached a provider");

    // The management API stays open while paused.
    assert!(
        gw.get("/api/settings")
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );

    handle.set_routing_paused(false);
    json_of(send_chat().await.unwrap(), 200).await;
    assert_eq!(mock.received().len(), 1);
}

#[tokio::test]
async fn notification_kinds_are_settings_that_default_on() {
    let (_mock, gw) = mock_and_gateway().await;
    let settings = gw.get_json("/api/settings").await;
    for key in [
        "notify_quota",
        "notify_outage",
        "notify_budget",
        "notify_token_refresh",
        "notify_account_disabled",
    ] {
        assert_eq!(settings[key], true, "{key}");
    }
    gw.patch_settings(json!({"notify_outage": false})).await;
    let handle = gw.handle.as_ref().unwrap();
    assert!(!handle.settings().notify_outage);
    assert!(handle.settings().notify_quota);
    let response = gw
        .patch("/api/settings")
        .json(&json!({"notify_budget": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
