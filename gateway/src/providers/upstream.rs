//! The pooled HTTP client that talks to upstream providers, and the connection test.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;

use super::{AuthKind, ProviderDef, WireFormat};
use crate::snapshot::Account;
use crate::translate::{codec, ir};

/// Version header Anthropic requires on every call.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// One pooled client for every upstream call.
#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(#[from] reqwest::Error);

impl UpstreamClient {
    pub fn new() -> Result<UpstreamClient, ClientBuildError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("OmniRoute/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(UpstreamClient { http })
    }

    /// The headers that present `key` the way `auth` says.
    pub fn auth_headers(auth: AuthKind, key: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let Some(key) = key else {
            return headers;
        };
        let value = |v: String| HeaderValue::from_str(&v).ok();
        match auth {
            AuthKind::Bearer => {
                if let Some(v) = value(format!("Bearer {key}")) {
                    headers.insert(AUTHORIZATION, v);
                }
            }
            AuthKind::XApiKey => {
                if let Some(v) = value(key.to_string()) {
                    headers.insert("x-api-key", v);
                }
                headers.insert(
                    "anthropic-version",
                    HeaderValue::from_static(ANTHROPIC_VERSION),
                );
            }
            AuthKind::XGoogApiKey => {
                if let Some(v) = value(key.to_string()) {
                    headers.insert("x-goog-api-key", v);
                }
            }
            AuthKind::None => {}
        }
        headers
    }

    /// Posts a body in the upstream's own format to the account's request
    /// URL (prepared with the auth headers when the snapshot was built; for
    /// Gemini completed with the model and method).
    pub async fn send(
        &self,
        account: &Account,
        format: WireFormat,
        model: &str,
        body: Bytes,
        stream: bool,
    ) -> reqwest::Result<reqwest::Response> {
        let url = if format == WireFormat::Gemini {
            gemini_url(&account.request_url, model, stream)
        } else {
            account.request_url.clone()
        };
        let mut request = self
            .http
            .post(url)
            .headers(account.auth_headers.clone())
            .header(CONTENT_TYPE, "application/json");
        if stream {
            request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        request.body(body).send().await
    }

    /// Posts a body to `path` under the account's base URL (side routes such
    /// as Anthropic's `/messages/count_tokens`).
    pub async fn post_to(
        &self,
        account: &Account,
        path: &str,
        body: Bytes,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", account.base_url))
            .headers(account.auth_headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
    }

    /// Checks that an account works: `GET /models`, and when the provider has
    /// no such route, a one-token chat completion.
    pub async fn test_account(
        &self,
        provider: &ProviderDef,
        account: &Account,
        model: Option<&str>,
    ) -> ConnectionTest {
        let started = Instant::now();
        let models = self
            .http
            .get(format!("{}/models", account.base_url))
            .headers(account.auth_headers.clone())
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let fallback_to_chat = match &models {
            Ok(r) if r.status().is_success() => {
                return ConnectionTest::finish(started, "models", r.status().as_u16(), None);
            }
            Ok(r) => matches!(r.status().as_u16(), 404 | 405 | 501),
            Err(_) => false,
        };
        if !fallback_to_chat {
            return match models {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    ConnectionTest::finish(
                        started,
                        "models",
                        status,
                        Some(error_text(status, &text)),
                    )
                }
                Err(e) => ConnectionTest::finish(
                    started,
                    "models",
                    0,
                    Some(format!("cannot reach {}: {e}", account.base_url)),
                ),
            };
        }
        let Some(model) = model.or_else(|| provider.models.first().map(|m| m.id.as_str())) else {
            return ConnectionTest::finish(started, "chat", 0, Some("the provider has no /models route and no model to try a chat with; pass a model".into()));
        };
        // A one-token request in the provider's own format.
        let ping = ir::Request {
            model: model.to_string(),
            messages: vec![ir::Message {
                role: ir::Role::User,
                parts: vec![ir::Part::text("ping")],
            }],
            max_tokens: Some(1),
            ..Default::default()
        };
        let body = codec::encode_request(provider.format, &ping);
        let url = match provider.format {
            WireFormat::Gemini => gemini_url(&account.request_url, model, false),
            _ => account.request_url.clone(),
        };
        let chat = self
            .http
            .post(url)
            .headers(account.auth_headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        match chat {
            Ok(r) if r.status().is_success() => {
                ConnectionTest::finish(started, "chat", r.status().as_u16(), None)
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                ConnectionTest::finish(started, "chat", status, Some(error_text(status, &text)))
            }
            Err(e) => ConnectionTest::finish(
                started,
                "chat",
                0,
                Some(format!("cannot reach {}: {e}", account.base_url)),
            ),
        }
    }
}

/// Gemini's URL for one call: `{base}/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` for a stream.
fn gemini_url(models: &reqwest::Url, model: &str, stream: bool) -> reqwest::Url {
    let mut url = models.clone();
    let method = if stream {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(&format!("{model}:{method}"));
    }
    if stream {
        url.set_query(Some("alt=sse"));
    }
    url
}

/// The message of an upstream error body (OpenAI `error.message`, else the text).
pub fn error_text(status: u16, body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
        })
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(500).collect());
    format!("upstream answered {status}: {message}")
}

/// Result of a connection test.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionTest {
    pub ok: bool,
    /// `models` or `chat`: which check decided.
    pub method: &'static str,
    pub status: u16,
    pub latency_ms: u64,
    pub error: Option<String>,
}

impl ConnectionTest {
    fn finish(
        started: Instant,
        method: &'static str,
        status: u16,
        error: Option<String>,
    ) -> ConnectionTest {
        ConnectionTest {
            ok: error.is_none(),
            method,
            status,
            latency_ms: started.elapsed().as_millis() as u64,
            error,
        }
    }
}
