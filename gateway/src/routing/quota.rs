//! Quota windows per connection (5-hour session, daily, weekly, monthly): what was used and when it resets.

use serde::{Deserialize, Serialize};

/// The period a quota counts over. Fixed windows reset at `reset_hour` UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuotaWindow {
    /// A 5-hour session that starts with the first request after the
    /// previous session ended (how subscription plans count).
    #[serde(rename = "5h")]
    FiveHour,
    #[serde(rename = "daily")]
    Daily,
    /// Resets on Monday at `reset_hour`.
    #[serde(rename = "weekly")]
    Weekly,
    /// Resets on the first of the month at `reset_hour`.
    #[serde(rename = "monthly")]
    Monthly,
}

/// One limit on a connection: at most `requests` and/or `tokens` per window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimit {
    pub window: QuotaWindow,
    /// Hour of the day (UTC, 0-23) at which fixed windows reset.
    #[serde(default)]
    pub reset_hour: u8,
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub tokens: Option<u64>,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const FIVE_HOURS_MS: i64 = 5 * HOUR_MS;
/// How long a connection is skipped after an upstream "quota used up" that
/// named no reset time and no configured limit says when the quota comes back.
const DEFAULT_EXHAUSTED_MS: i64 = HOUR_MS;

/// Where one configured limit stands right now (for `GET /api/quota`).
#[derive(Debug, Clone, Serialize)]
pub struct QuotaStatus {
    pub window: QuotaWindow,
    pub requests_used: u64,
    pub requests_limit: Option<u64>,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    /// None for a 5-hour window with no session running.
    pub window_start_ms: Option<i64>,
    pub resets_at_ms: Option<i64>,
    pub resets_in_ms: Option<i64>,
    /// A limit of this window is reached, or the upstream said the quota is used up.
    pub exhausted: bool,
}

/// A window as the provider itself reports it on its answers: the share
/// used and when it resets (Codex `x-codex-*`, Claude
/// `anthropic-ratelimit-unified-*`, Copilot `x-quota-snapshot-*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportedWindow {
    pub window: QuotaWindow,
    pub used_percent: f64,
    pub resets_at_ms: Option<i64>,
}

/// What one connection used per window. One tracker per connection; the
/// limits are passed in on every call so a config change takes effect at once.
#[derive(Debug, Default, Clone)]
pub struct QuotaTracker {
    /// One counter per distinct (window, reset hour) among the limits, so a
    /// request limit and a token limit over the same window share their counts.
    counters: Vec<Counter>,
    /// Set when the upstream reported the quota used up.
    exhausted_until_ms: Option<i64>,
    /// The provider's own account of its windows, newest report per window.
    reported: Vec<ReportedWindow>,
}

#[derive(Debug, Clone)]
struct Counter {
    window: QuotaWindow,
    reset_hour: u8,
    /// [start, end) of the window these counts belong to.
    start_ms: i64,
    end_ms: i64,
    requests: u64,
    tokens: u64,
}

impl Counter {
    fn is_current(&self, now_ms: i64) -> bool {
        self.start_ms <= now_ms && now_ms < self.end_ms
    }
}

impl QuotaTracker {
    /// Counts one finished request (tokens = input + output).
    pub fn record(&mut self, limits: &[QuotaLimit], now_ms: i64, tokens: u64) {
        // Forget counters of windows no longer configured: memory stays bounded
        // by the number of limits.
        self.counters.retain(|c| {
            limits
                .iter()
                .any(|l| l.window == c.window && l.reset_hour == c.reset_hour)
        });
        for (i, limit) in limits.iter().enumerate() {
            // A request limit and a token limit over the same window share one
            // counter: count this request once.
            if limits[..i]
                .iter()
                .any(|l| l.window == limit.window && l.reset_hour == limit.reset_hour)
            {
                continue;
            }
            let index = match self.counter_index(limit.window, limit.reset_hour) {
                Some(index) => index,
                None => {
                    self.counters.push(Counter {
                        window: limit.window,
                        reset_hour: limit.reset_hour,
                        start_ms: 0,
                        end_ms: 0,
                        requests: 0,
                        tokens: 0,
                    });
                    self.counters.len() - 1
                }
            };
            let counter = &mut self.counters[index];
            let (start, end) = match window_bounds(limit.window, limit.reset_hour, now_ms) {
                Some(bounds) => bounds,
                // A 5-hour session runs on from its first request; a new one
                // starts with the first request after it ended.
                None if counter.is_current(now_ms) => (counter.start_ms, counter.end_ms),
                None => (now_ms, now_ms.saturating_add(FIVE_HOURS_MS)),
            };
            if counter.start_ms != start || counter.end_ms != end {
                *counter = Counter {
                    start_ms: start,
                    end_ms: end,
                    requests: 0,
                    tokens: 0,
                    ..*counter
                };
            }
            counter.requests = counter.requests.saturating_add(1);
            counter.tokens = counter.tokens.saturating_add(tokens);
        }
    }

