//! A mock of the subscription (OAuth) providers: their login servers, token endpoints and data-plane APIs, speaking each provider's real wire shapes (docs/oauth/*.md).
//!
//! One server on 127.0.0.1 plays every host. The gateway under test maps a
//! real upstream URL `https://HOST/PATH?QUERY` to `{origin}/HOST/PATH?QUERY`,
//! so the first path segment is the host; [`OAuthMock::url`] does the same
//! mapping for tests. URLs the mock hands out (redirects, Copilot's
//! `endpoints.api`, Qwen's `resource_url`, device `verification_uri`) are
//! real-looking `https://` URLs, which the gateway maps in turn.
//!
//! | host | routes | shape |
//! |---|---|---|
//! | `auth.openai.com` | `GET /oauth/authorize`, `POST /oauth/token` | PKCE; exchange form-only, refresh JSON or form; rotated refresh token -> 401 `refresh_token_reused` |
//! | `chatgpt.com` | `POST /backend-api/codex/responses`, `GET /backend-api/wham/usage` | Responses SSE, `x-codex-*` headers; needs `chatgpt-account-id`, `store:false`, `stream:true`, `instructions` |
//! | `claude.com` (`/cai/oauth/authorize`), `claude.ai`, `platform.claude.com` | authorize (`code=true`), `POST /v1/oauth/token` (JSON only), `GET /oauth/code/callback` (HTML `code#state`) | token answer has `account.email_address` |
//! | `api.anthropic.com` | `POST /v1/messages[?beta=true]`, `/v1/messages/count_tokens`, `GET /api/oauth/profile`, `/api/oauth/usage`, `/api/oauth/claude_cli/roles` | needs `anthropic-beta` with `oauth-2025-04-20` and `anthropic-version`; `anthropic-ratelimit-unified-*` headers |
//! | `accounts.google.com`, `oauth2.googleapis.com`, `www.googleapis.com` | `GET /o/oauth2/v2/auth`, `POST /token` (form, `client_secret` required), `GET /oauth2/v{1,2}/userinfo` | PKCE optional (Google's loopback flow has none); refresh keeps the refresh token |
//! | `cloudcode-pa.googleapis.com` (and the daily/autopush hosts) | `POST /v1internal:{loadCodeAssist,onboardUser,generateContent,streamGenerateContent,countTokens,fetchAvailableModels,retrieveUserQuota}`, `GET /v1internal/operations/{id}` | `{"response":{…gemini…},"traceId"}` envelope; `alt=sse` streams |
//! | `github.com` | `POST /login/device/code`, `POST /login/oauth/access_token` | JSON or form in; every answer HTTP 200, JSON when `Accept` asks for it, else form-encoded |
//! | `api.github.com` | `GET /copilot_internal/v2/token` (`token X` or `Bearer X`), `GET /user`, `GET /copilot_internal/user` | 401 `Bad credentials` |
//! | `api.githubcopilot.com` | `POST /chat/completions`, `/responses`, `/v1/messages`, `GET /models` | needs `Copilot-Integration-Id` and `Editor-Version`; model must list the endpoint in `supported_endpoints` |
//! | `auth.kimi.com`, `api.kimi.com` | `POST /api/oauth/device_authorization`, `/api/oauth/token` (form; errors HTTP 400); `POST /coding/v1/chat/completions`, `/coding/v1/messages`, `GET /coding/v1/models`, `/coding/v1/usages` | refresh failure 401 `invalid_grant` |
//! | `api.kilo.ai` | `POST /api/device-auth/codes`, `GET /api/device-auth/codes/{code}` (202/200/403/410), `GET /api/profile`, `POST /api/{openrouter,gateway}/chat/completions`, `GET /api/openrouter/models` | no refresh; token lives 5 years; `Bearer anonymous` gets `:free` models only |
//! | `api.workos.com`, `api.cline.bot` | `POST /user_management/authorize/device`, `/user_management/authenticate` (form); `POST /api/v1/auth/register`, `/api/v1/auth/refresh`, `GET /api/v1/users/me`, `POST /api/v1/chat/completions` | `{success,data}` envelope; chat needs `Bearer workos:<token>` |
//! | `oidc.us-east-1.amazonaws.com` | `POST /client/register`, `/device_authorization`, `/token` | camelCase JSON; 400 `{error,error_description}` + `x-amzn-ErrorType` |
//! | `q.us-east-1.amazonaws.com`, `codewhisperer.us-east-1.amazonaws.com` | `POST /generateAssistantResponse`, `GET /getUsageLimits` | AWS event-stream binary frames |
//! | `chat.qwen.ai`, `portal.qwen.ai` | `POST /api/v1/oauth2/device/code`, `/api/v1/oauth2/token` (form, PKCE; pending 400, slow_down 429); `POST /v1/chat/completions` | token answer has `resource_url: "portal.qwen.ai"` |
//!
//! Every answer's text is [`OAUTH_TEXT`], with [`OAUTH_INPUT_TOKENS`] /
//! [`OAUTH_OUTPUT_TOKENS`] as usage in the provider's own usage fields. An
//! access token is accepted only by its own provider's data plane, only
//! while it lives ([`OAuthMock::set_access_lifetime`]) and until it is
//! revoked; otherwise the provider's 401 (Kiro: 403).
//!
//! Device flows answer from a per-provider script
//! ([`OAuthMock::script_device`]): one step per poll, and once the script is
//! used up every poll approves. A denied or expired device code stays so.
//! The accounts a login creates take the email set by
//! [`OAuthMock::set_email`] (default [`DEFAULT_EMAIL`]).
//!
//! Controls take any host of a provider (`auth.openai.com` and
//! `chatgpt.com` name the same provider); an unknown host panics, since a
//! typo would otherwise make a test pass for the wrong reason.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{json_response, openai_error, pieces};

/// The text of every data-plane answer, in every format.
pub const OAUTH_TEXT: &str = "Hello from the subscription mock.";
/// Usage every data-plane answer reports (OpenAI `prompt_tokens` /
/// `completion_tokens`, Anthropic `input_tokens` / `output_tokens`, Gemini
/// `promptTokenCount` / `candidatesTokenCount`, Kiro `uncachedInputTokens` /
/// `outputTokens`).
pub const OAUTH_INPUT_TOKENS: u64 = 13;
pub const OAUTH_OUTPUT_TOKENS: u64 = 7;
/// Credits Kiro's `meteringEvent` reports per answer.
pub const KIRO_CREDITS: f64 = 0.0169;
/// The email of an account when no [`OAuthMock::set_email`] applies.
pub const DEFAULT_EMAIL: &str = "subscriber@example.com";
/// `expires_in` of new access tokens until [`OAuthMock::set_access_lifetime`].
pub const DEFAULT_ACCESS_LIFETIME: u64 = 3600;
/// The device-flow poll `interval` until [`OAuthMock::set_device_interval`]
/// (the real providers' value); `slow_down` adds 5 s to it (RFC 8628 §3.5).
pub const DEFAULT_DEVICE_INTERVAL: u64 = 5;
/// `chatgpt_plan_type` in the Codex tokens.
pub const CHATGPT_PLAN_TYPE: &str = "plus";
/// Copilot's `endpoints.api`.
pub const COPILOT_API: &str = "https://api.githubcopilot.com";
/// Qwen's `resource_url` (the client makes `https://portal.qwen.ai/v1` of it).
pub const QWEN_RESOURCE_URL: &str = "portal.qwen.ai";
/// The Code Assist project `loadCodeAssist` hands out and generation requires.
pub const CODE_ASSIST_PROJECT: &str = "mock-companion-project";
/// Claude's manual-mode redirect URI: its page shows `code#state`.
pub const CLAUDE_MANUAL_REDIRECT: &str = "https://platform.claude.com/oauth/code/callback";
/// `anthropic-ratelimit-unified-5h-utilization` of an account with quota left.
pub const CLAUDE_5H_UTILIZATION: &str = "0.25";
/// A Kilo token's life: the server's default of 5 years (Kilo has no refresh).
pub const KILO_TOKEN_LIFETIME: u64 = 5 * 365 * 86_400;
/// The models Copilot's `GET /models` lists, with their `supported_endpoints`.
pub const COPILOT_MODELS: &[(&str, &[&str])] = &[
    ("gpt-4.1", &["/chat/completions", "/responses"]),
    ("gpt-5.4", &["/responses"]),
    ("claude-sonnet-4.6", &["/chat/completions", "/v1/messages"]),
    ("gemini-2.5-pro", &["/chat/completions"]),
];

/// One answer of a scripted device-flow poll, in the provider's own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStep {
    /// `authorization_pending` (Kilo: 202 `pending`).
    Pending,
    /// `slow_down` with the interval raised by 5 s (Kilo has none: 202).
    SlowDown,
    /// `access_denied` (Kilo: 403 `denied`); the code stays denied.
    Denied,
    /// `expired_token` (Kilo: 410 `expired`); the code stays expired.
    Expired,
    /// The tokens.
    Approve,
}

/// What `loadCodeAssist` says about the Google account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodeAssistState {
    /// `currentTier` standard-tier and [`CODE_ASSIST_PROJECT`].
    #[default]
    Onboarded,
    /// Only `allowedTiers` (free-tier, default): the client must call
    /// `onboardUser` and poll the operation, which then onboards it.
    NeedsOnboarding,
    /// `ineligibleTiers` with `UNSUPPORTED_CLIENT` (consumer tiers after
    /// 2026-06-18); generation is refused.
    UnsupportedClient,
}

/// One call of a provider's token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCall {
    /// `grant_type` (AWS and Cline: `grantType`); empty when the body names
    /// none (Cline's register, Kilo's poll).
    pub grant_type: String,
    /// Every field of the form or JSON body, as text (arrays space-joined);
    /// Kilo's poll: `code`.
    pub params: BTreeMap<String, String>,
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The real host (the first path segment).
    pub host: String,
    /// The real path, from its `/`.
    pub path: String,
    pub query: Option<String>,
    /// Lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `Null` when it is not JSON (forms included: see
    /// [`OAuthMock::token_calls`]).
    pub body: Value,
}

