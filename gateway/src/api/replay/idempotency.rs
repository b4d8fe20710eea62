//! The idempotency table: which answer a repeated `Idempotency-Key` (or `X-Request-Id`) gets, for how long, and when the same key comes back with another request.

use std::collections::{HashMap, VecDeque};

use super::key::Digest;

/// How long a finished answer stays replayable for a repeated key.
pub const WINDOW_MS: i64 = 5_000;

/// Idempotency keys (as digests) to the answer the first request got. `T`
/// is that answer's handle; the table only keeps time and identity.
///
/// A finished answer holds its whole body, so expired ones must not pile
/// up: every lookup, insert and settle first drops the entries whose
/// window has closed, oldest first from a queue in finishing order (O(1)
/// per entry, however large the table).
pub struct IdempotencyTable<T> {
    entries: HashMap<Digest, Entry<T>>,
    /// Finished entries by the time they finished, oldest first.
    finished: VecDeque<(i64, Digest)>,
}

struct Entry<T> {
    /// The digest of the request that first used the key.
    request: Digest,
    value: T,
    /// When the answer finished; `None` while it is in flight.
    done_at_ms: Option<i64>,
}

impl<T> Entry<T> {
    fn expired(&self, now_ms: i64) -> bool {
        self.done_at_ms
            .is_some_and(|done| now_ms.saturating_sub(done) >= WINDOW_MS)
    }
}

/// What a key finds.
#[derive(Debug, PartialEq)]
pub enum Lookup<'a, T> {
    /// Never seen, or seen long enough ago.
    Vacant,
    /// Seen with another request: the key is being reused.
    Conflict,
    /// Seen with this same request; here is its answer.
    Found(&'a T),
}

impl<T> Default for IdempotencyTable<T> {
    fn default() -> Self {
        IdempotencyTable {
            entries: HashMap::new(),
            finished: VecDeque::new(),
        }
    }
}

