//! Which gateway events become desktop notifications, and their words: each kind can be switched off, repeats of one subject are held back, and a burst is capped.

use std::collections::{HashMap, VecDeque};

use omniroute::config::Settings;
use omniroute::observe::events::Event;

/// The same subject (kind + provider + account) is notified at most once
/// in this window: a flapping provider must not spam.
pub const REPEAT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// At most this many notifications per [`BURST_WINDOW_MS`], whatever their subjects.
pub const BURST_LIMIT: usize = 4;
pub const BURST_WINDOW_MS: i64 = 60 * 1000;

/// The kinds a user can switch on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Quota,
    Outage,
    Budget,
    TokenRefresh,
    AccountDisabled,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Quota,
        Kind::Outage,
        Kind::Budget,
        Kind::TokenRefresh,
        Kind::AccountDisabled,
    ];

    /// Whether the gateway's settings (`notify_*`) let this kind through.
    pub fn allowed_by(self, settings: &Settings) -> bool {
        match self {
            Kind::Quota => settings.notify_quota,
            Kind::Outage => settings.notify_outage,
            Kind::Budget => settings.notify_budget,
            Kind::TokenRefresh => settings.notify_token_refresh,
            Kind::AccountDisabled => settings.notify_account_disabled,
        }
    }

    /// The kinds `settings` switch on.
    pub fn enabled_in(settings: &Settings) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|kind| kind.allowed_by(settings))
            .collect()
    }

    fn of(event: &Event) -> Kind {
        match event {
            Event::QuotaExhausted { .. } => Kind::Quota,
            Event::ProviderDown { .. } | Event::ProviderRecovered { .. } => Kind::Outage,
            Event::BudgetExceeded { .. } => Kind::Budget,
            Event::TokenRefreshFailed { .. } => Kind::TokenRefresh,
            Event::ConnectionDisabled { .. } => Kind::AccountDisabled,
        }
    }
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Decides, event by event, what to show.
pub struct NoticePolicy {
    enabled: Vec<Kind>,
    /// Subject -> when it was last notified.
    last_shown: HashMap<String, i64>,
    /// Subjects whose outage was notified, so only those get a "recovered".
    down: std::collections::HashSet<String>,
    recent: VecDeque<i64>,
}

impl Default for NoticePolicy {
    fn default() -> Self {
        NoticePolicy::new(&Kind::ALL)
    }
}

/// `provider` or `provider #id`.
fn target(provider: &str, connection_id: Option<i64>) -> String {
    match connection_id {
        Some(id) => format!("{provider} #{id}"),
        None => provider.to_owned(),
    }
}

/// `in 12 min`, `in 3 h`, for a reset time.
fn until(until_ms: i64, now_ms: i64) -> String {
    let minutes = ((until_ms - now_ms).max(0) + 59_999) / 60_000;
    if minutes < 90 {
        format!("in {minutes} min")
    } else {
        format!("in {} h", (minutes + 30) / 60)
    }
}

impl NoticePolicy {
    pub fn new(enabled: &[Kind]) -> NoticePolicy {
        NoticePolicy {
            enabled: enabled.to_vec(),
            last_shown: HashMap::new(),
            down: Default::default(),
            recent: VecDeque::new(),
        }
    }

    /// Switches kinds on or off from now on.
    pub fn set_enabled(&mut self, enabled: &[Kind]) {
        self.enabled = enabled.to_vec();
    }

