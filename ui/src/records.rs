//! The gateway's records that several pages read: usage rows with their hops, per-provider health metrics, and `{"data": [...]}` lists.
//!
//! Every struct takes missing fields as their defaults and ignores unknown
//! ones, so a page reads what it needs from a newer or older gateway.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `{"data": [...]}`, the shape of every `/api` list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// One failed attempt on the way to an answer (`hops` of a usage row).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Hop {
    pub provider: String,
    pub model: String,
    pub connection_id: Option<i64>,
    /// The upstream's status; `None` when it never answered or was skipped.
    pub status: Option<u16>,
    pub error: String,
}

/// A request as `GET /api/usage` lists it and `/api/usage/live` streams it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageRow {
    pub id: i64,
    /// Unix milliseconds when the request arrived.
    pub ts: i64,
    pub api_key_id: Option<i64>,
    pub inbound_format: String,
    pub requested_model: String,
    pub provider: Option<String>,
    pub connection_id: Option<i64>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost: f64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub status: u16,
    pub error: Option<String>,
    pub hops: Vec<Hop>,
    /// `None` when an upstream answered; else `cache`, `replay` or `shared`.
    pub served_from: Option<String>,
    pub tier: Option<String>,
}

/// p50/p95/p99 in milliseconds; `None` before any sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One provider's request metrics since the start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderHealth {
    pub provider: String,
    pub requests: u64,
    pub successes: u64,
    /// `None` before the first request.
    pub success_rate: Option<f64>,
    pub status_classes: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
    pub fallback_hops: u64,
}
