//! One module per dashboard page.

pub mod analytics;
pub mod combos;
pub mod health;
pub mod key_limits;
pub mod keys;
pub mod login;
pub mod logs;
pub mod overview;
pub mod providers;
pub mod settings;
pub mod tools;
pub mod translator;
