//! Spend accounting for budgets: what each provider and tier spent today and this month, and which budget is used up.

use std::collections::HashMap;

use serde::Serialize;

use super::quota::{daily_bounds, monthly_bounds};
use crate::config::settings::Budget;

/// What one scope spent today and this month (UTC calendar day / month).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spent {
    pub day_usd: f64,
    pub month_usd: f64,
}

/// Running totals per scope. Keys: `provider:<id>` and `tier:<tier>`.
#[derive(Debug, Default)]
pub struct SpendLedger {
    scopes: HashMap<String, Totals>,
}

/// The totals of the latest day and month a scope spent in, keyed by their start.
#[derive(Debug, Clone, Copy)]
struct Totals {
    day_start_ms: i64,
    day_usd: f64,
    month_start_ms: i64,
    month_usd: f64,
}

impl SpendLedger {
    /// Adds `usd` spent at `ts_ms`. A record from a later day (month) than the
    /// totals held starts a new total; a late record from an earlier day still
    /// counts toward its month if that month is the current one.
    pub fn add(&mut self, scope: &str, ts_ms: i64, usd: f64) {
        // A cost that is not a real non-negative amount would poison the totals.
        if !usd.is_finite() || usd < 0.0 {
            return;
        }
        let day = daily_bounds(0, ts_ms).0;
        let month = monthly_bounds(0, ts_ms).0;
        let Some(totals) = self.scopes.get_mut(scope) else {
            self.scopes.insert(
                scope.to_string(),
                Totals {
                    day_start_ms: day,
                    day_usd: usd,
                    month_start_ms: month,
                    month_usd: usd,
                },
            );
            return;
        };
        if day > totals.day_start_ms {
            totals.day_start_ms = day;
            totals.day_usd = usd;
        } else if day == totals.day_start_ms {
            totals.day_usd += usd;
        }
        if month > totals.month_start_ms {
            totals.month_start_ms = month;
            totals.month_usd = usd;
        } else if month == totals.month_start_ms {
            totals.month_usd += usd;
        }
    }

    /// What `scope` spent in the day and month containing `now_ms` (0 once the day / month changed).
    pub fn spent(&self, scope: &str, now_ms: i64) -> Spent {
        let Some(totals) = self.scopes.get(scope) else {
            return Spent::default();
        };
        let day = daily_bounds(0, now_ms).0;
        let month = monthly_bounds(0, now_ms).0;
        Spent {
            day_usd: if totals.day_start_ms == day {
                totals.day_usd
            } else {
                0.0
            },
            month_usd: if totals.month_start_ms == month {
                totals.month_usd
            } else {
                0.0
            },
        }
    }

    /// Every scope that ever spent something.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.keys().map(String::as_str)
    }
}

/// A budget that is used up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetExceeded {
    pub scope: String,
    /// "daily" or "monthly".
    pub period: &'static str,
    pub spent_usd: f64,
    pub limit_usd: f64,
}

