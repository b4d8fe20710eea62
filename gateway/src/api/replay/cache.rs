//! The exact response cache: whole successful answers by request digest, bounded in bytes, expired on read, rebuilt when its size setting changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use super::key::Digest;

/// What an entry costs beyond its body: the key, the head and the cache's
/// own bookkeeping, roughly. It also keeps every weight above zero, which
/// the cache needs to ever evict an entry.
const ENTRY_OVERHEAD: u64 = 256;

/// A cached answer: what a hit sends back.
#[derive(Debug)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub request_id: Option<HeaderValue>,
    /// The whole body, a stream's SSE bytes included.
    pub body: Bytes,
    pub stored_at_ms: i64,
}

impl CachedResponse {
    fn weight(&self) -> u64 {
        self.body.len() as u64 + ENTRY_OVERHEAD
    }

    /// The answer again: status, content type, request id and body.
    pub fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(value) = &self.content_type {
            headers.insert(header::CONTENT_TYPE, value.clone());
        }
        if let Some(value) = &self.request_id {
            headers.insert("x-request-id", value.clone());
        }
        response
    }
}

#[derive(Clone)]
struct ByteWeighter;

impl Weighter<Digest, Arc<CachedResponse>> for ByteWeighter {
    fn weight(&self, _key: &Digest, value: &Arc<CachedResponse>) -> u64 {
        value.weight()
    }
}

type Entries = Cache<
    Digest,
    Arc<CachedResponse>,
    ByteWeighter,
    DefaultHashBuilder,
    DefaultLifecycle<Digest, Arc<CachedResponse>>,
>;

/// The cache built for one size setting.
struct Slot {
    max_bytes: u64,
    entries: Entries,
}

impl Slot {
    fn build(max_bytes: u64) -> Option<Slot> {
        // One shard: the size bound is then the whole setting, and one
        // answer may use most of it. Lookups are one per data-plane
        // request, far too few for one lock to be a bottleneck.
        let estimated_items = (max_bytes / (16 * 1024)).clamp(16, 1 << 20) as usize;
        let options = OptionsBuilder::new()
            .shards(1)
            .estimated_items_capacity(estimated_items)
            .weight_capacity(max_bytes)
            .build()
            .map_err(|e| tracing::warn!(error = %e, "the response cache cannot be built"))
            .ok()?;
        Some(Slot {
            max_bytes,
            entries: Cache::with_options(
                options,
                ByteWeighter,
                DefaultHashBuilder::default(),
                DefaultLifecycle::default(),
            ),
        })
    }
}

/// Hit and size counters of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    pub enabled: bool,
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    /// Bodies plus a fixed overhead per entry: what counts against `max_bytes`.
    pub bytes: u64,
    pub max_bytes: u64,
}

