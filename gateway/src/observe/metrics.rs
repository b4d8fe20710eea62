//! Traffic metrics per provider: requests by status class, tokens, cost, fallback hops, and latency / time-to-first-token histograms.
//!
//! Fed by every finished request's [`UsageRecord`] (it is a
//! [`RecordObserver`]); read by `/api/health` and `/metrics`.
//!
//! Records answered without an upstream call of their own (`served_from`:
//! the response cache, an idempotent replay, or a joined identical request)
//! are counted under the pseudo-provider [`CACHE_PROVIDER`], latency
//! included: their few milliseconds would otherwise drag the real
//! provider's percentiles down, and they still show how fast such answers
//! are. Records that never reached a provider are counted under
//! [`UNROUTED_PROVIDER`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::observe::usage::{CLIENT_CLOSED, RecordObserver, UsageRecord};

/// Upper bounds (inclusive, milliseconds) of the histogram buckets: roughly
/// log-spaced from 5 ms to 5 minutes. One more bucket counts what is above.
pub const BUCKET_BOUNDS_MS: [u64; 15] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 300_000,
];
const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// The provider name records served without an upstream call count under.
pub const CACHE_PROVIDER: &str = "cache";
/// The provider name records that never reached a provider count under.
pub const UNROUTED_PROVIDER: &str = "unrouted";

/// A fixed-bucket histogram of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is above the largest bound.
    counts: [u64; BUCKETS],
    sum_ms: u64,
    count: u64,
    min_ms: u64,
    max_ms: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            sum_ms: 0,
            count: 0,
            min_ms: u64::MAX,
            max_ms: 0,
        }
    }
}

impl Histogram {
    pub fn observe(&mut self, ms: u64) {
        let bucket = BUCKET_BOUNDS_MS.partition_point(|&bound| bound < ms);
        self.counts[bucket] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.count += 1;
        self.min_ms = self.min_ms.min(ms);
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ms(&self) -> u64 {
        self.sum_ms
    }

    /// Per-bucket counts, one per bound of [`BUCKET_BOUNDS_MS`] and a last
    /// one for what is above.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The `q` quantile (0..=1) in milliseconds, estimated from the
    /// buckets by linear interpolation inside the bucket that holds it (as
    /// Prometheus' `histogram_quantile` does), then kept within the
    /// smallest and largest values seen. `None` without samples.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (below + n) as f64 >= rank {
                let lower = if i == 0 { 0 } else { BUCKET_BOUNDS_MS[i - 1] };
                // The bucket above the last bound has no upper edge: the
                // largest value seen is the best one there is.
                let upper = BUCKET_BOUNDS_MS.get(i).copied().unwrap_or(self.max_ms);
                let inside = (rank - below as f64) / n as f64;
                let estimate = lower as f64 + (upper.saturating_sub(lower)) as f64 * inside;
                return Some(estimate.clamp(self.min_ms as f64, self.max_ms as f64));
            }
            below += n;
        }
        Some(self.max_ms as f64)
    }
}

/// How a request ended, by HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    ClientError,
    ServerError,
    /// 499: the caller hung up first (not counted as a 4xx).
    ClientClosed,
    /// Anything else (1xx, 3xx, 0, out of range).
    Other,
}

impl StatusClass {
    pub const ALL: [StatusClass; 5] = [
        StatusClass::Success,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::ClientClosed,
        StatusClass::Other,
    ];

    pub fn of(status: u16) -> StatusClass {
        match status {
            CLIENT_CLOSED => StatusClass::ClientClosed,
            200..=299 => StatusClass::Success,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Other,
        }
    }

    /// The `code_class` label value.
    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::ClientClosed => "499",
            StatusClass::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Everything counted for one provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderMetrics {
    pub provider: String,
    /// Requests per [`StatusClass`], in the order of [`StatusClass::ALL`].
    pub by_class: [u64; 5],
    /// Failed candidates tried before this provider's answer (sum of
    /// `hops.len()` over its records).
    pub fallback_hops: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Whole-request latency of every record.
    pub latency: Histogram,
    /// Time to the first upstream byte, of records that have one (streams).
    pub ttft: Histogram,
}

impl ProviderMetrics {
    fn record(&mut self, record: &UsageRecord) {
        self.by_class[StatusClass::of(record.status).index()] += 1;
        self.fallback_hops += record.hops.len() as u64;
        self.input_tokens += record.input_tokens;
        self.output_tokens += record.output_tokens;
        self.cost_usd += record.cost;
        self.latency.observe(record.latency_ms);
        if let Some(ttft) = record.ttft_ms {
            self.ttft.observe(ttft);
        }
    }

