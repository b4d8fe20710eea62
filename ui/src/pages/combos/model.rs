//! The combos page's data (combos, their latest requests) and the pure rules of the editor: reordering, adding entries, the save body.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::pages::providers::model::Provider;
pub use crate::records::{Hop, List, UsageRow};

/// A named fallback chain (`GET /api/combos`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Combo {
    pub name: String,
    pub strategy: String,
    /// Entries in order: `provider/model`, `provider/*` or another combo's name.
    pub models: Vec<String>,
    pub enabled: bool,
    /// Round-robin: how many requests in a row go to the same entry.
    pub sticky: u32,
    /// `api` or `config` (from the config file).
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ComboList {
    pub data: Vec<Combo>,
}

/// The latest requests of one combo (`GET /api/usage?model=<combo>`).
pub type UsageList = List<UsageRow>;

/// The strategies the API accepts, in the order the select lists them.
pub const STRATEGIES: [&str; 6] = [
    "fill-first",
    "round-robin",
    "power-of-two-choices",
    "random",
    "least-used",
    "cost-optimized",
];

/// The message key naming a strategy; an unknown one is shown as it is.
pub fn strategy_key(strategy: &str) -> Option<&'static str> {
    Some(match strategy {
        "fill-first" => "combos.strategy_fill_first",
        "round-robin" => "combos.strategy_round_robin",
        "power-of-two-choices" => "combos.strategy_p2c",
        "random" => "combos.strategy_random",
        "least-used" => "combos.strategy_least_used",
        "cost-optimized" => "combos.strategy_cost_optimized",
        _ => return None,
    })
}

/// The message key explaining a strategy.
pub fn strategy_hint_key(strategy: &str) -> &'static str {
    match strategy {
        "round-robin" => "combos.strategy_round_robin_hint",
        "power-of-two-choices" => "combos.strategy_p2c_hint",
        "random" => "combos.strategy_random_hint",
        "least-used" => "combos.strategy_least_used_hint",
        "cost-optimized" => "combos.strategy_cost_optimized_hint",
        _ => "combos.strategy_fill_first_hint",
    }
}

/// The list with the item at `from` moved to position `to` (as seen in the
/// result). Dropping an item on another puts it where that one was: after it
/// when dragged down, before it when dragged up. Out-of-range indices change nothing.
pub fn move_item<T: Clone>(list: &[T], from: usize, to: usize) -> Vec<T> {
    let mut out = list.to_vec();
    if from >= out.len() || to >= out.len() || from == to {
        return out;
    }
    let item = out.remove(from);
    out.insert(to, item);
    out
}

/// The entries with `entry` added at the end, or the message key of why not.
pub fn add_entry(entries: &[String], entry: &str) -> Result<Vec<String>, &'static str> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("combos.entry_empty");
    }
    if entry.chars().any(char::is_whitespace) {
        return Err("combos.entry_spaces");
    }
    if entries.iter().any(|e| e == entry) {
        return Err("combos.entry_duplicate");
    }
    let mut out = entries.to_vec();
    out.push(entry.to_owned());
    Ok(out)
}

/// The entries an error message names (the gateway quotes names in
/// backticks), so the editor can mark them.
pub fn entries_named(message: &str, entries: &[String]) -> Vec<usize> {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| quoted.contains(&e.as_str()))
        .map(|(i, _)| i)
        .collect()
}

/// Whether `name` (a prefix, alias or id) is the provider with id `id`.
fn same_provider(name: &str, id: &str, providers: &[Provider]) -> bool {
    name == id
        || providers
            .iter()
            .any(|p| p.id == id && (p.prefix == name || p.aliases.iter().any(|a| a == name)))
}

/// Which entry (by index) served a request that went to `provider`'s
/// `model`: an exact `provider/model` entry first, else a `provider/*` one.
pub fn served_entry(
    entries: &[String],
    provider: &str,
    model: &str,
    providers: &[Provider],
) -> Option<usize> {
    let split = |e: &String| e.split_once('/').map(|(p, m)| (p.to_owned(), m.to_owned()));
    let matching = |wanted: &str| {
        entries.iter().position(|e| {
            split(e).is_some_and(|(p, m)| m == wanted && same_provider(&p, provider, providers))
        })
    };
    matching(model).or_else(|| matching("*"))
}

