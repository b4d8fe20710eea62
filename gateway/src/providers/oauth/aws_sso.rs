//! AWS SSO OIDC device sign-in, as Kiro's AWS Builder ID login does it: register a public client, start a device authorization, poll `CreateToken`, and later refresh with the same registered client.
//!
//! Facts: docs/oauth/kiro-kilo-cline-iflow.md §1.2 (botocore's `sso-oidc`
//! model): camelCase JSON bodies, no SigV4, errors as
//! `{"error": "<code>", "error_description": "..."}` with the RFC 8628 codes.
//! A refresh token only works with the client it was issued to, so the
//! client's id and secret live in the account's token set.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::device::{DeviceStart, Poll, read_poll};
use super::token::{TokenError, post_json, read_answer};
use super::{OAuthDef, TokenSet, oauth_error};

/// The name Kiro's IDE registers its client under.
const CLIENT_NAME: &str = "Kiro IDE";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The region of the Builder ID issuer when its URL names none.
const DEFAULT_REGION: &str = "us-east-1";

/// `TokenSet::extra` key: the registered client's id.
pub const CLIENT_ID: &str = "aws_client_id";
/// `TokenSet::extra` key: the registered client's secret.
pub const CLIENT_SECRET: &str = "aws_client_secret";
/// `TokenSet::extra` key: the OIDC region the client is registered in.
pub const REGION: &str = "aws_region";

/// The region of an `oidc.{region}.amazonaws.com` URL (also when the test
/// override put the host into the path).
pub fn region_of(url: &str) -> Option<&str> {
    let rest = url.split("oidc.").nth(1)?;
    let (region, _) = rest.split_once(".amazonaws.com")?;
    (!region.is_empty() && !region.contains('/')).then_some(region)
}

/// `url` moved to the OIDC host of `region`: a client registered in one
/// region is unknown in the others.
fn in_region(url: &str, region: Option<&str>) -> String {
    match (region_of(url), region) {
        (Some(from), Some(to)) if from != to => {
            url.replacen(&format!("oidc.{from}."), &format!("oidc.{to}."), 1)
        }
        _ => url.to_string(),
    }
}

fn text(body: &Value, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// "the {what} answered {status}: {detail}" from an AWS error body.
fn refusal(what: &str, status: u16, body: &Value) -> String {
    let (code, description) = oauth_error(body).unwrap_or_default();
    let detail = match (code.is_empty(), description.is_empty()) {
        (true, true) => "no usable answer".to_string(),
        (false, true) => code,
        (true, false) => description,
        (false, false) => format!("{code}: {description}"),
    };
    format!("AWS {what} answered {status}: {detail}")
}

/// Registers a client, then asks for a device code with it. The client
/// rides along in [`DeviceStart::extra`] for the polls and the account.
pub async fn start(
    http: &reqwest::Client,
    def: &OAuthDef,
    device_url: &str,
) -> Result<DeviceStart, String> {
    let Some(register_url) = &def.register_url else {
        return Err("the catalog names no AWS client registration URL".into());
    };
    let Some(start_url) = &def.start_url else {
        return Err("the catalog names no AWS start URL".into());
    };
    let registration = json!({
        "clientName": CLIENT_NAME,
        "clientType": "public",
        "scopes": def.scopes,
        "grantTypes": [DEVICE_GRANT, "refresh_token"],
    });
    let (status, body) = post_json(http, def, register_url, &registration).await?;
    let client = read_registration(status, &body)?;
    let request = json!({
        "clientId": client.0,
        "clientSecret": client.1,
        "startUrl": start_url,
    });
    let (status, body) = post_json(http, def, device_url, &request).await?;
    let region = region_of(device_url).unwrap_or(DEFAULT_REGION).to_string();
    read_start(status, &body, client, region)
}

/// The registered client's id and secret.
fn read_registration(status: u16, body: &Value) -> Result<(String, String), String> {
    match (status, text(body, "clientId"), text(body, "clientSecret")) {
        (200..=299, Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(refusal("client registration", status, body)),
    }
}

/// Reads `StartDeviceAuthorization`'s answer.
fn read_start(
    status: u16,
    body: &Value,
    (client_id, client_secret): (String, String),
    region: String,
) -> Result<DeviceStart, String> {
    let number = |name: &str| body.get(name).and_then(Value::as_u64);
    match (status, text(body, "deviceCode"), text(body, "userCode")) {
        (200..=299, Some(device_code), Some(user_code)) => Ok(DeviceStart {
            device_code,
            user_code,
            verification_uri: text(body, "verificationUri").unwrap_or_default(),
            verification_uri_complete: text(body, "verificationUriComplete"),
            expires_in_secs: number("expiresIn").unwrap_or(600),
            // Kiro's clients poll every 5 s when AWS names no interval.
            interval_secs: number("interval").unwrap_or(5).max(1),
            extra: BTreeMap::from([
                (CLIENT_ID.to_string(), client_id),
                (CLIENT_SECRET.to_string(), client_secret),
                (REGION.to_string(), region),
            ]),
        }),
        _ => Err(refusal("device authorization", status, body)),
    }
}

/// Polls `CreateToken` once. AWS's error codes are RFC 8628's, so the
/// answer reads like any device poll; the tokens keep the client.
pub async fn poll(
    http: &reqwest::Client,
    def: &OAuthDef,
    start: &DeviceStart,
    interval_secs: u64,
    now_ms: i64,
) -> Poll {
    let (Some(client_id), Some(client_secret)) =
        (start.extra.get(CLIENT_ID), start.extra.get(CLIENT_SECRET))
    else {
        return Poll::Failed("the sign-in lost its registered AWS client; start again".into());
    };
    let request = json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "deviceCode": start.device_code,
        "grantType": DEVICE_GRANT,
    });
    let url = in_region(&def.token_url, start.extra.get(REGION).map(String::as_str));
    match post_json(http, def, &url, &request).await {
        Ok((status, body)) => {
            let step = def.device_dialect.slow_down_step_secs();
            match read_poll(status, &body, interval_secs, step, now_ms) {
                Poll::Done(mut tokens) => {
                    tokens.extra.extend(start.extra.clone());
                    Poll::Done(tokens)
                }
                other => other,
            }
        }
        // A network blip is not a verdict: poll again.
        Err(e) => {
            tracing::debug!(error = %e, "AWS device poll failed; polling again");
            Poll::Pending
        }
    }
}

