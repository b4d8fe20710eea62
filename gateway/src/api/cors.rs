//! Cross-origin browser access to the data plane: closed unless the `cors_origins` setting names the calling page's origin, and never for the management API or the dashboard.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, request::Parts};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use super::App;

/// Answers preflights and adds `Access-Control-Allow-Origin` for allowed
/// origins. Reads the live settings on each request, so a change applies
/// at once. No credentials are allowed: data-plane callers send a key, and
/// the dashboard's session cookie must never travel cross-origin.
pub fn layer(app: App) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts: &Parts| {
                allowed(
                    &app.snapshot.load().settings.cors_origins,
                    origin,
                    parts.uri.path(),
                )
            },
        ))
        .allow_methods([Method::GET, Method::POST])
        // Clients send provider headers (anthropic-version, x-goog-api-key,
        // openai-beta...) that change with every SDK release.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([HeaderName::from_static("retry-after")])
        .max_age(Duration::from_secs(600))
}

/// Whether a page from `origin` may call `path`.
fn allowed(origins: &[String], origin: &HeaderValue, path: &str) -> bool {
    let management = ["/api", "/dashboard"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    !management
        && origins
            .iter()
            .any(|o| o == "*" || o.as_bytes() == origin.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_reach_only_the_data_plane() {
        let origins = vec!["https://app.example.com".to_string()];
        let app = HeaderValue::from_static("https://app.example.com");
        let other = HeaderValue::from_static("https://evil.example");
        assert!(allowed(&origins, &app, "/v1/chat/completions"));
        assert!(allowed(&origins, &app, "/apiary"));
        assert!(!allowed(&origins, &other, "/v1/chat/completions"));
        assert!(!allowed(&origins, &app, "/api/keys"));
        assert!(!allowed(&origins, &app, "/api"));
        assert!(!allowed(&origins, &app, "/dashboard/"));
        assert!(!allowed(&[], &app, "/v1/models"));
        let any = vec!["*".to_string()];
        assert!(allowed(&any, &other, "/v1/models"));
        assert!(!allowed(&any, &other, "/api/settings"));
    }
}
