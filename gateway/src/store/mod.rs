//! SQLite persistence: opening the database, migrations, repositories and the usage writer.

pub mod api_keys;
pub mod audit;
pub mod auto_backup;
pub mod backup;
pub mod combos;
pub mod connections;
pub mod crypto;
pub mod dashboard_auth;
pub mod history;
pub mod migrate;
pub mod providers;
pub mod rekey;
pub mod sealed_url;
pub mod settings;
pub mod usage;
pub mod usage_writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use crypto::SecretBox;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the database worker stopped")]
    WorkerGone,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Current time as Unix milliseconds, the time unit of every table.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Opens a connection with the pragmas every connection of ours uses.
pub fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Only takes effect on a new database (before the first table), which is
    // what lets retention pruning hand freed pages back.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL is durable across application crashes in WAL mode; only a power
    // loss can roll back the last transactions.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Opens (creating if needed) the database and applies pending migrations,
/// copying it to `backups/` first when they change an existing schema: no
/// copy, no migration.
pub fn open_migrated(path: &Path) -> StoreResult<Connection> {
    let mut conn = open_connection(path)?;
    let keep = crate::config::Settings::from_stored(&settings::load_if_present(&conn)?).backups_kept
        as usize;
    if let Some(copy) = auto_backup::before_migrations(&conn, &auto_backup::dir_of(path), keep)? {
        tracing::info!(backup = %copy.display(), "copied the database before migrating it");
    }
    migrate::apply(&mut conn)?;
    Ok(conn)
}

/// The configuration store used by the management API. Calls run on the
/// blocking pool so the async runtime never waits on SQLite.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    secrets: Arc<SecretBox>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database, applies pending migrations
    /// ([`open_migrated`]) and seals any proxy password stored in the clear.
    pub fn open(path: &Path, secrets: SecretBox) -> StoreResult<Store> {
        let mut conn = open_migrated(path)?;
        let sealed = sealed_url::seal_stored(&mut conn, &secrets)?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed proxy passwords stored in the clear");
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            secrets: Arc::new(secrets),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// Runs `f` with the connection on the calling thread (start-up, tests).
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &SecretBox) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store
                .conn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard, &store.secrets)
        })
        .await
        .map_err(|_| StoreError::WorkerGone)?
    }
}
