//! Google Cloud Code Assist (`v1internal`): the envelope Gemini CLI (`gc/`) and Antigravity (`ag/`) logins put around Gemini requests and responses, project discovery, and their account-ending errors.
//!
//! Facts: docs/oauth/google-qwen-kimi.md §1.2 and §2.2–2.7. The body inside
//! the envelope is a plain Gemini `generateContent` body, so the Gemini codec
//! does the translation and this module only wraps and unwraps.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Adapter, Outgoing, Reshape, Target};
use crate::providers::ProviderDef;
use crate::providers::catalog::redirect_url;
use crate::providers::oauth::TokenSet;
use crate::providers::upstream::{error_chain, error_text};
use crate::wire::sse::{SseSplitter, event_data, event_ranges};

/// The Code Assist host Gemini CLI talks to (and Antigravity's last resort).
pub const CODE_ASSIST_BASE_URL: &str = "https://cloudcode-pa.googleapis.com";

/// Antigravity's generate/stream hosts in the order to try them: the daily
/// host first, production second (CLIProxyAPI, 2026-08; OAG instead tries
/// two sandbox hosts first, see the doc's §2.2).
pub const ANTIGRAVITY_BASE_URLS: &[&str] = &[
    "https://daily-cloudcode-pa.googleapis.com",
    CODE_ASSIST_BASE_URL,
];

/// The Antigravity version the onboarding body names (CLIProxyAPI's
/// fallback, 2026-08-22); the server reads it as the IDE version.
pub const ANTIGRAVITY_VERSION: &str = "2.9.1";

/// Which login's conventions the envelope follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    GeminiCli,
    Antigravity,
}

impl Flavor {
    /// The flavour of a provider's adapter, when it is a Code Assist one.
    pub fn of(adapter: Option<Adapter>) -> Option<Flavor> {
        match adapter? {
            Adapter::GeminiCli => Some(Flavor::GeminiCli),
            Adapter::Antigravity => Some(Flavor::Antigravity),
            _ => None,
        }
    }
}

/// `{base}/v1internal:{method}`, with `?alt=sse` for a stream.
pub fn method_url(base: &str, method: &str, stream: bool) -> String {
    let base = base.trim_end_matches('/');
    if stream {
        format!("{base}/v1internal:{method}?alt=sse")
    } else {
        format!("{base}/v1internal:{method}")
    }
}

/// The model id the backend serves under a name the caller used. Gemini
/// CLI's backend knows `gemini-3.5-flash` as `gemini-3-flash`
/// (`CCPA_AI_MODEL_MAPPINGS`); Antigravity's ids churn and are discovered
/// with `fetchAvailableModels`, so they pass unchanged, except the
/// `gemini-claude-*` names CLIProxyAPI and opencode-antigravity-auth users
/// know Antigravity's Claude models by.
pub fn upstream_model(flavor: Flavor, model: &str) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    match (flavor, model) {
        (Flavor::GeminiCli, "gemini-3.5-flash") => "gemini-3-flash".to_string(),
        (Flavor::Antigravity, alias) if alias.starts_with("gemini-claude-") => {
            alias.trim_start_matches("gemini-").to_string()
        }
        _ => model.to_string(),
    }
}

/// What the envelope around one generate call names.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub flavor: Flavor,
    /// The caller's model name; [`upstream_model`] is applied.
    pub model: &'a str,
    /// The `cloudaicompanionProject` found by [`parse_load_code_assist`].
    pub project: &'a str,
    /// A fresh id per request (a UUID): Gemini CLI's `user_prompt_id`,
    /// Antigravity's `requestId` after `agent-`.
    pub request_id: &'a str,
    /// The conversation's session, e.g. [`session_id_for`].
    pub session_id: &'a str,
    /// Spend Google One AI credits once the free quota is gone.
    pub use_credits: bool,
}

/// Wraps a Gemini `generateContent` body in the Code Assist envelope.
pub fn wrap_request(gemini_body: &Value, envelope: &Envelope<'_>) -> Value {
    let model = upstream_model(envelope.flavor, envelope.model);
    let mut request = gemini_body.as_object().cloned().unwrap_or_default();
    // The model travels in the envelope; a stray copy inside confuses it.
    request.remove("model");
    let mut outer = Map::new();
    match envelope.flavor {
        Flavor::GeminiCli => {
            request.insert("session_id".into(), envelope.session_id.into());
            outer.insert("model".into(), model.into());
            outer.insert("project".into(), envelope.project.into());
            outer.insert("user_prompt_id".into(), envelope.request_id.into());
            outer.insert("request".into(), Value::Object(request));
            if envelope.use_credits {
                outer.insert("enabled_credit_types".into(), json!(["GOOGLE_ONE_AI"]));
            }
        }
        Flavor::Antigravity => {
            shape_for_antigravity(&mut request, &model);
            request.insert("sessionId".into(), envelope.session_id.into());
            outer.insert("project".into(), envelope.project.into());
            outer.insert("model".into(), model.into());
            outer.insert("userAgent".into(), "antigravity".into());
            outer.insert("requestType".into(), "agent".into());
            outer.insert(
                "requestId".into(),
                format!("agent-{}", envelope.request_id).into(),
            );
            // Antigravity spells this camelCase, unlike Gemini CLI.
            if envelope.use_credits {
                outer.insert("enabledCreditTypes".into(), json!(["GOOGLE_ONE_AI"]));
            }
            outer.insert("request".into(), Value::Object(request));
        }
    }
    Value::Object(outer)
}

/// What the working Antigravity gateway (CLIProxyAPI) changes in the inner
/// request, followed because it is what the backend is known to accept:
/// no safety settings; Claude models run tools in `VALIDATED` mode; other
/// models get no `maxOutputTokens`. A caller's `ANY` or `NONE` mode is a
/// choice about calling tools at all, so only `AUTO` becomes `VALIDATED`.
fn shape_for_antigravity(request: &mut Map<String, Value>, model: &str) {
    request.remove("safetySettings");
    let claude = model.contains("claude");
    if claude && request.get("tools").is_some_and(|t| !t.is_null()) {
        let config = request
            .entry("toolConfig")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|c| {
                c.entry("functionCallingConfig")
                    .or_insert_with(|| json!({}))
            });
        if let Some(Value::Object(calling)) = config
            && calling.get("mode").is_none_or(|m| m == "AUTO")
        {
            calling.insert("mode".into(), "VALIDATED".into());
        }
    }
    if !claude && let Some(Value::Object(generation)) = request.get_mut("generationConfig") {
        generation.remove("maxOutputTokens");
    }
}

