//! Signing in to subscription and free OAuth providers: `/api/oauth/{provider}/start|poll|complete`, the browser's return to `/callback`, and the one-shot listener on a provider's fixed loopback port.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::manage::{Admin, json_body, optional_json_body};
use crate::error::ApiError;
use crate::providers::oauth::device::{self, Poll};
use crate::providers::oauth::login::{LOGIN_TTL_MS, Login, Status, Waiting};
use crate::providers::oauth::pkce::{Pkce, random_token};
use crate::providers::oauth::{Flow, OAuthDef, RefreshKind, TokenSet, token};
use crate::providers::upstream::{ConnectionTest, describe_send_error, error_text, ping_body};
use crate::providers::{ProviderDef, adapters};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// `manual`: the user will paste the final URL (or code) back, for a
    /// gateway whose loopback address the browser cannot reach.
    #[serde(default)]
    mode: Option<String>,
    /// The connection's name; else the account's email.
    #[serde(default)]
    name: Option<String>,
    /// The provider's terms restrict third-party use; the user read the
    /// warning and goes ahead.
    #[serde(default)]
    accept_terms: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRef {
    login_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    login_id: String,
    /// The URL the browser ended on, or the code the provider's page showed
    /// (Claude: `code#state`).
    url: String,
}

/// The provider and its login, or the reason it has none.
fn oauth_provider(app: &App, name: &str) -> Result<(Arc<ProviderDef>, OAuthDef), ApiError> {
    let snapshot = app.snapshot.load();
    let provider = snapshot
        .provider_by_name(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No provider named `{name}`.")))?;
    if let Some(why) = provider.deprecation() {
        return Err(
            ApiError::new(StatusCode::GONE, "invalid_request_error", why)
                .with_code("provider_discontinued"),
        );
    }
    let def = provider.oauth.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} has no sign-in; add an API key connection instead.",
            provider.name
        ))
        .with_code("no_oauth")
    })?;
    Ok((provider, def))
}

/// The HTTP client for a provider's token traffic: through its proxy (or
/// the global one), like its requests.
fn token_client(app: &App, provider: &ProviderDef) -> Result<reqwest::Client, ApiError> {
    let snapshot = app.snapshot.load();
    let settings = &snapshot.settings;
    let proxy = settings
        .provider_proxies
        .get(&provider.id)
        .or(Some(&settings.proxy))
        .filter(|p| !p.is_empty())
        .map(|p| crate::store::sealed_url::open(app.store.secrets(), p))
        .transpose()
        .map_err(|e| ApiError::internal(format!("the proxy's password cannot be opened: {e}")))?;
    app.upstream
        .client_for(proxy.as_deref())
        .map_err(|e| ApiError::upstream_unreachable(e.to_string()))
}

