//! Calls to a provider's token endpoint: exchanging an authorization code, refreshing (dispatching to AWS SSO's and Cline's own refresh calls), Copilot's token exchange, and reading any provider's token answer into a [`TokenSet`].

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value, json};

use super::{BodyEncoding, OAuthDef, RefreshKind, TokenSet, id_token, oauth_error};
use crate::routing::classify::parse_rfc3339_ms;

/// How long one token call may take.
const TOKEN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A token call that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    /// The grant is dead (revoked, expired, reused): only a new login helps.
    /// Otherwise (network, 5xx, 429) a later try may work.
    pub permanent: bool,
    pub message: String,
}

impl TokenError {
    pub(super) fn transient(message: String) -> TokenError {
        TokenError {
            permanent: false,
            message,
        }
    }
}

/// Posts `params` to a token or device endpoint the way the provider
/// wants them; the answer's status and JSON (non-JSON text as `{"text"}`).
pub(super) async fn post_params(
    http: &reqwest::Client,
    def: &OAuthDef,
    url: &str,
    encoding: BodyEncoding,
    params: &[(&str, String)],
) -> Result<(u16, Value), String> {
    let request = match encoding {
        BodyEncoding::Form => token_request(http, def, reqwest::Method::POST, url).form(params),
        BodyEncoding::Json => {
            let body: Map<String, Value> = params
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            return post_json(http, def, url, &Value::Object(body)).await;
        }
    };
    send(request, url).await
}

/// Posts a JSON body (for bodies that are not flat strings: AWS's
/// `RegisterClient` takes arrays) to a token-side endpoint.
pub(super) async fn post_json(
    http: &reqwest::Client,
    def: &OAuthDef,
    url: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let request = token_request(http, def, reqwest::Method::POST, url)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    send(request, url).await
}

/// A call with what every token-side call carries: JSON accepted, the
/// provider's token headers, a time limit.
pub(super) fn token_request(
    http: &reqwest::Client,
    def: &OAuthDef,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    let mut request = http
        .request(method, url)
        .header(ACCEPT, "application/json")
        .timeout(TOKEN_CALL_TIMEOUT);
    for (name, value) in &def.token_headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request
}

/// Sends a token-side call; its status and JSON.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(u16, Value), String> {
    let response = request.send().await.map_err(|e| {
        format!(
            "cannot reach {url}: {}",
            super::super::upstream::error_chain(&e)
        )
    })?;
    Ok(read_json(response).await)
}

/// A response's status and JSON body (non-JSON text as `{"text": ...}`).
async fn read_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, body)
}

async fn post_token(
    http: &reqwest::Client,
    def: &OAuthDef,
    url: &str,
    encoding: BodyEncoding,
    params: &[(&str, String)],
) -> Result<(u16, Value), TokenError> {
    post_params(http, def, url, encoding, params)
        .await
        .map_err(TokenError::transient)
}

/// Exchanges an authorization code (PKCE when `verifier` is given).
pub async fn exchange_code(
    http: &reqwest::Client,
    def: &OAuthDef,
    code: &str,
    verifier: Option<&str>,
    redirect_uri: &str,
    state: &str,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    let mut params = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("client_id", def.client_id()),
    ];
    if let Some(verifier) = verifier {
        params.push(("code_verifier", verifier.to_string()));
    }
    if let Some(secret) = def.client_secret() {
        params.push(("client_secret", secret));
    }
    // Claude's JSON exchange carries the state; form-encoded issuers do not.
    if def.token_body == BodyEncoding::Json {
        params.push(("state", state.to_string()));
    }
    let (status, body) = post_token(http, def, &def.token_url, def.token_body, &params).await?;
    let tokens = read_answer(status, &body, None, now_ms)?;
    with_email(http, def, tokens).await
}

/// Renews an account's access token.
pub async fn refresh(
    http: &reqwest::Client,
    def: &OAuthDef,
    current: &TokenSet,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    let Some(refresh_token) = current.refresh_token.clone() else {
        return Err(TokenError {
            permanent: true,
            message: "the account has no refresh token; sign in again".into(),
        });
    };
    match def.refresh {
        RefreshKind::CopilotExchange => {
            return copilot_exchange(http, def, &refresh_token, current, now_ms).await;
        }
        RefreshKind::AwsSso => {
            return super::aws_sso::refresh(http, def, &refresh_token, current, now_ms).await;
        }
        RefreshKind::Cline => {
            return super::cline::refresh(http, def, &refresh_token, current, now_ms).await;
        }
        RefreshKind::RefreshToken | RefreshKind::None => {}
    }
    let mut params = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token),
        ("client_id", def.client_id()),
    ];
    if let Some(secret) = def.client_secret() {
        params.push(("client_secret", secret));
    }
    for (name, value) in &def.refresh_params {
        params.push((name.as_str(), value.clone()));
    }
    let encoding = def.refresh_body.unwrap_or(def.token_body);
    let (status, body) = post_token(http, def, &def.token_url, encoding, &params).await?;
    read_answer(status, &body, Some(current), now_ms)
}

