//! Circuit breaker: stops sending calls to a connection or provider that keeps failing, then lets one probe test it.
//!
//! Pure state machine over a caller-supplied clock (`now_ms`), so the fallback
//! loop owns the I/O and tests drive time with plain numbers.
//!
//! ```text
//!   Closed --(failure_threshold failures within window_ms)--> Open   [Opened]
//!   Open   --(cooldown_ms passed, first admit)--------------> HalfOpen (probe out)
//!   HalfOpen --probe success--> Closed                               [Recovered]
//!   HalfOpen --probe failure--> Open for another cooldown            (no event)
//!   HalfOpen --probe released (no verdict)--> next admit probes again
//! ```
//!
//! A probe failure does not report `Opened` again: the provider never came
//! back, so a second `ProviderDown` would only repeat the first one.

use std::collections::VecDeque;

use serde::Serialize;

/// How eager a breaker is to open and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures inside `window_ms` that open the breaker (0 behaves as 1).
    pub failure_threshold: u32,
    /// Sliding window in which failures are counted.
    pub window_ms: i64,
    /// How long an open breaker rejects calls before one probe may pass.
    pub cooldown_ms: i64,
}

/// What a breaker looks like from outside (health report, candidate filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// The answer to "may I send a call now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// This call is the half-open probe: its verdict closes or re-opens the breaker.
    Probe,
    Rejected {
        retry_in_ms: i64,
    },
}

/// A state change worth an event (`ProviderDown` / `ProviderRecovered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Recovered,
}

/// A serializable picture of one breaker, for `/api/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerView {
    pub state: BreakerState,
    pub opened_until_ms: Option<i64>,
    pub recent_failures: u32,
}

/// One breaker (one per connection and one per provider). `Default` is closed.
#[derive(Debug, Clone, Default)]
pub struct CircuitBreaker {
    /// Times of the most recent failures while closed, oldest first; never
    /// longer than the threshold because older ones cannot change the verdict.
    failures: VecDeque<i64>,
    /// `Some` while open or half-open: the end of the current cooldown.
    open_until: Option<i64>,
    /// When the current probe was let through, if one is out.
    probe_since: Option<i64>,
}

impl CircuitBreaker {
    /// Decides whether a call may go out now. After the cooldown only the
    /// first caller gets [`Admission::Probe`]; the others wait for its verdict.
    pub fn admit(&mut self, now_ms: i64, cfg: &BreakerConfig) -> Admission {
        let Some(until) = self.open_until else {
            return Admission::Allowed;
        };
        let cooldown = cfg.cooldown_ms.max(0);
        // A clock that jumped backwards must not stretch a cooldown beyond one
        // full period.
        let until = if until.saturating_sub(now_ms) > cooldown {
            let fixed = now_ms.saturating_add(cooldown);
            self.open_until = Some(fixed);
            fixed
        } else {
            until
        };
        if let Some(since) = self.probe_since {
            // A probe whose owner never reported (a leak in the caller) must not
            // hold the breaker half-open forever: after one cooldown it lapses.
            let lapses_at = since.saturating_add(cooldown);
            let went_back = now_ms < since;
            if now_ms < lapses_at && !went_back {
                return Admission::Rejected {
                    retry_in_ms: lapses_at.saturating_sub(now_ms).max(1),
                };
            }
            if went_back {
                // Restart the probe lease on the new clock instead of waiting for
                // the old one to catch up.
                self.probe_since = Some(now_ms);
                return Admission::Rejected {
                    retry_in_ms: cooldown.max(1),
                };
            }
        } else if now_ms < until {
            return Admission::Rejected {
                retry_in_ms: until.saturating_sub(now_ms).max(1),
            };
        }
        self.probe_since = Some(now_ms);
        Admission::Probe
    }

    /// Records a successful call. Only a probe's success closes an open
    /// breaker; a late success from a call admitted before it opened proves
    /// less than a fresh probe, so it is ignored.
    pub fn on_success(&mut self, _now_ms: i64) -> Option<Transition> {
        if self.probe_since.is_some() {
            self.failures.clear();
            self.open_until = None;
            self.probe_since = None;
            return Some(Transition::Recovered);
        }
        None
    }

