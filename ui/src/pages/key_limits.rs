//! A key's request limits and budgets: read from `/api/keys`, edited as five text fields, and summed up as use against each limit.

use leptos::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::format;
use crate::i18n::{t, t_with, tr};

/// How much a key may use, as `/api/keys` lists it; `None` is no limit.
/// Request limits count requests, budgets their cost; days and months are UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct KeyLimits {
    pub requests_per_minute: Option<u32>,
    pub requests_per_day: Option<u32>,
    pub requests_per_month: Option<u32>,
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

/// What a key used in the current minute, UTC day and UTC month. The
/// gateway counts `last_minute` only while a per-minute limit is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct KeyUsage {
    pub last_minute: u32,
    pub today: u32,
    pub this_month: u32,
    pub day_usd: f64,
    pub month_usd: f64,
}

/// One of the five limits, in the order the form shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitField {
    RequestsPerMinute,
    RequestsPerDay,
    RequestsPerMonth,
    DailyUsd,
    MonthlyUsd,
}

impl LimitField {
    pub const ALL: [LimitField; 5] = [
        LimitField::RequestsPerMinute,
        LimitField::RequestsPerDay,
        LimitField::RequestsPerMonth,
        LimitField::DailyUsd,
        LimitField::MonthlyUsd,
    ];

    /// The field's name in the gateway's `limits` object.
    pub fn name(self) -> &'static str {
        match self {
            LimitField::RequestsPerMinute => "requests_per_minute",
            LimitField::RequestsPerDay => "requests_per_day",
            LimitField::RequestsPerMonth => "requests_per_month",
            LimitField::DailyUsd => "daily_usd",
            LimitField::MonthlyUsd => "monthly_usd",
        }
    }

    /// Message key of the field's label.
    pub fn label_key(self) -> &'static str {
        match self {
            LimitField::RequestsPerMinute => "keys.limit_requests_per_minute",
            LimitField::RequestsPerDay => "keys.limit_requests_per_day",
            LimitField::RequestsPerMonth => "keys.limit_requests_per_month",
            LimitField::DailyUsd => "keys.limit_daily_usd",
            LimitField::MonthlyUsd => "keys.limit_monthly_usd",
        }
    }

    /// Message key saying what the field accepts, shown when it holds something else.
    pub fn problem_key(self) -> &'static str {
        match self {
            LimitField::RequestsPerMinute => "keys.limit_bad_requests_per_minute",
            LimitField::RequestsPerDay => "keys.limit_bad_requests_per_day",
            LimitField::RequestsPerMonth => "keys.limit_bad_requests_per_month",
            LimitField::DailyUsd => "keys.limit_bad_daily_usd",
            LimitField::MonthlyUsd => "keys.limit_bad_monthly_usd",
        }
    }

    pub fn is_usd(self) -> bool {
        matches!(self, LimitField::DailyUsd | LimitField::MonthlyUsd)
    }
}

/// The five limits as typed in the form; an empty field is no limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitInputs {
    pub requests_per_minute: String,
    pub requests_per_day: String,
    pub requests_per_month: String,
    pub daily_usd: String,
    pub monthly_usd: String,
}

impl LimitInputs {
    /// The fields filled with a key's current limits, for editing them.
    pub fn from_limits(limits: &KeyLimits) -> LimitInputs {
        let text = |value: Option<String>| value.unwrap_or_default();
        LimitInputs {
            requests_per_minute: text(limits.requests_per_minute.map(|n| n.to_string())),
            requests_per_day: text(limits.requests_per_day.map(|n| n.to_string())),
            requests_per_month: text(limits.requests_per_month.map(|n| n.to_string())),
            // `Display` of an f64 is its shortest exact form: `5`, `0.4`.
            daily_usd: text(limits.daily_usd.map(|usd| usd.to_string())),
            monthly_usd: text(limits.monthly_usd.map(|usd| usd.to_string())),
        }
    }

