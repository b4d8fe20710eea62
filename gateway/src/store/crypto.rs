//! AES-256-GCM encryption of stored credentials, and where the data key comes from.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;

const NONCE_LEN: usize = 12;
/// Name of the key file in the data dir when no key is given by environment.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("OMNIROUTE_SECRET_KEY must be 64 hexadecimal characters (32 bytes)")]
    BadKeyText,
    #[error("the key file {0} must hold 64 hexadecimal characters")]
    BadKeyFile(String),
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFileIo {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored secret cannot be decrypted (was the secret key changed?)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

/// Encrypts and decrypts secrets under one 256-bit data key.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    pub fn from_key(key: [u8; 32]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// Parses a key written as 64 hex characters.
    pub fn from_hex(text: &str) -> Result<SecretBox, CryptoError> {
        let bytes = hex::decode(text.trim()).map_err(|_| CryptoError::BadKeyText)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKeyText)?;
        Ok(SecretBox::from_key(key))
    }

    /// The key from `env_key` when given, else from the 0600 key file in
    /// `data_dir`, which is created with a fresh random key on first use.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<SecretBox, CryptoError> {
        if let Some(text) = env_key.filter(|t| !t.trim().is_empty()) {
            return SecretBox::from_hex(text);
        }
        let path = data_dir.join(KEY_FILE);
        let io_err = |source| CryptoError::KeyFileIo {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretBox::from_hex(&text)
                .map_err(|_| CryptoError::BadKeyFile(path.display().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_private_file(&path, hex::encode(key).as_bytes()).map_err(io_err)?;
                Ok(SecretBox::from_key(key))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// Returns nonce || ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| CryptoError::Decrypt)
    }

    pub fn seal_str(&self, text: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal(text.as_bytes())
    }

    pub fn open_str(&self, sealed: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| CryptoError::Decrypt)
    }
}

/// Data sealed under a key derived from a passphrase (exports that carry
/// secrets): argon2id with a random salt, then AES-256-GCM.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassphraseSealed {
    /// Always `argon2id`; named so that a later format can differ.
    pub kdf: String,
    /// Hex of the 16-byte salt.
    pub salt: String,
    /// Hex of nonce || ciphertext.
    pub data: String,
}

/// The shortest passphrase an export with secrets accepts.
pub const MIN_PASSPHRASE_LEN: usize = 12;

fn passphrase_box(passphrase: &str, salt: &[u8]) -> Result<SecretBox, CryptoError> {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|_| CryptoError::Encrypt)?;
    Ok(SecretBox::from_key(key))
}

impl PassphraseSealed {
    pub fn seal(passphrase: &str, plaintext: &[u8]) -> Result<PassphraseSealed, CryptoError> {
        let salt: [u8; 16] = rand::random();
        let sealed = passphrase_box(passphrase, &salt)?.seal(plaintext)?;
        Ok(PassphraseSealed {
            kdf: "argon2id".into(),
            salt: hex::encode(salt),
            data: hex::encode(sealed),
        })
    }

    /// The plaintext, or [`CryptoError::Decrypt`] for a wrong passphrase
    /// or a damaged document.
    pub fn open(&self, passphrase: &str) -> Result<Vec<u8>, CryptoError> {
        if self.kdf != "argon2id" {
            return Err(CryptoError::Decrypt);
        }
        let salt = hex::decode(&self.salt).map_err(|_| CryptoError::Decrypt)?;
        let data = hex::decode(&self.data).map_err(|_| CryptoError::Decrypt)?;
        passphrase_box(passphrase, &salt)?.open(&data)
    }
}

/// Writes a new file readable by its owner only, synced to disk.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_opens_what_it_sealed_and_another_does_not() {
        let sealed = PassphraseSealed::seal("correct horse battery", b"sk-secret").unwrap();
        assert_eq!(sealed.kdf, "argon2id");
        assert!(!sealed.data.contains(&hex::encode(b"sk-secret")));
        assert_eq!(sealed.open("correct horse battery").unwrap(), b"sk-secret");
        assert!(sealed.open("wrong horse battery").is_err());
        let other = PassphraseSealed::seal("correct horse battery", b"sk-secret").unwrap();
        assert_ne!(other.salt, sealed.salt, "a fresh salt each time");
    }

    #[test]
    fn seal_then_open_round_trips_and_nonces_differ() {
        let sb = SecretBox::from_key([7; 32]);
        let a = sb.seal_str("sk-secret").unwrap();
        let b = sb.seal_str("sk-secret").unwrap();
        assert_ne!(a, b, "a fresh nonce per seal");
        assert_eq!(sb.open_str(&a).unwrap(), "sk-secret");
        assert!(
            !a.windows(9).any(|w| w == b"sk-secret"),
            "ciphertext hides the key"
        );
    }

    #[test]
    fn tampered_or_foreign_ciphertext_is_rejected() {
        let sb = SecretBox::from_key([7; 32]);
        let mut sealed = sb.seal_str("x").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(sb.open(&sealed).is_err());
        let other = SecretBox::from_key([8; 32]);
        assert!(other.open(&sb.seal_str("x").unwrap()).is_err());
        assert!(sb.open(&[1, 2, 3]).is_err());
    }

    #[test]
    fn hex_key_must_be_32_bytes() {
        assert!(SecretBox::from_hex(&"ab".repeat(32)).is_ok());
        assert!(SecretBox::from_hex("abcd").is_err());
        assert!(SecretBox::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load(None, dir.path()).unwrap();
        let sealed = first.seal_str("hello").unwrap();
        let again = SecretBox::load(None, dir.path()).unwrap();
        assert_eq!(again.open_str(&sealed).unwrap(), "hello");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
