//! Gateway API keys: generated, stored as SHA-256 hashes, shown once, revocable, rotatable, optionally expiring.

use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{StoreError, StoreResult, now_ms};

/// Prefix of every key the gateway generates.
pub const KEY_PREFIX: &str = "sk-omni-";

#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub key_hash: String,
    /// Start and end of the key, for recognising it.
    pub key_preview: String,
    pub models: Vec<String>,
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the key stops working; `None` for never.
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub request_count: i64,
    pub limits: KeyLimits,
}

/// How much one key may use; every field is optional and `None` is no limit.
/// Request limits count the requests the gateway let through for the key;
/// budgets count their cost. Days and months are UTC calendar ones, like
/// the provider budgets'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
}

impl KeyLimits {
    pub fn is_empty(&self) -> bool {
        *self == KeyLimits::default()
    }

    /// Refuses a budget that is not a finite amount of 0 or more (a request
    /// limit of 0 is allowed: it pauses the key).
    pub fn validate(&self) -> StoreResult<()> {
        for (name, usd) in [
            ("daily_usd", self.daily_usd),
            ("monthly_usd", self.monthly_usd),
        ] {
            if usd.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(StoreError::Invalid(format!(
                    "limits.{name} must be a dollar amount of 0 or more"
                )));
            }
        }
        Ok(())
    }
}

/// A new random key: the prefix and 40 base62 characters (~238 bits).
pub fn generate_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{body}")
}

/// SHA-256 of a key. Keys are long random strings, so a fast hash is safe and
/// keeps the per-request check cheap.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn row_to_key(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    let models: String = row.get("models")?;
    let limits: String = row.get("limits")?;
    Ok(ApiKeyRow {
        id: row.get("id")?,
        name: row.get("name")?,
        key_hash: row.get("key_hash")?,
        key_preview: row.get("key_preview")?,
        models: serde_json::from_str(&models).unwrap_or_else(|_| vec!["*".to_string()]),
        source: row.get("source")?,
        created_at: row.get("created_at")?,
        revoked_at: row.get("revoked_at")?,
        expires_at: row.get("expires_at")?,
        last_used_at: row.get("last_used_at")?,
        request_count: row.get("request_count")?,
        // Written only by `set_limits`, which validated it.
        limits: serde_json::from_str(&limits).unwrap_or_default(),
    })
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ApiKeyRow>> {
    let mut stmt = conn.prepare("SELECT * FROM api_keys ORDER BY id")?;
    let rows = stmt.query_map([], row_to_key)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many keys were ever created, revoked ones included.
pub fn count_all(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
}

/// Changes whenever a key is added, revoked or replaced, by any process:
/// (keys, highest id, revoked keys, latest revocation).
pub fn fingerprint(conn: &Connection) -> StoreResult<(i64, i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(id), 0), COUNT(revoked_at), COALESCE(MAX(revoked_at), 0) FROM api_keys",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?)
}

pub fn get(conn: &Connection, id: i64) -> StoreResult<ApiKeyRow> {
    conn.query_row("SELECT * FROM api_keys WHERE id = ?1", [id], row_to_key)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no API key with id {id}")))
}

fn validate_models(models: &[String]) -> StoreResult<()> {
    if models.is_empty() || models.iter().any(|m| m.trim().is_empty()) {
        return Err(StoreError::Invalid(
            "models must list at least one model pattern, e.g. [\"*\"]".into(),
        ));
    }
    Ok(())
}

/// Stores `key` under `name`. With `replace`, a key of the same name gets the
/// new key and models (the config file is applied this way on every start).
pub fn save(
    conn: &Connection,
    name: &str,
    key: &str,
    models: &[String],
    source: &str,
    replace: bool,
) -> StoreResult<ApiKeyRow> {
    validate_models(models)?;
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("an API key needs a name".into()));
    }
    let hash = hex::encode(hash_key(key));
    let preview = super::connections::preview(key);
    let models_json =
        serde_json::to_string(models).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let sql = if replace {
        "INSERT INTO api_keys (name, key_hash, key_preview, models, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(name) DO UPDATE SET key_hash=excluded.key_hash, key_preview=excluded.key_preview,
           models=excluded.models, source=excluded.source, revoked_at=NULL"
    } else {
        "INSERT INTO api_keys (name, key_hash, key_preview, models, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    };
    conn.execute(
        sql,
        params![name, hash, preview, models_json, source, now_ms()],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "an API key named `{name}` (or with the same key) exists"
            ))
        }
        other => other.into(),
    })?;
    let id: i64 = conn.query_row("SELECT id FROM api_keys WHERE name = ?1", [name], |r| {
        r.get(0)
    })?;
    get(conn, id)
}

/// Creates a key with a fresh random secret; returns the row and the key,
/// which is never retrievable again.
pub fn create(
    conn: &Connection,
    name: &str,
    models: &[String],
) -> StoreResult<(ApiKeyRow, String)> {
    let key = generate_key();
    let row = save(conn, name, &key, models, "api", false)?;
    Ok((row, key))
}

/// Sets when a key stops working (`None`: never).
pub fn set_expiry(conn: &Connection, id: i64, expires_at: Option<i64>) -> StoreResult<ApiKeyRow> {
    conn.execute(
        "UPDATE api_keys SET expires_at = ?2 WHERE id = ?1",
        params![id, expires_at],
    )?;
    get(conn, id)
}

