//! The first check on every request, before any key is looked at: which client sent it (the peer, or the forwarded address when the peer is a trusted proxy), whether that address is blocked or outside the allowlist, and whether it sent too many data-plane requests this minute.
//!
//! Clients on this machine (loopback) always pass: they are the user, and a
//! list typed wrong must not lock the user out of their own dashboard.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;
use crate::config::settings::IpRange;
use crate::error::ApiError;
use crate::providers::WireFormat;

/// The client's address as the guard decided it, for the handlers (the
/// login lock counts failures by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Data-plane requests per address in the current minute.
#[derive(Default)]
pub struct IpPacer {
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl IpPacer {
    /// Counts a request; the seconds to wait when the address is over `limit`.
    pub fn hit(&self, ip: IpAddr, limit: u32, now_ms: i64) -> Option<u64> {
        let minute = now_ms.div_euclid(60_000);
        let mut windows = self.windows.lock().ok()?;
        if windows.len() > 10_000 {
            // Past minutes only; a flood of addresses cannot grow this forever.
            windows.retain(|_, (m, _)| *m == minute);
        }
        let (at, count) = windows.entry(ip).or_insert((minute, 0));
        if *at != minute {
            *at = minute;
            *count = 0;
        }
        if *count >= limit {
            let next_minute_ms = (minute + 1) * 60_000;
            return Some(u64::try_from((next_minute_ms - now_ms + 999) / 1000).unwrap_or(1));
        }
        *count += 1;
        None
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy and
/// sent `X-Forwarded-For`; then the nearest address in that header that is
/// not itself a trusted proxy. Without trusted proxies the header is ignored:
/// anyone can write it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    if trusted.is_empty() || !trusted.iter().any(|r| r.contains(peer)) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .copied()
        .find(|ip| !trusted.iter().any(|r| r.contains(*ip)))
        .or_else(|| forwarded.first().copied())
        .unwrap_or(peer)
}

/// Routes that answer AI requests: everything but the dashboard, the
/// management API, the root and the metrics.
fn is_data_plane(path: &str) -> bool {
    !(path == "/"
        || path == "/metrics"
        || path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/dashboard"))
}

/// The wire format a refusal is written in, from the route.
fn format_of(path: &str) -> Option<WireFormat> {
    if path.ends_with("/messages") || path.contains("/messages/") {
        Some(WireFormat::Anthropic)
    } else if path.starts_with("/v1beta/")
        || path.contains(":generateContent")
        || path.contains(":streamGenerateContent")
    {
        Some(WireFormat::Gemini)
    } else if is_data_plane(path) {
        Some(WireFormat::Openai)
    } else {
        None
    }
}

/// `error` in the wire format of the route at `path`.
pub(super) fn refuse(path: &str, error: ApiError) -> Response {
    match format_of(path) {
        Some(format) => error.into_format_response(format),
        None => error.into_response(),
    }
}

/// [`refuse`], knowing the method too: the google-genai SDK POSTs Gemini
/// calls to `/v1/models/...`, where a GET is an OpenAI model lookup.
pub(super) fn refuse_request(method: &axum::http::Method, path: &str, error: ApiError) -> Response {
    if method == axum::http::Method::POST && path.starts_with("/v1/models/") {
        return error.into_gemini_response();
    }
    refuse(path, error)
}

pub async fn middleware(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let snapshot = app.snapshot.load();
    let settings = &snapshot.settings;
    let ip = client_ip(peer, request.headers(), &settings.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    // Requests made inside the process have no peer and pass like loopback.
    if ip.is_loopback() || ip.is_unspecified() {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    if settings.ip_blocklist.iter().any(|r| r.contains(ip)) {
        return refuse(
            &path,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                format!("Requests from {ip} are blocked on this gateway."),
            )
            .with_code("ip_blocked"),
        );
    }
    if !settings.ip_allowlist.is_empty() && !settings.ip_allowlist.iter().any(|r| r.contains(ip)) {
        return refuse(
            &path,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                format!("{ip} is not in this gateway's allowlist."),
            )
            .with_code("ip_not_allowed"),
        );
    }
    let limit = settings.ip_requests_per_minute;
    if limit > 0
        && is_data_plane(&path)
        && let Some(wait) = app.ip_pacer.hit(ip, limit, crate::store::now_ms())
    {
        return refuse(
            &path,
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("{ip} sent more than {limit} requests this minute; try again in {wait} s."),
            )
            .with_code("ip_rate_limited")
            .with_retry_after(wait),
        );
    }
    drop(snapshot);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        let headers = forwarded("203.0.113.7, 10.0.0.3");
        let trusted = ranges(&["10.0.0.0/24"]);
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // Anyone else's header is ignored, and so is any header without trusted proxies.
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &headers, &[]), proxy);
        // A spoofed first entry does not win over the address the proxy saw.
        let spoofed = forwarded("1.2.3.4, 203.0.113.7");
        assert_eq!(
            client_ip(proxy, &spoofed, &trusted),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn the_pacer_cuts_off_at_the_limit_and_resets_each_minute() {
        let pacer = IpPacer::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(pacer.hit(ip, 3, 60_000), None);
        }
        assert_eq!(pacer.hit(ip, 3, 90_000), Some(30));
        assert_eq!(pacer.hit(other, 3, 90_000), None);
        assert_eq!(pacer.hit(ip, 3, 120_000), None);
    }

    #[test]
    fn refusals_speak_the_routes_format() {
        assert_eq!(format_of("/v1/messages"), Some(WireFormat::Anthropic));
        assert_eq!(
            format_of("/v1beta/models/x:generateContent"),
            Some(WireFormat::Gemini)
        );
        assert_eq!(
            format_of("/v1/models/gemini-2.5-flash:streamGenerateContent"),
            Some(WireFormat::Gemini)
        );
        assert_eq!(format_of("/v1/chat/completions"), Some(WireFormat::Openai));
        assert_eq!(format_of("/api/keys"), None);
        assert!(!is_data_plane("/dashboard/"));
    }
}
