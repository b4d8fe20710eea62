//! Rotating the data key: every stored secret re-sealed under a new key in one transaction, and the key file replaced so that a crash at any point leaves a key that opens the database.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::crypto::{KEY_FILE, write_private_file};
use super::{SecretBox, StoreResult};

/// Where a new key waits while the secrets are re-sealed.
pub fn pending_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("{KEY_FILE}.new"))
}

/// Re-seals every connection secret and proxy password from `old` to `new`
/// in one transaction; returns how many. A secret `old` cannot open stops
/// it all, with nothing changed.
pub fn reseal(conn: &mut Connection, old: &SecretBox, new: &SecretBox) -> StoreResult<usize> {
    let tx = conn.transaction()?;
    let sealed: Vec<(i64, Vec<u8>)> = tx
        .prepare("SELECT id, secret FROM connections WHERE secret IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, secret) in &sealed {
        let plain = old.open(secret)?;
        tx.execute(
            "UPDATE connections SET secret = ?2 WHERE id = ?1",
            params![id, new.seal(&plain)?],
        )?;
    }
    let proxies = super::sealed_url::reseal_stored(&tx, old, new)?;
    tx.commit()?;
    Ok(sealed.len() + proxies)
}

/// Writes `key_hex` as the pending key (before the database changes).
pub fn write_pending_key(data_dir: &Path, key_hex: &str) -> std::io::Result<()> {
    let path = pending_key_file(data_dir);
    // A leftover of an attempt that never reached the database.
    let _ = std::fs::remove_file(&path);
    write_private_file(&path, key_hex.as_bytes())
}

/// Makes the pending key the key (after the database changed).
pub fn commit_pending_key(data_dir: &Path) -> std::io::Result<()> {
    std::fs::rename(pending_key_file(data_dir), data_dir.join(KEY_FILE))
}

/// Finishes or forgets a rekey that stopped between writing the pending
/// key and replacing the key file: the pending key wins when it opens the
/// database's secrets (the re-sealing committed), else it is removed.
/// Called before the key file is read.
pub fn settle(data_dir: &Path, db_path: &Path) -> StoreResult<()> {
    let pending = pending_key_file(data_dir);
    let Ok(text) = std::fs::read_to_string(&pending) else {
        return Ok(());
    };
    let committed = match (SecretBox::from_hex(&text), db_path.exists()) {
        (Ok(new), true) => {
            let conn = super::open_connection(db_path)?;
            let sealed: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT secret FROM connections WHERE secret IS NOT NULL LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .unwrap_or(None);
            // No secrets: either key opens everything; the newer one stays.
            sealed.is_none_or(|s| new.open(&s).is_ok())
        }
        _ => false,
    };
    let io = |e: std::io::Error| {
        super::StoreError::Invalid(format!("cannot settle {}: {e}", pending.display()))
    };
    if committed {
        tracing::warn!("finishing an interrupted rekey: the new data key is in use");
        commit_pending_key(data_dir).map_err(io)
    } else {
        tracing::warn!("forgetting an interrupted rekey: the database still uses the old key");
        std::fs::remove_file(&pending).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, connections};

    fn store_with_secret(dir: &Path, key: [u8; 32]) -> PathBuf {
        let db = dir.join("omniroute.db");
        let store = Store::open(&db, SecretBox::from_key(key)).unwrap();
        store
            .with_conn(|conn| {
                let input = connections::ConnectionInput {
                    provider: "openai".into(),
                    name: "work".into(),
                    api_key: Some("sk-known-secret".into()),
                    ..connections::ConnectionInput::default()
                };
                connections::insert(conn, store.secrets(), &input, "api")?;
                Ok(())
            })
            .unwrap();
        db
    }

    fn secret_with(db: &Path, key: [u8; 32]) -> Option<String> {
        let conn = Connection::open(db).unwrap();
        let sealed: Vec<u8> = conn
            .query_row("SELECT secret FROM connections", [], |r| r.get(0))
            .unwrap();
        SecretBox::from_key(key).open_str(&sealed).ok()
    }

    #[test]
    fn resealing_moves_every_secret_to_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = store_with_secret(dir.path(), [1; 32]);
        let mut conn = Connection::open(&db).unwrap();
        let n = reseal(
            &mut conn,
            &SecretBox::from_key([1; 32]),
            &SecretBox::from_key([2; 32]),
        )
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            secret_with(&db, [2; 32]).as_deref(),
            Some("sk-known-secret")
        );
        assert_eq!(secret_with(&db, [1; 32]), None);
        // The wrong old key changes nothing.
        assert!(
            reseal(
                &mut conn,
                &SecretBox::from_key([9; 32]),
                &SecretBox::from_key([3; 32])
            )
            .is_err()
        );
        assert!(secret_with(&db, [2; 32]).is_some());
    }

    #[test]
    fn an_interrupted_rekey_settles_on_the_key_that_opens_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = store_with_secret(dir.path(), [1; 32]);
        let key_file = dir.path().join(KEY_FILE);
        std::fs::write(&key_file, hex::encode([1; 32])).unwrap();

        // Stopped before the database changed: the old key stays.
        write_pending_key(dir.path(), &hex::encode([2; 32])).unwrap();
        settle(dir.path(), &db).unwrap();
        assert!(!pending_key_file(dir.path()).exists());
        assert_eq!(
            std::fs::read_to_string(&key_file).unwrap(),
            hex::encode([1; 32])
        );

        // Stopped after the database changed: the new key takes over.
        write_pending_key(dir.path(), &hex::encode([2; 32])).unwrap();
        reseal(
            &mut Connection::open(&db).unwrap(),
            &SecretBox::from_key([1; 32]),
            &SecretBox::from_key([2; 32]),
        )
        .unwrap();
        settle(dir.path(), &db).unwrap();
        assert!(!pending_key_file(dir.path()).exists());
        assert_eq!(
            std::fs::read_to_string(&key_file).unwrap(),
            hex::encode([2; 32])
        );
    }
}