    /// The upstream said the quota is used up (429 quota): exhausted until `until_ms`
    /// (when None: until the end of the current window of the shortest configured limit, or 1 hour when none).
    /// An earlier mark that ends later is kept.
    pub fn mark_exhausted(&mut self, now_ms: i64, until_ms: Option<i64>, limits: &[QuotaLimit]) {
        let until = until_ms.unwrap_or_else(|| {
            // Shortest window first; among equally long ones, the earliest reset.
            limits
                .iter()
                .map(|l| (window_rank(l.window), self.current_window(l, now_ms).1))
                .min()
                .map_or(now_ms.saturating_add(DEFAULT_EXHAUSTED_MS), |(_, end)| end)
        });
        // Concurrent requests can report different resets; the latest one wins
        // so a short hint cannot shorten a longer one still running.
        self.exhausted_until_ms = Some(match self.exhausted_until_ms {
            Some(previous) if previous > now_ms => previous.max(until),
            _ => until,
        });
    }

    /// Takes the provider's report of its windows. A window it reports full
    /// makes the connection exhausted until that window resets; returns the
    /// end of a newly started exhaustion (so the event fires once).
    pub fn report(&mut self, windows: Vec<ReportedWindow>, now_ms: i64) -> Option<i64> {
        let was = self.exhausted_until_ms.filter(|&t| t > now_ms);
        let mut full_until = None;
        for w in windows {
            if w.used_percent >= 100.0
                && let Some(at) = w.resets_at_ms.filter(|&at| at > now_ms)
            {
                full_until = Some(full_until.map_or(at, |u: i64| u.max(at)));
            }
            match self.reported.iter_mut().find(|r| r.window == w.window) {
                Some(slot) => *slot = w,
                None => self.reported.push(w),
            }
        }
        let until = full_until?;
        self.mark_exhausted(now_ms, Some(until), &[]);
        match was {
            Some(previous) if previous >= until => None,
            _ => Some(until),
        }
    }

    /// The provider's reported windows that have not reset yet.
    pub fn reported(&self, now_ms: i64) -> Vec<ReportedWindow> {
        self.reported
            .iter()
            .filter(|r| r.resets_at_ms.is_none_or(|at| at > now_ms))
            .cloned()
            .collect()
    }

    /// Until when the connection must be skipped, if it must (a limit reached, or marked exhausted).
    /// With several reasons, the latest end wins: the connection is usable only once all have passed.
    pub fn exhausted_until(&self, limits: &[QuotaLimit], now_ms: i64) -> Option<i64> {
        let marked = self.exhausted_until_ms.filter(|&t| t > now_ms);
        limits
            .iter()
            .filter_map(|l| {
                let (requests, tokens) = self.used(l, now_ms);
                limit_reached(l, requests, tokens).then(|| self.current_window(l, now_ms).1)
            })
            .chain(marked)
            .max()
    }

    /// One entry per configured limit, in the order of `limits`.
    pub fn status(&self, limits: &[QuotaLimit], now_ms: i64) -> Vec<QuotaStatus> {
        let marked = self.exhausted_until_ms.is_some_and(|t| t > now_ms);
        limits
            .iter()
            .map(|l| {
                let (requests_used, tokens_used) = self.used(l, now_ms);
                let bounds = self.shown_window(l, now_ms);
                QuotaStatus {
                    window: l.window,
                    requests_used,
                    requests_limit: l.requests,
                    tokens_used,
                    tokens_limit: l.tokens,
                    window_start_ms: bounds.map(|b| b.0),
                    resets_at_ms: bounds.map(|b| b.1),
                    resets_in_ms: bounds.map(|b| b.1.saturating_sub(now_ms)),
                    exhausted: marked || limit_reached(l, requests_used, tokens_used),
                }
            })
            .collect()
    }