/// A session id stable for one conversation: `-<int63>` from a hash of its
/// first user text, as Antigravity clients derive it, so every turn of a
/// conversation lands in the same server-side session (and its cache).
pub fn session_id_for(gemini_body: &Value) -> String {
    let first_text = gemini_body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["role"].as_str().is_none_or(|r| r == "user"))
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
        .find_map(|p| p["text"].as_str())
        .unwrap_or_default();
    let digest = Sha256::digest(first_text.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    format!("-{}", u64::from_be_bytes(head) & (u64::MAX >> 1))
}

/// The plain Gemini response inside a Code Assist answer
/// (`{"response": {…}, "traceId": …}`). Gemini CLI takes `traceId` as the
/// response id when the response has none. Bodies without the envelope
/// (errors, a plain answer) come back unchanged; a JSON array (how some
/// errors arrive) is unwrapped element by element.
pub fn unwrap_response(body: &Value) -> Value {
    match body {
        Value::Array(items) => Value::Array(items.iter().map(unwrap_response).collect()),
        Value::Object(outer) => match outer.get("response") {
            Some(Value::Object(inner)) => {
                let mut inner = inner.clone();
                let has_id = inner.get("responseId").is_some_and(|v| !v.is_null());
                if !has_id && let Some(trace) = outer.get("traceId").and_then(Value::as_str) {
                    inner.insert("responseId".into(), trace.into());
                }
                Value::Object(inner)
            }
            _ => body.clone(),
        },
        _ => body.clone(),
    }
}

/// Turns the upstream's enveloped SSE into plain Gemini SSE, chunk by
/// chunk, so the Gemini stream decoder (or a Gemini caller) can read it.
#[derive(Default)]
pub struct SseUnwrapper {
    splitter: SseSplitter,
    /// Set once an event outgrew the limit: the stream is broken.
    failed: bool,
}

impl fmt::Debug for SseUnwrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseUnwrapper")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl SseUnwrapper {
    pub fn new() -> SseUnwrapper {
        SseUnwrapper::default()
    }

    /// The whole plain events (`data: {…}\n\n`) that `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        match self.splitter.push(Bytes::copy_from_slice(chunk)) {
            Ok(Some(block)) => unwrap_events(&block),
            Ok(None) => Vec::new(),
            Err(too_large) => {
                self.failed = true;
                // Reported in the stream itself, where the Gemini decoder
                // turns it into the caller's error event.
                let error = json!({"error": {
                    "code": 502,
                    "message": too_large.to_string(),
                    "status": "INTERNAL",
                }});
                format!("data: {error}\n\n").into_bytes()
            }
        }
    }

    /// The last event when the upstream ended without a blank line.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        self.splitter
            .finish()
            .map(|rest| unwrap_events(&rest))
            .unwrap_or_default()
    }
}

