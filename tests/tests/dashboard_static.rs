//! Black-box tests of the embedded dashboard under `/dashboard`: redirects, client-side routes, content types, gzip, ETags and headers.
//!
//! `make test` builds `ui/dist` first (CI runs it on a clean checkout), so
//! these tests require the real build: a gateway embedding only the
//! "not built" page fails them instead of passing vacuously.

use std::io::Read;
use std::path::PathBuf;

use omniroute_tests::{TEST_KEY, TestGateway};
use reqwest::header;

/// A gateway with one full-access key; dashboard files need none.
async fn gateway() -> (TestGateway, reqwest::Client) {
    let gw = TestGateway::start(&format!(
        "[[api_keys]]\nname = \"ci\"\nkey = \"{TEST_KEY}\"\nmodels = [\"*\"]\n"
    ))
    .await;
    // Redirects are part of what is tested, so they are not followed.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (gw, client)
}

/// A file of the dashboard build the gateway embedded.
fn built(path: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ui/dist")
        .join(path);
    std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `make ui` before these tests",
            file.display()
        )
    })
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[tokio::test]
async fn dashboard_without_slash_redirects_permanently() {
    let (gw, client) = gateway().await;
    let response = client
        .get(format!("{}/dashboard", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(header_of(&response, header::LOCATION), "/dashboard/");
}

#[tokio::test]
async fn index_is_html_with_a_policy_and_always_revalidated() {
    let (gw, client) = gateway().await;
    let response = client
        .get(format!("{}/dashboard/", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header_of(&response, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
    let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(
        header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    assert_eq!(header_of(&response, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header_of(&response, header::X_FRAME_OPTIONS), "DENY");
    assert_eq!(header_of(&response, header::VARY), "Accept-Encoding");
    let etag = header_of(&response, header::ETAG).to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), built("index.html").as_slice());

    // no-cache means "ask every time": the answer is a bodiless 304 while unchanged.
    let unchanged = client
        .get(format!("{}/dashboard/", gw.url))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.bytes().await.unwrap().is_empty());

    let zipped = client
        .get(format!("{}/dashboard/", gw.url))
        .header(header::ACCEPT_ENCODING, "gzip, deflate")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), 200);
    assert_eq!(header_of(&zipped, header::CONTENT_ENCODING), "gzip");
    assert!(header_of(&zipped, header::CONTENT_SECURITY_POLICY).contains("default-src"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.bytes().await.unwrap().as_ref())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, body.as_ref());
}

#[tokio::test]
async fn app_routes_get_the_index_and_unknown_files_are_404() {
    let (gw, client) = gateway().await;
    let index = built("index.html");
    for route in ["/dashboard/providers", "/dashboard/usage/logs"] {
        let response = client
            .get(format!("{}{route}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{route}");
        assert!(header_of(&response, header::CONTENT_TYPE).starts_with("text/html"));
        assert_eq!(response.bytes().await.unwrap().as_ref(), index.as_slice());
    }
    for missing in ["/dashboard/pkg/nothing.js", "/dashboard/providers/logo.png"] {
        let response = client
            .get(format!("{}{missing}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn the_app_files_are_served_with_their_types() {
    let (gw, client) = gateway().await;
    for (path, content_type) in [
        ("pkg/omniroute_ui_bg.wasm", "application/wasm"),
        ("pkg/omniroute_ui.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ] {
        let expected = built(path);
        let response = client
            .get(format!("{}/dashboard/{path}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), content_type);
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(
            header_of(&response, header::CACHE_CONTROL).contains("must-revalidate"),
            "{path}"
        );
        // Scripts and wasm carry no page policy: it belongs to the document.
        assert!(
            response
                .headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_none()
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(body.as_ref(), expected.as_slice(), "{path}");
    }
    assert!(built("pkg/omniroute_ui_bg.wasm").starts_with(b"\0asm"));
}

#[tokio::test]
async fn gzip_is_sent_only_to_clients_that_accept_it() {
    let (gw, client) = gateway().await;
    let url = format!("{}/dashboard/pkg/omniroute_ui_bg.wasm", gw.url);
    let plain = client.get(&url).send().await.unwrap();
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    let plain = plain.bytes().await.unwrap();

    let zipped = client
        .get(&url)
        .header(header::ACCEPT_ENCODING, "br, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), 200);
    assert_eq!(header_of(&zipped, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&zipped, header::CONTENT_TYPE), "application/wasm");
    assert_eq!(header_of(&zipped, header::VARY), "Accept-Encoding");
    let zipped = zipped.bytes().await.unwrap();
    assert!(zipped.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.as_ref())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.as_ref());

    let refused = client
        .get(&url)
        .header(header::ACCEPT_ENCODING, "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn a_matching_etag_gets_304_and_a_stale_one_the_file() {
    let (gw, client) = gateway().await;
    let url = format!("{}/dashboard/pkg/omniroute_ui.js", gw.url);
    let first = client.get(&url).send().await.unwrap();
    let etag = header_of(&first, header::ETAG).to_owned();
    // A strong tag: quoted, 16 hex characters of the content's SHA-256.
    assert_eq!(etag.len(), 18, "{etag}");
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let again = client
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header_of(&again, header::ETAG), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = client
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(
        stale.bytes().await.unwrap().as_ref(),
        built("pkg/omniroute_ui.js").as_slice()
    );
}

#[tokio::test]
async fn head_gives_the_headers_without_the_body() {
    let (gw, client) = gateway().await;
    let response = client
        .head(format!("{}/dashboard/", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(header_of(&response, header::CONTENT_TYPE).starts_with("text/html"));
    assert!(response.headers().get(header::ETAG).is_some());
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn browsers_at_the_root_go_to_the_dashboard_and_clients_get_json() {
    let (gw, client) = gateway().await;
    let browser = client
        .get(format!("{}/", gw.url))
        .header(
            header::ACCEPT,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 303);
    assert_eq!(header_of(&browser, header::LOCATION), "/dashboard/");

    let api = client.get(format!("{}/", gw.url)).send().await.unwrap();
    assert_eq!(api.status(), 200);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["name"], "OmniRoute");
}

#[tokio::test]
async fn dashboard_files_need_no_key_but_the_api_still_does() {
    let (gw, client) = gateway().await;
    let page = client
        .get(format!("{}/dashboard/providers", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let api = client
        .get(format!("{}/api/providers", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}
