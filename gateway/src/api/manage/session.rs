//! Dashboard sign-in: password login, sessions in an HttpOnly cookie, CSRF tokens, logout, password change, desktop login tokens.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, json_body};
use crate::api::App;
use crate::api::network_guard::ClientIp;
use crate::error::ApiError;
use crate::store::dashboard_auth::{self, Session};
use crate::store::now_ms;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "omniroute_session";
/// How long a desktop login token may wait before it is used.
const LOGIN_TOKEN_TTL_MS: i64 = 120_000;
/// Wrong passwords one address may try within [`FAILURE_WINDOW_MS`]; the
/// last of them locks the address out for [`LOCK_MS`].
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
const LOCK_MS: i64 = 15 * 60_000;

/// In-memory sign-in state: one-time login tokens and recent failed attempts.
#[derive(Default)]
pub struct DashboardLogins {
    /// Token -> when it stops being valid.
    tokens: Mutex<HashMap<String, i64>>,
    /// Client address -> when its recent wrong passwords were tried, and
    /// until when it is locked out.
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Default)]
struct Failures {
    times: Vec<i64>,
    locked_until: i64,
}

impl DashboardLogins {
    /// A one-time token that signs the desktop window in without the password.
    pub fn issue_token(&self, now_ms: i64) -> String {
        let token = dashboard_auth::random_hex(32);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, expires| *expires > now_ms);
            tokens.insert(token.clone(), now_ms + LOGIN_TOKEN_TTL_MS);
        }
        token
    }

    /// Uses up a token; true when it was live.
    fn redeem(&self, token: &str, now_ms: i64) -> bool {
        self.tokens
            .lock()
            .ok()
            .and_then(|mut tokens| tokens.remove(token))
            .is_some_and(|expires| expires > now_ms)
    }

    /// Seconds `ip` must wait before another attempt, while it is locked out.
    fn locked_for(&self, ip: IpAddr, now_ms: i64) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let until = failures.get(&ip)?.locked_until;
        (until > now_ms).then(|| u64::try_from((until - now_ms + 999) / 1000).unwrap_or(1))
    }

    fn record_failure(&self, ip: IpAddr, now_ms: i64) {
        if let Ok(mut failures) = self.failures.lock() {
            // Old attempts are swept here, so addresses that stopped trying
            // do not pile up.
            failures.retain(|_, f| {
                f.times.retain(|t| now_ms - t < FAILURE_WINDOW_MS);
                !f.times.is_empty() || f.locked_until > now_ms
            });
            let entry = failures.entry(ip).or_default();
            entry.times.push(now_ms);
            if entry.times.len() >= MAX_FAILURES {
                entry.locked_until = now_ms + LOCK_MS;
                // A fresh count after the lock: five more to lock again.
                entry.times.clear();
            }
        }
    }

    /// A 429 when `ip` tried too many wrong passwords lately.
    fn check_pace(&self, ip: IpAddr) -> Result<(), ApiError> {
        match self.locked_for(ip, now_ms()) {
            Some(wait) => Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("Too many wrong passwords; try again in {wait} s."),
            )
            .with_code("too_many_attempts")
            .with_retry_after(wait)),
            None => Ok(()),
        }
    }
}

/// The address the request came from, as the network guard decided it: the
/// peer, or the forwarded client when the peer is a trusted proxy. Requests
/// made inside the process (no peer) count as one address.
fn client_ip(request: &Request) -> IpAddr {
    if let Some(ClientIp(ip)) = request.extensions().get::<ClientIp>() {
        return *ip;
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Whether `password` matches the stored one. Argon2 is deliberately slow,
/// so it runs off the async threads.
async fn password_matches(app: &App, password: String) -> Result<bool, ApiError> {
    let hash = app
        .store
        .call(|conn, _| dashboard_auth::password_hash(conn))
        .await?;
    Ok(match hash {
        Some(hash) => {
            tokio::task::spawn_blocking(move || dashboard_auth::verify_password(&password, &hash))
                .await
                .unwrap_or(false)
        }
        None => false,
    })
}

/// The session cookie's token in a request, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE_NAME && !value.is_empty()).then_some(value)
        })
}

/// The live session behind the request's cookie.
pub async fn current_session(app: &App, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_token(headers).map(str::to_owned) else {
        return Ok(None);
    };
    Ok(app
        .store
        .call(move |conn, _| dashboard_auth::session(conn, &token, now_ms()))
        .await?)
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(token: &str, headers: &HeaderMap) -> String {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        dashboard_auth::SESSION_TTL_MS / 1000
    )
}