impl Recorded {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running mock of every subscription provider; clones share it, and it
/// stops when the last clone drops.
#[derive(Clone)]
pub struct OAuthMock {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OAuthMock {
    /// Starts the mock on a free port of 127.0.0.1.
    pub async fn start() -> OAuthMock {
        let shared = Arc::new(Shared {
            state: Mutex::new(MockState::new()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind oauth mock");
        let addr = listener.local_addr().expect("oauth mock addr");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        // Stream events are small writes; Nagle would hold them.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OAuthMock {
            inner: Arc::new(Inner { addr, shared, task }),
        }
    }

    /// `http://127.0.0.1:P`: the gateway's upstream override origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Where the mock serves real URL `https://HOST/PATH?Q`:
    /// `http://127.0.0.1:P/HOST/PATH?Q`, as the gateway maps it.
    pub fn url(&self, real: &str) -> String {
        let rest = real
            .strip_prefix("https://")
            .or_else(|| real.strip_prefix("http://"))
            .unwrap_or(real);
        format!("{}/{rest}", self.origin())
    }

    fn state(&self) -> MutexGuard<'_, MockState> {
        self.inner.shared.lock()
    }

    /// The `expires_in` of access tokens issued from now on (Copilot: the
    /// Copilot token; Kilo and GitHub tokens ignore it, as they do not
    /// expire in practice). 0 makes tokens that are dead on arrival.
    pub fn set_access_lifetime(&self, secs: u64) {
        self.state().access_lifetime = secs;
    }

    /// A pause before every refresh answers (and before Copilot's token
    /// exchange), so concurrent requests overlap one refresh.
    pub fn set_refresh_delay(&self, delay: Duration) {
        self.state().refresh_delay = delay;
    }

    /// The `interval` device flows hand out from now on.
    pub fn set_device_interval(&self, secs: u64) {
        self.state().device_interval = secs;
    }

    /// The email of the accounts that logins with `host`'s provider create
    /// from now on (bound when the login starts: authorize or device code).
    pub fn set_email(&self, host: &str, email: &str) {
        let provider = Provider::must(host);
        self.state().emails.insert(provider, email.to_string());
    }

    /// What Code Assist's `loadCodeAssist` answers from now on.
    pub fn set_code_assist(&self, state: CodeAssistState) {
        self.state().code_assist = state;
    }

    /// Queues answers for the next device-flow polls of `host`'s provider,
    /// one step per poll; after them every poll approves.
    pub fn script_device(&self, host: &str, steps: Vec<DeviceStep>) {
        let provider = Provider::must(host);
        self.state()
            .scripts
            .entry(provider)
            .or_default()
            .extend(steps);
    }

    /// Every refresh token `host`'s provider has issued so far stops working:
    /// refreshing answers the provider's revoked error (Codex 401
    /// `refresh_token_invalidated`, Kimi 401 `invalid_grant`, the others 400
    /// `invalid_grant`). GitHub has no refresh: its OAuth tokens are revoked,
    /// so the Copilot token exchange answers 401. Later logins work.
    pub fn revoke_refresh_tokens(&self, host: &str) {
        let provider = Provider::must(host);
        let mut state = self.state();
        for entry in state.refresh.values_mut() {
            if entry.provider == provider && entry.state == RefreshState::Live {
                entry.state = RefreshState::Revoked;
            }
        }
        if provider == Provider::GitHub {
            for entry in state.access.values_mut() {
                if entry.provider == provider && entry.kind == Kind::Primary {
                    entry.revoked = true;
                }
            }
        }
    }

    /// Every access token `host`'s provider has issued so far stops working
    /// (the data plane answers its 401) while refresh tokens keep working.
    pub fn revoke_access_tokens(&self, host: &str) {
        let provider = Provider::must(host);
        for entry in self.state().access.values_mut() {
            // A GitHub OAuth token is the login itself, not an access token.
            let login = provider == Provider::GitHub && entry.kind == Kind::Primary;
            if entry.provider == provider && !login {
                entry.revoked = true;
            }
        }
    }

    /// Until `reset_at_unix`, data-plane calls with this access token, or of
    /// the account with this email (or, for Copilot, this GitHub token)
    /// answer the provider's quota error: Codex 429 `usage_limit_reached`,
    /// Anthropic 429 with `anthropic-ratelimit-unified-status: rejected`,
    /// Copilot 429, Gemini 429 `QUOTA_EXHAUSTED`, Kiro 402
    /// `MONTHLY_REQUEST_COUNT`, Qwen 429 `insufficient_quota`, the others 429.
    pub fn exhaust(&self, access_token_or_email: &str, reset_at_unix: u64) {
        self.state()
            .exhausted
            .insert(access_token_or_email.to_string(), reset_at_unix);
    }

    /// The calls of `host`'s provider's token endpoints, oldest first:
    /// exchanges, refreshes and device polls.
    pub fn token_calls(&self, host: &str) -> Vec<TokenCall> {
        let provider = Provider::must(host);
        self.state()
            .token_calls
            .iter()
            .filter(|(p, _)| *p == provider)
            .map(|(_, call)| call.clone())
            .collect()
    }

    /// How many refreshes `host`'s provider received (counted on arrival,
    /// failed ones included). GitHub: Copilot token exchanges.
    pub fn refresh_count(&self, host: &str) -> usize {
        let provider = Provider::must(host);
        self.state().refreshes.get(&provider).copied().unwrap_or(0)
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().recorded.clone()
    }
}

/// `base64url(SHA-256(verifier))`: the PKCE S256 challenge.
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The `chatgpt_account_id` of the Codex account with `email` (stable, so a
/// test can predict the `chatgpt-account-id` header).
pub fn chatgpt_account_id(email: &str) -> String {
    pseudo_uuid(&format!("chatgpt-account:{email}"))
}

/// The payload of a JWT (no signature check), `Null` when it is not one.
pub fn jwt_payload(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// State

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Provider {
    Codex,
    Claude,
    Google,
    GitHub,
    Kimi,
    Kilo,
    Cline,
    Kiro,
    Qwen,
}

impl Provider {
    fn of(host: &str) -> Option<Provider> {
        Some(match host {
            "auth.openai.com" | "chatgpt.com" => Provider::Codex,
            "claude.com"
            | "claude.ai"
            | "platform.claude.com"
            | "console.anthropic.com"
            | "api.anthropic.com" => Provider::Claude,
            "accounts.google.com" | "oauth2.googleapis.com" | "www.googleapis.com" => {
                Provider::Google
            }
            h if h.ends_with("cloudcode-pa.googleapis.com")
                || h.ends_with("cloudcode-pa.sandbox.googleapis.com") =>
            {
                Provider::Google
            }
            "github.com" | "api.github.com" => Provider::GitHub,
            h if h.ends_with("githubcopilot.com") => Provider::GitHub,
            "auth.kimi.com" | "api.kimi.com" => Provider::Kimi,
            "api.kilo.ai" | "app.kilo.ai" => Provider::Kilo,
            "api.workos.com" | "api.cline.bot" | "app.cline.bot" => Provider::Cline,
            h if h.ends_with(".amazonaws.com")
                && (h.starts_with("oidc.")
                    || h.starts_with("q.")
                    || h.starts_with("codewhisperer.")) =>
            {
                Provider::Kiro
            }
            "chat.qwen.ai" | "portal.qwen.ai" => Provider::Qwen,
            _ => return None,
        })
    }

    fn must(host: &str) -> Provider {
        Provider::of(host)
            .unwrap_or_else(|| panic!("OAuthMock: {host} is not a host the mock plays"))
    }

    /// Token prefixes: the real ones where the research saw them (Claude
    /// `sk-ant-oat01-`, Google `ya29.`, GitHub `ghu_`, Kiro `aoaAAAAAG`,
    /// which importers check).
    fn prefixes(self, kind: Kind) -> (&'static str, &'static str) {
        match (self, kind) {
            (Provider::GitHub, Kind::Copilot) => ("tid=", ""),
            (Provider::Cline, Kind::WorkOs) => ("workos_at_", "workos_rt_"),
            (Provider::Codex, _) => ("", "rt_"),
            (Provider::Claude, _) => ("sk-ant-oat01-", "sk-ant-ort01-"),
            (Provider::Google, _) => ("ya29.", "1//"),
            (Provider::GitHub, _) => ("ghu_", "ghr_"),
            (Provider::Kimi, _) => ("kimi-at-", "kimi-rt-"),
            (Provider::Kilo, _) => ("", ""),
            (Provider::Cline, _) => ("cline-at-", "cline-rt-"),
            (Provider::Kiro, _) => ("aoaAAAAAG", "aorAAAAAG"),
            (Provider::Qwen, _) => ("qwen-at-", "qwen-rt-"),
        }
    }
}

/// Which of a provider's tokens: Copilot tokens and WorkOS tokens live
/// beside the provider's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Primary,
    Copilot,
    WorkOs,
}

#[derive(Debug, Clone)]
struct Account {
    email: String,
    client_id: String,
    scope: String,
}

#[derive(Debug, Clone)]
struct AccessEntry {
    provider: Provider,
    kind: Kind,
    account: Account,
    expires_at: u64,
    revoked: bool,
    /// The GitHub token a Copilot token was exchanged from.
    root: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Live,
    /// Used once; the next use is a reuse.
    Rotated,
    Revoked,
}

#[derive(Debug, Clone)]
struct RefreshEntry {
    provider: Provider,
    kind: Kind,
    account: Account,
    state: RefreshState,
}

#[derive(Debug, Clone)]
struct PendingCode {
    provider: Provider,
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    state: Option<String>,
    email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceState {
    Waiting,
    Denied,
    Expired,
    Done,
}

#[derive(Debug, Clone)]
struct DeviceSession {
    provider: Provider,
    account: Account,
    challenge: Option<String>,
    interval: u64,
    state: DeviceState,
}

/// The outcome of one device poll.
#[derive(Debug)]
enum Poll {
    Unknown,
    Used,
    BadVerifier,
    Pending,
    SlowDown(u64),
    Denied,
    Expired,
    Approved(Account),
}

/// Why a refresh failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshFail {
    Unknown,
    Reused,
    Revoked,
}

/// A refresh that worked.
struct Refreshed {
    account: Account,
    access: String,
    /// `None` when the refresh token stays (Google).
    refresh: Option<String>,
    expires_in: u64,
}

/// A refusal from a check helper, boxed: a `Response` is too large for an
/// `Err` variant.
type Refusal = Box<Response>;

/// The owner of a live access token.
#[derive(Debug, Clone)]
struct Caller {
    token: String,
    email: String,
    root: Option<String>,
}

enum Auth {
    Live(Caller),
    Expired,
    Unknown,
}

#[derive(Default)]
struct MockState {
    counter: u64,
    access_lifetime: u64,
    refresh_delay: Duration,
    device_interval: u64,
    code_assist: CodeAssistState,
    emails: HashMap<Provider, String>,
    codes: HashMap<String, PendingCode>,
    access: HashMap<String, AccessEntry>,
    refresh: HashMap<String, RefreshEntry>,
    devices: HashMap<String, DeviceSession>,
    scripts: HashMap<Provider, VecDeque<DeviceStep>>,
    exhausted: HashMap<String, u64>,
    token_calls: Vec<(Provider, TokenCall)>,
    refreshes: HashMap<Provider, usize>,
    recorded: Vec<Recorded>,
    /// AWS OIDC clients: id -> secret.
    kiro_clients: HashMap<String, String>,
}

impl MockState {
    fn new() -> MockState {
        MockState {
            access_lifetime: DEFAULT_ACCESS_LIFETIME,
            device_interval: DEFAULT_DEVICE_INTERVAL,
            ..MockState::default()
        }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn email(&self, provider: Provider) -> String {
        self.emails
            .get(&provider)
            .cloned()
            .unwrap_or_else(|| DEFAULT_EMAIL.to_string())
    }

    fn issue_access(
        &mut self,
        provider: Provider,
        kind: Kind,
        account: &Account,
        life: u64,
    ) -> String {
        let n = self.next();
        let now = now();
        let (prefix, _) = provider.prefixes(kind);
        let token = match (provider, kind) {
            (Provider::Codex, _) => codex_access_jwt(account, n, now, life),
            (Provider::Kilo, _) => kilo_jwt(account, n, now, life),
            _ => format!("{prefix}mock{n}"),
        };
        self.access.insert(
            token.clone(),
            AccessEntry {
                provider,
                kind,
                account: account.clone(),
                expires_at: now.saturating_add(life),
                revoked: false,
                root: None,
            },
        );
        token
    }

    fn issue_refresh(&mut self, provider: Provider, kind: Kind, account: &Account) -> String {
        let n = self.next();
        let (_, prefix) = provider.prefixes(kind);
        let token = format!("{prefix}mock{n}");
        self.refresh.insert(
            token.clone(),
            RefreshEntry {
                provider,
                kind,
                account: account.clone(),
                state: RefreshState::Live,
            },
        );
        token
    }

    /// A fresh access + refresh pair; returns (access, refresh, expires_in).
    fn issue(
        &mut self,
        provider: Provider,
        kind: Kind,
        account: &Account,
        life: u64,
    ) -> (String, String, u64) {
        let access = self.issue_access(provider, kind, account, life);
        let refresh = self.issue_refresh(provider, kind, account);
        (access, refresh, life)
    }

    fn auth(&self, provider: Provider, kind: Kind, token: Option<&str>) -> Auth {
        let Some(token) = token else {
            return Auth::Unknown;
        };
        match self.access.get(token) {
            Some(e) if e.provider == provider && e.kind == kind && !e.revoked => {
                if now() >= e.expires_at {
                    Auth::Expired
                } else {
                    Auth::Live(Caller {
                        token: token.to_string(),
                        email: e.account.email.clone(),
                        root: e.root.clone(),
                    })
                }
            }
            _ => Auth::Unknown,
        }
    }

    /// The reset time of the quota `caller` has used up, if any.
    fn exhausted_until(&self, caller: &Caller) -> Option<u64> {
        let now = now();
        [
            Some(&caller.token),
            Some(&caller.email),
            caller.root.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|key| self.exhausted.get(key.as_str()).copied())
        .filter(|reset| *reset > now)
        .max()
    }

    /// Starts a device login; returns (device_code, user_code, interval).
    fn start_device(
        &mut self,
        provider: Provider,
        client_id: &str,
        scope: &str,
        challenge: Option<String>,
    ) -> (String, String, u64) {
        let n = self.next();
        let device_code = format!("dc_mock{n}");
        let user_code = user_code(n);
        let session = DeviceSession {
            provider,
            account: Account {
                email: self.email(provider),
                client_id: client_id.to_string(),
                scope: scope.to_string(),
            },
            challenge,
            interval: self.device_interval,
            state: DeviceState::Waiting,
        };
        self.devices.insert(device_code.clone(), session);
        (device_code, user_code, self.device_interval)
    }

    fn poll(
        &mut self,
        provider: Provider,
        device_code: &str,
        client_id: Option<&str>,
        verifier: Option<&str>,
    ) -> Poll {
        let Some(session) = self.devices.get(device_code) else {
            return Poll::Unknown;
        };
        if session.provider != provider || client_id.is_some_and(|c| c != session.account.client_id)
        {
            return Poll::Unknown;
        }
        match session.state {
            DeviceState::Done => return Poll::Used,
            DeviceState::Denied => return Poll::Denied,
            DeviceState::Expired => return Poll::Expired,
            DeviceState::Waiting => {}
        }
        if let Some(challenge) = &session.challenge
            && verifier.is_none_or(|v| code_challenge(v) != *challenge)
        {
            return Poll::BadVerifier;
        }
        let step = self
            .scripts
            .get_mut(&provider)
            .and_then(VecDeque::pop_front)
            .unwrap_or(DeviceStep::Approve);
        let Some(session) = self.devices.get_mut(device_code) else {
            return Poll::Unknown;
        };
        match step {
            DeviceStep::Pending => Poll::Pending,
            DeviceStep::SlowDown => {
                session.interval += 5;
                Poll::SlowDown(session.interval)
            }
            DeviceStep::Denied => {
                session.state = DeviceState::Denied;
                Poll::Denied
            }
            DeviceStep::Expired => {
                session.state = DeviceState::Expired;
                Poll::Expired
            }
            DeviceStep::Approve => {
                session.state = DeviceState::Done;
                Poll::Approved(session.account.clone())
            }
        }
    }
}

struct Shared {
    state: Mutex<MockState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, MockState> {
        // A test that panicked while holding the lock must not hide the
        // state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token_call(&self, provider: Provider, params: &BTreeMap<String, String>) {
        let grant_type = params
            .get("grant_type")
            .or_else(|| params.get("grantType"))
            .cloned()
            .unwrap_or_default();
        self.lock().token_calls.push((
            provider,
            TokenCall {
                grant_type,
                params: params.clone(),
            },
        ));
    }

    fn auth(&self, provider: Provider, kind: Kind, token: Option<&str>) -> Auth {
        self.lock().auth(provider, kind, token)
    }

    fn exhausted_until(&self, caller: &Caller) -> Option<u64> {
        self.lock().exhausted_until(caller)
    }

    fn lifetime(&self) -> u64 {
        self.lock().access_lifetime
    }

    /// Counts a refresh and waits the refresh delay.
    async fn refresh_pause(&self, provider: Provider) {
        let delay = {
            let mut state = self.lock();
            *state.refreshes.entry(provider).or_default() += 1;
            state.refresh_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Redeems refresh token `token`: rotates it (except Google's, which
    /// stays) and issues a new access token.
    async fn refresh(
        &self,
        provider: Provider,
        token: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Refreshed, RefreshFail> {
        self.refresh_pause(provider).await;
        let mut state = self.lock();
        let token = token.ok_or(RefreshFail::Unknown)?;
        let entry = state
            .refresh
            .get_mut(token)
            .filter(|e| e.provider == provider)
            .ok_or(RefreshFail::Unknown)?;
        match entry.state {
            RefreshState::Rotated => return Err(RefreshFail::Reused),
            RefreshState::Revoked => return Err(RefreshFail::Revoked),
            RefreshState::Live => {}
        }
        if client_id.is_some_and(|c| !c.is_empty() && c != entry.account.client_id) {
            return Err(RefreshFail::Unknown);
        }
        let (account, kind) = (entry.account.clone(), entry.kind);
        let keeps = provider == Provider::Google;
        if !keeps {
            entry.state = RefreshState::Rotated;
        }
        let life = state.access_lifetime;
        let access = state.issue_access(provider, kind, &account, life);
        let refresh = (!keeps).then(|| state.issue_refresh(provider, kind, &account));
        Ok(Refreshed {
            account,
            access,
            refresh,
            expires_in: life,
        })
    }

    fn record(&self, req: &Req) {
        let recorded = Recorded {
            method: req.method.as_str().to_string(),
            host: req.host.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
        };
        self.lock().recorded.push(recorded);
    }
}

// ---------------------------------------------------------------------------
// Requests and answers

/// A request split into the real host and path.
struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn is_form(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.contains("application/x-www-form-urlencoded"))
    }

    fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.contains("json"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn query(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    /// The body's fields, from a JSON object or else a form.
    fn params(&self) -> BTreeMap<String, String> {
        match self.json() {
            Value::Object(map) => map.into_iter().map(|(k, v)| (k, flat(v))).collect(),
            _ => form_urlencoded::parse(&self.body).into_owned().collect(),
        }
    }

    fn bearer(&self) -> Option<&str> {
        strip_scheme(self.header("authorization")?, "bearer")
    }

    fn model(&self, fallback: &str) -> String {
        self.json()["model"]
            .as_str()
            .filter(|m| !m.is_empty())
            .unwrap_or(fallback)
            .to_string()
    }

    fn streams(&self) -> bool {
        self.json()["stream"] == Value::Bool(true)
    }
}

fn flat(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Array(items) => items.into_iter().map(flat).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The credential after `scheme ` (case-insensitive scheme).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn param<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn with_headers(mut response: Response, headers: &[(&str, String)]) -> Response {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn json_with(status: StatusCode, body: Value, headers: &[(&str, String)]) -> Response {
    with_headers(json_response(status, &body), headers)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn html(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// RFC 6749's error body.
/// The OAuth error of a token endpoint that reads only form bodies.
fn form_required(req: &Req) -> Option<Response> {
    (!req.is_form()).then(|| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        )
    })
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": code, "error_description": description}),
    )
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => text(StatusCode::BAD_REQUEST, "redirect_uri is not a valid URL"),
    }
}

fn sse(frames: Vec<String>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        frames.concat(),
    )
        .into_response()
}

fn not_found(req: &Req) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!(
            "oauth mock: no route for {} {}{}",
            req.method, req.host, req.path
        ),
    )
}

/// `base` with `pairs` added to its query.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", query.finish())
}

/// A UUID-shaped id derived from `seed`.
fn pseudo_uuid(seed: &str) -> String {
    let hex: String = Sha256::digest(seed.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A user code like Kilo's: 8 characters of `ABCDEFGHJKLMNPQRSTUVWXYZ23456789`
/// as `XXXX-XXXX`.
fn user_code(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = String::new();
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        out.push(ALPHABET[(x % 32) as usize] as char);
        x /= 32;
    }
    out
}

/// Unix seconds as RFC 3339 UTC.
fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An unsigned-looking JWT: the gateway decodes, never verifies, issuer
/// tokens.
fn jwt(payload: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"mock"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    let sig = URL_SAFE_NO_PAD.encode(b"mock-signature");
    format!("{head}.{body}.{sig}")
}

fn codex_auth_claims(email: &str) -> Value {
    json!({
        "chatgpt_account_id": chatgpt_account_id(email),
        "chatgpt_plan_type": CHATGPT_PLAN_TYPE,
        "chatgpt_user_id": format!("user-{}", pseudo_uuid(email)),
        "user_id": format!("user-{}", pseudo_uuid(email)),
        "organizations": [{"id": format!("org-{}", pseudo_uuid(email)), "is_default": true,
            "role": "owner", "title": "Personal"}],
        "groups": []
    })
}

fn codex_id_token(account: &Account, now: u64, life: u64) -> String {
    jwt(&json!({
        "iss": "https://auth.openai.com",
        "aud": [account.client_id],
        "sub": format!("auth0|{}", pseudo_uuid(&account.email)),
        "email": account.email,
        "email_verified": true,
        "iat": now,
        "exp": now.saturating_add(life),
        "https://api.openai.com/auth": codex_auth_claims(&account.email),
        "https://api.openai.com/profile": {"email": account.email, "email_verified": true}
    }))
}

fn codex_access_jwt(account: &Account, n: u64, now: u64, life: u64) -> String {
    jwt(&json!({
        "iss": "https://auth.openai.com",
        "aud": ["https://api.openai.com/v1"],
        "client_id": account.client_id,
        "jti": format!("at-auth.openai.com-{n}"),
        "iat": now,
        "exp": now.saturating_add(life),
        "scp": account.scope.split(' ').collect::<Vec<_>>(),
        "https://api.openai.com/auth": codex_auth_claims(&account.email),
        "https://api.openai.com/profile": {"email": account.email, "email_verified": true}
    }))
}

fn kilo_jwt(account: &Account, n: u64, now: u64, life: u64) -> String {
    jwt(&json!({
        "env": "production",
        "kiloUserId": kilo_user_id(&account.email),
        "apiTokenPepper": null,
        "version": 3,
        "deviceAuthRequestCode": account.scope,
        "jti": format!("at-api.kilo.ai-{n}"),
        "iat": now,
        "exp": now.saturating_add(life)
    }))
}

fn kilo_user_id(email: &str) -> String {
    format!("oauth/google:{}", &pseudo_uuid(email)[..18])
}

fn google_id_token(account: &Account, now: u64, life: u64) -> String {
    jwt(&json!({
        "iss": "https://accounts.google.com",
        "azp": account.client_id,
        "aud": account.client_id,
        "sub": google_sub(&account.email),
        "email": account.email,
        "email_verified": true,
        "iat": now,
        "exp": now.saturating_add(life)
    }))
}

fn google_sub(email: &str) -> String {
    let digits: String = Sha256::digest(email.as_bytes())
        .iter()
        .take(10)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    format!("1{digits}")
}

fn github_login(email: &str) -> String {
    email
        .split('@')
        .next()
        .unwrap_or("mock-user")
        .replace('.', "-")
}

// ---------------------------------------------------------------------------
// Routing

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trimmed = uri.path().trim_start_matches('/');
    let (host, path) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, "/"),
    };
    let req = Req {
        method,
        host: host.to_string(),
        path: path.to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    };
    shared.record(&req);
    let s = shared.as_ref();
    match Provider::of(&req.host) {
        Some(Provider::Codex) => codex(s, &req).await,
        Some(Provider::Claude) => claude(s, &req).await,
        Some(Provider::Google) => google(s, &req).await,
        Some(Provider::GitHub) => github(s, &req).await,
        Some(Provider::Kimi) => kimi(s, &req).await,
        Some(Provider::Kilo) => kilo(s, &req),
        Some(Provider::Cline) => cline(s, &req).await,
        Some(Provider::Kiro) => kiro(s, &req).await,
        Some(Provider::Qwen) => qwen(s, &req).await,
        None => not_found(&req),
    }
}

// ---------------------------------------------------------------------------
// Authorization code + PKCE (Codex, Claude, Google)

struct AuthorizeSpec {
    provider: Provider,
    required: &'static [&'static str],
    /// Google's loopback flow sends no PKCE; the others must.
    pkce_required: bool,
    /// OpenAI echoes the granted `scope` in the redirect.
    scope_back: bool,
}

const CODEX_AUTHORIZE: AuthorizeSpec = AuthorizeSpec {
    provider: Provider::Codex,
    required: &[
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "code_challenge",
        "code_challenge_method",
        "state",
    ],
    pkce_required: true,
    scope_back: true,
};

const CLAUDE_AUTHORIZE: AuthorizeSpec = AuthorizeSpec {
    provider: Provider::Claude,
    required: &[
        "code",
        "client_id",
        "response_type",
        "redirect_uri",
        "scope",
        "code_challenge",
        "code_challenge_method",
        "state",
    ],
    pkce_required: true,
    scope_back: false,
};

const GOOGLE_AUTHORIZE: AuthorizeSpec = AuthorizeSpec {
    provider: Provider::Google,
    required: &["client_id", "response_type", "redirect_uri", "scope"],
    pkce_required: false,
    scope_back: true,
};

/// The authorize page, with the user already signed in and consenting:
/// remembers the code's challenge and redirect and sends the browser back.
fn authorize(s: &Shared, req: &Req, spec: &AuthorizeSpec) -> Response {
    let q = req.query();
    for name in spec.required {
        if param(&q, name).is_none() {
            return text(
                StatusCode::BAD_REQUEST,
                format!("invalid_request: missing required parameter: {name}"),
            );
        }
    }
    if param(&q, "response_type") != Some("code") {
        return text(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type: response_type must be code",
        );
    }
    if spec.provider == Provider::Claude && param(&q, "code") != Some("true") {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid_request: code must be true",
        );
    }
    let challenge = param(&q, "code_challenge").map(str::to_string);
    if challenge.is_some() && param(&q, "code_challenge_method") != Some("S256") {
        return text(
            StatusCode::BAD_REQUEST,
            "invalid_request: code_challenge_method must be S256",
        );
    }
    if spec.pkce_required && challenge.is_none() {
        return text(StatusCode::BAD_REQUEST, "invalid_request: PKCE is required");
    }
    let redirect_uri = param(&q, "redirect_uri").unwrap_or_default().to_string();
    let scope = param(&q, "scope").unwrap_or_default().to_string();
    let state = param(&q, "state").map(str::to_string);
    let code = {
        let mut st = s.lock();
        let n = st.next();
        let code = format!("ac_mock{n}_{}", &pseudo_uuid(&n.to_string())[..8]);
        let pending = PendingCode {
            provider: spec.provider,
            client_id: param(&q, "client_id").unwrap_or_default().to_string(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            scope: scope.clone(),
            state: state.clone(),
            email: st.email(spec.provider),
        };
        st.codes.insert(code.clone(), pending);
        code
    };
    let mut pairs = vec![("code", code.as_str())];
    if spec.scope_back {
        pairs.push(("scope", scope.as_str()));
    }
    if let Some(state) = &state {
        pairs.push(("state", state.as_str()));
    }
    redirect(&with_query(&redirect_uri, &pairs))
}

/// Why a code was refused.
#[derive(Debug)]
enum CodeFail {
    Unknown,
    Verifier,
    Redirect,
    Client,
    State,
}

/// Redeems a one-time code (a failed attempt burns it too, as the real
/// issuers do).
fn redeem(
    s: &Shared,
    provider: Provider,
    params: &BTreeMap<String, String>,
) -> Result<PendingCode, CodeFail> {
    let code = param(params, "code").ok_or(CodeFail::Unknown)?;
    let pending = s
        .lock()
        .codes
        .remove(code)
        .filter(|p| p.provider == provider)
        .ok_or(CodeFail::Unknown)?;
    if let Some(challenge) = &pending.challenge
        && param(params, "code_verifier").is_none_or(|v| code_challenge(v) != *challenge)
    {
        return Err(CodeFail::Verifier);
    }
    if param(params, "redirect_uri") != Some(pending.redirect_uri.as_str()) {
        return Err(CodeFail::Redirect);
    }
    if param(params, "client_id").is_some_and(|c| c != pending.client_id) {
        return Err(CodeFail::Client);
    }
    if let (Some(sent), Some(issued)) = (param(params, "state"), &pending.state)
        && sent != issued
    {
        return Err(CodeFail::State);
    }
    Ok(pending)
}

fn code_fail_text(fail: &CodeFail) -> &'static str {
    match fail {
        CodeFail::Unknown => "Invalid authorization code",
        CodeFail::Verifier => "code_verifier does not match the code_challenge",
        CodeFail::Redirect => "redirect_uri does not match the authorization request",
        CodeFail::Client => "client_id does not match the authorization request",
        CodeFail::State => "state does not match the authorization request",
    }
}

fn account_of(pending: &PendingCode) -> Account {
    Account {
        email: pending.email.clone(),
        client_id: pending.client_id.clone(),
        scope: pending.scope.clone(),
    }
}

// ---------------------------------------------------------------------------
// OpenAI Codex

async fn codex(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("GET", "auth.openai.com", "/oauth/authorize") => authorize(s, req, &CODEX_AUTHORIZE),
        ("POST", "auth.openai.com", "/oauth/token") => codex_token(s, req).await,
        ("POST", "chatgpt.com", "/backend-api/codex/responses") => codex_responses(s, req),
        ("GET", "chatgpt.com", "/backend-api/wham/usage") => codex_usage(s, req),
        _ => not_found(req),
    }
}

