//! Reading the claims of an OpenID Connect ID token (a JWT): the account's email and, for ChatGPT, its account id.
//!
//! The signature is not checked: the token came straight from the issuer's
//! token endpoint over TLS, and only names the account for the user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The payload (middle part) of a JWT as JSON, or `None` when it is not one.
pub fn claims(jwt: &str) -> Option<Value> {
    let mut parts = jwt.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    // Some issuers pad; the URL-safe alphabet is the JWT one.
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The account's email: `email`, else OpenAI's namespaced profile claim.
pub fn email(claims: &Value) -> Option<String> {
    claims
        .get("email")
        .or_else(|| claims.pointer("/https:~1~1api.openai.com~1profile/email"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
}

/// The ChatGPT workspace the Codex backend bills (`chatgpt-account-id`).
pub fn chatgpt_account_id(claims: &Value) -> Option<String> {
    claims
        .pointer("/https:~1~1api.openai.com~1auth/chatgpt_account_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The ChatGPT plan (`plus`, `pro`, `team`...), shown beside the account.
pub fn chatgpt_plan(claims: &Value) -> Option<String> {
    claims
        .pointer("/https:~1~1api.openai.com~1auth/chatgpt_plan_type")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(payload: &Value) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", part(&json!({"alg": "RS256"})), part(payload))
    }

    #[test]
    fn reads_email_and_the_chatgpt_claims() {
        let token = jwt(&json!({
            "email": "dev@example.com",
            "https://api.openai.com/auth": {"chatgpt_account_id": "acc-1", "chatgpt_plan_type": "pro"}
        }));
        let c = claims(&token).unwrap();
        assert_eq!(email(&c).as_deref(), Some("dev@example.com"));
        assert_eq!(chatgpt_account_id(&c).as_deref(), Some("acc-1"));
        assert_eq!(chatgpt_plan(&c).as_deref(), Some("pro"));
    }

    #[test]
    fn falls_back_to_the_profile_claim_and_refuses_non_jwts() {
        let token = jwt(&json!({"https://api.openai.com/profile": {"email": "p@example.com"}}));
        assert_eq!(
            email(&claims(&token).unwrap()).as_deref(),
            Some("p@example.com")
        );
        assert!(claims("not-a-jwt").is_none());
        assert!(claims("a.!!!.c").is_none());
    }
}