    /// Records a failed call. Returns `Some(Opened)` only when this failure
    /// opens a closed breaker.
    pub fn on_failure(&mut self, now_ms: i64, cfg: &BreakerConfig) -> Option<Transition> {
        let cooldown = cfg.cooldown_ms.max(0);
        if self.open_until.is_some() {
            if self.probe_since.take().is_some() {
                self.open_until = Some(now_ms.saturating_add(cooldown));
            }
            // Without a probe out, this is a straggler admitted before the
            // breaker opened: the breaker already knows.
            return None;
        }
        let threshold = cfg.failure_threshold.max(1) as usize;
        self.prune(now_ms, cfg.window_ms);
        self.failures.push_back(now_ms);
        while self.failures.len() > threshold {
            self.failures.pop_front();
        }
        if self.failures.len() >= threshold {
            self.failures.clear();
            self.open_until = Some(now_ms.saturating_add(cooldown));
            return Some(Transition::Opened);
        }
        None
    }

    /// A probe (or an admitted call) ended with no verdict (client error, caller
    /// left): let another probe through later.
    pub fn release_probe(&mut self) {
        self.probe_since = None;
    }

    /// Open whose cooldown passed reports `HalfOpen`, as does one with a probe out.
    pub fn state(&self, now_ms: i64) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(_) if self.probe_since.is_some() => BreakerState::HalfOpen,
            Some(until) if now_ms >= until => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// End of the current cooldown while open or half-open.
    pub fn opened_until_ms(&self) -> Option<i64> {
        self.open_until
    }

    /// Failures inside the window while closed (an open breaker has forgotten
    /// the failures that opened it, so it reports 0).
    pub fn recent_failures(&self, now_ms: i64, cfg: &BreakerConfig) -> u32 {
        let count = self
            .failures
            .iter()
            .filter(|&&at| in_window(at, now_ms, cfg.window_ms))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Everything the health report shows about this breaker.
    pub fn view(&self, now_ms: i64, cfg: &BreakerConfig) -> BreakerView {
        BreakerView {
            state: self.state(now_ms),
            opened_until_ms: self.open_until,
            recent_failures: self.recent_failures(now_ms, cfg),
        }
    }

    fn prune(&mut self, now_ms: i64, window_ms: i64) {
        self.failures.retain(|&at| in_window(at, now_ms, window_ms));
        // Failures stamped in the future (the clock went back) are re-stamped
        // to now so they age out one window from here rather than never.
        for at in self.failures.iter_mut() {
            if *at > now_ms {
                *at = now_ms;
            }
        }
    }
}

/// Whether a failure at `at` still counts at `now_ms`. One from the future
/// (the clock went back) counts: it is as recent as anything can be.
fn in_window(at: i64, now_ms: i64, window_ms: i64) -> bool {
    now_ms.saturating_sub(at) < window_ms.max(0) || at > now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: BreakerConfig = BreakerConfig {
        failure_threshold: 3,
        window_ms: 10_000,
        cooldown_ms: 5_000,
    };

    /// A breaker opened at `t` by three failures.
    fn opened_at(t: i64) -> CircuitBreaker {
        let mut b = CircuitBreaker::default();
        assert_eq!(b.on_failure(t - 2, &CFG), None);
        assert_eq!(b.on_failure(t - 1, &CFG), None);
        assert_eq!(b.on_failure(t, &CFG), Some(Transition::Opened));
        b
    }

    #[test]
    fn default_is_closed_and_allows() {
        let mut b = CircuitBreaker::default();
        assert_eq!(b.state(0), BreakerState::Closed);
        assert_eq!(b.admit(0, &CFG), Admission::Allowed);
        assert_eq!(b.opened_until_ms(), None);
        assert_eq!(b.recent_failures(0, &CFG), 0);
    }

    #[test]
    fn opens_at_threshold_and_rejects_with_remaining_cooldown() {
        let mut b = CircuitBreaker::default();
        assert_eq!(b.on_failure(1_000, &CFG), None);
        assert_eq!(b.on_failure(2_000, &CFG), None);
        assert_eq!(b.recent_failures(2_000, &CFG), 2);
        assert_eq!(b.state(2_000), BreakerState::Closed);
        assert_eq!(b.on_failure(3_000, &CFG), Some(Transition::Opened));
        assert_eq!(b.state(3_000), BreakerState::Open);
        assert_eq!(b.opened_until_ms(), Some(8_000));
        assert_eq!(
            b.admit(4_000, &CFG),
            Admission::Rejected { retry_in_ms: 4_000 }
        );
        assert_eq!(b.state(7_999), BreakerState::Open);
        assert_eq!(b.state(8_000), BreakerState::HalfOpen);
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let mut b = CircuitBreaker::default();
        b.on_failure(0, &CFG);
        b.on_failure(5_000, &CFG);
        // The first failure is exactly one window old: it no longer counts.
        assert_eq!(b.recent_failures(10_000, &CFG), 1);
        assert_eq!(b.on_failure(10_000, &CFG), None);
        assert_eq!(b.state(10_000), BreakerState::Closed);
        assert_eq!(b.on_failure(14_999, &CFG), Some(Transition::Opened));
    }

    #[test]
    fn success_while_closed_does_not_reset_the_count() {
        let mut b = CircuitBreaker::default();
        b.on_failure(0, &CFG);
        b.on_failure(1, &CFG);
        assert_eq!(b.on_success(2), None);
        assert_eq!(b.on_failure(3, &CFG), Some(Transition::Opened));
    }

    #[test]
    fn only_one_probe_after_cooldown() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        assert_eq!(b.state(6_000), BreakerState::HalfOpen);
        assert!(matches!(b.admit(6_001, &CFG), Admission::Rejected { .. }));
        assert!(matches!(b.admit(9_000, &CFG), Admission::Rejected { .. }));
    }

