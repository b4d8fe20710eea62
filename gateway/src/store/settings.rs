//! Raw key/value rows of the `settings` table; `config::settings` gives them types.

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::{SecretBox, StoreResult};

/// Every stored setting. A value that is not JSON is skipped, not fatal.
pub fn load(conn: &Connection) -> StoreResult<Map<String, Value>> {
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut map = Map::new();
    for row in rows {
        let (key, text) = row?;
        match serde_json::from_str(&text) {
            Ok(value) => {
                map.insert(key, value);
            }
            Err(e) => tracing::warn!(key, error = %e, "skipping unreadable setting"),
        }
    }
    Ok(map)
}

/// [`load`], or nothing from a database that has no tables yet.
pub fn load_if_present(conn: &Connection) -> StoreResult<Map<String, Value>> {
    if super::migrate::current_version(conn)? == 0 {
        return Ok(Map::new());
    }
    load(conn)
}

/// Writes the given settings in one transaction, proxy passwords sealed.
pub fn save(
    conn: &mut Connection,
    secrets: &SecretBox,
    values: &Map<String, Value>,
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    save_in(&tx, secrets, values)?;
    tx.commit()?;
    Ok(())
}

/// [`save`] inside the caller's transaction.
pub fn save_in(
    conn: &Connection,
    secrets: &SecretBox,
    values: &Map<String, Value>,
) -> StoreResult<()> {
    let mut values = values.clone();
    super::sealed_url::map_settings(&mut values, |url| super::sealed_url::seal(secrets, url))?;
    for (key, value) in &values {
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value.to_string()],
        )?;
    }
    Ok(())
}
