//! OAuth logins for subscription and free-tier providers: the catalog's description of each login, the token set an account holds, and the flows that obtain and refresh it.

pub mod aws_sso;
pub mod cline;
pub mod device;
pub mod id_token;
pub mod kilo;
pub mod login;
pub mod pkce;
pub mod session;
pub mod token;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The gateway's OAuth state: live tokens, sign-ins in progress, the
/// clock both run on, and the test override of every upstream URL.
#[derive(Default)]
pub struct OAuthRuntime {
    pub sessions: session::Sessions,
    pub logins: login::Logins,
    pub clock: crate::clock::Clock,
    /// `Options::upstream_override`: also applied to URLs a provider hands
    /// out at run time (Copilot's API host, Qwen's resource URL).
    pub origin: Option<String>,
}

/// How a user signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// Authorization code with PKCE and a redirect back to the gateway (or
    /// the fixed loopback port the provider registered); the user may also
    /// paste the final URL by hand.
    Pkce,
    /// RFC 8628 device authorization: the user types a code on a web page
    /// while the gateway polls.
    Device,
}

/// Which device-authorization protocol a `device` login speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceDialect {
    /// RFC 8628 as written (GitHub, Kimi, Qwen): `slow_down` adds 5 s.
    #[default]
    Rfc8628,
    /// WorkOS (Cline): RFC 8628 form bodies, but Cline's client adds only
    /// 1 s on `slow_down`.
    Workos,
    /// Kilo's own: `POST` for a code, then `GET {token_url}/{code}` answered
    /// by status (202 pending, 200 approved, 403 denied, 410 expired).
    Kilo,
    /// AWS SSO OIDC (Kiro's Builder ID): register a public client first,
    /// then camelCase JSON device authorization and `CreateToken` polls.
    AwsSso,
}

impl DeviceDialect {
    /// How many seconds a `slow_down` adds to the poll interval.
    pub fn slow_down_step_secs(self) -> u64 {
        match self {
            DeviceDialect::Workos => 1,
            DeviceDialect::Rfc8628 | DeviceDialect::Kilo | DeviceDialect::AwsSso => {
                device::SLOW_DOWN_STEP_SECS
            }
        }
    }
}

/// How the token endpoint wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    #[default]
    Form,
    Json,
}

/// What "refreshing" an account means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshKind {
    /// The `refresh_token` grant at the token endpoint.
    #[default]
    RefreshToken,
    /// GitHub Copilot: the GitHub OAuth token never expires; the
    /// short-lived Copilot API token is fetched again with it.
    CopilotExchange,
    /// The login gives a long-lived token with nothing to refresh it with.
    None,
    /// AWS SSO OIDC `CreateToken` with `grantType: refresh_token`, signed
    /// by the client the login registered (kept in the token set's extra).
    AwsSso,
    /// Cline's own refresh endpoint (`refresh_url`): camelCase JSON in,
    /// its `{success, data}` envelope out.
    Cline,
}

/// A provider's login, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthDef {
    pub flow: Flow,
    /// The public client id the provider's own CLI ships; empty for logins
    /// that have none (Kilo) or register one per sign-in (AWS SSO).
    #[serde(default)]
    pub client_id: String,
    /// An environment variable that replaces `client_id` (for a client
    /// registered by the user, e.g. for a remote server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_env: Option<String>,
    /// Installed-app secrets (Google's CLIs embed theirs; they are not secret).
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The redirect URI the provider registered for its CLI, when it only
    /// accepts that one (Codex: `http://localhost:1455/auth/callback`).
    /// Without it the gateway's own `/callback` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// A second registered port the provider accepts when the first is busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_port: Option<u16>,
    /// The provider's own page that shows the code for manual mode (the
    /// user pastes it back); else manual mode pastes the redirect URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_redirect_uri: Option<String>,
    #[serde(default)]
    pub token_body: BodyEncoding,
    /// The refresh grant's body, when it differs from the exchange's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_body: Option<BodyEncoding>,
    #[serde(default)]
    pub refresh: RefreshKind,
    /// Send PKCE on a device flow too (Qwen).
    #[serde(default)]
    pub device_pkce: bool,
    /// The device flow's protocol, for providers that bend RFC 8628.
    #[serde(default)]
    pub device_dialect: DeviceDialect,
    /// AWS SSO OIDC: where a public client is registered before each login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_url: Option<String>,
    /// AWS SSO OIDC: the identity portal the login is for (Builder ID:
    /// `https://view.awsapps.com/start`). A value sent, not a URL called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_url: Option<String>,
    /// Where refreshes go when not to `token_url` (Cline refreshes at its
    /// own API, not at WorkOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// Extra query parameters of the authorize URL.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Extra parameters of the refresh grant (Claude asks for its scopes).
    #[serde(default)]
    pub refresh_params: BTreeMap<String, String>,
    /// Headers every token-endpoint call carries (Kimi's device headers).
    #[serde(default)]
    pub token_headers: BTreeMap<String, String>,
    /// Where to read the account's email when neither the ID token nor the
    /// token answer names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// The URL that trades the login's token for the provider's own:
    /// Copilot's API token, Cline's registration of WorkOS tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_url: Option<String>,
}