    /// The notification for `event` at `now_ms`, if one is due.
    pub fn decide(&mut self, event: &Event, now_ms: i64) -> Option<Notice> {
        if !self.enabled.contains(&Kind::of(event)) {
            return None;
        }
        let (subject, notice) = match event {
            Event::QuotaExhausted {
                provider,
                connection,
                model,
                until_ms,
                ..
            } => {
                let what = model
                    .as_deref()
                    .map_or_else(String::new, |m| format!(" for {m}"));
                let reset = until_ms.map_or_else(
                    || "OmniRoute moves on to the next account.".to_owned(),
                    |t| format!("Resets {}; OmniRoute moves on meanwhile.", until(t, now_ms)),
                );
                (
                    format!("quota:{provider}:{connection}:{what}"),
                    Notice {
                        title: format!("{provider} quota used up"),
                        body: format!("Account \"{connection}\"{what}. {reset}"),
                    },
                )
            }
            Event::ProviderDown {
                provider,
                connection_id,
                reason,
                ..
            } => {
                let who = target(provider, *connection_id);
                self.down.insert(who.clone());
                (
                    format!("outage:{who}"),
                    Notice {
                        title: format!("{who} is down"),
                        body: format!("{reason}. Requests go to the next provider in line."),
                    },
                )
            }
            Event::ProviderRecovered {
                provider,
                connection_id,
            } => {
                let who = target(provider, *connection_id);
                // Only an outage the user was told about gets its all-clear.
                if !self.down.remove(&who) {
                    return None;
                }
                (
                    format!("recovered:{who}"),
                    Notice {
                        title: format!("{who} is back"),
                        body: "Requests use it again.".to_owned(),
                    },
                )
            }
            Event::BudgetExceeded {
                scope,
                period,
                spent_usd,
                limit_usd,
            } => (
                format!("budget:{scope}:{period}"),
                Notice {
                    title: format!("{scope} budget reached"),
                    body: format!(
                        "${spent_usd:.2} of ${limit_usd:.2} this {period}; paid routes are skipped until it resets."
                    ),
                },
            ),
            Event::TokenRefreshFailed {
                provider,
                connection_id,
                reason,
            } => (
                format!("refresh:{provider}:{connection_id}"),
                Notice {
                    title: format!("{provider}: sign in again"),
                    body: format!(
                        "The login of account #{connection_id} could not be renewed: {reason}"
                    ),
                },
            ),
            Event::ConnectionDisabled {
                provider,
                connection,
                state,
                reason,
                ..
            } => (
                format!("disabled:{provider}:{connection}"),
                Notice {
                    title: format!("{provider} account \"{connection}\" stopped"),
                    body: format!("{}: {reason}", state.replace('_', " ")),
                },
            ),
        };
        if self
            .last_shown
            .get(&subject)
            .is_some_and(|t| now_ms - t < REPEAT_WINDOW_MS)
        {
            return None;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now_ms - t >= BURST_WINDOW_MS)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= BURST_LIMIT {
            return None;
        }
        self.recent.push_back(now_ms);
        self.last_shown.insert(subject, now_ms);
        Some(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(provider: &str) -> Event {
        Event::ProviderDown {
            provider: provider.into(),
            connection_id: None,
            until_ms: 0,
            reason: "5 failures in 60 s".into(),
        }
    }

    fn up(provider: &str) -> Event {
        Event::ProviderRecovered {
            provider: provider.into(),
            connection_id: None,
        }
    }

    #[test]
    fn an_outage_and_its_recovery_are_told_once() {
        let mut policy = NoticePolicy::default();
        let notice = policy.decide(&down("openai"), 0).unwrap();
        assert_eq!(notice.title, "openai is down");
        assert!(notice.body.contains("5 failures"));
        // Flapping: the repeats inside the window stay silent.
        assert_eq!(policy.decide(&down("openai"), 1_000), None);
        assert_eq!(
            policy.decide(&up("openai"), 2_000).unwrap().title,
            "openai is back"
        );
        assert_eq!(policy.decide(&down("openai"), 3_000), None);
        assert_eq!(policy.decide(&up("openai"), 4_000), None);
        // After the window it is news again.
        assert!(
            policy
                .decide(&down("openai"), REPEAT_WINDOW_MS + 1)
                .is_some()
        );
    }

    #[test]
    fn a_recovery_nobody_heard_about_is_not_told() {
        let mut policy = NoticePolicy::default();
        assert_eq!(policy.decide(&up("groq"), 0), None);
    }

    #[test]
    fn bursts_are_capped() {
        let mut policy = NoticePolicy::default();
        let shown = (0..10)
            .filter(|i| policy.decide(&down(&format!("p{i}")), i * 10).is_some())
            .count();
        assert_eq!(shown, BURST_LIMIT);
        assert!(
            policy
                .decide(&down("late"), BURST_WINDOW_MS + 100)
                .is_some()
        );
    }

    #[test]
    fn switched_off_kinds_are_silent() {
        let mut policy = NoticePolicy::new(&[Kind::Quota]);
        assert_eq!(policy.decide(&down("openai"), 0), None);
        let quota = Event::QuotaExhausted {
            provider: "claude".into(),
            connection_id: 3,
            connection: "work".into(),
            model: Some("claude-sonnet-4".into()),
            until_ms: Some(2 * 3_600_000),
            reason: "429".into(),
        };
        let notice = policy.decide(&quota, 0).unwrap();
        assert_eq!(notice.title, "claude quota used up");
        assert_eq!(
            notice.body,
            "Account \"work\" for claude-sonnet-4. Resets in 2 h; OmniRoute moves on meanwhile."
        );
        policy.set_enabled(&[]);
        assert_eq!(policy.decide(&quota, REPEAT_WINDOW_MS * 2), None);
    }

    #[test]
    fn the_gateway_settings_pick_the_kinds() {
        let mut settings = Settings::default();
        assert_eq!(Kind::enabled_in(&settings), Kind::ALL.to_vec());
        settings.notify_outage = false;
        settings.notify_budget = false;
        assert_eq!(
            Kind::enabled_in(&settings),
            vec![Kind::Quota, Kind::TokenRefresh, Kind::AccountDisabled]
        );
        let mut policy = NoticePolicy::new(&Kind::enabled_in(&settings));
        assert_eq!(policy.decide(&down("openai"), 0), None);
    }

    #[test]
    fn reset_times_read_naturally() {
        assert_eq!(until(60_000, 0), "in 1 min");
        assert_eq!(until(45 * 60_000, 0), "in 45 min");
        assert_eq!(until(5 * 3_600_000, 0), "in 5 h");
        assert_eq!(until(0, 10), "in 0 min");
    }
}
