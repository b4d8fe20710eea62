//! Model string -> the ordered list of candidates (provider, upstream model, accounts) a request may use.

use std::sync::Arc;

use super::Strategy;
use super::resolve::{ResolveError, Route, resolve};
use crate::observe::usage::Hop;
use crate::providers::ProviderDef;
use crate::snapshot::{Account, KeyGrant, Snapshot};
use crate::store::combos::{ComboRow, MAX_COMBO_DEPTH};

/// One model at one provider, with the accounts that can serve it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<ProviderDef>,
    /// The model id the upstream expects.
    pub upstream_model: String,
    /// Enabled accounts, best priority first; never empty.
    pub accounts: Vec<Arc<Account>>,
}

impl Candidate {
    fn from_route(route: Route) -> Candidate {
        Candidate {
            provider: route.provider,
            upstream_model: route.upstream_model,
            accounts: route.accounts,
        }
    }

    /// `prefix/model`, the name a user would write.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.prefix, self.upstream_model)
    }
}

/// The combo a request named, if any.
#[derive(Debug, Clone)]
pub struct ComboChoice {
    pub name: String,
    pub strategy: Strategy,
    pub sticky: u32,
}

/// Everything a request may try, before strategies and health reorder it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub combo: Option<ComboChoice>,
    /// In the combo's listed order (nested combos expanded in place).
    pub candidates: Vec<Candidate>,
    /// Combo entries that cannot be used at all (no connection, not
    /// allowed for this key); they are reported as hops.
    pub unusable: Vec<Hop>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    #[error("the combo `{0}` is disabled")]
    ComboDisabled(String),
    #[error("this API key may not use the model `{0}`")]
    NotAllowed(String),
    #[error("no entry of the combo `{combo}` can be used: {reasons}")]
    NothingUsable { combo: String, reasons: String },
}

/// Turns the requested model into candidates. A combo (matched by exact
/// name, else the longest matching `name*` wildcard) expands to its entries;
/// anything else resolves to one provider. `grant` limits what may be used:
/// a key allowed the combo's name may use all its entries; otherwise only
/// the entries the key allows are kept.
pub fn plan(
    snapshot: &Snapshot,
    requested: &str,
    grant: Option<&KeyGrant>,
) -> Result<Plan, PlanError> {
    let requested = requested.trim();
    let Some(combo) = find_combo(&snapshot.combos, requested) else {
        let route = resolve(snapshot, requested)?;
        let candidate = Candidate::from_route(route);
        if let Some(grant) = grant
            && !grant.allows(&[requested, &candidate.label()])
        {
            return Err(PlanError::NotAllowed(requested.to_string()));
        }
        return Ok(Plan {
            combo: None,
            candidates: vec![candidate],
            unusable: Vec::new(),
        });
    };
    if !combo.enabled {
        return Err(PlanError::ComboDisabled(combo.name.clone()));
    }
    let whole_combo_allowed = grant.is_none_or(|g| g.allows(&[requested, &combo.name]));
    let mut plan = Plan {
        combo: Some(ComboChoice {
            name: combo.name.clone(),
            strategy: combo.strategy,
            sticky: combo.sticky.max(1),
        }),
        candidates: Vec::new(),
        unusable: Vec::new(),
    };
    expand(snapshot, combo, requested, 0, &mut plan);
    if !whole_combo_allowed && let Some(grant) = grant {
        let (allowed, refused): (Vec<_>, Vec<_>) = plan
            .candidates
            .into_iter()
            .partition(|c| grant.allows(&[&c.label()]));
        plan.candidates = allowed;
        plan.unusable.extend(refused.iter().map(|c| Hop {
            provider: c.provider.id.clone(),
            model: c.upstream_model.clone(),
            error: "this API key may not use this model".into(),
            ..Default::default()
        }));
    }
    if plan.candidates.is_empty() {
        let reasons = plan
            .unusable
            .iter()
            .map(|h| format!("{}/{}: {}", h.provider, h.model, h.error))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(PlanError::NothingUsable {
            combo: combo.name.clone(),
            reasons,
        });
    }
    Ok(plan)
}