/// What the "add entry" select offers: other combos, then each provider's
/// models (providers with an account first), without entries already in the list.
pub fn known_entries(
    providers: &[Provider],
    combos: &[Combo],
    editing: &str,
    taken: &[String],
) -> Vec<(String, Vec<String>)> {
    let free = |e: &String| !taken.contains(e);
    let mut groups = Vec::new();
    let others: Vec<String> = combos
        .iter()
        .filter(|c| c.name != editing && !c.name.contains('*'))
        .map(|c| c.name.clone())
        .filter(free)
        .collect();
    if !others.is_empty() {
        groups.push((String::new(), others));
    }
    let mut ordered: Vec<&Provider> = providers.iter().collect();
    // Stable: catalog order within "has an account" and "has none".
    ordered.sort_by_key(|p| p.connections == 0);
    for p in ordered {
        let prefix = p.prefix_or_id();
        let models: Vec<String> = p
            .models
            .iter()
            .map(|m| format!("{prefix}/{}", m.id))
            .chain(std::iter::once(format!("{prefix}/*")))
            .filter(free)
            .collect();
        if !models.is_empty() {
            groups.push((p.display_name().to_owned(), models));
        }
    }
    groups
}

/// What the editor holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComboDraft {
    pub name: String,
    pub strategy: String,
    pub entries: Vec<String>,
    pub enabled: bool,
    pub sticky: String,
}

impl ComboDraft {
    pub fn new() -> ComboDraft {
        ComboDraft {
            strategy: STRATEGIES[0].to_owned(),
            enabled: true,
            sticky: "1".into(),
            ..ComboDraft::default()
        }
    }

    pub fn from_combo(c: &Combo) -> ComboDraft {
        ComboDraft {
            name: c.name.clone(),
            strategy: c.strategy.clone(),
            entries: c.models.clone(),
            enabled: c.enabled,
            sticky: c.sticky.max(1).to_string(),
        }
    }
}

