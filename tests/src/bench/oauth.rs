//! What shaping a request for a subscription account costs in process: `adapters::prepare` for Claude Code (system line inserted), Codex (backend rules applied), Copilot chat (headers only) and a Copilot Responses-only model (the body re-encoded), on a 100 KB coding-tool body; and reading a Codex answer's quota headers.
//!
//! Each measurement runs many times on one thread and reports the median of
//! several batches (as `guards.rs` does), so one descheduling does not move
//! the result. The access token is fresh, so no renewal is involved: that
//! is the path every request takes between renewals.

use std::sync::Arc;

use bytes::Bytes;
use omniroute::providers::adapters::{self, Target, copilot};
use omniroute::providers::oauth::TokenSet;
use omniroute::providers::{Catalog, ProviderDef, Tier, WireFormat};
use omniroute::snapshot::Account;
use omniroute::translate::{codec, ir};
use reqwest::header::{HeaderMap, HeaderValue};

use super::guards::{BATCHES, median_ns};

/// A request of a little over 100 KB, mostly source code, in `format`.
fn coding_body(format: WireFormat, model: &str) -> Bytes {
    let line = "    let total = items.iter().map(|item| item.price * item.count).sum::<u64>(); // sum the order\n";
    let file = line.repeat(100 * 1024 / line.len() + 1);
    let request = ir::Request {
        model: model.to_string(),
        messages: vec![
            ir::Message {
                role: ir::Role::System,
                parts: vec![ir::Part::text("You are a coding assistant.")],
            },
            ir::Message {
                role: ir::Role::User,
                parts: vec![ir::Part::text(file)],
            },
        ],
        max_tokens: Some(4096),
        stream: true,
        ..Default::default()
    };
    Bytes::from(codec::encode_request(format, &request).to_string())
}

fn account(provider: &ProviderDef, tokens: &Arc<TokenSet>) -> Account {
    Account {
        id: 1,
        provider: provider.id.clone(),
        name: "bench".into(),
        api_key: None,
        base_url: provider.base_url.clone(),
        priority: 0,
        request_url: reqwest::Url::parse(&provider.base_url).expect("catalog URL"),
        auth_headers: HeaderMap::new(),
        tier: Tier::Subscription,
        proxy: None,
        quota: Vec::new(),
        oauth: Some(tokens.clone()),
        email: None,
    }
}

/// Runs the measurements and prints them.
pub fn run() {
    println!("Subscription request shaping in process (median of {BATCHES} batches, one thread)");
    let Ok(catalog) = Catalog::builtin() else {
        println!("  the catalog does not load");
        return;
    };
    let mut tokens = TokenSet::from_json(
        r#"{"access_token":"at-bench","account_id":"acc-bench","obtained_at_ms":0}"#,
    )
    .expect("a token set");
    tokens
        .extra
        .insert(copilot::RESPONSES_MODELS.into(), "gpt-5.4".into());
    let tokens = Arc::new(tokens);
    let cases = [
        (
            "claude-code",
            "claude-sonnet-4-5",
            "Claude Code (system line)  ",
        ),
        ("codex", "gpt-5.1-codex", "Codex (backend rules)      "),
        ("copilot", "gpt-4.1", "Copilot chat (headers only)"),
        ("copilot", "gpt-5.4", "Copilot Responses-only     "),
    ];
    for (id, model, label) in cases {
        let Some(provider) = catalog.get(id) else {
            continue;
        };
        let account = account(provider, &tokens);
        let body = coding_body(provider.format, model);
        let ns = median_ns(100, || {
            let _ = adapters::prepare(
                provider,
                &account,
                &tokens,
                body.clone(),
                true,
                Target { model, attempt: 0 },
                None,
            );
        });
        let mb = body.len() as f64 / 1e6;
        println!(
            "  prepare, {label}, {} KB  {:>8.1} µs  ({:.0} MB/s)",
            body.len() / 1024,
            ns / 1000.0,
            mb / (ns / 1e9)
        );
    }
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-codex-primary-used-percent", "15.5"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-at", "1795954552"),
        ("x-codex-secondary-used-percent", "8.0"),
        ("x-codex-secondary-window-minutes", "10080"),
        ("x-codex-secondary-reset-at", "1796400000"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let ns = median_ns(100_000, || {
        let _ = adapters::limits::read(adapters::Adapter::Codex, &headers, 0);
    });
    println!("  quota windows from a Codex answer's headers  {ns:>8.0} ns");
}