/// Copilot: trades the GitHub OAuth token for a Copilot API token.
pub async fn copilot_exchange(
    http: &reqwest::Client,
    def: &OAuthDef,
    github_token: &str,
    current: &TokenSet,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    let Some(url) = &def.exchange_url else {
        return Err(TokenError::transient(
            "the catalog names no Copilot token URL".into(),
        ));
    };
    let mut request = http
        .get(url)
        .header(AUTHORIZATION, format!("token {github_token}"))
        .header(ACCEPT, "application/json")
        .timeout(TOKEN_CALL_TIMEOUT);
    for (name, value) in &def.token_headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|e| {
        TokenError::transient(format!(
            "cannot reach {url}: {}",
            super::super::upstream::error_chain(&e)
        ))
    })?;
    let (status, body) = read_json(response).await;
    let token = body.get("token").and_then(Value::as_str);
    let Some(token) = token.filter(|_| status == 200) else {
        let message = body
            .pointer("/error_details/message")
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no Copilot token in the answer");
        return Err(TokenError {
            // 401: the GitHub token is dead; 403/404: no Copilot seat. Both
            // need the user; a 429 or 5xx passes.
            permanent: matches!(status, 401 | 403 | 404),
            message: format!("GitHub refused a Copilot token ({status}): {message}"),
        });
    };
    // Copilot asks clients to renew after `refresh_in`; `expires_at` is the
    // hard end. Renewing at the earlier of the two keeps a margin.
    let expires_at_ms = match (
        body.get("refresh_in").and_then(Value::as_i64),
        body.get("expires_at").and_then(Value::as_i64),
    ) {
        (Some(refresh_in), _) => Some(now_ms + (refresh_in + 60) * 1000),
        (None, Some(at)) => Some(at * 1000),
        (None, None) => Some(now_ms + 25 * 60 * 1000),
    };
    Ok(TokenSet {
        access_token: token.to_string(),
        refresh_token: Some(github_token.to_string()),
        expires_at_ms,
        api_base: body
            .pointer("/endpoints/api")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| current.api_base.clone()),
        plan: body
            .get("sku")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| current.plan.clone()),
        obtained_at_ms: now_ms,
        ..current.clone()
    })
}

/// Reads a token answer. `previous` keeps what a refresh answer leaves
/// out (most issuers do not repeat the refresh token or the email).
pub fn read_answer(
    status: u16,
    body: &Value,
    previous: Option<&TokenSet>,
    now_ms: i64,
) -> Result<TokenSet, TokenError> {
    // Cline wraps its tokens in `{success, data}`; Kilo names it `token`.
    let data = body.get("data").filter(|d| d.is_object()).unwrap_or(body);
    let access = data
        .get("access_token")
        .or_else(|| data.get("accessToken"))
        .or_else(|| data.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let (Some(access), true) = (access, (200..300).contains(&status)) else {
        let (code, description) = oauth_error(body).unwrap_or_default();
        let detail = match (code.is_empty(), description.is_empty()) {
            (false, false) => format!("{code}: {description}"),
            (false, true) => code.clone(),
            (true, false) => description.clone(),
            (true, true) => body
                .get("text")
                .and_then(Value::as_str)
                .map(|t| t.chars().take(200).collect())
                .unwrap_or_else(|| "no access token in the answer".into()),
        };
        return Err(TokenError {
            permanent: is_dead_grant(status, &code, &description),
            message: format!("the token endpoint answered {status}: {detail}"),
        });
    };
    let claims = data
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(id_token::claims);
    let expires_at_ms = data
        .get("expires_in")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        .map(|secs| now_ms + secs * 1000)
        .or_else(|| {
            // Cline: an ISO time; AWS: `expiresIn` seconds.
            data.get("expiresIn")
                .and_then(Value::as_i64)
                .map(|secs| now_ms + secs * 1000)
        })
        .or_else(|| {
            data.get("expiresAt")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_ms)
        });
    let email = claims.as_ref().and_then(id_token::email).or_else(|| {
        string_at(
            data,
            &["/account/email_address", "/userInfo/email", "/userEmail"],
        )
    });
    let previous_email = previous.and_then(|p| p.email.clone());
    Ok(TokenSet {
        access_token: access.to_string(),
        refresh_token: string_at(data, &["/refresh_token", "/refreshToken"])
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at_ms,
        email: email.or(previous_email),
        account_id: claims
            .as_ref()
            .and_then(id_token::chatgpt_account_id)
            .or_else(|| previous.and_then(|p| p.account_id.clone())),
        api_base: string_at(data, &["/resource_url"])
            .or_else(|| previous.and_then(|p| p.api_base.clone())),
        plan: claims
            .as_ref()
            .and_then(id_token::chatgpt_plan)
            .or_else(|| previous.and_then(|p| p.plan.clone())),
        obtained_at_ms: now_ms,
        extra: previous.map(|p| p.extra.clone()).unwrap_or_default(),
    })
}

