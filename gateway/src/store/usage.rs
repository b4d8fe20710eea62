//! Usage rows: batch insert, filtered listing, retention pruning.

use rusqlite::{Connection, Transaction, params, params_from_iter};
use serde::Serialize;

use super::StoreResult;
use crate::observe::UsageRecord;

/// A stored usage record with its row id.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    pub id: i64,
    #[serde(flatten)]
    pub record: UsageRecord,
}

/// Which records to list. Every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub api_key_id: Option<i64>,
    /// `Some(true)`: 2xx only; `Some(false)`: errors only.
    pub ok: Option<bool>,
    pub status: Option<u16>,
    /// Only rows with a smaller id (paging backwards in time).
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub fn insert(tx: &Transaction<'_>, r: &UsageRecord) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO usage (ts, api_key_id, inbound_format, requested_model, provider, connection_id,
            upstream_model, stream, input_tokens, output_tokens, cached_tokens, reasoning_tokens,
            cost, latency_ms, ttft_ms, status, error, hops, served_from, tier)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?;
    stmt.execute(params![
        r.ts,
        r.api_key_id,
        r.inbound_format,
        r.requested_model,
        r.provider,
        r.connection_id,
        r.upstream_model,
        r.stream,
        r.input_tokens as i64,
        r.output_tokens as i64,
        r.cached_tokens as i64,
        r.reasoning_tokens as i64,
        r.cost,
        r.latency_ms as i64,
        r.ttft_ms.map(|v| v as i64),
        r.status,
        r.error,
        hops_json(&r.hops),
        r.served_from,
        r.tier,
    ])?;
    Ok(())
}

fn row_to_usage(row: &rusqlite::Row<'_>) -> rusqlite::Result<UsageRow> {
    Ok(UsageRow {
        id: row.get("id")?,
        record: UsageRecord {
            ts: row.get("ts")?,
            api_key_id: row.get("api_key_id")?,
            inbound_format: row.get("inbound_format")?,
            requested_model: row.get("requested_model")?,
            provider: row.get("provider")?,
            connection_id: row.get("connection_id")?,
            upstream_model: row.get("upstream_model")?,
            stream: row.get::<_, i64>("stream")? != 0,
            input_tokens: row.get::<_, i64>("input_tokens")? as u64,
            output_tokens: row.get::<_, i64>("output_tokens")? as u64,
            cached_tokens: row.get::<_, i64>("cached_tokens")? as u64,
            reasoning_tokens: row.get::<_, i64>("reasoning_tokens")? as u64,
            cost: row.get("cost")?,
            latency_ms: row.get::<_, i64>("latency_ms")? as u64,
            ttft_ms: row.get::<_, Option<i64>>("ttft_ms")?.map(|v| v as u64),
            status: row.get("status")?,
            error: row.get("error")?,
            hops: serde_json::from_str(&row.get::<_, String>("hops")?).unwrap_or_default(),
            served_from: row.get("served_from")?,
            tier: row.get("tier")?,
        },
    })
}

fn hops_json(hops: &[crate::observe::usage::Hop]) -> String {
    if hops.is_empty() {
        return "[]".to_string();
    }
    serde_json::to_string(hops).unwrap_or_else(|_| "[]".to_string())
}

/// Newest first.
pub fn list(conn: &Connection, filter: &UsageFilter) -> StoreResult<Vec<UsageRow>> {
    let mut sql = String::from("SELECT * FROM usage WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut push = |clause: &str, value: rusqlite::types::Value| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(v) = filter.since_ms {
        push("ts >=", v.into());
    }
    if let Some(v) = filter.until_ms {
        push("ts <", v.into());
    }
    if let Some(v) = &filter.model {
        push("requested_model =", v.clone().into());
    }
    if let Some(v) = &filter.provider {
        push("provider =", v.clone().into());
    }
    if let Some(v) = filter.api_key_id {
        push("api_key_id =", v.into());
    }
    if let Some(v) = filter.status {
        push("status =", i64::from(v).into());
    }
    if let Some(v) = filter.before_id {
        push("id <", v.into());
    }
    match filter.ok {
        Some(true) => sql.push_str(" AND status BETWEEN 200 AND 299"),
        Some(false) => sql.push_str(" AND status NOT BETWEEN 200 AND 299"),
        None => {}
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT {}",
        filter.limit.clamp(1, 1000)
    ));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), row_to_usage)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes records older than `older_than_ms` in small batches (so the writer
/// never holds a long lock) and returns how many went.
pub fn prune(conn: &Connection, older_than_ms: i64) -> StoreResult<usize> {
    let mut total = 0;
    loop {
        let n = conn.execute(
            "DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE ts < ?1 LIMIT 5000)",
            [older_than_ms],
        )?;
        total += n;
        if n == 0 {
            break;
        }
    }
    if total > 0 {
        // Give freed pages back to the file system (auto_vacuum = INCREMENTAL).
        conn.execute_batch("PRAGMA incremental_vacuum")?;
    }
    Ok(total)
}

pub fn count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    fn db_with(records: &[UsageRecord]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        for r in records {
            insert(&tx, r).unwrap();
        }
        tx.commit().unwrap();
        conn
    }

    fn rec(ts: i64, model: &str, status: u16) -> UsageRecord {
        UsageRecord {
            ts,
            inbound_format: "openai".into(),
            requested_model: model.into(),
            provider: Some("openai".into()),
            status,
            input_tokens: 10,
            ..Default::default()
        }
    }

    #[test]
    fn filters_narrow_and_order_is_newest_first() {
        let conn = db_with(&[
            rec(1, "a", 200),
            rec(2, "b", 500),
            rec(3, "a", 429),
            rec(4, "a", 200),
        ]);
        let all = list(
            &conn,
            &UsageFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            all.iter().map(|r| r.record.ts).collect::<Vec<_>>(),
            vec![4, 3, 2, 1]
        );
        let f = UsageFilter {
            model: Some("a".into()),
            ok: Some(false),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(
            list(&conn, &f)
                .unwrap()
                .iter()
                .map(|r| r.record.ts)
                .collect::<Vec<_>>(),
            vec![3]
        );
        let f = UsageFilter {
            since_ms: Some(2),
            until_ms: Some(4),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(list(&conn, &f).unwrap().len(), 2);
        let f = UsageFilter {
            before_id: Some(all[1].id),
            limit: 1,
            ..Default::default()
        };
        assert_eq!(list(&conn, &f).unwrap()[0].record.ts, 2);
        assert_eq!(all[0].record.input_tokens, 10);
    }

    #[test]
    fn prune_removes_only_old_records() {
        let conn = db_with(&[rec(10, "a", 200), rec(20, "a", 200), rec(30, "a", 200)]);
        assert_eq!(prune(&conn, 25).unwrap(), 2);
        assert_eq!(count(&conn).unwrap(), 1);
    }
}
