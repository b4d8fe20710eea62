//! The pooled HTTP clients that talk to upstream providers (direct and through outbound proxies), and the connection test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;

use super::{AuthKind, ProviderDef, WireFormat};
use crate::config::Settings;
use crate::config::settings::check_proxy_url;
use crate::snapshot::Account;
use crate::translate::{codec, ir};

/// Version header Anthropic requires on every call.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Most proxied clients kept at once.
const MAX_PROXIED_CLIENTS: usize = 64;

/// The clients every upstream call goes through: one pooled client for
/// direct calls and one per distinct outbound proxy, built on first use.
/// Cloning shares the pools.
#[derive(Clone)]
pub struct UpstreamClient {
    pools: Arc<Pools>,
}

struct Pools {
    /// The direct client. An `ArcSwap` rather than a map entry: the common
    /// case costs one atomic load, no lock.
    direct: ArcSwap<reqwest::Client>,
    /// Clients through a proxy, by proxy URL. Reads take the read lock;
    /// the write lock is held only to add a client or to drop them all.
    proxied: RwLock<HashMap<String, reqwest::Client>>,
    /// The connect timeout every client is built with, in milliseconds.
    connect_timeout_ms: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(#[from] reqwest::Error);

/// An outbound proxy that cannot be used. The URL is shown with its
/// password hidden.
#[derive(Debug, thiserror::Error)]
#[error("the outbound proxy {proxy} cannot be used: {reason}")]
pub struct ProxyError {
    pub proxy: String,
    pub reason: String,
}

impl UpstreamClient {
    /// The clients with the default connect timeout; the gateway sets the
    /// configured one with [`UpstreamClient::set_connect_timeout`].
    pub fn new() -> Result<UpstreamClient, ClientBuildError> {
        let timeout = Duration::from_secs(Settings::default().connect_timeout_secs);
        let direct = build_client(timeout, None)?;
        Ok(UpstreamClient {
            pools: Arc::new(Pools {
                direct: ArcSwap::from_pointee(direct),
                proxied: RwLock::new(HashMap::new()),
                connect_timeout_ms: AtomicU64::new(millis(timeout)),
            }),
        })
    }

    /// Uses `timeout` for new connections from now on. A change drops the
    /// pooled clients (calls in flight keep theirs) so that new ones are
    /// built with it; setting the same value again costs nothing.
    pub fn set_connect_timeout(&self, timeout: Duration) {
        let mut proxied = self
            .pools
            .proxied
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if self.pools.connect_timeout_ms.load(Ordering::Acquire) == millis(timeout) {
            return;
        }
        match build_client(timeout, None) {
            Ok(direct) => self.pools.direct.store(Arc::new(direct)),
            Err(e) => {
                // Without a direct client of the new kind, the old one is
                // still a working client: keep it and say why.
                tracing::error!(error = %e, "cannot rebuild the HTTP client; keeping the old connect timeout");
                return;
            }
        }
        self.pools
            .connect_timeout_ms
            .store(millis(timeout), Ordering::Release);
        proxied.clear();
    }

    /// The client for calls through `proxy` (`None`: direct), built and
    /// pooled on first use. Also for OAuth token calls, which must take
    /// the same way out as the account's requests.
    pub fn client_for(&self, proxy: Option<&str>) -> Result<reqwest::Client, ProxyError> {
        if let Some(url) = proxy.filter(|p| !p.is_empty()) {
            // reqwest takes any scheme (and treats unknown ones as HTTP
            // proxies); only the ones the settings allow are used.
            check_proxy_url(url).map_err(|reason| ProxyError {
                proxy: redact_proxy(url),
                reason,
            })?;
        }
        self.client(proxy).map_err(|e| ProxyError {
            proxy: proxy.map(redact_proxy).unwrap_or_default(),
            reason: error_chain(&e),
        })
    }

    /// [`UpstreamClient::client_for`] with reqwest's own error, for the
    /// calls whose error type is reqwest's.
    fn client(&self, proxy: Option<&str>) -> reqwest::Result<reqwest::Client> {
        let Some(proxy) = proxy.filter(|p| !p.is_empty()) else {
            return Ok(reqwest::Client::clone(&self.pools.direct.load()));
        };
        let found = self
            .pools
            .proxied
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(proxy)
            .cloned();
        if let Some(client) = found {
            return Ok(client);
        }
        let timeout_ms = self.pools.connect_timeout_ms.load(Ordering::Acquire);
        let client = build_client(Duration::from_millis(timeout_ms), Some(proxy))?;
        let mut proxied = self
            .pools
            .proxied
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // A timeout change while this client was built makes it stale: use
        // it for this call, but do not keep it.
        if self.pools.connect_timeout_ms.load(Ordering::Acquire) != timeout_ms {
            return Ok(client);
        }
        // Proxies are edited by hand, so a full map means many stale URLs:
        // start afresh rather than keep their clients forever.
        if proxied.len() >= MAX_PROXIED_CLIENTS && !proxied.contains_key(proxy) {
            proxied.clear();
        }
        // Another call may have built one first; every caller then shares it.
        Ok(proxied.entry(proxy.to_string()).or_insert(client).clone())
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
            .client(account.proxy.as_deref())?
            .post(url)
            .headers(account.auth_headers.clone())
            .header(CONTENT_TYPE, "application/json");
        if stream {
            request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        request.body(body).send().await
    }

    /// Posts a body an adapter prepared (OAuth accounts: their own URL and
    /// headers), through the account's proxy.
    pub async fn send_prepared(
        &self,
        account: &Account,
        outgoing: super::adapters::Outgoing,
        stream: bool,
    ) -> reqwest::Result<reqwest::Response> {
        // An adapter that names its own Accept (Kiro's event stream) keeps it.
        let has_accept = outgoing.headers.contains_key(reqwest::header::ACCEPT);
        let mut request = self
            .client(account.proxy.as_deref())?
            .post(outgoing.url)
            .headers(outgoing.headers)
            .header(CONTENT_TYPE, "application/json");
        if stream && !has_accept {
            request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        request.body(outgoing.body).send().await
    }

    /// Posts a body to `path` under the account's base URL (side routes such
    /// as Anthropic's `/messages/count_tokens`).
    pub async fn post_to(
        &self,
        account: &Account,
        path: &str,
        body: Bytes,
    ) -> reqwest::Result<reqwest::Response> {
        self.client(account.proxy.as_deref())?
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
        let http = match self.client_for(account.proxy.as_deref()) {
            Ok(http) => http,
            Err(e) => return ConnectionTest::finish(started, "models", 0, Some(e.to_string())),
        };
        let models = http
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
                    Some(describe_send_error(account, &e)),
                ),
            };
        }
        let Some(model) = model.or_else(|| provider.models.first().map(|m| m.id.as_str())) else {
            return ConnectionTest::finish(started, "chat", 0, Some("the provider has no /models route and no model to try a chat with; pass a model".into()));
        };
        let body = ping_body(provider.format, model);
        let url = match provider.format {
            WireFormat::Gemini => gemini_url(&account.request_url, model, false),
            _ => account.request_url.clone(),
        };
        let chat = http
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
            Err(e) => {
                ConnectionTest::finish(started, "chat", 0, Some(describe_send_error(account, &e)))
            }
        }
    }
}

