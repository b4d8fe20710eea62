//! Automatic database backups: a copy before each schema migration and one a day, in the data dir's `backups/` folder, keeping the newest few of each kind.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::{StoreResult, backup, migrate, now_ms};

/// The folder beside the database that holds the automatic backups.
pub const BACKUP_DIR: &str = "backups";
const PREFIX: &str = "omniroute-";
const DAILY: &str = "daily";
/// How often a daily backup is made.
pub const DAILY_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Where the automatic backups of the database at `db_path` go.
pub fn dir_of(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(BACKUP_DIR)
}

/// `omniroute-20261129-083604-<kind>.db`: sorting the names sorts by time.
fn file_name(kind: &str, at_ms: i64) -> String {
    format!("{PREFIX}{}-{kind}.db", backup::utc_stamp(at_ms))
}

/// The backups of `kind` in `dir`, oldest first.
fn existing(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let suffix = format!("-{kind}.db");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(&suffix))
        })
        .collect();
    found.sort();
    found
}

/// Writes a backup of `kind` and removes the oldest of that kind beyond
/// `keep`. Returns the new file.
pub fn write(conn: &Connection, dir: &Path, kind: &str, keep: usize) -> StoreResult<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| super::StoreError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
    let dest = dir.join(file_name(kind, now_ms()));
    // Two backups within the same second: the first one stands.
    if !dest.exists() {
        backup::copy_to(conn, &dest)?;
    }
    let all = existing(dir, kind);
    for old in &all[..all.len().saturating_sub(keep.max(1))] {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), error = %e, "cannot remove an old backup");
        }
    }
    Ok(dest)
}

/// Copies the database before migrations change its schema. A new database
/// (version 0) or an up-to-date one needs no copy. Returns the copy made.
pub fn before_migrations(
    conn: &Connection,
    dir: &Path,
    keep: usize,
) -> StoreResult<Option<PathBuf>> {
    let version = migrate::current_version(conn)?;
    if version == 0 || version >= migrate::latest_version() {
        return Ok(None);
    }
    write(
        conn,
        dir,
        &format!("before-v{}", migrate::latest_version()),
        keep,
    )
    .map(Some)
}

/// Makes today's backup unless the newest daily one is younger than a day.
pub fn daily_if_due(conn: &Connection, dir: &Path, keep: usize) -> StoreResult<Option<PathBuf>> {
    let newest = existing(dir, DAILY)
        .last()
        .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let due = newest.is_none_or(|at| {
        SystemTime::now()
            .duration_since(at)
            .is_ok_and(|age| age >= DAILY_EVERY)
    });
    if !due {
        return Ok(None);
    }
    write(conn, dir, DAILY, keep).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_connection;

    fn names(dir: &Path, kind: &str) -> Vec<String> {
        existing(dir, kind)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn an_older_schema_is_copied_before_it_migrates_and_a_current_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omniroute.db");
        let backups = dir_of(&db);
        let mut conn = open_connection(&db).unwrap();
        assert_eq!(before_migrations(&conn, &backups, 5).unwrap(), None, "new");
        migrate::apply_up_to(&mut conn, migrate::latest_version() - 1).unwrap();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('proxy', '\"\"')",
            [],
        )
        .unwrap();
        let copy = before_migrations(&conn, &backups, 5).unwrap().unwrap();
        migrate::apply(&mut conn).unwrap();
        assert_eq!(before_migrations(&conn, &backups, 5).unwrap(), None);
        let old = Connection::open(&copy).unwrap();
        assert_eq!(
            migrate::current_version(&old).unwrap(),
            migrate::latest_version() - 1
        );
        let rows: i64 = old
            .query_row("SELECT COUNT(*) FROM settings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the copy holds the data");
    }

    #[test]
    fn only_the_newest_backups_of_a_kind_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omniroute.db");
        let backups = dir_of(&db);
        let mut conn = open_connection(&db).unwrap();
        migrate::apply(&mut conn).unwrap();
        std::fs::create_dir_all(&backups).unwrap();
        for day in 1..=4 {
            let old = backups.join(format!("{PREFIX}2026010{day}-000000-{DAILY}.db"));
            std::fs::write(&old, b"old").unwrap();
        }
        let other = backups.join(format!("{PREFIX}20260101-000000-before-v3.db"));
        std::fs::write(&other, b"other kind").unwrap();
        let made = write(&conn, &backups, DAILY, 3).unwrap();
        let kept = names(&backups, DAILY);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(kept[0].starts_with("omniroute-20260103"), "{kept:?}");
        assert_eq!(kept[2], made.file_name().unwrap().to_string_lossy());
        assert!(other.exists(), "another kind is not pruned");
    }

    #[test]
    fn a_daily_backup_is_made_once_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omniroute.db");
        let backups = dir_of(&db);
        let mut conn = open_connection(&db).unwrap();
        migrate::apply(&mut conn).unwrap();
        let first = daily_if_due(&conn, &backups, 7).unwrap();
        assert!(first.is_some());
        assert_eq!(daily_if_due(&conn, &backups, 7).unwrap(), None);
        // A day later (the file's time set back) another one is due.
        let file = std::fs::File::options()
            .write(true)
            .open(first.unwrap())
            .unwrap();
        file.set_modified(SystemTime::now() - DAILY_EVERY - Duration::from_secs(60))
            .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(daily_if_due(&conn, &backups, 7).unwrap().is_some());
        assert_eq!(names(&backups, DAILY).len(), 2);
    }
}
