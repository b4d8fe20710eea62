//! Upstream providers: the built-in catalog, provider definitions, and the HTTP client that calls them.

pub mod catalog;
pub mod upstream;

pub use catalog::{
    AuthKind, Catalog, ModelDef, ProviderDef, ProviderSource, Quirk, Tier, WireFormat,
};