/// Sets how much a key may use ([`KeyLimits::default`]: no limits).
pub fn set_limits(conn: &Connection, id: i64, limits: &KeyLimits) -> StoreResult<ApiKeyRow> {
    limits.validate()?;
    let json = serde_json::to_string(limits).map_err(|e| StoreError::Invalid(e.to_string()))?;
    conn.execute(
        "UPDATE api_keys SET limits = ?2 WHERE id = ?1",
        params![id, json],
    )?;
    get(conn, id)
}

/// Gives a live key a new secret, keeping its name, models, limits and expiry; the
/// old secret stops working. Returns the row and the new key, shown once.
pub fn rotate(conn: &Connection, id: i64) -> StoreResult<(ApiKeyRow, String)> {
    let row = get(conn, id)?;
    if row.revoked_at.is_some() {
        return Err(StoreError::Conflict(format!(
            "API key {id} is revoked; create a new one instead"
        )));
    }
    let key = generate_key();
    conn.execute(
        "UPDATE api_keys SET key_hash = ?2, key_preview = ?3 WHERE id = ?1",
        params![
            id,
            hex::encode(hash_key(&key)),
            super::connections::preview(&key)
        ],
    )?;
    Ok((get(conn, id)?, key))
}

pub fn revoke(conn: &Connection, id: i64) -> StoreResult<ApiKeyRow> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_ms()],
    )?;
    let row = get(conn, id)?;
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "API key {id} is already revoked"
        )));
    }
    Ok(row)
}

/// Adds `count` uses at time `at` to a key's counters.
pub fn record_use(conn: &Connection, id: i64, count: i64, at: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE api_keys SET request_count = request_count + ?2, last_used_at = MAX(COALESCE(last_used_at, 0), ?3) WHERE id = ?1",
    )?
    .execute(params![id, count, at])?;
    Ok(())
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

    #[test]
    fn generated_keys_are_unique_and_only_hashed_at_rest() {
        let conn = db();
        let (row, key) = create(&conn, "laptop", &["*".into()]).unwrap();
        assert!(key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 40);
        assert_ne!(generate_key(), generate_key());
        assert_eq!(row.key_hash, hex::encode(hash_key(&key)));
        let stored: String = conn
            .query_row(
                "SELECT group_concat(key_hash || key_preview) FROM api_keys",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!stored.contains(&key));
    }

    #[test]
    fn revoke_twice_is_a_conflict_and_unknown_is_not_found() {
        let conn = db();
        let (row, _) = create(&conn, "a", &["*".into()]).unwrap();
        assert!(revoke(&conn, row.id).unwrap().revoked_at.is_some());
        assert!(matches!(
            revoke(&conn, row.id),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(revoke(&conn, 999), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn rotation_replaces_the_secret_and_keeps_the_settings() {
        let conn = db();
        let (row, old) = create(&conn, "ci", &["openai/*".into()]).unwrap();
        set_expiry(&conn, row.id, Some(4_000_000_000_000)).unwrap();
        let limits = KeyLimits {
            requests_per_day: Some(100),
            monthly_usd: Some(5.0),
            ..KeyLimits::default()
        };
        set_limits(&conn, row.id, &limits).unwrap();
        let (rotated, new) = rotate(&conn, row.id).unwrap();
        assert_eq!(rotated.limits, limits);
        assert_ne!(old, new);
        assert_eq!(rotated.key_hash, hex::encode(hash_key(&new)));
        assert_eq!(
            (
                rotated.id,
                rotated.name.as_str(),
                rotated.models.clone(),
                rotated.expires_at
            ),
            (
                row.id,
                "ci",
                vec!["openai/*".to_string()],
                Some(4_000_000_000_000)
            )
        );
        revoke(&conn, row.id).unwrap();
        assert!(matches!(
            rotate(&conn, row.id),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn usage_counters_accumulate() {
        let conn = db();
        let (row, _) = create(&conn, "a", &["*".into()]).unwrap();
        record_use(&conn, row.id, 3, 100).unwrap();
        record_use(&conn, row.id, 2, 50).unwrap();
        let row = get(&conn, row.id).unwrap();
        assert_eq!((row.request_count, row.last_used_at), (5, Some(100)));
    }

    #[test]
    fn limits_round_trip_and_a_negative_budget_is_invalid() {
        let conn = db();
        let (row, _) = create(&conn, "a", &["*".into()]).unwrap();
        assert!(row.limits.is_empty());
        let limits = KeyLimits {
            requests_per_minute: Some(0),
            daily_usd: Some(0.5),
            ..KeyLimits::default()
        };
        assert_eq!(set_limits(&conn, row.id, &limits).unwrap().limits, limits);
        let bad = KeyLimits {
            monthly_usd: Some(-1.0),
            ..KeyLimits::default()
        };
        assert!(matches!(
            set_limits(&conn, row.id, &bad),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(get(&conn, row.id).unwrap().limits, limits);
    }

    #[test]
    fn empty_model_list_is_invalid() {
        let conn = db();
        assert!(matches!(
            create(&conn, "a", &[]),
            Err(StoreError::Invalid(_))
        ));
    }
}
