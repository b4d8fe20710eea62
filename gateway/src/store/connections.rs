//! Provider accounts (credentials) in the `connections` table, keys sealed with AES-256-GCM.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{SecretBox, StoreError, StoreResult, now_ms};
use crate::providers::Tier;
use crate::routing::quota::QuotaLimit;

/// A stored connection. The decrypted key is never part of this type's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    pub id: i64,
    pub provider: String,
    pub name: String,
    #[serde(skip)]
    pub secret: Option<Vec<u8>>,
    pub api_key_env: Option<String>,
    pub base_url: Option<String>,
    pub priority: i64,
    pub enabled: bool,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `None` while usable; else a terminal [`AccountState`] that survives
    /// restarts until the user clears it (or changes the key).
    pub state: Option<AccountState>,
    pub state_reason: Option<String>,
    pub state_at: Option<i64>,
    /// Overrides the provider's fallback tier.
    pub tier: Option<Tier>,
    /// Outbound proxy for this account; overrides the provider's and the global one.
    pub proxy: Option<String>,
    /// Quota windows tracked for this account.
    pub quota: Vec<QuotaLimit>,
    /// Whether `secret` holds an OAuth token set rather than an API key.
    pub oauth: bool,
    /// The signed-in account's email (OAuth accounts).
    pub account_email: Option<String>,
}

/// Why a connection stopped being used, until a person looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// The upstream refused the credentials (401/403) and they cannot be refreshed.
    AuthFailed,
    /// The key was revoked or deleted at the provider.
    Revoked,
    /// The account is banned or suspended.
    Banned,
    /// The account has no credit left (HTTP 402, `insufficient_quota`).
    OutOfCredits,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::AuthFailed => "auth_failed",
            AccountState::Revoked => "revoked",
            AccountState::Banned => "banned",
            AccountState::OutOfCredits => "out_of_credits",
        }
    }

    pub fn parse(text: &str) -> Option<AccountState> {
        [
            AccountState::AuthFailed,
            AccountState::Revoked,
            AccountState::Banned,
            AccountState::OutOfCredits,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Fields of a connection to create or replace.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    pub provider: String,
    pub name: String,
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    pub base_url: Option<String>,
    pub priority: i64,
    pub enabled: bool,
    pub tier: Option<Tier>,
    pub proxy: Option<String>,
    pub quota: Vec<QuotaLimit>,
}

/// A partial update; `None` leaves a field as it is. `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionPatch {
    pub name: Option<String>,
    pub api_key: Option<Option<String>>,
    pub api_key_env: Option<Option<String>>,
    pub base_url: Option<Option<String>>,
    pub priority: Option<i64>,
    pub enabled: Option<bool>,
    pub tier: Option<Option<Tier>>,
    pub proxy: Option<Option<String>>,
    pub quota: Option<Vec<QuotaLimit>>,
    /// Clears a terminal [`AccountState`] (the user looked at it).
    pub clear_state: bool,
}

/// Checks quota windows: a reset hour of the day, something to count, and
/// each window once (one entry holds both its request and token limits).
pub fn check_quota(limits: &[QuotaLimit]) -> Result<(), String> {
    for (i, limit) in limits.iter().enumerate() {
        let window = serde_json::to_value(limit.window)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if limit.reset_hour > 23 {
            return Err(format!(
                "quota `{window}`: reset_hour must be 0-23 (an hour of the day, UTC)"
            ));
        }
        if limit.requests.unwrap_or(0) == 0 && limit.tokens.unwrap_or(0) == 0 {
            return Err(format!(
                "quota `{window}` needs requests and/or tokens greater than 0"
            ));
        }
        if limits[..i].iter().any(|l| l.window == limit.window) {
            return Err(format!(
                "quota window `{window}` is listed twice; put its requests and tokens in one entry"
            ));
        }
    }
    Ok(())
}

fn tier_text(tier: Option<Tier>) -> Option<String> {
    tier.and_then(|t| match serde_json::to_value(t) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    })
}