    fn counter_index(&self, window: QuotaWindow, reset_hour: u8) -> Option<usize> {
        self.counters
            .iter()
            .position(|c| c.window == window && c.reset_hour == reset_hour)
    }

    /// Counts of the window containing `now_ms` (zero when the counted window has passed).
    fn used(&self, limit: &QuotaLimit, now_ms: i64) -> (u64, u64) {
        match self.counter_index(limit.window, limit.reset_hour) {
            Some(i) if self.counters[i].is_current(now_ms) => {
                (self.counters[i].requests, self.counters[i].tokens)
            }
            _ => (0, 0),
        }
    }

    /// The window to show: the fixed window containing now, or the running 5-hour session.
    fn shown_window(&self, limit: &QuotaLimit, now_ms: i64) -> Option<(i64, i64)> {
        window_bounds(limit.window, limit.reset_hour, now_ms).or_else(|| {
            let i = self.counter_index(limit.window, limit.reset_hour)?;
            let c = &self.counters[i];
            c.is_current(now_ms).then_some((c.start_ms, c.end_ms))
        })
    }

    /// Like `shown_window`, but a 5-hour window with no session running is
    /// taken to start now (the soonest it could reset).
    fn current_window(&self, limit: &QuotaLimit, now_ms: i64) -> (i64, i64) {
        self.shown_window(limit, now_ms)
            .unwrap_or((now_ms, now_ms.saturating_add(FIVE_HOURS_MS)))
    }
}

fn limit_reached(limit: &QuotaLimit, requests: u64, tokens: u64) -> bool {
    limit.requests.is_some_and(|max| requests >= max)
        || limit.tokens.is_some_and(|max| tokens >= max)
}

/// Orders windows by length, shortest first.
fn window_rank(window: QuotaWindow) -> u8 {
    match window {
        QuotaWindow::FiveHour => 0,
        QuotaWindow::Daily => 1,
        QuotaWindow::Weekly => 2,
        QuotaWindow::Monthly => 3,
    }
}

/// [start, end) of the fixed window containing now (UTC; daily resets at reset_hour, weekly on Monday at
/// reset_hour, monthly on the 1st at reset_hour). FiveHour is not fixed: None.
/// A `reset_hour` above 23 is read as 23.
pub fn window_bounds(window: QuotaWindow, reset_hour: u8, now_ms: i64) -> Option<(i64, i64)> {
    match window {
        QuotaWindow::FiveHour => None,
        QuotaWindow::Daily => Some(daily_bounds(reset_hour, now_ms)),
        QuotaWindow::Weekly => Some(weekly_bounds(reset_hour, now_ms)),
        QuotaWindow::Monthly => Some(monthly_bounds(reset_hour, now_ms)),
    }
}

/// The offset of the reset from midnight, and the day number (days since
/// 1970-01-01) of the window-day containing `now_ms`: a window-day runs from
/// reset_hour to reset_hour, so 03:00 with a 05:00 reset belongs to the day before.
fn reset_day(reset_hour: u8, now_ms: i64) -> (i64, i64) {
    let offset = i64::from(reset_hour.min(23)) * HOUR_MS;
    (offset, now_ms.saturating_sub(offset).div_euclid(DAY_MS))
}

fn day_start(day: i64, offset: i64) -> i64 {
    day.saturating_mul(DAY_MS).saturating_add(offset)
}

/// The window-day containing `now_ms`.
pub(crate) fn daily_bounds(reset_hour: u8, now_ms: i64) -> (i64, i64) {
    let (offset, day) = reset_day(reset_hour, now_ms);
    (
        day_start(day, offset),
        day_start(day.saturating_add(1), offset),
    )
}

/// The week (Monday at reset_hour to the next Monday) containing `now_ms`.
fn weekly_bounds(reset_hour: u8, now_ms: i64) -> (i64, i64) {
    let (offset, day) = reset_day(reset_hour, now_ms);
    // 1970-01-01 was a Thursday, three days after a Monday.
    let monday = day - (day + 3).rem_euclid(7);
    (
        day_start(monday, offset),
        day_start(monday.saturating_add(7), offset),
    )
}