/// The first budget of `budgets` that applies to `scopes` and is used up (spent >= limit).
/// Within one budget the daily limit is checked before the monthly one.
pub fn exceeded(
    ledger: &SpendLedger,
    budgets: &[Budget],
    scopes: &[&str],
    now_ms: i64,
) -> Option<BudgetExceeded> {
    budgets
        .iter()
        .filter(|b| scopes.contains(&b.scope.as_str()))
        .find_map(|budget| {
            let spent = ledger.spent(&budget.scope, now_ms);
            let over = |period: &'static str, spent_usd: f64, limit: Option<f64>| {
                let limit_usd = limit?;
                (spent_usd >= limit_usd).then(|| BudgetExceeded {
                    scope: budget.scope.clone(),
                    period,
                    spent_usd,
                    limit_usd,
                })
            };
            over("daily", spent.day_usd, budget.daily_usd)
                .or_else(|| over("monthly", spent.month_usd, budget.monthly_usd))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::quota::days_from_civil;

    fn at(year: i64, month: u32, day: u32, hour: i64) -> i64 {
        days_from_civil(year, month, day) * 86_400_000 + hour * 3_600_000
    }

    fn budget(scope: &str, daily: Option<f64>, monthly: Option<f64>) -> Budget {
        Budget {
            scope: scope.to_string(),
            daily_usd: daily,
            monthly_usd: monthly,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn spend_adds_up_within_a_day() {
        let mut l = SpendLedger::default();
        l.add("provider:openai", at(2025, 6, 10, 9), 0.25);
        l.add("provider:openai", at(2025, 6, 10, 23), 0.5);
        let s = l.spent("provider:openai", at(2025, 6, 10, 23));
        assert!(close(s.day_usd, 0.75) && close(s.month_usd, 0.75), "{s:?}");
    }

    #[test]
    fn day_change_resets_the_day_but_not_the_month() {
        let mut l = SpendLedger::default();
        l.add("tier:api-key", at(2025, 6, 10, 22), 2.0);
        // Read on the next day without new spend: the day total is gone.
        let s = l.spent("tier:api-key", at(2025, 6, 11, 0));
        assert!(close(s.day_usd, 0.0) && close(s.month_usd, 2.0), "{s:?}");
        l.add("tier:api-key", at(2025, 6, 11, 1), 1.0);
        let s = l.spent("tier:api-key", at(2025, 6, 11, 2));
        assert!(close(s.day_usd, 1.0) && close(s.month_usd, 3.0), "{s:?}");
    }

    #[test]
    fn month_change_resets_both() {
        let mut l = SpendLedger::default();
        l.add("tier:cheap", at(2025, 12, 31, 23), 4.0);
        let s = l.spent("tier:cheap", at(2026, 1, 1, 0));
        assert!(close(s.day_usd, 0.0) && close(s.month_usd, 0.0), "{s:?}");
        l.add("tier:cheap", at(2026, 1, 1, 0), 1.5);
        let s = l.spent("tier:cheap", at(2026, 1, 1, 5));
        assert!(close(s.day_usd, 1.5) && close(s.month_usd, 1.5), "{s:?}");
    }

    #[test]
    fn late_records_count_only_toward_their_still_current_periods() {
        let mut l = SpendLedger::default();
        l.add("provider:x", at(2025, 6, 11, 1), 1.0);
        // A record of yesterday arriving late: this month, not today.
        l.add("provider:x", at(2025, 6, 10, 23), 2.0);
        // A record of last month: neither.
        l.add("provider:x", at(2025, 5, 31, 23), 4.0);
        let s = l.spent("provider:x", at(2025, 6, 11, 2));
        assert!(close(s.day_usd, 1.0) && close(s.month_usd, 3.0), "{s:?}");
    }

    #[test]
    fn invalid_amounts_are_ignored() {
        let mut l = SpendLedger::default();
        l.add("provider:x", at(2025, 6, 11, 1), 1.0);
        for bad in [f64::NAN, f64::INFINITY, -3.0] {
            l.add("provider:x", at(2025, 6, 11, 1), bad);
        }
        assert!(close(
            l.spent("provider:x", at(2025, 6, 11, 1)).day_usd,
            1.0
        ));
    }

    #[test]
    fn scopes_are_independent() {
        let mut l = SpendLedger::default();
        let now = at(2025, 6, 11, 12);
        l.add("provider:a", now, 1.0);
        l.add("provider:b", now, 10.0);
        l.add("tier:free", now, 0.0);
        assert!(close(l.spent("provider:a", now).day_usd, 1.0));
        assert!(close(l.spent("provider:b", now).day_usd, 10.0));
        assert!(close(l.spent("provider:c", now).month_usd, 0.0));
        let mut names: Vec<&str> = l.scopes().collect();
        names.sort_unstable();
        assert_eq!(names, vec!["provider:a", "provider:b", "tier:free"]);
    }

    #[test]
    fn exceeded_finds_the_first_used_up_budget_that_applies() {
        let mut l = SpendLedger::default();
        let now = at(2025, 6, 11, 12);
        l.add("provider:a", now, 5.0);
        l.add("tier:api-key", now, 5.0);
        let budgets = [
            budget("provider:b", Some(1.0), None), // used up? no spend; and does not apply
            budget("provider:a", Some(10.0), Some(50.0)),
            budget("tier:api-key", None, Some(5.0)),
            budget("provider:a", Some(2.0), None),
        ];
        let hit = exceeded(&l, &budgets, &["provider:a", "tier:api-key"], now);
        assert_eq!(
            hit,
            Some(BudgetExceeded {
                scope: "tier:api-key".into(),
                period: "monthly",
                spent_usd: 5.0,
                limit_usd: 5.0
            })
        );
        // A scope the request does not touch never blocks it.
        assert_eq!(exceeded(&l, &budgets[..3], &["provider:a"], now), None);
        assert_eq!(exceeded(&l, &budgets, &["provider:b"], now), None);
    }

    #[test]
    fn daily_is_checked_before_monthly_and_clears_next_day() {
        let mut l = SpendLedger::default();
        let now = at(2025, 6, 11, 12);
        l.add("provider:a", now, 3.0);
        let budgets = [budget("provider:a", Some(3.0), Some(3.0))];
        assert_eq!(
            exceeded(&l, &budgets, &["provider:a"], now).map(|e| e.period),
            Some("daily")
        );
        // Next day: the daily budget is fresh, the monthly one is still used up.
        let tomorrow = at(2025, 6, 12, 0);
        assert_eq!(
            exceeded(&l, &budgets, &["provider:a"], tomorrow).map(|e| e.period),
            Some("monthly")
        );
        // Next month: both are fresh.
        assert_eq!(
            exceeded(&l, &budgets, &["provider:a"], at(2025, 7, 1, 0)),
            None
        );
    }

    #[test]
    fn a_zero_budget_blocks_from_the_start() {
        let l = SpendLedger::default();
        let budgets = [budget("tier:api-key", Some(0.0), None)];
        let now = at(2025, 6, 11, 12);
        assert_eq!(
            exceeded(&l, &budgets, &["tier:api-key"], now).map(|e| e.limit_usd),
            Some(0.0)
        );
    }
}