impl OAuthDef {
    /// The client id to use: the env var's when set, else the public one.
    pub fn client_id(&self) -> String {
        env_or(self.client_id_env.as_deref(), &self.client_id)
    }

    pub fn client_secret(&self) -> Option<String> {
        let default = self.client_secret.clone().unwrap_or_default();
        Some(env_or(self.client_secret_env.as_deref(), &default)).filter(|s| !s.is_empty())
    }

    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// Every URL of the login, for the catalog's https check and for the
    /// test override.
    pub fn urls_mut(&mut self) -> impl Iterator<Item = &mut String> {
        [
            self.authorize_url.as_mut(),
            Some(&mut self.token_url),
            self.device_url.as_mut(),
            self.userinfo_url.as_mut(),
            self.exchange_url.as_mut(),
            self.register_url.as_mut(),
            self.refresh_url.as_mut(),
        ]
        .into_iter()
        .flatten()
    }
}

fn env_or(var: Option<&str>, default: &str) -> String {
    var.and_then(|v| std::env::var(v).ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// What an OAuth account holds, sealed in the store like an API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The token requests carry (for Copilot: the Copilot API token).
    pub access_token: String,
    /// What renews `access_token` (for Copilot: the GitHub OAuth token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When `access_token` stops working (ms since the epoch); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Codex: the ChatGPT account id (`chatgpt-account-id` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Where this account's API lives when the provider says so per account
    /// (Copilot `endpoints.api`, Qwen `resource_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    /// The plan the provider reported (ChatGPT `pro`, Copilot `sku`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// When this set was obtained (ms): a newer set from a fresh login
    /// replaces a live one, an older one never does.
    pub obtained_at_ms: i64,
    /// What else a provider needs per account (Google's Code Assist
    /// project, Kiro's profile ARN and registered client, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// How long before expiry a token is refreshed (Claude Code and Codex use
/// the same five minutes).
pub const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;

impl TokenSet {
    /// Whether the access token should be renewed before use at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.expires_at_ms
            .is_some_and(|at| now_ms + REFRESH_MARGIN_MS >= at)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Option<TokenSet> {
        serde_json::from_str(text).ok()
    }
}

/// A provider's token-endpoint error, in any of the shapes providers use:
/// `{"error":"code","error_description":"text"}`,
/// `{"error":{"code":"code","message":"text"}}`, AWS's `{"error":"...Exception"}`.
pub fn oauth_error(body: &Value) -> Option<(String, String)> {
    let error = body.get("error")?;
    let (code, message) = match error {
        Value::String(code) => (
            code.clone(),
            body.get("error_description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        Value::Object(o) => (
            o.get("code")
                .or_else(|| o.get("type"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            o.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        _ => return None,
    };
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_is_due_five_minutes_before_it_expires() {
        let t = TokenSet {
            access_token: "a".into(),
            refresh_token: None,
            expires_at_ms: Some(1_000_000),
            email: None,
            account_id: None,
            api_base: None,
            plan: None,
            obtained_at_ms: 0,
            extra: BTreeMap::new(),
        };
        assert!(!t.is_due(1_000_000 - REFRESH_MARGIN_MS - 1));
        assert!(t.is_due(1_000_000 - REFRESH_MARGIN_MS));
        assert!(
            !TokenSet {
                expires_at_ms: None,
                ..t
            }
            .is_due(i64::MAX / 2)
        );
    }

    #[test]
    fn reads_both_error_shapes() {
        assert_eq!(
            oauth_error(&json!({"error": "invalid_grant", "error_description": "gone"})),
            Some(("invalid_grant".into(), "gone".into()))
        );
        assert_eq!(
            oauth_error(&json!({"error": {"code": "refresh_token_reused", "message": "used"}})),
            Some(("refresh_token_reused".into(), "used".into()))
        );
        assert_eq!(oauth_error(&json!({"access_token": "x"})), None);
    }
}
