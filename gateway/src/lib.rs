//! OmniRoute engine: one local OpenAI-compatible endpoint in front of many AI providers.
//!
//! [`Gateway::start`] runs the whole gateway; the `omniroute` binary, the
//! desktop shell and the black-box tests all start it the same way.

pub mod admin;
pub mod api;
pub mod clitools;
pub mod clock;
pub mod config;
pub mod error;
pub mod gateway;
pub mod observe;
pub mod providers;
pub mod routing;
pub mod snapshot;
pub mod store;
pub mod translate;
pub mod wire;

pub use config::Options;
pub use gateway::{
    Gateway, Handle, StartError, create_api_key, first_enabled_combo, reset_dashboard_password,
};