fn unwrap_events(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for range in event_ranges(block) {
        // Comments and keep-alives carry no data; data that is not JSON
        // means nothing to a Gemini reader. Both are dropped.
        let Some(data) = event_data(&block[range]) else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(unwrap_response(&value).to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// Client metadata for setup calls. Gemini CLI sends it in the body (not
/// as a header) with these three values.
fn gemini_cli_metadata(project: Option<&str>) -> Value {
    let mut metadata = json!({
        "ideType": "IDE_UNSPECIFIED",
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    });
    if let Some(project) = project {
        metadata["duetProject"] = project.into();
    }
    metadata
}

/// The `loadCodeAssist` body that starts project discovery; `project` is
/// one the user configured, if any.
pub fn load_code_assist_body(flavor: Flavor, project: Option<&str>) -> Value {
    let metadata = match flavor {
        Flavor::GeminiCli => gemini_cli_metadata(project),
        Flavor::Antigravity => {
            let mut metadata = json!({"ideType": "ANTIGRAVITY"});
            if let Some(project) = project {
                metadata["duetProject"] = project.into();
            }
            metadata
        }
    };
    let mut body = Map::new();
    if let Some(project) = project {
        body.insert("cloudaicompanionProject".into(), project.into());
    }
    body.insert("metadata".into(), metadata);
    Value::Object(body)
}

/// What `loadCodeAssist` says to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAssistSetup {
    /// The account is set up: send requests with this project.
    Ready { project: String, tier: String },
    /// The account has no tier yet: call `onboardUser` with
    /// [`onboard_user_body`], then poll with [`parse_operation`].
    Onboard {
        tier: String,
        project: Option<String>,
    },
}

/// A project id as a string or `{"id": …}`, under the names servers and
/// clients have used for it.
fn project_of(body: &Value) -> Option<String> {
    ["cloudaicompanionProject", "projectId", "project"]
        .iter()
        .find_map(|key| match &body[*key] {
            Value::String(id) => Some(id.as_str()),
            Value::Object(o) => o.get("id").and_then(Value::as_str),
            _ => None,
        })
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

fn tier_id(tier: &Value) -> Option<&str> {
    tier["id"].as_str().filter(|id| !id.is_empty())
}

/// Reads a `loadCodeAssist` answer. `configured` is the project the user
/// set, used when the server names none (Gemini CLI's
/// `GOOGLE_CLOUD_PROJECT`).
pub fn parse_load_code_assist(
    flavor: Flavor,
    body: &Value,
    configured: Option<&str>,
) -> Result<CodeAssistSetup, AccountError> {
    let project = project_of(body).or_else(|| configured.map(str::to_string));
    let ineligible: Vec<&Value> = body["ineligibleTiers"]
        .as_array()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    if body["currentTier"].is_object() {
        let tier = tier_id(&body["paidTier"])
            .or_else(|| tier_id(&body["currentTier"]))
            .unwrap_or("standard-tier")
            .to_string();
        return match project {
            Some(project) => Ok(CodeAssistSetup::Ready { project, tier }),
            None => Err(ineligible_error(&ineligible).unwrap_or(AccountError::ProjectRequired)),
        };
    }
    let ineligible_ids: Vec<&str> = ineligible
        .iter()
        .filter_map(|t| t["tierId"].as_str())
        .collect();
    let default_tier = body["allowedTiers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["isDefault"].as_bool() == Some(true))
        .filter_map(tier_id)
        .find(|id| !ineligible_ids.contains(id));
    if let Some(tier) = default_tier {
        return Ok(CodeAssistSetup::Onboard {
            tier: tier.to_string(),
            project,
        });
    }
    // No tier to join: the ineligibility reason is the answer.
    if let Some(error) = ineligible_error(&ineligible) {
        return Err(error);
    }
    // Each client's fallback when the server offers nothing: Gemini CLI
    // tries the legacy tier with the user's project, CLIProxyAPI's
    // Antigravity the free tier.
    let tier = match flavor {
        Flavor::GeminiCli => "legacy-tier",
        Flavor::Antigravity => "free-tier",
    };
    Ok(CodeAssistSetup::Onboard {
        tier: tier.to_string(),
        project,
    })
}

fn ineligible_error(ineligible: &[&Value]) -> Option<AccountError> {
    let message = |t: &Value| {
        t["reasonMessage"]
            .as_str()
            .or_else(|| t["validationErrorMessage"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    if let Some(t) = ineligible
        .iter()
        .find(|t| t["reasonCode"] == "UNSUPPORTED_CLIENT")
    {
        return Some(AccountError::ConsumerTierStopped {
            message: message(t),
        });
    }
    if let Some(t) = ineligible
        .iter()
        .find(|t| t["reasonCode"] == "VALIDATION_REQUIRED")
    {
        return Some(AccountError::ValidationRequired {
            url: t["validationUrl"].as_str().map(str::to_string),
        });
    }
    ineligible.first().map(|t| AccountError::Ineligible {
        message: match message(t) {
            m if m.is_empty() => t["reasonCode"].as_str().unwrap_or("unknown").to_string(),
            m => m,
        },
    })
}

/// The `onboardUser` body for a tier from [`CodeAssistSetup::Onboard`].
pub fn onboard_user_body(flavor: Flavor, tier: &str, project: Option<&str>) -> Value {
    match flavor {
        Flavor::GeminiCli => {
            // Gemini CLI leaves the project out for the free tier: naming
            // one there fails with "Precondition Failed".
            let project = project.filter(|_| tier != "free-tier");
            let mut body = json!({"tierId": tier});
            if let Some(project) = project {
                body["cloudaicompanionProject"] = project.into();
            }
            body["metadata"] = gemini_cli_metadata(project);
            body
        }
        // CLIProxyAPI's current (2026-08) body, snake_case.
        Flavor::Antigravity => json!({
            "tier_id": tier,
            "metadata": {
                "ide_type": "ANTIGRAVITY",
                "ide_version": ANTIGRAVITY_VERSION,
                "ide_name": "antigravity",
            },
        }),
    }
}

/// Reads an `onboardUser` long-running operation (the POST answer or a
/// poll of `GET {base}/v1internal/{name}`): `Ok(None)` while it runs,
/// then the managed project.
pub fn parse_operation(body: &Value) -> Result<Option<String>, AccountError> {
    if body["done"].as_bool() != Some(true) {
        return Ok(None);
    }
    if let Some(message) = body["error"]["message"].as_str() {
        return Err(classify_error(0, body).unwrap_or(AccountError::Ineligible {
            message: message.to_string(),
        }));
    }
    project_of(&body["response"])
        .map(Some)
        .ok_or(AccountError::ProjectRequired)
}

/// A Code Assist answer that ends this account's use until the user acts;
/// retrying or switching models does not help. Display is the message for
/// the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    /// `UNSUPPORTED_CLIENT`: since 2026-06-18 Gemini CLI logins no longer
    /// serve free, Google AI Pro and Ultra accounts.
    ConsumerTierStopped { message: String },
    /// 403 `TOS_VIOLATION`: Google disabled the account for these services.
    AccountSuspended { appeal_url: Option<String> },
    /// The account must be verified in a browser first.
    ValidationRequired { url: Option<String> },
    /// Antigravity refuses the client version the gateway presents.
    ClientVersionRejected { message: String },
    /// Neither the server nor the user named a Google Cloud project.
    ProjectRequired,
    /// Another ineligibility reason, in Google's words.
    Ineligible { message: String },
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::ConsumerTierStopped { message } => {
                write!(
                    f,
                    "Google no longer serves Gemini CLI logins for free, Google AI Pro and Ultra \
                     accounts (since 2026-06-18). Use a Gemini API key, a Gemini Code Assist \
                     Standard or Enterprise seat, or another provider."
                )?;
                if !message.is_empty() {
                    write!(f, " Google said: {message}")?;
                }
                Ok(())
            }
            AccountError::AccountSuspended { appeal_url } => {
                write!(
                    f,
                    "Google disabled this account for Gemini CLI, Antigravity and Code Assist for \
                     a Terms of Service violation (TOS_VIOLATION); Google counts use through \
                     third-party tools as one. Remove this connection."
                )?;
                if let Some(url) = appeal_url {
                    write!(f, " Appeal: {url}")?;
                }
                Ok(())
            }
            AccountError::ValidationRequired { url } => {
                write!(f, "Google asks you to verify this account before use")?;
                match url {
                    Some(url) => write!(f, ": {url}"),
                    None => write!(f, "; sign in with the official client once."),
                }
            }
            AccountError::ClientVersionRejected { message } => write!(
                f,
                "Antigravity rejected the client version the gateway presents ({message}); \
                 update OmniRoute."
            ),
            AccountError::ProjectRequired => write!(
                f,
                "This Google account has no Code Assist project; set GOOGLE_CLOUD_PROJECT to \
                 your Google Cloud project id where the gateway runs, then sign in again."
            ),
            AccountError::Ineligible { message } => {
                write!(f, "This Google account cannot use Code Assist: {message}")
            }
        }
    }
}

impl std::error::Error for AccountError {}

/// The account-ending error in a Code Assist error body (`{"error": …}` or
/// a one-element array of it), or `None` for everything else (quota,
/// capacity, bad requests), which the routing layer handles as usual.
pub fn classify_error(status: u16, body: &Value) -> Option<AccountError> {
    let error = match body {
        Value::Array(items) => &items.first()?["error"],
        _ => &body["error"],
    };
    let message = error["message"].as_str().unwrap_or_default();
    let details = error["details"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let reason = details
        .iter()
        .filter(|d| {
            d["@type"]
                .as_str()
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .find_map(|d| Some((d["reason"].as_str()?, &d["metadata"])));
    match reason {
        Some(("TOS_VIOLATION", metadata)) => {
            return Some(AccountError::AccountSuspended {
                appeal_url: metadata["appeal_url"].as_str().map(str::to_string),
            });
        }
        Some(("VALIDATION_REQUIRED", metadata)) => {
            let help = details
                .iter()
                .find_map(|d| d["links"].as_array()?.first()?["url"].as_str());
            let url = metadata["validation_link"].as_str().or(help);
            return Some(AccountError::ValidationRequired {
                url: url.map(str::to_string),
            });
        }
        Some(("UNSUPPORTED_CLIENT", _)) => {
            return Some(AccountError::ConsumerTierStopped {
                message: message.to_string(),
            });
        }
        _ => {}
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("violation of terms of service") {
        return Some(AccountError::AccountSuspended { appeal_url: None });
    }
    if lower.contains("this client is no longer supported") {
        return Some(AccountError::ConsumerTierStopped {
            message: message.to_string(),
        });
    }
    if lower.contains("version of antigravity is no longer supported") {
        return Some(AccountError::ClientVersionRejected {
            message: message.to_string(),
        });
    }
    if status == 403 && lower.contains("verify your account") {
        return Some(AccountError::ValidationRequired { url: None });
    }
    None
}

/// Where a sign-in keeps the account's Code Assist project in
/// [`TokenSet::extra`]; every generate call names it.
pub const PROJECT_KEY: &str = "project";
/// Where a sign-in keeps the tier the account was found (or set up) on.
pub const TIER_KEY: &str = "tier";

/// The Gemini CLI release the gateway's requests look like: the one pinned
/// in tests/cli, whose requests were captured (shared/wire-captures/cli).
pub const GEMINI_CLI_VERSION: &str = "0.61.0";
/// `X-Goog-Api-Client` of that release, captured in API-key mode; whether
/// its Code Assist calls carry one is unconfirmed (doc §6), but the last
/// working third-party client (CLIProxyAPI) sent one.
const GEMINI_CLI_API_CLIENT: &str = "google-genai-sdk/1.30.0 gl-node/v20.20.2";
/// The model Gemini CLI's User-Agent names before any request picked one:
/// its default model.
const GEMINI_CLI_DEFAULT_MODEL: &str = "gemini-2.5-pro";
/// What Antigravity's onboarding call adds to the User-Agent, and the API
/// client header it alone sends (CLIProxyAPI's checked headers, 2026-08).
const ANTIGRAVITY_ONBOARD_UA_SUFFIX: &str = "google-api-nodejs-client/10.3.0";
const ANTIGRAVITY_ONBOARD_API_CLIENT: &str = "gl-node/22.21.1";

/// The Code Assist calls the gateway makes; each flavour dresses them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Generate,
    LoadCodeAssist,
    OnboardUser,
}

impl Call {
    fn method(self) -> &'static str {
        match self {
            Call::Generate => "generateContent",
            Call::LoadCodeAssist => "loadCodeAssist",
            Call::OnboardUser => "onboardUser",
        }
    }
}

/// Node's names for this machine's OS and CPU (`process.platform`,
/// `process.arch`), which is how Gemini CLI reports them.
fn node_platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        other => other,
    };
    (os, arch)
}

/// Gemini CLI's User-Agent for a request about `model`.
pub fn gemini_cli_user_agent(model: &str) -> String {
    let (os, arch) = node_platform();
    format!("GeminiCLI/{GEMINI_CLI_VERSION}/{model} ({os}; {arch}; terminal)")
}

/// Antigravity's User-Agent: the desktop hub's, as CLIProxyAPI presents it
/// (its update manifest is the macOS arm64 one, hence the fixed platform).
pub fn antigravity_user_agent() -> String {
    format!("antigravity/hub/{ANTIGRAVITY_VERSION} darwin/arm64")
}

/// The headers a call carries besides the bearer token and `Content-Type`
/// (doc §1.2 "Headers" and §2.3). Gemini CLI dresses every call alike;
/// Antigravity's generate calls carry only the User-Agent, its setup calls
/// `Accept: */*`, and onboarding a longer User-Agent with an API client.
pub fn headers(flavor: Flavor, call: Call, model: &str) -> Vec<(&'static str, String)> {
    match (flavor, call) {
        (Flavor::GeminiCli, _) => vec![
            ("user-agent", gemini_cli_user_agent(model)),
            ("x-goog-api-client", GEMINI_CLI_API_CLIENT.to_string()),
        ],
        (Flavor::Antigravity, Call::Generate) => vec![("user-agent", antigravity_user_agent())],
        (Flavor::Antigravity, Call::LoadCodeAssist) => vec![
            ("user-agent", antigravity_user_agent()),
            ("accept", "*/*".to_string()),
        ],
        (Flavor::Antigravity, Call::OnboardUser) => vec![
            (
                "user-agent",
                format!(
                    "{} {ANTIGRAVITY_ONBOARD_UA_SUFFIX}",
                    antigravity_user_agent()
                ),
            ),
            (
                "x-goog-api-client",
                ANTIGRAVITY_ONBOARD_API_CLIENT.to_string(),
            ),
            ("accept", "*/*".to_string()),
        ],
    }
}

/// The host of one generate call. Antigravity's calls move one host down
/// [`ANTIGRAVITY_BASE_URLS`] per retry of the account, starting from the
/// account's own, since the daily host and production fail apart. A base
/// the user set, and Gemini CLI's one host, are used as they are. `origin`
/// is the test override the account's base already went through.
pub fn generate_base(
    flavor: Flavor,
    account_base: &str,
    attempt: u32,
    origin: Option<&str>,
) -> String {
    let account_base = account_base.trim_end_matches('/');
    if flavor == Flavor::GeminiCli {
        return account_base.to_string();
    }
    let hosts: Vec<String> = ANTIGRAVITY_BASE_URLS
        .iter()
        .map(|url| match origin {
            Some(origin) => redirect_url(origin, url),
            None => url.to_string(),
        })
        .collect();
    match hosts.iter().position(|host| host == account_base) {
        Some(start) => hosts[(start + attempt as usize) % hosts.len()].clone(),
        None => account_base.to_string(),
    }
}

/// One generate call of a Code Assist account: the gateway's Gemini body
/// (which has no model: Gemini names it in the URL, so `target` brings it)
/// wrapped in the envelope, sent to `:generateContent` or
/// `:streamGenerateContent?alt=sse`, and unwrapped again on the way back.
pub fn prepare(
    provider: &ProviderDef,
    base: &str,
    tokens: &TokenSet,
    body: &[u8],
    stream: bool,
    target: Target<'_>,
    origin: Option<&str>,
) -> Result<Outgoing, String> {
    let flavor = Flavor::of(provider.adapter)
        .ok_or_else(|| format!("{} is not a Code Assist provider", provider.name))?;
    let Some(project) = tokens.extra.get(PROJECT_KEY).filter(|p| !p.is_empty()) else {
        return Err(format!(
            "this {} account has no Code Assist project (its sign-in did not finish setting it up); sign in to it again",
            provider.name
        ));
    };
    let gemini_body: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request body is not JSON: {e}"))?;
    let request_id = super::request_id();
    let session_id = session_id_for(&gemini_body);
    let wrapped = wrap_request(
        &gemini_body,
        &Envelope {
            flavor,
            model: target.model,
            project,
            request_id: &request_id,
            session_id: &session_id,
            use_credits: false,
        },
    );
    let method = if stream {
        "streamGenerateContent"
    } else {
        Call::Generate.method()
    };
    let base = generate_base(flavor, base, target.attempt, origin);
    let url = method_url(&base, method, stream);
    let url = reqwest::Url::parse(&url).map_err(|e| format!("bad Code Assist URL {url}: {e}"))?;
    // The catalog's headers first, so that the flavour's own win.
    let catalog = provider
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()));
    let mut map = HeaderMap::new();
    for (name, value) in catalog.chain(headers(flavor, Call::Generate, target.model)) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.insert(name, value);
        }
    }
    map.insert(
        AUTHORIZATION,
        super::header(&format!("Bearer {}", tokens.access_token))?,
    );
    Ok(Outgoing {
        url,
        headers: map,
        body: Bytes::from(wrapped.to_string()),
        force_stream: false,
        reshape: Some(Reshape::CloudCode(SseUnwrapper::new())),
    })
}

