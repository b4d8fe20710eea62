//! `/api/usage`: the request log with filters, newest first; `/api/usage/summary`: the monthly spend report with budgets.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Admin;
use crate::api::App;
use crate::config::settings::Budget;
use crate::error::ApiError;
use crate::routing::quota::{civil_from_days, days_from_civil};
use crate::store::now_ms;
use crate::store::usage::{self, Summary, UsageFilter};

const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Unix milliseconds, inclusive.
    since: Option<i64>,
    /// Unix milliseconds, exclusive.
    until: Option<i64>,
    model: Option<String>,
    provider: Option<String>,
    api_key_id: Option<i64>,
    status: Option<u16>,
    /// `true`: successes only; `false`: failures only.
    ok: Option<bool>,
    before_id: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    _: Admin,
    State(app): State<App>,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = UsageFilter {
        since_ms: q.since,
        until_ms: q.until,
        model: q.model,
        provider: q.provider,
        api_key_id: q.api_key_id,
        ok: q.ok,
        status: q.status,
        before_id: q.before_id,
        limit,
    };
    let rows = app
        .store
        .call(move |conn, _| usage::list(conn, &filter))
        .await?;
    // A full page may have more behind it; a short one is the last.
    let next_before_id = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({"data": rows, "next_before_id": next_before_id})).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// `YYYY-MM` (UTC); the current month when absent.
    month: Option<String>,
}

/// A UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Month {
    year: i64,
    month: u32,
}

impl Month {
    fn containing(ts_ms: i64) -> Month {
        let (year, month, _) = civil_from_days(ts_ms.div_euclid(DAY_MS));
        Month { year, month }
    }

    /// `YYYY-MM`, with a year from 1970 on.
    fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        let year: i64 = year.parse().ok()?;
        let month: u32 = month.parse().ok()?;
        ((1..=12).contains(&month) && year >= 1970).then_some(Month { year, month })
    }

    /// `[first day 00:00, first day of the next month 00:00)` in Unix ms.
    fn bounds(self) -> (i64, i64) {
        let (next_year, next_month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        (
            days_from_civil(self.year, self.month, 1) * DAY_MS,
            days_from_civil(next_year, next_month, 1) * DAY_MS,
        )
    }

    fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// Where one budget stands in the current UTC day and month.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct BudgetStatus {
    scope: String,
    daily_usd: Option<f64>,
    monthly_usd: Option<f64>,
    spent_today_usd: f64,
    spent_month_usd: f64,
    /// Used up (spent >= limit), the rule routing applies to skip the scope.
    exceeded: bool,
}

fn budget_status(budget: &Budget, today: f64, month: f64) -> BudgetStatus {
    let over = |limit: Option<f64>, spent: f64| limit.is_some_and(|l| spent >= l);
    BudgetStatus {
        scope: budget.scope.clone(),
        daily_usd: budget.daily_usd,
        monthly_usd: budget.monthly_usd,
        spent_today_usd: today,
        spent_month_usd: month,
        exceeded: over(budget.daily_usd, today) || over(budget.monthly_usd, month),
    }
}

/// The spend report of one month. Budgets always show the current day and
/// month, whatever month is asked: they say whether routing skips a scope now.
pub async fn summary(
    _: Admin,
    State(app): State<App>,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = now_ms();
    let month = match q.month.as_deref() {
        None => Month::containing(now),
        Some(text) => Month::parse(text.trim()).ok_or_else(|| {
            ApiError::bad_request(format!("month `{text}` must be YYYY-MM, e.g. 2026-11"))
                .with_param("month")
        })?,
    };
    let (from_ms, until_ms) = month.bounds();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let (month_start, month_end) = Month::containing(now).bounds();
    let (report, spent_today, spent_month): (Summary, _, _) = app
        .store
        .call(move |conn, _| {
            Ok((
                usage::summary(conn, from_ms, until_ms)?,
                usage::spend_by_scope(conn, today, today + DAY_MS)?,
                usage::spend_by_scope(conn, month_start, month_end)?,
            ))
        })
        .await?;
    let budgets: Vec<BudgetStatus> = app
        .snapshot
        .load()
        .settings
        .budgets
        .iter()
        .map(|b| {
            budget_status(
                b,
                spent_today.get(&b.scope).copied().unwrap_or(0.0),
                spent_month.get(&b.scope).copied().unwrap_or(0.0),
            )
        })
        .collect();
    Ok(Json(json!({
        "month": month.label(),
        "from_ms": from_ms,
        "until_ms": until_ms,
        "total": report.total,
        "by_provider": report.by_provider,
        "by_tier": report.by_tier,
        "by_model": report.by_model,
        "by_day": report.by_day,
        "budgets": budgets,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_bound_whole_utc_months() {
        let nov = Month::parse("2026-11").unwrap();
        assert_eq!(nov.bounds(), (1_793_491_200_000, 1_796_083_200_000));
        assert_eq!(nov.label(), "2026-11");
        let dec = Month::parse("2026-12").unwrap();
        assert_eq!(dec.bounds().1, days_from_civil(2027, 1, 1) * DAY_MS);
        assert_eq!(Month::containing(nov.bounds().1 - 1), nov);
        assert_eq!(Month::containing(nov.bounds().1), dec);
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "1969-12",
            "abcd-ef",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_budget_is_exceeded_once_spent_reaches_a_limit() {
        let budget = |daily, monthly| Budget {
            scope: "tier:api-key".into(),
            daily_usd: daily,
            monthly_usd: monthly,
        };
        assert!(!budget_status(&budget(Some(1.0), None), 0.5, 9.0).exceeded);
        assert!(budget_status(&budget(Some(1.0), None), 1.0, 1.0).exceeded);
        assert!(budget_status(&budget(None, Some(10.0)), 0.0, 10.5).exceeded);
        assert!(!budget_status(&budget(Some(2.0), Some(10.0)), 1.0, 9.0).exceeded);
    }
}
