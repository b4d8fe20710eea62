//! Per-provider request and response shaping for subscription and OAuth providers: the URL, the headers and the body rules each one's own CLI follows.

pub mod cloud_code;
pub mod kiro;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::redirect_url;
use super::oauth::TokenSet;
use super::{ProviderDef, WireFormat};
use crate::snapshot::Account;
use crate::translate::codec::{self, StreamEncoder};
use crate::translate::collect::Collector;

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
}

impl std::fmt::Debug for Reshape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reshape::CloudCode(_) => "Reshape::CloudCode",
            Reshape::Kiro { .. } => "Reshape::Kiro",
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
    let _ = (http, origin);
    match provider.adapter {
        None | Some(Adapter::ClaudeCode | Adapter::Codex | Adapter::Copilot) => Ok(tokens),
    }
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
        WireFormat::Gemini => {
            return Err(format!(
                "{} speaks the Gemini format through an adapter this gateway does not have yet",
                provider.name
            ));
        }
    };
    let mut url = reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
        .map_err(|e| format!("bad API base {base}: {e}"))?;
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
    let mut force_stream = false;
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
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            headers.insert("x-initiator", HeaderValue::from_static(initiator(&parsed)));
            body
        }
    };
    Ok(Outgoing {
        url,
        headers,
        body,
        force_stream,
        reshape: None,
    })
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

fn edit_json(body: &[u8], edit: fn(&mut Value)) -> Result<Bytes, String> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request body is not JSON: {e}"))?;
    edit(&mut value);
    Ok(Bytes::from(value.to_string()))
}

/// Claude Code's identity as the first system block, unless it is there.
fn claude_code_body(body: &mut Value) {
    let identity = json!({"type": "text", "text": CLAUDE_CODE_IDENTITY});
    let Some(object) = body.as_object_mut() else {
        return;
    };
    let system = match object.remove("system") {
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
    object.insert("system".into(), Value::Array(system));
}

/// The ChatGPT backend's rules: nothing stored, always streamed,
/// instructions present, no sampling or output caps (it refuses them).
fn codex_body(body: &mut Value) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    object.insert("store".into(), Value::Bool(false));
    object.insert("stream".into(), Value::Bool(true));
    if !object.get("instructions").is_some_and(Value::is_string) {
        object.insert("instructions".into(), Value::String(String::new()));
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
        object.remove(refused);
    }
    // Without stored responses, reasoning survives between turns only as
    // encrypted content the client sends back.
    let include = object
        .entry("include")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = include.as_array_mut()
        && !list.iter().any(|v| v == "reasoning.encrypted_content")
    {
        list.push(Value::String("reasoning.encrypted_content".into()));
    }
}

/// Copilot bills a turn the user started differently from an agent's
/// follow-up (a tool result): `user` when the last message is the user's
/// own words.
fn initiator(body: &Value) -> &'static str {
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    match last {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("user") => "user",
        None => "user",
        Some(_) => "agent",
    }
}

/// A random id in UUID form (the shape providers' CLIs send).
pub fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex = hex::encode(b);
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
        let mut body = json!({"system": "Be brief."});
        claude_code_body(&mut body);
        assert_eq!(body["system"][0]["text"], CLAUDE_CODE_IDENTITY);
        assert_eq!(body["system"][1]["text"], "Be brief.");
        let again = body.clone();
        claude_code_body(&mut body);
        assert_eq!(body, again);
        let mut none = json!({"messages": []});
        claude_code_body(&mut none);
        assert_eq!(none["system"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn codex_bodies_follow_the_backend_rules() {
        let mut body = json!({"model": "gpt-5", "input": [], "stream": false, "store": true, "max_output_tokens": 10, "temperature": 0.2});
        codex_body(&mut body);
        assert_eq!(body["store"], false);
        assert_eq!(body["stream"], true);
        assert_eq!(body["instructions"], "");
        assert!(body.get("max_output_tokens").is_none() && body.get("temperature").is_none());
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    }

    #[test]
    fn copilot_initiator_follows_the_last_message() {
        assert_eq!(
            initiator(&json!({"messages": [{"role": "user", "content": "hi"}]})),
            "user"
        );
        assert_eq!(
            initiator(
                &json!({"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "tool"}]})
            ),
            "agent"
        );
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
