//! Per-provider request and response shaping for subscription and OAuth providers: the URL, the headers and the body rules each one's own CLI follows.

pub mod cloud_code;
pub mod convert;
pub mod copilot;
pub mod kiro;
mod kiro_call;
pub mod limits;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::redirect_url;
use super::oauth::TokenSet;
use super::{ProviderDef, WireFormat};
use crate::api::request::RawObject;
use crate::snapshot::Account;
use crate::translate::codec::{self, StreamEncoder};
use crate::translate::collect::Collector;
use serde_json::value::RawValue;

/// The system text Claude Code opens every request with; subscription
/// tokens are issued for Claude Code, and its requests carry it.
pub const CLAUDE_CODE_IDENTITY: &str = "You are Claude Code, Anthropic's official CLI for Claude.";
/// The betas a Claude subscription token needs (`oauth-2025-04-20`) plus
/// the ones Claude Code always sends.
pub const CLAUDE_CODE_BETAS: &str =
    "claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14";

/// Request shaping beyond the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adapter {
    /// Anthropic Messages with a Claude subscription token.
    ClaudeCode,
    /// The ChatGPT backend's Responses endpoint (Codex subscription).
    Codex,
    /// GitHub Copilot's API with a Copilot token.
    Copilot,
    /// Google's Cloud Code Assist with a Gemini CLI sign-in.
    GeminiCli,
    /// Google's Cloud Code Assist with an Antigravity sign-in.
    Antigravity,
    /// Kiro's `generateAssistantResponse` (AWS CodeWhisperer) with an AWS
    /// Builder ID token: its own body, answered as an AWS event stream.
    Kiro,
    /// Cline's OpenAI-compatible API with a Cline token (`workos:` bearer).
    Cline,
}

/// One upstream call, ready to send.
#[derive(Debug)]
pub struct Outgoing {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The upstream only streams: a caller who wants a whole answer gets
    /// the stream collected.
    pub force_stream: bool,
    /// The upstream answers in a wire of its own, turned back into the
    /// provider's declared format on the way in.
    pub reshape: Option<Reshape>,
}

/// Turns an upstream's own answer wire into the provider's declared format.
pub enum Reshape {
    /// Cloud Code's `{"response": {...}}` envelope around Gemini events.
    CloudCode(cloud_code::SseUnwrapper),
    /// Kiro's AWS event stream, re-encoded as the declared format's SSE.
    Kiro {
        decoder: Box<kiro::EventStreamDecoder>,
        encoder: Box<StreamEncoder>,
        format: WireFormat,
    },
    /// An answer in another wire format than the declared one.
    Convert(Box<convert::AnswerConverter>),
}

impl std::fmt::Debug for Reshape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reshape::CloudCode(_) => "Reshape::CloudCode",
            Reshape::Kiro { .. } => "Reshape::Kiro",
            Reshape::Convert(_) => "Reshape::Convert",
        })
    }
}

impl Reshape {
    /// Kiro's stream re-encoded as `format` (the declared format).
    pub fn kiro(format: WireFormat, decoder: kiro::EventStreamDecoder) -> Reshape {
        Reshape::Kiro {
            decoder: Box::new(decoder),
            encoder: Box::new(StreamEncoder::new(format, true)),
            format,
        }
    }

