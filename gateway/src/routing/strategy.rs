//! Strategies: the order in which a combo's entries (or a provider's accounts) are tried.

use rand::Rng;

use super::Strategy;

/// What the strategy knows about one candidate (a combo entry or an account).
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub in_flight: u32,
    /// Requests in the current least-used window.
    pub recent_requests: u64,
    /// Blended USD per million tokens (None = unknown price).
    pub price: Option<f64>,
    /// At least one account usable now: not disabled, not cooling down,
    /// quota left, breakers not open. (Budgets are checked per call.)
    pub healthy: bool,
}

/// Returns every index of `loads` exactly once: the chosen candidate first, then the fallback order.
///
/// `turn` is the round-robin counter value for this request (the caller increments a shared atomic),
/// `sticky` the round-robin batch size (`sticky` requests in a row go to the same candidate; 0 counts as 1).
/// Healthy candidates always come before unhealthy ones (each group keeps the strategy's order), so a
/// healthy candidate is tried first whenever there is one.
pub fn order(
    strategy: Strategy,
    loads: &[Load],
    turn: u64,
    sticky: u32,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let n = loads.len();
    if n == 0 {
        return Vec::new();
    }
    let base: Vec<usize> = match strategy {
        Strategy::FillFirst => (0..n).collect(),
        Strategy::RoundRobin => {
            // usize -> u64 never loses bits on supported targets, and the
            // remainder is < n, so it converts back losslessly.
            let start = ((turn / u64::from(sticky.max(1))) % n as u64) as usize;
            (start..n).chain(0..start).collect()
        }
        Strategy::PowerOfTwoChoices => {
            let pool = draw_pool(loads);
            let lead = if pool.len() < 2 {
                pool
            } else {
                let a = rng.random_range(0..pool.len());
                // Drawing from len-1 and skipping `a` gives a uniformly random
                // second candidate distinct from the first.
                let mut b = rng.random_range(0..pool.len() - 1);
                if b >= a {
                    b += 1;
                }
                let (x, y) = (pool[a], pool[b]);
                let x_first = match loads[x].in_flight.cmp(&loads[y].in_flight) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Greater => false,
                    std::cmp::Ordering::Equal => rng.random_bool(0.5),
                };
                if x_first { vec![x, y] } else { vec![y, x] }
            };
            lead_then_rest(&lead, n)
        }
        Strategy::Random => {
            let pool = draw_pool(loads);
            let pick = pool[rng.random_range(0..pool.len())];
            lead_then_rest(&[pick], n)
        }
        Strategy::LeastUsed => {
            let mut idx: Vec<usize> = (0..n).collect();
            // sort_by_key is stable: equal counts keep list order.
            idx.sort_by_key(|&i| loads[i].recent_requests);
            idx
        }
        Strategy::CostOptimized => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(
                |&a, &b| match (known_price(&loads[a]), known_price(&loads[b])) {
                    (Some(pa), Some(pb)) => pa.total_cmp(&pb),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                },
            );
            idx
        }
    };
    healthy_first(base, loads)
}

/// The candidates random choices draw from: the healthy ones, or all when none is healthy
/// (a request must still go somewhere rather than fail without trying).
fn draw_pool(loads: &[Load]) -> Vec<usize> {
    let healthy: Vec<usize> = (0..loads.len()).filter(|&i| loads[i].healthy).collect();
    if healthy.is_empty() {
        (0..loads.len()).collect()
    } else {
        healthy
    }
}

/// A price usable for comparison; NaN or negative numbers are as good as unknown.
fn known_price(load: &Load) -> Option<f64> {
    load.price.filter(|p| p.is_finite() && *p >= 0.0)
}

/// `lead` in the given order, then every other index in list order.
fn lead_then_rest(lead: &[usize], n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(lead);
    out.extend((0..n).filter(|i| !lead.contains(i)));
    out
}

