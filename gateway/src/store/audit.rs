//! The audit log table: one row per configuration change, newest kept, oldest pruned.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreResult;

/// How many rows the log keeps; older ones are deleted as new ones arrive.
pub const KEEP_ROWS: i64 = 10_000;

/// One configuration change, as written and as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub ts_ms: i64,
    /// `session` (the dashboard), `key:<id>` (a gateway key) or `anonymous`.
    pub actor: String,
    pub ip: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// A short sentence, e.g. `created combo "fast"`.
    pub summary: String,
    /// The request's JSON body with secrets replaced by `"[redacted]"`.
    pub changes: Option<serde_json::Value>,
}

/// A stored entry with its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The id of the newest entry (0 when the log is empty): it changes with
/// every recorded change, whichever process made it.
pub fn latest_id(conn: &Connection) -> StoreResult<i64> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM audit_log", [], |r| {
            r.get(0)
        })?,
    )
}

/// Writes one entry and prunes the log to [`KEEP_ROWS`], in one transaction.
pub fn insert(conn: &mut Connection, entry: &AuditEntry) -> StoreResult<i64> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO audit_log (ts_ms, actor, ip, method, path, status, summary, changes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            entry.ts_ms,
            entry.actor,
            entry.ip,
            entry.method,
            entry.path,
            entry.status,
            entry.summary,
            entry.changes.as_ref().map(|c| c.to_string()),
        ],
    )?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "DELETE FROM audit_log WHERE id <= ?1",
        params![id - KEEP_ROWS],
    )?;
    tx.commit()?;
    Ok(id)
}

/// Newest first, at most `limit`, only ids below `before_id` when given.
pub fn list(conn: &Connection, before_id: Option<i64>, limit: u32) -> StoreResult<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, ts_ms, actor, ip, method, path, status, summary, changes FROM audit_log
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![before_id.unwrap_or(i64::MAX), limit], |row| {
        let changes: Option<String> = row.get(8)?;
        Ok(AuditRow {
            id: row.get(0)?,
            entry: AuditEntry {
                ts_ms: row.get(1)?,
                actor: row.get(2)?,
                ip: row.get(3)?,
                method: row.get(4)?,
                path: row.get(5)?,
                status: row.get(6)?,
                summary: row.get(7)?,
                changes: changes.and_then(|c| serde_json::from_str(&c).ok()),
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        conn
    }

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            ts_ms: 1_000 + n,
            actor: "session".into(),
            ip: Some("127.0.0.1".into()),
            method: "POST".into(),
            path: "/api/keys".into(),
            status: 201,
            summary: format!("created key {n}"),
            changes: Some(serde_json::json!({"name": n})),
        }
    }

    #[test]
    fn lists_newest_first_in_pages() {
        let mut conn = db();
        for n in 0..5 {
            insert(&mut conn, &entry(n)).unwrap();
        }
        let first = list(&conn, None, 2).unwrap();
        assert_eq!(
            first.iter().map(|r| r.entry.ts_ms).collect::<Vec<_>>(),
            [1004, 1003]
        );
        let next = list(&conn, Some(first[1].id), 10).unwrap();
        assert_eq!(next.len(), 3);
        assert_eq!(next[0].entry, entry(2));
    }

    #[test]
    fn keeps_only_the_newest_rows() {
        let mut conn = db();
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {KEEP_ROWS})
             INSERT INTO audit_log (ts_ms, actor, method, path, status, summary)
             SELECT i, 'session', 'POST', '/api/keys', 201, 'old' FROM n"
        ))
        .unwrap();
        let id = insert(&mut conn, &entry(1)).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, KEEP_ROWS);
        let oldest: i64 = conn
            .query_row("SELECT MIN(id) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(oldest, id - KEEP_ROWS + 1);
    }
}