/// The combo named `requested` (even when disabled: the caller named it),
/// else the enabled wildcard combo (`claude-*`) with the longest prefix of
/// it; a disabled wildcard combo lets names route as they would without it.
fn find_combo<'a>(combos: &'a [ComboRow], requested: &str) -> Option<&'a ComboRow> {
    combos.iter().find(|c| c.name == requested).or_else(|| {
        combos
            .iter()
            .filter(|c| c.enabled)
            .filter_map(|c| {
                let prefix = c.name.strip_suffix('*')?;
                requested.starts_with(prefix).then_some((prefix.len(), c))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, c)| c)
    })
}

/// Appends the candidates of `combo`'s entries, in order. An entry is
/// `provider/model`, `provider/*` (the requested model at that provider) or
/// another combo's name.
fn expand(snapshot: &Snapshot, combo: &ComboRow, requested: &str, depth: usize, plan: &mut Plan) {
    for entry in &combo.models {
        if let Some(nested) = snapshot.combos.iter().find(|c| &c.name == entry) {
            if depth + 1 >= MAX_COMBO_DEPTH || !nested.enabled {
                plan.unusable.push(Hop {
                    provider: String::new(),
                    model: entry.clone(),
                    error: if nested.enabled {
                        "combos nest too deep".into()
                    } else {
                        "the combo is disabled".into()
                    },
                    ..Default::default()
                });
                continue;
            }
            expand(snapshot, nested, requested, depth + 1, plan);
            continue;
        }
        let model = match entry.strip_suffix("/*") {
            // The requested name, without a provider prefix of its own.
            Some(provider) => format!("{provider}/{}", bare_model(snapshot, requested)),
            None => entry.clone(),
        };
        match resolve(snapshot, &model) {
            Ok(route) => {
                let candidate = Candidate::from_route(route);
                let duplicate = plan.candidates.iter().any(|c| {
                    c.provider.id == candidate.provider.id
                        && c.upstream_model == candidate.upstream_model
                });
                if !duplicate {
                    plan.candidates.push(candidate);
                }
            }
            Err(e) => {
                let (provider, model) = model.split_once('/').unwrap_or(("", &model));
                plan.unusable.push(Hop {
                    provider: provider.to_string(),
                    model: model.to_string(),
                    error: e.to_string(),
                    ..Default::default()
                });
            }
        }
    }
}

