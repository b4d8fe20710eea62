//! Usage rows: batch insert, filtered listing, retention pruning, and the spend aggregates of the monthly report.

use std::collections::HashMap;

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

/// Inserts one record (its logged bodies excepted) and returns its row id.
pub fn insert(tx: &Transaction<'_>, r: &UsageRecord) -> rusqlite::Result<i64> {
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
    Ok(tx.last_insert_rowid())
}

/// Bodies are kept for this many of the newest rows that have them.
pub const BODIES_KEPT: i64 = 1000;

/// Stores the logged bodies of row `usage_id`, when it has any.
pub fn insert_bodies(
    tx: &Transaction<'_>,
    usage_id: i64,
    r: &UsageRecord,
) -> rusqlite::Result<bool> {
    if r.request_body.is_none() && r.response_body.is_none() {
        return Ok(false);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO usage_bodies (usage_id, request, response) VALUES (?1, ?2, ?3)",
    )?;
    stmt.execute(params![
        usage_id,
        r.request_body.as_ref().map(|b| b.to_text()),
        r.response_body.as_ref().map(|b| b.to_text()),
    ])?;
    Ok(true)
}

/// Drops the bodies of all but the newest `keep` rows that have them.
pub fn trim_bodies(conn: &Connection, keep: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM usage_bodies WHERE usage_id <
            (SELECT usage_id FROM usage_bodies ORDER BY usage_id DESC LIMIT 1 OFFSET ?1)",
        [keep.max(1) - 1],
    )
}

