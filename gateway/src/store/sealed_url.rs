//! Proxy URLs whose password is sealed with the data key: stored, listed and exported as `scheme://user:omniroute-sealed-<hex>@host:port`, opened only where a connection to the proxy is made.

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::crypto::CryptoError;
use super::{SecretBox, StoreResult};

/// What a sealed password starts with.
pub const MARK: &str = "omniroute-sealed-";

/// The settings that hold proxy URLs: a URL, and a map of them.
const PROXY_SETTINGS: [&str; 2] = ["proxy", "provider_proxies"];

/// `url` with its password sealed. A URL without a password, one already
/// sealed, and text that is not a URL come back as they are.
pub fn seal(secrets: &SecretBox, url: &str) -> Result<String, CryptoError> {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return Ok(url.to_owned());
    };
    let Some(password) = parsed.password().filter(|p| !p.starts_with(MARK)) else {
        return Ok(url.to_owned());
    };
    let plain = percent_decoded(password);
    let sealed = format!("{MARK}{}", hex::encode(secrets.seal(plain.as_bytes())?));
    // Hex needs no escaping, so setting it cannot fail on a URL that had a password.
    let _ = parsed.set_password(Some(&sealed));
    Ok(parsed.to_string())
}

/// `url` with a sealed password opened; anything else as it is.
pub fn open(secrets: &SecretBox, url: &str) -> Result<String, CryptoError> {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return Ok(url.to_owned());
    };
    let Some(sealed) = parsed.password().and_then(|p| p.strip_prefix(MARK)) else {
        return Ok(url.to_owned());
    };
    let bytes = hex::decode(sealed).map_err(|_| CryptoError::Decrypt)?;
    let plain = String::from_utf8(secrets.open(&bytes)?).map_err(|_| CryptoError::Decrypt)?;
    parsed
        .set_password(Some(&plain))
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(parsed.to_string())
}

fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Applies `f` to every proxy URL among the settings `values`.
pub fn map_settings(
    values: &mut Map<String, Value>,
    mut f: impl FnMut(&str) -> Result<String, CryptoError>,
) -> Result<(), CryptoError> {
    for key in PROXY_SETTINGS {
        match values.get_mut(key) {
            Some(Value::String(url)) => *url = f(url)?,
            Some(Value::Object(urls)) => {
                for url in urls.values_mut() {
                    if let Value::String(text) = url {
                        *text = f(text)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Re-writes every stored proxy URL through `f`: the connections' and the
/// proxy settings. Returns how many URLs changed.
fn rewrite_stored(
    conn: &Connection,
    mut f: impl FnMut(&str) -> Result<String, CryptoError>,
) -> StoreResult<usize> {
    let mut changed = 0;
    let proxies: Vec<(i64, String)> = conn
        .prepare("SELECT id, proxy FROM connections WHERE proxy IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, url) in proxies {
        let next = f(&url)?;
        if next != url {
            conn.execute(
                "UPDATE connections SET proxy = ?2 WHERE id = ?1",
                params![id, next],
            )?;
            changed += 1;
        }
    }
    let mut settings = super::settings::load(conn)?;
    settings.retain(|key, _| PROXY_SETTINGS.contains(&key.as_str()));
    let before = settings.clone();
    map_settings(&mut settings, &mut f)?;
    for (key, value) in &settings {
        if before.get(key) != Some(value) {
            conn.execute(
                "UPDATE settings SET value = ?2 WHERE key = ?1",
                params![key, value.to_string()],
            )?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Seals the proxy passwords still stored in the clear (written by an
/// older version, or by hand), in one transaction. Run at every start.
pub fn seal_stored(conn: &mut Connection, secrets: &SecretBox) -> StoreResult<usize> {
    let tx = conn.transaction()?;
    let changed = rewrite_stored(&tx, |url| seal(secrets, url))?;
    tx.commit()?;
    Ok(changed)
}

/// Moves every sealed proxy password from `old` to `new` (a rekey), inside
/// the caller's transaction.
pub fn reseal_stored(conn: &Connection, old: &SecretBox, new: &SecretBox) -> StoreResult<usize> {
    rewrite_stored(conn, |url| seal(new, &open(old, url)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    #[test]
    fn a_password_is_sealed_in_place_and_opens_back() {
        let secrets = SecretBox::from_key([5; 32]);
        let url = "socks5://me:p%40ss%3Aw0rd@10.0.0.1:1080";
        let sealed = seal(&secrets, url).unwrap();
        assert!(
            sealed.starts_with("socks5://me:omniroute-sealed-"),
            "{sealed}"
        );
        assert!(sealed.ends_with("@10.0.0.1:1080"), "{sealed}");
        assert!(!sealed.contains("w0rd"));
        assert_eq!(seal(&secrets, &sealed).unwrap(), sealed, "sealed once");
        let opened = open(&secrets, &sealed).unwrap();
        let parsed = reqwest::Url::parse(&opened).unwrap();
        assert_eq!(percent_decoded(parsed.password().unwrap()), "p@ss:w0rd");
        assert!(open(&SecretBox::from_key([6; 32]), &sealed).is_err());
        for plain in ["http://127.0.0.1:3128", "", "not a url", "http://u@h:1"] {
            assert_eq!(seal(&secrets, plain).unwrap(), plain);
            assert_eq!(open(&secrets, plain).unwrap(), plain);
        }
    }

    #[test]
    fn stored_passwords_are_sealed_once_and_follow_a_new_key() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('proxy', '\"http://a:secret1@h:1\"'),
             ('provider_proxies', '{\"openai\": \"http://b:secret2@h:2\", \"x\": \"http://h:3\"}')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO connections (provider, name, priority, enabled, source, created_at, updated_at, proxy)
             VALUES ('openai', 'w', 1, 1, 'api', 0, 0, 'http://c:secret3@h:4')",
            [],
        )
        .unwrap();
        let old = SecretBox::from_key([1; 32]);
        assert_eq!(seal_stored(&mut conn, &old).unwrap(), 3);
        assert_eq!(seal_stored(&mut conn, &old).unwrap(), 0);
        let dump = |conn: &Connection| -> String {
            let settings: String = conn
                .query_row("SELECT group_concat(value) FROM settings", [], |r| r.get(0))
                .unwrap();
            let proxy: String = conn
                .query_row("SELECT proxy FROM connections", [], |r| r.get(0))
                .unwrap();
            format!("{settings} {proxy}")
        };
        let text = dump(&conn);
        for secret in ["secret1", "secret2", "secret3"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(
            text.contains("http://h:3"),
            "a URL without a password stays"
        );

        let new = SecretBox::from_key([2; 32]);
        assert_eq!(reseal_stored(&conn, &old, &new).unwrap(), 3);
        let proxy: String = conn
            .query_row("SELECT proxy FROM connections", [], |r| r.get(0))
            .unwrap();
        assert!(open(&old, &proxy).is_err());
        assert!(open(&new, &proxy).unwrap().contains("secret3"));
    }
}
