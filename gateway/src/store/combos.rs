//! Named fallback chains of models (routing them is the router's job), in the `combos` table, and the rules a combo must follow.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{StoreError, StoreResult, now_ms};
use crate::routing::Strategy;

/// Longest chain of combos inside combos, the outer one included, that
/// routing follows; a deeper chain is refused when it is written.
pub const MAX_COMBO_DEPTH: usize = 4;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComboRow {
    pub name: String,
    pub strategy: Strategy,
    pub models: Vec<String>,
    pub enabled: bool,
    /// Round-robin: how many requests in a row go to the same entry.
    pub sticky: u32,
    pub source: String,
}

const COLUMNS: &str = "name, strategy, models, enabled, source, sticky";

fn row_to_combo(row: &rusqlite::Row<'_>) -> rusqlite::Result<ComboRow> {
    let models: String = row.get(2)?;
    let strategy: String = row.get(1)?;
    Ok(ComboRow {
        name: row.get(0)?,
        // An unknown stored strategy (from a newer version) degrades
        // to the plainest one rather than hiding the combo.
        strategy: serde_json::from_value(serde_json::Value::String(strategy))
            .unwrap_or(Strategy::FillFirst),
        models: serde_json::from_str(&models).unwrap_or_default(),
        enabled: row.get::<_, i64>(3)? != 0,
        source: row.get(4)?,
        sticky: row.get::<_, i64>(5)?.clamp(1, i64::from(u32::MAX)) as u32,
    })
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ComboRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM combos ORDER BY name"))?;
    let rows = stmt.query_map([], row_to_combo)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, name: &str) -> StoreResult<Option<ComboRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM combos WHERE name = ?1"),
            [name],
            row_to_combo,
        )
        .optional()?)
}

/// Creates or replaces the combo of the same name.
pub fn upsert(conn: &Connection, combo: &ComboRow) -> StoreResult<()> {
    let models =
        serde_json::to_string(&combo.models).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.execute(
        "INSERT INTO combos (name, strategy, models, enabled, source, sticky, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT(name) DO UPDATE SET strategy=excluded.strategy, models=excluded.models,
           enabled=excluded.enabled, source=excluded.source, sticky=excluded.sticky,
           updated_at=excluded.updated_at",
        params![
            combo.name,
            combo.strategy.as_str(),
            models,
            combo.enabled,
            combo.source,
            combo.sticky.max(1),
            now_ms()
        ],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, name: &str) -> StoreResult<()> {
    if conn.execute("DELETE FROM combos WHERE name = ?1", [name])? == 0 {
        return Err(StoreError::NotFound(format!("no combo `{name}`")));
    }
    Ok(())
}

/// Names of the combos that list `name` as one of their entries.
pub fn users_of<'a>(combos: &'a [ComboRow], name: &str) -> Vec<&'a str> {
    combos
        .iter()
        .filter(|c| c.name != name && c.models.iter().any(|m| m == name))
        .map(|c| c.name.as_str())
        .collect()
}

/// The part of a combo a problem is in, so that the API can name the field
/// and the config file the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComboField {
    Name,
    /// The list as a whole (empty, or how it fits with other combos).
    Models,
    /// One entry of the list, by index.
    Entry(usize),
    Sticky,
}

impl ComboField {
    /// The request field to name in an API error.
    pub fn param(self) -> &'static str {
        match self {
            ComboField::Name => "name",
            ComboField::Models | ComboField::Entry(_) => "models",
            ComboField::Sticky => "sticky",
        }
    }
}

/// Why a combo cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ComboProblem {
    pub field: ComboField,
    pub message: String,
}

fn problem<T>(field: ComboField, message: impl Into<String>) -> Result<T, ComboProblem> {
    Err(ComboProblem {
        field,
        message: message.into(),
    })
}

