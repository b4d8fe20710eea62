//! Cooldowns: when a connection, or one model on a connection, may be used again after it failed.
//!
//! Two scopes, kept apart on purpose: a connection cooldown (upstream retry
//! hint, else exponential backoff per strike) benches the whole account; a
//! model lockout (e.g. a daily quota on one model) benches only that model
//! and leaves the account's other models usable. Pure: the caller passes the time.

use std::collections::HashMap;

use serde::Serialize;

/// Why a (connection, model) pair may not be used now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Block {
    pub until_ms: i64,
    pub reason: String,
    /// "connection" or "model"
    pub scope: &'static str,
}

/// One active cooldown or lockout, for `/api/health`.
#[derive(Debug, Clone, Serialize)]
pub struct CooldownView {
    pub connection_id: i64,
    /// `None` for a connection cooldown, the model for a model lockout.
    pub model: Option<String>,
    pub until_ms: i64,
    pub remaining_ms: i64,
    pub reason: String,
    /// Consecutive cool-downs without a success (0 for a model lockout).
    pub strikes: u32,
}

#[derive(Debug, Clone)]
struct ConnectionCooldown {
    until_ms: i64,
    reason: String,
    strikes: u32,
    /// After this quiet time the strikes are forgotten and the entry dropped:
    /// a connection that failed last week starts again from the base delay.
    forget_at_ms: i64,
}

#[derive(Debug, Clone)]
struct ModelLock {
    until_ms: i64,
    reason: String,
}

/// Every connection cooldown and model lockout of the gateway.
/// Model lockouts kept before `lock_model` (which is not told the time)
/// prunes by the last time it saw; past twice this the soonest-ending lock
/// is dropped, so a flood of distinct model names cannot grow memory.
const MODEL_LOCKS_SOFT_CAP: usize = 1_024;
const MODEL_LOCKS_HARD_CAP: usize = 2 * MODEL_LOCKS_SOFT_CAP;

/// Every connection cooldown and model lockout of the gateway.
#[derive(Debug, Default)]
pub struct Cooldowns {
    connections: HashMap<i64, ConnectionCooldown>,
    models: HashMap<(i64, String), ModelLock>,
    /// The latest `now_ms` a clocked write saw, for pruning in `lock_model`.
    last_now_ms: Option<i64>,
}

impl Cooldowns {
    /// Cools a connection: until `hint_until_ms` when the upstream said (Retry-After etc.),
    /// else exponential backoff base_ms * 2^(strikes) capped at max_ms. Returns the until time.
    ///
    /// Every call is a strike, hinted or not, so the next unhinted failure
    /// waits longer. A hint is not capped by `max_ms`: the upstream knows
    /// when its quota resets. A cooldown that already ends later is kept
    /// (with its reason): a short 5xx backoff must not shorten a quota
    /// reset learned a moment earlier from a concurrent request.
    pub fn cool_connection(
        &mut self,
        connection_id: i64,
        now_ms: i64,
        hint_until_ms: Option<i64>,
        base_ms: i64,
        max_ms: i64,
        reason: &str,
    ) -> i64 {
        self.prune(now_ms);
        let max_ms = max_ms.max(0);
        let previous = self.connections.get(&connection_id).cloned();
        let strikes = previous.as_ref().map_or(0, |p| p.strikes);
        let until = match hint_until_ms {
            Some(hint) => hint.max(now_ms),
            None => now_ms.saturating_add(backoff(strikes, base_ms, max_ms)),
        };
        let (until, reason) = match previous {
            Some(p) if p.until_ms > until => (p.until_ms, p.reason),
            _ => (until, reason.to_owned()),
        };
        self.connections.insert(
            connection_id,
            ConnectionCooldown {
                until_ms: until,
                reason,
                strikes: strikes.saturating_add(1),
                forget_at_ms: until.saturating_add(max_ms),
            },
        );
        until
    }

