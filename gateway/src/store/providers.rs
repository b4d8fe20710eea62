//! User-defined providers (the catalog's are built in): rows of the `providers` table.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, StoreResult, now_ms};
use crate::providers::{AuthKind, ModelDef, ProviderDef, WireFormat};

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn row_to_provider(row: &rusqlite::Row<'_>) -> rusqlite::Result<ProviderDef> {
    let format: String = row.get("format")?;
    let auth: String = row.get("auth")?;
    let models: String = row.get("models")?;
    let models: Vec<ModelDef> = serde_json::from_str(&models).unwrap_or_default();
    Ok(ProviderDef::user(
        row.get("id")?,
        row.get("name")?,
        row.get("prefix")?,
        parse_enum::<WireFormat>(&format)?,
        row.get("base_url")?,
        parse_enum::<AuthKind>(&auth)?,
        models,
    ))
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ProviderDef>> {
    let mut stmt = conn.prepare("SELECT * FROM providers ORDER BY id")?;
    let rows = stmt.query_map([], row_to_provider)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<ProviderDef>> {
    Ok(conn
        .query_row(
            "SELECT * FROM providers WHERE id = ?1",
            [id],
            row_to_provider,
        )
        .optional()?)
}

/// Inserts a new provider, or replaces the one with the same id when `replace`.
pub fn save(conn: &Connection, p: &ProviderDef, source: &str, replace: bool) -> StoreResult<()> {
    let models =
        serde_json::to_string(&p.models).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let now = now_ms();
    let sql = if replace {
        "INSERT INTO providers (id, name, format, base_url, prefix, auth, models, source, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         ON CONFLICT(id) DO UPDATE SET name=excluded.name, format=excluded.format,
           base_url=excluded.base_url, prefix=excluded.prefix, auth=excluded.auth,
           models=excluded.models, source=excluded.source, updated_at=excluded.updated_at"
    } else {
        "INSERT INTO providers (id, name, format, base_url, prefix, auth, models, source, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
    };
    conn.execute(
        sql,
        params![
            p.id,
            p.name,
            p.format.as_str(),
            p.base_url,
            p.prefix,
            enum_text(&p.auth),
            models,
            source,
            now
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "a provider with id `{}` or prefix `{}` exists",
                p.id, p.prefix
            ))
        }
        other => other.into(),
    })?;
    Ok(())
}

/// Deletes a provider that no connection uses any more.
pub fn delete(conn: &Connection, id: &str) -> StoreResult<()> {
    let used: i64 = conn.query_row(
        "SELECT COUNT(*) FROM connections WHERE provider = ?1",
        [id],
        |r| r.get(0),
    )?;
    if used > 0 {
        return Err(StoreError::Conflict(format!(
            "provider `{id}` still has {used} connection(s); delete them first"
        )));
    }
    if conn.execute("DELETE FROM providers WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("no user provider `{id}`")));
    }
    Ok(())
}