    #[test]
    fn probe_success_recovers_and_clears_failures() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        assert_eq!(b.on_success(6_500), Some(Transition::Recovered));
        assert_eq!(b.state(6_500), BreakerState::Closed);
        assert_eq!(b.opened_until_ms(), None);
        assert_eq!(b.admit(6_600, &CFG), Admission::Allowed);
        // The count starts from zero again.
        assert_eq!(b.on_failure(6_700, &CFG), None);
        assert_eq!(b.on_failure(6_800, &CFG), None);
        assert_eq!(b.on_failure(6_900, &CFG), Some(Transition::Opened));
    }

    #[test]
    fn probe_failure_reopens_for_another_cooldown_without_a_new_event() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        assert_eq!(b.on_failure(6_200, &CFG), None);
        assert_eq!(b.state(6_200), BreakerState::Open);
        assert_eq!(b.opened_until_ms(), Some(11_200));
        assert_eq!(
            b.admit(7_200, &CFG),
            Admission::Rejected { retry_in_ms: 4_000 }
        );
        assert_eq!(b.admit(11_200, &CFG), Admission::Probe);
        assert_eq!(b.on_success(11_300), Some(Transition::Recovered));
    }

    #[test]
    fn released_probe_lets_the_next_caller_probe() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        b.release_probe();
        assert_eq!(b.state(6_100), BreakerState::HalfOpen);
        assert_eq!(b.admit(6_100, &CFG), Admission::Probe);
    }

    #[test]
    fn a_leaked_probe_lapses_after_one_cooldown() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        assert_eq!(
            b.admit(10_999, &CFG),
            Admission::Rejected { retry_in_ms: 1 }
        );
        assert_eq!(b.admit(11_000, &CFG), Admission::Probe);
    }

    #[test]
    fn stragglers_do_not_move_an_open_breaker() {
        let mut b = opened_at(1_000);
        // Calls admitted before the breaker opened report late.
        assert_eq!(b.on_success(2_000), None);
        assert_eq!(b.on_failure(2_000, &CFG), None);
        assert_eq!(b.state(2_000), BreakerState::Open);
        assert_eq!(b.opened_until_ms(), Some(6_000));
    }

    #[test]
    fn release_without_a_probe_is_harmless() {
        let mut b = CircuitBreaker::default();
        b.release_probe();
        assert_eq!(b.admit(0, &CFG), Admission::Allowed);
        let mut open = opened_at(1_000);
        open.release_probe();
        assert_eq!(open.state(2_000), BreakerState::Open);
    }

    #[test]
    fn clock_going_backwards_while_open_caps_the_wait_to_one_cooldown() {
        let mut b = opened_at(1_000_000);
        // The clock jumps back by a day.
        let back = 1_000_000 - 86_400_000;
        assert_eq!(
            b.admit(back, &CFG),
            Admission::Rejected { retry_in_ms: 5_000 }
        );
        assert_eq!(b.admit(back + 5_000, &CFG), Admission::Probe);
    }

    #[test]
    fn clock_going_backwards_during_a_probe_restarts_its_lease() {
        let mut b = opened_at(1_000);
        assert_eq!(b.admit(6_000, &CFG), Admission::Probe);
        assert_eq!(
            b.admit(100, &CFG),
            Admission::Rejected { retry_in_ms: 5_000 }
        );
        assert_eq!(b.admit(5_100, &CFG), Admission::Probe);
        assert_eq!(b.on_success(5_200), Some(Transition::Recovered));
    }

    #[test]
    fn clock_going_backwards_while_closed_still_counts_and_ages_out() {
        let mut b = CircuitBreaker::default();
        b.on_failure(50_000, &CFG);
        b.on_failure(50_001, &CFG);
        // Back in time: the future failures count as recent.
        assert_eq!(b.recent_failures(0, &CFG), 2);
        assert_eq!(b.on_failure(0, &CFG), Some(Transition::Opened));

        let mut c = CircuitBreaker::default();
        c.on_failure(50_000, &CFG);
        c.on_failure(10, &CFG);
        // Re-stamped to 10 on the way in, they age out one window later.
        assert_eq!(c.recent_failures(10_009, &CFG), 2);
        assert_eq!(c.recent_failures(10_010, &CFG), 0);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut b = CircuitBreaker::default();
        let cfg = BreakerConfig {
            failure_threshold: 1,
            window_ms: i64::MAX,
            cooldown_ms: i64::MAX,
        };
        assert_eq!(b.on_failure(i64::MAX, &cfg), Some(Transition::Opened));
        assert_eq!(b.opened_until_ms(), Some(i64::MAX));
        assert!(matches!(
            b.admit(i64::MIN, &cfg),
            Admission::Rejected { .. }
        ));
        assert_eq!(b.recent_failures(i64::MIN, &cfg), 0);
    }

    #[test]
    fn zero_threshold_opens_on_the_first_failure() {
        let cfg = BreakerConfig {
            failure_threshold: 0,
            ..CFG
        };
        let mut b = CircuitBreaker::default();
        assert_eq!(b.on_failure(0, &cfg), Some(Transition::Opened));
    }

    #[test]
    fn failure_memory_is_bounded_by_the_threshold() {
        let cfg = BreakerConfig {
            failure_threshold: 1_000,
            window_ms: 1,
            cooldown_ms: 1,
        };
        let mut b = CircuitBreaker::default();
        for t in 0..100_000 {
            // One failure per window: never opens, never piles up.
            assert_eq!(b.on_failure(t * 2, &cfg), None);
        }
        assert!(b.failures.len() <= 1);
    }

    #[test]
    fn view_reports_state_and_failures() {
        let mut b = CircuitBreaker::default();
        b.on_failure(0, &CFG);
        let v = b.view(1, &CFG);
        assert_eq!(v.state, BreakerState::Closed);
        assert_eq!(v.recent_failures, 1);
        assert_eq!(
            serde_json::to_value(opened_at(10).view(11, &CFG)).ok(),
            Some(
                serde_json::json!({"state": "open", "opened_until_ms": 5_010, "recent_failures": 0})
            )
        );
        assert_eq!(
            serde_json::to_value(BreakerState::HalfOpen).ok(),
            Some(serde_json::json!("half-open"))
        );
    }
}