    /// The declared format's bytes for one upstream chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        match self {
            Reshape::Convert(converter) => converter.push(chunk),
            Reshape::CloudCode(unwrapper) => Bytes::from(unwrapper.push(chunk)),
            Reshape::Kiro {
                decoder, encoder, ..
            } => {
                let mut out = String::new();
                for event in decoder.push(chunk) {
                    out.push_str(&encoder.encode(&event));
                }
                Bytes::from(out)
            }
        }
    }

    /// What is left when the upstream ends.
    pub fn finish(&mut self) -> Bytes {
        match self {
            Reshape::Convert(converter) => converter.finish(),
            Reshape::CloudCode(unwrapper) => Bytes::from(unwrapper.finish()),
            Reshape::Kiro {
                decoder, encoder, ..
            } => Bytes::from(
                decoder
                    .finish()
                    .map(|event| encoder.encode(&event))
                    .unwrap_or_default(),
            ),
        }
    }

    /// A whole answer in the declared format from the upstream's whole body.
    pub fn whole(self, body: &[u8]) -> Result<Bytes, String> {
        match self {
            Reshape::Convert(converter) => converter.whole(body),
            Reshape::CloudCode(_) => {
                let value: Value = serde_json::from_slice(body)
                    .map_err(|e| format!("the upstream answer is not JSON: {e}"))?;
                Ok(Bytes::from(cloud_code::unwrap_response(&value).to_string()))
            }
            Reshape::Kiro {
                mut decoder,
                format,
                ..
            } => {
                let mut collector = Collector::new();
                for event in decoder.push(body).iter().chain(decoder.finish().iter()) {
                    collector.push(event);
                }
                let response = collector.finish()?;
                Ok(Bytes::from(
                    codec::encode_response(format, &response).to_string(),
                ))
            }
        }
    }
}

/// Completes a sign-in with what the provider needs before the account can
/// serve (a project, a profile, a registration), read with the sign-in's
/// own HTTP client.
pub async fn after_login(
    provider: &ProviderDef,
    http: &reqwest::Client,
    origin: Option<&str>,
    tokens: TokenSet,
) -> Result<TokenSet, String> {
    match provider.adapter {
        None | Some(Adapter::ClaudeCode | Adapter::Codex) => Ok(tokens),
        Some(Adapter::Copilot) => {
            Ok(copilot::learn_models(http, origin, &provider.headers, tokens).await)
        }
        Some(Adapter::GeminiCli) => {
            let flavor = cloud_code::Flavor::GeminiCli;
            cloud_code::after_login(flavor, provider, http, origin, tokens).await
        }
        Some(Adapter::Antigravity) => {
            let flavor = cloud_code::Flavor::Antigravity;
            cloud_code::after_login(flavor, provider, http, origin, tokens).await
        }
        Some(Adapter::Kiro) => kiro_call::name_account(provider, http, tokens).await,
        Some(Adapter::Cline) => {
            let Some(def) = &provider.oauth else {
                return Ok(tokens);
            };
            crate::providers::oauth::cline::register(http, def, tokens)
                .await
                .map_err(|e| format!("Cline did not accept the sign-in: {}", e.message))
        }
    }
}

/// What one call is for, beyond its body.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The candidate's upstream model: a Gemini body does not name it
    /// (Gemini puts it in the URL).
    pub model: &'a str,
    /// How many times this account was already tried for this request
    /// (Antigravity moves to its next host on a retry).
    pub attempt: u32,
}

