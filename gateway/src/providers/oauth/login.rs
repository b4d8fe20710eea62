//! Sign-ins in progress: each started login (PKCE or device code) waits here, keyed by its id, until its callback, manual code or device poll completes it, or ten minutes pass.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::device::DeviceStart;

/// How long a started sign-in may take.
pub const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// What a login waits for.
#[derive(Debug, Clone)]
pub enum Waiting {
    /// The browser's redirect (or the pasted URL) with a code and `state`.
    Code {
        state: String,
        verifier: String,
        redirect_uri: String,
    },
    /// The user to approve the device code.
    Device {
        start: DeviceStart,
        verifier: Option<String>,
        interval_secs: u64,
        next_poll_ms: i64,
    },
}

/// Where a login stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Pending,
    /// A code arrived and is being exchanged; still pending to a poller.
    Exchanging,
    Done {
        connection_id: i64,
        name: String,
        email: Option<String>,
    },
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Login {
    pub provider: String,
    /// The connection name the user asked for.
    pub name: Option<String>,
    pub started_ms: i64,
    pub waiting: Waiting,
    pub status: Status,
}

/// Logins by id (for PKCE the id is the `state`, so the callback finds it).
#[derive(Default)]
pub struct Logins {
    by_id: Mutex<HashMap<String, Login>>,
}

impl Logins {
    pub fn insert(&self, id: String, login: Login, now_ms: i64) {
        let mut logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished and abandoned logins are dropped on the way: the map
        // never holds more than ten minutes of sign-ins.
        logins.retain(|_, l| now_ms - l.started_ms < LOGIN_TTL_MS);
        logins.insert(id, login);
    }

    /// A copy of a live login.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Login> {
        let logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        logins
            .get(id)
            .filter(|l| now_ms - l.started_ms < LOGIN_TTL_MS)
            .cloned()
    }

    /// Claims a pending code login so that one code is exchanged once,
    /// whether the redirect or the pasted URL arrives first.
    pub fn claim_code(&self, id: &str, now_ms: i64) -> Option<Login> {
        let mut logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let login = logins
            .get_mut(id)
            .filter(|l| now_ms - l.started_ms < LOGIN_TTL_MS)?;
        if login.status != Status::Pending || !matches!(login.waiting, Waiting::Code { .. }) {
            return None;
        }
        login.status = Status::Exchanging;
        Some(login.clone())
    }

    /// Claims a device login whose next poll is due, and books the one
    /// after, so that concurrent `poll` calls make one provider call.
    pub fn claim_poll(&self, id: &str, now_ms: i64) -> Option<Login> {
        let mut logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let login = logins.get_mut(id)?;
        let Waiting::Device {
            interval_secs,
            next_poll_ms,
            ..
        } = &mut login.waiting
        else {
            return None;
        };
        if login.status != Status::Pending || now_ms < *next_poll_ms {
            return None;
        }
        *next_poll_ms = now_ms + *interval_secs as i64 * 1000;
        Some(login.clone())
    }

    /// Poll less often from now on.
    pub fn slow_down(&self, id: &str, interval: u64, now_ms: i64) {
        let mut logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Login {
            waiting:
                Waiting::Device {
                    interval_secs,
                    next_poll_ms,
                    ..
                },
            ..
        }) = logins.get_mut(id)
        {
            *interval_secs = interval;
            *next_poll_ms = now_ms + interval as i64 * 1000;
        }
    }

    pub fn finish(&self, id: &str, status: Status) {
        let mut logins = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(login) = logins.get_mut(id) {
            login.status = status;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_login(now: i64) -> Login {
        Login {
            provider: "copilot".into(),
            name: None,
            started_ms: now,
            waiting: Waiting::Device {
                start: DeviceStart {
                    device_code: "d".into(),
                    user_code: "U".into(),
                    verification_uri: "https://x".into(),
                    verification_uri_complete: None,
                    expires_in_secs: 900,
                    interval_secs: 5,
                    extra: Default::default(),
                },
                verifier: None,
                interval_secs: 5,
                next_poll_ms: now,
            },
            status: Status::Pending,
        }
    }

    #[test]
    fn one_poll_per_interval_and_slow_down_stretches_it() {
        let logins = Logins::default();
        logins.insert("a".into(), device_login(0), 0);
        assert!(logins.claim_poll("a", 0).is_some());
        assert!(
            logins.claim_poll("a", 4_999).is_none(),
            "within the interval"
        );
        assert!(logins.claim_poll("a", 5_000).is_some());
        logins.slow_down("a", 10, 5_000);
        assert!(logins.claim_poll("a", 14_999).is_none());
        assert!(logins.claim_poll("a", 15_000).is_some());
    }

    #[test]
    fn a_code_is_exchanged_once_and_reads_as_pending_meanwhile() {
        let logins = Logins::default();
        let mut login = device_login(0);
        login.waiting = Waiting::Code {
            state: "s".into(),
            verifier: "v".into(),
            redirect_uri: "http://localhost/callback".into(),
        };
        logins.insert("s".into(), login, 0);
        assert!(logins.claim_code("s", 1).is_some());
        assert!(
            logins.claim_code("s", 2).is_none(),
            "the redirect and a paste race"
        );
        assert_eq!(logins.get("s", 3).unwrap().status, Status::Exchanging);
    }

    #[test]
    fn logins_expire_after_ten_minutes() {
        let logins = Logins::default();
        logins.insert("a".into(), device_login(0), 0);
        assert!(logins.get("a", LOGIN_TTL_MS - 1).is_some());
        assert!(logins.get("a", LOGIN_TTL_MS).is_none());
    }
}