/// The exact response cache; off until [`ResponseCache::configure`] turns it on.
#[derive(Default)]
pub struct ResponseCache {
    slot: ArcSwapOption<Slot>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ResponseCache {
    /// Follows the settings: builds the cache when it is turned on, drops it
    /// (and its memory) when turned off, rebuilds it empty when its size
    /// changes. Cheap when nothing changed (one atomic load).
    pub fn configure(&self, enabled: bool, max_bytes: u64) {
        let current = self.slot.load();
        let wanted = enabled && max_bytes > 0;
        match (&*current, wanted) {
            (Some(slot), true) if slot.max_bytes == max_bytes => {}
            (None, false) => {}
            (_, true) => self.slot.store(Slot::build(max_bytes).map(Arc::new)),
            (Some(_), false) => self.slot.store(None),
        }
    }

    /// The answer cached under `key` if it is younger than `ttl_ms`; counts
    /// a hit or a miss. An expired answer is removed.
    pub fn get(&self, key: &Digest, ttl_ms: i64, now_ms: i64) -> Option<Arc<CachedResponse>> {
        let slot = self.slot.load();
        let slot = slot.as_ref()?;
        let fresh = slot.entries.get(key).filter(|hit| {
            let fresh = now_ms.saturating_sub(hit.stored_at_ms) < ttl_ms;
            if !fresh {
                slot.entries.remove(key);
            }
            fresh
        });
        let counter = if fresh.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        fresh
    }

    /// Keeps `response` under `key` (no-op while the cache is off). An
    /// answer larger than the cache is not kept.
    pub fn insert(&self, key: Digest, response: CachedResponse) {
        if let Some(slot) = self.slot.load().as_ref() {
            slot.entries.insert(key, Arc::new(response));
        }
    }

    pub fn stats(&self) -> CacheStats {
        let slot = self.slot.load();
        CacheStats {
            enabled: slot.is_some(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: slot.as_ref().map_or(0, |s| s.entries.len() as u64),
            bytes: slot.as_ref().map_or(0, |s| s.entries.weight()),
            max_bytes: slot.as_ref().map_or(0, |s| s.max_bytes),
        }
    }

    /// Zeroes the hit and miss counters (the health reset); entries stay.
    pub fn reset_stats(&self) {
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static str, stored_at_ms: i64) -> CachedResponse {
        CachedResponse {
            status: StatusCode::OK,
            content_type: Some(HeaderValue::from_static("application/json")),
            request_id: None,
            body: Bytes::from_static(body.as_bytes()),
            stored_at_ms,
        }
    }

    #[test]
    fn nothing_is_kept_while_the_cache_is_off() {
        let cache = ResponseCache::default();
        cache.insert([1; 32], answer("{}", 0));
        assert!(cache.get(&[1; 32], 60_000, 1).is_none());
        assert_eq!(cache.stats().entries, 0);
        assert!(!cache.stats().enabled);
        cache.configure(true, 0);
        assert!(!cache.stats().enabled, "a zero size is off");
    }

    #[test]
    fn hits_and_misses_are_counted_and_answers_expire_on_read() {
        let cache = ResponseCache::default();
        cache.configure(true, 1 << 20);
        assert!(cache.get(&[1; 32], 1_000, 0).is_none());
        cache.insert([1; 32], answer("{\"a\":1}", 10_000));
        let hit = cache.get(&[1; 32], 1_000, 10_999).unwrap();
        assert_eq!(hit.body, "{\"a\":1}");
        assert!(cache.get(&[1; 32], 1_000, 11_000).is_none(), "expired");
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
        assert_eq!(stats.entries, 0, "the expired answer was removed");
        cache.reset_stats();
        assert_eq!((cache.stats().hits, cache.stats().misses), (0, 0));
    }

    #[test]
    fn the_size_bound_holds_and_counts_body_bytes() {
        let cache = ResponseCache::default();
        let max = 10 * (1000 + ENTRY_OVERHEAD);
        cache.configure(true, max);
        static BODY: [u8; 1000] = [b'x'; 1000];
        for i in 0..50u8 {
            cache.insert(
                [i; 32],
                CachedResponse {
                    body: Bytes::from_static(&BODY),
                    ..answer("", 0)
                },
            );
        }
        let stats = cache.stats();
        assert!(stats.bytes <= max, "{stats:?}");
        assert!(stats.entries >= 1 && stats.entries <= 10, "{stats:?}");
        assert_eq!(stats.bytes, stats.entries * (1000 + ENTRY_OVERHEAD));
    }

    #[test]
    fn a_new_size_rebuilds_and_turning_off_drops_the_entries() {
        let cache = ResponseCache::default();
        cache.configure(true, 1 << 20);
        cache.insert([1; 32], answer("{}", 0));
        cache.configure(true, 1 << 20);
        assert_eq!(cache.stats().entries, 1, "same settings keep the entries");
        cache.configure(true, 2 << 20);
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().max_bytes, 2 << 20);
        cache.insert([1; 32], answer("{}", 0));
        cache.configure(false, 2 << 20);
        assert_eq!(cache.stats(), CacheStats::default());
        cache.configure(true, 2 << 20);
        assert!(cache.get(&[1; 32], 60_000, 1).is_none());
    }

    #[test]
    fn a_hit_answers_with_status_type_request_id_and_body() {
        let cached = CachedResponse {
            request_id: Some(HeaderValue::from_static("req-9")),
            ..answer("data: [DONE]\n\n", 0)
        };
        let response = cached.response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["x-request-id"], "req-9");
    }
}
