//! Upstream providers: the built-in catalog, provider definitions, and the HTTP client that calls them.

pub mod adapters;
pub mod catalog;
pub mod oauth;
pub mod upstream;

pub use catalog::{
    AuthKind, Catalog, ModelDef, ProviderDef, ProviderSource, ProviderStatus, Quirk, Tier,
    WireFormat,
};
