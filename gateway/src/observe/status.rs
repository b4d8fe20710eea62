//! A short summary of how the gateway is doing, for the desktop tray: providers usable out of those with accounts, requests today, and the first thing that needs attention.

use serde::Serialize;
use serde_json::Value;

use super::events::{Envelope, Event};

const DAY_MS: i64 = 86_400_000;

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayStatus {
    /// Providers with at least one enabled account.
    pub providers_total: usize,
    /// Of those, the ones whose breaker is closed and that have an account
    /// not stopped (auth failed, out of credits, …).
    pub providers_healthy: usize,
    /// Requests since midnight UTC.
    pub requests_today: u64,
    /// The first problem a person should look at, in a few words.
    pub trouble: Option<String>,
    /// Routing paused from the tray: requests are refused until resumed.
    pub paused: bool,
}

/// Start of the UTC day holding `now_ms`.
pub fn day_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(DAY_MS)
}

/// Builds the status from what the gateway knows.
///
/// `accounts` lists each provider with accounts as (provider id, its
/// enabled connection ids); `routing` is the routing report
/// (`breakers`, `disabled`); `events` the latest events, oldest first.
pub fn summarize(
    accounts: &[(String, Vec<i64>)],
    routing: &Value,
    events: &[Envelope],
    requests_today: u64,
    now_ms: i64,
) -> GatewayStatus {
    let list = |name: &str| {
        routing
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let open_providers: Vec<String> = list("breakers")
        .iter()
        .filter(|b| b["scope"] == "provider" && b["state"] == "open")
        .filter_map(|b| b["provider"].as_str().map(str::to_owned))
        .collect();
    let stopped: Vec<i64> = list("disabled")
        .iter()
        .filter_map(|d| d["connection_id"].as_i64())
        .collect();
    let healthy = accounts
        .iter()
        .filter(|(provider, ids)| {
            !open_providers.contains(provider) && ids.iter().any(|id| !stopped.contains(id))
        })
        .count();
    let quota = events.iter().rev().find_map(|e| match &e.event {
        Event::QuotaExhausted {
            provider,
            connection,
            until_ms,
            ..
        } if until_ms.is_none_or(|t| t > now_ms) => {
            Some(format!("{provider} \"{connection}\" out of quota"))
        }
        _ => None,
    });
    let trouble = open_providers
        .first()
        .map(|p| format!("{p} is down"))
        .or_else(|| (!stopped.is_empty()).then(|| format!("{} account(s) stopped", stopped.len())))
        .or(quota);
    GatewayStatus {
        providers_total: accounts.len(),
        providers_healthy: healthy,
        requests_today,
        trouble,
        paused: false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn accounts() -> Vec<(String, Vec<i64>)> {
        vec![
            ("openai".into(), vec![1, 2]),
            ("anthropic".into(), vec![3]),
            ("groq".into(), vec![4]),
        ]
    }

    #[test]
    fn all_healthy_has_no_trouble() {
        let status = summarize(
            &accounts(),
            &json!({"breakers": [], "disabled": []}),
            &[],
            12,
            0,
        );
        assert_eq!(
            status,
            GatewayStatus {
                providers_total: 3,
                providers_healthy: 3,
                requests_today: 12,
                trouble: None,
                paused: false,
            }
        );
    }

    #[test]
    fn open_breakers_and_stopped_accounts_count_against_health() {
        let routing = json!({
            "breakers": [
                {"scope": "provider", "provider": "groq", "state": "open"},
                {"scope": "connection", "provider": "openai", "connection_id": 1, "state": "open"},
            ],
            "disabled": [{"connection_id": 3, "state": "auth_failed"}],
        });
        let status = summarize(&accounts(), &routing, &[], 0, 0);
        // openai keeps account 2; anthropic's only account stopped; groq is down.
        assert_eq!(status.providers_healthy, 1);
        assert_eq!(status.trouble.as_deref(), Some("groq is down"));
    }

    #[test]
    fn a_quota_still_running_out_is_trouble() {
        let event = |until_ms| Envelope {
            id: 1,
            ts: 0,
            event: Event::QuotaExhausted {
                provider: "claude".into(),
                connection_id: 5,
                connection: "work".into(),
                model: None,
                until_ms: Some(until_ms),
                reason: "429".into(),
            },
        };
        let routing = json!({});
        let now = 1_000;
        let status = summarize(&accounts(), &routing, &[event(5_000)], 0, now);
        assert_eq!(
            status.trouble.as_deref(),
            Some("claude \"work\" out of quota")
        );
        let status = summarize(&accounts(), &routing, &[event(500)], 0, now);
        assert_eq!(status.trouble, None);
    }

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(day_start(DAY_MS * 3 + 5), DAY_MS * 3);
        assert_eq!(day_start(DAY_MS * 3), DAY_MS * 3);
    }
}
