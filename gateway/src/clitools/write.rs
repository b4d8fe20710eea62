//! Changing a coding tool's config file safely: the change is shown as a diff first, a file that does not parse is never touched, the bytes it had are kept in a timestamped backup beside it, the write goes through a temporary file and a rename, and restore puts the first backup's bytes back exactly.

use std::io;
use std::path::{Path, PathBuf};

/// Part of a backup's name: `settings.json.omniroute-backup-1795921085090`.
const BACKUP_TAG: &str = ".omniroute-backup-";
/// Marks a backup of a file that did not exist: restore deletes the file.
const ABSENT_SUFFIX: &str = ".absent";

/// Why a config file was left alone.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path} is not valid {format} ({detail}); fix or move it first, it was left untouched")]
    Unparsable {
        path: String,
        format: &'static str,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One file's planned change: what it holds now (`None`: no file) and what
/// it will hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
}

impl Change {
    /// Reads `path` and computes its new bytes with `edit`, which gets the
    /// current text (`None` when there is no file) and returns the new text
    /// or an [`WriteError::Unparsable`].
    pub fn plan(
        path: &Path,
        edit: impl FnOnce(Option<&str>) -> Result<String, WriteError>,
    ) -> Result<Change, WriteError> {
        let before = match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(path)(e)),
        };
        let text = match &before {
            Some(bytes) => {
                Some(
                    std::str::from_utf8(bytes).map_err(|e| WriteError::Unparsable {
                        path: path.display().to_string(),
                        format: "UTF-8 text",
                        detail: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let after = edit(text)?.into_bytes();
        Ok(Change {
            path: path.to_path_buf(),
            before,
            after,
        })
    }

    /// Whether applying would change anything.
    pub fn is_noop(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_slice())
    }

    /// The change as a unified diff (`--- a/… +++ b/…`), empty for a no-op.
    pub fn diff(&self) -> String {
        if self.is_noop() {
            return String::new();
        }
        let before = self
            .before
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let after = String::from_utf8_lossy(&self.after);
        let name = self.path.display().to_string();
        let old_name = if self.before.is_some() {
            name.clone()
        } else {
            "/dev/null".to_owned()
        };
        similar::TextDiff::from_lines(before.as_ref(), after.as_ref())
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &name)
            .to_string()
    }

    /// Writes the change: backs up the current bytes (or notes that there
    /// was no file), then replaces the file atomically. Returns the backup,
    /// or `None` when nothing had to change.
    pub fn apply(&self) -> Result<Option<PathBuf>, WriteError> {
        if self.is_noop() {
            return Ok(None);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let backup = new_backup_path(&self.path, self.before.is_none());
        std::fs::write(&backup, self.before.as_deref().unwrap_or_default())
            .map_err(io_error(&backup))?;
        // The backup may hold a key: it gets the original's permissions.
        if let Ok(meta) = std::fs::metadata(&self.path) {
            let _ = std::fs::set_permissions(&backup, meta.permissions());
        }
        write_atomically(&self.path, &self.after)?;
        Ok(Some(backup))
    }
}

/// `<file>.omniroute-backup-<ms>[.absent]`, not yet taken.
fn new_backup_path(path: &Path, absent: bool) -> PathBuf {
    let mut ms = crate::store::now_ms();
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!("{BACKUP_TAG}{ms}"));
        if absent {
            name.push(ABSENT_SUFFIX);
        }
        let candidate = PathBuf::from(name);
        if !candidate.exists() && !with_absent_toggled(&candidate).exists() {
            return candidate;
        }
        ms += 1;
    }
}

