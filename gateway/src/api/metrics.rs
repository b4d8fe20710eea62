//! `GET /metrics`: the gateway's metrics in the Prometheus text exposition format 0.0.4.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::App;
use super::manage::Admin;
use crate::observe::metrics::{
    BUCKET_BOUNDS_MS, Histogram, MetricsSnapshot, ProviderMetrics, StatusClass, rss_bytes,
};

/// The exposition format's media type (what Prometheus asks for and expects).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Needs a full-access key like the rest of the management surface:
/// Prometheus sends one with `authorization: { credentials: ... }`.
pub async fn metrics(_: Admin, State(app): State<App>) -> Response {
    let report = app.routing.report(crate::store::now_ms());
    let text = render(&Exposition {
        uptime_secs: app.started_at.elapsed().as_secs_f64(),
        rss_bytes: rss_bytes(),
        metrics: &app.metrics.snapshot(),
        breakers: &breakers(&report),
    });
    let mut text = text;
    render_replay(&mut text, &app.replay.stats());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// The response cache and request sharing counters.
fn render_replay(out: &mut String, stats: &crate::api::replay::ReplayStats) {
    let counters = [
        (
            "omniroute_response_cache_hits_total",
            "Answers served from the response cache.",
            stats.cache.hits,
        ),
        (
            "omniroute_response_cache_misses_total",
            "Cacheable requests the response cache could not answer.",
            stats.cache.misses,
        ),
        (
            "omniroute_replayed_total",
            "Answers replayed for a repeated Idempotency-Key.",
            stats.replays,
        ),
        (
            "omniroute_shared_total",
            "Requests that joined an identical request in flight.",
            stats.shared,
        ),
    ];
    for (name, help, value) in counters {
        family(out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        out,
        "omniroute_response_cache_bytes",
        "gauge",
        "Bytes held by the response cache.",
    );
    let _ = writeln!(out, "omniroute_response_cache_bytes {}", stats.cache.bytes);
}

/// One circuit breaker, as a gauge that is 1 while it is open.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerGauge {
    pub scope: String,
    pub provider: String,
    pub connection_id: Option<i64>,
    pub open: bool,
}

/// The breakers of a routing report (`{"breakers": [{"scope", "provider",
/// "connection_id", "state"}, ...]}`); entries without a provider are skipped.
pub fn breakers(report: &Value) -> Vec<BreakerGauge> {
    let Some(list) = report.get("breakers").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|b| {
            Some(BreakerGauge {
                scope: b.get("scope").and_then(Value::as_str).unwrap_or("").into(),
                provider: b.get("provider").and_then(Value::as_str)?.into(),
                connection_id: b.get("connection_id").and_then(Value::as_i64),
                open: b.get("state").and_then(Value::as_str) == Some("open"),
            })
        })
        .collect()
}