/// Renews an access token with the client the login registered.
pub async fn refresh(
    http: &reqwest::Client,
    def: &OAuthDef,
    refresh_token: &str,
    current: &TokenSet,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    let (Some(client_id), Some(client_secret)) = (
        current.extra.get(CLIENT_ID),
        current.extra.get(CLIENT_SECRET),
    ) else {
        return Err(TokenError {
            permanent: true,
            message: "the account keeps no registered AWS client to refresh with; sign in again"
                .into(),
        });
    };
    let request = json!({
        "clientId": client_id,
        "clientSecret": client_secret,
        "refreshToken": refresh_token,
        "grantType": "refresh_token",
    });
    let url = in_region(
        &def.token_url,
        current.extra.get(REGION).map(String::as_str),
    );
    let (status, body) = post_json(http, def, &url, &request)
        .await
        .map_err(TokenError::transient)?;
    read_answer(status, &body, Some(current), now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_region_in_real_and_redirected_urls() {
        assert_eq!(
            region_of("https://oidc.us-east-1.amazonaws.com/token"),
            Some("us-east-1")
        );
        assert_eq!(
            region_of("http://127.0.0.1:9/oidc.eu-west-1.amazonaws.com/token"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("https://example.com/token"), None);
        assert_eq!(
            in_region(
                "http://127.0.0.1:9/oidc.us-east-1.amazonaws.com/token",
                Some("eu-central-1")
            ),
            "http://127.0.0.1:9/oidc.eu-central-1.amazonaws.com/token"
        );
        assert_eq!(
            in_region("https://oidc.us-east-1.amazonaws.com/token", None),
            "https://oidc.us-east-1.amazonaws.com/token"
        );
    }

    #[test]
    fn reads_a_camel_case_device_start_and_keeps_the_client() {
        let started = read_start(
            200,
            &json!({"deviceCode": "dc", "userCode": "ABCD-EFGH",
                "verificationUri": "https://view.awsapps.com/start/#/device",
                "verificationUriComplete": "https://view.awsapps.com/start/#/device?user_code=ABCD-EFGH",
                "expiresIn": 600, "interval": 5}),
            ("cid".into(), "secret".into()),
            "us-east-1".into(),
        )
        .unwrap();
        assert_eq!(started.device_code, "dc");
        assert_eq!(started.user_code, "ABCD-EFGH");
        assert_eq!((started.interval_secs, started.expires_in_secs), (5, 600));
        assert_eq!(started.extra[CLIENT_ID], "cid");
        assert_eq!(started.extra[CLIENT_SECRET], "secret");
        assert_eq!(started.extra[REGION], "us-east-1");
    }

    #[test]
    fn aws_refusals_name_the_step_and_the_code() {
        let failed = read_registration(
            400,
            &json!({"error": "invalid_client_metadata", "error_description": "clientType must be public"}),
        )
        .unwrap_err();
        assert!(
            failed.contains("client registration") && failed.contains("invalid_client_metadata"),
            "{failed}"
        );
        let failed = read_start(
            401,
            &json!({"error": "invalid_client"}),
            ("a".into(), "b".into()),
            "us-east-1".into(),
        )
        .unwrap_err();
        assert!(failed.contains("401: invalid_client"), "{failed}");
    }

    #[test]
    fn aws_poll_answers_read_as_device_polls() {
        let step = super::super::DeviceDialect::AwsSso.slow_down_step_secs();
        assert_eq!(
            read_poll(400, &json!({"error": "authorization_pending"}), 5, step, 0),
            Poll::Pending
        );
        assert_eq!(
            read_poll(400, &json!({"error": "slow_down"}), 5, step, 0),
            Poll::SlowDown(10)
        );
        match read_poll(
            200,
            &json!({"accessToken": "aoa", "refreshToken": "aor", "expiresIn": 3600, "tokenType": "Bearer"}),
            5,
            step,
            1_000,
        ) {
            Poll::Done(t) => {
                assert_eq!(t.access_token, "aoa");
                assert_eq!(t.refresh_token.as_deref(), Some("aor"));
                assert_eq!(t.expires_at_ms, Some(1_000 + 3_600_000));
            }
            other => panic!("{other:?}"),
        }
    }
}
