//! Observation of traffic: usage records and the sink that carries them to the store.

pub mod bodies;
pub mod events;
pub mod live;
pub mod metrics;
pub mod status;
pub mod usage;

pub use usage::{UsageRecord, UsageSink};