    pub fn text(&self, field: LimitField) -> &str {
        match field {
            LimitField::RequestsPerMinute => &self.requests_per_minute,
            LimitField::RequestsPerDay => &self.requests_per_day,
            LimitField::RequestsPerMonth => &self.requests_per_month,
            LimitField::DailyUsd => &self.daily_usd,
            LimitField::MonthlyUsd => &self.monthly_usd,
        }
    }

    pub fn text_mut(&mut self, field: LimitField) -> &mut String {
        match field {
            LimitField::RequestsPerMinute => &mut self.requests_per_minute,
            LimitField::RequestsPerDay => &mut self.requests_per_day,
            LimitField::RequestsPerMonth => &mut self.requests_per_month,
            LimitField::DailyUsd => &mut self.daily_usd,
            LimitField::MonthlyUsd => &mut self.monthly_usd,
        }
    }

    /// The gateway's `limits` object: only the filled fields, request limits
    /// as whole numbers and budgets as dollar amounts. The first field that
    /// holds anything else is refused with its [`LimitField::problem_key`].
    pub fn to_json(&self) -> Result<Value, &'static str> {
        let mut limits = Map::new();
        for field in LimitField::ALL {
            let text = self.text(field).trim();
            if text.is_empty() {
                continue;
            }
            let value = if field.is_usd() {
                // Finite and not negative; `inf`, `NaN` and `-1` parse as f64 but are no amount.
                text.parse::<f64>()
                    .ok()
                    .filter(|usd| usd.is_finite() && *usd >= 0.0)
                    .map(|usd| json!(usd))
            } else {
                // The gateway keeps request limits as u32, so larger numbers are refused here too.
                text.parse::<u32>().ok().map(|n| json!(n))
            };
            limits.insert(
                field.name().to_owned(),
                value.ok_or_else(|| field.problem_key())?,
            );
        }
        Ok(Value::Object(limits))
    }
}

/// The key's use against each limit that is set, one line per limit in
/// the form's order: `3 / 100 today`, `$0.40 / $5.00 this month`.
pub fn summary(limits: &KeyLimits, usage: &KeyUsage) -> Vec<String> {
    let line =
        |key: &str, used: String, limit: String| t_with(key, &[("used", used), ("limit", limit)]);
    let count = |n: u32| format::group_thousands(u64::from(n));
    let mut lines = Vec::new();
    if let Some(limit) = limits.requests_per_minute {
        lines.push(line(
            "keys.limit_used_minute",
            count(usage.last_minute),
            count(limit),
        ));
    }
    if let Some(limit) = limits.requests_per_day {
        lines.push(line(
            "keys.limit_used_today",
            count(usage.today),
            count(limit),
        ));
    }
    if let Some(limit) = limits.requests_per_month {
        lines.push(line(
            "keys.limit_used_month",
            count(usage.this_month),
            count(limit),
        ));
    }
    if let Some(limit) = limits.daily_usd {
        lines.push(line(
            "keys.limit_used_today",
            format::usd(usage.day_usd),
            format::usd(limit),
        ));
    }
    if let Some(limit) = limits.monthly_usd {
        lines.push(line(
            "keys.limit_used_month",
            format::usd(usage.month_usd),
            format::usd(limit),
        ));
    }
    lines
}

/// Whether the key used up one of its limits: the gateway then answers its
/// requests with 429 until the minute, day or month ends.
pub fn reached(limits: &KeyLimits, usage: &KeyUsage) -> bool {
    let requests = [
        (limits.requests_per_minute, usage.last_minute),
        (limits.requests_per_day, usage.today),
        (limits.requests_per_month, usage.this_month),
    ];
    let budgets = [
        (limits.daily_usd, usage.day_usd),
        (limits.monthly_usd, usage.month_usd),
    ];
    requests
        .into_iter()
        .any(|(limit, used)| limit.is_some_and(|limit| used >= limit))
        || budgets
            .into_iter()
            .any(|(limit, used)| limit.is_some_and(|limit| used >= limit))
}

