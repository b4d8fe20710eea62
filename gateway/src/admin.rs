//! Maintenance commands run from the command line on a data dir: a database backup, a restore from one, and rotating the data key.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::gateway::{DB_FILE, StartError};
use crate::store::crypto::KEY_FILE;
use crate::store::{self, SecretBox, audit, backup, now_ms, rekey};

/// Every running gateway holds a shared lock on this file in its data dir;
/// a rekey needs it alone.
pub const LOCK_FILE: &str = "gateway.lock";

/// Takes the shared lock a running gateway holds for its lifetime.
pub fn hold_running_lock(data_dir: &Path) -> Result<File, StartError> {
    let file = lock_file(data_dir)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::DataDirBusy(
            data_dir.to_path_buf(),
            "`omniroute rekey` is changing the data key; start again when it is done",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(data_dir_error(data_dir, e)),
    }
}

fn lock_file(data_dir: &Path) -> Result<File, StartError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_FILE))
        .map_err(|e| data_dir_error(data_dir, e))
}

fn data_dir_error(data_dir: &Path, e: std::io::Error) -> StartError {
    StartError::DataDir {
        path: data_dir.to_path_buf(),
        message: e.to_string(),
    }
}

/// The data key from `env_key`, else from the key file, which must exist:
/// a maintenance command never makes a new key (the desktop app keeps its
/// key in the system keychain, and a stray file would shadow it).
fn existing_key(env_key: Option<&str>, data_dir: &Path) -> Result<SecretBox, StartError> {
    if env_key.is_none_or(|k| k.trim().is_empty()) && !data_dir.join(KEY_FILE).exists() {
        return Err(StartError::Admin(format!(
            "no data key in {}: set OMNIROUTE_SECRET_KEY to the key the gateway uses (the desktop app keeps its key in the system keychain)",
            data_dir.display()
        )));
    }
    Ok(SecretBox::load(env_key, data_dir)?)
}

fn existing_database(data_dir: &Path) -> Result<PathBuf, StartError> {
    let db = data_dir.join(DB_FILE);
    if db.exists() {
        Ok(db)
    } else {
        Err(StartError::Admin(format!(
            "there is no OmniRoute database in {}",
            data_dir.display()
        )))
    }
}

/// Records a command-line change in the audit log, which also tells a
/// running gateway to reload its configuration.
fn audit_entry(conn: &mut rusqlite::Connection, command: &str, summary: String) {
    let entry = audit::AuditEntry {
        ts_ms: now_ms(),
        actor: "command-line".into(),
        ip: None,
        method: "CLI".into(),
        path: format!("omniroute {command}"),
        status: 200,
        summary,
        changes: None,
    };
    if let Err(e) = audit::insert(conn, &entry) {
        tracing::warn!(error = %e, "cannot write the audit entry");
    }
}

/// Writes a consistent copy of the database to `out` (which must not
/// exist), by default `backups/omniroute-<time>-manual.db`. Safe while the
/// gateway runs. Secrets in the copy stay sealed with the data key.
pub fn backup_database(data_dir: &Path, out: Option<&Path>) -> Result<PathBuf, StartError> {
    let db = existing_database(data_dir)?;
    let dest = match out {
        Some(path) => path.to_path_buf(),
        None => {
            let dir = store::auto_backup::dir_of(&db);
            std::fs::create_dir_all(&dir).map_err(|e| data_dir_error(data_dir, e))?;
            dir.join(format!(
                "omniroute-{}-manual.db",
                backup::utc_stamp(now_ms())
            ))
        }
    };
    if dest.exists() {
        return Err(StartError::Admin(format!(
            "{} exists; choose a new file name",
            dest.display()
        )));
    }
    let conn = store::open_migrated(&db)?;
    backup::copy_to(&conn, &dest)?;
    Ok(dest)
}

/// What a restore brought back, and where the replaced database was kept.
#[derive(Debug)]
pub struct Restored {
    pub info: backup::BackupInfo,
    pub previous: PathBuf,
}

/// Replaces the data dir's database with the backup at `file` after
/// checking it (the same checks and carry-over as `POST /api/restore`). A
/// running gateway notices within seconds and reloads.
pub fn restore_database(
    data_dir: &Path,
    file: &Path,
    env_key: Option<&str>,
) -> Result<Restored, StartError> {
    let db = existing_database(data_dir)?;
    let secrets = existing_key(env_key, data_dir)?;
    let info = backup::check(file, &secrets)?;
    let previous = data_dir.join(format!("{DB_FILE}.before-restore-{}", now_ms()));
    let mut conn = store::open_migrated(&db)?;
    backup::restore(&mut conn, file, &previous)?;
    audit_entry(
        &mut conn,
        "restore",
        format!("restored the database from {}", file.display()),
    );
    Ok(Restored { info, previous })
}

/// The outcome of a rekey.
#[derive(Debug)]
pub struct Rekeyed {
    /// Secrets re-sealed.
    pub secrets: usize,
    /// The new key, when the old one came from `OMNIROUTE_SECRET_KEY`: the
    /// user must put it there before the next start. `None` when the key
    /// file was replaced.
    pub new_env_key: Option<String>,
}

/// Re-seals every stored secret under a fresh data key. Refused while a
/// gateway runs on the data dir, since it holds the old key in memory.
pub fn rekey(data_dir: &Path, env_key: Option<&str>) -> Result<Rekeyed, StartError> {
    let db = existing_database(data_dir)?;
    let lock = lock_file(data_dir)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(StartError::DataDirBusy(
                data_dir.to_path_buf(),
                "a gateway is running on it; stop it (or quit the desktop app) and run `omniroute rekey` again",
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(data_dir_error(data_dir, e)),
    }
    rekey::settle(data_dir, &db)?;
    let old = existing_key(env_key, data_dir)?;
    let new_hex = hex::encode(rand::random::<[u8; 32]>());
    let new = SecretBox::from_hex(&new_hex)?;
    let from_env = env_key.is_some_and(|k| !k.trim().is_empty());
    let mut conn = store::open_migrated(&db)?;
    if !from_env {
        // The new key is on disk before any secret depends on it.
        rekey::write_pending_key(data_dir, &new_hex).map_err(|e| data_dir_error(data_dir, e))?;
    }
    let secrets = match rekey::reseal(&mut conn, &old, &new) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(rekey::pending_key_file(data_dir));
            return Err(e.into());
        }
    };
    if !from_env {
        rekey::commit_pending_key(data_dir).map_err(|e| data_dir_error(data_dir, e))?;
    }
    audit_entry(
        &mut conn,
        "rekey",
        format!("rotated the data key ({secrets} secrets re-sealed)"),
    );
    drop(lock);
    Ok(Rekeyed {
        secrets,
        new_env_key: from_env.then_some(new_hex),
    })
}