fn quota_json(quota: &[QuotaLimit]) -> StoreResult<String> {
    serde_json::to_string(quota).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn row_to_connection(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConnectionRow> {
    Ok(ConnectionRow {
        id: row.get("id")?,
        provider: row.get("provider")?,
        name: row.get("name")?,
        secret: row.get("secret")?,
        api_key_env: row.get("api_key_env")?,
        base_url: row.get("base_url")?,
        priority: row.get("priority")?,
        enabled: row.get::<_, i64>("enabled")? != 0,
        source: row.get("source")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        state: row
            .get::<_, Option<String>>("state")?
            .as_deref()
            .and_then(AccountState::parse),
        state_reason: row.get("state_reason")?,
        state_at: row.get("state_at")?,
        tier: row
            .get::<_, Option<String>>("tier")?
            .and_then(|t| serde_json::from_value(serde_json::Value::String(t)).ok()),
        proxy: row.get("proxy")?,
        quota: serde_json::from_str(&row.get::<_, String>("quota")?).unwrap_or_default(),
        oauth: row.get::<_, String>("credential")? == CREDENTIAL_OAUTH,
        account_email: row.get("account_email")?,
    })
}

/// `credential` of a connection whose secret is an OAuth token set.
const CREDENTIAL_OAUTH: &str = "oauth";

/// Stores renewed OAuth tokens (sealed JSON) of a connection.
pub fn set_oauth(
    conn: &Connection,
    secrets: &SecretBox,
    id: i64,
    tokens_json: &str,
) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE connections SET secret=?2, credential=?3, updated_at=?4 WHERE id=?1",
        params![
            id,
            secrets.seal_str(tokens_json)?,
            CREDENTIAL_OAUTH,
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("no connection with id {id}")));
    }
    Ok(())
}

/// Saves a completed sign-in: the provider's connection for the same
/// account (by email) gets the new tokens and a fresh start; otherwise a
/// new connection is made, named `name`, else the email, else
/// `<provider> account N`.
pub fn upsert_oauth(
    conn: &Connection,
    secrets: &SecretBox,
    provider: &str,
    name: Option<&str>,
    email: Option<&str>,
    tokens_json: &str,
) -> StoreResult<ConnectionRow> {
    let existing: Option<i64> = match email {
        Some(email) => conn
            .query_row(
                "SELECT id FROM connections WHERE provider = ?1 AND credential = ?2 AND account_email = ?3",
                params![provider, CREDENTIAL_OAUTH, email],
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    if let Some(id) = existing {
        set_oauth(conn, secrets, id, tokens_json)?;
        set_state(conn, id, None, None)?;
        return get(conn, id);
    }
    let taken = |candidate: &str| -> StoreResult<bool> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM connections WHERE provider = ?1 AND name = ?2",
                params![provider, candidate],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    };
    let mut chosen = name.or(email).map(str::to_string);
    if let Some(wanted) = &chosen
        && taken(wanted)?
    {
        chosen = None;
    }
    let name = match chosen {
        Some(name) => name,
        None => {
            let mut n = 1;
            loop {
                let candidate = format!("{provider} account {n}");
                if !taken(&candidate)? {
                    break candidate;
                }
                n += 1;
            }
        }
    };
    let now = now_ms();
    conn.execute(
        "INSERT INTO connections (provider, name, secret, priority, enabled, source, created_at, updated_at, quota, credential, account_email)
         VALUES (?1, ?2, ?3, 0, 1, 'oauth', ?4, ?4, '[]', ?5, ?6)",
        params![provider, name, secrets.seal_str(tokens_json)?, now, CREDENTIAL_OAUTH, email],
    )
    .map_err(|e| conflict(e, provider, &name))?;
    get(conn, conn.last_insert_rowid())
}

/// Puts a connection in a terminal state (or clears it with `None`).
pub fn set_state(
    conn: &Connection,
    id: i64,
    state: Option<AccountState>,
    reason: Option<&str>,
) -> StoreResult<()> {
    let at = state.map(|_| now_ms());
    let changed = conn.execute(
        "UPDATE connections SET state=?2, state_reason=?3, state_at=?4 WHERE id=?1",
        params![id, state.map(AccountState::as_str), reason, at],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("no connection with id {id}")));
    }
    Ok(())
}

fn conflict(e: rusqlite::Error, provider: &str, name: &str) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "provider `{provider}` already has a connection named `{name}`"
            ))
        }
        other => other.into(),
    }
}

