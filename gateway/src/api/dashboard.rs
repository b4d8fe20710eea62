//! Serves the dashboard embedded at build time under `/dashboard`: content types, ETags, gzip, and client-side routes.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

/// One embedded file of `ui/dist`.
pub struct Asset {
    /// Relative to `/dashboard/`, e.g. `pkg/omniroute_ui_bg.wasm`.
    pub path: &'static str,
    pub content_type: &'static str,
    /// A strong ETag, quoted.
    pub etag: &'static str,
    pub body: &'static [u8],
    /// The same bytes gzipped at build time.
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

/// The page's policy: only our own scripts and wasm, and never inside a frame
/// (clickjacking); the desktop window loads the page as its top document.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// `/dashboard` without its slash: relative asset paths need it.
pub async fn redirect_to_slash() -> Redirect {
    Redirect::permanent("/dashboard/")
}

/// `/dashboard/` and everything under it.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri
        .path()
        .strip_prefix("/dashboard/")
        .unwrap_or_default()
        .trim_start_matches('/');
    let asset = match find(path) {
        Some(asset) => asset,
        // A path without an extension is one of the app's own routes.
        None if path.is_empty() || !last_segment(path).contains('.') => match find("index.html") {
            Some(index) => index,
            None => return not_found(),
        },
        None => return not_found(),
    };
    respond(asset, &headers)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found").into_response()
}

fn respond(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let is_html = asset.content_type.starts_with("text/html");
    let mut response = if etag_matches(headers, asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(headers) && asset.gzip.len() < asset.body.len() {
        let mut response = asset.gzip.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        asset.body.into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    out.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    // File names carry no content hash, so every use revalidates with the
    // ETag: an upgraded gateway never serves a stale app, and an unchanged
    // file costs a 304.
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if is_html {
            "no-cache"
        } else {
            "public, max-age=0, must-revalidate"
        }),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_html {
        out.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        out.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        // For browsers that predate `frame-ancestors`.
        out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether a request to `/` comes from a browser, which then goes to the dashboard.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br;q=1.0, gzip;q=0.8"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        let tag = "\"abc\"";
        assert!(etag_matches(
            &headers(&[("if-none-match", "\"x\", \"abc\"")]),
            tag
        ));
        assert!(etag_matches(
            &headers(&[("if-none-match", "W/\"abc\"")]),
            tag
        ));
        assert!(etag_matches(&headers(&[("if-none-match", "*")]), tag));
        assert!(!etag_matches(
            &headers(&[("if-none-match", "\"abd\"")]),
            tag
        ));
    }

    #[test]
    fn an_index_page_is_always_embedded() {
        let index = find("index.html");
        assert!(index.is_some_and(|a| a.content_type.starts_with("text/html")));
    }
}