async fn codex_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Codex, &params);
    match param(&params, "grant_type") {
        Some("authorization_code") => {
            // Codex and every gateway post the exchange as a form.
            if !req.is_form() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request must be application/x-www-form-urlencoded",
                );
            }
            let pending = match redeem(s, Provider::Codex, &params) {
                Ok(p) => p,
                Err(fail) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        code_fail_text(&fail),
                    );
                }
            };
            let account = account_of(&pending);
            let life = s.lifetime();
            let (access, refresh, expires_in) =
                s.lock()
                    .issue(Provider::Codex, Kind::Primary, &account, life);
            json_response(
                StatusCode::OK,
                &json!({"id_token": codex_id_token(&account, now(), life), "access_token": access,
                    "refresh_token": refresh, "expires_in": expires_in, "token_type": "Bearer",
                    "scope": account.scope}),
            )
        }
        Some("refresh_token") => {
            let refreshed = s
                .refresh(
                    Provider::Codex,
                    param(&params, "refresh_token"),
                    param(&params, "client_id"),
                )
                .await;
            match refreshed {
                Ok(r) => json_response(
                    StatusCode::OK,
                    &json!({"id_token": codex_id_token(&r.account, now(), r.expires_in),
                        "access_token": r.access, "refresh_token": r.refresh,
                        "expires_in": r.expires_in, "token_type": "Bearer", "scope": r.account.scope}),
                ),
                Err(fail) => {
                    let (code, message) = match fail {
                        RefreshFail::Reused => (
                            "refresh_token_reused",
                            "Your refresh token has already been used to generate a new access token. Please try signing in again.",
                        ),
                        RefreshFail::Revoked | RefreshFail::Unknown => (
                            "refresh_token_invalidated",
                            "Your refresh token has been invalidated. Please try signing in again.",
                        ),
                    };
                    json_response(
                        StatusCode::UNAUTHORIZED,
                        &json!({"error": {"code": code, "message": message, "type": "invalid_request_error"}}),
                    )
                }
            }
        }
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {other}"),
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing grant_type",
        ),
    }
}

/// The ChatGPT backend's 401s: OpenAI's error JSON.
fn codex_auth(s: &Shared, req: &Req) -> Result<Caller, Refusal> {
    match s.auth(Provider::Codex, Kind::Primary, req.bearer()) {
        Auth::Live(caller) => Ok(caller),
        Auth::Expired => Err(Box::new(openai_error(
            StatusCode::UNAUTHORIZED,
            "Your authentication token has expired. Please try signing in again.",
            "invalid_request_error",
            Some("token_expired"),
        ))),
        Auth::Unknown => Err(Box::new(openai_error(
            StatusCode::UNAUTHORIZED,
            "Your authentication token is not valid. Please try signing in again.",
            "invalid_request_error",
            Some("token_invalidated"),
        ))),
    }
}

fn codex_limit_headers(used_percent: f64) -> Vec<(&'static str, String)> {
    let now = now();
    vec![
        ("x-codex-primary-used-percent", format!("{used_percent:.1}")),
        ("x-codex-primary-window-minutes", "300".into()),
        ("x-codex-primary-reset-at", (now + 4 * 3600).to_string()),
        ("x-codex-secondary-used-percent", "8.0".into()),
        ("x-codex-secondary-window-minutes", "10080".into()),
        ("x-codex-secondary-reset-at", (now + 5 * 86_400).to_string()),
    ]
}

fn codex_responses(s: &Shared, req: &Req) -> Response {
    let caller = match codex_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // Codex sends the id_token's account id; without it the backend cannot
    // pick the workspace.
    let Some(account) = req.header("chatgpt-account-id") else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"detail": "Missing chatgpt-account-id header"}),
        );
    };
    if account != chatgpt_account_id(&caller.email) {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"detail": "chatgpt-account-id does not match the token's account"}),
        );
    }
    let body = req.json();
    if body["store"] != Value::Bool(false) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"detail": "Store must be set to false"}),
        );
    }
    if body["stream"] != Value::Bool(true) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"detail": "Stream must be set to true"}),
        );
    }
    if !body["instructions"].is_string() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"detail": "Instructions are required"}),
        );
    }
    if let Some(reset) = s.exhausted_until(&caller) {
        let now = now();
        return json_with(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"type": "usage_limit_reached",
                "message": "The usage limit has been reached", "plan_type": CHATGPT_PLAN_TYPE,
                "resets_at": reset, "resets_in_seconds": reset.saturating_sub(now)}}),
            &[
                ("x-codex-primary-used-percent", "100.0".into()),
                ("x-codex-primary-window-minutes", "300".into()),
                ("x-codex-primary-reset-at", reset.to_string()),
            ],
        );
    }
    let model = req.model("gpt-5.4");
    with_headers(sse(responses_frames(&model)), &codex_limit_headers(12.0))
}

fn codex_usage(s: &Shared, req: &Req) -> Response {
    let caller = match codex_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = now();
    let (used, reset) = match s.exhausted_until(&caller) {
        Some(reset) => (100, reset),
        None => (12, now + 4 * 3600),
    };
    json_response(
        StatusCode::OK,
        &json!({"plan_type": CHATGPT_PLAN_TYPE,
            "rate_limit": {
                "primary_window": {"used_percent": used, "limit_window_seconds": 18_000,
                    "reset_after_seconds": reset.saturating_sub(now), "reset_at": reset},
                "secondary_window": {"used_percent": 8, "limit_window_seconds": 604_800,
                    "reset_after_seconds": 5 * 86_400, "reset_at": now + 5 * 86_400}},
            "credits": {"has_credits": false, "unlimited": false, "balance": "0"}}),
    )
}

// ---------------------------------------------------------------------------
// Claude

async fn claude(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("GET", "claude.com", "/cai/oauth/authorize")
        | ("GET", "claude.ai" | "platform.claude.com", "/oauth/authorize") => {
            authorize(s, req, &CLAUDE_AUTHORIZE)
        }
        ("GET", "platform.claude.com", "/oauth/code/callback") => claude_code_page(req),
        (
            "POST",
            "platform.claude.com" | "console.anthropic.com" | "api.anthropic.com",
            "/v1/oauth/token",
        ) => claude_token(s, req).await,
        ("POST", "api.anthropic.com", "/v1/messages") => claude_messages(s, req),
        ("POST", "api.anthropic.com", "/v1/messages/count_tokens") => claude_count(s, req),
        ("GET", "api.anthropic.com", "/api/oauth/profile") => claude_profile(s, req),
        ("GET", "api.anthropic.com", "/api/oauth/usage") => claude_usage(s, req),
        ("GET", "api.anthropic.com", "/api/oauth/claude_cli/roles") => claude_roles(s, req),
        _ => not_found(req),
    }
}

/// The manual-mode page: the user copies `code#state` into the client.
fn claude_code_page(req: &Req) -> Response {
    let q = req.query();
    let (Some(code), Some(state)) = (param(&q, "code"), param(&q, "state")) else {
        return text(StatusCode::BAD_REQUEST, "Missing code or state");
    };
    let shown = html_escape(&format!("{code}#{state}"));
    html(format!(
        "<!DOCTYPE html><html><head><title>Authentication Code</title></head><body>\
         <h1>Authentication Code</h1><p>Paste this into Claude Code:</p>\
         <pre id=\"code\">{shown}</pre></body></html>"
    ))
}

fn claude_token_body(account: &Account, access: &str, refresh: &str, expires_in: u64) -> Value {
    json!({
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
        "scope": account.scope,
        "organization": {"uuid": pseudo_uuid(&format!("org:{}", account.email)), "name": format!("{}'s Organization", account.email)},
        "account": {"uuid": pseudo_uuid(&format!("account:{}", account.email)), "email_address": account.email}
    })
}

async fn claude_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Claude, &params);
    // Claude Code posts JSON (axios); the endpoint takes nothing else.
    if !req.is_json() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request format",
        );
    }
    match param(&params, "grant_type") {
        Some("authorization_code") => {
            let pending = match redeem(s, Provider::Claude, &params) {
                Ok(p) => p,
                Err(fail) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        code_fail_text(&fail),
                    );
                }
            };
            let account = account_of(&pending);
            // `claude setup-token` asks for a year-long token this way.
            let life = param(&params, "expires_in")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| s.lifetime());
            let (access, refresh, expires_in) =
                s.lock()
                    .issue(Provider::Claude, Kind::Primary, &account, life);
            json_response(
                StatusCode::OK,
                &claude_token_body(&account, &access, &refresh, expires_in),
            )
        }
        Some("refresh_token") => {
            let refreshed = s
                .refresh(
                    Provider::Claude,
                    param(&params, "refresh_token"),
                    param(&params, "client_id"),
                )
                .await;
            match refreshed {
                Ok(r) => json_response(
                    StatusCode::OK,
                    &claude_token_body(
                        &r.account,
                        &r.access,
                        r.refresh.as_deref().unwrap_or_default(),
                        r.expires_in,
                    ),
                ),
                Err(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Refresh token not found or invalid",
                ),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
    }
}

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message},
            "request_id": "req_mockoauth01"}),
    )
}

/// The bearer of a Messages call with its OAuth requirements.
fn claude_auth(s: &Shared, req: &Req) -> Result<Caller, Refusal> {
    if req.header("anthropic-version").is_none() {
        return Err(Box::new(anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        )));
    }
    let caller = match s.auth(Provider::Claude, Kind::Primary, req.bearer()) {
        Auth::Live(c) => c,
        Auth::Expired => {
            return Err(Box::new(anthropic_error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "OAuth token has expired. Please obtain a new token or refresh your existing token.",
            )));
        }
        Auth::Unknown => {
            return Err(Box::new(anthropic_error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "Invalid bearer token",
            )));
        }
    };
    // OAuth tokens only work with the OAuth beta flag.
    let beta = req.header("anthropic-beta").unwrap_or_default();
    if !beta.split(',').any(|b| b.trim() == "oauth-2025-04-20") {
        return Err(Box::new(anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "OAuth authentication is currently not supported.",
        )));
    }
    Ok(caller)
}