/// The five limits as labelled fields, for the new-key form and the limits dialog.
///
/// They are text fields with a numeric keyboard rather than `type="number"`:
/// a number field reports anything it cannot read as empty (which here would
/// silently mean "no limit") and validates in the browser's language, while
/// [`LimitInputs::to_json`] names the bad field in the dashboard's.
#[component]
pub fn LimitFields(inputs: RwSignal<LimitInputs>) -> impl IntoView {
    let fields = LimitField::ALL
        .into_iter()
        .map(|field| {
            view! {
                <label class="field">
                    <span>{move || t(field.label_key())}</span>
                    <input
                        type="text"
                        inputmode=if field.is_usd() { "decimal" } else { "numeric" }
                        autocomplete="off"
                        dir="ltr"
                        data-testid=format!("key-limit-{}", field.name())
                        placeholder=move || t("keys.limit_none")
                        prop:value=move || inputs.with(|i| i.text(field).to_owned())
                        on:input=move |ev| inputs.update(|i| *i.text_mut(field) = event_target_value(&ev))
                    />
                </label>
            }
        })
        .collect_view();
    view! {
        <fieldset class="limit-fields" data-testid="key-limit-fields">
            <legend>{tr("keys.limits_legend")}</legend>
            <div class="form-grid">{fields}</div>
            <p class="muted small">{tr("keys.limits_hint")}</p>
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(fill: &[(LimitField, &str)]) -> LimitInputs {
        let mut inputs = LimitInputs::default();
        for (field, text) in fill {
            *inputs.text_mut(*field) = (*text).to_owned();
        }
        inputs
    }

    #[test]
    fn the_key_json_reads_with_and_without_limits() {
        let json = r#"{"limits":{"requests_per_day":100,"monthly_usd":5.0},
            "usage":{"last_minute":0,"today":3,"this_month":40,"day_usd":0.1,"month_usd":0.4}}"#;
        #[derive(Deserialize)]
        struct Row {
            limits: KeyLimits,
            usage: KeyUsage,
        }
        let row: Row = serde_json::from_str(json).unwrap();
        assert_eq!(row.limits.requests_per_day, Some(100));
        assert_eq!(row.limits.monthly_usd, Some(5.0));
        assert_eq!(row.limits.requests_per_minute, None);
        assert_eq!(row.usage.this_month, 40);
        let none: KeyLimits = serde_json::from_str("{}").unwrap();
        assert_eq!(none, KeyLimits::default());
    }

    #[test]
    fn limits_become_fields_and_unset_ones_stay_empty() {
        let limits = KeyLimits {
            requests_per_minute: Some(60),
            daily_usd: Some(0.4),
            monthly_usd: Some(5.0),
            ..KeyLimits::default()
        };
        assert_eq!(
            LimitInputs::from_limits(&limits),
            inputs(&[
                (LimitField::RequestsPerMinute, "60"),
                (LimitField::DailyUsd, "0.4"),
                (LimitField::MonthlyUsd, "5"),
            ])
        );
        assert_eq!(
            LimitInputs::from_limits(&KeyLimits::default()),
            LimitInputs::default()
        );
    }

    #[test]
    fn filled_fields_become_the_limits_object() {
        let typed = inputs(&[
            (LimitField::RequestsPerDay, " 2 "),
            (LimitField::RequestsPerMonth, "0"),
            (LimitField::DailyUsd, "2.50"),
            (LimitField::MonthlyUsd, "20"),
        ]);
        assert_eq!(
            typed.to_json(),
            Ok(
                json!({"requests_per_day": 2, "requests_per_month": 0, "daily_usd": 2.5, "monthly_usd": 20.0})
            )
        );
        assert_eq!(LimitInputs::default().to_json(), Ok(json!({})));
        assert_eq!(
            inputs(&[(LimitField::RequestsPerMinute, "   ")]).to_json(),
            Ok(json!({}))
        );
    }

    #[test]
    fn the_fields_round_trip_through_the_gateway_shape() {
        let limits = KeyLimits {
            requests_per_day: Some(1000),
            daily_usd: Some(0.25),
            ..KeyLimits::default()
        };
        let body = LimitInputs::from_limits(&limits).to_json().unwrap();
        assert_eq!(serde_json::from_value::<KeyLimits>(body).unwrap(), limits);
    }

    #[test]
    fn a_bad_field_is_named_by_its_message_key() {
        let refused = |field: LimitField, text: &str| inputs(&[(field, text)]).to_json();
        assert_eq!(
            refused(LimitField::RequestsPerDay, "-1"),
            Err("keys.limit_bad_requests_per_day")
        );
        assert_eq!(
            refused(LimitField::RequestsPerMinute, "1.5"),
            Err("keys.limit_bad_requests_per_minute")
        );
        assert_eq!(
            refused(LimitField::RequestsPerMonth, "5000000000"),
            Err("keys.limit_bad_requests_per_month")
        );
        assert_eq!(
            refused(LimitField::DailyUsd, "-0.5"),
            Err("keys.limit_bad_daily_usd")
        );
        assert_eq!(
            refused(LimitField::MonthlyUsd, "ten"),
            Err("keys.limit_bad_monthly_usd")
        );
        assert_eq!(
            refused(LimitField::MonthlyUsd, "inf"),
            Err("keys.limit_bad_monthly_usd")
        );
        // The first bad field in the form's order is the one named.
        let two_bad = inputs(&[
            (LimitField::MonthlyUsd, "x"),
            (LimitField::RequestsPerDay, "x"),
        ]);
        assert_eq!(two_bad.to_json(), Err("keys.limit_bad_requests_per_day"));
    }

    #[test]
    fn the_summary_has_a_line_per_limit_set() {
        let limits = KeyLimits {
            requests_per_day: Some(100),
            monthly_usd: Some(5.0),
            ..KeyLimits::default()
        };
        let usage = KeyUsage {
            today: 3,
            this_month: 40,
            month_usd: 0.4,
            ..KeyUsage::default()
        };
        assert_eq!(
            summary(&limits, &usage),
            ["3 / 100 today", "$0.40 / $5.00 this month"]
        );
        let every = KeyLimits {
            requests_per_minute: Some(60),
            requests_per_day: Some(1500),
            requests_per_month: Some(30_000),
            daily_usd: Some(1.0),
            monthly_usd: Some(20.0),
        };
        assert_eq!(
            summary(&every, &KeyUsage::default()),
            [
                "0 / 60 this minute",
                "0 / 1,500 today",
                "0 / 30,000 this month",
                "$0 / $1.00 today",
                "$0 / $20.00 this month",
            ]
        );
        assert!(summary(&KeyLimits::default(), &usage).is_empty());
    }

    #[test]
    fn a_limit_is_reached_when_use_meets_it() {
        let limits = KeyLimits {
            requests_per_day: Some(2),
            daily_usd: Some(1.0),
            ..KeyLimits::default()
        };
        let usage = |today, day_usd| KeyUsage {
            today,
            day_usd,
            ..KeyUsage::default()
        };
        assert!(!reached(&limits, &usage(1, 0.5)));
        assert!(reached(&limits, &usage(2, 0.5)));
        assert!(reached(&limits, &usage(0, 1.0)));
        // Use without a limit on it never counts.
        assert!(!reached(&KeyLimits::default(), &usage(500, 90.0)));
        // A limit of 0 pauses the key.
        let paused = KeyLimits {
            requests_per_minute: Some(0),
            ..KeyLimits::default()
        };
        assert!(reached(&paused, &KeyUsage::default()));
    }
}