fn string_at(value: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .find_map(|p| value.pointer(p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Whether a token endpoint's refusal means the grant itself is dead.
fn is_dead_grant(status: u16, code: &str, description: &str) -> bool {
    const DEAD: [&str; 8] = [
        "invalid_grant",
        "refresh_token_expired",
        "refresh_token_reused",
        "refresh_token_invalidated",
        "invalid_token",
        "unauthorized_client",
        "invalid_client",
        "access_denied",
    ];
    if DEAD.contains(&code) {
        return true;
    }
    let lower = description.to_ascii_lowercase();
    matches!(status, 400 | 401 | 403)
        && (code.is_empty() || code == "unauthorized")
        && ["revoked", "expired", "invalid"]
            .iter()
            .any(|w| lower.contains(w))
        || status == 401
}

/// Names the account when the token answer did not: the provider's
/// userinfo endpoint.
pub async fn with_email(
    http: &reqwest::Client,
    def: &OAuthDef,
    mut tokens: TokenSet,
) -> Result<TokenSet, TokenError> {
    if tokens.email.is_some() {
        return Ok(tokens);
    }
    let Some(url) = &def.userinfo_url else {
        return Ok(tokens);
    };
    let answer = http
        .get(url)
        .bearer_auth(&tokens.access_token)
        .header(ACCEPT, "application/json")
        .timeout(TOKEN_CALL_TIMEOUT)
        .send()
        .await;
    // An account without a name still works: the email is only a label.
    if let Ok(response) = answer
        && response.status().is_success()
    {
        let (_, body) = read_json(response).await;
        tokens.email = string_at(&body, &["/email", "/user/email", "/login"]);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_codex_answer_with_its_id_token() {
        use base64::Engine;
        let claims = json!({"email": "a@example.com", "https://api.openai.com/auth": {"chatgpt_account_id": "acc-9"}});
        let part = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        let body = json!({"id_token": format!("h.{part}.s"), "access_token": "at", "refresh_token": "rt", "expires_in": 3600});
        let t = read_answer(200, &body, None, 1_000).unwrap();
        assert_eq!(t.access_token, "at");
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));
        assert_eq!(t.expires_at_ms, Some(1_000 + 3_600_000));
        assert_eq!(t.email.as_deref(), Some("a@example.com"));
        assert_eq!(t.account_id.as_deref(), Some("acc-9"));
    }

    #[test]
    fn a_refresh_answer_keeps_what_it_leaves_out() {
        let first = read_answer(
            200,
            &json!({"access_token": "a1", "refresh_token": "r1", "expires_in": 60, "account": {"email_address": "c@example.com"}}),
            None,
            0,
        )
        .unwrap();
        assert_eq!(first.email.as_deref(), Some("c@example.com"));
        let second = read_answer(
            200,
            &json!({"access_token": "a2", "expires_in": "120"}),
            Some(&first),
            10,
        )
        .unwrap();
        assert_eq!(second.refresh_token.as_deref(), Some("r1"));
        assert_eq!(second.email.as_deref(), Some("c@example.com"));
        assert_eq!(second.expires_at_ms, Some(10 + 120_000));
    }

    #[test]
    fn reads_cline_and_kilo_shapes() {
        let cline = json!({"success": true, "data": {"accessToken": "ca", "refreshToken": "cr", "expiresAt": "2026-08-22T12:00:00.000Z", "userInfo": {"email": "cl@example.com"}}});
        let t = read_answer(200, &cline, None, 0).unwrap();
        assert_eq!(
            (t.access_token.as_str(), t.email.as_deref()),
            ("ca", Some("cl@example.com"))
        );
        assert_eq!(t.expires_at_ms, Some(1_787_400_000_000));
        let kilo = json!({"status": "approved", "token": "kt", "userEmail": "k@example.com"});
        let t = read_answer(200, &kilo, None, 0).unwrap();
        assert_eq!((t.access_token.as_str(), t.expires_at_ms), ("kt", None));
    }

    #[test]
    fn dead_grants_are_permanent_and_outages_are_not() {
        let dead = read_answer(400, &json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}), None, 0).unwrap_err();
        assert!(dead.permanent, "{dead}");
        assert!(dead.message.contains("invalid_grant"), "{dead}");
        let reused = read_answer(
            401,
            &json!({"error": {"code": "refresh_token_reused", "message": "used"}}),
            None,
            0,
        )
        .unwrap_err();
        assert!(reused.permanent);
        let outage = read_answer(503, &json!({"text": "upstream down"}), None, 0).unwrap_err();
        assert!(!outage.permanent, "{outage}");
        let limited = read_answer(429, &json!({"error": "rate_limited"}), None, 0).unwrap_err();
        assert!(!limited.permanent);
    }
}