fn claude_limit_headers() -> Vec<(&'static str, String)> {
    let now = now();
    let five = (now + 3 * 3600).to_string();
    vec![
        ("anthropic-ratelimit-unified-status", "allowed".into()),
        ("anthropic-ratelimit-unified-reset", five.clone()),
        (
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour".into(),
        ),
        (
            "anthropic-ratelimit-unified-5h-utilization",
            CLAUDE_5H_UTILIZATION.into(),
        ),
        ("anthropic-ratelimit-unified-5h-reset", five),
        ("anthropic-ratelimit-unified-5h-status", "allowed".into()),
        ("anthropic-ratelimit-unified-7d-utilization", "0.1".into()),
        (
            "anthropic-ratelimit-unified-7d-reset",
            (now + 5 * 86_400).to_string(),
        ),
        ("anthropic-ratelimit-unified-7d-status", "allowed".into()),
        ("anthropic-ratelimit-unified-fallback", "available".into()),
        ("request-id", "req_mockoauth01".into()),
    ]
}

fn claude_rejected(reset: u64) -> Response {
    let reset_text = reset.to_string();
    json_with(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"type": "error", "error": {"type": "rate_limit_error",
            "message": "This request would exceed your account's rate limit. Please try again later."},
            "request_id": "req_mockoauth01"}),
        &[
            ("anthropic-ratelimit-unified-status", "rejected".into()),
            ("anthropic-ratelimit-unified-reset", reset_text.clone()),
            (
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour".into(),
            ),
            ("anthropic-ratelimit-unified-5h-utilization", "1.0".into()),
            ("anthropic-ratelimit-unified-5h-reset", reset_text),
            ("anthropic-ratelimit-unified-5h-status", "rejected".into()),
            ("anthropic-ratelimit-unified-7d-utilization", "0.4".into()),
            ("anthropic-ratelimit-unified-7d-status", "allowed".into()),
            ("retry-after", reset.saturating_sub(now()).to_string()),
        ],
    )
}

fn claude_messages(s: &Shared, req: &Req) -> Response {
    let caller = match claude_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let body = req.json();
    if body["max_tokens"].as_u64().is_none() {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    if let Some(reset) = s.exhausted_until(&caller) {
        return claude_rejected(reset);
    }
    messages_answer(req, &claude_limit_headers())
}

/// An Anthropic Messages answer (JSON or SSE as the request asks).
fn messages_answer(req: &Req, headers: &[(&str, String)]) -> Response {
    let model = req.model("claude-sonnet-4-6");
    let response = if req.streams() {
        sse(claude_frames(&model))
    } else {
        json_response(StatusCode::OK, &claude_message(&model))
    };
    with_headers(response, headers)
}

fn claude_count(s: &Shared, req: &Req) -> Response {
    match claude_auth(s, req) {
        Ok(_) => json_response(StatusCode::OK, &json!({"input_tokens": OAUTH_INPUT_TOKENS})),
        Err(r) => *r,
    }
}

/// Profile, usage and roles take the bearer without the version header.
fn claude_bearer(s: &Shared, req: &Req) -> Result<Caller, Refusal> {
    match s.auth(Provider::Claude, Kind::Primary, req.bearer()) {
        Auth::Live(c) => Ok(c),
        _ => Err(Box::new(anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Invalid bearer token",
        ))),
    }
}

fn claude_profile(s: &Shared, req: &Req) -> Response {
    let caller = match claude_bearer(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let email = &caller.email;
    json_response(
        StatusCode::OK,
        &json!({
            "account": {"uuid": pseudo_uuid(&format!("account:{email}")), "email": email,
                "display_name": github_login(email), "full_name": github_login(email),
                "created_at": "2025-01-01T00:00:00Z"},
            "organization": {"uuid": pseudo_uuid(&format!("org:{email}")),
                "name": format!("{email}'s Organization"), "organization_type": "claude_max",
                "rate_limit_tier": "default_claude_max_5x", "billing_type": "stripe_subscription",
                "has_extra_usage_enabled": false}
        }),
    )
}

fn claude_usage(s: &Shared, req: &Req) -> Response {
    let caller = match claude_bearer(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = now();
    let (five, reset) = match s.exhausted_until(&caller) {
        Some(reset) => (100.0, reset),
        None => (25.0, now + 3 * 3600),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "five_hour": {"utilization": five, "resets_at": rfc3339(reset)},
            "seven_day": {"utilization": 10.0, "resets_at": rfc3339(now + 5 * 86_400)},
            "seven_day_opus": {"utilization": 0.0, "resets_at": null},
            "seven_day_sonnet": null,
            "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
        }),
    )
}

fn claude_roles(s: &Shared, req: &Req) -> Response {
    match claude_bearer(s, req) {
        Ok(_) => json_response(
            StatusCode::OK,
            &json!({"organization_role": "admin", "workspace_role": null,
                "organization_name": "Mock Organization"}),
        ),
        Err(r) => *r,
    }
}

// ---------------------------------------------------------------------------
// Google (Gemini CLI, Antigravity)

async fn google(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("GET", "accounts.google.com", "/o/oauth2/v2/auth" | "/o/oauth2/auth") => {
            authorize(s, req, &GOOGLE_AUTHORIZE)
        }
        ("POST", "oauth2.googleapis.com", "/token") => google_token(s, req).await,
        ("GET", "www.googleapis.com", "/oauth2/v2/userinfo" | "/oauth2/v1/userinfo") => {
            google_userinfo(s, req)
        }
        (_, host, _) if host.contains("cloudcode-pa") => code_assist(s, req),
        _ => not_found(req),
    }
}

fn google_error(status: StatusCode, message: &str, rpc: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "status": rpc}}),
    )
}

fn google_unauthenticated() -> Response {
    google_error(
        StatusCode::UNAUTHORIZED,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "UNAUTHENTICATED",
    )
}

async fn google_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Google, &params);
    if !req.is_form() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid Content-Type: application/x-www-form-urlencoded is required",
        );
    }
    if param(&params, "client_id").is_none() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Could not determine client ID from request.",
        );
    }
    // Installed-app clients must still send their (public) secret.
    if param(&params, "client_secret").is_none() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_secret is missing.",
        );
    }
    match param(&params, "grant_type") {
        Some("authorization_code") => {
            let pending = match redeem(s, Provider::Google, &params) {
                Ok(p) => p,
                Err(CodeFail::Verifier) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code verifier.",
                    );
                }
                Err(_) => {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
                }
            };
            let account = account_of(&pending);
            let life = s.lifetime();
            let (access, refresh, expires_in) =
                s.lock()
                    .issue(Provider::Google, Kind::Primary, &account, life);
            json_response(
                StatusCode::OK,
                &json!({"access_token": access, "expires_in": expires_in, "refresh_token": refresh,
                    "scope": account.scope, "token_type": "Bearer",
                    "id_token": google_id_token(&account, now(), life)}),
            )
        }
        Some("refresh_token") => {
            let refreshed = s
                .refresh(
                    Provider::Google,
                    param(&params, "refresh_token"),
                    param(&params, "client_id"),
                )
                .await;
            match refreshed {
                // Google keeps the refresh token: none comes back.
                Ok(r) => json_response(
                    StatusCode::OK,
                    &json!({"access_token": r.access, "expires_in": r.expires_in,
                        "scope": r.account.scope, "token_type": "Bearer",
                        "id_token": google_id_token(&r.account, now(), r.expires_in)}),
                ),
                Err(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                ),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type.",
        ),
    }
}

fn google_userinfo(s: &Shared, req: &Req) -> Response {
    let Auth::Live(caller) = s.auth(Provider::Google, Kind::Primary, req.bearer()) else {
        return google_unauthenticated();
    };
    let email = caller.email;
    json_response(
        StatusCode::OK,
        &json!({"id": google_sub(&email), "email": email, "verified_email": true,
            "name": "Mock Subscriber", "given_name": "Mock", "family_name": "Subscriber",
            "picture": "https://lh3.googleusercontent.com/a/mock"}),
    )
}

fn tier(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "description": format!("{name} (mock)"),
        "userDefinedCloudaicompanionProject": id != "free-tier", "isDefault": id == "free-tier",
        "privacyNotice": {"showNotice": false}, "hasAcceptedTos": true, "hasOnboardedPreviously": true})
}

fn onboarded_operation(name: &str) -> Value {
    json!({"name": name, "done": true, "response": {
        "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
        "cloudaicompanionProject": {"id": CODE_ASSIST_PROJECT, "name": "Mock Companion Project"}}})
}

fn code_assist(s: &Shared, req: &Req) -> Response {
    let caller = match s.auth(Provider::Google, Kind::Primary, req.bearer()) {
        Auth::Live(c) => c,
        _ => return google_unauthenticated(),
    };
    let path = req.path.as_str();
    let state = s.lock().code_assist;
    if req.method == Method::GET {
        return match path.strip_prefix("/v1internal/") {
            Some(name) if name.starts_with("operations/") => {
                s.lock().code_assist = CodeAssistState::Onboarded;
                json_response(StatusCode::OK, &onboarded_operation(name))
            }
            _ => not_found(req),
        };
    }
    match path {
        "/v1internal:loadCodeAssist" => json_response(StatusCode::OK, &load_code_assist(state)),
        "/v1internal:onboardUser" => match state {
            CodeAssistState::Onboarded => json_response(
                StatusCode::OK,
                &onboarded_operation("operations/mock-onboard"),
            ),
            CodeAssistState::NeedsOnboarding => json_response(
                StatusCode::OK,
                &json!({"name": "operations/mock-onboard", "done": false}),
            ),
            CodeAssistState::UnsupportedClient => google_error(
                StatusCode::BAD_REQUEST,
                "This client is no longer supported for Gemini Code Assist for individuals.",
                "FAILED_PRECONDITION",
            ),
        },
        "/v1internal:generateContent" | "/v1internal:streamGenerateContent" => {
            gemini_generate(s, req, &caller, state)
        }
        "/v1internal:countTokens" => {
            json_response(StatusCode::OK, &json!({"totalTokens": OAUTH_INPUT_TOKENS}))
        }
        "/v1internal:fetchAvailableModels" => {
            let fraction = if s.exhausted_until(&caller).is_some() {
                0.0
            } else {
                1.0
            };
            let quota = json!({"remainingFraction": fraction, "resetTime": rfc3339(now() + 3600)});
            json_response(
                StatusCode::OK,
                &json!({"models": {
                    "gemini-3-flash": {"displayName": "Gemini 3 Flash", "modelName": "gemini-3-flash",
                        "maxTokens": 1_048_576, "maxOutputTokens": 65_536, "quotaInfo": quota},
                    "claude-sonnet-4-6": {"displayName": "Claude Sonnet 4.6", "modelName": "claude-sonnet-4-6",
                        "maxTokens": 200_000, "maxOutputTokens": 64_000, "quotaInfo": quota}},
                    "webSearchModelIds": ["gemini-3-flash"]}),
            )
        }
        "/v1internal:retrieveUserQuota" => {
            let fraction = if s.exhausted_until(&caller).is_some() {
                0.0
            } else {
                0.9
            };
            json_response(
                StatusCode::OK,
                &json!({"buckets": [{"remainingAmount": "900", "remainingFraction": fraction,
                    "resetTime": rfc3339(now() + 86_400), "tokenType": "REQUESTS",
                    "modelId": "gemini-2.5-pro"}]}),
            )
        }
        _ => not_found(req),
    }
}

fn load_code_assist(state: CodeAssistState) -> Value {
    match state {
        CodeAssistState::Onboarded => json!({
            "currentTier": tier("standard-tier", "Gemini Code Assist Standard"),
            "allowedTiers": [tier("standard-tier", "Gemini Code Assist Standard")],
            "cloudaicompanionProject": CODE_ASSIST_PROJECT,
            "paidTier": {"id": "g1-pro-tier", "name": "Google AI Pro",
                "availableCredits": [{"creditType": "GOOGLE_ONE_AI", "creditAmount": "1000"}]}
        }),
        CodeAssistState::NeedsOnboarding => json!({
            "allowedTiers": [tier("free-tier", "Gemini Code Assist for individuals"),
                tier("standard-tier", "Gemini Code Assist Standard")]
        }),
        CodeAssistState::UnsupportedClient => json!({
            "allowedTiers": [],
            "ineligibleTiers": [{"reasonCode": "UNSUPPORTED_CLIENT", "tierId": "free-tier",
                "tierName": "Gemini Code Assist for individuals",
                "reasonMessage": "This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products: https://antigravity.google"}]
        }),
    }
}

fn gemini_generate(s: &Shared, req: &Req, caller: &Caller, state: CodeAssistState) -> Response {
    let body = req.json();
    let project = body["project"].as_str().unwrap_or_default();
    if project != CODE_ASSIST_PROJECT || state != CodeAssistState::Onboarded {
        return google_error(
            StatusCode::FORBIDDEN,
            &format!("Permission denied on resource project {project}."),
            "PERMISSION_DENIED",
        );
    }
    if body["request"]["contents"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return google_error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
            "INVALID_ARGUMENT",
        );
    }
    if let Some(reset) = s.exhausted_until(caller) {
        let wait = reset.saturating_sub(now());
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": {"code": 429,
                "message": format!("You have exhausted your capacity on this model. Your quota will reset after {wait}s."),
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
                     "domain": "cloudcode-pa.googleapis.com",
                     "metadata": {"uiMessage": "true", "model": body["model"],
                        "quotaResetDelay": format!("{wait}s"), "quotaResetTimeStamp": rfc3339(reset)}},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{wait}s")}]}}),
        );
    }
    let model = body["model"].as_str().unwrap_or("gemini-2.5-pro");
    if req.path.ends_with(":generateContent") {
        return json_response(StatusCode::OK, &gemini_chunk(model, OAUTH_TEXT, true));
    }
    let parts = pieces(OAUTH_TEXT);
    let chunks: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| gemini_chunk(model, p, i + 1 == parts.len()))
        .collect();
    if req.query.as_deref().is_some_and(|q| q.contains("alt=sse")) {
        sse(chunks.iter().map(|c| format!("data: {c}\n\n")).collect())
    } else {
        // Without alt=sse the stream is one JSON array.
        json_response(StatusCode::OK, &Value::Array(chunks))
    }
}

/// One Code Assist envelope; the last carries the finish and the usage.
fn gemini_chunk(model: &str, text: &str, last: bool) -> Value {
    let mut candidate =
        json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    let mut response =
        json!({"candidates": [], "modelVersion": model, "responseId": "mock-gemini-response"});
    if last {
        candidate["finishReason"] = json!("STOP");
        response["usageMetadata"] = json!({"promptTokenCount": OAUTH_INPUT_TOKENS,
            "candidatesTokenCount": OAUTH_OUTPUT_TOKENS,
            "totalTokenCount": OAUTH_INPUT_TOKENS + OAUTH_OUTPUT_TOKENS});
    }
    response["candidates"] = json!([candidate]);
    json!({"response": response, "traceId": "mocktrace01"})
}

// ---------------------------------------------------------------------------
// GitHub Copilot

async fn github(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("POST", "github.com", "/login/device/code") => github_device_code(s, req),
        ("POST", "github.com", "/login/oauth/access_token") => github_access_token(s, req),
        ("GET", "api.github.com", "/copilot_internal/v2/token") => copilot_token(s, req).await,
        ("GET", "api.github.com", "/user") => github_user(s, req),
        ("GET", "api.github.com", "/copilot_internal/user") => copilot_user(s, req),
        (_, host, _) if host.ends_with("githubcopilot.com") => copilot_api(s, req),
        _ => not_found(req),
    }
}

/// GitHub answers OAuth calls form-encoded unless the client accepts JSON.
fn github_answer(req: &Req, body: Value) -> Response {
    let wants_json = req
        .header("accept")
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return json_response(StatusCode::OK, &body);
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    if let Value::Object(map) = body {
        for (k, v) in map {
            form.append_pair(&k, &flat(v));
        }
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form.finish(),
    )
        .into_response()
}

fn github_error(req: &Req, code: &str, description: &str) -> Response {
    github_answer(
        req,
        json!({"error": code, "error_description": description,
            "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow"}),
    )
}

fn github_device_code(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    let Some(client_id) = param(&params, "client_id") else {
        return text(StatusCode::NOT_FOUND, "Not Found");
    };
    let scope = param(&params, "scope").unwrap_or_default();
    let (device_code, user_code, interval) =
        s.lock()
            .start_device(Provider::GitHub, client_id, scope, None);
    github_answer(
        req,
        json!({"device_code": device_code, "user_code": user_code,
            "verification_uri": "https://github.com/login/device", "expires_in": 900,
            "interval": interval}),
    )
}