/// How long one setup call may take.
const SETUP_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Waits between looks at the onboarding operation: short at first, since a
/// new account is usually ready within a second, then Gemini CLI's 5 s.
const ONBOARD_POLL_MS: [u64; 4] = [500, 1_000, 2_000, 5_000];
/// How long onboarding may take before the sign-in gives up on it.
const ONBOARD_DEADLINE: Duration = Duration::from_secs(60);

/// Finishes a sign-in: finds the account's Code Assist project (setting a
/// new account up on its default tier first) and keeps it in the token
/// set, where every generate call reads it. An account Google will not
/// serve fails here, with the reason, before it is saved.
pub async fn after_login(
    flavor: Flavor,
    provider: &ProviderDef,
    http: &reqwest::Client,
    origin: Option<&str>,
    mut tokens: TokenSet,
) -> Result<TokenSet, String> {
    let onboard_base = provider.base_url.trim_end_matches('/').to_string();
    let load_base = match flavor {
        Flavor::GeminiCli => onboard_base.clone(),
        // Antigravity's clients ask production who the user is and onboard
        // on the daily host (the catalog's base).
        Flavor::Antigravity => match origin {
            Some(origin) => redirect_url(origin, CODE_ASSIST_BASE_URL),
            None => CODE_ASSIST_BASE_URL.to_string(),
        },
    };
    let setup = Setup {
        flavor,
        http,
        token: tokens.access_token.clone(),
        load_base,
        onboard_base,
    };
    let configured = configured_project(flavor);
    let answer = setup
        .post(
            Call::LoadCodeAssist,
            &load_code_assist_body(flavor, configured.as_deref()),
        )
        .await?;
    let found = parse_load_code_assist(flavor, &answer, configured.as_deref())
        .map_err(|e| e.to_string())?;
    let (project, tier) = match found {
        CodeAssistSetup::Ready { project, tier } => (project, tier),
        CodeAssistSetup::Onboard { tier, project } => (setup.onboard(&tier, project).await?, tier),
    };
    tokens.extra.insert(PROJECT_KEY.into(), project);
    tokens.extra.insert(TIER_KEY.into(), tier);
    Ok(tokens)
}