/// A one-token request in `format` (connection tests).
pub fn ping_body(format: WireFormat, model: &str) -> serde_json::Value {
    let ping = ir::Request {
        model: model.to_string(),
        messages: vec![ir::Message {
            role: ir::Role::User,
            parts: vec![ir::Part::text("ping")],
        }],
        max_tokens: Some(1),
        ..Default::default()
    };
    codec::encode_request(format, &ping)
}

/// One pooled client. With a proxy, every request goes through it (HTTP
/// and HTTPS targets alike) and the system proxy settings are ignored;
/// without one, reqwest's usual system proxy detection applies.
fn build_client(
    connect_timeout: Duration,
    proxy: Option<&str>,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("OmniRoute/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true);
    if let Some(proxy) = proxy {
        builder = builder.proxy(reqwest::Proxy::all(proxy)?);
    }
    builder.build()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A proxy URL fit for messages and logs, as the user wrote it but with
/// the password (or a lone user-info token, which some proxy services use
/// as the credential) replaced by `***`.
pub fn redact_proxy(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    // The last `@` ends the user info: a password may itself hold `@` or `/`.
    let Some(at) = url[start..].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    let user = match url[start..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{}{user}{}", &url[..start], &url[at..])
}

/// What went wrong when a call to `account` failed before any answer,
/// naming the outbound proxy when the call went through one (a dead proxy
/// otherwise reads like a dead provider).
pub fn describe_send_error(account: &Account, error: &reqwest::Error) -> String {
    describe(&account.base_url, account.proxy.as_deref(), error)
}

fn describe(base_url: &str, proxy: Option<&str>, error: &reqwest::Error) -> String {
    let chain = error_chain(error);
    match proxy.filter(|p| !p.is_empty()) {
        Some(proxy) if error.is_builder() => format!(
            "The outbound proxy {} cannot be used: {chain}",
            redact_proxy(proxy)
        ),
        Some(proxy) => format!(
            "Cannot reach {base_url} through the outbound proxy {}: {chain}",
            redact_proxy(proxy)
        ),
        None => format!("Cannot reach {base_url}: {chain}"),
    }
}

/// An error and its sources, joined by `: ` (reqwest's own message alone
/// rarely says what failed).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(client: &UpstreamClient) -> usize {
        client.pools.proxied.read().unwrap().len()
    }

    #[test]
    fn proxied_clients_are_built_once_per_proxy_and_dropped_on_a_timeout_change() {
        let client = UpstreamClient::new().unwrap();
        client.client_for(None).unwrap();
        client.client_for(Some("")).unwrap();
        assert_eq!(pooled(&client), 0, "direct calls use the direct client");
        client.client_for(Some("http://127.0.0.1:3128")).unwrap();
        client.client_for(Some("http://127.0.0.1:3128")).unwrap();
        client.client_for(Some("socks5h://127.0.0.1:1080")).unwrap();
        assert_eq!(pooled(&client), 2);

        let shared = client.clone();
        shared.set_connect_timeout(Duration::from_secs(10));
        assert_eq!(pooled(&client), 2, "the same timeout keeps the pools");
        shared.set_connect_timeout(Duration::from_secs(3));
        assert_eq!(pooled(&client), 0, "clones share the pools");
        assert_eq!(
            client.pools.connect_timeout_ms.load(Ordering::Acquire),
            3000
        );
        client.client_for(Some("http://127.0.0.1:3128")).unwrap();
        assert_eq!(pooled(&client), 1);

        for port in 0..MAX_PROXIED_CLIENTS {
            client
                .client_for(Some(&format!("http://127.0.0.1:{}", 40_000 + port)))
                .unwrap();
        }
        assert!(
            pooled(&client) <= MAX_PROXIED_CLIENTS,
            "the pool is bounded"
        );
    }

    #[test]
    fn an_unusable_proxy_is_an_error_naming_it_without_its_password() {
        let client = UpstreamClient::new().unwrap();
        let e = client
            .client_for(Some("ftp://bob:hunter2@proxy.example:21"))
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("ftp://bob:***@proxy.example:21"), "{text}");
        assert!(text.contains("not supported"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let e = client.client_for(Some("not a proxy")).unwrap_err();
        assert!(e.to_string().contains("not a proxy"), "{e}");
        assert_eq!(pooled(&client), 0);
    }

    #[test]
    fn proxy_passwords_are_hidden() {
        assert_eq!(
            redact_proxy("http://user:secret@10.0.0.1:8080"),
            "http://user:***@10.0.0.1:8080"
        );
        assert_eq!(
            redact_proxy("socks5h://me:p@ss/w@proxy:1080"),
            "socks5h://me:***@proxy:1080"
        );
        assert_eq!(redact_proxy("http://token@proxy"), "http://***@proxy");
        assert_eq!(
            redact_proxy("socks5://10.0.0.1:1080"),
            "socks5://10.0.0.1:1080"
        );
        assert_eq!(redact_proxy("http://u:p w@host"), "http://u:***@host");
        assert_eq!(redact_proxy("junk"), "junk");
    }

    #[tokio::test]
    async fn a_dead_proxy_is_named_in_the_send_error() {
        // A port nothing listens on: bind one, then let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let proxy = format!("http://u:pw@127.0.0.1:{port}");
        let client = UpstreamClient::new().unwrap();
        let e = client
            .client(Some(&proxy))
            .unwrap()
            .post("http://upstream.invalid/v1/chat/completions")
            .send()
            .await
            .unwrap_err();
        let text = describe("http://upstream.invalid/v1", Some(&proxy), &e);
        assert!(
            text.contains(&format!(
                "through the outbound proxy http://u:***@127.0.0.1:{port}"
            )),
            "{text}"
        );
        assert!(!text.contains(":pw@"), "{text}");
    }
}
