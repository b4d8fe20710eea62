//! Numbered schema migrations, embedded in the binary and applied once each at start.

use rusqlite::Connection;

use super::{StoreResult, now_ms};

/// Every migration, in order. The number is the schema version it brings.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../../migrations/0001_init.sql")),
    (
        2,
        "routing",
        include_str!("../../../migrations/0002_routing.sql"),
    ),
    (
        3,
        "dashboard_auth",
        include_str!("../../../migrations/0003_dashboard_auth.sql"),
    ),
    (
        4,
        "usage_bodies",
        include_str!("../../../migrations/0004_usage_bodies.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../../../migrations/0005_audit.sql"),
    ),
    (
        6,
        "key_expiry",
        include_str!("../../../migrations/0006_key_expiry.sql"),
    ),
    (
        7,
        "key_limits",
        include_str!("../../../migrations/0007_key_limits.sql"),
    ),
    (
        8,
        "oauth_accounts",
        include_str!("../../../migrations/0008_oauth_accounts.sql"),
    ),
];

/// The schema version this binary brings a database to.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The schema version of the database behind `conn`: 0 for a new one.
pub fn current_version(conn: &Connection) -> StoreResult<i64> {
    let known: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        [],
        |row| row.get(0),
    )?;
    if !known {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?)
}

/// Applies the migrations the database has not seen yet, each in its own
/// transaction together with its row in `schema_migrations`.
pub fn apply(conn: &mut Connection) -> StoreResult<Vec<i64>> {
    apply_up_to(conn, latest_version())
}

/// [`apply`], stopping at version `up_to` (tests build older schemas with it).
pub(crate) fn apply_up_to(conn: &mut Connection, up_to: i64) -> StoreResult<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current && m.0 <= up_to) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(version, name, "applied migration");
        applied.push(version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_recorded() {
        let mut conn = Connection::open_in_memory().unwrap();
        let every: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(apply(&mut conn).unwrap(), every);
        assert!(apply(&mut conn).unwrap().is_empty());
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, MIGRATIONS.len() as i64);
        for table in [
            "providers",
            "connections",
            "combos",
            "api_keys",
            "settings",
            "usage",
            "usage_bodies",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "table {table} exists");
        }
    }

    #[test]
    fn versions_are_strictly_increasing() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
    }
}
