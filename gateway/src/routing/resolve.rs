//! Model string -> provider, upstream model id and the accounts that can serve it.

use std::sync::Arc;

use crate::providers::ProviderDef;
use crate::snapshot::{Account, Snapshot};

/// Where a request goes.
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<ProviderDef>,
    /// The model id the upstream expects (the part after the prefix).
    pub upstream_model: String,
    /// Accounts to try, best first; never empty.
    pub accounts: Vec<Arc<Account>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown model `{0}`")]
    UnknownModel(String),
    #[error("no usable connection for provider `{0}`")]
    NoAccount(String),
    /// The provider shut down; the text says what to use instead.
    #[error("{0}")]
    Discontinued(String),
}

/// Resolves `prefix/model` (the prefix may be a provider id, prefix or
/// alias). A bare model id is looked up in the providers' model lists,
/// preferring providers that have an account.
pub fn resolve(snapshot: &Snapshot, model: &str) -> Result<Route, ResolveError> {
    let model = model.trim();
    if let Some((prefix, rest)) = model.split_once('/')
        && let Some(provider) = snapshot.provider_by_name(prefix)
    {
        if rest.is_empty() {
            return Err(ResolveError::UnknownModel(model.to_string()));
        }
        return route_to(snapshot, provider, rest);
    }
    let mut listed_without_account = None;
    for provider in snapshot
        .providers
        .iter()
        .filter(|p| p.model(model).is_some())
    {
        if snapshot.is_usable(provider) {
            return route_to(snapshot, provider, model);
        }
        listed_without_account.get_or_insert(provider);
    }
    match listed_without_account {
        Some(provider) => Err(ResolveError::NoAccount(provider.id.clone())),
        None => Err(ResolveError::UnknownModel(model.to_string())),
    }
}

fn route_to(
    snapshot: &Snapshot,
    provider: &Arc<ProviderDef>,
    upstream_model: &str,
) -> Result<Route, ResolveError> {
    if let Some(why) = provider.deprecation() {
        return Err(ResolveError::Discontinued(why));
    }
    let accounts: Vec<Arc<Account>> = snapshot
        .accounts(&provider.id)
        .iter()
        .filter(|a| {
            a.api_key.is_some()
                || a.oauth.is_some()
                || provider.auth == crate::providers::AuthKind::None
        })
        .cloned()
        .collect();
    if accounts.is_empty() {
        return Err(ResolveError::NoAccount(provider.id.clone()));
    }
    Ok(Route {
        provider: provider.clone(),
        upstream_model: upstream_model.to_string(),
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Catalog;
    use crate::store::{self, SecretBox, connections::ConnectionInput, migrate};

    fn snapshot_with(connections: &[(&str, Option<&str>)]) -> Snapshot {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let sb = SecretBox::from_key([2; 32]);
        for (i, (provider, key)) in connections.iter().enumerate() {
            let input = ConnectionInput {
                provider: provider.to_string(),
                name: format!("c{i}"),
                api_key: key.map(str::to_string),
                priority: 10 - i as i64,
                enabled: true,
                ..Default::default()
            };
            store::connections::insert(&conn, &sb, &input, "api").unwrap();
        }
        Snapshot::build(&Catalog::builtin().unwrap(), &conn, &sb).unwrap()
    }

    #[test]
    fn prefix_and_alias_route_to_the_provider_with_best_priority_first() {
        let snap = snapshot_with(&[("openai", Some("k1")), ("openai", Some("k2"))]);
        let route = resolve(&snap, "openai/gpt-4.1").unwrap();
        assert_eq!(route.provider.id, "openai");
        assert_eq!(route.upstream_model, "gpt-4.1");
        assert_eq!(
            route
                .accounts
                .iter()
                .map(|a| a.priority)
                .collect::<Vec<_>>(),
            vec![9, 10]
        );
        assert_eq!(
            resolve(&snap, "oai/custom-model").unwrap().upstream_model,
            "custom-model"
        );
    }

    #[test]
    fn model_ids_with_slashes_keep_them() {
        let snap = snapshot_with(&[("openrouter", Some("k"))]);
        let route = resolve(&snap, "openrouter/anthropic/claude-sonnet-4.5").unwrap();
        assert_eq!(route.upstream_model, "anthropic/claude-sonnet-4.5");
    }

    #[test]
    fn bare_model_goes_to_a_provider_that_lists_it_and_has_an_account() {
        let snap = snapshot_with(&[("openai", Some("k"))]);
        assert_eq!(resolve(&snap, "gpt-4.1").unwrap().provider.id, "openai");
        assert_eq!(
            resolve(&snap, "deepseek-v4-pro").unwrap_err(),
            ResolveError::NoAccount("deepseek".into())
        );
    }

    #[test]
    fn unknown_and_unusable() {
        let snap = snapshot_with(&[("groq", None)]);
        assert!(matches!(
            resolve(&snap, "nope/model"),
            Err(ResolveError::UnknownModel(_))
        ));
        assert!(matches!(
            resolve(&snap, "openai/"),
            Err(ResolveError::UnknownModel(_))
        ));
        assert!(matches!(
            resolve(&snap, "no-such-model"),
            Err(ResolveError::UnknownModel(_))
        ));
        assert_eq!(
            resolve(&snap, "groq/llama").unwrap_err(),
            ResolveError::NoAccount("groq".into())
        );
    }
}