/// The project a Standard or Enterprise seat's user set for Gemini CLI, from
/// the variables Gemini CLI itself reads; the server may require one.
fn configured_project(flavor: Flavor) -> Option<String> {
    match flavor {
        Flavor::GeminiCli => ["GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT_ID"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .map(|value| value.trim().to_string())
            .find(|value| !value.is_empty()),
        Flavor::Antigravity => None,
    }
}

/// The setup calls of one sign-in.
struct Setup<'a> {
    flavor: Flavor,
    http: &'a reqwest::Client,
    token: String,
    /// Where `loadCodeAssist` goes.
    load_base: String,
    /// Where `onboardUser` and its operation go.
    onboard_base: String,
}

impl Setup<'_> {
    async fn post(&self, call: Call, body: &Value) -> Result<Value, String> {
        let base = match call {
            Call::LoadCodeAssist => &self.load_base,
            _ => &self.onboard_base,
        };
        let request = self
            .http
            .post(method_url(base, call.method(), false))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        self.send(call, request, call.method()).await
    }

    /// Polls the long-running onboarding operation `name`.
    async fn operation(&self, name: &str) -> Result<Value, String> {
        let url = format!("{}/v1internal/{name}", self.onboard_base);
        self.send(
            Call::OnboardUser,
            self.http.get(url),
            "onboardUser operation",
        )
        .await
    }

    /// An answer's JSON object, or the reason the call failed, in words a
    /// user can act on when the account itself is the problem.
    async fn send(
        &self,
        call: Call,
        mut request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, String> {
        request = request.bearer_auth(&self.token).timeout(SETUP_CALL_TIMEOUT);
        for (name, value) in headers(self.flavor, call, GEMINI_CLI_DEFAULT_MODEL) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach Code Assist ({what}): {}", error_chain(&e)))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) && body.is_object() {
            return Ok(body);
        }
        Err(match classify_error(status, &body) {
            Some(account) => account.to_string(),
            None => format!(
                "setting up Code Assist failed at {what}: {}",
                error_text(status, &text)
            ),
        })
    }

    /// Onboards the account on `tier` and waits for its managed project.
    async fn onboard(&self, tier: &str, configured: Option<String>) -> Result<String, String> {
        let body = onboard_user_body(self.flavor, tier, configured.as_deref());
        let began = tokio::time::Instant::now();
        let mut answer = self.post(Call::OnboardUser, &body).await?;
        let mut polls = 0usize;
        loop {
            match parse_operation(&answer) {
                Ok(Some(project)) => return Ok(project),
                Ok(None) => {}
                Err(error) => {
                    return match (error, configured) {
                        // Onboarding onto the user's own project names none back.
                        (AccountError::ProjectRequired, Some(project)) => Ok(project),
                        (error, _) => Err(error.to_string()),
                    };
                }
            }
            let wait = Duration::from_millis(ONBOARD_POLL_MS[polls.min(ONBOARD_POLL_MS.len() - 1)]);
            if began.elapsed() + wait > ONBOARD_DEADLINE {
                return Err(format!(
                    "Google did not finish setting up Code Assist for this account within {} s; sign in again in a few minutes.",
                    ONBOARD_DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(wait).await;
            polls += 1;
            answer = match answer["name"].as_str() {
                Some(name) => self.operation(name).await?,
                // No operation to look at: asking again is how CLIProxyAPI waits.
                None => self.post(Call::OnboardUser, &body).await?,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::WireFormat;
    use crate::translate::codec::StreamDecoder;
    use crate::translate::ir::StreamEvent;

    fn gemini_body() -> Value {
        json!({
            "model": "gemini-2.5-pro",
            "contents": [{"role": "user", "parts": [{"text": "list files"}]}],
            "systemInstruction": {"role": "user", "parts": [{"text": "be brief"}]},
            "tools": [{"functionDeclarations": [{"name": "ls", "parameters": {"type": "object"}}]}],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 1000},
        })
    }

    #[test]
    fn gemini_cli_envelope_has_the_documented_fields_and_casing() {
        let wrapped = wrap_request(
            &gemini_body(),
            &Envelope {
                flavor: Flavor::GeminiCli,
                model: "gemini-3.5-flash",
                project: "proj-1",
                request_id: "prompt-1",
                session_id: "sess-1",
                use_credits: false,
            },
        );
        let keys: Vec<&str> = wrapped
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["model", "project", "user_prompt_id", "request"]);
        assert_eq!(wrapped["model"], "gemini-3-flash");
        assert_eq!(wrapped["project"], "proj-1");
        assert_eq!(wrapped["user_prompt_id"], "prompt-1");
        let request = &wrapped["request"];
        assert_eq!(request["session_id"], "sess-1");
        assert!(request.get("model").is_none());
        assert_eq!(request["contents"], gemini_body()["contents"]);
        // Gemini CLI keeps everything else as the caller sent it.
        assert_eq!(request["safetySettings"], gemini_body()["safetySettings"]);
        assert_eq!(request["generationConfig"]["maxOutputTokens"], 1000);

        let with_credits = wrap_request(
            &gemini_body(),
            &Envelope {
                flavor: Flavor::GeminiCli,
                model: "gemini-2.5-pro",
                project: "p",
                request_id: "r",
                session_id: "s",
                use_credits: true,
            },
        );
        assert_eq!(
            with_credits["enabled_credit_types"],
            json!(["GOOGLE_ONE_AI"])
        );
    }

    #[test]
    fn antigravity_envelope_adds_its_fields_and_shapes_the_request() {
        let envelope = |model| Envelope {
            flavor: Flavor::Antigravity,
            model,
            project: "proj-ag",
            request_id: "0b6c",
            session_id: "-42",
            use_credits: true,
        };
        let claude = wrap_request(&gemini_body(), &envelope("claude-sonnet-4-6"));
        assert_eq!(claude["project"], "proj-ag");
        assert_eq!(claude["model"], "claude-sonnet-4-6");
        assert_eq!(claude["userAgent"], "antigravity");
        assert_eq!(claude["requestType"], "agent");
        assert_eq!(claude["requestId"], "agent-0b6c");
        assert_eq!(claude["enabledCreditTypes"], json!(["GOOGLE_ONE_AI"]));
        assert!(claude.get("enabled_credit_types").is_none());
        let request = &claude["request"];
        assert_eq!(request["sessionId"], "-42");
        assert!(request.get("safetySettings").is_none());
        assert_eq!(
            request["toolConfig"]["functionCallingConfig"]["mode"],
            "VALIDATED"
        );
        assert_eq!(request["generationConfig"]["maxOutputTokens"], 1000);

        let mut forced = gemini_body();
        forced["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY"}});
        let forced = wrap_request(&forced, &envelope("claude-sonnet-4-6"));
        assert_eq!(
            forced["request"]["toolConfig"]["functionCallingConfig"]["mode"],
            "ANY"
        );

        let gemini = wrap_request(&gemini_body(), &envelope("gemini-3-flash"));
        let request = &gemini["request"];
        assert!(request.get("toolConfig").is_none());
        assert!(request["generationConfig"].get("maxOutputTokens").is_none());
        assert_eq!(request["generationConfig"]["temperature"], 0.2);
    }

    #[test]
    fn session_ids_are_stable_per_conversation() {
        let a = session_id_for(&gemini_body());
        let mut later = gemini_body();
        later["contents"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "model", "parts": [{"text": "ok"}]}));
        assert_eq!(a, session_id_for(&later));
        assert!(a.starts_with('-'));
        assert!(a[1..].parse::<i64>().is_ok(), "{a}");
        let other = json!({"contents": [{"role": "user", "parts": [{"text": "other"}]}]});
        assert_ne!(a, session_id_for(&other));
    }

    #[test]
    fn method_urls_follow_the_v1internal_scheme() {
        assert_eq!(
            method_url(CODE_ASSIST_BASE_URL, "streamGenerateContent", true),
            "https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            method_url(ANTIGRAVITY_BASE_URLS[0], "loadCodeAssist", false),
            "https://daily-cloudcode-pa.googleapis.com/v1internal:loadCodeAssist"
        );
        assert_eq!(ANTIGRAVITY_BASE_URLS.last(), Some(&CODE_ASSIST_BASE_URL));
    }

    fn enveloped_chunk() -> Value {
        json!({
            "response": {
                "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
                "modelVersion": "gemini-2.5-pro",
            },
            "traceId": "trace-1",
        })
    }

    #[test]
    fn unwrap_response_takes_the_inner_response_and_trace_id() {
        let plain = unwrap_response(&enveloped_chunk());
        assert_eq!(plain["responseId"], "trace-1");
        assert_eq!(plain["modelVersion"], "gemini-2.5-pro");
        assert!(plain.get("response").is_none());

        let mut with_id = enveloped_chunk();
        with_id["response"]["responseId"] = "resp-9".into();
        assert_eq!(unwrap_response(&with_id)["responseId"], "resp-9");

        let error =
            json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}});
        assert_eq!(unwrap_response(&error), error);
        assert_eq!(unwrap_response(&json!([enveloped_chunk()])), json!([plain]));
    }

    fn upstream_sse() -> String {
        let second = json!({
            "response": {
                "candidates": [{"content": {"role": "model", "parts": [{"text": " world"}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
            },
            "traceId": "trace-1",
        });
        format!(
            ": keep-alive\r\n\r\ndata: {}\r\n\r\ndata: {second}\r\n\r\n",
            enveloped_chunk()
        )
    }

    #[test]
    fn the_unwrapper_yields_whole_plain_events_at_any_chunk_boundary() {
        let sse = upstream_sse();
        let mut whole = SseUnwrapper::new();
        let expected = whole.push(sse.as_bytes());
        assert!(whole.finish().is_empty());
        let text = String::from_utf8(expected.clone()).unwrap();
        assert_eq!(text.matches("data: ").count(), 2, "{text}");
        assert!(text.ends_with("\n\n"));
        assert!(!text.contains("traceId"));

        for cut in 0..=sse.len() {
            let mut u = SseUnwrapper::new();
            let mut out = u.push(&sse.as_bytes()[..cut]);
            out.extend(u.push(&sse.as_bytes()[cut..]));
            out.extend(u.finish());
            assert_eq!(out, expected, "cut at {cut}");
        }
        for cut in 1..sse.len() {
            // Every output event is whole: nothing is emitted mid-event.
            let mut u = SseUnwrapper::new();
            let first = u.push(&sse.as_bytes()[..cut]);
            assert!(first.is_empty() || first.ends_with(b"\n\n"));
        }
    }

    #[test]
    fn the_unwrapped_stream_reads_as_gemini() {
        let mut unwrapper = SseUnwrapper::new();
        let mut plain = unwrapper.push(upstream_sse().as_bytes());
        plain.extend(unwrapper.finish());
        let mut decoder = StreamDecoder::new(WireFormat::Gemini);
        let mut events = Vec::new();
        for range in event_ranges(&plain) {
            if let Some(data) = event_data(&plain[range]) {
                events.extend(decoder.data(&data));
            }
        }
        events.extend(decoder.finish());
        assert_eq!(
            events.first(),
            Some(&StreamEvent::Start {
                id: "trace-1".into(),
                model: "gemini-2.5-pro".into()
            })
        );
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::TextDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello world");
        assert!(matches!(events.last(), Some(StreamEvent::Finish { .. })));
    }

    #[test]
    fn an_event_with_no_final_blank_line_comes_out_at_finish() {
        let mut u = SseUnwrapper::new();
        assert!(
            u.push(format!("data: {}", enveloped_chunk()).as_bytes())
                .is_empty()
        );
        let rest = String::from_utf8(u.finish()).unwrap();
        assert!(rest.starts_with("data: {\"candidates\""), "{rest}");
    }

    #[test]
    fn load_code_assist_bodies() {
        assert_eq!(
            load_code_assist_body(Flavor::GeminiCli, Some("p1")),
            json!({
                "cloudaicompanionProject": "p1",
                "metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED",
                             "pluginType": "GEMINI", "duetProject": "p1"},
            })
        );
        assert_eq!(
            load_code_assist_body(Flavor::GeminiCli, None),
            json!({"metadata": {"ideType": "IDE_UNSPECIFIED", "platform": "PLATFORM_UNSPECIFIED",
                                "pluginType": "GEMINI"}})
        );
        assert_eq!(
            load_code_assist_body(Flavor::Antigravity, None),
            json!({"metadata": {"ideType": "ANTIGRAVITY"}})
        );
    }

    #[test]
    fn a_set_up_account_is_ready_with_its_project_as_string_or_object() {
        let body = json!({
            "currentTier": {"id": "free-tier", "name": "Gemini Code Assist for individuals",
                            "hasAcceptedTos": true, "isDefault": true},
            "allowedTiers": [{"id": "free-tier", "isDefault": true}],
            "cloudaicompanionProject": "able-sun-123",
        });
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &body, None),
            Ok(CodeAssistSetup::Ready {
                project: "able-sun-123".into(),
                tier: "free-tier".into()
            })
        );
        let mut object = body.clone();
        object["cloudaicompanionProject"] = json!({"id": "able-sun-123", "name": "x"});
        object["paidTier"] = json!({"id": "g1-pro-tier", "availableCredits": []});
        assert_eq!(
            parse_load_code_assist(Flavor::Antigravity, &object, None),
            Ok(CodeAssistSetup::Ready {
                project: "able-sun-123".into(),
                tier: "g1-pro-tier".into()
            })
        );
        // A current tier without a project needs the user's own project.
        let bare = json!({"currentTier": {"id": "standard-tier"}});
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &bare, None),
            Err(AccountError::ProjectRequired)
        );
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &bare, Some("mine")),
            Ok(CodeAssistSetup::Ready {
                project: "mine".into(),
                tier: "standard-tier".into()
            })
        );
    }

    #[test]
    fn a_new_account_onboards_on_its_default_tier() {
        let body = json!({
            "allowedTiers": [
                {"id": "standard-tier", "isDefault": false, "userDefinedCloudaicompanionProject": true},
                {"id": "free-tier", "isDefault": true, "userDefinedCloudaicompanionProject": false},
            ],
        });
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &body, None),
            Ok(CodeAssistSetup::Onboard {
                tier: "free-tier".into(),
                project: None
            })
        );
        assert_eq!(
            parse_load_code_assist(Flavor::Antigravity, &json!({}), None),
            Ok(CodeAssistSetup::Onboard {
                tier: "free-tier".into(),
                project: None
            })
        );
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &json!({}), Some("p")),
            Ok(CodeAssistSetup::Onboard {
                tier: "legacy-tier".into(),
                project: Some("p".into())
            })
        );
    }

    #[test]
    fn consumer_accounts_after_the_cutoff_are_stopped_with_a_clear_message() {
        // The shape reported after 2026-06-18 (doc §1.2).
        let body = json!({
            "allowedTiers": [{"id": "free-tier", "isDefault": true}],
            "ineligibleTiers": [{
                "reasonCode": "UNSUPPORTED_CLIENT",
                "tierId": "free-tier",
                "tierName": "Gemini Code Assist for individuals",
                "reasonMessage": "This client is no longer supported for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity suite of products: https://antigravity.google",
            }],
        });
        let error = parse_load_code_assist(Flavor::GeminiCli, &body, None).unwrap_err();
        assert!(matches!(error, AccountError::ConsumerTierStopped { .. }));
        let text = error.to_string();
        assert!(text.contains("2026-06-18"), "{text}");
        assert!(text.contains("antigravity.google"), "{text}");

        let validation = json!({"ineligibleTiers": [{
            "reasonCode": "VALIDATION_REQUIRED", "tierId": "free-tier",
            "validationUrl": "https://accounts.google.com/verify",
        }]});
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &validation, None),
            Err(AccountError::ValidationRequired {
                url: Some("https://accounts.google.com/verify".into())
            })
        );
        let other =
            json!({"ineligibleTiers": [{"reasonCode": "RESTRICTED_AGE", "tierId": "free-tier"}]});
        assert_eq!(
            parse_load_code_assist(Flavor::GeminiCli, &other, None),
            Err(AccountError::Ineligible {
                message: "RESTRICTED_AGE".into()
            })
        );
    }

    #[test]
    fn onboarding_bodies_and_operations() {
        let free = onboard_user_body(Flavor::GeminiCli, "free-tier", Some("p"));
        assert_eq!(
            free,
            json!({"tierId": "free-tier", "metadata": {"ideType": "IDE_UNSPECIFIED",
                   "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}})
        );
        let standard = onboard_user_body(Flavor::GeminiCli, "standard-tier", Some("p"));
        assert_eq!(standard["cloudaicompanionProject"], "p");
        assert_eq!(standard["metadata"]["duetProject"], "p");
        let ag = onboard_user_body(Flavor::Antigravity, "free-tier", None);
        assert_eq!(ag["tier_id"], "free-tier");
        assert_eq!(ag["metadata"]["ide_type"], "ANTIGRAVITY");

        assert_eq!(
            parse_operation(&json!({"name": "operations/123", "done": false})),
            Ok(None)
        );
        assert_eq!(
            parse_operation(&json!({"name": "operations/123", "done": true,
                "response": {"cloudaicompanionProject": {"id": "managed-1", "name": "x"}}})),
            Ok(Some("managed-1".into()))
        );
        assert_eq!(
            parse_operation(&json!({"done": true, "response": {}})),
            Err(AccountError::ProjectRequired)
        );
    }

    #[test]
    fn a_tos_ban_is_classified_with_its_appeal_link() {
        let body = json!({"error": {"code": 403,
            "message": "This service has been disabled in this account for violation of Terms of Service. Please submit an appeal to continue using this product.",
            "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "TOS_VIOLATION",
                         "domain": "cloudcode-pa.googleapis.com",
                         "metadata": {"appeal_url": "https://forms.gle/abc", "appeal_url_link_text": "Submit Appeal",
                                      "uiMessage": "true"}}]}});
        let error = classify_error(403, &body).unwrap();
        assert_eq!(
            error,
            AccountError::AccountSuspended {
                appeal_url: Some("https://forms.gle/abc".into())
            }
        );
        assert!(error.to_string().contains("https://forms.gle/abc"));
        // Streaming errors can come wrapped in an array.
        assert_eq!(classify_error(403, &json!([body])), Some(error));
    }

    #[test]
    fn quota_and_capacity_errors_are_not_account_errors() {
        let quota = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You have exhausted your capacity on this model.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
                         "domain": "cloudcode-pa.googleapis.com"},
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "68940s"}]}});
        assert_eq!(classify_error(429, &quota), None);
        assert_eq!(classify_error(500, &json!("not an error")), None);
        let verify = json!({"error": {"code": 403, "message": "Verify your account to continue.",
                                      "status": "PERMISSION_DENIED"}});
        assert_eq!(
            classify_error(403, &verify),
            Some(AccountError::ValidationRequired { url: None })
        );
        let validation = json!({"error": {"code": 403, "message": "Verify", "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "VALIDATION_REQUIRED",
             "domain": "cloudcode-pa.googleapis.com", "metadata": {}},
            {"@type": "type.googleapis.com/google.rpc.Help",
             "links": [{"description": "Verify", "url": "https://example.test/verify"}]}]}});
        assert_eq!(
            classify_error(403, &validation),
            Some(AccountError::ValidationRequired {
                url: Some("https://example.test/verify".into())
            })
        );
    }

    #[test]
    fn antigravity_claude_aliases_map_to_their_ids() {
        assert_eq!(
            upstream_model(Flavor::Antigravity, "gemini-claude-sonnet-4-6"),
            "claude-sonnet-4-6"
        );
        assert_eq!(
            upstream_model(Flavor::Antigravity, "gemini-3-flash"),
            "gemini-3-flash"
        );
        assert_eq!(
            upstream_model(Flavor::GeminiCli, "gemini-claude-x"),
            "gemini-claude-x"
        );
    }

    #[test]
    fn antigravity_moves_down_its_hosts_on_retries_and_gemini_cli_stays() {
        let daily = ANTIGRAVITY_BASE_URLS[0];
        assert_eq!(generate_base(Flavor::Antigravity, daily, 0, None), daily);
        assert_eq!(
            generate_base(Flavor::Antigravity, daily, 1, None),
            CODE_ASSIST_BASE_URL
        );
        assert_eq!(generate_base(Flavor::Antigravity, daily, 2, None), daily);
        // Under the test override the list moves with the account's base.
        let origin = "http://127.0.0.1:9";
        let moved = redirect_url(origin, daily);
        assert_eq!(
            generate_base(Flavor::Antigravity, &moved, 1, Some(origin)),
            redirect_url(origin, CODE_ASSIST_BASE_URL)
        );
        // A base the user chose is kept.
        assert_eq!(
            generate_base(Flavor::Antigravity, "https://proxy.example/", 1, None),
            "https://proxy.example"
        );
        assert_eq!(
            generate_base(Flavor::GeminiCli, CODE_ASSIST_BASE_URL, 3, None),
            CODE_ASSIST_BASE_URL
        );
    }

    #[test]
    fn each_flavour_dresses_its_calls() {
        let gc = headers(Flavor::GeminiCli, Call::Generate, "gemini-2.5-pro");
        let ua = &gc[0].1;
        assert!(ua.starts_with("GeminiCLI/0.61.0/gemini-2.5-pro ("), "{ua}");
        assert!(ua.ends_with("; terminal)"), "{ua}");
        assert_eq!(
            gc[1],
            ("x-goog-api-client", GEMINI_CLI_API_CLIENT.to_string())
        );
        assert_eq!(
            headers(Flavor::Antigravity, Call::Generate, "x"),
            vec![(
                "user-agent",
                "antigravity/hub/2.9.1 darwin/arm64".to_string()
            )]
        );
        let onboard = headers(Flavor::Antigravity, Call::OnboardUser, "x");
        assert_eq!(
            onboard[0].1,
            "antigravity/hub/2.9.1 darwin/arm64 google-api-nodejs-client/10.3.0"
        );
        assert!(onboard.contains(&("x-goog-api-client", "gl-node/22.21.1".to_string())));
        assert!(
            headers(Flavor::Antigravity, Call::LoadCodeAssist, "x")
                .contains(&("accept", "*/*".to_string()))
        );
    }

    fn signed_in(project: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: "ya29.token".into(),
            refresh_token: Some("1//refresh".into()),
            expires_at_ms: None,
            email: None,
            account_id: None,
            api_base: None,
            plan: None,
            obtained_at_ms: 0,
            extra: project
                .map(|p| [(PROJECT_KEY.to_string(), p.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn prepare_wraps_the_gemini_body_for_the_account_and_unwraps_the_answer() {
        let catalog = crate::providers::Catalog::builtin().unwrap();
        let provider = catalog.get("gemini-cli").unwrap();
        let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}).to_string();
        let target = Target {
            model: "gemini-3.5-flash",
            attempt: 0,
        };
        let call = |tokens: &TokenSet, provider: &ProviderDef, stream| {
            prepare(
                provider,
                &provider.base_url,
                tokens,
                body.as_bytes(),
                stream,
                target,
                None,
            )
        };
        let out = call(&signed_in(Some("proj-9")), provider, true).unwrap();
        assert_eq!(
            out.url.as_str(),
            "https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse"
        );
        assert_eq!(out.headers["authorization"], "Bearer ya29.token");
        assert!(
            out.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("GeminiCLI/0.61.0/gemini-3.5-flash (")
        );
        let sent: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(sent["model"], "gemini-3-flash");
        assert_eq!(sent["project"], "proj-9");
        assert_eq!(sent["request"]["contents"][0]["parts"][0]["text"], "hi");
        assert!(matches!(out.reshape, Some(Reshape::CloudCode(_))));
        assert!(!out.force_stream);

        let whole = call(&signed_in(Some("proj-9")), provider, false).unwrap();
        assert_eq!(
            whole.url.as_str(),
            "https://cloudcode-pa.googleapis.com/v1internal:generateContent"
        );
        let error = call(&signed_in(None), provider, false).unwrap_err();
        assert!(error.contains("sign in to it again"), "{error}");
        let openai = catalog.get("openai").unwrap();
        assert!(call(&signed_in(Some("p")), openai, false).is_err());
    }
}
