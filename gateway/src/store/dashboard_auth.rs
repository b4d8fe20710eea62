//! The dashboard password (argon2id) and sign-in sessions, stored by hash.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, StoreResult};
use crate::store::api_keys::hash_key;

/// How long a session lasts without use.
pub const SESSION_TTL_MS: i64 = 30 * 86_400_000;
/// Sliding the expiry costs a write, so it happens at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;
/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token_hash: String,
    pub csrf_token: String,
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// A password people can type: 20 characters without look-alikes.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> StoreResult<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| StoreError::Invalid(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The stored password hash, if a password was ever set.
pub fn password_hash(conn: &Connection) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT password_hash FROM dashboard_auth WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Sets the password (hashing it) and ends every session but `keep`.
pub fn set_password(
    conn: &mut Connection,
    password: &str,
    keep: Option<&str>,
    now_ms: i64,
) -> StoreResult<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "The password must have at least {MIN_PASSWORD_LEN} characters."
        )));
    }
    let hash = hash_password(password)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO dashboard_auth (id, password_hash, updated_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET password_hash = ?1, updated_ms = ?2",
        params![hash, now_ms],
    )?;
    tx.execute(
        "DELETE FROM dashboard_sessions WHERE token_hash IS NOT ?1",
        params![keep],
    )?;
    tx.commit()?;
    Ok(())
}

/// Starts a session; returns (the token for the cookie, its CSRF token).
pub fn create_session(conn: &Connection, now_ms: i64) -> StoreResult<(String, String)> {
    let token = random_hex(32);
    let csrf = random_hex(24);
    conn.execute(
        "INSERT INTO dashboard_sessions (token_hash, csrf_token, created_ms, last_seen_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?3, ?4)",
        params![hex::encode(hash_key(&token)), csrf, now_ms, now_ms + SESSION_TTL_MS],
    )?;
    // Expired sessions are swept whenever a new one starts.
    conn.execute(
        "DELETE FROM dashboard_sessions WHERE expires_ms <= ?1",
        params![now_ms],
    )?;
    Ok((token, csrf))
}

/// The live session of a cookie token, sliding its expiry.
pub fn session(conn: &Connection, token: &str, now_ms: i64) -> StoreResult<Option<Session>> {
    let token_hash = hex::encode(hash_key(token));
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT csrf_token, last_seen_ms, expires_ms FROM dashboard_sessions WHERE token_hash = ?1",
            params![token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((csrf_token, last_seen, expires)) = row else {
        return Ok(None);
    };
    if expires <= now_ms {
        return Ok(None);
    }
    if now_ms - last_seen >= TOUCH_EVERY_MS {
        conn.execute(
            "UPDATE dashboard_sessions SET last_seen_ms = ?2, expires_ms = ?3 WHERE token_hash = ?1",
            params![token_hash, now_ms, now_ms + SESSION_TTL_MS],
        )?;
    }
    Ok(Some(Session {
        token_hash,
        csrf_token,
    }))
}

/// Ends one session.
pub fn delete_session(conn: &Connection, token_hash: &str) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM dashboard_sessions WHERE token_hash = ?1",
        params![token_hash],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut conn).unwrap();
        conn
    }

    #[test]
    fn a_password_is_stored_as_an_argon2id_hash_that_verifies() {
        let mut conn = conn();
        assert_eq!(password_hash(&conn).unwrap(), None);
        set_password(&mut conn, "correct horse", None, 1).unwrap();
        let hash = password_hash(&conn).unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn a_short_password_is_refused() {
        let mut conn = conn();
        assert!(matches!(
            set_password(&mut conn, "short", None, 1),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(password_hash(&conn).unwrap(), None);
    }

    #[test]
    fn sessions_expire_slide_and_end() {
        let conn = conn();
        let (token, csrf) = create_session(&conn, 1_000).unwrap();
        let found = session(&conn, &token, 2_000).unwrap().unwrap();
        assert_eq!(found.csrf_token, csrf);
        assert_eq!(session(&conn, "other", 2_000).unwrap(), None);
        // Used a day before it would expire: it slides another 30 days.
        let late = 1_000 + SESSION_TTL_MS - 86_400_000;
        assert!(session(&conn, &token, late).unwrap().is_some());
        assert!(
            session(&conn, &token, 1_000 + SESSION_TTL_MS + 1)
                .unwrap()
                .is_some()
        );
        // That use slid it again; unused past its expiry it is gone.
        let end = 1_000 + 2 * SESSION_TTL_MS + 1;
        assert_eq!(session(&conn, &token, end).unwrap(), None);
        delete_session(&conn, &found.token_hash).unwrap();
        assert_eq!(session(&conn, &token, 2_000).unwrap(), None);
    }

    #[test]
    fn changing_the_password_ends_every_other_session() {
        let mut conn = conn();
        let (mine, _) = create_session(&conn, 1).unwrap();
        let (theirs, _) = create_session(&conn, 1).unwrap();
        let keep = session(&conn, &mine, 2).unwrap().unwrap().token_hash;
        set_password(&mut conn, "a new password", Some(&keep), 3).unwrap();
        assert!(session(&conn, &mine, 4).unwrap().is_some());
        assert!(session(&conn, &theirs, 4).unwrap().is_none());
        set_password(&mut conn, "another password", None, 5).unwrap();
        assert!(session(&conn, &mine, 6).unwrap().is_none());
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