/// One usage row with the bodies logged for it (`None` when not logged).
#[derive(Debug, Clone, Serialize)]
pub struct UsageDetail {
    #[serde(flatten)]
    pub row: UsageRow,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// The row `id` with its bodies, or `None` when there is no such row.
pub fn get(conn: &Connection, id: i64) -> StoreResult<Option<UsageDetail>> {
    let mut stmt = conn.prepare_cached(
        "SELECT usage.*, usage_bodies.request AS request_body, usage_bodies.response AS response_body
         FROM usage LEFT JOIN usage_bodies ON usage_bodies.usage_id = usage.id
         WHERE usage.id = ?1",
    )?;
    let mut rows = stmt.query_map([id], |row| {
        Ok(UsageDetail {
            row: row_to_usage(row)?,
            request_body: row.get("request_body")?,
            response_body: row.get("response_body")?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

/// Rows with an id above `after_id`, oldest first: the newest `limit` of
/// them when there are more (a reconnecting live view catching up).
pub fn list_after(conn: &Connection, after_id: i64, limit: u32) -> StoreResult<Vec<UsageRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM (SELECT * FROM usage WHERE id > ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
    )?;
    let rows = stmt.query_map(params![after_id, limit], row_to_usage)?;
    Ok(rows.collect::<Result<_, _>>()?)
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
            request_body: None,
            response_body: None,
        },
    })
}

fn hops_json(hops: &[crate::observe::usage::Hop]) -> String {
    if hops.is_empty() {
        return "[]".to_string();
    }
    serde_json::to_string(hops).unwrap_or_else(|_| "[]".to_string())
}

/// How many requests arrived at or after `since_ms`.
pub fn count_since(conn: &Connection, since_ms: i64) -> StoreResult<u64> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM usage WHERE ts >= ?1",
        params![since_ms],
        |row| row.get(0),
    )?;
    Ok(count.max(0) as u64)
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

/// Sums over a set of records. Records served by the gateway itself
/// (cache, replay, shared) count as requests with a cost of 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    /// Records whose status is not 2xx.
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderTotals {
    /// `None` for requests that never reached a provider.
    pub provider: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierTotals {
    /// `None` for requests no connection answered.
    pub tier: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelTotals {
    pub provider: Option<String>,
    /// The upstream model billed, else the model the caller asked for.
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayTotals {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The spend report of one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub total: Totals,
    /// Most expensive first.
    pub by_provider: Vec<ProviderTotals>,
    pub by_tier: Vec<TierTotals>,
    /// At most [`SUMMARY_TOP_MODELS`], most expensive first.
    pub by_model: Vec<ModelTotals>,
    /// Days with at least one record, in order.
    pub by_day: Vec<DayTotals>,
}

/// How many models the report lists.
pub const SUMMARY_TOP_MODELS: u32 = 50;

const TOTALS_SQL: &str = "COUNT(*), COALESCE(SUM(status NOT BETWEEN 200 AND 299), 0),
    COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost), 0.0)";

fn totals_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Totals> {
    Ok(Totals {
        requests: row.get::<_, i64>(first)?.max(0) as u64,
        errors: row.get::<_, i64>(first + 1)?.max(0) as u64,
        input_tokens: row.get::<_, i64>(first + 2)?.max(0) as u64,
        output_tokens: row.get::<_, i64>(first + 3)?.max(0) as u64,
        cost_usd: row.get(first + 4)?,
    })
}

/// Records in `[from_ms, until_ms)` grouped by the `keys` expressions (our
/// own SQL, never the caller's): each group's keys, then its totals.
fn grouped<T>(
    conn: &Connection,
    keys: &[&str],
    range: (i64, i64),
    order: &str,
    limit: Option<u32>,
    make: impl Fn(&rusqlite::Row<'_>, Totals) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let key_list = keys.join(", ");
    let numbered: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
    let mut sql = format!(
        "SELECT {key_list}, {TOTALS_SQL} FROM usage WHERE ts >= ?1 AND ts < ?2
         GROUP BY {} ORDER BY {order}",
        numbered.join(", ")
    );
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![range.0, range.1], |row| {
        let totals = totals_at(row, keys.len())?;
        make(row, totals)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The spend report of `[from_ms, until_ms)`, all from SQL aggregates over
/// the `ts` index.
pub fn summary(conn: &Connection, from_ms: i64, until_ms: i64) -> StoreResult<Summary> {
    let range = (from_ms, until_ms);
    let total = conn.query_row(
        &format!("SELECT {TOTALS_SQL} FROM usage WHERE ts >= ?1 AND ts < ?2"),
        params![from_ms, until_ms],
        |row| totals_at(row, 0),
    )?;
    let costliest = "SUM(cost) DESC, COUNT(*) DESC, 1";
    let by_provider = grouped(
        conn,
        &["provider"],
        range,
        costliest,
        None,
        |row, totals| {
            Ok(ProviderTotals {
                provider: row.get(0)?,
                totals,
            })
        },
    )?;
    let by_tier = grouped(conn, &["tier"], range, costliest, None, |row, totals| {
        Ok(TierTotals {
            tier: row.get(0)?,
            totals,
        })
    })?;
    let by_model = grouped(
        conn,
        &["provider", "COALESCE(upstream_model, requested_model)"],
        range,
        "SUM(cost) DESC, COUNT(*) DESC, 1, 2",
        Some(SUMMARY_TOP_MODELS),
        |row, totals| {
            Ok(ModelTotals {
                provider: row.get(0)?,
                model: row.get(1)?,
                totals,
            })
        },
    )?;
    let by_day = grouped(
        conn,
        &["strftime('%Y-%m-%d', ts / 1000, 'unixepoch')"],
        range,
        "1",
        None,
        |row, totals| {
            Ok(DayTotals {
                date: row.get(0)?,
                totals,
            })
        },
    )?;
    Ok(Summary {
        total,
        by_provider,
        by_tier,
        by_model,
        by_day,
    })
}

/// What each budget scope spent in `[from_ms, until_ms)`: keys are
/// `provider:<id>` and `tier:<tier>`, as budgets name them.
pub fn spend_by_scope(
    conn: &Connection,
    from_ms: i64,
    until_ms: i64,
) -> StoreResult<HashMap<String, f64>> {
    let mut spent = HashMap::new();
    for (column, kind) in [("provider", "provider"), ("tier", "tier")] {
        let mut stmt = conn.prepare(&format!(
            "SELECT {column}, COALESCE(SUM(cost), 0.0) FROM usage
             WHERE ts >= ?1 AND ts < ?2 AND {column} IS NOT NULL GROUP BY {column}"
        ))?;
        let rows = stmt.query_map(params![from_ms, until_ms], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, f64>(1)?))
        })?;
        for row in rows {
            let (name, usd) = row?;
            spent.insert(format!("{kind}:{name}"), usd);
        }
    }
    Ok(spent)
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

    fn billed(ts: i64, provider: &str, model: &str, tier: &str, cost: f64) -> UsageRecord {
        UsageRecord {
            ts,
            inbound_format: "openai".into(),
            requested_model: format!("{provider}/{model}"),
            provider: Some(provider.into()),
            upstream_model: Some(model.into()),
            tier: Some(tier.into()),
            status: 200,
            input_tokens: 100,
            output_tokens: 10,
            cost,
            ..Default::default()
        }
    }

    const DAY: i64 = 86_400_000;
    /// 2026-11-01T00:00:00Z.
    const NOV_1: i64 = 1_793_491_200_000;

    #[test]
    fn summary_sums_the_period_by_provider_tier_model_and_day() {
        let mut failed = rec(NOV_1 + 5, "ghost/x", 404);
        failed.provider = None;
        let mut cached = billed(NOV_1 + DAY + 7, "openai", "gpt-4.1", "api-key", 0.0);
        cached.served_from = Some("cache".into());
        let conn = db_with(&[
            billed(NOV_1 - 1, "openai", "gpt-4.1", "api-key", 100.0), // October
            billed(NOV_1, "openai", "gpt-4.1", "api-key", 0.5),
            billed(NOV_1 + 10, "anthropic", "claude", "subscription", 0.25),
            billed(NOV_1 + DAY, "openai", "gpt-4.1-mini", "api-key", 0.125),
            cached,
            failed,
            billed(NOV_1 + 30 * DAY, "openai", "gpt-4.1", "api-key", 100.0), // December
        ]);
        let s = summary(&conn, NOV_1, NOV_1 + 30 * DAY).unwrap();
        assert_eq!(
            s.total,
            Totals {
                requests: 5,
                errors: 1,
                input_tokens: 410,
                output_tokens: 40,
                cost_usd: 0.875
            }
        );
        let providers: Vec<_> = s
            .by_provider
            .iter()
            .map(|p| (p.provider.as_deref(), p.totals.requests, p.totals.cost_usd))
            .collect();
        assert_eq!(
            providers,
            vec![
                (Some("openai"), 3, 0.625),
                (Some("anthropic"), 1, 0.25),
                (None, 1, 0.0)
            ]
        );
        assert_eq!(s.by_tier[0].tier.as_deref(), Some("api-key"));
        assert_eq!(s.by_tier[0].totals.cost_usd, 0.625);
        let models: Vec<_> = s
            .by_model
            .iter()
            .map(|m| (m.provider.as_deref(), m.model.as_str(), m.totals.requests))
            .collect();
        assert_eq!(
            models,
            vec![
                (Some("openai"), "gpt-4.1", 2),
                (Some("anthropic"), "claude", 1),
                (Some("openai"), "gpt-4.1-mini", 1),
                (None, "ghost/x", 1)
            ]
        );
        let days: Vec<_> = s
            .by_day
            .iter()
            .map(|d| (d.date.as_str(), d.totals.requests, d.totals.cost_usd))
            .collect();
        assert_eq!(
            days,
            vec![("2026-11-01", 3, 0.75), ("2026-11-02", 2, 0.125)]
        );
        let json = serde_json::to_value(&s.by_provider[0]).unwrap();
        assert_eq!(json["provider"], "openai");
        assert_eq!(json["cost_usd"], 0.625);

        let empty = summary(&conn, 0, 1).unwrap();
        assert_eq!(empty, Summary::default());
    }

    #[test]
    fn spend_by_scope_keys_match_budget_scopes() {
        let conn = db_with(&[
            billed(NOV_1, "openai", "gpt-4.1", "api-key", 0.5),
            billed(NOV_1 + 1, "groq", "llama", "cheap", 0.25),
            billed(NOV_1 + 2, "openai", "gpt-4.1", "api-key", 0.5),
            billed(NOV_1 + DAY, "openai", "gpt-4.1", "api-key", 9.0),
        ]);
        let spent = spend_by_scope(&conn, NOV_1, NOV_1 + DAY).unwrap();
        assert_eq!(spent.get("provider:openai"), Some(&1.0));
        assert_eq!(spent.get("tier:api-key"), Some(&1.0));
        assert_eq!(spent.get("tier:cheap"), Some(&0.25));
        assert_eq!(spent.len(), 4);
    }

    fn with_bodies(ts: i64) -> UsageRecord {
        use crate::observe::bodies::LoggedBody;
        UsageRecord {
            request_body: Some(LoggedBody {
                bytes: bytes::Bytes::from(format!("req {ts}")),
                truncated: false,
            }),
            response_body: Some(LoggedBody {
                bytes: bytes::Bytes::from_static(b"resp"),
                truncated: true,
            }),
            ..rec(ts, "a", 200)
        }
    }

    #[test]
    fn bodies_are_stored_with_their_row_and_read_back_by_id() {
        let mut conn = db_with(&[]);
        let tx = conn.transaction().unwrap();
        let plain = insert(&tx, &rec(1, "a", 200)).unwrap();
        let logged_record = with_bodies(2);
        let logged = insert(&tx, &logged_record).unwrap();
        assert!(!insert_bodies(&tx, plain, &rec(1, "a", 200)).unwrap());
        assert!(insert_bodies(&tx, logged, &logged_record).unwrap());
        tx.commit().unwrap();

        let detail = get(&conn, logged).unwrap().unwrap();
        assert_eq!(detail.row.id, logged);
        assert_eq!(detail.request_body.as_deref(), Some("req 2"));
        assert_eq!(detail.response_body.as_deref(), Some("resp…[truncated]"));
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["id"], logged);
        assert_eq!(json["requested_model"], "a");
        assert_eq!(json["request_body"], "req 2");

        let bare = get(&conn, plain).unwrap().unwrap();
        assert_eq!((bare.request_body, bare.response_body), (None, None));
        assert!(get(&conn, 999).unwrap().is_none());

        // Pruning a row for age takes its bodies with it.
        prune(&conn, 3).unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM usage_bodies", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn only_the_newest_rows_keep_their_bodies() {
        let mut conn = db_with(&[]);
        let tx = conn.transaction().unwrap();
        let mut ids = Vec::new();
        for ts in 0..10 {
            let r = with_bodies(ts);
            let id = insert(&tx, &r).unwrap();
            insert_bodies(&tx, id, &r).unwrap();
            ids.push(id);
        }
        tx.commit().unwrap();
        assert_eq!(trim_bodies(&conn, 4).unwrap(), 6);
        assert_eq!(trim_bodies(&conn, 4).unwrap(), 0);
        let kept: Vec<i64> = conn
            .prepare("SELECT usage_id FROM usage_bodies ORDER BY usage_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, ids[6..].to_vec());
        assert_eq!(count(&conn).unwrap(), 10, "the rows themselves stay");
    }

    #[test]
    fn list_after_returns_the_newest_rows_above_an_id_oldest_first() {
        let conn = db_with(&[
            rec(1, "a", 200),
            rec(2, "a", 200),
            rec(3, "a", 200),
            rec(4, "a", 200),
        ]);
        let all = list_after(&conn, 0, 200).unwrap();
        assert_eq!(
            all.iter().map(|r| r.record.ts).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        let after_first = list_after(&conn, all[0].id, 2).unwrap();
        assert_eq!(
            after_first.iter().map(|r| r.record.ts).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(list_after(&conn, all[3].id, 200).unwrap().is_empty());
    }

    #[test]
    fn prune_removes_only_old_records() {
        let conn = db_with(&[rec(10, "a", 200), rec(20, "a", 200), rec(30, "a", 200)]);
        assert_eq!(prune(&conn, 25).unwrap(), 2);
        assert_eq!(count(&conn).unwrap(), 1);
    }
}
