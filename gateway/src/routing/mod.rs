//! Routing: turning a requested model into the provider and connection that serve it.

pub mod breaker;
pub mod classify;
pub mod cooldown;
pub mod fallback;
pub mod key_meter;
pub mod pacing;
pub mod plan;
pub mod quota;
pub mod resolve;
pub mod spend;
pub mod state;
pub mod strategy;

use serde::{Deserialize, Serialize};

/// How a combo picks among its models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    FillFirst,
    RoundRobin,
    PowerOfTwoChoices,
    Random,
    LeastUsed,
    CostOptimized,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::FillFirst => "fill-first",
            Strategy::RoundRobin => "round-robin",
            Strategy::PowerOfTwoChoices => "power-of-two-choices",
            Strategy::Random => "random",
            Strategy::LeastUsed => "least-used",
            Strategy::CostOptimized => "cost-optimized",
        }
    }
}
