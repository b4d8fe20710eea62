//! Kilo Code's own device sign-in (not RFC 8628): `POST` for a code, then `GET {token_url}/{code}` answered by HTTP status until the user approves.
//!
//! Facts: docs/oauth/kiro-kilo-cline-iflow.md §2.1 (Kilo's server routes
//! `device-auth/codes` and `codes/[code]`). The code is both what the user
//! sees and the poll key; the approved token is single-use to fetch and
//! has no refresh token.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::OAuthDef;
use super::device::{DeviceStart, Poll};
use super::token::{post_json, read_answer, send, token_request};

/// Kilo's CLI polls every 3 s (`POLL_INTERVAL_MS`); the start answer names
/// no interval.
const POLL_INTERVAL_SECS: u64 = 3;
/// A code lives 10 minutes (`CODE_EXPIRATION_MINUTES`).
const DEFAULT_EXPIRES_IN_SECS: u64 = 600;

/// Asks Kilo for a code (an empty JSON body: the server needs none).
pub async fn start(
    http: &reqwest::Client,
    def: &OAuthDef,
    url: &str,
) -> Result<DeviceStart, String> {
    let (status, body) = post_json(http, def, url, &json!({})).await?;
    read_start(status, &body)
}

/// Reads the code answer: `{code, verificationUrl, expiresIn}`.
pub fn read_start(status: u16, body: &Value) -> Result<DeviceStart, String> {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    match (status, text("code")) {
        (200..=299, Some(code)) if !code.is_empty() => Ok(DeviceStart {
            device_code: code.clone(),
            user_code: code,
            verification_uri: text("verificationUrl").unwrap_or_default(),
            verification_uri_complete: None,
            expires_in_secs: body
                .get("expiresIn")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_EXPIRES_IN_SECS),
            interval_secs: POLL_INTERVAL_SECS,
            extra: BTreeMap::new(),
        }),
        (429, _) => Err(
            "Kilo has too many sign-ins pending from this address; finish or let them expire (10 minutes), then start again"
                .into(),
        ),
        _ => Err(format!(
            "Kilo's device authorization answered {status}: {}",
            message(body)
        )),
    }
}

fn message(body: &Value) -> String {
    ["error", "message", "text"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or("no usable answer")
        .chars()
        .take(200)
        .collect()
}

/// Polls the code once.
pub async fn poll(
    http: &reqwest::Client,
    def: &OAuthDef,
    start: &DeviceStart,
    now_ms: i64,
) -> Poll {
    let mut url = match reqwest::Url::parse(&def.token_url) {
        Ok(url) => url,
        Err(e) => return Poll::Failed(format!("bad Kilo poll URL {}: {e}", def.token_url)),
    };
    // A path segment, escaped: the code comes from the server.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(&start.device_code);
    }
    let request = token_request(http, def, reqwest::Method::GET, url.as_str());
    match send(request, url.as_str()).await {
        Ok((status, body)) => read_poll(status, &body, now_ms),
        // A network blip is not a verdict: poll again.
        Err(e) => {
            tracing::debug!(error = %e, "Kilo device poll failed; polling again");
            Poll::Pending
        }
    }
}

/// Reads one poll answer by its status.
pub fn read_poll(status: u16, body: &Value, now_ms: i64) -> Poll {
    match status {
        202 => Poll::Pending,
        200 => match read_answer(status, body, None, now_ms) {
            Ok(tokens) => Poll::Done(Box::new(tokens)),
            Err(e) => Poll::Failed(e.message),
        },
        403 => Poll::Denied("the request was denied on Kilo's sign-in page".into()),
        // Kilo also answers 410 for unknown and already-used codes.
        410 => Poll::Expired,
        // Busy or failing for a moment: a later poll may get the verdict.
        429 | 500..=599 => Poll::Pending,
        _ => Poll::Failed(format!("Kilo answered {status}: {}", message(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_both_user_code_and_poll_key() {
        let started = read_start(
            200,
            &json!({"code": "ABCD-EF23", "verificationUrl": "https://app.kilo.ai/device-auth?code=ABCD-EF23", "expiresIn": 600}),
        )
        .unwrap();
        assert_eq!(started.device_code, "ABCD-EF23");
        assert_eq!(started.user_code, "ABCD-EF23");
        assert_eq!(
            started.verification_uri,
            "https://app.kilo.ai/device-auth?code=ABCD-EF23"
        );
        assert_eq!(started.interval_secs, POLL_INTERVAL_SECS);
        let busy = read_start(
            429,
            &json!({"error": "Too many pending authorization requests"}),
        )
        .unwrap_err();
        assert!(busy.contains("too many sign-ins"), "{busy}");
    }

    #[test]
    fn statuses_decide_each_poll() {
        assert_eq!(
            read_poll(202, &json!({"status": "pending"}), 0),
            Poll::Pending
        );
        assert!(matches!(
            read_poll(403, &json!({"status": "denied"}), 0),
            Poll::Denied(_)
        ));
        assert_eq!(
            read_poll(410, &json!({"status": "expired"}), 0),
            Poll::Expired
        );
        assert_eq!(read_poll(503, &json!({"text": "down"}), 0), Poll::Pending);
        assert!(matches!(
            read_poll(400, &json!({"error": "Code parameter is required"}), 0),
            Poll::Failed(m) if m.contains("Code parameter is required")
        ));
        match read_poll(
            200,
            &json!({"status": "approved", "token": "kt", "userId": "u", "userEmail": "k@example.com"}),
            0,
        ) {
            Poll::Done(t) => {
                assert_eq!(t.access_token, "kt");
                assert_eq!(t.email.as_deref(), Some("k@example.com"));
                assert_eq!(t.refresh_token, None);
                assert_eq!(t.expires_at_ms, None);
            }
            other => panic!("{other:?}"),
        }
    }
}