/// Everything one scrape shows.
pub struct Exposition<'a> {
    pub uptime_secs: f64,
    /// `None` where the platform does not tell; the sample is then left out.
    pub rss_bytes: Option<u64>,
    pub metrics: &'a MetricsSnapshot,
    pub breakers: &'a [BreakerGauge],
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, provider: &str, h: &Histogram) {
    let mut cumulative = 0u64;
    for (bound, count) in BUCKET_BOUNDS_MS.iter().zip(h.counts()) {
        cumulative += count;
        let le = *bound as f64 / 1000.0;
        let _ = writeln!(
            out,
            "{name}_bucket{{provider=\"{provider}\",le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{provider=\"{provider}\",le=\"+Inf\"}} {}",
        h.count()
    );
    let sum = h.sum_ms() as f64 / 1000.0;
    let _ = writeln!(out, "{name}_sum{{provider=\"{provider}\"}} {sum}");
    let _ = writeln!(out, "{name}_count{{provider=\"{provider}\"}} {}", h.count());
}

/// A counter family with one sample per provider.
fn provider_counter(
    out: &mut String,
    providers: &[(String, &ProviderMetrics)],
    name: &str,
    help: &str,
    value: impl Fn(&ProviderMetrics) -> String,
) {
    family(out, name, "counter", help);
    for (provider, p) in providers {
        let _ = writeln!(out, "{name}{{provider=\"{provider}\"}} {}", value(p));
    }
}

/// The text of one scrape. Families appear in a fixed order, providers
/// sorted by name, every status class of a provider even at 0 (so rates
/// start from a known zero).
pub fn render(x: &Exposition<'_>) -> String {
    let mut out = String::with_capacity(4096);
    let providers: Vec<(String, &ProviderMetrics)> = x
        .metrics
        .providers
        .iter()
        .map(|p| (escape(&p.provider), p))
        .collect();

    family(
        &mut out,
        "omniroute_up",
        "gauge",
        "1 while the gateway answers.",
    );
    out.push_str("omniroute_up 1\n");
    family(
        &mut out,
        "omniroute_uptime_seconds",
        "gauge",
        "Seconds since the gateway started.",
    );
    let _ = writeln!(out, "omniroute_uptime_seconds {}", x.uptime_secs);
    family(
        &mut out,
        "omniroute_memory_rss_bytes",
        "gauge",
        "Resident memory of the gateway process.",
    );
    if let Some(rss) = x.rss_bytes {
        let _ = writeln!(out, "omniroute_memory_rss_bytes {rss}");
    }

    family(
        &mut out,
        "omniroute_requests_total",
        "counter",
        "Finished requests by provider and status class (499: the client closed first).",
    );
    for (provider, p) in &providers {
        for class in StatusClass::ALL {
            let _ = writeln!(
                out,
                "omniroute_requests_total{{provider=\"{provider}\",code_class=\"{}\"}} {}",
                class.label(),
                p.count(class)
            );
        }
    }

    family(
        &mut out,
        "omniroute_request_duration_seconds",
        "histogram",
        "Whole-request latency.",
    );
    for (provider, p) in &providers {
        histogram(
            &mut out,
            "omniroute_request_duration_seconds",
            provider,
            &p.latency,
        );
    }
    family(
        &mut out,
        "omniroute_time_to_first_token_seconds",
        "histogram",
        "Time to the first upstream byte of streamed responses.",
    );
    for (provider, p) in &providers {
        histogram(
            &mut out,
            "omniroute_time_to_first_token_seconds",
            provider,
            &p.ttft,
        );
    }

    family(
        &mut out,
        "omniroute_tokens_total",
        "counter",
        "Tokens by provider and direction.",
    );
    for (provider, p) in &providers {
        let _ = writeln!(
            out,
            "omniroute_tokens_total{{provider=\"{provider}\",direction=\"input\"}} {}",
            p.input_tokens
        );
        let _ = writeln!(
            out,
            "omniroute_tokens_total{{provider=\"{provider}\",direction=\"output\"}} {}",
            p.output_tokens
        );
    }
    provider_counter(
        &mut out,
        &providers,
        "omniroute_cost_usd_total",
        "Cost in US dollars, from the price table.",
        |p| p.cost_usd.to_string(),
    );
    provider_counter(
        &mut out,
        &providers,
        "omniroute_fallback_hops_total",
        "Failed candidates tried before the provider that answered.",
        |p| p.fallback_hops.to_string(),
    );

    family(
        &mut out,
        "omniroute_breaker_open",
        "gauge",
        "1 while a circuit breaker is open (connection_id is empty for a provider breaker).",
    );
    for b in x.breakers {
        let connection_id = b.connection_id.map(|id| id.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "omniroute_breaker_open{{scope=\"{}\",provider=\"{}\",connection_id=\"{connection_id}\"}} {}",
            escape(&b.scope),
            escape(&b.provider),
            u8::from(b.open)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> MetricsSnapshot {
        let mut p = ProviderMetrics {
            provider: "openai".into(),
            fallback_hops: 1,
            input_tokens: 12,
            output_tokens: 34,
            cost_usd: 0.5,
            ..ProviderMetrics::default()
        };
        p.by_class = [2, 0, 1, 0, 0];
        p.latency.observe(4);
        p.latency.observe(120);
        p.latency.observe(400_000);
        p.ttft.observe(30);
        MetricsSnapshot { providers: vec![p] }
    }

    #[test]
    fn golden_exposition() {
        let metrics = tiny();
        let breakers = [
            BreakerGauge {
                scope: "provider".into(),
                provider: "openai".into(),
                connection_id: None,
                open: true,
            },
            BreakerGauge {
                scope: "connection".into(),
                provider: "openai".into(),
                connection_id: Some(3),
                open: false,
            },
        ];
        let text = render(&Exposition {
            uptime_secs: 12.5,
            rss_bytes: Some(1_048_576),
            metrics: &metrics,
            breakers: &breakers,
        });
        let expected = r#"# HELP omniroute_up 1 while the gateway answers.
# TYPE omniroute_up gauge
omniroute_up 1
# HELP omniroute_uptime_seconds Seconds since the gateway started.
# TYPE omniroute_uptime_seconds gauge
omniroute_uptime_seconds 12.5
# HELP omniroute_memory_rss_bytes Resident memory of the gateway process.
# TYPE omniroute_memory_rss_bytes gauge
omniroute_memory_rss_bytes 1048576
# HELP omniroute_requests_total Finished requests by provider and status class (499: the client closed first).
# TYPE omniroute_requests_total counter
omniroute_requests_total{provider="openai",code_class="2xx"} 2
omniroute_requests_total{provider="openai",code_class="4xx"} 0
omniroute_requests_total{provider="openai",code_class="5xx"} 1
omniroute_requests_total{provider="openai",code_class="499"} 0
omniroute_requests_total{provider="openai",code_class="other"} 0
# HELP omniroute_request_duration_seconds Whole-request latency.
# TYPE omniroute_request_duration_seconds histogram
omniroute_request_duration_seconds_bucket{provider="openai",le="0.005"} 1
omniroute_request_duration_seconds_bucket{provider="openai",le="0.01"} 1
omniroute_request_duration_seconds_bucket{provider="openai",le="0.025"} 1
omniroute_request_duration_seconds_bucket{provider="openai",le="0.05"} 1
omniroute_request_duration_seconds_bucket{provider="openai",le="0.1"} 1
omniroute_request_duration_seconds_bucket{provider="openai",le="0.25"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="0.5"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="1"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="2.5"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="5"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="10"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="25"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="50"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="100"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="300"} 2
omniroute_request_duration_seconds_bucket{provider="openai",le="+Inf"} 3
omniroute_request_duration_seconds_sum{provider="openai"} 400.124
omniroute_request_duration_seconds_count{provider="openai"} 3
# HELP omniroute_time_to_first_token_seconds Time to the first upstream byte of streamed responses.
# TYPE omniroute_time_to_first_token_seconds histogram
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.005"} 0
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.01"} 0
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.025"} 0
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.05"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.1"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.25"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="0.5"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="1"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="2.5"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="5"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="10"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="25"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="50"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="100"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="300"} 1
omniroute_time_to_first_token_seconds_bucket{provider="openai",le="+Inf"} 1
omniroute_time_to_first_token_seconds_sum{provider="openai"} 0.03
omniroute_time_to_first_token_seconds_count{provider="openai"} 1
# HELP omniroute_tokens_total Tokens by provider and direction.
# TYPE omniroute_tokens_total counter
omniroute_tokens_total{provider="openai",direction="input"} 12
omniroute_tokens_total{provider="openai",direction="output"} 34
# HELP omniroute_cost_usd_total Cost in US dollars, from the price table.
# TYPE omniroute_cost_usd_total counter
omniroute_cost_usd_total{provider="openai"} 0.5
# HELP omniroute_fallback_hops_total Failed candidates tried before the provider that answered.
# TYPE omniroute_fallback_hops_total counter
omniroute_fallback_hops_total{provider="openai"} 1
# HELP omniroute_breaker_open 1 while a circuit breaker is open (connection_id is empty for a provider breaker).
# TYPE omniroute_breaker_open gauge
omniroute_breaker_open{scope="provider",provider="openai",connection_id=""} 1
omniroute_breaker_open{scope="connection",provider="openai",connection_id="3"} 0
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("line\nbreak"), "line\\nbreak");
        assert_eq!(escape("plain-id_1.2"), "plain-id_1.2");

        let metrics = MetricsSnapshot {
            providers: vec![ProviderMetrics {
                provider: "my \"odd\"\nprovider\\".into(),
                ..ProviderMetrics::default()
            }],
        };
        let text = render(&Exposition {
            uptime_secs: 0.0,
            rss_bytes: None,
            metrics: &metrics,
            breakers: &[],
        });
        assert!(
            text.contains(r#"omniroute_fallback_hops_total{provider="my \"odd\"\nprovider\\"} 0"#),
            "{text}"
        );
        assert!(
            !text.contains("\nomniroute_memory_rss_bytes "),
            "no sample without a value"
        );
        // Every line is a comment or a sample: nothing a raw newline split.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("omniroute_"),
                "{line}"
            );
        }
    }

    #[test]
    fn breakers_are_read_from_the_routing_report() {
        let report = json!({
            "breakers": [
                {"scope": "provider", "provider": "openai", "connection_id": null, "state": "open", "until_ms": 5},
                {"scope": "connection", "provider": "anthropic", "connection_id": 7, "state": "half-open"},
                {"scope": "connection", "connection_id": 8, "state": "open"},
            ],
            "cooldowns": [],
        });
        assert_eq!(
            breakers(&report),
            vec![
                BreakerGauge {
                    scope: "provider".into(),
                    provider: "openai".into(),
                    connection_id: None,
                    open: true,
                },
                BreakerGauge {
                    scope: "connection".into(),
                    provider: "anthropic".into(),
                    connection_id: Some(7),
                    open: false,
                },
            ]
        );
        assert!(breakers(&json!({})).is_empty());
    }
}
