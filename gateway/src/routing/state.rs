//! The routing state shared by every request: breakers, cooldowns, load, quotas and spend, behind short locks.

use serde_json::{Value, json};

use crate::observe::usage::{RecordObserver, UsageRecord};

/// Everything routing remembers between requests. Lives for the whole run
/// of the gateway; terminal account states are the only part kept in SQLite.
#[derive(Default)]
pub struct RoutingState {}

impl RoutingState {
    pub fn new() -> RoutingState {
        RoutingState::default()
    }

    /// Breaker states, cooldowns and lockouts, for `/api/health`.
    pub fn report(&self, _now_ms: i64) -> Value {
        json!({"breakers": [], "cooldowns": []})
    }

    /// Forgets breakers, cooldowns and lockouts (the health "reset" action).
    pub fn reset(&self) {}
}

impl RecordObserver for RoutingState {
    fn observe(&self, _record: &UsageRecord) {}
}
