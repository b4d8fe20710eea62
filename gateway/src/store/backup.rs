//! Whole-database backups: a consistent copy to a file, checking an uploaded copy, and restoring one into the live database.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{SecretBox, StoreError, StoreResult, migrate};
use crate::routing::quota::civil_from_days;

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// Tables every OmniRoute database has; a file without them is not ours.
const REQUIRED_TABLES: &[&str] = &[
    "schema_migrations",
    "providers",
    "connections",
    "combos",
    "api_keys",
    "settings",
    "usage",
];
/// Pages copied per step of the online backup; small steps let the usage
/// writer's connection take turns with the restore.
const PAGES_PER_STEP: i32 = 256;

/// Writes a consistent copy of the database behind `conn` to `dest` (which
/// must not exist). `VACUUM INTO` reads one snapshot, WAL content included,
/// and writes a compact file that needs no `-wal` beside it.
pub fn copy_to(conn: &Connection, dest: &Path) -> StoreResult<()> {
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::Invalid("the backup path is not UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", params![dest])?;
    Ok(())
}

/// What a checked backup file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    /// The newest migration it has.
    pub schema_version: i64,
    pub connections: i64,
    pub combos: i64,
}

/// `YYYYMMDD-HHMMSS` in UTC, for file names.
pub fn utc_stamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let in_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Checks that `path` is a sound OmniRoute database this binary can use:
/// the SQLite header, `integrity_check`, our tables, a schema no newer than
/// ours, and secrets sealed with this gateway's data key.
pub fn check(path: &Path, secrets: &SecretBox) -> StoreResult<BackupInfo> {
    let invalid = |why: String| StoreError::Invalid(why);
    let header =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read the uploaded file: {e}")))?;
    if header.len() < 100 || &header[..16] != SQLITE_HEADER {
        return Err(invalid("The file is not an SQLite database.".into()));
    }
    drop(header);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| invalid(format!("The file cannot be opened as a database: {e}")))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| invalid(format!("The database is damaged: {e}")))?;
    if integrity != "ok" {
        return Err(invalid(format!("The database is damaged: {integrity}")));
    }
    for table in REQUIRED_TABLES {
        let found: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![table],
                |row| row.get(0),
            )
            .optional()?;
        if found.is_none() {
            return Err(invalid(format!(
                "This is not an OmniRoute backup: it has no `{table}` table."
            )));
        }
    }
    let schema_version: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    if schema_version > migrate::latest_version() {
        return Err(invalid(format!(
            "The backup comes from a newer OmniRoute (schema {schema_version}, this one knows {}); upgrade first.",
            migrate::latest_version()
        )));
    }
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT secret FROM connections WHERE secret IS NOT NULL LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(sealed) = sealed
        && secrets.open(&sealed).is_err()
    {
        return Err(invalid(
            "The backup's secrets were sealed with another data key; restore it on the gateway that made it, or start this one with that key (OMNIROUTE_SECRET_KEY).".into(),
        ));
    }
    let count = |table: &str| -> StoreResult<i64> {
        Ok(
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })?,
        )
    };
    Ok(BackupInfo {
        schema_version,
        connections: count("connections")?,
        combos: count("combos")?,
    })
}

/// Replaces the whole database behind `live` with the checked file at
/// `source`. The current database is first copied to `previous` (kept for
/// the user), and from that copy come back what a restore must not take
/// away: the dashboard's password and sessions (whoever restores stays
/// signed in, with the password they know), and every usage record and
/// audit entry made since the backup. An older backup's schema is brought
/// up to date. The online backup API writes through SQLite's pager, so the
/// usage writer's own connection sees the restored data on its next
/// transaction; nothing needs reopening.
pub fn restore(live: &mut Connection, source: &Path, previous: &Path) -> StoreResult<()> {
    copy_to(live, previous)?;
    let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    {
        let backup = rusqlite::backup::Backup::new(&from, live)?;
        backup.run_to_completion(PAGES_PER_STEP, Duration::from_millis(1), None)?;
    }
    drop(from);
    migrate::apply(live)?;
    carry_over(live, previous)
}

/// Brings back from the pre-restore copy what the restored data lacks.
/// A row of the history is the same row when its id and time match; one
/// whose id is taken by a different row comes back under a new id.
fn carry_over(live: &mut Connection, previous: &Path) -> StoreResult<()> {
    let previous = previous
        .to_str()
        .ok_or_else(|| StoreError::Invalid("the data directory path is not UTF-8".into()))?;
    live.execute("ATTACH DATABASE ?1 AS previous", params![previous])?;
    let merged = (|| -> StoreResult<()> {
        let tx = live.transaction()?;
        tx.execute_batch(
            "DELETE FROM main.dashboard_sessions;
             INSERT INTO main.dashboard_sessions SELECT * FROM previous.dashboard_sessions;
             INSERT OR REPLACE INTO main.dashboard_auth SELECT * FROM previous.dashboard_auth;",
        )?;
        for (table, time) in [("usage", "ts"), ("audit_log", "ts_ms")] {
            let columns = columns_except_id(&tx, table)?;
            tx.execute_batch(&format!(
                "INSERT INTO main.{table} SELECT * FROM previous.{table} p
                   WHERE NOT EXISTS (SELECT 1 FROM main.{table} m WHERE m.id = p.id);
                 INSERT INTO main.{table} ({columns}) SELECT {columns} FROM previous.{table} p
                   WHERE EXISTS (SELECT 1 FROM main.{table} m WHERE m.id = p.id AND m.{time} <> p.{time});"
            ))?;
        }
        tx.execute_batch(
            "INSERT OR IGNORE INTO main.usage_bodies
             SELECT b.* FROM previous.usage_bodies b
             JOIN previous.usage p ON p.id = b.usage_id
             JOIN main.usage m ON m.id = p.id AND m.ts = p.ts;",
        )?;
        tx.commit()?;
        Ok(())
    })();
    live.execute("DETACH DATABASE previous", [])?;
    merged
}

