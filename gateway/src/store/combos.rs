//! Named fallback chains of models (routing them is the router's job), in the `combos` table.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{StoreError, StoreResult, now_ms};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComboRow {
    pub name: String,
    pub strategy: String,
    pub models: Vec<String>,
    pub enabled: bool,
    pub source: String,
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ComboRow>> {
    let mut stmt =
        conn.prepare("SELECT name, strategy, models, enabled, source FROM combos ORDER BY name")?;
    let rows = stmt.query_map([], |row| {
        let models: String = row.get(2)?;
        Ok(ComboRow {
            name: row.get(0)?,
            strategy: row.get(1)?,
            models: serde_json::from_str(&models).unwrap_or_default(),
            enabled: row.get::<_, i64>(3)? != 0,
            source: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Creates or replaces the combo of the same name.
pub fn upsert(conn: &Connection, combo: &ComboRow) -> StoreResult<()> {
    let models =
        serde_json::to_string(&combo.models).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.execute(
        "INSERT INTO combos (name, strategy, models, enabled, source, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(name) DO UPDATE SET strategy=excluded.strategy, models=excluded.models,
           enabled=excluded.enabled, source=excluded.source, updated_at=excluded.updated_at",
        params![
            combo.name,
            combo.strategy,
            models,
            combo.enabled,
            combo.source,
            now_ms()
        ],
    )?;
    Ok(())
}