    /// Locks one model on a connection until `until_ms`; a lock that already
    /// ends later is kept.
    pub fn lock_model(&mut self, connection_id: i64, model: &str, until_ms: i64, reason: &str) {
        let key = (connection_id, model.to_owned());
        if self
            .models
            .get(&key)
            .is_some_and(|lock| lock.until_ms >= until_ms)
        {
            return;
        }
        self.models.insert(
            key,
            ModelLock {
                until_ms,
                reason: reason.to_owned(),
            },
        );
        if self.models.len() > MODEL_LOCKS_SOFT_CAP
            && let Some(now_ms) = self.last_now_ms
        {
            self.models.retain(|_, m| m.until_ms > now_ms);
        }
        while self.models.len() > MODEL_LOCKS_HARD_CAP {
            let soonest = self
                .models
                .iter()
                .min_by_key(|(_, m)| m.until_ms)
                .map(|(k, _)| k.clone());
            match soonest {
                Some(k) => self.models.remove(&k),
                None => break,
            };
        }
    }

    /// A success clears the connection's strikes (and its cooldown). Model
    /// lockouts stay: a success on one model says nothing about another's quota.
    pub fn on_success(&mut self, connection_id: i64) {
        self.connections.remove(&connection_id);
    }

    /// Why (connection_id, model) may not be used now, if it may not. When
    /// both scopes block, the one that ends later is returned, since that is
    /// when the pair becomes usable.
    pub fn blocked(&self, connection_id: i64, model: &str, now_ms: i64) -> Option<Block> {
        let connection = self
            .connections
            .get(&connection_id)
            .filter(|c| c.until_ms > now_ms)
            .map(|c| Block {
                until_ms: c.until_ms,
                reason: c.reason.clone(),
                scope: "connection",
            });
        let model = self
            .models
            .get(&(connection_id, model.to_owned()))
            .filter(|m| m.until_ms > now_ms)
            .map(|m| Block {
                until_ms: m.until_ms,
                reason: m.reason.clone(),
                scope: "model",
            });
        match (connection, model) {
            (Some(c), Some(m)) => Some(if m.until_ms > c.until_ms { m } else { c }),
            (c, m) => c.or(m),
        }
    }

    /// Active cooldowns and lockouts, sorted by connection then model
    /// (connection-wide first); expired entries are not listed.
    pub fn active(&self, now_ms: i64) -> Vec<CooldownView> {
        let mut views: Vec<CooldownView> = self
            .connections
            .iter()
            .filter(|(_, c)| c.until_ms > now_ms)
            .map(|(&id, c)| CooldownView {
                connection_id: id,
                model: None,
                until_ms: c.until_ms,
                remaining_ms: c.until_ms.saturating_sub(now_ms),
                reason: c.reason.clone(),
                strikes: c.strikes,
            })
            .chain(self.models.iter().filter(|(_, m)| m.until_ms > now_ms).map(
                |((id, model), m)| CooldownView {
                    connection_id: *id,
                    model: Some(model.clone()),
                    until_ms: m.until_ms,
                    remaining_ms: m.until_ms.saturating_sub(now_ms),
                    reason: m.reason.clone(),
                    strikes: 0,
                },
            ))
            .collect();
        views.sort_by(|a, b| (a.connection_id, &a.model).cmp(&(b.connection_id, &b.model)));
        views
    }

    /// Consecutive cool-downs of a connection since its last success.
    pub fn strikes(&self, connection_id: i64) -> u32 {
        self.connections
            .get(&connection_id)
            .map_or(0, |c| c.strikes)
    }

    /// Forgets every cooldown, strike and lockout (the health "reset" action).
    pub fn clear(&mut self) {
        self.connections.clear();
        self.models.clear();
    }

    /// Drops what can no longer block anything. `cool_connection` runs it on
    /// every call: writes happen on failures only and the maps hold a few
    /// entries per configured connection, so a full pass is cheap and keeps
    /// memory bounded by the live entries. Callers may also run it from a
    /// periodic task or the health report.
    pub fn prune(&mut self, now_ms: i64) {
        self.last_now_ms = Some(now_ms);
        self.connections.retain(|_, c| c.forget_at_ms > now_ms);
        self.models.retain(|_, m| m.until_ms > now_ms);
    }
}

