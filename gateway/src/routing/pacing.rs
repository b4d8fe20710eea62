//! Pacing per provider against thundering herds: a minimum gap between request starts and a rolling per-minute cap.

use std::collections::VecDeque;

const MINUTE_MS: i64 = 60_000;
/// Without a per-minute limit the gate still remembers starts for
/// `starts_last_minute`, up to this many (the count saturates there).
const TRACKED_WITHOUT_LIMIT: usize = 10_000;

/// What a caller asking to start a request must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Go,
    /// Wait this long, then go (min gap).
    WaitMs(i64),
    /// Over the per-minute limit: skip this provider for now.
    OverLimit {
        retry_in_ms: i64,
    },
}

/// The start times one provider handed out. One per provider.
#[derive(Debug, Default)]
pub struct RateGate {
    /// The latest reserved start (it may lie in the future when callers wait).
    last_start_ms: Option<i64>,
    /// Reserved starts of the last minute, oldest first; at most `rpm` of them
    /// (the rpm-th latest start is all the per-minute check needs).
    starts: VecDeque<i64>,
}

impl RateGate {
    /// Reserves a start slot: with `min_gap_ms`, starts are spaced at least that far apart (a caller told to wait
    /// has its slot reserved, so N concurrent callers get staggered waits 0, gap, 2*gap...); with `rpm`, at most
    /// `rpm` starts in any rolling 60 s, else OverLimit (not reserved).
    pub fn reserve(&mut self, now_ms: i64, min_gap_ms: Option<u64>, rpm: Option<u32>) -> Pace {
        let cutoff = now_ms.saturating_sub(MINUTE_MS);
        while self.starts.front().is_some_and(|&s| s <= cutoff) {
            self.starts.pop_front();
        }

        let slot = match (self.last_start_ms, min_gap_ms) {
            (Some(last), Some(gap)) => {
                let gap = i64::try_from(gap).unwrap_or(i64::MAX);
                now_ms.max(last.saturating_add(gap))
            }
            _ => now_ms,
        };

        if let Some(rpm) = rpm {
            let cap = rpm as usize;
            // Starts inside the minute that ends at our slot.
            let first_inside = self
                .starts
                .partition_point(|&s| s <= slot.saturating_sub(MINUTE_MS));
            let inside = self.starts.len() - first_inside;
            if inside >= cap {
                // The window frees up once enough of those starts age out:
                // with `inside - cap + 1` gone, one more start fits.
                let retry_in_ms = match self.starts.get(first_inside + inside - cap) {
                    Some(&s) => s.saturating_add(MINUTE_MS).saturating_sub(now_ms).max(1),
                    None => MINUTE_MS, // rpm = 0: nothing ever fits
                };
                return Pace::OverLimit { retry_in_ms };
            }
        }

        self.last_start_ms = Some(self.last_start_ms.map_or(slot, |last| last.max(slot)));
        // Keep the list sorted: a slot without a gap can precede one reserved
        // earlier with a gap (after a settings change).
        let at = self.starts.partition_point(|&s| s <= slot);
        self.starts.insert(at, slot);
        let keep = rpm.map_or(TRACKED_WITHOUT_LIMIT, |r| r as usize);
        while self.starts.len() > keep {
            self.starts.pop_front();
        }

        match slot - now_ms {
            0 => Pace::Go,
            wait => Pace::WaitMs(wait),
        }
    }

