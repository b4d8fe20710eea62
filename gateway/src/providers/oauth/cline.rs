//! Cline's account tokens: the WorkOS tokens of a device sign-in registered with Cline's API, which answers with Cline's own tokens in its `{success, data}` envelope, and their refresh at the same API.
//!
//! Facts: docs/oauth/kiro-kilo-cline-iflow.md §3.2 and §3.4 (Cline SDK
//! `sdk/packages/core/src/auth/cline.ts`): camelCase JSON both ways,
//! `expiresAt` as an ISO time, `userInfo.email` naming the account.

use serde_json::{Value, json};

use super::token::{TokenError, post_json, read_answer};
use super::{OAuthDef, TokenSet};

/// Trades the WorkOS tokens of a finished device sign-in for Cline's.
pub async fn register(
    http: &reqwest::Client,
    def: &OAuthDef,
    workos: TokenSet,
) -> Result<TokenSet, TokenError> {
    let Some(url) = &def.exchange_url else {
        return Err(TokenError::transient(
            "the catalog names no Cline registration URL".into(),
        ));
    };
    let Some(refresh_token) = &workos.refresh_token else {
        return Err(TokenError {
            permanent: true,
            message: "WorkOS gave no refresh token; sign in again".into(),
        });
    };
    let request = json!({"accessToken": workos.access_token, "refreshToken": refresh_token});
    let (status, body) = post_json(http, def, url, &request)
        .await
        .map_err(TokenError::transient)?;
    read_envelope(status, &body, &workos, workos.obtained_at_ms)
}

/// Renews Cline's access token at its refresh endpoint.
pub async fn refresh(
    http: &reqwest::Client,
    def: &OAuthDef,
    refresh_token: &str,
    current: &TokenSet,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    let url = def.refresh_url.as_deref().unwrap_or(&def.token_url);
    let request = json!({"refreshToken": refresh_token, "grantType": "refresh_token"});
    let (status, body) = post_json(http, def, url, &request)
        .await
        .map_err(TokenError::transient)?;
    read_envelope(status, &body, current, now_ms)
}

/// Reads Cline's envelope; `success: false` carries Cline's own message.
/// `previous` keeps what the answer leaves out.
fn read_envelope(
    status: u16,
    body: &Value,
    previous: &TokenSet,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    if body.get("success") == Some(&Value::Bool(false)) {
        let message = ["message", "error"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .unwrap_or("no reason given");
        return Err(TokenError {
            // Cline refuses dead tokens with 401/403; other refusals may pass.
            permanent: matches!(status, 400 | 401 | 403),
            message: format!("Cline refused the tokens ({status}): {message}"),
        });
    }
    read_answer(status, body, Some(previous), now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn workos() -> TokenSet {
        TokenSet {
            access_token: "workos_at".into(),
            refresh_token: Some("workos_rt".into()),
            expires_at_ms: None,
            email: None,
            account_id: None,
            api_base: None,
            plan: None,
            obtained_at_ms: 5,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn reads_the_envelope_into_clines_tokens() {
        let body = json!({"success": true, "data": {"accessToken": "cline-at", "refreshToken": "cline-rt",
            "tokenType": "Bearer", "expiresAt": "2026-08-22T12:00:00.000Z",
            "userInfo": {"email": "cl@example.com", "clineUserId": "u1"}}});
        let t = read_envelope(200, &body, &workos(), 5).unwrap();
        assert_eq!(t.access_token, "cline-at");
        assert_eq!(t.refresh_token.as_deref(), Some("cline-rt"));
        assert_eq!(t.email.as_deref(), Some("cl@example.com"));
        assert_eq!(t.expires_at_ms, Some(1_787_400_000_000));
    }

    #[test]
    fn a_refusal_says_why() {
        let refused = read_envelope(
            401,
            &json!({"success": false, "error": "invalid_token", "message": "The WorkOS access token is invalid or expired"}),
            &workos(),
            5,
        )
        .unwrap_err();
        assert!(refused.permanent);
        assert!(refused.message.contains("invalid or expired"), "{refused}");
        let dead = read_envelope(
            400,
            &json!({"error": "invalid_grant", "error_description": "Refresh token is revoked"}),
            &workos(),
            5,
        )
        .unwrap_err();
        assert!(dead.permanent, "{dead}");
    }
}