impl<T> IdempotencyTable<T> {
    /// Looks `key` up for a request whose digest is `request`.
    pub fn lookup(&mut self, key: &Digest, request: &Digest, now_ms: i64) -> Lookup<'_, T> {
        self.expire(now_ms);
        match self.entries.get(key) {
            None => Lookup::Vacant,
            Some(entry) if entry.request != *request => Lookup::Conflict,
            Some(entry) => Lookup::Found(&entry.value),
        }
    }

    /// Records that `key` is now answered by `value` (in flight), replacing
    /// whatever the key held.
    pub fn insert(&mut self, key: Digest, request: Digest, value: T, now_ms: i64) {
        self.expire(now_ms);
        self.entries.insert(
            key,
            Entry {
                request,
                value,
                done_at_ms: None,
            },
        );
    }

    /// The answer of `key` finished. If the entry still holds that answer
    /// (`is_this`), a replayable one stays for [`WINDOW_MS`] from `now_ms`;
    /// any other is forgotten, so the next try goes upstream again.
    pub fn settle(
        &mut self,
        key: &Digest,
        is_this: impl Fn(&T) -> bool,
        replayable: bool,
        now_ms: i64,
    ) {
        self.expire(now_ms);
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if !is_this(&entry.value) {
            return;
        }
        if replayable {
            entry.done_at_ms = Some(now_ms);
            self.finished.push_back((now_ms, *key));
        } else {
            self.entries.remove(key);
        }
    }

    /// Drops the entries whose window closed by `now_ms`.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some(&(done_at, key)) = self.finished.front() {
            if now_ms.saturating_sub(done_at) < WINDOW_MS {
                break;
            }
            self.finished.pop_front();
            // The key may have been taken by a newer answer since.
            if self.entries.get(&key).is_some_and(|e| e.expired(now_ms)) {
                self.entries.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Digest = [1; 32];
    const REQUEST: Digest = [2; 32];
    const OTHER_REQUEST: Digest = [3; 32];

    #[test]
    fn a_key_in_flight_is_found_for_the_same_request_and_conflicts_for_another() {
        let mut table = IdempotencyTable::default();
        assert_eq!(table.lookup(&KEY, &REQUEST, 0), Lookup::Vacant);
        table.insert(KEY, REQUEST, "first", 0);
        // In flight, an entry never expires, however long it takes.
        assert_eq!(
            table.lookup(&KEY, &REQUEST, 600_000),
            Lookup::Found(&"first")
        );
        assert_eq!(
            table.lookup(&KEY, &OTHER_REQUEST, 600_000),
            Lookup::Conflict
        );
    }

    #[test]
    fn a_finished_answer_stays_five_seconds_from_its_end() {
        let mut table = IdempotencyTable::default();
        table.insert(KEY, REQUEST, 7, 1_000);
        table.settle(&KEY, |v| *v == 7, true, 9_000);
        assert_eq!(table.lookup(&KEY, &REQUEST, 13_999), Lookup::Found(&7));
        assert_eq!(table.lookup(&KEY, &OTHER_REQUEST, 13_999), Lookup::Conflict);
        assert_eq!(table.lookup(&KEY, &REQUEST, 14_000), Lookup::Vacant);
        assert_eq!(table.len(), 0, "the expired entry was removed on access");
        assert_eq!(table.lookup(&KEY, &OTHER_REQUEST, 14_000), Lookup::Vacant);
    }

    #[test]
    fn a_failed_answer_is_forgotten_at_once() {
        let mut table = IdempotencyTable::default();
        table.insert(KEY, REQUEST, 7, 0);
        table.settle(&KEY, |v| *v == 7, false, 10);
        assert_eq!(table.lookup(&KEY, &REQUEST, 11), Lookup::Vacant);
    }

    #[test]
    fn settling_an_answer_the_key_no_longer_holds_changes_nothing() {
        let mut table = IdempotencyTable::default();
        table.insert(KEY, REQUEST, 1, 0);
        table.insert(KEY, REQUEST, 2, 5);
        table.settle(&KEY, |v| *v == 1, false, 10);
        assert_eq!(table.lookup(&KEY, &REQUEST, 11), Lookup::Found(&2));
        table.settle(&KEY, |v| *v == 1, true, 10);
        // Still in flight: it does not expire.
        assert_eq!(table.lookup(&KEY, &REQUEST, 100_000), Lookup::Found(&2));
    }

    #[test]
    fn expired_entries_go_on_the_next_touch_whatever_their_key() {
        let mut table = IdempotencyTable::default();
        for i in 0..1000u64 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&i.to_le_bytes());
            table.insert(key, REQUEST, i, 0);
            table.settle(&key, |_| true, true, i as i64);
        }
        assert_eq!(table.len(), 1000);
        // At 5.5 s the first 501 windows (finished at 0..=500 ms) are closed.
        table.insert(KEY, REQUEST, 0, 5_500);
        assert_eq!(table.len(), 1000 - 501 + 1);
        table.expire(10_000);
        assert_eq!(table.len(), 1, "only the one in flight is left");
    }

    #[test]
    fn a_key_taken_by_a_newer_answer_survives_the_old_ones_expiry() {
        let mut table = IdempotencyTable::default();
        table.insert(KEY, REQUEST, 1, 0);
        table.settle(&KEY, |v| *v == 1, true, 0);
        // A newer answer takes the key before the old window closes...
        table.insert(KEY, REQUEST, 2, 3_000);
        // ...so the old window closing leaves it alone, in flight...
        assert_eq!(table.lookup(&KEY, &REQUEST, 5_000), Lookup::Found(&2));
        table.settle(&KEY, |v| *v == 2, true, 6_000);
        // ...and then for its own 5 s.
        assert_eq!(table.lookup(&KEY, &REQUEST, 10_999), Lookup::Found(&2));
        assert_eq!(table.lookup(&KEY, &REQUEST, 11_000), Lookup::Vacant);
    }
}