/// `POST /api/oauth/{provider}/start`
pub async fn start(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: StartBody = optional_json_body(body).await?;
    let (provider, def) = oauth_provider(&app, &name)?;
    if let Some(warning) = &provider.terms_warning
        && !body.accept_terms
    {
        return Err(ApiError::bad_request(format!(
            "{warning} Send \"accept_terms\": true to sign in anyway."
        ))
        .with_code("terms_not_accepted")
        .with_param("accept_terms"));
    }
    let now = app.oauth.clock.now_ms();
    let manual = body.mode.as_deref() == Some("manual");
    match def.flow {
        Flow::Pkce => {
            let pkce = Pkce::new();
            let state = random_token(32);
            let redirect_uri = match (&def.manual_redirect_uri, &def.redirect_uri) {
                (Some(page), _) if manual => page.clone(),
                (_, Some(fixed)) if manual => fixed.clone(),
                (_, Some(fixed)) => {
                    loopback::listen(app.clone(), fixed, def.fallback_port, state.clone()).await?
                }
                (_, None) => format!("http://localhost:{}/callback", app.listen.port()),
            };
            let mut url = reqwest::Url::parse(def.authorize_url.as_deref().unwrap_or_default())
                .map_err(|e| ApiError::internal(format!("bad authorize URL: {e}")))?;
            {
                let mut q = url.query_pairs_mut();
                // Claude's own CLI sends `code=true` first; providers that
                // want extra parameters list them in the catalog.
                for (k, v) in def.authorize_params.iter().filter(|(k, _)| *k == "code") {
                    q.append_pair(k, v);
                }
                q.append_pair("client_id", &def.client_id())
                    .append_pair("response_type", "code")
                    .append_pair("redirect_uri", &redirect_uri);
                if !def.scopes.is_empty() {
                    q.append_pair("scope", &def.scope());
                }
                q.append_pair("code_challenge", &pkce.challenge)
                    .append_pair("code_challenge_method", "S256");
                for (k, v) in def.authorize_params.iter().filter(|(k, _)| *k != "code") {
                    q.append_pair(k, v);
                }
                q.append_pair("state", &state);
            }
            app.oauth.logins.insert(
                state.clone(),
                Login {
                    provider: provider.id.clone(),
                    name: body.name,
                    started_ms: now,
                    waiting: Waiting::Code {
                        state: state.clone(),
                        verifier: pkce.verifier,
                        redirect_uri: redirect_uri.clone(),
                    },
                    status: Status::Pending,
                },
                now,
            );
            Ok(Json(json!({
                "flow": "pkce",
                "login_id": state,
                "auth_url": url.as_str(),
                "redirect_uri": redirect_uri,
                "manual": manual,
                "expires_in": LOGIN_TTL_MS / 1000,
            })))
        }
        Flow::Device => {
            let http = token_client(&app, &provider)?;
            let pkce = def.device_pkce.then(Pkce::new);
            let started = device::start(&http, &def, pkce.as_ref().map(|p| p.challenge.as_str()))
                .await
                .map_err(|e| ApiError::upstream_unreachable(e).with_code("oauth_start_failed"))?;
            let login_id = random_token(16);
            let answer = json!({
                "flow": "device",
                "login_id": login_id,
                "user_code": started.user_code,
                "verification_uri": started.verification_uri,
                "verification_uri_complete": started.verification_uri_complete,
                "interval": started.interval_secs,
                "expires_in": started.expires_in_secs,
            });
            app.oauth.logins.insert(
                login_id,
                Login {
                    provider: provider.id.clone(),
                    name: body.name,
                    started_ms: now,
                    waiting: Waiting::Device {
                        interval_secs: started.interval_secs,
                        next_poll_ms: now + started.interval_secs as i64 * 1000,
                        start: started,
                        verifier: pkce.map(|p| p.verifier),
                    },
                    status: Status::Pending,
                },
                now,
            );
            Ok(Json(answer))
        }
    }
}

/// A login's status as the API shows it.
fn status_json(status: &Status) -> Value {
    match status {
        Status::Pending | Status::Exchanging => json!({"status": "pending"}),
        Status::Done {
            connection_id,
            name,
            email,
        } => json!({
            "status": "done",
            "connection": {"id": connection_id, "name": name, "email": email},
        }),
        Status::Failed(message) => json!({"status": "error", "error": message}),
    }
}

/// A sign-in in progress of `provider`.
fn live_login(
    app: &App,
    provider: &ProviderDef,
    login_id: &str,
    now: i64,
) -> Result<Login, ApiError> {
    app.oauth
        .logins
        .get(login_id, now)
        .filter(|l| l.provider == provider.id)
        .ok_or_else(unknown_login)
}

fn unknown_login() -> ApiError {
    ApiError::not_found("No sign-in with this login_id is in progress (it may have expired after 10 minutes); start again.")
        .with_code("unknown_login")
}

