//! `/api/health` (uptime, memory, per-provider latency and success, routing state, recent events) and its reset action.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Admin;
use crate::api::{App, AppState};
use crate::observe::events::Envelope;
use crate::observe::metrics::{
    Histogram, MetricsSnapshot, ProviderMetrics, StatusClass, rss_bytes,
};

/// How many of the latest events the health answer carries.
const RECENT_EVENTS: usize = 20;

pub async fn get(_: Admin, State(app): State<App>) -> Response {
    Json(health(&app, crate::store::now_ms())).into_response()
}

/// Forgets breakers, cooldowns, lockouts and metrics, then answers the
/// fresh health.
pub async fn reset(_: Admin, State(app): State<App>) -> Response {
    app.routing.reset();
    app.metrics.reset();
    app.replay.reset_stats();
    Json(health(&app, crate::store::now_ms())).into_response()
}

/// The health answer of the running gateway at `now_ms`.
pub fn health(app: &AppState, now_ms: i64) -> Value {
    render(&HealthParts {
        uptime_secs: app.started_at.elapsed().as_secs(),
        rss_bytes: rss_bytes(),
        metrics: app.metrics.snapshot(),
        routing: app.routing.report(now_ms),
        cache: serde_json::to_value(app.replay.stats()).unwrap_or(Value::Null),
        events: app.events.last(RECENT_EVENTS),
        warnings: app.warnings.clone(),
    })
}

/// What the health answer is made of.
pub struct HealthParts {
    pub uptime_secs: u64,
    pub rss_bytes: Option<u64>,
    pub metrics: MetricsSnapshot,
    /// The routing report, passed on as it is.
    pub routing: Value,
    /// Response cache and request-sharing counters.
    pub cache: Value,
    pub events: Vec<Envelope>,
    /// Start-up problems (`Options::warnings`).
    pub warnings: Vec<String>,
}

/// Degraded while any breaker of the routing report is open: some traffic
/// is being turned away from where it would normally go.
pub fn is_degraded(routing: &Value) -> bool {
    routing
        .get("breakers")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .any(|b| b.get("state").and_then(Value::as_str) == Some("open"))
        })
}

/// Milliseconds rounded to a tenth: finer digits are noise from the
/// interpolation.
fn ms(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| json!((v * 10.0).round() / 10.0))
}

fn percentiles(h: &Histogram) -> Value {
    json!({
        "p50": ms(h.percentile(0.50)),
        "p95": ms(h.percentile(0.95)),
        "p99": ms(h.percentile(0.99)),
    })
}

fn provider(p: &ProviderMetrics) -> Value {
    let classes: serde_json::Map<String, Value> = StatusClass::ALL
        .iter()
        .map(|c| (c.label().to_string(), json!(p.count(*c))))
        .collect();
    json!({
        "provider": p.provider,
        "requests": p.requests(),
        "successes": p.successes(),
        "success_rate": p.success_rate(),
        "status_classes": classes,
        "latency_ms": percentiles(&p.latency),
        "ttft_ms": percentiles(&p.ttft),
        "fallback_hops": p.fallback_hops,
        "tokens": {"input": p.input_tokens, "output": p.output_tokens},
        "cost_usd": p.cost_usd,
    })
}

pub fn render(parts: &HealthParts) -> Value {
    let status = if is_degraded(&parts.routing) {
        "degraded"
    } else {
        "ok"
    };
    json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": parts.uptime_secs,
        "memory": {"rss_bytes": parts.rss_bytes},
        "providers": parts.metrics.providers.iter().map(provider).collect::<Vec<_>>(),
        "routing": parts.routing,
        "cache": parts.cache,
        "events": parts.events,
        "warnings": parts.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::events::Event;
    use crate::observe::metrics::Metrics;
    use crate::observe::usage::UsageRecord;

    fn parts(routing: Value) -> HealthParts {
        let metrics = Metrics::new();
        for latency in [100, 200, 300] {
            metrics.record(&UsageRecord {
                provider: Some("openai".into()),
                status: 200,
                latency_ms: latency,
                ..UsageRecord::default()
            });
        }
        metrics.record(&UsageRecord {
            provider: Some("openai".into()),
            status: 500,
            latency_ms: 50,
            ..UsageRecord::default()
        });
        HealthParts {
            uptime_secs: 42,
            rss_bytes: None,
            metrics: metrics.snapshot(),
            routing,
            cache: json!({"hits": 0}),
            events: vec![Envelope {
                id: 1,
                ts: 5,
                event: Event::ProviderRecovered {
                    provider: "openai".into(),
                    connection_id: None,
                },
            }],
            warnings: vec!["no keychain".into()],
        }
    }

    #[test]
    fn healthy_answer_lists_providers_and_events() {
        let body = render(&parts(json!({"breakers": [], "cooldowns": []})));
        assert_eq!(body["status"], "ok");
        assert_eq!(body["uptime_secs"], 42);
        assert_eq!(body["memory"]["rss_bytes"], Value::Null);
        let openai = &body["providers"][0];
        assert_eq!(openai["provider"], "openai");
        assert_eq!(openai["requests"], 4);
        assert_eq!(openai["successes"], 3);
        assert_eq!(openai["success_rate"], 0.75);
        assert_eq!(openai["status_classes"]["5xx"], 1);
        assert!(
            openai["latency_ms"]["p50"]
                .as_f64()
                .is_some_and(|p| p > 50.0 && p <= 250.0)
        );
        assert_eq!(openai["ttft_ms"]["p50"], Value::Null, "no streams");
        assert_eq!(body["routing"]["cooldowns"], json!([]));
        assert_eq!(body["events"][0]["type"], "ProviderRecovered");
        assert_eq!(body["warnings"], json!(["no keychain"]));
    }

    #[test]
    fn an_open_breaker_degrades() {
        let open = json!({"breakers": [
            {"scope": "connection", "provider": "a", "connection_id": 1, "state": "half-open"},
            {"scope": "provider", "provider": "b", "connection_id": null, "state": "open"},
        ]});
        assert!(is_degraded(&open));
        assert_eq!(render(&parts(open))["status"], "degraded");
        let half =
            json!({"breakers": [{"scope": "provider", "provider": "a", "state": "half-open"}]});
        assert!(!is_degraded(&half));
        assert!(!is_degraded(&json!({})));
    }
}