/// The body of `POST /api/combos` (with the name) or `PUT /api/combos/{name}`,
/// or the message key of what is wrong before asking the gateway.
pub fn combo_body(draft: &ComboDraft, with_name: bool) -> Result<Value, &'static str> {
    let name = draft.name.trim();
    if with_name && name.is_empty() {
        return Err("combos.name_required");
    }
    if draft.entries.is_empty() {
        return Err("combos.entries_required");
    }
    let sticky = match draft.sticky.trim() {
        "" => 1,
        text => match text.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return Err("combos.sticky_invalid"),
        },
    };
    let mut body = json!({
        "strategy": draft.strategy,
        "models": draft.entries,
        "enabled": draft.enabled,
        "sticky": sticky,
    });
    if with_name {
        body["name"] = json!(name);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::providers::model::Model;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn provider(
        id: &str,
        prefix: &str,
        aliases: &[&str],
        models: &[&str],
        connections: u64,
    ) -> Provider {
        Provider {
            id: id.into(),
            name: id.to_uppercase(),
            prefix: prefix.into(),
            aliases: names(aliases),
            models: models
                .iter()
                .map(|m| Model {
                    id: (*m).into(),
                    name: None,
                })
                .collect(),
            connections,
            ..Provider::default()
        }
    }

    #[test]
    fn moving_an_item_puts_it_where_it_was_dropped() {
        let list = names(&["a", "b", "c", "d"]);
        assert_eq!(move_item(&list, 0, 2), names(&["b", "c", "a", "d"]));
        assert_eq!(move_item(&list, 3, 1), names(&["a", "d", "b", "c"]));
        assert_eq!(
            move_item(&list, 1, 0),
            names(&["b", "a", "c", "d"]),
            "up one"
        );
        assert_eq!(
            move_item(&list, 2, 3),
            names(&["a", "b", "d", "c"]),
            "down one"
        );
        assert_eq!(move_item(&list, 2, 2), list);
        assert_eq!(move_item(&list, 4, 0), list, "out of range");
        assert_eq!(move_item(&list, 0, 9), list, "out of range");
    }

    #[test]
    fn entries_are_trimmed_and_not_repeated() {
        let list = names(&["openai/gpt-4.1"]);
        assert_eq!(
            add_entry(&list, " claude/claude-sonnet-4-5 "),
            Ok(names(&["openai/gpt-4.1", "claude/claude-sonnet-4-5"]))
        );
        assert_eq!(
            add_entry(&list, "openai/gpt-4.1"),
            Err("combos.entry_duplicate")
        );
        assert_eq!(add_entry(&list, "   "), Err("combos.entry_empty"));
        assert_eq!(add_entry(&list, "openai/gpt 4"), Err("combos.entry_spaces"));
    }

    #[test]
    fn entries_quoted_in_an_error_are_found() {
        let list = names(&["openai/gpt-4.1", "nope/x", "fast"]);
        assert_eq!(
            entries_named("unknown provider `nope` in `nope/x`", &list),
            vec![1]
        );
        assert_eq!(
            entries_named("`fast` is listed twice in combo `main`", &list),
            vec![2]
        );
        assert!(entries_named("a combo needs a name", &list).is_empty());
    }

    #[test]
    fn the_serving_entry_is_found_through_prefixes_and_wildcards() {
        let providers = vec![
            provider("openai", "openai", &["oai"], &[], 1),
            provider("anthropic", "claude", &[], &[], 1),
        ];
        let entries = names(&["claude/*", "oai/gpt-4.1", "claude/claude-opus-4-1", "fast"]);
        assert_eq!(
            served_entry(&entries, "openai", "gpt-4.1", &providers),
            Some(1)
        );
        assert_eq!(
            served_entry(&entries, "anthropic", "claude-opus-4-1", &providers),
            Some(2),
            "an exact entry wins over the wildcard"
        );
        assert_eq!(
            served_entry(&entries, "anthropic", "claude-haiku", &providers),
            Some(0)
        );
        assert_eq!(served_entry(&entries, "groq", "llama", &providers), None);
    }

    #[test]
    fn the_select_offers_other_combos_then_connected_providers_first() {
        let providers = vec![
            provider("groq", "groq", &[], &["llama"], 0),
            provider("openai", "openai", &[], &["gpt-4.1", "o3"], 2),
        ];
        let combos = vec![
            Combo {
                name: "main".into(),
                ..Combo::default()
            },
            Combo {
                name: "fast".into(),
                ..Combo::default()
            },
            Combo {
                name: "claude-*".into(),
                ..Combo::default()
            },
        ];
        let groups = known_entries(&providers, &combos, "main", &names(&["openai/o3"]));
        assert_eq!(
            groups,
            vec![
                (String::new(), names(&["fast"])),
                ("OPENAI".to_owned(), names(&["openai/gpt-4.1", "openai/*"])),
                ("GROQ".to_owned(), names(&["groq/llama", "groq/*"])),
            ]
        );
    }

    #[test]
    fn the_save_body_is_checked_first() {
        let mut draft = ComboDraft::new();
        assert_eq!(combo_body(&draft, true), Err("combos.name_required"));
        draft.name = " main ".into();
        assert_eq!(combo_body(&draft, true), Err("combos.entries_required"));
        draft.entries = names(&["openai/gpt-4.1", "fast"]);
        assert_eq!(
            combo_body(&draft, true),
            Ok(
                json!({"name": "main", "strategy": "fill-first", "models": ["openai/gpt-4.1", "fast"], "enabled": true, "sticky": 1})
            )
        );
        draft.strategy = "round-robin".into();
        draft.sticky = "3".into();
        draft.enabled = false;
        assert_eq!(
            combo_body(&draft, false),
            Ok(
                json!({"strategy": "round-robin", "models": ["openai/gpt-4.1", "fast"], "enabled": false, "sticky": 3})
            )
        );
        draft.sticky = "0".into();
        assert_eq!(combo_body(&draft, false), Err("combos.sticky_invalid"));
    }

    #[test]
    fn every_strategy_has_a_name() {
        for s in STRATEGIES {
            assert!(strategy_key(s).is_some(), "{s}");
        }
        assert_eq!(strategy_key("weighted"), None);
    }
}