/// Shapes a body already in the provider's format for an OAuth account.
/// `origin` is the test override of every upstream URL (see
/// [`super::Catalog::redirect_to`]), applied to per-account API bases too.
pub fn prepare(
    provider: &ProviderDef,
    account: &Account,
    tokens: &TokenSet,
    body: Bytes,
    stream: bool,
    target: Target<'_>,
    origin: Option<&str>,
) -> Result<Outgoing, String> {
    let base = match &tokens.api_base {
        Some(api_base) => {
            let base = api_base_url(api_base);
            match origin {
                Some(origin) => redirect_url(origin, &base),
                None => base,
            }
        }
        None => account.base_url.clone(),
    };
    let path = match provider.format {
        WireFormat::Openai => "/chat/completions",
        WireFormat::Anthropic => "/messages",
        WireFormat::Responses => "/responses",
        WireFormat::Gemini if cloud_code::Flavor::of(provider.adapter).is_some() => {
            return cloud_code::prepare(provider, &base, tokens, &body, stream, target, origin);
        }
        WireFormat::Gemini => {
            return Err(format!(
                "{} speaks the Gemini format without a Cloud Code adapter; a Gemini-format OAuth provider needs one in the catalog",
                provider.name
            ));
        }
    };
    let mut url = reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
        .map_err(|e| format!("bad API base {base}: {e}"))?;
    let mut headers = provider_headers(provider, tokens)?;
    let mut force_stream = false;
    let mut reshape = None;
    let body = match provider.adapter {
        None => body,
        Some(Adapter::ClaudeCode) => {
            url.set_query(Some("beta=true"));
            headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
            headers.insert(
                "anthropic-beta",
                HeaderValue::from_static(CLAUDE_CODE_BETAS),
            );
            edit_json(&body, claude_code_body)?
        }
        Some(Adapter::Codex) => {
            if let Some(id) = &tokens.account_id {
                headers.insert("chatgpt-account-id", header(id)?);
            }
            headers.insert("session_id", header(&request_id())?);
            headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            force_stream = !stream;
            edit_json(&body, codex_body)?
        }
        Some(Adapter::Copilot) => {
            headers.insert("x-request-id", header(&request_id())?);
            headers.insert("x-initiator", HeaderValue::from_static(initiator(&body)));
            if copilot::needs_responses(tokens, target.model) {
                // This model answers only on /responses: ask there, and
                // read its answer back as the declared format.
                url = reqwest::Url::parse(&format!("{}/responses", base.trim_end_matches('/')))
                    .map_err(|e| format!("bad API base {base}: {e}"))?;
                let parsed: Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("the request body is not JSON: {e}"))?;
                let request = codec::decode_request(provider.format, &parsed)
                    .map_err(|e| format!("the request cannot be read: {e}"))?;
                reshape = Some(Reshape::Convert(Box::new(convert::AnswerConverter::new(
                    WireFormat::Responses,
                    provider.format,
                ))));
                Bytes::from(codec::encode_request(WireFormat::Responses, &request).to_string())
            } else {
                body
            }
        }
        Some(Adapter::Cline) => {
            // Cline's API verifies the token with WorkOS when told so.
            headers.insert(
                AUTHORIZATION,
                header(&format!("Bearer workos:{}", tokens.access_token))?,
            );
            headers.insert("x-task-id", header(&request_id())?);
            // Cline's whole answers are unreliable (an envelope, or nothing
            // at all), so it is always asked to stream.
            force_stream = !stream;
            edit_json(&body, stream_with_usage)?
        }
        Some(Adapter::Kiro) => return kiro_call::outgoing(provider, account, tokens, &body),
        Some(Adapter::GeminiCli | Adapter::Antigravity) => {
            return Err(format!(
                "{} wraps Gemini bodies for Code Assist; its catalog format must be gemini",
                provider.name
            ));
        }
    };
    Ok(Outgoing {
        url,
        headers,
        body,
        force_stream,
        reshape,
    })
}

/// The provider's fixed headers and the account's bearer token.
fn provider_headers(provider: &ProviderDef, tokens: &TokenSet) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &provider.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        AUTHORIZATION,
        header(&format!("Bearer {}", tokens.access_token))?,
    );
    Ok(headers)
}

/// Asks an OpenAI-compatible upstream to stream, with the usage chunk.
fn stream_with_usage(body: &mut TopLevel<'_>) {
    body.set("stream", Value::Bool(true));
    body.set("stream_options", json!({"include_usage": true}));
}

fn header(value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value)
        .map_err(|_| "a token holds characters a header cannot carry".into())
}

/// A per-account API base as a URL: Qwen names a bare host
/// (`portal.qwen.ai`), whose OpenAI-compatible API is under `/v1`.
fn api_base_url(api_base: &str) -> String {
    if api_base.contains("://") {
        api_base.trim_end_matches('/').to_string()
    } else {
        let host = api_base.trim_end_matches('/');
        if host.ends_with("/v1") {
            format!("https://{host}")
        } else {
            format!("https://{host}/v1")
        }
    }
}