/// `openai/gpt-4.1` -> `gpt-4.1` when `openai` names a provider; other
/// names (including ids with slashes of their own) stay whole.
fn bare_model<'a>(snapshot: &Snapshot, requested: &'a str) -> &'a str {
    match requested.split_once('/') {
        Some((prefix, rest)) if snapshot.provider_by_name(prefix).is_some() => rest,
        _ => requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Catalog;
    use crate::store::{self, SecretBox, connections::ConnectionInput, migrate};

    fn snapshot(connections: &[&str], combos: &[(&str, &[&str], bool)]) -> Snapshot {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let sb = SecretBox::from_key([3; 32]);
        for (i, provider) in connections.iter().enumerate() {
            let input = ConnectionInput {
                provider: provider.to_string(),
                name: format!("c{i}"),
                api_key: Some(format!("key-{i}")),
                priority: 1,
                enabled: true,
                ..Default::default()
            };
            store::connections::insert(&conn, &sb, &input, "api").unwrap();
        }
        for (name, models, enabled) in combos {
            let row = ComboRow {
                name: name.to_string(),
                strategy: Strategy::FillFirst,
                models: models.iter().map(|m| m.to_string()).collect(),
                enabled: *enabled,
                sticky: 1,
                source: "api".into(),
            };
            store::combos::upsert(&conn, &row).unwrap();
        }
        Snapshot::build(&Catalog::builtin().unwrap(), &conn, &sb).unwrap()
    }

    fn labels(plan: &Plan) -> Vec<String> {
        plan.candidates.iter().map(Candidate::label).collect()
    }

    #[test]
    fn a_plain_model_is_one_candidate() {
        let snap = snapshot(&["openai"], &[]);
        let plan = plan(&snap, "openai/gpt-4.1", None).unwrap();
        assert!(plan.combo.is_none());
        assert_eq!(labels(&plan), ["openai/gpt-4.1"]);
    }

    #[test]
    fn a_combo_expands_in_order_with_nested_combos_and_reports_unusable_entries() {
        let snap = snapshot(
            &["openai", "anthropic"],
            &[
                ("inner", &["anthropic/claude-sonnet-4-5"], true),
                (
                    "main",
                    &[
                        "openai/gpt-4.1",
                        "inner",
                        "groq/llama-3.3",
                        "openai/gpt-4.1",
                    ],
                    true,
                ),
            ],
        );
        let plan = plan(&snap, "main", None).unwrap();
        assert_eq!(plan.combo.as_ref().unwrap().name, "main");
        assert_eq!(
            labels(&plan),
            ["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"]
        );
        assert_eq!(plan.unusable.len(), 1);
        assert_eq!(plan.unusable[0].provider, "groq");
    }

    #[test]
    fn wildcard_names_and_entries_carry_the_requested_model() {
        let snap = snapshot(
            &["anthropic", "openrouter"],
            &[
                ("claude-*", &["anthropic/*", "openrouter/*"], true),
                ("c*", &["openrouter/x"], true),
            ],
        );
        let plan = plan(&snap, "claude-sonnet-4-5", None).unwrap();
        assert_eq!(plan.combo.as_ref().unwrap().name, "claude-*");
        assert_eq!(
            labels(&plan),
            [
                "anthropic/claude-sonnet-4-5",
                "openrouter/claude-sonnet-4-5"
            ]
        );
    }

    #[test]
    fn a_disabled_wildcard_combo_catches_nothing() {
        let snap = snapshot(&["openai"], &[("gpt-*", &["groq/*"], false)]);
        let plan = plan(&snap, "gpt-4.1", None).unwrap();
        assert!(plan.combo.is_none());
        assert_eq!(labels(&plan), ["openai/gpt-4.1"]);
    }

    #[test]
    fn disabled_and_unusable_combos_are_errors() {
        let snap = snapshot(
            &["openai"],
            &[
                ("off", &["openai/gpt-4.1"], false),
                ("dead", &["groq/x"], true),
            ],
        );
        assert_eq!(
            plan(&snap, "off", None).unwrap_err(),
            PlanError::ComboDisabled("off".into())
        );
        assert!(matches!(
            plan(&snap, "dead", None),
            Err(PlanError::NothingUsable { .. })
        ));
    }

    #[test]
    fn a_limited_key_keeps_only_the_entries_it_may_use() {
        let snap = snapshot(
            &["openai", "anthropic"],
            &[(
                "mix",
                &["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"],
                true,
            )],
        );
        let grant = KeyGrant {
            id: 1,
            name: "k".into(),
            models: vec!["anthropic/*".into()],
            expires_at: None,
            limits: Default::default(),
        };
        let plan = plan(&snap, "mix", Some(&grant)).unwrap();
        assert_eq!(labels(&plan), ["anthropic/claude-sonnet-4-5"]);
        let whole = KeyGrant {
            id: 2,
            name: "k2".into(),
            models: vec!["mix".into()],
            expires_at: None,
            limits: Default::default(),
        };
        let plan = super::plan(&snap, "mix", Some(&whole)).unwrap();
        assert_eq!(plan.candidates.len(), 2);
        assert_eq!(
            super::plan(&snap, "openai/gpt-4.1", Some(&whole)).unwrap_err(),
            PlanError::NotAllowed("openai/gpt-4.1".into())
        );
    }
}