/// Checks `combo` as it would stand among `combos` (the stored ones; one of
/// the same name is the version being replaced). `is_provider` tells whether
/// a name is a provider id, prefix or alias. The API and the config file
/// both call this, so a combo means the same thing wherever it was written.
pub fn validate(
    combo: &ComboRow,
    combos: &[ComboRow],
    is_provider: impl Fn(&str) -> bool,
) -> Result<(), ComboProblem> {
    check_name(&combo.name, &is_provider)?;
    if combo.sticky == 0 {
        return problem(ComboField::Sticky, "sticky must be at least 1");
    }
    if combo.models.is_empty() {
        return problem(
            ComboField::Models,
            format!("combo `{}` needs at least one model", combo.name),
        );
    }
    let mut graph: HashMap<&str, &[String]> = combos
        .iter()
        .map(|c| (c.name.as_str(), c.models.as_slice()))
        .collect();
    graph.insert(combo.name.as_str(), combo.models.as_slice());
    for (i, entry) in combo.models.iter().enumerate() {
        check_entry(entry, &graph, &is_provider).map_err(|message| ComboProblem {
            field: ComboField::Entry(i),
            message,
        })?;
        if combo.models[..i].contains(entry) {
            return problem(
                ComboField::Entry(i),
                format!("`{entry}` is listed twice in combo `{}`", combo.name),
            );
        }
    }
    // Depth and cycles, first below this combo (the error points at the
    // entry that leads there), then above it: a combo that nests this one
    // may now be too deep.
    for (i, entry) in combo.models.iter().enumerate() {
        if graph.contains_key(entry.as_str()) {
            let mut path = vec![combo.name.as_str()];
            nesting(entry, &graph, &mut path).map_err(|fault| ComboProblem {
                field: ComboField::Entry(i),
                message: fault.message(),
            })?;
        }
    }
    let mut outer: Vec<&str> = graph
        .keys()
        .copied()
        .filter(|&name| name != combo.name)
        .collect();
    outer.sort_unstable();
    for name in outer {
        let mut path = Vec::new();
        if let Err(fault) = nesting(name, &graph, &mut path)
            && fault.path().contains(&combo.name.as_str())
        {
            return problem(ComboField::Models, fault.message());
        }
    }
    Ok(())
}

fn check_name(name: &str, is_provider: &impl Fn(&str) -> bool) -> Result<(), ComboProblem> {
    let fail = |message: String| problem(ComboField::Name, message);
    if name.is_empty() {
        return fail("a combo needs a name".into());
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail(format!("combo name `{name}` must not contain spaces"));
    }
    if name.contains('/') {
        return fail(format!(
            "combo name `{name}` must not contain `/` (it would read as provider/model)"
        ));
    }
    let stem = match name.split_once('*') {
        None => name,
        Some((stem, "")) if !stem.is_empty() => stem,
        Some(_) => {
            return fail(format!(
                "combo name `{name}`: `*` may only end a name, after a prefix (a wildcard combo such as `claude-*`)"
            ));
        }
    };
    if is_provider(stem) {
        return fail(format!(
            "`{stem}` is a provider id, prefix or alias; a combo needs another name"
        ));
    }
    Ok(())
}

/// An entry is another combo's name, `provider/model`, or `provider/*`
/// (the requested model name, sent to that provider).
fn check_entry(
    entry: &str,
    graph: &HashMap<&str, &[String]>,
    is_provider: &impl Fn(&str) -> bool,
) -> Result<(), String> {
    if entry.is_empty() || entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "combo entry `{entry}` must be a non-empty name without spaces"
        ));
    }
    let Some((provider, model)) = entry.split_once('/') else {
        return if graph.contains_key(entry) {
            Ok(())
        } else {
            Err(format!(
                "`{entry}` is neither a combo nor `provider/model` (or `provider/*`)"
            ))
        };
    };
    if !is_provider(provider) {
        return Err(format!("unknown provider `{provider}` in `{entry}`"));
    }
    if model.is_empty() {
        return Err(format!(
            "`{entry}` needs a model after the `/` (or `{provider}/*` for the requested one)"
        ));
    }
    if model != "*" && model.contains('*') {
        return Err(format!(
            "`{entry}`: `*` can only stand alone after the provider (`{provider}/*`)"
        ));
    }
    Ok(())
}

