//! Per-key request limits and budgets, counted in process: what each gateway key used this minute, day and month, and whether it may send one more request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;

use super::quota::{daily_bounds, monthly_bounds};
use super::spend::SpendLedger;
use crate::error::ApiError;
use crate::observe::usage::{RecordObserver, UsageRecord};
use crate::snapshot::KeyGrant;
use crate::store::history::PastKeyUse;

const MINUTE_MS: i64 = 60_000;

/// Every key's use, behind one short lock (taken once per request).
#[derive(Debug, Default)]
pub struct KeyMeter {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: HashMap<i64, Requests>,
    /// Cost per key, under the scope `key:<id>`.
    spend: SpendLedger,
}

/// The requests one key was let through with.
#[derive(Debug, Default)]
struct Requests {
    /// When each request of the last minute was let through, oldest first;
    /// kept only while the key has a per-minute limit, so at most that many.
    last_minute: VecDeque<i64>,
    day_start_ms: i64,
    day: u32,
    month_start_ms: i64,
    month: u32,
}

impl Requests {
    /// Moves the day and month counters to the ones containing `now_ms`.
    fn roll(&mut self, now_ms: i64) {
        let day = daily_bounds(0, now_ms).0;
        if day != self.day_start_ms {
            (self.day_start_ms, self.day) = (day, 0);
        }
        let month = monthly_bounds(0, now_ms).0;
        if month != self.month_start_ms {
            (self.month_start_ms, self.month) = (month, 0);
        }
    }

    fn count(&mut self, at_ms: i64, keep_minute: bool) {
        self.day = self.day.saturating_add(1);
        self.month = self.month.saturating_add(1);
        if keep_minute {
            self.last_minute.push_back(at_ms);
        }
    }
}

fn scope(key_id: i64) -> String {
    format!("key:{key_id}")
}

/// Seconds from `now_ms` until `until_ms`, at least 1.
fn wait_secs(now_ms: i64, until_ms: i64) -> u64 {
    ((until_ms - now_ms).max(0) as u64).div_ceil(1000).max(1)
}

impl KeyMeter {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The counters stay consistent after a panic elsewhere: each update
        // is a single field write.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts what keys used earlier this month (in earlier runs), so a
    /// restart does not hand out a fresh allowance.
    pub fn seed(&self, rows: impl IntoIterator<Item = PastKeyUse>, now_ms: i64) {
        let mut inner = self.lock();
        for row in rows {
            if row.counted {
                let requests = inner.requests.entry(row.key_id).or_default();
                requests.roll(now_ms);
                if row.ts >= requests.month_start_ms {
                    requests.month = requests.month.saturating_add(1);
                }
                if row.ts >= requests.day_start_ms {
                    requests.day = requests.day.saturating_add(1);
                }
                if row.ts > now_ms - MINUTE_MS {
                    requests.last_minute.push_back(row.ts);
                }
            }
            inner.spend.add(&scope(row.key_id), row.ts, row.cost);
        }
    }

    /// Lets one request of `grant` through and counts it, or says which
    /// limit it hit (429 with `Retry-After` until that limit resets). Every
    /// request is counted, so a limit added later applies to today's use.
    pub fn admit(&self, grant: &KeyGrant, now_ms: i64) -> Result<(), ApiError> {
        let limits = &grant.limits;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let requests = inner.requests.entry(grant.id).or_default();
        requests.roll(now_ms);
        let refuse = |what: String, code: &'static str, until_ms: i64| {
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("The API key `{}` {what}.", grant.name),
            )
            .with_code(code)
            .with_retry_after(wait_secs(now_ms, until_ms)))
        };
        match limits.requests_per_minute {
            Some(limit) => {
                while requests
                    .last_minute
                    .front()
                    .is_some_and(|&t| t <= now_ms - MINUTE_MS)
                {
                    requests.last_minute.pop_front();
                }
                if requests.last_minute.len() >= limit as usize {
                    let oldest = requests.last_minute.front().copied().unwrap_or(now_ms);
                    return refuse(
                        format!("reached its limit of {limit} requests per minute"),
                        "key_rate_limited",
                        oldest + MINUTE_MS,
                    );
                }
            }
            None => requests.last_minute.clear(),
        }
        let next_day = daily_bounds(0, now_ms).1;
        let next_month = monthly_bounds(0, now_ms).1;
        if let Some(limit) = limits.requests_per_day
            && requests.day >= limit
        {
            return refuse(
                format!("reached its limit of {limit} requests per day (UTC)"),
                "key_quota_exceeded",
                next_day,
            );
        }
        if let Some(limit) = limits.requests_per_month
            && requests.month >= limit
        {
            return refuse(
                format!("reached its limit of {limit} requests per month (UTC)"),
                "key_quota_exceeded",
                next_month,
            );
        }
        if limits.daily_usd.is_some() || limits.monthly_usd.is_some() {
            let spent = inner.spend.spent(&scope(grant.id), now_ms);
            let over = [
                ("daily", spent.day_usd, limits.daily_usd, next_day),
                ("monthly", spent.month_usd, limits.monthly_usd, next_month),
            ]
            .into_iter()
            .find(|(_, spent, limit, _)| limit.is_some_and(|l| *spent >= l));
            if let Some((period, spent, limit, until)) = over {
                return refuse(
                    format!(
                        "used up its {period} budget (${spent:.4} of ${:.4})",
                        limit.unwrap_or_default()
                    ),
                    "key_budget_exceeded",
                    until,
                );
            }
        }
        requests.count(now_ms, limits.requests_per_minute.is_some());
        Ok(())
    }

    /// What a key used in the minute, day and month containing `now_ms`
    /// (for the keys page).
    pub fn usage(&self, key_id: i64, now_ms: i64) -> KeyUsage {
        let inner = self.lock();
        let spent = inner.spend.spent(&scope(key_id), now_ms);
        let mut usage = KeyUsage {
            day_usd: spent.day_usd,
            month_usd: spent.month_usd,
            ..KeyUsage::default()
        };
        if let Some(r) = inner.requests.get(&key_id) {
            usage.last_minute = r
                .last_minute
                .iter()
                .filter(|&&t| t > now_ms - MINUTE_MS)
                .count() as u32;
            if r.day_start_ms == daily_bounds(0, now_ms).0 {
                usage.today = r.day;
            }
            if r.month_start_ms == monthly_bounds(0, now_ms).0 {
                usage.this_month = r.month;
            }
        }
        usage
    }
}