/// A proxy URL as stored: its password, if any, sealed.
fn sealed_proxy(secrets: &SecretBox, proxy: Option<&str>) -> StoreResult<Option<String>> {
    Ok(match proxy {
        Some(url) => Some(super::sealed_url::seal(secrets, url)?),
        None => None,
    })
}

fn seal(secrets: &SecretBox, key: Option<&str>) -> StoreResult<Option<Vec<u8>>> {
    Ok(match key.filter(|k| !k.is_empty()) {
        Some(k) => Some(secrets.seal_str(k)?),
        None => None,
    })
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ConnectionRow>> {
    let mut stmt = conn.prepare("SELECT * FROM connections ORDER BY provider, priority, id")?;
    let rows = stmt.query_map([], row_to_connection)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: i64) -> StoreResult<ConnectionRow> {
    conn.query_row(
        "SELECT * FROM connections WHERE id = ?1",
        [id],
        row_to_connection,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id}")))
}

pub fn insert(
    conn: &Connection,
    secrets: &SecretBox,
    input: &ConnectionInput,
    source: &str,
) -> StoreResult<ConnectionRow> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO connections (provider, name, secret, api_key_env, base_url, priority, enabled, source, created_at, updated_at, tier, proxy, quota)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)",
        params![
            input.provider,
            input.name,
            seal(secrets, input.api_key.as_deref())?,
            input.api_key_env,
            input.base_url,
            input.priority,
            input.enabled,
            source,
            now,
            tier_text(input.tier),
            sealed_proxy(secrets, input.proxy.as_deref())?,
            quota_json(&input.quota)?
        ],
    )
    .map_err(|e| conflict(e, &input.provider, &input.name))?;
    get(conn, conn.last_insert_rowid())
}