/// What is wrong with a chain of nested combos.
enum Nesting {
    Cycle(Vec<String>),
    TooDeep(Vec<String>),
}

impl Nesting {
    fn path(&self) -> Vec<&str> {
        match self {
            Nesting::Cycle(p) | Nesting::TooDeep(p) => p.iter().map(String::as_str).collect(),
        }
    }

    fn message(&self) -> String {
        match self {
            Nesting::Cycle(p) => format!("combos would form a cycle: {}", p.join(" -> ")),
            Nesting::TooDeep(p) => format!(
                "combos would nest deeper than {MAX_COMBO_DEPTH} levels: {}",
                p.join(" -> ")
            ),
        }
    }
}

/// Walks the combos below `name`; `path` holds the combos above it. The
/// walk stops one level past the limit, so a long cycle is reported as too
/// deep, which it also is.
fn nesting<'a>(
    name: &'a str,
    graph: &HashMap<&'a str, &'a [String]>,
    path: &mut Vec<&'a str>,
) -> Result<(), Nesting> {
    let chain = |path: &[&str], last: &str| -> Vec<String> {
        path.iter()
            .copied()
            .chain(std::iter::once(last))
            .map(str::to_string)
            .collect()
    };
    if let Some(start) = path.iter().position(|&p| p == name) {
        return Err(Nesting::Cycle(chain(&path[start..], name)));
    }
    if path.len() >= MAX_COMBO_DEPTH {
        return Err(Nesting::TooDeep(chain(path, name)));
    }
    let Some(entries) = graph.get(name) else {
        return Ok(());
    };
    path.push(name);
    for entry in entries.iter() {
        if graph.contains_key(entry.as_str()) {
            nesting(entry, graph, path)?;
        }
    }
    path.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    fn combo(name: &str, models: &[&str]) -> ComboRow {
        ComboRow {
            name: name.into(),
            strategy: Strategy::FillFirst,
            models: models.iter().map(|m| m.to_string()).collect(),
            enabled: true,
            sticky: 1,
            source: "api".into(),
        }
    }

    fn providers(name: &str) -> bool {
        ["openai", "oai", "anthropic", "groq"].contains(&name)
    }

    fn check(c: &ComboRow, others: &[ComboRow]) -> Result<(), ComboProblem> {
        validate(c, others, providers)
    }

    fn fails(c: &ComboRow, others: &[ComboRow], field: ComboField, needle: &str) {
        let err = check(c, others).unwrap_err();
        assert_eq!(err.field, field, "{}", err.message);
        assert!(err.message.contains(needle), "{}", err.message);
    }

    #[test]
    fn plain_wildcard_and_nested_entries_are_accepted() {
        let inner = combo("cheap", &["groq/llama-3.3-70b"]);
        let c = combo(
            "my-stack",
            &["openai/gpt-4.1", "anthropic/*", "cheap", "oai/o3/mini"],
        );
        check(&c, std::slice::from_ref(&inner)).unwrap();
        check(&combo("claude-*", &["anthropic/*"]), &[]).unwrap();
    }

    #[test]
    fn names_are_checked() {
        let fine = ["openai/gpt-4.1"];
        fails(&combo("", &fine), &[], ComboField::Name, "needs a name");
        fails(&combo("a b", &fine), &[], ComboField::Name, "spaces");
        fails(&combo("x/y", &fine), &[], ComboField::Name, "`/`");
        fails(&combo("*", &fine), &[], ComboField::Name, "may only end");
        fails(&combo("a*b", &fine), &[], ComboField::Name, "may only end");
        fails(&combo("a**", &fine), &[], ComboField::Name, "may only end");
        fails(&combo("oai", &fine), &[], ComboField::Name, "provider");
        fails(&combo("openai*", &fine), &[], ComboField::Name, "provider");
    }

    #[test]
    fn entries_are_checked() {
        fails(&combo("c", &[]), &[], ComboField::Models, "at least one");
        fails(
            &combo("c", &["openai/gpt-4.1", "ghost/m"]),
            &[],
            ComboField::Entry(1),
            "unknown provider `ghost`",
        );
        fails(
            &combo("c", &["nothing"]),
            &[],
            ComboField::Entry(0),
            "neither a combo",
        );
        fails(
            &combo("c", &["openai/"]),
            &[],
            ComboField::Entry(0),
            "needs a model",
        );
        fails(
            &combo("c", &["openai/gpt-*"]),
            &[],
            ComboField::Entry(0),
            "can only stand alone",
        );
        fails(
            &combo("c", &["openai/gpt-4.1", "groq/x", "openai/gpt-4.1"]),
            &[],
            ComboField::Entry(2),
            "listed twice",
        );
        let mut c = combo("c", &["openai/gpt-4.1"]);
        c.sticky = 0;
        fails(&c, &[], ComboField::Sticky, "at least 1");
    }

    #[test]
    fn cycles_are_refused_including_through_the_changed_combo() {
        fails(
            &combo("a", &["openai/gpt-4.1", "a"]),
            &[],
            ComboField::Entry(1),
            "cycle: a -> a",
        );
        // b -> c exists; changing c to use b closes the loop.
        let stored = [combo("b", &["c"]), combo("c", &["openai/gpt-4.1"])];
        fails(
            &combo("c", &["groq/x", "b"]),
            &stored,
            ComboField::Entry(1),
            "cycle: c -> b -> c",
        );
    }

    #[test]
    fn nesting_is_limited_below_and_above() {
        // d1 -> d2 -> d3 -> d4 is four levels: allowed.
        let stored = [
            combo("d2", &["d3"]),
            combo("d3", &["d4"]),
            combo("d4", &["openai/gpt-4.1"]),
        ];
        check(&combo("d1", &["d2"]), &stored).unwrap();
        fails(
            &combo("d0", &["d1"]),
            &[stored.to_vec(), vec![combo("d1", &["d2"])]].concat(),
            ComboField::Entry(0),
            "deeper than 4 levels: d0 -> d1 -> d2 -> d3 -> d4",
        );
        // Changing the bottom combo to nest one more pushes its users past the limit.
        let stored = [
            combo("d1", &["d2"]),
            combo("d2", &["d3"]),
            combo("d3", &["d4"]),
            combo("d4", &["openai/gpt-4.1"]),
            combo("leaf", &["groq/x"]),
        ];
        fails(
            &combo("d4", &["leaf"]),
            &stored,
            ComboField::Models,
            "d1 -> d2 -> d3 -> d4 -> leaf",
        );
    }

    #[test]
    fn users_name_the_combos_that_list_one() {
        let stored = [
            combo("a", &["b", "openai/x"]),
            combo("b", &["groq/y"]),
            combo("c", &["b"]),
        ];
        assert_eq!(users_of(&stored, "b"), vec!["a", "c"]);
        assert!(users_of(&stored, "a").is_empty());
    }

    #[test]
    fn round_trip_get_and_delete() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let mut c = combo("rr", &["openai/gpt-4.1", "groq/x"]);
        c.strategy = Strategy::RoundRobin;
        c.sticky = 3;
        c.enabled = false;
        upsert(&conn, &c).unwrap();
        assert_eq!(get(&conn, "rr").unwrap(), Some(c.clone()));
        assert_eq!(list(&conn).unwrap(), vec![c]);
        delete(&conn, "rr").unwrap();
        assert!(get(&conn, "rr").unwrap().is_none());
        assert!(matches!(delete(&conn, "rr"), Err(StoreError::NotFound(_))));
    }
}
