//! Where the data-encryption key lives: the OS keychain, migrated once from the key file of older installs, with the key file as a logged fallback where no keychain exists.

use std::path::Path;

use omniroute::store::crypto::KEY_FILE;
use rand::RngCore;

/// The keychain entry's service and user names.
pub const SERVICE: &str = "OmniRoute";
pub const ACCOUNT: &str = "data-encryption-key";

/// A place that holds one secret string.
pub trait SecretSlot {
    fn get(&self) -> Result<Option<String>, String>;
    fn set(&self, value: &str) -> Result<(), String>;
}

/// The OS keychain entry (Secret Service on Linux, Keychain on macOS,
/// Credential Manager on Windows).
pub struct OsKeychain(keyring::Entry);

impl OsKeychain {
    pub fn open() -> Result<OsKeychain, String> {
        keyring::Entry::new(SERVICE, ACCOUNT)
            .map(OsKeychain)
            .map_err(|e| e.to_string())
    }
}

impl SecretSlot for OsKeychain {
    fn get(&self) -> Result<Option<String>, String> {
        match self.0.get_password() {
            Ok(value) => Ok(Some(value)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, value: &str) -> Result<(), String> {
        self.0.set_password(value).map_err(|e| e.to_string())
    }
}

/// Where the gateway's key comes from this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKey {
    /// The key (64 hex characters), read from the keychain.
    Keychain { hex: String, migrated: bool },
    /// No usable keychain: the gateway keeps using the key file in the data
    /// directory, and the reason is shown to the user.
    KeyFile { warning: String },
}

impl DataKey {
    /// The key to hand the gateway (`Options::secret_key_hex`); `None`
    /// makes it use its key file.
    pub fn hex(&self) -> Option<&str> {
        match self {
            DataKey::Keychain { hex, .. } => Some(hex),
            DataKey::KeyFile { .. } => None,
        }
    }
}

fn is_key(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Finds the data key for `data_dir`:
/// - a key file means the database's secrets are sealed with it (the file
///   is only removed after a migration finished), so it is copied into the
///   keychain, read back, and then removed;
/// - else the keychain's key;
/// - else (a first start) a new key is made in the keychain.
///
/// Any keychain failure leaves the key file in charge, with a warning.
pub fn resolve(slot: Option<&dyn SecretSlot>, data_dir: &Path) -> DataKey {
    let fallback = |why: String| DataKey::KeyFile {
        warning: format!(
            "The OS keychain is not available ({why}); the data key stays in {} (readable only by you).",
            data_dir.join(KEY_FILE).display()
        ),
    };
    let Some(slot) = slot else {
        return fallback("no secret service".into());
    };
    let key_file = data_dir.join(KEY_FILE);
    let from_file = match std::fs::read_to_string(&key_file) {
        Ok(text) => Some(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return fallback(format!("cannot read {}: {e}", key_file.display())),
    };
    let stored = match slot.get() {
        Ok(stored) => stored.filter(|s| is_key(s)),
        Err(e) => return fallback(e),
    };
    let (hex, migrated) = match (from_file, stored) {
        (Some(file), _) if is_key(&file) => (file, true),
        // A damaged key file is the gateway's to report; leave it alone.
        (Some(_), _) => return fallback("the key file is not a valid key".into()),
        (None, Some(stored)) => {
            return DataKey::Keychain {
                hex: stored,
                migrated: false,
            };
        }
        (None, None) => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            (hex::encode(key), false)
        }
    };
    if let Err(e) = slot.set(&hex) {
        return fallback(e);
    }
    match slot.get() {
        Ok(Some(back)) if back == hex => {}
        Ok(_) => return fallback("the key read back differs from the one stored".into()),
        Err(e) => return fallback(e),
    }
    if migrated && let Err(e) = std::fs::remove_file(&key_file) {
        // Both hold the same key: harmless, and the next start retries.
        tracing::warn!(error = %e, "the key is in the keychain but the old key file could not be removed");
    }
    DataKey::Keychain { hex, migrated }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// A keychain in memory that can be told to fail.
    #[derive(Default)]
    struct Fake {
        value: RefCell<Option<String>>,
        broken: bool,
        sets: RefCell<usize>,
    }

    impl SecretSlot for Fake {
        fn get(&self) -> Result<Option<String>, String> {
            if self.broken {
                return Err("org.freedesktop.secrets was not provided".into());
            }
            Ok(self.value.borrow().clone())
        }

        fn set(&self, value: &str) -> Result<(), String> {
            *self.sets.borrow_mut() += 1;
            *self.value.borrow_mut() = Some(value.to_owned());
            Ok(())
        }
    }

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn a_first_start_makes_a_key_in_the_keychain() {
        let dir = tempfile::tempdir().unwrap();
        let slot = Fake::default();
        let DataKey::Keychain { hex, migrated } = resolve(Some(&slot), dir.path()) else {
            panic!("expected the keychain");
        };
        assert!(is_key(&hex));
        assert!(!migrated);
        assert_eq!(slot.value.borrow().as_deref(), Some(hex.as_str()));
        assert!(!dir.path().join(KEY_FILE).exists());
        // The next start reads the same key without writing.
        assert_eq!(
            resolve(Some(&slot), dir.path()),
            DataKey::Keychain {
                hex,
                migrated: false
            }
        );
        assert_eq!(*slot.sets.borrow(), 1);
    }

    #[test]
    fn a_key_file_moves_into_the_keychain_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), format!("{KEY}\n")).unwrap();
        let slot = Fake::default();
        assert_eq!(
            resolve(Some(&slot), dir.path()),
            DataKey::Keychain {
                hex: KEY.into(),
                migrated: true
            }
        );
        assert!(!dir.path().join(KEY_FILE).exists(), "the file is gone");
        assert_eq!(
            resolve(Some(&slot), dir.path()),
            DataKey::Keychain {
                hex: KEY.into(),
                migrated: false
            }
        );
    }

    #[test]
    fn an_unfinished_migration_trusts_the_key_file() {
        // The keychain holds something else, the file is still there: the
        // database was sealed with the file's key.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), KEY).unwrap();
        let slot = Fake {
            value: RefCell::new(Some("ff".repeat(32))),
            ..Fake::default()
        };
        assert_eq!(resolve(Some(&slot), dir.path()).hex(), Some(KEY));
        assert_eq!(slot.value.borrow().as_deref(), Some(KEY));
    }

    #[test]
    fn without_a_keychain_the_key_file_stays_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), KEY).unwrap();
        let broken = Fake {
            broken: true,
            ..Fake::default()
        };
        for slot in [Some(&broken as &dyn SecretSlot), None] {
            let key = resolve(slot, dir.path());
            assert_eq!(key.hex(), None);
            let DataKey::KeyFile { warning } = key else {
                panic!("expected the key file");
            };
            assert!(warning.contains("keychain is not available"), "{warning}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            KEY
        );
    }
}