/// The month (the 1st at reset_hour to the next 1st) containing `now_ms`.
pub(crate) fn monthly_bounds(reset_hour: u8, now_ms: i64) -> (i64, i64) {
    let (offset, day) = reset_day(reset_hour, now_ms);
    let (year, month, _) = civil_from_days(day);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (
        day_start(days_from_civil(year, month, 1), offset),
        day_start(days_from_civil(next_year, next_month, 1), offset),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number (days since 1970-01-01); the inverse of `days_from_civil`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is in 1..=31 and month in 1..=12 by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_the_provider_reports_full_exhausts_until_its_reset_once() {
        let mut t = QuotaTracker::default();
        let now = 1_000_000;
        let five_hours = |used: f64, reset| ReportedWindow {
            window: QuotaWindow::FiveHour,
            used_percent: used,
            resets_at_ms: Some(reset),
        };
        assert_eq!(t.report(vec![five_hours(40.0, now + 60_000)], now), None);
        assert_eq!(t.exhausted_until(&[], now), None);
        assert_eq!(t.reported(now)[0].used_percent, 40.0);
        assert_eq!(
            t.report(vec![five_hours(100.0, now + 60_000)], now),
            Some(now + 60_000)
        );
        assert_eq!(t.exhausted_until(&[], now), Some(now + 60_000));
        assert_eq!(
            t.report(vec![five_hours(100.0, now + 60_000)], now + 1),
            None,
            "the same exhaustion is reported once"
        );
        assert_eq!(
            t.exhausted_until(&[], now + 60_000),
            None,
            "usable after the reset"
        );
        assert!(t.reported(now + 60_000).is_empty());
    }

    /// Unix milliseconds of a UTC date and time.
    fn at(year: i64, month: u32, day: u32, hour: i64, minute: i64) -> i64 {
        days_from_civil(year, month, day) * DAY_MS + hour * HOUR_MS + minute * 60_000
    }

    fn limit(
        window: QuotaWindow,
        reset_hour: u8,
        requests: Option<u64>,
        tokens: Option<u64>,
    ) -> QuotaLimit {
        QuotaLimit {
            window,
            reset_hour,
            requests,
            tokens,
        }
    }

    #[test]
    fn civil_dates_round_trip_and_match_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // 2024-06-15T12:00:00Z, checked against `date -u -d @1718452800`.
        assert_eq!(at(2024, 6, 15, 12, 0), 1_718_452_800_000);
        for day in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(day);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), day, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        // 2028 is a leap year, 2100 is not, 2000 is.
        assert_eq!(
            civil_from_days(days_from_civil(2028, 2, 28) + 1),
            (2028, 2, 29)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2028, 2, 29) + 1),
            (2028, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2100, 2, 28) + 1),
            (2100, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2000, 2, 28) + 1),
            (2000, 2, 29)
        );
    }

    #[test]
    fn five_hour_windows_have_no_fixed_bounds() {
        assert_eq!(
            window_bounds(QuotaWindow::FiveHour, 0, at(2025, 1, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn daily_window_resets_at_the_reset_hour() {
        let noon = at(2025, 3, 10, 12, 0);
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 0, noon),
            Some((at(2025, 3, 10, 0, 0), at(2025, 3, 11, 0, 0)))
        );
        // reset_hour after now's hour: the window began yesterday.
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 5, at(2025, 3, 10, 3, 0)),
            Some((at(2025, 3, 9, 5, 0), at(2025, 3, 10, 5, 0)))
        );
        // The reset instant belongs to the new window; one ms before, to the old one.
        let reset = at(2025, 3, 10, 5, 0);
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 5, reset),
            Some((reset, at(2025, 3, 11, 5, 0)))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 5, reset - 1).map(|b| b.1),
            Some(reset)
        );
        // Year end.
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 0, at(2025, 12, 31, 23, 30)),
            Some((at(2025, 12, 31, 0, 0), at(2026, 1, 1, 0, 0)))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 2, at(2026, 1, 1, 1, 0)),
            Some((at(2025, 12, 31, 2, 0), at(2026, 1, 1, 2, 0)))
        );
        // An out-of-range hour is read as 23.
        assert_eq!(
            window_bounds(QuotaWindow::Daily, 30, noon),
            window_bounds(QuotaWindow::Daily, 23, noon)
        );
    }

    #[test]
    fn weekly_window_runs_monday_to_monday() {
        // 2025-01-06 was a Monday.
        let monday = at(2025, 1, 6, 0, 0);
        let week = Some((monday, at(2025, 1, 13, 0, 0)));
        assert_eq!(window_bounds(QuotaWindow::Weekly, 0, monday), week);
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 0, at(2025, 1, 12, 23, 59)),
            week
        );
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 0, at(2025, 1, 8, 9, 0)),
            week
        );
        // Sunday night belongs to the week that began on the previous Monday (across a year end).
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 0, at(2025, 1, 5, 23, 0)),
            Some((at(2024, 12, 30, 0, 0), monday))
        );
        // Monday before the reset hour still belongs to the previous week.
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 3, at(2025, 1, 6, 2, 0)),
            Some((at(2024, 12, 30, 3, 0), at(2025, 1, 6, 3, 0)))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 3, at(2025, 1, 6, 3, 0)),
            Some((at(2025, 1, 6, 3, 0), at(2025, 1, 13, 3, 0)))
        );
        // Before 1970: 1969-12-29 was a Monday.
        assert_eq!(
            window_bounds(QuotaWindow::Weekly, 0, at(1970, 1, 1, 0, 0)),
            Some((at(1969, 12, 29, 0, 0), at(1970, 1, 5, 0, 0)))
        );
    }

    #[test]
    fn monthly_window_runs_from_the_first() {
        assert_eq!(
            window_bounds(QuotaWindow::Monthly, 0, at(2028, 2, 29, 12, 0)),
            Some((at(2028, 2, 1, 0, 0), at(2028, 3, 1, 0, 0)))
        );
        // The 1st before the reset hour belongs to the previous (leap) month.
        assert_eq!(
            window_bounds(QuotaWindow::Monthly, 6, at(2028, 3, 1, 2, 0)),
            Some((at(2028, 2, 1, 6, 0), at(2028, 3, 1, 6, 0)))
        );
        // Year end.
        assert_eq!(
            window_bounds(QuotaWindow::Monthly, 0, at(2025, 12, 15, 8, 0)),
            Some((at(2025, 12, 1, 0, 0), at(2026, 1, 1, 0, 0)))
        );
        assert_eq!(
            window_bounds(QuotaWindow::Monthly, 1, at(2026, 1, 1, 0, 30)),
            Some((at(2025, 12, 1, 1, 0), at(2026, 1, 1, 1, 0)))
        );
        // Month lengths: 30 days in April, 31 in May, 28 in a common February.
        let len = |y, m, d| {
            window_bounds(QuotaWindow::Monthly, 0, at(y, m, d, 0, 0)).map(|(s, e)| (e - s) / DAY_MS)
        };
        assert_eq!(len(2025, 4, 30), Some(30));
        assert_eq!(len(2025, 5, 31), Some(31));
        assert_eq!(len(2025, 2, 28), Some(28));
        assert_eq!(len(2028, 2, 1), Some(29));
    }

    #[test]
    fn daily_request_limit_exhausts_until_the_reset() {
        let limits = [limit(QuotaWindow::Daily, 4, Some(2), None)];
        let mut t = QuotaTracker::default();
        let morning = at(2025, 5, 20, 9, 0);
        t.record(&limits, morning, 100);
        assert_eq!(t.exhausted_until(&limits, morning), None);
        t.record(&limits, morning + 60_000, 100);
        let reset = at(2025, 5, 21, 4, 0);
        assert_eq!(t.exhausted_until(&limits, morning + 60_000), Some(reset));
        let s = &t.status(&limits, morning + 60_000)[0];
        assert_eq!(
            (
                s.requests_used,
                s.requests_limit,
                s.tokens_used,
                s.tokens_limit
            ),
            (2, Some(2), 200, None)
        );
        assert_eq!(s.window_start_ms, Some(at(2025, 5, 20, 4, 0)));
        assert_eq!(s.resets_at_ms, Some(reset));
        assert_eq!(s.resets_in_ms, Some(reset - morning - 60_000));
        assert!(s.exhausted);
        // At the reset the counts are zero again without any new request.
        assert_eq!(t.exhausted_until(&limits, reset), None);
        let s = &t.status(&limits, reset)[0];
        assert_eq!((s.requests_used, s.tokens_used, s.exhausted), (0, 0, false));
        // And a request in the new window starts from one.
        t.record(&limits, reset + 1, 5);
        assert_eq!(t.status(&limits, reset + 1)[0].requests_used, 1);
    }

    #[test]
    fn token_limit_counts_tokens() {
        let limits = [limit(QuotaWindow::Monthly, 0, None, Some(1_000))];
        let mut t = QuotaTracker::default();
        let now = at(2025, 7, 3, 10, 0);
        t.record(&limits, now, 600);
        assert_eq!(t.exhausted_until(&limits, now), None);
        t.record(&limits, now + 1, 400);
        assert_eq!(
            t.exhausted_until(&limits, now + 1),
            Some(at(2025, 8, 1, 0, 0))
        );
    }

    #[test]
    fn limits_on_the_same_window_share_one_count() {
        let limits = [
            limit(QuotaWindow::Daily, 0, Some(10), None),
            limit(QuotaWindow::Daily, 0, None, Some(50)),
        ];
        let mut t = QuotaTracker::default();
        let now = at(2025, 7, 3, 10, 0);
        t.record(&limits, now, 20);
        let s = t.status(&limits, now);
        assert_eq!((s[0].requests_used, s[0].tokens_used), (1, 20));
        assert_eq!((s[1].requests_used, s[1].tokens_used), (1, 20));
        t.record(&limits, now, 30);
        // The token limit is reached; the request limit is not.
        let s = t.status(&limits, now);
        assert_eq!((s[0].exhausted, s[1].exhausted), (false, true));
        assert_eq!(t.exhausted_until(&limits, now), Some(at(2025, 7, 4, 0, 0)));
    }

    #[test]
    fn the_latest_reset_wins_across_limits() {
        let limits = [
            limit(QuotaWindow::Daily, 0, Some(1), None),
            limit(QuotaWindow::Weekly, 0, Some(1), None),
        ];
        let mut t = QuotaTracker::default();
        // 2025-07-03 is a Thursday; the week ends Monday 2025-07-07.
        let now = at(2025, 7, 3, 10, 0);
        t.record(&limits, now, 1);
        assert_eq!(t.exhausted_until(&limits, now), Some(at(2025, 7, 7, 0, 0)));
    }

    #[test]
    fn five_hour_session_starts_with_the_first_request() {
        let limits = [limit(QuotaWindow::FiveHour, 0, Some(3), None)];
        let mut t = QuotaTracker::default();
        let t0 = at(2025, 9, 1, 10, 17);
        assert_eq!(t.status(&limits, t0)[0].window_start_ms, None);
        t.record(&limits, t0, 1);
        t.record(&limits, t0 + 4 * HOUR_MS, 1);
        let s = &t.status(&limits, t0 + 4 * HOUR_MS)[0];
        assert_eq!(
            (s.requests_used, s.window_start_ms, s.resets_at_ms),
            (2, Some(t0), Some(t0 + FIVE_HOURS_MS))
        );
        assert_eq!(s.resets_in_ms, Some(HOUR_MS));
        t.record(&limits, t0 + 4 * HOUR_MS + 1, 1);
        assert_eq!(
            t.exhausted_until(&limits, t0 + 4 * HOUR_MS + 1),
            Some(t0 + FIVE_HOURS_MS)
        );
        // The session ended: nothing runs until the next request.
        let after = t0 + FIVE_HOURS_MS;
        assert_eq!(t.exhausted_until(&limits, after), None);
        let s = &t.status(&limits, after + 30 * 60_000)[0];
        assert_eq!(
            (s.requests_used, s.window_start_ms, s.resets_at_ms),
            (0, None, None)
        );
        // A request half an hour later opens a new session from that moment.
        let t1 = after + 30 * 60_000;
        t.record(&limits, t1, 1);
        let s = &t.status(&limits, t1)[0];
        assert_eq!(
            (s.requests_used, s.window_start_ms, s.resets_at_ms),
            (1, Some(t1), Some(t1 + FIVE_HOURS_MS))
        );
    }

    #[test]
    fn marked_exhausted_until_the_given_time() {
        let limits = [limit(QuotaWindow::Daily, 0, Some(100), None)];
        let mut t = QuotaTracker::default();
        let now = at(2025, 9, 1, 10, 0);
        t.mark_exhausted(now, Some(now + 90_000), &limits);
        assert_eq!(t.exhausted_until(&limits, now), Some(now + 90_000));
        assert!(t.status(&limits, now)[0].exhausted);
        assert_eq!(t.exhausted_until(&limits, now + 90_000), None);
        assert!(!t.status(&limits, now + 90_000)[0].exhausted);
        // A connection without limits can still be marked.
        let mut bare = QuotaTracker::default();
        bare.mark_exhausted(now, Some(now + 5), &[]);
        assert_eq!(bare.exhausted_until(&[], now), Some(now + 5));
    }

    #[test]
    fn a_shorter_hint_does_not_cut_a_longer_mark() {
        let mut t = QuotaTracker::default();
        let now = at(2025, 9, 1, 10, 0);
        t.mark_exhausted(now, Some(now + HOUR_MS), &[]);
        t.mark_exhausted(now + 1, Some(now + 60_000), &[]);
        assert_eq!(t.exhausted_until(&[], now + 2), Some(now + HOUR_MS));
        // Once a mark has passed, a new shorter one replaces it.
        t.mark_exhausted(now + HOUR_MS, Some(now + HOUR_MS + 1_000), &[]);
        assert_eq!(
            t.exhausted_until(&[], now + HOUR_MS),
            Some(now + HOUR_MS + 1_000)
        );
    }

    #[test]
    fn unspecified_exhaustion_lasts_until_the_shortest_window_ends() {
        let now = at(2025, 9, 1, 10, 0);
        let fixed = [
            limit(QuotaWindow::Monthly, 0, Some(100), None),
            limit(QuotaWindow::Daily, 7, Some(100), None),
        ];
        let mut t = QuotaTracker::default();
        t.mark_exhausted(now, None, &fixed);
        assert_eq!(t.exhausted_until(&fixed, now), Some(at(2025, 9, 2, 7, 0)));

        // A running 5-hour session ends first.
        let session = [
            limit(QuotaWindow::Daily, 0, None, None),
            limit(QuotaWindow::FiveHour, 0, None, None),
        ];
        let mut t = QuotaTracker::default();
        t.record(&session, now - HOUR_MS, 1);
        t.mark_exhausted(now, None, &session);
        assert_eq!(t.exhausted_until(&session, now), Some(now + 4 * HOUR_MS));

        // A 5-hour limit with no session: five hours from now.
        let mut t = QuotaTracker::default();
        t.mark_exhausted(now, None, &session[1..]);
        assert_eq!(
            t.exhausted_until(&session[1..], now),
            Some(now + FIVE_HOURS_MS)
        );

        // No limits at all: one hour.
        let mut t = QuotaTracker::default();
        t.mark_exhausted(now, None, &[]);
        assert_eq!(t.exhausted_until(&[], now), Some(now + HOUR_MS));
    }

    #[test]
    fn counters_of_removed_limits_are_forgotten() {
        let daily = [limit(QuotaWindow::Daily, 0, Some(5), None)];
        let monthly = [limit(QuotaWindow::Monthly, 0, Some(5), None)];
        let mut t = QuotaTracker::default();
        let now = at(2025, 9, 1, 10, 0);
        t.record(&daily, now, 1);
        t.record(&monthly, now, 1);
        assert_eq!(t.counters.len(), 1);
        assert_eq!(t.status(&daily, now)[0].requests_used, 0);
        assert_eq!(t.status(&monthly, now)[0].requests_used, 1);
    }

    #[test]
    fn a_zero_limit_is_always_exhausted() {
        let limits = [limit(QuotaWindow::Daily, 0, Some(0), None)];
        let t = QuotaTracker::default();
        let now = at(2025, 9, 1, 10, 0);
        assert_eq!(t.exhausted_until(&limits, now), Some(at(2025, 9, 2, 0, 0)));
    }

    #[test]
    fn status_serializes_with_the_window_names() {
        let limits = [limit(QuotaWindow::FiveHour, 0, Some(3), None)];
        let t = QuotaTracker::default();
        let v = serde_json::to_value(t.status(&limits, 0)).unwrap_or_default();
        assert_eq!(v[0]["window"], "5h");
        assert_eq!(v[0]["requests_limit"], 3);
        assert_eq!(v[0]["resets_at_ms"], serde_json::Value::Null);
    }
}
