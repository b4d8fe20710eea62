//! Past usage that routing counts at start: this month's spend, and recent requests of connections with quotas.

use rusqlite::{Connection, params};

use super::StoreResult;

/// What one past request cost, and whose budgets it counts toward.
#[derive(Debug, Clone, PartialEq)]
pub struct PastSpend {
    pub ts: i64,
    pub provider: String,
    pub tier: Option<String>,
    pub cost: f64,
}

/// Every priced record since `since_ms`.
pub fn spend_since(conn: &Connection, since_ms: i64) -> StoreResult<Vec<PastSpend>> {
    let mut stmt = conn.prepare(
        "SELECT ts, provider, tier, cost FROM usage
         WHERE ts >= ?1 AND cost > 0 AND provider IS NOT NULL AND served_from IS NULL",
    )?;
    let rows = stmt.query_map(params![since_ms], |r| {
        Ok(PastSpend {
            ts: r.get(0)?,
            provider: r.get(1)?,
            tier: r.get(2)?,
            cost: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One past request of a gateway key, for its limits and budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct PastKeyUse {
    pub key_id: i64,
    pub ts: i64,
    pub cost: f64,
    /// Whether it counts toward request limits: false for the requests the
    /// key's own limits refused.
    pub counted: bool,
}

/// Every request made with a gateway key since `since_ms`.
pub fn key_use_since(conn: &Connection, since_ms: i64) -> StoreResult<Vec<PastKeyUse>> {
    // A request the key meter refused is recorded as a 429 whose error
    // begins with the key's name (`KeyMeter::admit`); nothing else is.
    let mut stmt = conn.prepare(
        "SELECT api_key_id, ts, cost,
                NOT (status = 429 AND COALESCE(error, '') LIKE 'The API key `%') FROM usage
         WHERE ts >= ?1 AND api_key_id IS NOT NULL ORDER BY ts",
    )?;
    let rows = stmt.query_map(params![since_ms], |r| {
        Ok(PastKeyUse {
            key_id: r.get(0)?,
            ts: r.get(1)?,
            cost: r.get(2)?,
            counted: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(ts, connection_id, tokens)` of the served (2xx) records of
/// `connections` since `since_ms`, oldest first: what quota windows count.
pub fn requests_since(
    conn: &Connection,
    connections: &[i64],
    since_ms: i64,
) -> StoreResult<Vec<(i64, i64, u64)>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT ts, connection_id, input_tokens + output_tokens FROM usage
         WHERE connection_id = ?1 AND ts >= ?2 AND served_from IS NULL
           AND status BETWEEN 200 AND 299 ORDER BY ts",
    )?;
    for id in connections {
        let rows = stmt.query_map(params![id, since_ms], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    out.sort_by_key(|r| r.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::UsageRecord;
    use crate::store::{migrate, usage};

    #[test]
    fn spend_and_requests_read_back_what_was_recorded() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let rec = |ts: i64, conn_id: i64, cost: f64, served_from: Option<&str>| UsageRecord {
            ts,
            inbound_format: "openai".into(),
            requested_model: "m".into(),
            provider: Some("openai".into()),
            connection_id: Some(conn_id),
            tier: Some("api-key".into()),
            input_tokens: 10,
            output_tokens: 5,
            cost,
            status: 200,
            served_from: served_from.map(str::to_string),
            ..Default::default()
        };
        usage::insert(&tx, &rec(100, 1, 0.5, None)).unwrap();
        usage::insert(&tx, &rec(200, 2, 0.25, None)).unwrap();
        usage::insert(&tx, &rec(300, 1, 0.0, Some("cache"))).unwrap();
        usage::insert(&tx, &rec(50, 1, 1.0, None)).unwrap();
        tx.commit().unwrap();
        let spend = spend_since(&conn, 100).unwrap();
        assert_eq!(spend.len(), 2);
        assert_eq!(spend.iter().map(|r| r.cost).sum::<f64>(), 0.75);
        assert_eq!(
            requests_since(&conn, &[1, 2], 60).unwrap(),
            vec![(100, 1, 15), (200, 2, 15)]
        );
    }
}
