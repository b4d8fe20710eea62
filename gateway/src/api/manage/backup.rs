//! `/api/backup` and `/api/restore`: download a consistent copy of the whole database, and replace the live data with an uploaded copy after checking it.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Admin;
use crate::api::App;
use crate::error::ApiError;
use crate::store::{StoreError, backup, now_ms};

/// Largest database `POST /api/restore` accepts.
pub const MAX_RESTORE_BYTES: usize = 512 * 1024 * 1024;

/// A file in the data directory that is removed when dropped, so a failed
/// or abandoned transfer leaves nothing behind.
struct TempFile(PathBuf);

impl TempFile {
    /// A name no other transfer uses: concurrent downloads in the same
    /// millisecond each get their own file.
    fn new(dir: &Path, purpose: &str) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TempFile(dir.join(format!(
            ".omniroute-{purpose}-{}-{}-{n}.db",
            now_ms(),
            std::process::id()
        )))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn data_dir(app: &App) -> PathBuf {
    app.store
        .path()
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `GET /api/backup`: the whole database as one SQLite file.
pub async fn download(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let file = TempFile::new(&data_dir(&app), "backup");
    let dest = file.0.clone();
    app.store
        .call(move |conn, _| backup::copy_to(conn, &dest))
        .await?;
    let bytes = tokio::fs::read(&file.0)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the backup: {e}")))?;
    let name = format!("omniroute-backup-{}.sqlite", backup::utc_stamp(now_ms()));
    Ok((
        [
            (CONTENT_TYPE, "application/vnd.sqlite3".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /api/restore`: the body is a database from `GET /api/backup`. It is
/// checked before anything changes; the current database is first copied to
/// `omniroute.db.before-restore-<ms>` beside it.
pub async fn restore(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let dir = data_dir(&app);
    let upload = TempFile::new(&dir, "restore");
    save_body(body, &upload.0).await?;

    let checked = upload.0.clone();
    let info = app
        .store
        .call(move |_, secrets| backup::check(&checked, secrets))
        .await
        .map_err(|e| match e {
            StoreError::Invalid(why) => ApiError::bad_request(why).with_code("invalid_backup"),
            other => other.into(),
        })?;

    let keep = dir.join(format!("omniroute.db.before-restore-{}", now_ms()));
    let kept = keep.clone();
    let source = upload.0.clone();
    app.store
        .call(move |conn, _| backup::restore(conn, &source, &kept))
        .await?;
    app.reload().await?;
    tracing::warn!(previous = %keep.display(), "database restored from an uploaded backup");
    Ok(axum::Json(json!({
        "restored": true,
        "schema_version": info.schema_version,
        "connections": info.connections,
        "combos": info.combos,
        "previous_copy": keep.file_name().map(|n| n.to_string_lossy().into_owned()),
    }))
    .into_response())
}

/// Streams the request body to `path`, refusing more than [`MAX_RESTORE_BYTES`].
async fn save_body(body: Body, path: &Path) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::internal(format!("cannot store the upload: {e}"));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("upload failed: {e}")))?;
        total += chunk.len();
        if total > MAX_RESTORE_BYTES {
            return Err(ApiError::payload_too_large(MAX_RESTORE_BYTES));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    if total == 0 {
        return Err(ApiError::bad_request(
            "The upload is empty; send the backup file as the body.",
        )
        .with_code("invalid_backup"));
    }
    file.flush().await.map_err(io)?;
    Ok(())
}