/// A request body whose top-level fields are edited without building a
/// tree of the rest: the messages of a long session are copied byte for
/// byte, and only the fields an edit reads are parsed.
struct TopLevel<'a> {
    raw: RawObject<'a>,
    /// New values (`None`: removed), applied in place or appended.
    changes: Vec<(&'static str, Option<Value>)>,
}

impl TopLevel<'_> {
    /// A field as the body has it (or as an edit set it).
    fn value(&self, key: &str) -> Option<Value> {
        if let Some((_, change)) = self.changes.iter().rev().find(|(k, _)| *k == key) {
            return change.clone();
        }
        serde_json::from_str(self.raw.get(key)?.get()).ok()
    }

    fn set(&mut self, key: &'static str, value: Value) {
        self.changes.push((key, Some(value)));
    }

    fn remove(&mut self, key: &'static str) {
        self.changes.push((key, None));
    }

    fn finish(self) -> Bytes {
        let change = |key: &str| self.changes.iter().rev().find(|(k, _)| *k == key);
        let mut out = Vec::with_capacity(
            self.raw
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum::<usize>()
                + 64,
        );
        let write = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
            out.push(if out.is_empty() { b'{' } else { b',' });
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            out.extend_from_slice(value);
        };
        let mut written: Vec<&str> = Vec::new();
        for (key, value) in &self.raw.fields {
            match change(key) {
                None => write(&mut out, key, value.get().as_bytes()),
                // A duplicated key is written once, with its new value.
                Some(_) if written.contains(&key.as_ref()) => {}
                Some((_, Some(new))) => {
                    write(&mut out, key, new.to_string().as_bytes());
                    written.push(key);
                }
                Some((_, None)) => written.push(key),
            }
        }
        for (key, new) in &self.changes {
            if let Some(new) = new
                && !written.contains(key)
                && change(key).is_some_and(|(_, c)| c.is_some())
            {
                write(&mut out, key, new.to_string().as_bytes());
                written.push(key);
            }
        }
        if out.is_empty() {
            out.push(b'{');
        }
        out.push(b'}');
        Bytes::from(out)
    }
}

fn edit_json(body: &[u8], edit: fn(&mut TopLevel<'_>)) -> Result<Bytes, String> {
    let raw: RawObject<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("the request body is not a JSON object: {e}"))?;
    let mut fields = TopLevel {
        raw,
        changes: Vec::new(),
    };
    edit(&mut fields);
    Ok(fields.finish())
}

/// Claude Code's identity as the first system block, unless it is there.
fn claude_code_body(body: &mut TopLevel<'_>) {
    let identity = json!({"type": "text", "text": CLAUDE_CODE_IDENTITY});
    let system = match body.value("system") {
        None | Some(Value::Null) => vec![identity],
        Some(Value::String(text)) if text.starts_with(CLAUDE_CODE_IDENTITY) => {
            vec![json!({"type": "text", "text": text})]
        }
        Some(Value::String(text)) => vec![identity, json!({"type": "text", "text": text})],
        Some(Value::Array(mut blocks)) => {
            let first = blocks
                .first()
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str);
            if !first.is_some_and(|t| t.starts_with(CLAUDE_CODE_IDENTITY)) {
                blocks.insert(0, identity);
            }
            blocks
        }
        Some(other) => vec![identity, other],
    };
    body.set("system", Value::Array(system));
}

/// The ChatGPT backend's rules: nothing stored, always streamed,
/// instructions present, no sampling or output caps (it refuses them).
fn codex_body(body: &mut TopLevel<'_>) {
    body.set("store", Value::Bool(false));
    body.set("stream", Value::Bool(true));
    if !body.value("instructions").is_some_and(|v| v.is_string()) {
        body.set("instructions", Value::String(String::new()));
    }
    for refused in [
        "max_output_tokens",
        "temperature",
        "top_p",
        "previous_response_id",
        "prompt_cache_retention",
        "safety_identifier",
        "stream_options",
    ] {
        body.remove(refused);
    }
    // Without stored responses, reasoning survives between turns only as
    // encrypted content the client sends back.
    let mut include = match body.value("include") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    if !include.iter().any(|v| v == "reasoning.encrypted_content") {
        include.push(Value::String("reasoning.encrypted_content".into()));
    }
    body.set("include", Value::Array(include));
}