/// base * 2^strikes, capped at `max_ms`, never negative.
fn backoff(strikes: u32, base_ms: i64, max_ms: i64) -> i64 {
    let base = base_ms.max(0);
    let factor = 1_i64.checked_shl(strikes.min(62)).unwrap_or(i64::MAX);
    base.saturating_mul(factor).min(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 1_000;
    const MAX: i64 = 60_000;

    #[test]
    fn backoff_doubles_per_strike_and_caps() {
        let mut c = Cooldowns::default();
        let mut waits = Vec::new();
        let mut now = 0;
        for _ in 0..9 {
            let until = c.cool_connection(7, now, None, BASE, MAX, "500");
            waits.push(until - now);
            now = until;
        }
        assert_eq!(
            waits,
            vec![
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000
            ]
        );
        assert_eq!(c.strikes(7), 9);
    }

    #[test]
    fn backoff_survives_huge_strike_counts() {
        assert_eq!(backoff(u32::MAX, BASE, MAX), MAX);
        assert_eq!(backoff(63, i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(backoff(3, -5, MAX), 0);
    }

    #[test]
    fn hint_is_respected_even_beyond_the_cap() {
        let mut c = Cooldowns::default();
        let until = c.cool_connection(1, 1_000, Some(3_601_000), BASE, MAX, "429");
        assert_eq!(until, 3_601_000);
        let block = c.blocked(1, "gpt-4o", 2_000);
        assert_eq!(
            block,
            Some(Block {
                until_ms: 3_601_000,
                reason: "429".into(),
                scope: "connection"
            })
        );
        // A hint in the past means "now": no wait, but still a strike.
        let mut d = Cooldowns::default();
        assert_eq!(
            d.cool_connection(2, 5_000, Some(10), BASE, MAX, "429"),
            5_000
        );
        assert_eq!(d.blocked(2, "m", 5_000), None);
        assert_eq!(d.strikes(2), 1);
    }

    #[test]
    fn hinted_strikes_still_grow_the_next_backoff() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, Some(500), BASE, MAX, "429");
        assert_eq!(c.cool_connection(1, 500, None, BASE, MAX, "503"), 2_500);
    }

    #[test]
    fn a_later_cooldown_is_not_shortened() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, Some(100_000), BASE, MAX, "quota");
        assert_eq!(c.cool_connection(1, 10, None, BASE, MAX, "502"), 100_000);
        let block = c.blocked(1, "m", 50_000);
        assert_eq!(block.map(|b| b.reason), Some("quota".to_owned()));
    }

    #[test]
    fn success_resets_strikes_and_cooldown() {
        let mut c = Cooldowns::default();
        c.cool_connection(3, 0, None, BASE, MAX, "500");
        c.cool_connection(3, 1_000, None, BASE, MAX, "500");
        assert_eq!(c.strikes(3), 2);
        c.on_success(3);
        assert_eq!(c.strikes(3), 0);
        assert_eq!(c.blocked(3, "m", 1_500), None);
        assert_eq!(c.cool_connection(3, 2_000, None, BASE, MAX, "500"), 3_000);
    }

    #[test]
    fn model_lockouts_are_independent_per_model_and_connection() {
        let mut c = Cooldowns::default();
        c.lock_model(1, "gemini-2.5-pro", 86_400_000, "daily quota");
        assert_eq!(
            c.blocked(1, "gemini-2.5-pro", 1_000),
            Some(Block {
                until_ms: 86_400_000,
                reason: "daily quota".into(),
                scope: "model"
            })
        );
        assert_eq!(c.blocked(1, "gemini-2.5-flash", 1_000), None);
        assert_eq!(c.blocked(2, "gemini-2.5-pro", 1_000), None);
        // A success on the connection does not lift a model's quota lock.
        c.on_success(1);
        assert!(c.blocked(1, "gemini-2.5-pro", 1_000).is_some());
    }

    #[test]
    fn a_longer_model_lock_is_kept() {
        let mut c = Cooldowns::default();
        c.lock_model(1, "m", 10_000, "daily");
        c.lock_model(1, "m", 5_000, "minute");
        assert_eq!(c.blocked(1, "m", 0).map(|b| b.until_ms), Some(10_000));
        c.lock_model(1, "m", 20_000, "weekly");
        assert_eq!(
            c.blocked(1, "m", 0).map(|b| b.reason),
            Some("weekly".to_owned())
        );
    }

    #[test]
    fn blocked_returns_the_scope_that_ends_later() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        c.lock_model(1, "m", 50_000, "daily");
        assert_eq!(c.blocked(1, "m", 0).map(|b| b.scope), Some("model"));
        assert_eq!(
            c.blocked(1, "other", 0).map(|b| b.scope),
            Some("connection")
        );
        c.cool_connection(1, 0, Some(90_000), BASE, MAX, "429");
        assert_eq!(c.blocked(1, "m", 0).map(|b| b.scope), Some("connection"));
    }

    #[test]
    fn expiry_unblocks_and_hides_entries() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        c.lock_model(2, "m", 5_000, "daily");
        assert_eq!(c.active(0).len(), 2);
        assert!(c.blocked(1, "m", 999).is_some());
        assert_eq!(c.blocked(1, "m", 1_000), None);
        let views = c.active(1_000);
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].connection_id, 2);
        assert_eq!(views[0].model.as_deref(), Some("m"));
        assert_eq!(views[0].remaining_ms, 4_000);
        assert_eq!(c.blocked(2, "m", 5_000), None);
        assert!(c.active(5_000).is_empty());
    }

    #[test]
    fn active_is_sorted_and_reports_strikes() {
        let mut c = Cooldowns::default();
        c.lock_model(2, "b", 9_000, "daily");
        c.cool_connection(2, 0, None, BASE, MAX, "500");
        c.lock_model(2, "a", 9_000, "daily");
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        let views = c.active(0);
        let keys: Vec<(i64, Option<&str>, u32)> = views
            .iter()
            .map(|v| (v.connection_id, v.model.as_deref(), v.strikes))
            .collect();
        assert_eq!(
            keys,
            vec![
                (1, None, 2),
                (2, None, 1),
                (2, Some("a"), 0),
                (2, Some("b"), 0)
            ]
        );
        assert_eq!(views[0].until_ms, 2_000);
    }

    #[test]
    fn strikes_are_forgotten_after_a_quiet_period() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        c.cool_connection(1, 1_000, None, BASE, MAX, "500");
        // Ended at 3_000; quiet until 3_000 + MAX: back to the base delay.
        let later = 3_000 + MAX;
        assert_eq!(
            c.cool_connection(1, later, None, BASE, MAX, "500"),
            later + BASE
        );
        assert_eq!(c.strikes(1), 1);
    }

    #[test]
    fn expired_entries_are_pruned_on_write() {
        let mut c = Cooldowns::default();
        for id in 0..1_000 {
            c.cool_connection(id, 0, None, BASE, MAX, "500");
            c.lock_model(id, "m", 1_000, "daily");
        }
        assert_eq!(c.connections.len(), 1_000);
        let later = BASE + MAX;
        c.cool_connection(5_000, later, None, BASE, MAX, "500");
        c.lock_model(5_000, "m", later + 10, "daily");
        assert_eq!(c.connections.len(), 1);
        assert_eq!(c.models.len(), 1);
    }

    #[test]
    fn model_locks_stay_bounded_without_a_clock() {
        let mut c = Cooldowns::default();
        for i in 0..5_000 {
            c.lock_model(1, &format!("model-{i}"), i64::from(i) + 1, "daily");
        }
        assert!(c.models.len() <= MODEL_LOCKS_HARD_CAP);
        // The newest (latest-ending) locks are the ones kept.
        assert!(c.blocked(1, "model-4999", 0).is_some());
        assert!(c.blocked(1, "model-0", 0).is_none());
    }

    #[test]
    fn model_locks_prune_by_the_last_seen_clock() {
        let mut c = Cooldowns::default();
        c.prune(10_000);
        for i in 0..MODEL_LOCKS_SOFT_CAP {
            c.lock_model(1, &format!("old-{i}"), 5_000, "daily");
        }
        c.lock_model(1, "fresh", 20_000, "daily");
        assert_eq!(c.models.len(), 1);
    }

    #[test]
    fn clear_forgets_everything() {
        let mut c = Cooldowns::default();
        c.cool_connection(1, 0, None, BASE, MAX, "500");
        c.lock_model(1, "m", 9_000, "daily");
        c.clear();
        assert!(c.active(0).is_empty());
        assert_eq!(c.strikes(1), 0);
    }
}