/// `POST /api/oauth/{provider}/poll`: where a login stands; for a device
/// login, polls the provider when its interval has passed.
pub async fn poll(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let LoginRef { login_id } = json_body(body).await?;
    let (provider, def) = oauth_provider(&app, &name)?;
    let now = app.oauth.clock.now_ms();
    let login = live_login(&app, &provider, &login_id, now)?;
    let Some(claimed) = app.oauth.logins.claim_poll(&login_id, now) else {
        let mut answer = status_json(&login.status);
        if let Waiting::Device { interval_secs, .. } = login.waiting {
            answer["interval"] = json!(interval_secs);
        }
        return Ok(Json(answer));
    };
    let Waiting::Device {
        start,
        verifier,
        interval_secs,
        ..
    } = &claimed.waiting
    else {
        return Ok(Json(status_json(&claimed.status)));
    };
    let http = token_client(&app, &provider)?;
    let verdict = device::poll(&http, &def, start, verifier.as_deref(), *interval_secs, now).await;
    let status = match verdict {
        Poll::Pending => Status::Pending,
        Poll::SlowDown(interval) => {
            app.oauth.logins.slow_down(&login_id, interval, now);
            return Ok(Json(json!({"status": "slow_down", "interval": interval})));
        }
        Poll::Denied(why) => Status::Failed(format!("The sign-in was refused: {why}")),
        Poll::Expired => {
            Status::Failed("The code expired before it was approved; start again.".into())
        }
        Poll::Failed(why) => Status::Failed(format!("The sign-in failed: {why}")),
        Poll::Done(tokens) => match finish_device(&app, &provider, &http, &def, *tokens, now).await
        {
            Ok(tokens) => save_login(&app, &claimed, tokens).await,
            Err(why) => Status::Failed(why),
        },
    };
    app.oauth.logins.finish(&login_id, status.clone());
    Ok(Json(status_json(&status)))
}

/// What a device login's tokens need before use: the account's email, and
/// for Copilot the first Copilot token (which also proves the seat).
async fn finish_device(
    app: &App,
    provider: &ProviderDef,
    http: &reqwest::Client,
    def: &OAuthDef,
    tokens: TokenSet,
    now: i64,
) -> Result<TokenSet, String> {
    let mut tokens = token::with_email(http, def, tokens)
        .await
        .map_err(|e| e.message)?;
    if def.refresh == RefreshKind::CopilotExchange {
        let github = tokens.access_token.clone();
        tokens = token::copilot_exchange(http, def, &github, &tokens, now)
            .await
            .map_err(|e| e.message)?;
    }
    adapters::after_login(provider, http, app.oauth.origin.as_deref(), tokens).await
}

/// Stores a signed-in account and makes it usable at once.
async fn save_login(app: &App, login: &Login, tokens: TokenSet) -> Status {
    let provider = login.provider.clone();
    let name = login.name.clone();
    let email = tokens.email.clone();
    let json = tokens.to_json();
    let saved = app
        .store
        .call(move |conn, secrets| {
            crate::store::connections::upsert_oauth(
                conn,
                secrets,
                &provider,
                name.as_deref(),
                email.as_deref(),
                &json,
            )
        })
        .await;
    let row = match saved {
        Ok(row) => row,
        Err(e) => return Status::Failed(format!("The account could not be saved: {e}")),
    };
    app.routing.forget_disabled(row.id);
    if let Err(e) = app.reload().await {
        tracing::error!(error = %e.message, "reload after a sign-in failed");
    }
    tracing::info!(provider = %login.provider, connection = row.id, "OAuth sign-in completed");
    Status::Done {
        connection_id: row.id,
        name: row.name,
        email: row.account_email,
    }
}

/// Exchanges the code of a claimed login.
async fn complete_code(app: &App, login_id: &str, code: &str) -> Status {
    let now = app.oauth.clock.now_ms();
    let Some(login) = app.oauth.logins.claim_code(login_id, now) else {
        return app
            .oauth
            .logins
            .get(login_id, now)
            .map(|l| l.status)
            .unwrap_or_else(|| {
                Status::Failed("This sign-in expired or is unknown; start again.".into())
            });
    };
    let status = match exchange(app, &login, code, now).await {
        Ok(tokens) => save_login(app, &login, tokens).await,
        Err(why) => Status::Failed(why),
    };
    app.oauth.logins.finish(login_id, status.clone());
    status
}