/// Copilot bills a turn the user started differently from an agent's
/// follow-up (a tool result): `user` when the last message is the user's
/// own words. Only the last message is parsed.
fn initiator(body: &[u8]) -> &'static str {
    // One pass over the body: other fields are skipped, messages kept raw.
    #[derive(serde::Deserialize)]
    struct Messages<'a> {
        #[serde(borrow, default)]
        messages: Vec<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Role<'a> {
        #[serde(borrow)]
        role: Option<std::borrow::Cow<'a, str>>,
    }
    let last_role = serde_json::from_slice::<Messages<'_>>(body)
        .ok()
        .and_then(|m| m.messages.last().copied())
        .and_then(|last| serde_json::from_str::<Role<'_>>(last.get()).ok())
        .map(|m| m.role);
    match last_role {
        Some(Some(role)) if role != "user" => "agent",
        _ => "user",
    }
}

/// A random id in UUID form (the shape providers' CLIs send).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    uuid_form(&hex::encode(b))
}

/// 32 or more hex digits in the 8-4-4-4-12 form of a version-4 UUID.
fn uuid_form(hex: &str) -> String {
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_identity_comes_first_once() {
        let edit = |body: &Value| -> Value {
            let out = edit_json(body.to_string().as_bytes(), claude_code_body).unwrap();
            serde_json::from_slice(&out).unwrap()
        };
        let body = edit(&json!({"model": "m", "system": "Be brief.", "messages": []}));
        assert_eq!(body["system"][0]["text"], CLAUDE_CODE_IDENTITY);
        assert_eq!(body["system"][1]["text"], "Be brief.");
        assert_eq!(body["model"], "m");
        assert_eq!(edit(&body), body, "once");
        let none = edit(&json!({"messages": []}));
        assert_eq!(none["system"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn codex_bodies_follow_the_backend_rules() {
        let body = json!({"model": "gpt-5", "input": [{"role": "user", "content": "hi"}], "stream": false, "store": true, "max_output_tokens": 10, "temperature": 0.2});
        let out = edit_json(body.to_string().as_bytes(), codex_body).unwrap();
        let body: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(body["store"], false);
        assert_eq!(body["stream"], true);
        assert_eq!(body["instructions"], "");
        assert!(body.get("max_output_tokens").is_none() && body.get("temperature").is_none());
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(body["input"][0]["content"], "hi");
        // Untouched fields are copied as they came, byte for byte.
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.contains(r#""input":[{"role":"user","content":"hi"}]"#),
            "{text}"
        );
    }

    #[test]
    fn top_level_edits_keep_order_replace_duplicates_once_and_refuse_non_objects() {
        let out = edit_json(
            br#"{"a":1,"stream":false,"b":[1, 2],"stream":false}"#,
            stream_with_usage,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"a":1,"stream":true,"b":[1, 2],"stream_options":{"include_usage":true}}"#
        );
        assert!(edit_json(b"[1]", stream_with_usage).is_err());
        assert_eq!(
            &edit_json(b"{}", stream_with_usage).unwrap()[..],
            br#"{"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn copilot_initiator_follows_the_last_message() {
        assert_eq!(
            initiator(br#"{"messages": [{"role": "user", "content": "hi"}]}"#),
            "user"
        );
        assert_eq!(
            initiator(br#"{"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "tool", "content": "42"}]}"#),
            "agent"
        );
        assert_eq!(initiator(b"not json"), "user");
    }

    #[test]
    fn qwen_resource_urls_become_v1_bases() {
        assert_eq!(api_base_url("portal.qwen.ai"), "https://portal.qwen.ai/v1");
        assert_eq!(
            api_base_url("https://api.individual.githubcopilot.com/"),
            "https://api.individual.githubcopilot.com"
        );
        assert!(request_id().len() == 36);
    }
}