/// Stable partition: healthy candidates first, each group keeping its relative order.
fn healthy_first(base: Vec<usize>, loads: &[Load]) -> Vec<usize> {
    let (mut healthy, unhealthy): (Vec<usize>, Vec<usize>) =
        base.into_iter().partition(|&i| loads[i].healthy);
    healthy.extend(unhealthy);
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn healthy(n: usize) -> Vec<Load> {
        vec![
            Load {
                healthy: true,
                ..Load::default()
            };
            n
        ]
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0x5eed_0f0a_11ed)
    }

    const ALL: [Strategy; 6] = [
        Strategy::FillFirst,
        Strategy::RoundRobin,
        Strategy::PowerOfTwoChoices,
        Strategy::Random,
        Strategy::LeastUsed,
        Strategy::CostOptimized,
    ];

    fn is_permutation(order: &[usize], n: usize) -> bool {
        let mut sorted = order.to_vec();
        sorted.sort_unstable();
        sorted == (0..n).collect::<Vec<_>>()
    }

    #[test]
    fn empty_input_gives_empty_order() {
        for s in ALL {
            assert!(order(s, &[], 7, 1, &mut rng()).is_empty(), "{s:?}");
        }
    }

    #[test]
    fn every_strategy_returns_a_permutation() {
        let mut r = rng();
        for n in 1..=6 {
            let mut loads = healthy(n);
            for (i, l) in loads.iter_mut().enumerate() {
                l.in_flight = (i as u32 * 7) % 3;
                l.recent_requests = (i as u64 * 5) % 4;
                l.price = if i % 3 == 0 { None } else { Some(i as f64) };
                l.healthy = i % 4 != 1;
            }
            for s in ALL {
                for turn in 0..10 {
                    let o = order(s, &loads, turn, 2, &mut r);
                    assert!(is_permutation(&o, n), "{s:?} n={n} turn={turn}: {o:?}");
                }
            }
        }
    }

    #[test]
    fn fill_first_is_list_order() {
        assert_eq!(
            order(Strategy::FillFirst, &healthy(4), 9, 1, &mut rng()),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn least_used_sorts_by_recent_requests_stably() {
        let mut loads = healthy(5);
        for (l, r) in loads.iter_mut().zip([5, 2, 9, 2, 0]) {
            l.recent_requests = r;
        }
        assert_eq!(
            order(Strategy::LeastUsed, &loads, 0, 1, &mut rng()),
            vec![4, 1, 3, 0, 2]
        );
    }

    #[test]
    fn cost_optimized_puts_cheapest_first_and_unknown_last() {
        let mut loads = healthy(6);
        let prices = [None, Some(3.0), Some(0.5), None, Some(3.0), Some(f64::NAN)];
        for (l, p) in loads.iter_mut().zip(prices) {
            l.price = p;
        }
        assert_eq!(
            order(Strategy::CostOptimized, &loads, 0, 1, &mut rng()),
            vec![2, 1, 4, 0, 3, 5]
        );
    }

    #[test]
    fn round_robin_rotates_from_the_turn() {
        let loads = healthy(3);
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 0, 1, &mut rng()),
            vec![0, 1, 2]
        );
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 1, 1, &mut rng()),
            vec![1, 2, 0]
        );
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 5, 1, &mut rng()),
            vec![2, 0, 1]
        );
        // sticky 0 behaves as 1 instead of dividing by zero.
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 4, 0, &mut rng()),
            vec![1, 2, 0]
        );
    }

    #[test]
    fn round_robin_sticky_three_over_seven_turns() {
        let loads = healthy(3);
        let firsts: Vec<usize> = (0..7)
            .map(|t| order(Strategy::RoundRobin, &loads, t, 3, &mut rng())[0])
            .collect();
        assert_eq!(firsts, vec![0, 0, 0, 1, 1, 1, 2]);
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 6, 3, &mut rng()),
            vec![2, 0, 1]
        );
    }

    #[test]
    fn round_robin_is_exactly_even() {
        let loads = healthy(3);
        let mut counts = [0u32; 3];
        for turn in 0..30_000 {
            counts[order(Strategy::RoundRobin, &loads, turn, 1, &mut rng())[0]] += 1;
        }
        assert_eq!(counts, [10_000; 3]);
    }

    #[test]
    fn random_is_uniform_within_five_percent() {
        let loads = healthy(4);
        let mut r = rng();
        let mut counts = [0u32; 4];
        for _ in 0..30_000 {
            let o = order(Strategy::Random, &loads, 0, 1, &mut r);
            counts[o[0]] += 1;
            // The rest keep list order.
            let rest: Vec<usize> = (0..4).filter(|&i| i != o[0]).collect();
            assert_eq!(&o[1..], &rest[..]);
        }
        for c in counts {
            assert!((7_125..=7_875).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn random_only_draws_healthy_candidates() {
        let mut loads = healthy(4);
        loads[0].healthy = false;
        loads[2].healthy = false;
        let mut r = rng();
        let mut counts = [0u32; 4];
        for _ in 0..30_000 {
            let o = order(Strategy::Random, &loads, 0, 1, &mut r);
            counts[o[0]] += 1;
            assert_eq!(&o[2..], &[0, 2]);
        }
        assert_eq!((counts[0], counts[2]), (0, 0));
        for c in [counts[1], counts[3]] {
            assert!((14_250..=15_750).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn p2c_prefers_the_least_loaded() {
        // Three candidates loaded 0, 5, 10. Each of the three pairs is drawn
        // with probability 1/3; the less loaded member of the pair wins, so
        // candidate 0 wins {0,1} and {0,2} (2/3), candidate 1 wins {1,2}
        // (1/3), and the busiest can never win a pair.
        let mut loads = healthy(3);
        for (l, f) in loads.iter_mut().zip([0, 5, 10]) {
            l.in_flight = f;
        }
        let mut r = rng();
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            let o = order(Strategy::PowerOfTwoChoices, &loads, 0, 1, &mut r);
            counts[o[0]] += 1;
            // The pair's loser comes second and is more loaded than the winner.
            assert!(loads[o[0]].in_flight < loads[o[1]].in_flight, "{o:?}");
        }
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!((19_000..=21_000).contains(&counts[0]), "{counts:?}");
        assert!((9_500..=10_500).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn p2c_breaks_ties_at_random_and_skips_unhealthy() {
        let mut loads = healthy(4);
        loads[1].healthy = false;
        let mut r = rng();
        let mut counts = [0u32; 4];
        for _ in 0..30_000 {
            let o = order(Strategy::PowerOfTwoChoices, &loads, 0, 1, &mut r);
            counts[o[0]] += 1;
            assert_eq!(o[3], 1, "the unhealthy candidate goes last: {o:?}");
        }
        assert_eq!(counts[1], 0);
        // All equal load: every healthy candidate leads a third of the time.
        for c in [counts[0], counts[2], counts[3]] {
            assert!((9_500..=10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn p2c_with_one_healthy_candidate_picks_it() {
        let mut loads = healthy(3);
        loads[0].healthy = false;
        loads[2].healthy = false;
        assert_eq!(
            order(Strategy::PowerOfTwoChoices, &loads, 0, 1, &mut rng()),
            vec![1, 0, 2]
        );
    }

    #[test]
    fn unhealthy_candidates_go_last_for_every_strategy() {
        let mut loads = healthy(4);
        for (i, l) in loads.iter_mut().enumerate() {
            l.recent_requests = 10 - i as u64; // least-used would put 3 first
            l.price = Some(10.0 - i as f64); // cost-optimized would put 3 first
        }
        loads[0].healthy = false;
        loads[3].healthy = false;
        for s in ALL {
            for turn in 0..4 {
                let o = order(s, &loads, turn, 1, &mut rng());
                let tail: Vec<usize> = o[2..].to_vec();
                assert!(
                    tail == vec![0, 3] || tail == vec![3, 0],
                    "{s:?} turn {turn}: {o:?}"
                );
                assert!(loads[o[0]].healthy && loads[o[1]].healthy, "{s:?}: {o:?}");
            }
        }
        // Relative order within each group is the strategy's own.
        assert_eq!(
            order(Strategy::FillFirst, &loads, 0, 1, &mut rng()),
            vec![1, 2, 0, 3]
        );
        assert_eq!(
            order(Strategy::LeastUsed, &loads, 0, 1, &mut rng()),
            vec![2, 1, 3, 0]
        );
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 3, 1, &mut rng()),
            vec![1, 2, 3, 0]
        );
    }

    #[test]
    fn all_unhealthy_keeps_the_strategy_order() {
        let mut loads = vec![Load::default(); 3];
        for (l, p) in loads.iter_mut().zip([3.0, 1.0, 2.0]) {
            l.price = Some(p);
        }
        assert_eq!(
            order(Strategy::CostOptimized, &loads, 0, 1, &mut rng()),
            vec![1, 2, 0]
        );
        assert_eq!(
            order(Strategy::RoundRobin, &loads, 2, 1, &mut rng()),
            vec![2, 0, 1]
        );
        // Random still draws among all of them when none is healthy.
        let mut r = rng();
        let mut seen = [false; 3];
        for _ in 0..300 {
            seen[order(Strategy::Random, &loads, 0, 1, &mut r)[0]] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