async fn exchange(app: &App, login: &Login, code: &str, now: i64) -> Result<TokenSet, String> {
    let Waiting::Code {
        state,
        verifier,
        redirect_uri,
    } = &login.waiting
    else {
        return Err("this sign-in does not take a code".into());
    };
    let (provider, def) = oauth_provider(app, &login.provider).map_err(|e| e.message)?;
    let http = token_client(app, &provider).map_err(|e| e.message)?;
    let tokens = token::exchange_code(&http, &def, code, Some(verifier), redirect_uri, state, now)
        .await
        .map_err(|e| format!("The code could not be exchanged: {}", e.message))?;
    adapters::after_login(&provider, &http, app.oauth.origin.as_deref(), tokens).await
}

/// Code and state from what the user pasted: a redirect URL, Claude's
/// `code#state`, or a bare code.
fn read_pasted(text: &str) -> (Option<String>, Option<String>) {
    let text = text.trim();
    if let Ok(url) = reqwest::Url::parse(text) {
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        return (get("code"), get("state"));
    }
    match text.split_once('#') {
        Some((code, state)) => (Some(code.to_string()), Some(state.to_string())),
        None if !text.is_empty() => (Some(text.to_string()), None),
        None => (None, None),
    }
}

/// `POST /api/oauth/{provider}/complete`: manual mode.
pub async fn complete(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let CompleteBody { login_id, url } = json_body(body).await?;
    let (provider, _) = oauth_provider(&app, &name)?;
    let now = app.oauth.clock.now_ms();
    let login = live_login(&app, &provider, &login_id, now)?;
    let (code, state) = read_pasted(&url);
    let Some(code) = code else {
        return Err(ApiError::bad_request(
            "No authorization code in what was pasted: paste the whole address the browser ended on (or the code the provider's page showed).",
        )
        .with_param("url"));
    };
    if let (
        Some(state),
        Waiting::Code {
            state: expected, ..
        },
    ) = (&state, &login.waiting)
        && state != expected
    {
        return Err(ApiError::bad_request(
            "The pasted URL belongs to another sign-in (its state does not match); paste the one from this sign-in.",
        )
        .with_code("state_mismatch")
        .with_param("url"));
    }
    let status = complete_code(&app, &login_id, &code).await;
    Ok(Json(status_json(&status)))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /callback` (and the fixed-port listener's path): the browser's
/// return from the provider.
pub async fn callback(State(app): State<App>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(state) = q.state else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The provider sent no state; start the sign-in again from the dashboard.",
        );
    };
    let now = app.oauth.clock.now_ms();
    if app.oauth.logins.get(&state, now).is_none() {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "This sign-in is unknown or expired (state mismatch); start again from the dashboard.",
        );
    }
    if let Some(error) = q.error {
        let why = format!(
            "The provider refused: {error}{}",
            q.error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        app.oauth.logins.finish(&state, Status::Failed(why.clone()));
        return page(StatusCode::BAD_REQUEST, "Sign-in failed", &why);
    }
    let Some(code) = q.code else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The provider sent no code.",
        );
    };
    match complete_code(&app, &state, &code).await {
        Status::Done { name, email, .. } => page(
            StatusCode::OK,
            "Signed in",
            &format!(
                "OmniRoute saved the account {}. You can close this tab.",
                email.unwrap_or(name)
            ),
        ),
        Status::Failed(why) => page(StatusCode::BAD_GATEWAY, "Sign-in failed", &why),
        Status::Pending | Status::Exchanging => page(
            StatusCode::OK,
            "Signing in",
            "The sign-in is still being completed.",
        ),
    }
}

/// A small HTML page for the browser tab the provider sent back.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>OmniRoute: {t}</title></head>\
         <body style=\"font-family:system-ui;margin:3em\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    );
    (status, Html(html)).into_response()
}

/// The connection test of an OAuth account: its token renewed if due,
/// then a one-token request shaped as its provider's own client sends it.
pub(crate) async fn test_account(
    app: &App,
    provider: &ProviderDef,
    account: &crate::snapshot::Account,
    model: Option<&str>,
) -> ConnectionTest {
    let started = std::time::Instant::now();
    let outcome = async {
        let def = provider
            .oauth
            .as_ref()
            .ok_or_else(|| (0, "the provider has no sign-in".to_string()))?;
        let tokens = app
            .oauth
            .sessions
            .fresh(account, def, &app.upstream, &app.store, &app.oauth.clock)
            .await
            .map_err(|e| (0, format!("renewing the OAuth token failed: {}", e.message)))?;
        let model = model
            .or_else(|| provider.models.first().map(|m| m.id.as_str()))
            .ok_or_else(|| {
                (
                    0,
                    "the provider lists no model to try; pass a model".to_string(),
                )
            })?;
        let body = ping_body(provider.format, model).to_string();
        let target = adapters::Target { model, attempt: 0 };
        let outgoing = adapters::prepare(
            provider,
            account,
            &tokens,
            body.into(),
            false,
            target,
            app.oauth.origin.as_deref(),
        )
        .map_err(|e| (0, e))?;
        let stream = outgoing.force_stream;
        let response = app
            .upstream
            .send_prepared(account, outgoing, stream)
            .await
            .map_err(|e| (0, describe_send_error(account, &e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(status);
        }
        let text = response.text().await.unwrap_or_default();
        Err((status, error_text(status, &text)))
    }
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(status) => ConnectionTest {
            ok: true,
            method: "chat",
            status,
            latency_ms,
            error: None,
        },
        Err((status, error)) => ConnectionTest {
            ok: false,
            method: "chat",
            status,
            latency_ms,
            error: Some(error),
        },
    }
}

/// The one-shot listener on a provider's registered loopback port (Codex:
/// `localhost:1455`), for providers that accept no other redirect.
mod loopback {
    use super::*;

    /// How long the listener waits for the browser.
    const LISTEN_FOR: Duration = Duration::from_millis(LOGIN_TTL_MS as u64);

    /// Listens for the sign-in `login_id`; returns the redirect URI it
    /// listens on (the fallback port's when the first one was busy).
    pub async fn listen(
        app: App,
        redirect_uri: &str,
        fallback_port: Option<u16>,
        login_id: String,
    ) -> Result<String, ApiError> {
        let mut url = reqwest::Url::parse(redirect_uri)
            .map_err(|e| ApiError::internal(format!("bad redirect URI: {e}")))?;
        let path = url.path().to_string();
        let port = url.port().unwrap_or(80);
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(first) => match fallback_port {
                Some(fallback) => {
                    let listener = tokio::net::TcpListener::bind(("127.0.0.1", fallback))
                        .await
                        .map_err(|_| busy(port, &first))?;
                    let _ = url.set_port(Some(fallback));
                    listener
                }
                None => return Err(busy(port, &first)),
            },
        };
        let router = axum::Router::new()
            .route(&path, axum::routing::get(super::callback))
            .with_state(app.clone());
        // The port belongs to the provider's own CLI too: hold it only
        // while this sign-in can still arrive.
        let settled = async move {
            let began = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let now = app.oauth.clock.now_ms();
                match app.oauth.logins.get(&login_id, now) {
                    Some(login) if login.status != Status::Pending => break,
                    None if began.elapsed() > Duration::from_secs(2) => break,
                    _ if began.elapsed() > LISTEN_FOR => break,
                    _ => {}
                }
            }
        };
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(settled)
                .await
            {
                tracing::warn!(error = %e, "the sign-in callback listener stopped");
            }
        });
        Ok(url.to_string())
    }

    fn busy(port: u16, e: &std::io::Error) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("Port {port}, where this provider sends the browser back, is busy ({e}); close the other sign-in (the provider's own CLI?) or use manual mode."),
        )
        .with_code("callback_port_busy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_pasted_shape() {
        assert_eq!(
            read_pasted("http://localhost:1455/auth/callback?code=abc&state=xyz"),
            (Some("abc".into()), Some("xyz".into()))
        );
        assert_eq!(
            read_pasted(" abc#xyz "),
            (Some("abc".into()), Some("xyz".into()))
        );
        assert_eq!(read_pasted("abc"), (Some("abc".into()), None));
        assert_eq!(read_pasted(""), (None, None));
    }
}