/// `a, b, c`: the columns of `table` but its `id`.
fn columns_except_id(conn: &Connection, table: &str) -> StoreResult<String> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let names: Vec<String> = stmt
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names
        .into_iter()
        .filter(|n| n != "id")
        .collect::<Vec<_>>()
        .join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_utc_time() {
        // 2026-11-28 23:41:05 UTC
        assert_eq!(utc_stamp(1_795_909_265_000), "20261128-234105");
        assert_eq!(utc_stamp(0), "19700101-000000");
    }
    use crate::store::open_connection;

    fn secrets() -> SecretBox {
        SecretBox::from_key([7; 32])
    }

    fn database(dir: &Path, name: &str) -> Connection {
        let mut conn = open_connection(&dir.join(name)).unwrap();
        migrate::apply(&mut conn).unwrap();
        conn
    }

    fn combos(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM combos ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn add_combo(conn: &Connection, name: &str) {
        conn.execute(
            "INSERT INTO combos (name, strategy, models, created_at, updated_at)
             VALUES (?1, 'fill-first', '[\"openai/gpt-4.1\"]', 0, 0)",
            params![name],
        )
        .unwrap();
    }

    #[test]
    fn a_copy_restores_the_data_and_keeps_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = database(dir.path(), "live.db");
        add_combo(&live, "kept");
        live.execute(
            "INSERT INTO dashboard_auth (id, password_hash, updated_ms) VALUES (1, 'old-hash', 1)",
            [],
        )
        .unwrap();
        let copy = dir.path().join("copy.db");
        copy_to(&live, &copy).unwrap();
        let info = check(&copy, &secrets()).unwrap();
        assert_eq!(info.combos, 1);
        assert_eq!(info.schema_version, migrate::latest_version());

        add_combo(&live, "later");
        live.execute("UPDATE dashboard_auth SET password_hash = 'new-hash'", [])
            .unwrap();
        let previous = dir.path().join("previous.db");
        restore(&mut live, &copy, &previous).unwrap();
        assert_eq!(combos(&live), ["kept"]);
        let hash: String = live
            .query_row("SELECT password_hash FROM dashboard_auth", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hash, "new-hash");
        // The pre-restore copy has what was there before.
        let before = Connection::open(&previous).unwrap();
        assert_eq!(combos(&before), ["kept", "later"]);
    }

    fn audit_summaries(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn
            .prepare("SELECT id, summary FROM audit_log ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn audit(conn: &Connection, ts: i64, summary: &str) {
        conn.execute(
            "INSERT INTO audit_log (ts_ms, actor, method, path, status, summary)
             VALUES (?1, 'session', 'POST', '/api/combos', 201, ?2)",
            params![ts, summary],
        )
        .unwrap();
    }

    #[test]
    fn history_made_since_the_backup_survives_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = database(dir.path(), "live.db");
        audit(&live, 1, "first");
        let copy = dir.path().join("copy.db");
        copy_to(&live, &copy).unwrap();
        audit(&live, 2, "second");
        audit(&live, 3, "third");
        // A backup made elsewhere whose second row is a different entry.
        let other = database(dir.path(), "other.db");
        audit(&other, 1, "first");
        audit(&other, 9, "elsewhere");
        let other_copy = dir.path().join("other-copy.db");
        copy_to(&other, &other_copy).unwrap();

        restore(&mut live, &copy, &dir.path().join("p1.db")).unwrap();
        assert_eq!(
            audit_summaries(&live),
            [
                (1, "first".into()),
                (2, "second".into()),
                (3, "third".into())
            ]
        );
        restore(&mut live, &other_copy, &dir.path().join("p2.db")).unwrap();
        assert_eq!(
            audit_summaries(&live),
            [
                (1, "first".into()),
                (2, "elsewhere".into()),
                (3, "third".into()),
                (4, "second".into()),
            ]
        );
    }

    #[test]
    fn files_that_are_not_our_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"definitely not a database, just text").unwrap();
        let err = check(&garbage, &secrets()).unwrap_err().to_string();
        assert!(err.contains("not an SQLite database"), "{err}");

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hi');")
            .unwrap();
        let err = check(&other, &secrets()).unwrap_err().to_string();
        assert!(err.contains("not an OmniRoute backup"), "{err}");
    }

    #[test]
    fn secrets_of_another_data_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = database(dir.path(), "live.db");
        let sealed = SecretBox::from_key([9; 32]).seal_str("sk-other").unwrap();
        live.execute(
            "INSERT INTO connections (provider, name, secret, created_at, updated_at)
             VALUES ('openai', 'work', ?1, 0, 0)",
            params![sealed],
        )
        .unwrap();
        let copy = dir.path().join("copy.db");
        copy_to(&live, &copy).unwrap();
        let err = check(&copy, &secrets()).unwrap_err().to_string();
        assert!(err.contains("another data key"), "{err}");
        assert!(check(&copy, &SecretBox::from_key([9; 32])).is_ok());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let live = database(dir.path(), "live.db");
        live.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 0)",
            params![migrate::latest_version() + 1],
        )
        .unwrap();
        let copy = dir.path().join("copy.db");
        copy_to(&live, &copy).unwrap();
        let err = check(&copy, &secrets()).unwrap_err().to_string();
        assert!(err.contains("newer OmniRoute"), "{err}");
    }
}