fn github_access_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::GitHub, &params);
    if param(&params, "grant_type") != Some("urn:ietf:params:oauth:grant-type:device_code") {
        return github_error(
            req,
            "unsupported_grant_type",
            "The grant type is not supported.",
        );
    }
    let poll = s.lock().poll(
        Provider::GitHub,
        param(&params, "device_code").unwrap_or_default(),
        param(&params, "client_id"),
        None,
    );
    match poll {
        Poll::Pending => github_error(
            req,
            "authorization_pending",
            "The authorization request is still pending.",
        ),
        Poll::SlowDown(interval) => github_answer(
            req,
            json!({"error": "slow_down",
                "error_description": "Too many requests have been made in the same timeframe.",
                "error_uri": "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow",
                "interval": interval}),
        ),
        Poll::Denied => github_error(
            req,
            "access_denied",
            "The authorization request was denied.",
        ),
        Poll::Expired => github_error(req, "expired_token", "The device_code has expired."),
        Poll::Unknown | Poll::Used | Poll::BadVerifier => github_error(
            req,
            "incorrect_device_code",
            "The device_code provided is not valid.",
        ),
        Poll::Approved(account) => {
            // GitHub user tokens of this app do not expire in practice.
            let token = s.lock().issue_access(
                Provider::GitHub,
                Kind::Primary,
                &account,
                KILO_TOKEN_LIFETIME,
            );
            github_answer(
                req,
                json!({"access_token": token, "token_type": "bearer", "scope": account.scope}),
            )
        }
    }
}

/// The GitHub token of an API call: `token X` or `Bearer X`.
fn github_token(req: &Req) -> Option<&str> {
    let value = req.header("authorization")?;
    strip_scheme(value, "token").or_else(|| strip_scheme(value, "bearer"))
}

fn bad_credentials() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
            "status": "401"}),
    )
}

async fn copilot_token(s: &Shared, req: &Req) -> Response {
    s.refresh_pause(Provider::GitHub).await;
    let gh = github_token(req).unwrap_or_default().to_string();
    let mut st = s.lock();
    let account = match st.access.get(&gh) {
        Some(e) if e.provider == Provider::GitHub && e.kind == Kind::Primary && !e.revoked => {
            e.account.clone()
        }
        _ => return bad_credentials(),
    };
    let n = st.next();
    let life = st.access_lifetime;
    let expires_at = now().saturating_add(life);
    let token = format!(
        "tid=mock{n};exp={expires_at};sku=monthly_subscriber;proxy-ep=proxy.individual.githubcopilot.com;chat=1;8kp=1:mocksig{n}"
    );
    st.access.insert(
        token.clone(),
        AccessEntry {
            provider: Provider::GitHub,
            kind: Kind::Copilot,
            account,
            expires_at,
            revoked: false,
            root: Some(gh),
        },
    );
    drop(st);
    json_with(
        StatusCode::OK,
        json!({"token": token, "expires_at": expires_at, "refresh_in": life.saturating_sub(300),
            "endpoints": {"api": COPILOT_API, "proxy": "https://copilot-proxy.githubusercontent.com",
                "telemetry": "https://copilot-telemetry.githubusercontent.com",
                "origin-tracker": "https://origin-tracker.githubusercontent.com"},
            "chat_enabled": true, "individual": true, "sku": "monthly_subscriber",
            "organization_list": [], "enterprise_list": [], "tracking_id": format!("mock-tracking-{n}")}),
        &[("x-github-request-id", format!("MOCK:{n}"))],
    )
}

fn github_account(s: &Shared, req: &Req) -> Option<Account> {
    let gh = github_token(req)?;
    let st = s.lock();
    st.access
        .get(gh)
        .filter(|e| e.provider == Provider::GitHub && e.kind == Kind::Primary && !e.revoked)
        .map(|e| e.account.clone())
}

fn github_user(s: &Shared, req: &Req) -> Response {
    let Some(account) = github_account(s, req) else {
        return bad_credentials();
    };
    json_response(
        StatusCode::OK,
        &json!({"login": github_login(&account.email), "id": 1_000_001, "type": "User",
            "name": "Mock Subscriber", "email": account.email}),
    )
}

fn copilot_user(s: &Shared, req: &Req) -> Response {
    let Some(account) = github_account(s, req) else {
        return bad_credentials();
    };
    let reset = rfc3339(now() + 20 * 86_400);
    json_response(
        StatusCode::OK,
        &json!({"login": github_login(&account.email), "copilot_plan": "individual",
            "access_type_sku": "plus_monthly_subscriber_quota", "chat_enabled": true,
            "quota_reset_date": &reset[..10], "quota_reset_date_utc": reset,
            "quota_snapshots": {
                "chat": {"entitlement": -1, "remaining": 0, "percent_remaining": 100.0, "unlimited": true,
                    "overage_count": 0, "overage_permitted": false, "quota_id": "chat", "quota_remaining": 0.0},
                "completions": {"entitlement": -1, "remaining": 0, "percent_remaining": 100.0, "unlimited": true,
                    "overage_count": 0, "overage_permitted": false, "quota_id": "completions", "quota_remaining": 0.0},
                "premium_interactions": {"entitlement": 300, "remaining": 240, "percent_remaining": 80.0,
                    "unlimited": false, "overage_count": 0, "overage_permitted": false,
                    "quota_id": "premium_interactions", "quota_remaining": 240.0}}}),
    )
}

fn copilot_api(s: &Shared, req: &Req) -> Response {
    let caller = match s.auth(Provider::GitHub, Kind::Copilot, req.bearer()) {
        Auth::Live(c) => c,
        Auth::Expired => {
            return openai_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized: token expired",
                "invalid_request_error",
                Some("token_expired"),
            );
        }
        Auth::Unknown => {
            return openai_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized: Bad credentials",
                "invalid_request_error",
                Some("unauthorized"),
            );
        }
    };
    for needed in ["editor-version", "copilot-integration-id"] {
        if req.header(needed).is_none() {
            let name = if needed == "editor-version" {
                "Editor-Version"
            } else {
                "Copilot-Integration-Id"
            };
            return text(
                StatusCode::BAD_REQUEST,
                format!("bad request: missing {name} header for IDE auth"),
            );
        }
    }
    let endpoint = req.path.as_str();
    if req.method == Method::GET {
        return match endpoint {
            "/models" => json_response(StatusCode::OK, &copilot_models()),
            _ => not_found(req),
        };
    }
    if !matches!(
        endpoint,
        "/chat/completions" | "/responses" | "/v1/messages"
    ) {
        return not_found(req);
    }
    let model = req.model("");
    let Some((_, endpoints)) = COPILOT_MODELS.iter().find(|(id, _)| *id == model) else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "The requested model is not supported.",
            "invalid_request_error",
            Some("model_not_supported"),
        );
    };
    if !endpoints.contains(&endpoint) {
        return openai_error(
            StatusCode::BAD_REQUEST,
            &format!("model \"{model}\" is not accessible via the {endpoint} endpoint"),
            "invalid_request_error",
            Some("unsupported_api_for_model"),
        );
    }
    if let Some(reset) = s.exhausted_until(&caller) {
        return with_headers(
            openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "You have exceeded your premium request allowance. Your allowance resets on the first of the month.",
                "rate_limit_error",
                Some("quota_exceeded"),
            ),
            &[
                ("retry-after", reset.saturating_sub(now()).to_string()),
                (
                    "x-quota-snapshot-premium_interactions",
                    format!("ent=300&ov=0.0&ovPerm=false&rem=0.0&rst={}", rfc3339(reset)),
                ),
            ],
        );
    }
    let quota = [(
        "x-quota-snapshot-premium_interactions",
        format!(
            "ent=300&ov=0.0&ovPerm=false&rem=80.0&rst={}",
            rfc3339(now() + 20 * 86_400)
        ),
    )];
    let response = match endpoint {
        "/chat/completions" => chat_answer(req, false, false),
        "/responses" if req.streams() => sse(responses_frames(&model)),
        "/responses" => json_response(StatusCode::OK, &responses_object(&model)),
        _ => messages_answer(req, &[]),
    };
    with_headers(response, &quota)
}

fn copilot_models() -> Value {
    let data: Vec<Value> = COPILOT_MODELS
        .iter()
        .map(|(id, endpoints)| {
            json!({"id": id, "name": id, "object": "model", "vendor": "mock", "version": id,
                "model_picker_enabled": true, "preview": false,
                "capabilities": {"type": "chat", "family": id, "object": "model_capabilities",
                    "tokenizer": "o200k_base",
                    "supports": {"tool_calls": true, "parallel_tool_calls": true, "streaming": true},
                    "limits": {"max_prompt_tokens": 128_000, "max_output_tokens": 16_384,
                        "max_context_window_tokens": 144_000}},
                "billing": {"is_premium": *id != "gpt-4.1", "multiplier": if *id == "gpt-4.1" { 0 } else { 1 }},
                "policy": {"state": "enabled", "terms": ""},
                "supported_endpoints": endpoints})
        })
        .collect();
    json!({"object": "list", "data": data})
}

// ---------------------------------------------------------------------------
// Kimi Coding

async fn kimi(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("POST", "auth.kimi.com", "/api/oauth/device_authorization") => kimi_device(s, req),
        ("POST", "auth.kimi.com", "/api/oauth/token") => kimi_token(s, req).await,
        ("POST" | "GET", "api.kimi.com", path) if path.starts_with("/coding/") => kimi_api(s, req),
        _ => not_found(req),
    }
}

fn kimi_device(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    let Some(client_id) = param(&params, "client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required",
        );
    };
    let (device_code, user_code, interval) =
        s.lock().start_device(Provider::Kimi, client_id, "", None);
    json_response(
        StatusCode::OK,
        &json!({"device_code": device_code, "user_code": user_code,
            "verification_uri": "https://www.kimi.com/code/authorize_device",
            "verification_uri_complete": with_query("https://www.kimi.com/code/authorize_device", &[("user_code", &user_code)]),
            "expires_in": 600, "interval": interval}),
    )
}

/// RFC 8628 poll answers with HTTP 400 (Kimi, WorkOS); `None` on approval.
fn rfc8628_error(poll: &Poll) -> Option<Response> {
    let (code, description) = match poll {
        Poll::Pending => (
            "authorization_pending",
            "The authorization request is still pending",
        ),
        Poll::SlowDown(_) => ("slow_down", "Polling too frequently, slow down"),
        Poll::Denied => ("access_denied", "The user denied the authorization request"),
        Poll::Expired => ("expired_token", "The device code has expired"),
        Poll::BadVerifier => ("invalid_grant", "PKCE verification failed"),
        Poll::Unknown | Poll::Used => ("invalid_grant", "The device code is invalid"),
        Poll::Approved(_) => return None,
    };
    Some(oauth_error(StatusCode::BAD_REQUEST, code, description))
}

async fn kimi_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Kimi, &params);
    if let Some(refusal) = form_required(req) {
        return refusal;
    }
    match param(&params, "grant_type") {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let poll = s.lock().poll(
                Provider::Kimi,
                param(&params, "device_code").unwrap_or_default(),
                param(&params, "client_id"),
                None,
            );
            if let Some(error) = rfc8628_error(&poll) {
                return error;
            }
            let Poll::Approved(account) = poll else {
                return not_found(req);
            };
            let life = s.lifetime();
            let (access, refresh, expires_in) =
                s.lock()
                    .issue(Provider::Kimi, Kind::Primary, &account, life);
            json_response(
                StatusCode::OK,
                &json!({"access_token": access, "refresh_token": refresh, "expires_in": expires_in,
                    "scope": "kimi-code", "token_type": "Bearer"}),
            )
        }
        Some("refresh_token") => {
            let refreshed = s
                .refresh(
                    Provider::Kimi,
                    param(&params, "refresh_token"),
                    param(&params, "client_id"),
                )
                .await;
            match refreshed {
                Ok(r) => json_response(
                    StatusCode::OK,
                    &json!({"access_token": r.access, "refresh_token": r.refresh,
                        "expires_in": r.expires_in, "scope": "kimi-code", "token_type": "Bearer"}),
                ),
                // Kimi clients read 401 (or `invalid_grant`) as "log in again".
                Err(_) => oauth_error(StatusCode::UNAUTHORIZED, "invalid_grant", "Token revoked"),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        ),
    }
}

fn kimi_api(s: &Shared, req: &Req) -> Response {
    let caller = match s.auth(Provider::Kimi, Kind::Primary, req.bearer()) {
        Auth::Live(c) => c,
        _ => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": {"message": "The API Key appears to be invalid or may have expired. Please verify your credentials and try again.",
                    "type": "invalid_authentication_error"}}),
            );
        }
    };
    let exhausted = s.exhausted_until(&caller);
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/coding/v1/models") => json_response(
            StatusCode::OK,
            &json!({"object": "list", "data": [{"id": "kimi-for-coding", "object": "model",
                "display_name": "Kimi For Coding", "context_length": 262_144,
                "supports_reasoning": true, "supports_image_in": true, "supports_video_in": false}]}),
        ),
        ("GET", "/coding/v1/usages") => {
            let reset = exhausted.unwrap_or_else(|| now() + 3 * 3600);
            let remaining = if exhausted.is_some() { 0 } else { 180 };
            json_response(
                StatusCode::OK,
                &json!({"usage": {"limit": "2000", "remaining": "1500", "resetTime": rfc3339(now() + 5 * 86_400)},
                    "limits": [{"window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                        "detail": {"limit": "200", "remaining": remaining.to_string(), "resetTime": rfc3339(reset)}}]}),
            )
        }
        ("POST", "/coding/v1/chat/completions" | "/coding/v1/messages") => {
            if exhausted.is_some() {
                return openai_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "You've reached your usage limit for this period. Please try again later.",
                    "rate_limit_reached_error",
                    None,
                );
            }
            if req.path.ends_with("/messages") {
                messages_answer(req, &[])
            } else {
                chat_answer(req, false, false)
            }
        }
        _ => not_found(req),
    }
}

// ---------------------------------------------------------------------------
// Kilo Code

fn kilo(s: &Shared, req: &Req) -> Response {
    let path = req.path.as_str();
    match (req.method.as_str(), path) {
        ("POST", "/api/device-auth/codes") => {
            let code = {
                let mut st = s.lock();
                let (device_code, code, _) = st.start_device(Provider::Kilo, "", "", None);
                // Kilo's code is both the user code and the poll key.
                if let Some(session) = st.devices.remove(&device_code) {
                    st.devices.insert(code.clone(), session);
                }
                code
            };
            json_response(
                StatusCode::OK,
                &json!({"code": code,
                    "verificationUrl": format!("https://app.kilo.ai/device-auth?code={code}"),
                    "expiresIn": 600}),
            )
        }
        ("GET", p) if p.starts_with("/api/device-auth/codes") => {
            let code = p
                .trim_start_matches("/api/device-auth/codes")
                .trim_start_matches('/');
            if code.is_empty() {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "Code parameter is required"}),
                );
            }
            let mut params = BTreeMap::new();
            params.insert("code".to_string(), code.to_string());
            s.token_call(Provider::Kilo, &params);
            let poll = s.lock().poll(Provider::Kilo, code, None, None);
            match poll {
                Poll::Pending | Poll::SlowDown(_) => {
                    json_response(StatusCode::ACCEPTED, &json!({"status": "pending"}))
                }
                Poll::Denied => json_response(StatusCode::FORBIDDEN, &json!({"status": "denied"})),
                Poll::Approved(mut account) => {
                    account.scope = code.to_string();
                    let token = s.lock().issue_access(
                        Provider::Kilo,
                        Kind::Primary,
                        &account,
                        KILO_TOKEN_LIFETIME,
                    );
                    json_response(
                        StatusCode::OK,
                        &json!({"status": "approved", "token": token,
                            "userId": kilo_user_id(&account.email), "userEmail": account.email}),
                    )
                }
                // Unknown codes answer like expired ones, to stop enumeration;
                // an approved token is single-use.
                _ => json_response(StatusCode::GONE, &json!({"status": "expired"})),
            }
        }
        ("GET", "/api/profile") => match s.auth(Provider::Kilo, Kind::Primary, req.bearer()) {
            Auth::Live(c) => json_response(
                StatusCode::OK,
                &json!({"user": {"email": c.email, "name": "Mock Subscriber",
                    "id": kilo_user_id(&c.email)}, "organizations": []}),
            ),
            _ => kilo_unauthorized(),
        },
        ("GET", "/api/profile/balance") => {
            match s.auth(Provider::Kilo, Kind::Primary, req.bearer()) {
                Auth::Live(_) => json_response(StatusCode::OK, &json!({"balance": 5.0})),
                _ => kilo_unauthorized(),
            }
        }
        ("GET", "/api/openrouter/models" | "/api/gateway/models") => json_response(
            StatusCode::OK,
            &json!({"data": [
                {"id": "minimax/minimax-m2.5:free", "name": "MiniMax M2.5 (free)", "context_length": 204_800},
                {"id": "anthropic/claude-sonnet-4.6", "name": "Claude Sonnet 4.6", "context_length": 200_000}]}),
        ),
        ("POST", "/api/openrouter/chat/completions" | "/api/gateway/chat/completions") => {
            kilo_chat(s, req)
        }
        _ => not_found(req),
    }
}

fn kilo_unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"error": {"code": "INVALID_TOKEN", "message": "Invalid or expired token"}}),
    )
}

