//! RFC 8628 device authorization: asking for a user code, and reading each poll answer (pending, slow down, denied, expired, or tokens) in the shapes GitHub, Kimi, Qwen and WorkOS use; Kilo's and AWS SSO's variants are dispatched to their own modules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::token::{TokenError, post_params, read_answer};
use super::{DeviceDialect, OAuthDef, TokenSet, aws_sso, kilo, oauth_error};

/// The grant type of a device-code poll.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.5: a `slow_down` adds five seconds to the interval.
pub const SLOW_DOWN_STEP_SECS: u64 = 5;

/// What the user is shown, and what the gateway polls with.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStart {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in_secs: u64,
    pub interval_secs: u64,
    /// What the polls need beyond the device code, and the account keeps
    /// (AWS SSO: the client registered for this login, and its region).
    pub extra: BTreeMap<String, String>,
}

/// One poll's verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Pending,
    /// Poll less often: the new interval.
    SlowDown(u64),
    Denied(String),
    Expired,
    Failed(String),
    Done(Box<TokenSet>),
}

/// Asks for a device code (with a PKCE challenge when the provider wants one).
pub async fn start(
    http: &reqwest::Client,
    def: &OAuthDef,
    challenge: Option<&str>,
) -> Result<DeviceStart, String> {
    let Some(url) = &def.device_url else {
        return Err("the catalog names no device authorization URL".into());
    };
    match def.device_dialect {
        DeviceDialect::Rfc8628 | DeviceDialect::Workos => {}
        DeviceDialect::Kilo => return kilo::start(http, def, url).await,
        DeviceDialect::AwsSso => return aws_sso::start(http, def, url).await,
    }
    let mut params = vec![("client_id", def.client_id())];
    if !def.scopes.is_empty() {
        params.push(("scope", def.scope()));
    }
    if let Some(challenge) = challenge {
        params.push(("code_challenge", challenge.to_string()));
        params.push(("code_challenge_method", "S256".to_string()));
    }
    let (status, body) = post_params(http, def, url, def.token_body, &params).await?;
    read_start(status, &body)
}

/// Reads a device authorization answer.
pub fn read_start(status: u16, body: &Value) -> Result<DeviceStart, String> {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    // Some issuers send numbers as strings.
    let number = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    };
    match (status, text("device_code"), text("user_code")) {
        (200..=299, Some(device_code), Some(user_code)) => Ok(DeviceStart {
            device_code,
            user_code,
            verification_uri: text("verification_uri")
                .or_else(|| text("verification_url"))
                .unwrap_or_default(),
            verification_uri_complete: text("verification_uri_complete"),
            expires_in_secs: number("expires_in").unwrap_or(900),
            interval_secs: number("interval").unwrap_or(5).max(1),
            extra: BTreeMap::new(),
        }),
        _ => {
            let (code, description) = oauth_error(body).unwrap_or_default();
            Err(format!(
                "the device authorization endpoint answered {status}: {}",
                if description.is_empty() {
                    code
                } else {
                    description
                }
            ))
        }
    }
}

/// Polls once.
pub async fn poll(
    http: &reqwest::Client,
    def: &OAuthDef,
    start: &DeviceStart,
    verifier: Option<&str>,
    interval_secs: u64,
    now_ms: i64,
) -> Poll {
    match def.device_dialect {
        DeviceDialect::Rfc8628 | DeviceDialect::Workos => {}
        DeviceDialect::Kilo => return kilo::poll(http, def, start, now_ms).await,
        DeviceDialect::AwsSso => {
            return aws_sso::poll(http, def, start, interval_secs, now_ms).await;
        }
    }
    let mut params = vec![
        ("grant_type", DEVICE_GRANT.to_string()),
        ("device_code", start.device_code.clone()),
        ("client_id", def.client_id()),
    ];
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier.to_string()));
    }
    if let Some(secret) = def.client_secret() {
        params.push(("client_secret", secret));
    }
    match post_params(http, def, &def.token_url, def.token_body, &params).await {
        Ok((status, body)) => read_poll(
            status,
            &body,
            interval_secs,
            def.device_dialect.slow_down_step_secs(),
            now_ms,
        ),
        // A network blip is not a verdict: poll again.
        Err(e) => {
            tracing::debug!(error = %e, "device poll failed; polling again");
            Poll::Pending
        }
    }
}

