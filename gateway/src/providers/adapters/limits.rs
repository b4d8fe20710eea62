//! Quota windows that subscription providers report on every answer, read from their headers: Codex `x-codex-primary-*`/`secondary-*`, Claude `anthropic-ratelimit-unified-5h-*`/`7d-*`, Copilot `x-quota-snapshot-*`.

use reqwest::header::HeaderMap;

use super::Adapter;
use crate::routing::classify::parse_rfc3339_ms;
use crate::routing::quota::{QuotaWindow, ReportedWindow};

/// The windows an answer's headers report (none for other providers).
pub fn read(adapter: Adapter, headers: &HeaderMap, now_ms: i64) -> Vec<ReportedWindow> {
    match adapter {
        Adapter::Codex => codex(headers, now_ms),
        Adapter::ClaudeCode => claude(headers),
        Adapter::Copilot => copilot(headers),
        // The others report quota only in error bodies (see routing::classify).
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn number(headers: &HeaderMap, name: &str) -> Option<f64> {
    text(headers, name)?.parse().ok()
}

/// A window length in minutes as a quota window (Codex reports 300 for the
/// 5-hour session and 10080 for the week).
fn window_of_minutes(minutes: f64) -> Option<QuotaWindow> {
    match minutes as i64 {
        300 => Some(QuotaWindow::FiveHour),
        1440 => Some(QuotaWindow::Daily),
        10080 => Some(QuotaWindow::Weekly),
        m if (40_000..=46_000).contains(&m) => Some(QuotaWindow::Monthly),
        _ => None,
    }
}

/// Codex: `used-percent` 0..100, `window-minutes`, and `reset-at` (unix
/// seconds) or the older `reset-after-seconds`.
fn codex(headers: &HeaderMap, now_ms: i64) -> Vec<ReportedWindow> {
    ["primary", "secondary"]
        .iter()
        .filter_map(|which| {
            let used = number(headers, &format!("x-codex-{which}-used-percent"))?;
            let minutes = number(headers, &format!("x-codex-{which}-window-minutes"))?;
            let resets_at_ms = number(headers, &format!("x-codex-{which}-reset-at"))
                .map(|secs| (secs * 1000.0) as i64)
                .or_else(|| {
                    number(headers, &format!("x-codex-{which}-reset-after-seconds"))
                        .map(|secs| now_ms + (secs * 1000.0) as i64)
                });
            Some(ReportedWindow {
                window: window_of_minutes(minutes)?,
                used_percent: used,
                resets_at_ms,
            })
        })
        .collect()
}

/// Claude: `utilization` is a fraction 0..1 (the usage endpoint uses
/// percent; the headers do not), `reset` unix seconds, and a `status` of
/// `rejected` means the window is full whatever the fraction says.
fn claude(headers: &HeaderMap) -> Vec<ReportedWindow> {
    [("5h", QuotaWindow::FiveHour), ("7d", QuotaWindow::Weekly)]
        .iter()
        .filter_map(|(infix, window)| {
            let prefix = format!("anthropic-ratelimit-unified-{infix}");
            let fraction = number(headers, &format!("{prefix}-utilization"));
            let rejected = text(headers, &format!("{prefix}-status")) == Some("rejected");
            let used_percent = match (fraction, rejected) {
                (_, true) => 100.0,
                (Some(f), false) => f * 100.0,
                (None, false) => return None,
            };
            Some(ReportedWindow {
                window: *window,
                used_percent,
                resets_at_ms: number(headers, &format!("{prefix}-reset"))
                    .map(|secs| (secs * 1000.0) as i64),
            })
        })
        .collect()
}

/// Copilot: `x-quota-snapshot-<kind>: ent=<n>&ov=..&ovPerm=..&rem=<percent
/// remaining>&rst=<ISO date>`; paid plans are measured on premium
/// interactions, free ones on chat. An entitlement of -1 is unlimited.
fn copilot(headers: &HeaderMap) -> Vec<ReportedWindow> {
    let Some(snapshot) = ["premium_interactions", "premium_models", "chat"]
        .iter()
        .find_map(|kind| text(headers, &format!("x-quota-snapshot-{kind}")))
    else {
        return Vec::new();
    };
    let field = |name: &str| {
        snapshot
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    if field("ent") == Some("-1") {
        return Vec::new();
    }
    let Some(remaining) = field("rem").and_then(|r| r.parse::<f64>().ok()) else {
        return Vec::new();
    };
    let resets_at_ms = field("rst").and_then(|r| {
        let decoded = r.replace("%3A", ":").replace("%3a", ":");
        parse_rfc3339_ms(&decoded)
    });
    vec![ReportedWindow {
        window: QuotaWindow::Monthly,
        used_percent: (100.0 - remaining).clamp(0.0, 100.0),
        resets_at_ms,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_codex_primary_and_secondary_windows() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "15.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1735401600"),
            ("x-codex-secondary-used-percent", "100"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-after-seconds", "60"),
        ]);
        let w = read(Adapter::Codex, &h, 1_000);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].window, w[0].used_percent, w[0].resets_at_ms),
            (QuotaWindow::FiveHour, 15.5, Some(1_735_401_600_000))
        );
        assert_eq!(
            (w[1].window, w[1].used_percent, w[1].resets_at_ms),
            (QuotaWindow::Weekly, 100.0, Some(61_000))
        );
    }

    #[test]
    fn reads_claude_fractions_and_rejections() {
        let h = headers(&[
            ("anthropic-ratelimit-unified-5h-utilization", "0.61"),
            ("anthropic-ratelimit-unified-5h-reset", "1769587199"),
            ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ("anthropic-ratelimit-unified-7d-reset", "1770000000"),
        ]);
        let w = read(Adapter::ClaudeCode, &h, 0);
        assert!((w[0].used_percent - 61.0).abs() < 1e-9);
        assert_eq!(w[0].resets_at_ms, Some(1_769_587_199_000));
        assert_eq!(
            (w[1].window, w[1].used_percent),
            (QuotaWindow::Weekly, 100.0)
        );
    }

    #[test]
    fn reads_copilot_snapshots_and_skips_unlimited_ones() {
        let h = headers(&[(
            "x-quota-snapshot-premium_interactions",
            "ent=300&ov=0.0&ovPerm=false&rem=25.0&rst=2026-12-01T00%3A00%3A00Z",
        )]);
        let w = read(Adapter::Copilot, &h, 0);
        assert_eq!(
            (w[0].window, w[0].used_percent),
            (QuotaWindow::Monthly, 75.0)
        );
        assert_eq!(w[0].resets_at_ms, Some(1_796_083_200_000));
        let unlimited = headers(&[("x-quota-snapshot-chat", "ent=-1&rem=100")]);
        assert!(read(Adapter::Copilot, &unlimited, 0).is_empty());
        assert!(read(Adapter::Codex, &HeaderMap::new(), 0).is_empty());
    }
}