fn kilo_chat(s: &Shared, req: &Req) -> Response {
    let model = req.model("");
    if model.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "model does not exist"}),
        );
    }
    let free = model.ends_with(":free") || model == "openrouter/free";
    if req.bearer() == Some("anonymous") {
        if !free {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": {"code": "PAID_MODEL_AUTH_REQUIRED",
                    "message": "You need to sign in to use this model."}}),
            );
        }
        return chat_answer(req, true, false);
    }
    let caller = match s.auth(Provider::Kilo, Kind::Primary, req.bearer()) {
        Auth::Live(c) => c,
        _ => return kilo_unauthorized(),
    };
    if s.exhausted_until(&caller).is_some() {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "Rate limit exceeded",
                "message": "Free model usage limit reached. Please try again later or add credits."}),
        );
    }
    // The Kilo server forces stream_options.include_usage.
    chat_answer(req, true, false)
}

// ---------------------------------------------------------------------------
// Cline (WorkOS device auth + api.cline.bot)

async fn cline(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("POST", "api.workos.com", "/user_management/authorize/device") => workos_device(s, req),
        ("POST", "api.workos.com", "/user_management/authenticate") => workos_authenticate(s, req),
        ("POST", "api.cline.bot", "/api/v1/auth/register") => cline_register(s, req),
        ("POST", "api.cline.bot", "/api/v1/auth/refresh") => cline_refresh(s, req).await,
        ("GET", "api.cline.bot", "/api/v1/users/me") => cline_me(s, req),
        ("POST", "api.cline.bot", "/api/v1/chat/completions") => cline_chat(s, req),
        _ => not_found(req),
    }
}

fn workos_device(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    if let Some(refusal) = form_required(req) {
        return refusal;
    }
    let Some(client_id) = param(&params, "client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id is required",
        );
    };
    let (device_code, user_code, interval) =
        s.lock().start_device(Provider::Cline, client_id, "", None);
    let verification = "https://auth.cline.bot/device";
    json_response(
        StatusCode::OK,
        &json!({"device_code": device_code, "user_code": user_code,
            "verification_uri": verification,
            "verification_uri_complete": with_query(verification, &[("user_code", &user_code)]),
            "expires_in": 300, "interval": interval}),
    )
}

fn workos_authenticate(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Cline, &params);
    if param(&params, "grant_type") != Some("urn:ietf:params:oauth:grant-type:device_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }
    let poll = s.lock().poll(
        Provider::Cline,
        param(&params, "device_code").unwrap_or_default(),
        param(&params, "client_id"),
        None,
    );
    if let Some(error) = rfc8628_error(&poll) {
        return error;
    }
    let Poll::Approved(account) = poll else {
        return not_found(req);
    };
    let life = s.lifetime();
    let (access, refresh, _) = s
        .lock()
        .issue(Provider::Cline, Kind::WorkOs, &account, life);
    json_response(
        StatusCode::OK,
        &json!({"user": {"object": "user", "id": format!("user_{}", &pseudo_uuid(&account.email)[..8]),
                "email": account.email, "email_verified": true},
            "access_token": access, "refresh_token": refresh,
            "authentication_method": "GoogleOAuth"}),
    )
}

/// Cline's `{success, data}` token envelope.
fn cline_envelope(account: &Account, access: &str, refresh: &str, life: u64) -> Value {
    json!({"success": true, "data": {
        "accessToken": access, "refreshToken": refresh, "tokenType": "Bearer",
        "expiresAt": rfc3339(now().saturating_add(life)),
        "userInfo": {"subject": format!("user_{}", &pseudo_uuid(&account.email)[..8]),
            "email": account.email, "name": "Mock Subscriber",
            "clineUserId": pseudo_uuid(&format!("cline:{}", account.email)), "accounts": []}}})
}

fn cline_register(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Cline, &params);
    let account = {
        let st = s.lock();
        param(&params, "accessToken")
            .and_then(|t| st.access.get(t))
            .filter(|e| {
                e.provider == Provider::Cline
                    && e.kind == Kind::WorkOs
                    && !e.revoked
                    && now() < e.expires_at
            })
            .map(|e| e.account.clone())
    };
    let Some(account) = account else {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"success": false, "error": "invalid_token",
                "message": "The WorkOS access token is invalid or expired"}),
        );
    };
    let life = s.lifetime();
    let (access, refresh, _) = s
        .lock()
        .issue(Provider::Cline, Kind::Primary, &account, life);
    json_response(
        StatusCode::OK,
        &cline_envelope(&account, &access, &refresh, life),
    )
}

async fn cline_refresh(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Cline, &params);
    match s
        .refresh(Provider::Cline, param(&params, "refreshToken"), None)
        .await
    {
        Ok(r) => json_response(
            StatusCode::OK,
            &cline_envelope(
                &r.account,
                &r.access,
                r.refresh.as_deref().unwrap_or_default(),
                r.expires_in,
            ),
        ),
        Err(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Refresh token is invalid, expired or revoked",
        ),
    }
}

/// Cline's data plane wants `Bearer workos:<token>`.
fn cline_auth(s: &Shared, req: &Req) -> Result<Caller, Refusal> {
    let token = req.bearer().and_then(|t| t.strip_prefix("workos:"));
    match s.auth(Provider::Cline, Kind::Primary, token) {
        Auth::Live(c) => Ok(c),
        _ => Err(Box::new(json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"message": "Unauthorized: invalid or expired token", "code": 401}}),
        ))),
    }
}

fn cline_me(s: &Shared, req: &Req) -> Response {
    match cline_auth(s, req) {
        Ok(c) => json_response(
            StatusCode::OK,
            &json!({"success": true, "data": {"id": pseudo_uuid(&format!("cline:{}", c.email)),
                "email": c.email, "displayName": "Mock Subscriber", "organizations": []}}),
        ),
        Err(r) => *r,
    }
}

fn cline_chat(s: &Shared, req: &Req) -> Response {
    let caller = match cline_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if s.exhausted_until(&caller).is_some() {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": {"code": "SPEND_LIMIT_EXCEEDED",
                "message": "You have reached your spend limit."}}),
        );
    }
    chat_answer(req, false, true)
}

// ---------------------------------------------------------------------------
// Kiro (AWS SSO OIDC + CodeWhisperer)

async fn kiro(s: &Shared, req: &Req) -> Response {
    let oidc = req.host.starts_with("oidc.");
    match (req.method.as_str(), oidc, req.path.as_str()) {
        ("POST", true, "/client/register") => kiro_register(s, req),
        ("POST", true, "/device_authorization") => kiro_device(s, req),
        ("POST", true, "/token") => kiro_token(s, req).await,
        ("POST", false, "/generateAssistantResponse") => kiro_generate(s, req),
        ("GET", false, "/getUsageLimits") => kiro_usage(s, req),
        _ => not_found(req),
    }
}

/// An AWS rest-json error: the OAuth-style body plus `x-amzn-ErrorType`.
fn aws_error(status: StatusCode, exception: &str, code: &str, description: &str) -> Response {
    with_headers(
        oauth_error(status, code, description),
        &[("x-amzn-ErrorType", exception.to_string())],
    )
}

fn kiro_register(s: &Shared, req: &Req) -> Response {
    let body = req.json();
    if !body["clientName"].is_string() || body["clientType"] != "public" {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidClientMetadataException",
            "invalid_client_metadata",
            "clientName is required and clientType must be public",
        );
    }
    let mut st = s.lock();
    let n = st.next();
    let (id, secret) = (format!("mockclient{n}"), format!("mocksecret{n}"));
    st.kiro_clients.insert(id.clone(), secret.clone());
    let now = now();
    json_response(
        StatusCode::OK,
        &json!({"clientId": id, "clientSecret": secret, "clientIdIssuedAt": now,
            "clientSecretExpiresAt": now + 90 * 86_400}),
    )
}

/// The registered client a call names, or AWS's 401.
fn kiro_client(s: &Shared, params: &BTreeMap<String, String>) -> Result<String, Refusal> {
    let id = param(params, "clientId").unwrap_or_default();
    let secret = param(params, "clientSecret").unwrap_or_default();
    if s.lock()
        .kiro_clients
        .get(id)
        .is_some_and(|known| known == secret)
    {
        Ok(id.to_string())
    } else {
        Err(Box::new(aws_error(
            StatusCode::UNAUTHORIZED,
            "InvalidClientException",
            "invalid_client",
            "Invalid client",
        )))
    }
}

fn kiro_device(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    let client = match kiro_client(s, &params) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if param(&params, "startUrl").is_none() {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestException",
            "invalid_request",
            "startUrl is required",
        );
    }
    let (device_code, user_code, interval) =
        s.lock().start_device(Provider::Kiro, &client, "", None);
    let verification = "https://view.awsapps.com/start/#/device";
    json_response(
        StatusCode::OK,
        &json!({"deviceCode": device_code, "userCode": user_code,
            "verificationUri": verification,
            "verificationUriComplete": format!("{verification}?user_code={user_code}"),
            "expiresIn": 600, "interval": interval}),
    )
}

async fn kiro_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Kiro, &params);
    let client = match kiro_client(s, &params) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match param(&params, "grantType") {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let poll = s.lock().poll(
                Provider::Kiro,
                param(&params, "deviceCode").unwrap_or_default(),
                Some(&client),
                None,
            );
            let (exception, code, description) = match poll {
                Poll::Pending => (
                    "AuthorizationPendingException",
                    "authorization_pending",
                    "Authorization is still pending",
                ),
                Poll::SlowDown(_) => (
                    "SlowDownException",
                    "slow_down",
                    "Client is polling too quickly",
                ),
                Poll::Denied => (
                    "AccessDeniedException",
                    "access_denied",
                    "Access was denied",
                ),
                Poll::Expired => (
                    "ExpiredTokenException",
                    "expired_token",
                    "Device code has expired",
                ),
                Poll::Unknown | Poll::Used | Poll::BadVerifier => (
                    "InvalidGrantException",
                    "invalid_grant",
                    "Invalid device code provided",
                ),
                Poll::Approved(account) => {
                    let life = s.lifetime();
                    let (access, refresh, expires_in) =
                        s.lock()
                            .issue(Provider::Kiro, Kind::Primary, &account, life);
                    return json_response(
                        StatusCode::OK,
                        &json!({"accessToken": access, "tokenType": "Bearer",
                            "expiresIn": expires_in, "refreshToken": refresh}),
                    );
                }
            };
            aws_error(StatusCode::BAD_REQUEST, exception, code, description)
        }
        Some("refresh_token") => {
            // A refresh token only works with the client it was issued to.
            match s
                .refresh(
                    Provider::Kiro,
                    param(&params, "refreshToken"),
                    Some(&client),
                )
                .await
            {
                Ok(r) => json_response(
                    StatusCode::OK,
                    &json!({"accessToken": r.access, "tokenType": "Bearer",
                        "expiresIn": r.expires_in, "refreshToken": r.refresh}),
                ),
                Err(_) => aws_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidGrantException",
                    "invalid_grant",
                    "Invalid refresh token provided",
                ),
            }
        }
        _ => aws_error(
            StatusCode::BAD_REQUEST,
            "UnsupportedGrantTypeException",
            "unsupported_grant_type",
            "Unsupported grant type",
        ),
    }
}

fn kiro_auth(s: &Shared, req: &Req) -> Result<Caller, Refusal> {
    match s.auth(Provider::Kiro, Kind::Primary, req.bearer()) {
        Auth::Live(c) => Ok(c),
        _ => Err(Box::new(json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "The bearer token included in the request is invalid.", "reason": null}),
        ))),
    }
}

fn kiro_generate(s: &Shared, req: &Req) -> Response {
    let caller = match kiro_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let body = req.json();
    let message = &body["conversationState"]["currentMessage"]["userInputMessage"];
    if message["content"].as_str().is_none_or(str::is_empty) || !message["modelId"].is_string() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": "Improperly formed request.", "reason": null}),
        );
    }
    if s.exhausted_until(&caller).is_some() {
        return json_response(
            StatusCode::PAYMENT_REQUIRED,
            &json!({"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"}),
        );
    }
    let mut out = Vec::new();
    for piece in pieces(OAUTH_TEXT) {
        out.extend(event_frame(
            "assistantResponseEvent",
            &json!({"content": piece}),
        ));
    }
    out.extend(event_frame(
        "meteringEvent",
        &json!({"unit": "credit", "unitPlural": "credits", "usage": KIRO_CREDITS}),
    ));
    out.extend(event_frame(
        "contextUsageEvent",
        &json!({"contextUsagePercentage": 1.25}),
    ));
    out.extend(event_frame(
        "metadataEvent",
        &json!({"tokenUsage": {"uncachedInputTokens": OAUTH_INPUT_TOKENS, "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 0, "outputTokens": OAUTH_OUTPUT_TOKENS,
            "totalTokens": OAUTH_INPUT_TOKENS + OAUTH_OUTPUT_TOKENS}}),
    ));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")],
        Body::from(out),
    )
        .into_response()
}

fn kiro_usage(s: &Shared, req: &Req) -> Response {
    let caller = match kiro_auth(s, req) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let used = if s.exhausted_until(&caller).is_some() {
        1000
    } else {
        125
    };
    let reset = now() + 12 * 86_400;
    json_response(
        StatusCode::OK,
        &json!({"daysUntilReset": 12, "nextDateReset": reset,
            "userInfo": {"email": caller.email, "userId": pseudo_uuid(&caller.email)},
            "subscriptionInfo": {"subscriptionTitle": "KIRO PRO", "type": "Q_DEVELOPER_STANDALONE_PRO",
                "overageCapability": "OVERAGE_CAPABLE"},
            "overageConfiguration": {"overageStatus": "DISABLED"},
            "usageBreakdownList": [{"resourceType": "AGENTIC_REQUEST", "displayName": "Credits",
                "currentUsage": used, "currentUsageWithPrecision": used as f64,
                "usageLimit": 1000, "usageLimitWithPrecision": 1000.0, "nextDateReset": reset}]}),
    )
}

/// CRC-32 (IEEE), as AWS event-stream frames use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// One AWS event-stream message: prelude (total and header lengths), its
/// CRC, string headers, the JSON payload and the message CRC.
fn event_frame(event_type: &str, payload: &Value) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let payload = payload.to_string().into_bytes();
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&payload);
    let message_crc = crc32(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

// ---------------------------------------------------------------------------
// Qwen Code

async fn qwen(s: &Shared, req: &Req) -> Response {
    match (req.method.as_str(), req.host.as_str(), req.path.as_str()) {
        ("POST", "chat.qwen.ai", "/api/v1/oauth2/device/code") => qwen_device(s, req),
        ("POST", "chat.qwen.ai", "/api/v1/oauth2/token") => qwen_token(s, req).await,
        ("POST", "portal.qwen.ai", "/v1/chat/completions") => qwen_chat(s, req),
        _ => not_found(req),
    }
}

fn qwen_device(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    if let Some(refusal) = form_required(req) {
        return refusal;
    }
    let (Some(client_id), Some(challenge)) = (
        param(&params, "client_id"),
        param(&params, "code_challenge"),
    ) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and code_challenge are required",
        );
    };
    if param(&params, "code_challenge_method") != Some("S256") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_challenge_method must be S256",
        );
    }
    let scope = param(&params, "scope").unwrap_or_default();
    let (device_code, user_code, interval) = s.lock().start_device(
        Provider::Qwen,
        client_id,
        scope,
        Some(challenge.to_string()),
    );
    json_response(
        StatusCode::OK,
        &json!({"device_code": device_code, "user_code": user_code,
            "verification_uri": "https://chat.qwen.ai/authorize",
            "verification_uri_complete": with_query("https://chat.qwen.ai/authorize", &[("user_code", &user_code), ("client", "qwen-code")]),
            "expires_in": 900, "interval": interval}),
    )
}

async fn qwen_token(s: &Shared, req: &Req) -> Response {
    let params = req.params();
    s.token_call(Provider::Qwen, &params);
    if let Some(refusal) = form_required(req) {
        return refusal;
    }
    match param(&params, "grant_type") {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let poll = s.lock().poll(
                Provider::Qwen,
                param(&params, "device_code").unwrap_or_default(),
                param(&params, "client_id"),
                param(&params, "code_verifier"),
            );
            if let Poll::SlowDown(_) = poll {
                // Qwen Code expects slow_down as a 429.
                return oauth_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    "Polling too frequently, slow down",
                );
            }
            if let Some(error) = rfc8628_error(&poll) {
                return error;
            }
            let Poll::Approved(account) = poll else {
                return not_found(req);
            };
            let life = s.lifetime();
            let (access, refresh, expires_in) =
                s.lock()
                    .issue(Provider::Qwen, Kind::Primary, &account, life);
            json_response(
                StatusCode::OK,
                &json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                    "expires_in": expires_in, "scope": account.scope, "resource_url": QWEN_RESOURCE_URL}),
            )
        }
        Some("refresh_token") => {
            match s
                .refresh(
                    Provider::Qwen,
                    param(&params, "refresh_token"),
                    param(&params, "client_id"),
                )
                .await
            {
                Ok(r) => json_response(
                    StatusCode::OK,
                    &json!({"access_token": r.access, "token_type": "Bearer",
                        "expires_in": r.expires_in, "refresh_token": r.refresh,
                        "resource_url": QWEN_RESOURCE_URL}),
                ),
                Err(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token",
                ),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        ),
    }
}