/// Reads one poll answer. GitHub answers errors with HTTP 200, Kimi and
/// Qwen with 400, Qwen's `slow_down` with 429: the `error` field decides.
/// A `slow_down` that names no longer interval adds `slow_down_step` s.
pub fn read_poll(
    status: u16,
    body: &Value,
    interval_secs: u64,
    slow_down_step: u64,
    now_ms: i64,
) -> Poll {
    if let Some((code, description)) = oauth_error(body) {
        return match code.as_str() {
            "authorization_pending" => Poll::Pending,
            "slow_down" => {
                let asked = body.get("interval").and_then(Value::as_u64);
                Poll::SlowDown(
                    asked
                        .filter(|&i| i > interval_secs)
                        .unwrap_or(interval_secs + slow_down_step),
                )
            }
            "expired_token" => Poll::Expired,
            "access_denied" => Poll::Denied(if description.is_empty() {
                "the sign-in was refused".into()
            } else {
                description
            }),
            _ => Poll::Failed(format!(
                "{code}{}",
                if description.is_empty() {
                    String::new()
                } else {
                    format!(": {description}")
                }
            )),
        };
    }
    match read_answer(status, body, None, now_ms) {
        Ok(tokens) => Poll::Done(Box::new(tokens)),
        Err(TokenError { message, .. }) => Poll::Failed(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_github_answers_that_all_come_with_200() {
        assert_eq!(
            read_poll(
                200,
                &json!({"error": "authorization_pending"}),
                5,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::Pending
        );
        assert_eq!(
            read_poll(
                200,
                &json!({"error": "slow_down", "interval": 10}),
                5,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::SlowDown(10)
        );
        assert_eq!(
            read_poll(
                200,
                &json!({"error": "slow_down"}),
                5,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::SlowDown(10)
        );
        assert_eq!(
            read_poll(
                200,
                &json!({"error": "expired_token"}),
                5,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::Expired
        );
        assert!(matches!(
            read_poll(
                200,
                &json!({"error": "access_denied"}),
                5,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::Denied(_)
        ));
        match read_poll(
            200,
            &json!({"access_token": "gho_x", "token_type": "bearer"}),
            5,
            SLOW_DOWN_STEP_SECS,
            0,
        ) {
            Poll::Done(t) => assert_eq!(t.access_token, "gho_x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_qwen_and_kimi_statuses() {
        assert_eq!(
            read_poll(
                400,
                &json!({"error": "authorization_pending"}),
                2,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::Pending
        );
        assert_eq!(
            read_poll(
                429,
                &json!({"error": "slow_down"}),
                2,
                SLOW_DOWN_STEP_SECS,
                0
            ),
            Poll::SlowDown(7)
        );
        assert!(matches!(
            read_poll(400, &json!({"error": "invalid_client", "error_description": "bad"}), 2, SLOW_DOWN_STEP_SECS, 0),
            Poll::Failed(m) if m == "invalid_client: bad"
        ));
    }

    #[test]
    fn workos_slows_down_by_one_second() {
        let step = DeviceDialect::Workos.slow_down_step_secs();
        assert_eq!(
            read_poll(400, &json!({"error": "slow_down"}), 5, step, 0),
            Poll::SlowDown(6)
        );
    }

    #[test]
    fn reads_a_start_with_string_numbers() {
        let s = read_start(
            200,
            &json!({"device_code": "d", "user_code": "U-1", "verification_uri": "https://x/device", "interval": "5", "expires_in": 600}),
        )
        .unwrap();
        assert_eq!((s.interval_secs, s.expires_in_secs), (5, 600));
        assert!(read_start(404, &json!({"error": "not_found"})).is_err());
    }
}
