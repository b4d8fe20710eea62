//! The desktop app's own preferences — the port it serves on — in `desktop.json` in the data dir, written atomically.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The port a first start listens on.
pub const DEFAULT_PORT: u16 = 20128;
/// The ports the tray offers; any other is "custom".
pub const PRESET_PORTS: [u16; 3] = [DEFAULT_PORT, 3000, 8080];
const FILE: &str = "desktop.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Chosen from the tray's Server port menu; none until the user picks one.
    pub port: Option<u16>,
}

impl Prefs {
    /// The preferences in `dir`; a missing file gives the defaults, and so
    /// does an unreadable one (with a warning: a preference is not worth
    /// failing the start for).
    pub fn load(dir: &Path) -> Prefs {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, file = %path.display(), "ignoring unreadable desktop preferences");
                Prefs::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Prefs::default(),
            Err(e) => {
                tracing::warn!(error = %e, file = %path.display(), "cannot read the desktop preferences");
                Prefs::default()
            }
        }
    }

    /// Writes the preferences to `dir` through a temporary file and a
    /// rename, so a crash leaves the old file or the new one, never half.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let temp = dir.join(format!("{FILE}.tmp"));
        let mut bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        bytes.push(b'\n');
        std::fs::write(&temp, bytes)?;
        std::fs::rename(&temp, &path)
    }
}

/// The port to serve on: `OMNIROUTE_PORT` when it is a port, else the
/// user's choice, else the default.
pub fn port(env: Option<&str>, prefs: &Prefs) -> u16 {
    env.and_then(|p| p.trim().parse().ok())
        .filter(|p: &u16| *p != 0)
        .or(prefs.port)
        .unwrap_or(DEFAULT_PORT)
}

/// A port typed by the user, checked: 1024–65535 (lower ones need root).
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(port) if port >= 1024 => Ok(port),
        _ => Err(format!(
            "`{}` is not a port OmniRoute can use: pick a number from 1024 to 65535.",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_port_comes_back_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Prefs::load(dir.path()), Prefs::default());
        assert_eq!(port(None, &Prefs::load(dir.path())), DEFAULT_PORT);
        Prefs { port: Some(3000) }.save(dir.path()).unwrap();
        let prefs = Prefs::load(dir.path());
        assert_eq!(prefs.port, Some(3000));
        assert_eq!(port(None, &prefs), 3000);
        assert_eq!(port(Some("8080"), &prefs), 8080);
        assert_eq!(port(Some("nonsense"), &prefs), 3000);
        assert!(!dir.path().join("desktop.json.tmp").exists());
    }

    #[test]
    fn a_broken_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{ not json").unwrap();
        assert_eq!(Prefs::load(dir.path()), Prefs::default());
    }

    #[test]
    fn typed_ports_are_checked() {
        assert_eq!(parse_port(" 5555 "), Ok(5555));
        assert!(parse_port("80").unwrap_err().contains("1024 to 65535"));
        assert!(parse_port("70000").is_err());
        assert!(parse_port("abc").is_err());
    }
}