fn qwen_chat(s: &Shared, req: &Req) -> Response {
    let caller = match s.auth(Provider::Qwen, Kind::Primary, req.bearer()) {
        Auth::Live(c) => c,
        _ => {
            return openai_error(
                StatusCode::UNAUTHORIZED,
                "invalid access token or token expired",
                "invalid_request_error",
                Some("invalid_api_key"),
            );
        }
    };
    if s.exhausted_until(&caller).is_some() {
        return openai_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Free allocated quota exceeded.",
            "insufficient_quota",
            Some("insufficient_quota"),
        );
    }
    chat_answer(req, false, false)
}

// ---------------------------------------------------------------------------
// Answer bodies

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn chat_usage() -> Value {
    json!({"prompt_tokens": OAUTH_INPUT_TOKENS, "completion_tokens": OAUTH_OUTPUT_TOKENS,
        "total_tokens": OAUTH_INPUT_TOKENS + OAUTH_OUTPUT_TOKENS})
}

/// An OpenAI Chat Completions answer; `force_usage` sends the usage chunk
/// even unasked (Kilo), `envelope` wraps a whole answer in Cline's
/// `{success, data}`.
fn chat_answer(req: &Req, force_usage: bool, envelope: bool) -> Response {
    let body = req.json();
    let model = req.model("mock-model");
    let created = now();
    if body["stream"] != Value::Bool(true) {
        let completion = json!({"id": "chatcmpl-mockoauth", "object": "chat.completion",
            "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": OAUTH_TEXT},
                "logprobs": null, "finish_reason": "stop"}],
            "usage": chat_usage()});
        let out = if envelope {
            json!({"success": true, "data": completion})
        } else {
            completion
        };
        return json_response(StatusCode::OK, &out);
    }
    let include_usage = force_usage || body["stream_options"]["include_usage"] == Value::Bool(true);
    let chunk = |choices: Value, usage: Value| {
        let mut c = json!({"id": "chatcmpl-mockoauth", "object": "chat.completion.chunk",
            "created": created, "model": model, "choices": choices});
        if include_usage {
            c["usage"] = usage;
        }
        format!("data: {c}\n\n")
    };
    let mut frames = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        Value::Null,
    )];
    for piece in pieces(OAUTH_TEXT) {
        frames.push(chunk(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
            Value::Null,
        ));
    }
    frames.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        Value::Null,
    ));
    if include_usage {
        frames.push(chunk(json!([]), chat_usage()));
    }
    frames.push("data: [DONE]\n\n".to_string());
    sse(frames)
}

fn responses_usage() -> Value {
    json!({"input_tokens": OAUTH_INPUT_TOKENS, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": OAUTH_OUTPUT_TOKENS, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": OAUTH_INPUT_TOKENS + OAUTH_OUTPUT_TOKENS})
}

const RESPONSE_ID: &str = "resp_mockoauth";
const MESSAGE_ID: &str = "msg_mockoauth";

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "text": text})
}

fn message_item(status: &str, content: Vec<Value>) -> Value {
    json!({"id": MESSAGE_ID, "type": "message", "status": status, "content": content, "role": "assistant"})
}

fn response_with(model: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({"id": RESPONSE_ID, "object": "response", "created_at": now(), "status": status,
        "error": null, "incomplete_details": null, "model": model, "output": output,
        "parallel_tool_calls": true, "store": false, "usage": usage})
}

fn responses_object(model: &str) -> Value {
    response_with(
        model,
        "completed",
        vec![message_item("completed", vec![output_text(OAUTH_TEXT)])],
        responses_usage(),
    )
}

/// A Responses API stream: every event's data starts with `type` and
/// `sequence_number`.
fn responses_frames(model: &str) -> Vec<String> {
    let mut frames = Vec::new();
    let mut sequence = 0u64;
    let mut push = |kind: &str, fields: Value| {
        let mut data = Map::new();
        data.insert("type".into(), json!(kind));
        data.insert("sequence_number".into(), json!(sequence));
        if let Value::Object(rest) = fields {
            data.extend(rest);
        }
        sequence += 1;
        frames.push(event(kind, &Value::Object(data)));
    };
    let started = response_with(model, "in_progress", Vec::new(), Value::Null);
    push("response.created", json!({"response": started}));
    push("response.in_progress", json!({"response": started}));
    push(
        "response.output_item.added",
        json!({"output_index": 0, "item": message_item("in_progress", Vec::new())}),
    );
    let at = json!({"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0});
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    };
    push(
        "response.content_part.added",
        with(json!({"part": output_text("")})),
    );
    for piece in pieces(OAUTH_TEXT) {
        push(
            "response.output_text.delta",
            with(json!({"delta": piece, "logprobs": []})),
        );
    }
    push(
        "response.output_text.done",
        with(json!({"text": OAUTH_TEXT, "logprobs": []})),
    );
    push(
        "response.content_part.done",
        with(json!({"part": output_text(OAUTH_TEXT)})),
    );
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": message_item("completed", vec![output_text(OAUTH_TEXT)])}),
    );
    push(
        "response.completed",
        json!({"response": responses_object(model)}),
    );
    frames
}

fn claude_message(model: &str) -> Value {
    json!({"id": "msg_mockoauth01", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": OAUTH_TEXT}], "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": OAUTH_INPUT_TOKENS, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": OAUTH_OUTPUT_TOKENS}})
}

