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