/// What one key used, as the management API shows it. `last_minute` is
/// counted only while the key has a per-minute limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct KeyUsage {
    pub last_minute: u32,
    pub today: u32,
    pub this_month: u32,
    pub day_usd: f64,
    pub month_usd: f64,
}

impl RecordObserver for KeyMeter {
    fn observe(&self, record: &UsageRecord) {
        if let Some(key_id) = record.api_key_id
            && record.cost > 0.0
        {
            self.lock()
                .spend
                .add(&scope(key_id), record.ts, record.cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::quota::days_from_civil;
    use crate::store::api_keys::KeyLimits;

    fn at(day: u32, hour: i64, second: i64) -> i64 {
        days_from_civil(2026, 11, day) * 86_400_000 + hour * 3_600_000 + second * 1000
    }

    fn grant(limits: KeyLimits) -> KeyGrant {
        KeyGrant {
            id: 7,
            name: "ci".into(),
            models: vec!["*".into()],
            expires_at: None,
            limits,
        }
    }

    fn code(result: Result<(), ApiError>) -> Option<(&'static str, Option<u64>)> {
        result
            .err()
            .map(|e| (e.code.unwrap_or(""), e.retry_after_secs))
    }

    #[test]
    fn the_minute_limit_cuts_off_at_the_exact_request_and_slides() {
        let meter = KeyMeter::default();
        let key = grant(KeyLimits {
            requests_per_minute: Some(3),
            ..KeyLimits::default()
        });
        for s in 0..3 {
            assert!(meter.admit(&key, at(5, 10, s * 10)).is_ok());
        }
        // The first request (at :00) leaves the window at 1:00.
        assert_eq!(
            code(meter.admit(&key, at(5, 10, 30))),
            Some(("key_rate_limited", Some(30)))
        );
        assert!(meter.admit(&key, at(5, 10, 60)).is_ok());
        assert!(meter.admit(&key, at(5, 10, 61)).is_err());
        assert_eq!(meter.usage(7, at(5, 10, 61)).last_minute, 3);
    }

    #[test]
    fn day_and_month_limits_reset_at_utc_midnight_and_month_start() {
        let meter = KeyMeter::default();
        let key = grant(KeyLimits {
            requests_per_day: Some(2),
            requests_per_month: Some(3),
            ..KeyLimits::default()
        });
        assert!(meter.admit(&key, at(5, 1, 0)).is_ok());
        assert!(meter.admit(&key, at(5, 2, 0)).is_ok());
        assert_eq!(
            code(meter.admit(&key, at(5, 23, 59 * 60 + 59))),
            Some(("key_quota_exceeded", Some(1)))
        );
        assert!(meter.admit(&key, at(6, 0, 0)).is_ok());
        // Three this month: the monthly limit now refuses, until December.
        let refused = meter.admit(&key, at(7, 0, 0)).unwrap_err();
        assert!(refused.message.contains("per month"), "{}", refused.message);
        let december = days_from_civil(2026, 12, 1) * 86_400_000;
        assert_eq!(
            refused.retry_after_secs,
            Some(((december - at(7, 0, 0)) / 1000) as u64)
        );
        assert!(meter.admit(&key, december).is_ok());
    }

    #[test]
    fn a_budget_refuses_once_the_spend_reaches_it() {
        let meter = KeyMeter::default();
        let key = grant(KeyLimits {
            daily_usd: Some(0.25),
            ..KeyLimits::default()
        });
        let spend = |ts| UsageRecord {
            ts,
            api_key_id: Some(7),
            cost: 0.1,
            ..UsageRecord::default()
        };
        for s in 0..3 {
            assert!(meter.admit(&key, at(5, 10, s)).is_ok());
            meter.observe(&spend(at(5, 10, s)));
        }
        assert_eq!(
            code(meter.admit(&key, at(5, 10, 5))),
            Some(("key_budget_exceeded", Some(14 * 3600 - 5)))
        );
        // Another key's spend is its own.
        let other = KeyGrant {
            id: 8,
            ..grant(key.limits)
        };
        assert!(meter.admit(&other, at(5, 10, 5)).is_ok());
    }

    #[test]
    fn seeding_counts_earlier_runs_toward_the_limits() {
        let meter = KeyMeter::default();
        let now = at(5, 10, 0);
        let past = |ts, counted, cost| PastKeyUse {
            key_id: 7,
            ts,
            cost,
            counted,
        };
        meter.seed(
            [
                past(at(1, 10, 0), true, 1.0),
                past(at(5, 9, 0), true, 0.0),
                past(now - 1000, true, 0.0),
                // A refused request used nothing.
                past(now - 500, false, 0.0),
            ],
            now,
        );
        assert_eq!(
            meter.usage(7, now),
            KeyUsage {
                last_minute: 1,
                today: 2,
                this_month: 3,
                day_usd: 0.0,
                month_usd: 1.0,
            }
        );
        let key = grant(KeyLimits {
            requests_per_day: Some(2),
            ..KeyLimits::default()
        });
        assert!(meter.admit(&key, now).is_err());
    }
}