fn claude_frames(model: &str) -> Vec<String> {
    let mut frames = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {"id": "msg_mockoauth01", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": OAUTH_INPUT_TOKENS,
                    "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for piece in pieces(OAUTH_TEXT) {
        frames.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    frames.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": OAUTH_OUTPUT_TOKENS}}),
    ));
    frames.push(event("message_stop", &json!({"type": "message_stop"})));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODEX_CLIENT: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
    const CODEX_REDIRECT: &str = "http://localhost:1455/auth/callback";
    const CLAUDE_CLIENT: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
    const VERIFIER: &str = "a-pkce-verifier-long-enough-to-be-real-0123456789abcdef";

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn query_of(location: &str) -> BTreeMap<String, String> {
        let query = location.split_once('?').map_or("", |(_, q)| q);
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The JSON of every `data:` line of an SSE body (without `[DONE]`).
    fn sse_data(body: &str) -> Vec<Value> {
        body.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    async fn codex_authorize(mock: &OAuthMock, http: &reqwest::Client, state: &str) -> String {
        let challenge = code_challenge(VERIFIER);
        let url = with_query(
            &mock.url("https://auth.openai.com/oauth/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", CODEX_CLIENT),
                ("redirect_uri", CODEX_REDIRECT),
                ("scope", "openid profile email offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("id_token_add_organizations", "true"),
                ("codex_cli_simplified_flow", "true"),
                ("state", state),
                ("originator", "codex_cli_rs"),
            ],
        );
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(CODEX_REDIRECT), "{location}");
        let q = query_of(&location);
        assert_eq!(q["state"], state);
        assert_eq!(q["scope"], "openid profile email offline_access");
        q["code"].clone()
    }

    async fn codex_exchange(
        mock: &OAuthMock,
        http: &reqwest::Client,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        http.post(mock.url("https://auth.openai.com/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CODEX_REDIRECT),
                ("client_id", CODEX_CLIENT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn codex_pkce_round_trip_then_refresh_rotates() {
        let mock = OAuthMock::start().await;
        mock.set_email("auth.openai.com", "alice@example.com");
        let http = client();
        let token_url = mock.url("https://auth.openai.com/oauth/token");

        let r = http
            .get(mock.url("https://auth.openai.com/oauth/authorize?response_type=code&client_id=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        // A wrong verifier is refused and burns the code.
        let code = codex_authorize(&mock, &http, "state-1").await;
        let bad = codex_exchange(&mock, &http, &code, "not-the-verifier").await;
        assert_eq!(bad.status(), 400);
        let body: Value = bad.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(
            codex_exchange(&mock, &http, &code, VERIFIER).await.status(),
            400
        );

        let code = codex_authorize(&mock, &http, "state-2").await;
        let ok = codex_exchange(&mock, &http, &code, VERIFIER).await;
        assert_eq!(ok.status(), 200);
        let tokens: Value = ok.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], DEFAULT_ACCESS_LIFETIME);
        let id = jwt_payload(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["email"], "alice@example.com");
        let auth = &id["https://api.openai.com/auth"];
        assert_eq!(
            auth["chatgpt_account_id"],
            chatgpt_account_id("alice@example.com")
        );
        assert_eq!(auth["chatgpt_plan_type"], CHATGPT_PLAN_TYPE);
        // One-time code.
        assert_eq!(
            codex_exchange(&mock, &http, &code, VERIFIER).await.status(),
            400
        );
        // The exchange must be a form.
        let code = codex_authorize(&mock, &http, "state-3").await;
        let json_exchange = http
            .post(&token_url)
            .json(&json!({"grant_type": "authorization_code", "code": code,
                "redirect_uri": CODEX_REDIRECT, "client_id": CODEX_CLIENT, "code_verifier": VERIFIER}))
            .send()
            .await
            .unwrap();
        assert_eq!(json_exchange.status(), 400);

        // Refresh (JSON, as Codex sends it) rotates both tokens.
        let old = tokens["refresh_token"].as_str().unwrap();
        let r = http
            .post(&token_url)
            .json(&json!({"client_id": CODEX_CLIENT, "grant_type": "refresh_token", "refresh_token": old}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let fresh: Value = r.json().await.unwrap();
        assert_ne!(fresh["refresh_token"], tokens["refresh_token"]);
        assert_ne!(fresh["access_token"], tokens["access_token"]);
        // The old refresh token is now a reuse.
        let reused = http
            .post(&token_url)
            .form(&[
                ("client_id", CODEX_CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", old),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(reused.status(), 401);
        let body: Value = reused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "refresh_token_reused");
        // The new one works, as a form too.
        let r = http
            .post(&token_url)
            .form(&[
                ("client_id", CODEX_CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // After a revocation every refresh fails with Codex's revoked code.
        let last: Value = r.json().await.unwrap();
        mock.revoke_refresh_tokens("chatgpt.com");
        let r = http
            .post(&token_url)
            .json(
                &json!({"client_id": CODEX_CLIENT, "grant_type": "refresh_token",
                "refresh_token": last["refresh_token"]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "refresh_token_invalidated");

        assert_eq!(mock.refresh_count("auth.openai.com"), 4);
        let grants: Vec<String> = mock
            .token_calls("auth.openai.com")
            .into_iter()
            .map(|c| c.grant_type)
            .collect();
        assert_eq!(
            grants,
            [
                "authorization_code",
                "authorization_code",
                "authorization_code",
                "authorization_code",
                "authorization_code",
                "refresh_token",
                "refresh_token",
                "refresh_token",
                "refresh_token"
            ]
        );
        let calls = mock.token_calls("auth.openai.com");
        assert_eq!(calls[2].params["code_verifier"], VERIFIER);
        assert_eq!(calls[5].params["client_id"], CODEX_CLIENT);
    }

    /// A Codex login; returns the access token.
    async fn codex_login(mock: &OAuthMock, http: &reqwest::Client) -> String {
        let code = codex_authorize(mock, http, "s").await;
        let tokens: Value = codex_exchange(mock, http, &code, VERIFIER)
            .await
            .json()
            .await
            .unwrap();
        tokens["access_token"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn codex_backend_wants_a_live_token_and_its_body_rules() {
        let mock = OAuthMock::start().await;
        let http = client();
        let access = codex_login(&mock, &http).await;
        let url = mock.url("https://chatgpt.com/backend-api/codex/responses");
        let account = chatgpt_account_id(DEFAULT_EMAIL);
        let body = json!({"model": "gpt-5.4", "instructions": "", "store": false, "stream": true,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]});
        let send = |token: &str, body: &Value| {
            http.post(&url)
                .bearer_auth(token)
                .header("chatgpt-account-id", &account)
                .json(body)
                .send()
        };

        let r = send(&access, &body).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        assert_eq!(r.headers()["x-codex-primary-window-minutes"], "300");
        let events = sse_data(&r.text().await.unwrap());
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(text, OAUTH_TEXT);
        let done = events.last().unwrap();
        assert_eq!(done["type"], "response.completed");
        assert_eq!(
            done["response"]["usage"]["input_tokens"],
            OAUTH_INPUT_TOKENS
        );

        let r = send("not-a-token", &body).await.unwrap();
        assert_eq!(r.status(), 401);
        let mut stored = body.clone();
        stored["store"] = json!(true);
        let r = send(&access, &stored).await.unwrap();
        assert_eq!(r.status(), 400);
        let detail: Value = r.json().await.unwrap();
        assert_eq!(detail["detail"], "Store must be set to false");
        let mut whole = body.clone();
        whole["stream"] = json!(false);
        assert_eq!(send(&access, &whole).await.unwrap().status(), 400);

        mock.exhaust(DEFAULT_EMAIL, now() + 600);
        let r = send(&access, &body).await.unwrap();
        assert_eq!(r.status(), 429);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["type"], "usage_limit_reached");
        assert!(err["error"]["resets_in_seconds"].as_u64().unwrap() <= 600);

        // A token issued dead answers token_expired.
        mock.set_access_lifetime(0);
        let dead = codex_login(&mock, &http).await;
        let r = send(&dead, &body).await.unwrap();
        assert_eq!(r.status(), 401);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], "token_expired");

        let seen = mock
            .requests()
            .into_iter()
            .find(|r| r.host == "chatgpt.com")
            .unwrap();
        assert_eq!(seen.path, "/backend-api/codex/responses");
        assert_eq!(seen.header("chatgpt-account-id"), Some(account.as_str()));
        assert_eq!(seen.body["store"], false);
    }

    async fn github_poll(mock: &OAuthMock, http: &reqwest::Client, device_code: &str) -> Value {
        let r = http
            .post(mock.url("https://github.com/login/oauth/access_token"))
            .header("accept", "application/json")
            .json(
                &json!({"client_id": "Iv1.b507a08c87ecfe98", "device_code": device_code,
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}),
            )
            .send()
            .await
            .unwrap();
        // GitHub answers every poll with 200.
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    #[tokio::test]
    async fn github_device_script_then_copilot_token_and_chat() {
        let mock = OAuthMock::start().await;
        mock.set_device_interval(1);
        mock.set_email("github.com", "octo.cat@example.com");
        mock.script_device(
            "github.com",
            vec![DeviceStep::Pending, DeviceStep::SlowDown],
        );
        let http = client();

        let start: Value = http
            .post(mock.url("https://github.com/login/device/code"))
            .header("accept", "application/json")
            .json(&json!({"client_id": "Iv1.b507a08c87ecfe98", "scope": "read:user"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(start["verification_uri"], "https://github.com/login/device");
        assert_eq!(start["interval"], 1);
        let device = start["device_code"].as_str().unwrap();

        assert_eq!(
            github_poll(&mock, &http, device).await["error"],
            "authorization_pending"
        );
        let slow = github_poll(&mock, &http, device).await;
        assert_eq!(slow["error"], "slow_down");
        assert_eq!(slow["interval"], 6);
        let done = github_poll(&mock, &http, device).await;
        assert_eq!(done["token_type"], "bearer");
        assert_eq!(done["scope"], "read:user");
        let gh = done["access_token"].as_str().unwrap().to_string();
        assert!(gh.starts_with("ghu_"));
        assert_eq!(
            github_poll(&mock, &http, device).await["error"],
            "incorrect_device_code"
        );

        // Without `Accept: application/json` GitHub answers a form.
        let form = http
            .post(mock.url("https://github.com/login/device/code"))
            .form(&[("client_id", "Iv1.b507a08c87ecfe98")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(form.contains("device_code=") && form.contains("user_code="));

        let token_url = mock.url("https://api.github.com/copilot_internal/v2/token");
        let r = http
            .get(&token_url)
            .header("authorization", format!("token {gh}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("x-github-request-id"));
        let copilot: Value = r.json().await.unwrap();
        assert_eq!(copilot["endpoints"]["api"], COPILOT_API);
        assert_eq!(copilot["refresh_in"], DEFAULT_ACCESS_LIFETIME - 300);
        let token = copilot["token"].as_str().unwrap();
        let r = http
            .get(&token_url)
            .header("authorization", "Bearer ghu_unknown")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(mock.refresh_count("api.github.com"), 2);

        let user: Value = http
            .get(mock.url("https://api.github.com/user"))
            .bearer_auth(&gh)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["email"], "octo.cat@example.com");

        let chat = |model: &str, editor: bool| {
            let mut b = http
                .post(mock.url(&format!("{COPILOT_API}/chat/completions")))
                .bearer_auth(token)
                .header("copilot-integration-id", "vscode-chat")
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
            if editor {
                b = b.header("editor-version", "vscode/1.99.0");
            }
            b.send()
        };
        let r = chat("gpt-4.1", true).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()
                .contains_key("x-quota-snapshot-premium_interactions")
        );
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], OAUTH_TEXT);
        assert_eq!(answer["usage"]["prompt_tokens"], OAUTH_INPUT_TOKENS);
        assert_eq!(chat("gpt-4.1", false).await.unwrap().status(), 400);
        let r = chat("gpt-5.4", true).await.unwrap();
        assert_eq!(r.status(), 400);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"]["code"], "unsupported_api_for_model");

        let models: Value = http
            .get(mock.url(&format!("{COPILOT_API}/models")))
            .bearer_auth(token)
            .header("copilot-integration-id", "vscode-chat")
            .header("editor-version", "vscode/1.99.0")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let gpt5 = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "gpt-5.4")
            .unwrap();
        assert_eq!(gpt5["supported_endpoints"], json!(["/responses"]));

        // Revoking the GitHub login kills the exchange, not the Copilot token.
        mock.revoke_refresh_tokens("github.com");
        let r = http
            .get(&token_url)
            .header("authorization", format!("token {gh}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(chat("gpt-4.1", true).await.unwrap().status(), 200);
        mock.exhaust("octo.cat@example.com", now() + 60);
        assert_eq!(chat("gpt-4.1", true).await.unwrap().status(), 429);
    }

    #[tokio::test]
    async fn claude_manual_login_then_messages_with_limit_headers() {
        let mock = OAuthMock::start().await;
        mock.set_email("claude.com", "max@example.com");
        let http = client();
        let url = with_query(
            &mock.url("https://claude.com/cai/oauth/authorize"),
            &[
                ("code", "true"),
                ("client_id", CLAUDE_CLIENT),
                ("response_type", "code"),
                ("redirect_uri", CLAUDE_MANUAL_REDIRECT),
                ("scope", "user:profile user:inference"),
                ("code_challenge", &code_challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
                ("state", "the-state"),
            ],
        );
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(CLAUDE_MANUAL_REDIRECT));
        let code = query_of(&location)["code"].clone();
        let page = http
            .get(mock.url(&location))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("{code}#the-state")), "{page}");

        let token_url = mock.url("https://platform.claude.com/v1/oauth/token");
        let exchange = json!({"grant_type": "authorization_code", "code": code,
            "redirect_uri": CLAUDE_MANUAL_REDIRECT, "client_id": CLAUDE_CLIENT,
            "code_verifier": VERIFIER, "state": "the-state"});
        let tokens: Value = http
            .post(&token_url)
            .json(&exchange)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(tokens["account"]["email_address"], "max@example.com");
        assert!(
            tokens["access_token"]
                .as_str()
                .unwrap()
                .starts_with("sk-ant-oat01-")
        );
        let access = tokens["access_token"].as_str().unwrap();

        let messages = mock.url("https://api.anthropic.com/v1/messages?beta=true");
        let request = json!({"model": "claude-sonnet-4-6", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}]});
        let call = |beta: &str, body: Value| {
            http.post(&messages)
                .bearer_auth(access)
                .header("anthropic-version", "2023-06-01")
                .header("anthropic-beta", beta)
                .json(&body)
                .send()
        };
        let r = call("claude-code-20250219", request.clone()).await.unwrap();
        assert_eq!(r.status(), 401);
        let r = call("claude-code-20250219,oauth-2025-04-20", request.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["anthropic-ratelimit-unified-5h-utilization"],
            CLAUDE_5H_UTILIZATION
        );
        assert_eq!(
            r.headers()["anthropic-ratelimit-unified-5h-status"],
            "allowed"
        );
        let message: Value = r.json().await.unwrap();
        assert_eq!(message["content"][0]["text"], OAUTH_TEXT);
        let mut streamed = request.clone();
        streamed["stream"] = json!(true);
        let body = call("oauth-2025-04-20", streamed)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.starts_with("event: message_start"));
        assert!(body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));

        mock.exhaust(access, now() + 900);
        let r = call("oauth-2025-04-20", request).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(
            r.headers()["anthropic-ratelimit-unified-status"],
            "rejected"
        );
        assert!(
            r.headers()
                .contains_key("anthropic-ratelimit-unified-5h-reset")
        );

        mock.revoke_refresh_tokens("platform.claude.com");
        let r = http
            .post(&token_url)
            .json(
                &json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                "client_id": CLAUDE_CLIENT}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"], "invalid_grant");
        // The token endpoint takes JSON only.
        let r = http
            .post(&token_url)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }

    /// A Kimi device login (the empty script approves at once).
    async fn kimi_login(mock: &OAuthMock, http: &reqwest::Client) -> Value {
        let client_id = "17e5f671-d194-4dfb-9706-5516cb48c098";
        let start: Value = http
            .post(mock.url("https://auth.kimi.com/api/oauth/device_authorization"))
            .form(&[("client_id", client_id)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(mock.url("https://auth.kimi.com/api/oauth/token"))
            .form(&[
                ("client_id", client_id),
                ("device_code", start["device_code"].as_str().unwrap()),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    #[tokio::test]
    async fn racing_refreshes_during_a_slow_refresh_leave_one_winner() {
        let mock = OAuthMock::start().await;
        let http = client();
        mock.script_device("api.kimi.com", vec![DeviceStep::Pending]);
        // The first poll is pending (HTTP 400 for Kimi).
        let start: Value = http
            .post(mock.url("https://auth.kimi.com/api/oauth/device_authorization"))
            .form(&[("client_id", "kimi")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(mock.url("https://auth.kimi.com/api/oauth/token"))
            .form(&[
                ("client_id", "kimi"),
                ("device_code", start["device_code"].as_str().unwrap()),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"], "authorization_pending");

        let tokens = kimi_login(&mock, &http).await;
        let chat = mock.url("https://api.kimi.com/coding/v1/chat/completions");
        let r = http
            .post(&chat)
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .json(&json!({"model": "kimi-for-coding", "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let chunks = sse_data(&r.text().await.unwrap());
        assert_eq!(
            chunks.last().unwrap()["usage"]["completion_tokens"],
            OAUTH_OUTPUT_TOKENS
        );
        let r = http
            .post(&chat)
            .bearer_auth("kimi-at-unknown")
            .json(&json!({"model": "kimi-for-coding", "messages": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        mock.set_refresh_delay(Duration::from_millis(200));
        let refresh = || {
            http.post(mock.url("https://auth.kimi.com/api/oauth/token"))
                .form(&[
                    ("client_id", "17e5f671-d194-4dfb-9706-5516cb48c098"),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ])
                .send()
        };
        let (a, b) = tokio::join!(refresh(), refresh());
        let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401]);
        assert_eq!(mock.refresh_count("auth.kimi.com"), 2);
    }

    #[tokio::test]
    async fn google_refresh_keeps_its_token_and_code_assist_streams() {
        let mock = OAuthMock::start().await;
        mock.set_email("accounts.google.com", "gem@example.com");
        let http = client();
        let redirect = "http://127.0.0.1:8085/oauth2callback";
        let url = with_query(
            &mock.url("https://accounts.google.com/o/oauth2/v2/auth"),
            &[
                ("client_id", "gc-client"),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", "https://www.googleapis.com/auth/cloud-platform"),
                ("access_type", "offline"),
                ("state", "g"),
            ],
        );
        let location = http.get(url).send().await.unwrap().headers()["location"]
            .to_str()
            .unwrap()
            .to_string();
        let code = query_of(&location)["code"].clone();
        let token_url = mock.url("https://oauth2.googleapis.com/token");
        let no_secret = http
            .post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("client_id", "gc-client"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(no_secret.status(), 400);
        // That attempt burnt the code: log in again.
        let location = http
            .get(with_query(
                &mock.url("https://accounts.google.com/o/oauth2/v2/auth"),
                &[
                    ("client_id", "gc-client"),
                    ("response_type", "code"),
                    ("redirect_uri", redirect),
                    ("scope", "openid email"),
                ],
            ))
            .send()
            .await
            .unwrap()
            .headers()["location"]
            .to_str()
            .unwrap()
            .to_string();
        let code = query_of(&location)["code"].clone();
        let tokens: Value = http
            .post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("client_id", "gc-client"),
                ("client_secret", "secret"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            jwt_payload(tokens["id_token"].as_str().unwrap())["email"],
            "gem@example.com"
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        for _ in 0..2 {
            let fresh: Value = http
                .post(&token_url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", "gc-client"),
                    ("client_secret", "secret"),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(fresh["access_token"].is_string());
            assert!(fresh.get("refresh_token").is_none());
        }

        let access = tokens["access_token"].as_str().unwrap();
        let load: Value = http
            .post(mock.url("https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist"))
            .bearer_auth(access)
            .json(&json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "pluginType": "GEMINI"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(load["cloudaicompanionProject"], CODE_ASSIST_PROJECT);
        let body = http
            .post(mock.url(
                "https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse",
            ))
            .bearer_auth(access)
            .json(
                &json!({"model": "gemini-2.5-pro", "project": CODE_ASSIST_PROJECT,
                "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let events = sse_data(&body);
        let text: String = events
            .iter()
            .map(|e| {
                e["response"]["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(text, OAUTH_TEXT);
        assert_eq!(
            events.last().unwrap()["response"]["usageMetadata"]["promptTokenCount"],
            OAUTH_INPUT_TOKENS
        );
        let r = http
            .post(mock.url("https://cloudcode-pa.googleapis.com/v1internal:generateContent"))
            .bearer_auth("ya29.unknown")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }

    #[tokio::test]
    async fn qwen_device_flow_checks_pkce_and_hands_out_resource_url() {
        let mock = OAuthMock::start().await;
        let http = client();
        mock.script_device("chat.qwen.ai", vec![DeviceStep::SlowDown]);
        let start: Value = http
            .post(mock.url("https://chat.qwen.ai/api/v1/oauth2/device/code"))
            .form(&[
                ("client_id", "f0304373b74a44d2b584a3fb70ca9e56"),
                ("scope", "openid profile email model.completion"),
                ("code_challenge", &code_challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let device = start["device_code"].as_str().unwrap();
        let poll = |verifier: &'static str| {
            http.post(mock.url("https://chat.qwen.ai/api/v1/oauth2/token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", "f0304373b74a44d2b584a3fb70ca9e56"),
                    ("device_code", device),
                    ("code_verifier", verifier),
                ])
                .send()
        };
        assert_eq!(poll("wrong").await.unwrap().status(), 400);
        assert_eq!(poll(VERIFIER).await.unwrap().status(), 429);
        let tokens: Value = poll(VERIFIER).await.unwrap().json().await.unwrap();
        assert_eq!(tokens["resource_url"], QWEN_RESOURCE_URL);
        let r = http
            .post(mock.url("https://portal.qwen.ai/v1/chat/completions"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .json(&json!({"model": "coder-model", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn kilo_device_codes_answer_by_status_and_are_single_use() {
        let mock = OAuthMock::start().await;
        let http = client();
        mock.set_email("api.kilo.ai", "kilo@example.com");
        mock.script_device("api.kilo.ai", vec![DeviceStep::Pending]);
        let start: Value = http
            .post(mock.url("https://api.kilo.ai/api/device-auth/codes"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = start["code"].as_str().unwrap();
        assert_eq!(code.len(), 9);
        let poll_url = mock.url(&format!("https://api.kilo.ai/api/device-auth/codes/{code}"));
        assert_eq!(http.get(&poll_url).send().await.unwrap().status(), 202);
        let r = http.get(&poll_url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let approved: Value = r.json().await.unwrap();
        assert_eq!(approved["userEmail"], "kilo@example.com");
        assert_eq!(http.get(&poll_url).send().await.unwrap().status(), 410);
        let token = approved["token"].as_str().unwrap();
        assert_eq!(jwt_payload(token)["version"], 3);
        let r = http
            .post(mock.url("https://api.kilo.ai/api/openrouter/chat/completions"))
            .bearer_auth(token)
            .json(
                &json!({"model": "anthropic/claude-sonnet-4.6", "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
            .await
            .unwrap();
        let chunks = sse_data(&r.text().await.unwrap());
        // Kilo forces the usage chunk.
        assert_eq!(
            chunks.last().unwrap()["usage"]["prompt_tokens"],
            OAUTH_INPUT_TOKENS
        );
        let r = http
            .post(mock.url("https://api.kilo.ai/api/openrouter/chat/completions"))
            .bearer_auth("anonymous")
            .json(&json!({"model": "anthropic/claude-sonnet-4.6", "messages": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }

    #[tokio::test]
    async fn cline_workos_device_then_register_and_chat() {
        let mock = OAuthMock::start().await;
        let http = client();
        let client_id = "client_01K3A541FN8TA3EPPHTD2325AR";
        let start: Value = http
            .post(mock.url("https://api.workos.com/user_management/authorize/device"))
            .form(&[("client_id", client_id)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let workos: Value = http
            .post(mock.url("https://api.workos.com/user_management/authenticate"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", start["device_code"].as_str().unwrap()),
                ("client_id", client_id),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let envelope: Value = http
            .post(mock.url("https://api.cline.bot/api/v1/auth/register"))
            .json(&json!({"accessToken": workos["access_token"], "refreshToken": workos["refresh_token"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(envelope["success"], true);
        let access = envelope["data"]["accessToken"].as_str().unwrap();
        let chat = mock.url("https://api.cline.bot/api/v1/chat/completions");
        let body = json!({"model": "anthropic/claude-sonnet-4.6", "messages": [{"role": "user", "content": "hi"}]});
        let plain = http
            .post(&chat)
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 401);
        let ok: Value = http
            .post(&chat)
            .bearer_auth(format!("workos:{access}"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ok["data"]["choices"][0]["message"]["content"], OAUTH_TEXT);
    }

    /// (event type, payload) of each AWS event-stream frame, checking CRCs.
    fn parse_frames(bytes: &[u8]) -> Vec<(String, Value)> {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let total = be32(&bytes[at..]) as usize;
            let header_len = be32(&bytes[at + 4..]) as usize;
            let frame = &bytes[at..at + total];
            assert_eq!(be32(&frame[8..]), crc32(&frame[..8]));
            assert_eq!(be32(&frame[total - 4..]), crc32(&frame[..total - 4]));
            let headers = &frame[12..12 + header_len];
            let mut h = 0;
            let mut event_type = String::new();
            while h < headers.len() {
                let name_len = headers[h] as usize;
                let name = &headers[h + 1..h + 1 + name_len];
                h += 1 + name_len;
                assert_eq!(headers[h], 7, "string header");
                let value_len = u16::from_be_bytes([headers[h + 1], headers[h + 2]]) as usize;
                let value = &headers[h + 3..h + 3 + value_len];
                h += 3 + value_len;
                if name == b":event-type" {
                    event_type = String::from_utf8(value.to_vec()).unwrap();
                }
            }
            let payload = serde_json::from_slice(&frame[12 + header_len..total - 4]).unwrap();
            out.push((event_type, payload));
            at += total;
        }
        out
    }

    #[tokio::test]
    async fn kiro_oidc_device_flow_then_event_stream() {
        let mock = OAuthMock::start().await;
        let http = client();
        mock.script_device("oidc.us-east-1.amazonaws.com", vec![DeviceStep::Pending]);
        let oidc = |path: &str, body: Value| {
            http.post(mock.url(&format!("https://oidc.us-east-1.amazonaws.com{path}")))
                .json(&body)
                .send()
        };
        let client: Value = oidc(
            "/client/register",
            json!({"clientName": "Kiro IDE", "clientType": "public",
                "scopes": ["codewhisperer:completions"],
                "grantTypes": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let (id, secret) = (&client["clientId"], &client["clientSecret"]);
        let device: Value = oidc(
            "/device_authorization",
            json!({"clientId": id, "clientSecret": secret, "startUrl": "https://view.awsapps.com/start"}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let poll = json!({"clientId": id, "clientSecret": secret, "deviceCode": device["deviceCode"],
            "grantType": "urn:ietf:params:oauth:grant-type:device_code"});
        let pending = oidc("/token", poll.clone()).await.unwrap();
        assert_eq!(pending.status(), 400);
        assert_eq!(
            pending.headers()["x-amzn-errortype"],
            "AuthorizationPendingException"
        );
        let tokens: Value = oidc("/token", poll).await.unwrap().json().await.unwrap();
        let access = tokens["accessToken"].as_str().unwrap();
        assert!(access.starts_with("aoaAAAAAG"));
        assert_eq!(mock.token_calls("oidc.us-east-1.amazonaws.com").len(), 2);

        let r = http
            .post(mock.url("https://q.us-east-1.amazonaws.com/generateAssistantResponse"))
            .bearer_auth(access)
            .json(
                &json!({"conversationState": {"chatTriggerType": "MANUAL", "conversationId": "c1",
                "currentMessage": {"userInputMessage": {"content": "hi",
                    "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"}}, "history": []}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let frames = parse_frames(&r.bytes().await.unwrap());
        let text: String = frames
            .iter()
            .filter(|(t, _)| t == "assistantResponseEvent")
            .map(|(_, p)| p["content"].as_str().unwrap())
            .collect();
        assert_eq!(text, OAUTH_TEXT);
        assert!(frames.iter().any(|(t, _)| t == "meteringEvent"));

        let r = http
            .post(mock.url("https://q.us-east-1.amazonaws.com/generateAssistantResponse"))
            .bearer_auth("aoaAAAAAGunknown")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }

    #[test]
    fn helpers_match_their_references() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // RFC 7636 appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        let code = user_code(7);
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
    }
}