    /// Starts in the rolling minute that ends at `now_ms` (slots reserved for later are not counted yet).
    pub fn starts_last_minute(&self, now_ms: i64) -> u32 {
        let cutoff = now_ms.saturating_sub(MINUTE_MS);
        let n = self
            .starts
            .iter()
            .filter(|&&s| s > cutoff && s <= now_ms)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000_000;

    #[test]
    fn no_limits_always_go() {
        let mut g = RateGate::default();
        for i in 0..100 {
            assert_eq!(g.reserve(T0 + i, None, None), Pace::Go);
        }
        assert_eq!(g.starts_last_minute(T0 + 100), 100);
    }

    #[test]
    fn concurrent_callers_get_staggered_waits() {
        let mut g = RateGate::default();
        let waits: Vec<Pace> = (0..4).map(|_| g.reserve(T0, Some(250), None)).collect();
        assert_eq!(
            waits,
            vec![
                Pace::Go,
                Pace::WaitMs(250),
                Pace::WaitMs(500),
                Pace::WaitMs(750)
            ]
        );
        // Later callers queue after the last reserved slot, not after now.
        assert_eq!(g.reserve(T0 + 100, Some(250), None), Pace::WaitMs(900));
        // Once the queue has drained, a caller goes at once.
        assert_eq!(g.reserve(T0 + 5_000, Some(250), None), Pace::Go);
        assert_eq!(g.reserve(T0 + 5_249, Some(250), None), Pace::WaitMs(1));
    }

    #[test]
    fn spaced_callers_do_not_wait() {
        let mut g = RateGate::default();
        for i in 0..5 {
            assert_eq!(g.reserve(T0 + i * 300, Some(300), None), Pace::Go);
        }
    }

    #[test]
    fn rpm_caps_starts_in_a_rolling_minute() {
        let mut g = RateGate::default();
        assert_eq!(g.reserve(T0, None, Some(3)), Pace::Go);
        assert_eq!(g.reserve(T0 + 10_000, None, Some(3)), Pace::Go);
        assert_eq!(g.reserve(T0 + 20_000, None, Some(3)), Pace::Go);
        // The first start ages out at T0 + 60 s.
        assert_eq!(
            g.reserve(T0 + 30_000, None, Some(3)),
            Pace::OverLimit {
                retry_in_ms: 30_000
            }
        );
        // A refusal reserves nothing.
        assert_eq!(g.starts_last_minute(T0 + 30_000), 3);
        assert_eq!(
            g.reserve(T0 + 59_999, None, Some(3)),
            Pace::OverLimit { retry_in_ms: 1 }
        );
        assert_eq!(g.reserve(T0 + 60_000, None, Some(3)), Pace::Go);
        // Now the second start is the oldest in the window.
        assert_eq!(
            g.reserve(T0 + 60_001, None, Some(3)),
            Pace::OverLimit { retry_in_ms: 9_999 }
        );
        assert_eq!(g.starts_last_minute(T0 + 60_001), 3);
        assert_eq!(g.starts_last_minute(T0 + 200_000), 0);
    }

    #[test]
    fn memory_stays_bounded_by_rpm() {
        let mut g = RateGate::default();
        for i in 0..1_000 {
            g.reserve(T0 + i * 61_000, None, Some(5));
            assert!(g.starts.len() <= 5);
        }
        let mut g = RateGate::default();
        for i in 0..(TRACKED_WITHOUT_LIMIT as i64 + 500) {
            g.reserve(T0 + i / 1_000, None, None);
        }
        assert_eq!(g.starts.len(), TRACKED_WITHOUT_LIMIT);
    }

    #[test]
    fn a_lowered_rpm_takes_effect_at_once() {
        let mut g = RateGate::default();
        for i in 0..10 {
            assert_eq!(g.reserve(T0 + i, None, Some(100)), Pace::Go);
        }
        assert!(matches!(
            g.reserve(T0 + 10, None, Some(4)),
            Pace::OverLimit { .. }
        ));
    }

    #[test]
    fn zero_rpm_never_admits() {
        let mut g = RateGate::default();
        assert_eq!(
            g.reserve(T0, None, Some(0)),
            Pace::OverLimit {
                retry_in_ms: MINUTE_MS
            }
        );
    }

    #[test]
    fn gap_and_rpm_together() {
        let mut g = RateGate::default();
        // Gap 1 s, 2 per minute: the second caller waits, the third is over the limit
        // because the minute ending at its slot already holds two starts.
        assert_eq!(g.reserve(T0, Some(1_000), Some(2)), Pace::Go);
        assert_eq!(g.reserve(T0, Some(1_000), Some(2)), Pace::WaitMs(1_000));
        assert_eq!(
            g.reserve(T0, Some(1_000), Some(2)),
            Pace::OverLimit {
                retry_in_ms: 60_000
            }
        );
        // Reserved-but-not-started slots are not counted as started yet.
        assert_eq!(g.starts_last_minute(T0), 1);
        assert_eq!(g.starts_last_minute(T0 + 1_000), 2);
        // The refused caller did not push the gap queue further back.
        assert_eq!(g.reserve(T0 + 60_000, Some(1_000), Some(2)), Pace::Go);
    }
}