    pub fn requests(&self) -> u64 {
        self.by_class.iter().sum()
    }

    pub fn count(&self, class: StatusClass) -> u64 {
        self.by_class[class.index()]
    }

    /// Requests answered 2xx.
    pub fn successes(&self) -> u64 {
        self.count(StatusClass::Success)
    }

    /// Successes over all requests, 0..=1; `None` before any request.
    pub fn success_rate(&self) -> Option<f64> {
        let requests = self.requests();
        (requests > 0).then(|| self.successes() as f64 / requests as f64)
    }
}

/// A copy of all metrics at one moment, providers sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub providers: Vec<ProviderMetrics>,
}

/// The live metrics. `record` takes a read lock on the provider map and a
/// short per-provider lock, so requests to different providers never wait
/// on each other.
#[derive(Default)]
pub struct Metrics {
    providers: RwLock<HashMap<String, Arc<Mutex<ProviderMetrics>>>>,
}

/// The name a record is counted under.
fn provider_of(record: &UsageRecord) -> &str {
    if record.served_from.is_some() {
        return CACHE_PROVIDER;
    }
    record.provider.as_deref().unwrap_or(UNROUTED_PROVIDER)
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn entry(&self, provider: &str) -> Arc<Mutex<ProviderMetrics>> {
        // Poisoning is ignored: every update leaves the counters consistent
        // enough for metrics, and losing metrics forever would be worse.
        if let Some(found) = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(provider)
        {
            return found.clone();
        }
        self.providers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(provider.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(ProviderMetrics {
                    provider: provider.to_string(),
                    ..ProviderMetrics::default()
                }))
            })
            .clone()
    }

    /// Counts one finished request.
    pub fn record(&self, record: &UsageRecord) {
        let entry = self.entry(provider_of(record));
        entry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(record);
    }

    /// Forgets everything (the health "reset" action).
    pub fn reset(&self) {
        self.providers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let entries: Vec<_> = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut providers: Vec<ProviderMetrics> = entries
            .iter()
            .map(|e| e.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect();
        providers.sort_by(|a, b| a.provider.cmp(&b.provider));
        MetricsSnapshot { providers }
    }
}

impl RecordObserver for Metrics {
    fn observe(&self, record: &UsageRecord) {
        self.record(record);
    }
}