/// A signed-in reply: the CSRF token in the body, the session in the cookie.
fn signed_in(token: &str, csrf: &str, headers: &HeaderMap) -> Response {
    let mut response = Json(json!({ "authenticated": true, "csrf_token": csrf })).into_response();
    if let Ok(value) = HeaderValue::from_str(&session_cookie(token, headers)) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

async fn start_session(app: &App, headers: &HeaderMap) -> Result<Response, ApiError> {
    let (token, csrf) = app
        .store
        .call(|conn, _| dashboard_auth::create_session(conn, now_ms()))
        .await?;
    Ok(signed_in(&token, &csrf, headers))
}

/// `GET /api/auth/session`: whether this browser is signed in, and its CSRF token.
pub async fn get(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let session = current_session(&app, &headers).await?;
    Ok(Json(json!({
        "authenticated": session.is_some(),
        "csrf_token": session.map(|s| s.csrf_token),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct LoginBody {
    password: String,
}

fn invalid_password() -> ApiError {
    ApiError::unauthorized("That password is not right.").with_code("invalid_password")
}

/// `POST /api/auth/login {"password"}`.
pub async fn login(State(app): State<App>, request: Request) -> Result<Response, ApiError> {
    let ip = client_ip(&request);
    let (parts, body) = request.into_parts();
    app.dashboard.check_pace(ip)?;
    let LoginBody { password } = json_body(body).await?;
    if !password_matches(&app, password).await? {
        app.dashboard.record_failure(ip, now_ms());
        return Err(invalid_password());
    }
    start_session(&app, &parts.headers).await
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

/// `POST /api/auth/token-login {"token"}`: the desktop window's one-time token.
pub async fn token_login(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let TokenBody { token } = json_body(body).await?;
    if !app.dashboard.redeem(&token, now_ms()) {
        return Err(
            ApiError::unauthorized("This login link was already used or has expired.")
                .with_code("invalid_token"),
        );
    }
    start_session(&app, &headers).await
}

/// `POST /api/auth/logout`: ends this browser's session.
pub async fn logout(
    _: Admin,
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(session) = current_session(&app, &headers).await? {
        app.store
            .call(move |conn, _| dashboard_auth::delete_session(conn, &session.token_hash))
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "omniroute_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct PasswordBody {
    current: String,
    new: String,
}

/// `POST /api/auth/password {"current","new"}`: changes the password and ends the other sessions.
pub async fn change_password(
    _: Admin,
    State(app): State<App>,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request);
    let (parts, body) = request.into_parts();
    // Paced like the login, so a borrowed session cannot guess the password.
    app.dashboard.check_pace(ip)?;
    let PasswordBody { current, new } = json_body(body).await?;
    if new.chars().count() < dashboard_auth::MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "The new password must have at least {} characters.",
            dashboard_auth::MIN_PASSWORD_LEN
        )));
    }
    if !password_matches(&app, current).await? {
        app.dashboard.record_failure(ip, now_ms());
        return Err(invalid_password());
    }
    let keep = current_session(&app, &parts.headers)
        .await?
        .map(|s| s.token_hash);
    app.store
        .call(move |conn, _| dashboard_auth::set_password(conn, &new, keep.as_deref(), now_ms()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; omniroute_session=abc; b=2"),
        );
        assert_eq!(cookie_token(&headers), Some("abc"));
        headers.insert(COOKIE, HeaderValue::from_static("omniroute_session="));
        assert_eq!(cookie_token(&headers), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let mut headers = HeaderMap::new();
        let plain = session_cookie("t", &headers);
        assert!(
            plain.contains("HttpOnly")
                && plain.contains("SameSite=Strict")
                && !plain.contains("Secure")
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(session_cookie("t", &headers).ends_with("; Secure"));
    }

    #[test]
    fn login_tokens_work_once_and_expire() {
        let logins = DashboardLogins::default();
        let token = logins.issue_token(0);
        assert!(logins.redeem(&token, 1));
        assert!(!logins.redeem(&token, 2));
        let late = logins.issue_token(0);
        assert!(!logins.redeem(&late, LOGIN_TOKEN_TTL_MS));
    }

    #[test]
    fn five_failures_in_fifteen_minutes_lock_one_address_for_fifteen_minutes() {
        let logins = DashboardLogins::default();
        let (ip, other): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let minute = 60_000;
        // Four failures spread over 14 minutes do not lock.
        for t in [0, 5, 10, 14] {
            logins.record_failure(ip, t * minute);
            assert_eq!(logins.locked_for(ip, t * minute), None);
        }
        // The fifth within 15 minutes does, for 15 minutes from then.
        logins.record_failure(ip, 14 * minute + 30_000);
        assert_eq!(logins.locked_for(ip, 14 * minute + 30_000), Some(900));
        assert_eq!(logins.locked_for(ip, 29 * minute), Some(30));
        assert_eq!(logins.locked_for(other, 20 * minute), None);
        assert_eq!(logins.locked_for(ip, 29 * minute + 30_000), None);
        // Failures older than 15 minutes do not count toward a lock.
        let spread = DashboardLogins::default();
        for t in 0..5 {
            spread.record_failure(ip, t * 4 * minute);
        }
        assert_eq!(spread.locked_for(ip, 16 * minute), None);
        // Another address failing later sweeps the stale entries away.
        logins.record_failure(other, 60 * minute);
        assert_eq!(logins.failures.lock().unwrap().len(), 1);
    }
}