/// Creates or replaces the connection with the same provider and name
/// (how the config file is applied on every start). A terminal state set
/// at run time stays, so the user sees it, unless the key changed: a new
/// key deserves a new chance.
pub fn upsert_by_name(
    conn: &Connection,
    secrets: &SecretBox,
    input: &ConnectionInput,
    source: &str,
) -> StoreResult<ConnectionRow> {
    let existing: Option<i64> = conn
        .query_row(
            "SELECT id FROM connections WHERE provider = ?1 AND name = ?2",
            params![input.provider, input.name],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = existing else {
        return insert(conn, secrets, input, source);
    };
    let current = get(conn, id)?;
    let old_key = match &current.secret {
        // A key that no longer opens (another data key) counts as changed.
        Some(sealed) => secrets.open_str(sealed).ok(),
        None => None,
    };
    let new_key = input.api_key.clone().filter(|k| !k.is_empty());
    let key_changed = old_key != new_key || current.api_key_env != input.api_key_env;
    conn.execute(
        "UPDATE connections SET secret=?2, api_key_env=?3, base_url=?4, priority=?5, enabled=?6, source=?7, updated_at=?8,
           tier=?9, proxy=?10, quota=?11 WHERE id=?1",
        params![
            id,
            seal(secrets, input.api_key.as_deref())?,
            input.api_key_env,
            input.base_url,
            input.priority,
            input.enabled,
            source,
            now_ms(),
            tier_text(input.tier),
            sealed_proxy(secrets, input.proxy.as_deref())?,
            quota_json(&input.quota)?
        ],
    )?;
    if key_changed && current.state.is_some() {
        set_state(conn, id, None, None)?;
    }
    get(conn, id)
}

pub fn update(
    conn: &Connection,
    secrets: &SecretBox,
    id: i64,
    patch: &ConnectionPatch,
) -> StoreResult<ConnectionRow> {
    let current = get(conn, id)?;
    let name = patch.name.clone().unwrap_or(current.name.clone());
    // A connection has a stored key or an env var, never both: setting one
    // clears the other unless the same patch sets both.
    let (secret, api_key_env) = match (&patch.api_key, &patch.api_key_env) {
        (Some(Some(_)), Some(Some(_))) => {
            return Err(StoreError::Invalid(
                "give api_key or api_key_env, not both".into(),
            ));
        }
        (Some(key), None) if key.is_some() => (seal(secrets, key.as_deref())?, None),
        (None, Some(env)) if env.is_some() => (None, env.clone()),
        (key, env) => (
            match key {
                Some(k) => seal(secrets, k.as_deref())?,
                None => current.secret.clone(),
            },
            env.clone().unwrap_or(current.api_key_env.clone()),
        ),
    };
    let base_url = patch.base_url.clone().unwrap_or(current.base_url.clone());
    let quota = match &patch.quota {
        Some(q) => q.as_slice(),
        None => current.quota.as_slice(),
    };
    conn.execute(
        "UPDATE connections SET name=?2, secret=?3, api_key_env=?4, base_url=?5, priority=?6, enabled=?7, updated_at=?8,
           tier=?9, proxy=?10, quota=?11 WHERE id=?1",
        params![
            id,
            name,
            secret,
            api_key_env,
            base_url,
            patch.priority.unwrap_or(current.priority),
            patch.enabled.unwrap_or(current.enabled),
            now_ms(),
            tier_text(patch.tier.unwrap_or(current.tier)),
            match &patch.proxy {
                Some(proxy) => sealed_proxy(secrets, proxy.as_deref())?,
                None => current.proxy.clone(),
            },
            quota_json(quota)?
        ],
    )
    .map_err(|e| conflict(e, &current.provider, &name))?;
    // A new key (or key source) deserves a new chance.
    let new_key =
        matches!(patch.api_key, Some(Some(_))) || matches!(patch.api_key_env, Some(Some(_)));
    if (patch.clear_state || new_key) && current.state.is_some() {
        set_state(conn, id, None, None)?;
    }
    get(conn, id)
}

pub fn delete(conn: &Connection, id: i64) -> StoreResult<()> {
    if conn.execute("DELETE FROM connections WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("no connection with id {id}")));
    }
    Ok(())
}

/// The key a connection presents upstream: its sealed key, else its env var.
pub fn resolve_key(row: &ConnectionRow, secrets: &SecretBox) -> StoreResult<Option<String>> {
    if let Some(sealed) = &row.secret {
        return Ok(Some(secrets.open_str(sealed)?));
    }
    Ok(row
        .api_key_env
        .as_deref()
        .and_then(|var| std::env::var(var).ok())
        .filter(|k| !k.is_empty()))
}

/// A key shown to humans: its first and last four characters.
pub fn preview(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 10 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    fn db() -> (Connection, SecretBox) {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        (conn, SecretBox::from_key([1; 32]))
    }

    fn input(name: &str, key: &str) -> ConnectionInput {
        ConnectionInput {
            provider: "openai".into(),
            name: name.into(),
            api_key: Some(key.into()),
            priority: 1,
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn key_is_stored_encrypted_and_resolves() {
        let (conn, sb) = db();
        let row = insert(&conn, &sb, &input("work", "sk-live-123456"), "api").unwrap();
        let raw: Vec<u8> = conn
            .query_row("SELECT secret FROM connections", [], |r| r.get(0))
            .unwrap();
        assert!(!raw.windows(6).any(|w| w == b"sk-liv"));
        assert_eq!(
            resolve_key(&row, &sb).unwrap().as_deref(),
            Some("sk-live-123456")
        );
    }

    #[test]
    fn duplicate_name_conflicts_and_upsert_replaces() {
        let (conn, sb) = db();
        insert(&conn, &sb, &input("work", "k1-aaaaaaaaaa"), "api").unwrap();
        assert!(matches!(
            insert(&conn, &sb, &input("work", "k2"), "api"),
            Err(StoreError::Conflict(_))
        ));
        let row = upsert_by_name(&conn, &sb, &input("work", "k3-bbbbbbbbbb"), "config").unwrap();
        assert_eq!(
            resolve_key(&row, &sb).unwrap().as_deref(),
            Some("k3-bbbbbbbbbb")
        );
        assert_eq!(list(&conn).unwrap().len(), 1);
    }

    #[test]
    fn patch_changes_only_given_fields() {
        let (conn, sb) = db();
        let row = insert(&conn, &sb, &input("work", "k1-aaaaaaaaaa"), "api").unwrap();
        let patch = ConnectionPatch {
            priority: Some(5),
            enabled: Some(false),
            ..Default::default()
        };
        let row = update(&conn, &sb, row.id, &patch).unwrap();
        assert_eq!((row.priority, row.enabled), (5, false));
        assert_eq!(
            resolve_key(&row, &sb).unwrap().as_deref(),
            Some("k1-aaaaaaaaaa")
        );
    }

    fn limit(window: &str, requests: Option<u64>, tokens: Option<u64>) -> QuotaLimit {
        serde_json::from_value(serde_json::json!({
            "window": window, "requests": requests, "tokens": tokens
        }))
        .unwrap()
    }

    #[test]
    fn routing_fields_round_trip_and_patch() {
        let (conn, sb) = db();
        let mut created = input("work", "k1-aaaaaaaaaa");
        created.tier = Some(Tier::Cheap);
        created.proxy = Some("socks5://127.0.0.1:1080".into());
        created.quota = vec![limit("5h", Some(200), None)];
        let row = insert(&conn, &sb, &created, "api").unwrap();
        assert_eq!(row.tier, Some(Tier::Cheap));
        assert_eq!(row.proxy.as_deref(), Some("socks5://127.0.0.1:1080"));
        assert_eq!(row.quota, created.quota);

        let patch = ConnectionPatch {
            tier: Some(None),
            quota: Some(vec![limit("daily", None, Some(1000))]),
            ..Default::default()
        };
        let row = update(&conn, &sb, row.id, &patch).unwrap();
        assert_eq!(row.tier, None);
        assert_eq!(
            row.proxy.as_deref(),
            Some("socks5://127.0.0.1:1080"),
            "untouched"
        );
        assert_eq!(row.quota, vec![limit("daily", None, Some(1000))]);
        let row = update(
            &conn,
            &sb,
            row.id,
            &ConnectionPatch {
                proxy: Some(None),
                tier: Some(Some(Tier::Free)),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((row.proxy, row.tier), (None, Some(Tier::Free)));
    }

    #[test]
    fn a_terminal_state_is_cleared_on_request_or_by_a_new_key() {
        let (conn, sb) = db();
        let row = insert(&conn, &sb, &input("work", "k1-aaaaaaaaaa"), "api").unwrap();
        set_state(&conn, row.id, Some(AccountState::Banned), Some("suspended")).unwrap();
        let kept = update(
            &conn,
            &sb,
            row.id,
            &ConnectionPatch {
                priority: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept.state, Some(AccountState::Banned));
        assert_eq!(kept.state_reason.as_deref(), Some("suspended"));
        let cleared = update(
            &conn,
            &sb,
            row.id,
            &ConnectionPatch {
                clear_state: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (cleared.state, cleared.state_reason, cleared.state_at),
            (None, None, None)
        );
        set_state(&conn, row.id, Some(AccountState::AuthFailed), None).unwrap();
        let rekeyed = update(
            &conn,
            &sb,
            row.id,
            &ConnectionPatch {
                api_key: Some(Some("k2-bbbbbbbbbb".into())),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rekeyed.state, None);
    }

    #[test]
    fn applying_the_config_again_keeps_a_state_unless_the_key_changed() {
        let (conn, sb) = db();
        let row = upsert_by_name(&conn, &sb, &input("work", "k1-aaaaaaaaaa"), "config").unwrap();
        set_state(&conn, row.id, Some(AccountState::OutOfCredits), None).unwrap();
        let same = upsert_by_name(&conn, &sb, &input("work", "k1-aaaaaaaaaa"), "config").unwrap();
        assert_eq!(same.state, Some(AccountState::OutOfCredits));
        let new_key =
            upsert_by_name(&conn, &sb, &input("work", "k2-bbbbbbbbbb"), "config").unwrap();
        assert_eq!(new_key.state, None);
    }

    #[test]
    fn quota_rules() {
        assert!(
            check_quota(&[limit("5h", Some(200), None), limit("weekly", None, Some(5))]).is_ok()
        );
        assert!(
            check_quota(&[limit("daily", None, None)])
                .unwrap_err()
                .contains("greater than 0")
        );
        assert!(check_quota(&[limit("daily", Some(0), Some(0))]).is_err());
        let mut late = limit("daily", Some(1), None);
        late.reset_hour = 24;
        assert!(check_quota(&[late]).unwrap_err().contains("0-23"));
        assert!(
            check_quota(&[limit("5h", Some(1), None), limit("5h", None, Some(9))])
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn preview_hides_the_middle() {
        assert_eq!(preview("sk-abcdefghijklmnop"), "sk-a…mnop");
        assert_eq!(preview("short"), "…");
    }
}