/// The resident memory of this process in bytes (Linux; `None` elsewhere
/// or when unreadable). Read from `VmRSS` in `/proc/self/status`, which is
/// in kB whatever the page size (unlike `/proc/self/statm`'s pages).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(value * 1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::usage::Hop;

    fn record(provider: &str, status: u16, latency_ms: u64) -> UsageRecord {
        UsageRecord {
            provider: Some(provider.into()),
            status,
            latency_ms,
            ..UsageRecord::default()
        }
    }

    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a percentile");
        assert!(
            (actual - expected).abs() < 1e-6,
            "{actual} is not {expected}"
        );
    }

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut h = Histogram::default();
        for v in values {
            h.observe(v);
        }
        h
    }

    #[test]
    fn values_fall_in_the_bucket_of_their_upper_bound() {
        let h = histogram([0, 5, 6, 10, 300_000, 300_001]);
        let counts = h.counts();
        assert_eq!(counts[0], 2, "0 and 5 are in (0, 5]");
        assert_eq!(counts[1], 2, "6 and 10 are in (5, 10]");
        assert_eq!(
            counts[BUCKETS - 2],
            1,
            "300000 is in the last bounded bucket"
        );
        assert_eq!(counts[BUCKETS - 1], 1, "above 300 s");
        assert_eq!(h.count(), 6);
        assert_eq!(h.sum_ms(), 600_022);
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_exact_at_bucket_edges() {
        let h = histogram(1..=1000);
        assert_close(h.percentile(0.5), 500.0);
        assert_close(h.percentile(0.95), 950.0);
        assert_close(h.percentile(0.99), 990.0);
        assert_close(h.percentile(1.0), 1000.0);
    }

    #[test]
    fn percentiles_interpolate_inside_a_bucket() {
        // 4 samples in (100, 250]: the median is half-way through the bucket.
        let h = histogram([101, 120, 200, 250]);
        assert_close(h.percentile(0.5), 175.0);
        // The bucket's lower edge, but not below the smallest value seen.
        assert_close(h.percentile(0.0), 101.0);
    }

    #[test]
    fn percentiles_stay_within_the_values_seen() {
        let h = histogram([20; 100]);
        assert_eq!(h.percentile(0.5), Some(20.0));
        assert_eq!(h.percentile(0.99), Some(20.0));
        let slow = histogram([400_000, 500_000]);
        // Above the last bound the largest value seen is the bucket's edge.
        assert_close(slow.percentile(0.99), 300_000.0 + 0.99 * 200_000.0);
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn a_skewed_distribution_has_ordered_percentiles() {
        let mut values: Vec<u64> = vec![80; 90];
        values.extend([3_000; 9]);
        values.push(40_000);
        let h = histogram(values);
        let p50 = h.percentile(0.5).unwrap_or_default();
        let p95 = h.percentile(0.95).unwrap_or_default();
        let p99 = h.percentile(0.99).unwrap_or_default();
        assert!((50.0..=100.0).contains(&p50), "{p50}");
        assert!((2_500.0..=5_000.0).contains(&p95), "{p95}");
        assert!((2_500.0..=5_000.0).contains(&p99), "{p99}");
        assert!(p50 < p95 && p95 <= p99);
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::of(200), StatusClass::Success);
        assert_eq!(StatusClass::of(204), StatusClass::Success);
        assert_eq!(StatusClass::of(429), StatusClass::ClientError);
        assert_eq!(StatusClass::of(499), StatusClass::ClientClosed);
        assert_eq!(StatusClass::of(503), StatusClass::ServerError);
        assert_eq!(StatusClass::of(0), StatusClass::Other);
        assert_eq!(StatusClass::of(302), StatusClass::Other);
        for (i, class) in StatusClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), i);
        }
    }

    #[test]
    fn records_are_counted_per_provider() {
        let metrics = Metrics::new();
        let mut ok = record("openai", 200, 120);
        ok.input_tokens = 10;
        ok.output_tokens = 5;
        ok.cost = 0.25;
        ok.ttft_ms = Some(40);
        ok.hops = vec![Hop::default(), Hop::default()];
        metrics.record(&ok);
        metrics.record(&record("openai", 502, 3_000));
        metrics.record(&record("openai", 499, 10));
        metrics.record(&record("anthropic", 200, 900));
        let mut cached = record("openai", 200, 2);
        cached.served_from = Some("cache".into());
        cached.input_tokens = 10;
        metrics.record(&cached);
        metrics.record(&UsageRecord {
            status: 404,
            ..UsageRecord::default()
        });

        let snapshot = metrics.snapshot();
        let names: Vec<_> = snapshot
            .providers
            .iter()
            .map(|p| p.provider.as_str())
            .collect();
        assert_eq!(names, vec!["anthropic", "cache", "openai", "unrouted"]);

        let openai = &snapshot.providers[2];
        assert_eq!(openai.requests(), 3, "the cached answer is not openai's");
        assert_eq!(openai.successes(), 1);
        assert_eq!(openai.count(StatusClass::ServerError), 1);
        assert_eq!(openai.count(StatusClass::ClientClosed), 1);
        assert_eq!(openai.count(StatusClass::ClientError), 0);
        assert_eq!(openai.success_rate(), Some(1.0 / 3.0));
        assert_eq!(openai.fallback_hops, 2);
        assert_eq!((openai.input_tokens, openai.output_tokens), (10, 5));
        assert_eq!(openai.cost_usd, 0.25);
        assert_eq!(openai.latency.count(), 3);
        assert_eq!(openai.ttft.count(), 1, "only records with a ttft");

        let cache = &snapshot.providers[1];
        assert_eq!(cache.requests(), 1);
        assert_eq!(cache.input_tokens, 10);
        assert_eq!(cache.latency.percentile(0.5), Some(2.0));
        assert_eq!(snapshot.providers[3].count(StatusClass::ClientError), 1);

        metrics.reset();
        assert!(metrics.snapshot().providers.is_empty());
        metrics.record(&record("openai", 200, 1));
        assert_eq!(metrics.snapshot().providers[0].requests(), 1);
    }

    #[test]
    fn concurrent_records_are_all_counted() {
        let metrics = Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let provider = if i % 2 == 0 { "a" } else { "b" };
                        metrics.record(&record(provider, 200, t * 10 + 1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let snapshot = metrics.snapshot();
        let total: u64 = snapshot.providers.iter().map(|p| p.requests()).sum();
        assert_eq!(total, 4000);
        assert_eq!(snapshot.providers[0].latency.count(), 2000);
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tomniroute\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert_eq!(parse_vm_rss("VmRSS: lots\n"), None);
        if cfg!(target_os = "linux") {
            assert!(rss_bytes().is_some_and(|b| b > 0));
        }
    }
}