fn with_absent_toggled(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    match text.strip_suffix(ABSENT_SUFFIX) {
        Some(present) => PathBuf::from(present),
        None => PathBuf::from(format!("{text}{ABSENT_SUFFIX}")),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: a crash leaves the old file or the new one, never half of one.
/// The file keeps its permissions (a secrets file stays private).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    io::Write::write_all(&mut temp, bytes).map_err(io_error(temp.path()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), meta.permissions());
    }
    temp.as_file().sync_all().map_err(io_error(path))?;
    temp.persist(path).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

/// The backups of `path`, oldest first: (backup, whether the file was absent).
pub fn backups_of(path: &Path) -> Vec<(PathBuf, bool)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}{BACKUP_TAG}", name.to_string_lossy());
    let mut found: Vec<(u64, PathBuf, bool)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let stamp = file_name.strip_prefix(&prefix)?;
            let (stamp, absent) = match stamp.strip_suffix(ABSENT_SUFFIX) {
                Some(stamp) => (stamp, true),
                None => (stamp, false),
            };
            Some((stamp.parse().ok()?, entry.path(), absent))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, path, absent)| (path, absent))
        .collect()
}

/// What restore did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restored {
    /// The bytes from before OmniRoute's first change are back.
    PutBack,
    /// OmniRoute created the file; it is gone again.
    Removed,
    /// OmniRoute never changed this file.
    NothingToRestore,
}

/// Puts `path` back as it was before OmniRoute first changed it: the oldest
/// backup's bytes (or no file, when there was none), then removes every
/// backup of it, since later ones only hold OmniRoute's own edits.
pub fn restore(path: &Path) -> Result<Restored, WriteError> {
    let backups = backups_of(path);
    let Some((oldest, absent)) = backups.first() else {
        return Ok(Restored::NothingToRestore);
    };
    let outcome = if *absent {
        match std::fs::remove_file(path) {
            Ok(()) => Restored::Removed,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Restored::Removed,
            Err(e) => return Err(io_error(path)(e)),
        }
    } else {
        let bytes = std::fs::read(oldest).map_err(io_error(oldest))?;
        write_atomically(path, &bytes)?;
        Restored::PutBack
    };
    for (backup, _) in &backups {
        std::fs::remove_file(backup).map_err(io_error(backup))?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(line: &'static str) -> impl FnOnce(Option<&str>) -> Result<String, WriteError> {
        move |text| Ok(format!("{}{line}\n", text.unwrap_or_default()))
    }

    #[test]
    fn apply_then_restore_gives_back_the_original_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let original = b"{\r\n  \"theme\": \"dark\" // odd bytes are kept\r\n}\r\n".to_vec();
        std::fs::write(&path, &original).unwrap();
        for line in ["one", "two"] {
            let change = Change::plan(&path, append(line)).unwrap();
            assert!(change.diff().contains(&format!("+{line}")));
            assert!(change.apply().unwrap().is_some());
        }
        assert_eq!(backups_of(&path).len(), 2);
        assert_eq!(restore(&path).unwrap(), Restored::PutBack);
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert!(backups_of(&path).is_empty());
        assert_eq!(restore(&path).unwrap(), Restored::NothingToRestore);
    }

    #[test]
    fn a_file_that_did_not_exist_is_removed_on_restore() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/config.toml");
        let change = Change::plan(&path, append("model = \"x\"")).unwrap();
        assert!(change.diff().starts_with("--- /dev/null"));
        let backup = change.apply().unwrap().unwrap();
        assert!(backup.to_string_lossy().ends_with(".absent"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "model = \"x\"\n");
        assert_eq!(restore(&path).unwrap(), Restored::Removed);
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            0
        );
    }

    #[test]
    fn an_unchanged_file_gets_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "same\n").unwrap();
        let change = Change::plan(&path, |t| Ok(t.unwrap().to_owned())).unwrap();
        assert!(change.is_noop());
        assert_eq!(change.diff(), "");
        assert_eq!(change.apply().unwrap(), None);
        assert!(backups_of(&path).is_empty());
    }

    #[test]
    fn a_refused_edit_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "{ broken").unwrap();
        let error = Change::plan(&path, |_| {
            Err(WriteError::Unparsable {
                path: "a.json".into(),
                format: "JSON",
                detail: "EOF".into(),
            })
        })
        .unwrap_err();
        assert!(error.to_string().contains("left untouched"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ broken");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Change::plan(&path, append("B=2")).unwrap().apply().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&backups_of(&path)[0].0), 0o600, "the backup too");
    }
}
