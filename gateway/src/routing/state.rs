//! The routing state shared by every request: breakers, cooldowns, load, quotas and spend, behind one short lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::Strategy;
use super::breaker::{Admission, BreakerConfig, BreakerState, CircuitBreaker, Transition};
use super::classify::{Failure, counts_for_provider_breaker};
use super::cooldown::Cooldowns;
use super::pacing::{Pace, RateGate};
use super::plan::{Candidate, Plan};
use super::quota::{QuotaLimit, QuotaTracker, ReportedWindow};
use super::spend::{SpendLedger, exceeded};
use super::strategy::{Load, order};
use crate::config::Settings;
use crate::observe::events::{Event, EventBus};
use crate::observe::usage::{RecordObserver, UsageRecord};
use crate::snapshot::{Account, Snapshot};
use crate::store::connections::AccountState;
use crate::store::history::PastSpend;

/// Length of the window "least-used" counts requests in.
const LEAST_USED_WINDOW_MS: i64 = 60_000;

/// A terminal account state to write to the store (done off the hot path).
#[derive(Debug, Clone)]
pub struct StateChange {
    pub connection_id: i64,
    pub state: AccountState,
    pub reason: String,
}

/// Why an account was passed over without a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub kind: SkipKind,
    pub reason: String,
    /// When it may be usable again, when known.
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// A rate limit, cooldown, lockout or used-up quota: time will fix it.
    RateLimited,
    /// An open breaker.
    Breaker,
    /// A spending budget is used up.
    Budget,
    /// The account waits for a person (revoked, banned, no credit).
    Disabled,
}

/// Everything routing remembers between requests. Lives for the whole run
/// of the gateway; terminal account states are the only part kept in SQLite.
pub struct RoutingState {
    inner: Mutex<Inner>,
    events: EventBus,
    changes: mpsc::UnboundedSender<StateChange>,
    changes_rx: Mutex<Option<mpsc::UnboundedReceiver<StateChange>>>,
    /// Concurrency slots per provider: (size, semaphore).
    slots: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

#[derive(Default)]
struct Inner {
    settings: Arc<Settings>,
    connection_breakers: HashMap<i64, CircuitBreaker>,
    provider_breakers: HashMap<String, CircuitBreaker>,
    /// Which provider each connection breaker belongs to (for reports).
    connection_providers: HashMap<i64, String>,
    cooldowns: Cooldowns,
    /// Accounts put in a terminal state, until the snapshot leaves them out.
    disabled: HashMap<i64, (AccountState, String)>,
    /// Disabled accounts whose state is not saved yet: a snapshot built
    /// before the save still lists them, which does not mean a person
    /// cleared the state.
    unsaved_disabled: HashSet<i64>,
    in_flight: HashMap<String, u32>,
    /// Requests started per key in the current least-used window.
    window: HashMap<String, (i64, u64)>,
    quotas: HashMap<i64, QuotaTracker>,
    quota_limits: HashMap<i64, Vec<QuotaLimit>>,
    spend: SpendLedger,
    /// Budgets already announced as exceeded: (scope, period, period start day).
    announced: HashSet<(String, &'static str, i64)>,
    gates: HashMap<String, RateGate>,
    turns: HashMap<String, u64>,
}

fn candidate_key(candidate: &Candidate) -> String {
    format!("m:{}/{}", candidate.provider.id, candidate.upstream_model)
}

fn connection_key(id: i64) -> String {
    format!("c:{id}")
}

fn breaker_config(settings: &Settings) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: settings.breaker_failure_threshold,
        window_ms: settings.breaker_window_secs as i64 * 1000,
        cooldown_ms: settings.breaker_cooldown_secs as i64 * 1000,
    }
}

impl RoutingState {
    pub fn new(events: EventBus) -> RoutingState {
        let (changes, rx) = mpsc::unbounded_channel();
        RoutingState {
            inner: Mutex::new(Inner::default()),
            events,
            changes,
            changes_rx: Mutex::new(Some(rx)),
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave these maps in a state
        // worse than stale counters, so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in a new snapshot: its settings (the record observer, which
    /// has no snapshot, reads budgets from them), its accounts' quota
    /// windows, and which accounts are usable again: an account in the
    /// snapshot has no terminal state in the store, so a person cleared it.
    pub fn sync(&self, snapshot: &Snapshot) {
        let accounts: Vec<&Arc<Account>> = snapshot
            .providers
            .iter()
            .flat_map(|p| snapshot.accounts(&p.id))
            .collect();
        let mut inner = self.lock();
        inner.settings = Arc::new(snapshot.settings.clone());
        let present: HashSet<i64> = accounts.iter().map(|a| a.id).collect();
        let Inner {
            disabled,
            unsaved_disabled,
            ..
        } = &mut *inner;
        disabled.retain(|id, _| !present.contains(id) || unsaved_disabled.contains(id));
        inner.quota_limits = accounts
            .iter()
            .filter(|a| !a.quota.is_empty())
            .map(|a| (a.id, a.quota.clone()))
            .collect();
    }

    /// The receiver of terminal account states; the gateway's persister takes it once.
    pub fn take_state_changes(&self) -> Option<mpsc::UnboundedReceiver<StateChange>> {
        self.changes_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Counts spend of earlier runs (this month's records) toward budgets.
    pub fn seed_spend(&self, rows: impl IntoIterator<Item = PastSpend>) {
        let mut inner = self.lock();
        for row in rows {
            inner
                .spend
                .add(&format!("provider:{}", row.provider), row.ts, row.cost);
            if let Some(tier) = row.tier {
                inner.spend.add(&format!("tier:{tier}"), row.ts, row.cost);
            }
        }
    }

    /// Counts earlier requests of connections that have quota windows.
    pub fn seed_quota(&self, rows: impl IntoIterator<Item = (i64, i64, u64)>, snapshot: &Snapshot) {
        let limits: HashMap<i64, Vec<QuotaLimit>> = snapshot
            .providers
            .iter()
            .flat_map(|p| snapshot.accounts(&p.id))
            .filter(|a| !a.quota.is_empty())
            .map(|a| (a.id, a.quota.clone()))
            .collect();
        let mut inner = self.lock();
        for (ts, connection_id, tokens) in rows {
            if let Some(limits) = limits.get(&connection_id) {
                inner
                    .quotas
                    .entry(connection_id)
                    .or_default()
                    .record(limits, ts, tokens);
            }
        }
        inner.quota_limits.extend(limits);
    }

    /// The order to try a plan's candidates in: the combo's strategy over
    /// their load and health.
    pub fn candidate_order(&self, plan: &Plan, now_ms: i64) -> Vec<usize> {
        let Some(combo) = &plan.combo else {
            return (0..plan.candidates.len()).collect();
        };
        let mut inner = self.lock();
        let loads: Vec<Load> = plan
            .candidates
            .iter()
            .map(|c| {
                let key = candidate_key(c);
                Load {
                    in_flight: inner.in_flight.get(&key).copied().unwrap_or(0),
                    recent_requests: inner.recent(&key, now_ms),
                    price: c.provider.model(&c.upstream_model).map(blended_price),
                    healthy: c
                        .accounts
                        .iter()
                        .any(|a| inner.usable_now(a, &c.upstream_model, now_ms)),
                }
            })
            .collect();
        let turn = next_turn(&mut inner, &format!("combo:{}", combo.name), combo.strategy);
        order(combo.strategy, &loads, turn, combo.sticky, &mut rand::rng())
    }

    /// Why none of a candidate's accounts can be used now, if so (read
    /// only: nothing is admitted or counted).
    pub fn why_unusable(&self, candidate: &Candidate, now_ms: i64) -> Option<String> {
        let inner = self.lock();
        if candidate
            .accounts
            .iter()
            .any(|a| inner.usable_now(a, &candidate.upstream_model, now_ms))
        {
            return None;
        }
        let account = candidate.accounts.first()?;
        let reason = if let Some((state, _)) = inner.disabled.get(&account.id) {
            format!("connection disabled ({})", state.as_str())
        } else if let Some(block) =
            inner
                .cooldowns
                .blocked(account.id, &candidate.upstream_model, now_ms)
        {
            format!("cooling down ({}): {}", block.scope, block.reason)
        } else if inner
            .provider_breakers
            .get(&account.provider)
            .is_some_and(|b| b.state(now_ms) == BreakerState::Open)
        {
            format!("the breaker of {} is open", account.provider)
        } else if inner
            .connection_breakers
            .get(&account.id)
            .is_some_and(|b| b.state(now_ms) == BreakerState::Open)
        {
            format!("the breaker of connection {} is open", account.id)
        } else {
            "the connection's quota is used up".to_string()
        };
        Some(reason)
    }

    /// The order to try a candidate's accounts in: best priority first;
    /// within one priority, the provider's account strategy.
    pub fn account_order(
        &self,
        candidate: &Candidate,
        settings: &Settings,
        now_ms: i64,
    ) -> Vec<Arc<Account>> {
        let strategy = settings
            .account_strategies
            .get(&candidate.provider.id)
            .copied()
            .unwrap_or(Strategy::FillFirst);
        if strategy == Strategy::FillFirst || candidate.accounts.len() < 2 {
            return candidate.accounts.clone();
        }
        let mut inner = self.lock();
        let mut out = Vec::with_capacity(candidate.accounts.len());
        for group in candidate.accounts.chunk_by(|a, b| a.priority == b.priority) {
            let loads: Vec<Load> = group
                .iter()
                .map(|a| {
                    let key = connection_key(a.id);
                    Load {
                        in_flight: inner.in_flight.get(&key).copied().unwrap_or(0),
                        recent_requests: inner.recent(&key, now_ms),
                        price: None,
                        healthy: inner.usable_now(a, &candidate.upstream_model, now_ms),
                    }
                })
                .collect();
            let turn = next_turn(
                &mut inner,
                &format!("accounts:{}:{}", candidate.provider.id, group[0].priority),
                strategy,
            );
            out.extend(
                order(strategy, &loads, turn, 1, &mut rand::rng())
                    .into_iter()
                    .map(|i| group[i].clone()),
            );
        }
        out
    }

    /// Decides whether `account` may be called now for `candidate`; on yes
    /// the returned ticket counts the call in flight until it is dropped.
    pub fn admit(
        self: &Arc<Self>,
        candidate: &Candidate,
        account: &Arc<Account>,
        settings: &Settings,
        now_ms: i64,
    ) -> Result<Ticket, Skip> {
        let provider = &candidate.provider.id;
        let model = &candidate.upstream_model;
        let mut inner = self.lock();
        if let Some((state, reason)) = inner.disabled.get(&account.id) {
            return Err(Skip {
                kind: SkipKind::Disabled,
                reason: format!("connection disabled ({}): {reason}", state.as_str()),
                until_ms: None,
            });
        }
        let tier = tier_name(account);
        let scopes = [format!("provider:{provider}"), format!("tier:{tier}")];
        let scope_refs = [scopes[0].as_str(), scopes[1].as_str()];
        if let Some(over) = exceeded(&inner.spend, &settings.budgets, &scope_refs, now_ms) {
            return Err(Skip {
                kind: SkipKind::Budget,
                reason: format!(
                    "the {} budget of {} is used up (${:.4} of ${:.4})",
                    over.period, over.scope, over.spent_usd, over.limit_usd
                ),
                until_ms: None,
            });
        }
        if let Some(block) = inner.cooldowns.blocked(account.id, model, now_ms) {
            return Err(Skip {
                kind: SkipKind::RateLimited,
                reason: format!("cooling down ({}): {}", block.scope, block.reason),
                until_ms: Some(block.until_ms),
            });
        }
        if !account.quota.is_empty() {
            inner.quota_limits.insert(account.id, account.quota.clone());
            if let Some(until) = inner
                .quotas
                .get(&account.id)
                .and_then(|q| q.exhausted_until(&account.quota, now_ms))
            {
                return Err(Skip {
                    kind: SkipKind::RateLimited,
                    reason: "the connection's quota is used up".into(),
                    until_ms: Some(until),
                });
            }
        }
        let limits = settings.provider_limits.get(provider);
        let mut wait_ms = 0;
        if let Some(limits) = limits
            && (limits.min_gap_ms.is_some() || limits.requests_per_minute.is_some())
        {
            match inner.gates.entry(provider.clone()).or_default().reserve(
                now_ms,
                limits.min_gap_ms,
                limits.requests_per_minute,
            ) {
                Pace::Go => {}
                Pace::WaitMs(ms) => wait_ms = ms.max(0) as u64,
                Pace::OverLimit { retry_in_ms } => {
                    return Err(Skip {
                        kind: SkipKind::RateLimited,
                        reason: format!(
                            "{provider} is over its limit of {} requests per minute",
                            limits.requests_per_minute.unwrap_or(0)
                        ),
                        until_ms: Some(now_ms + retry_in_ms),
                    });
                }
            }
        }
        // Breakers last: admitting may take the half-open probe.
        let config = breaker_config(settings);
        let provider_admission = inner
            .provider_breakers
            .entry(provider.clone())
            .or_default()
            .admit(now_ms, &config);
        if let Admission::Rejected { retry_in_ms } = provider_admission {
            return Err(Skip {
                kind: SkipKind::Breaker,
                reason: format!("the breaker of {provider} is open"),
                until_ms: Some(now_ms + retry_in_ms),
            });
        }
        inner
            .connection_providers
            .insert(account.id, provider.clone());
        let connection_admission = inner
            .connection_breakers
            .entry(account.id)
            .or_default()
            .admit(now_ms, &config);
        if let Admission::Rejected { retry_in_ms } = connection_admission {
            if provider_admission == Admission::Probe
                && let Some(b) = inner.provider_breakers.get_mut(provider)
            {
                b.release_probe();
            }
            return Err(Skip {
                kind: SkipKind::Breaker,
                reason: format!("the breaker of connection {} is open", account.id),
                until_ms: Some(now_ms + retry_in_ms),
            });
        }
        let keys = [candidate_key(candidate), connection_key(account.id)];
        for key in &keys {
            *inner.in_flight.entry(key.clone()).or_default() += 1;
            inner.count_request(key, now_ms);
        }
        drop(inner);
        Ok(Ticket {
            state: self.clone(),
            account: account.clone(),
            provider: provider.clone(),
            model: model.clone(),
            keys,
            provider_probe: provider_admission == Admission::Probe,
            connection_probe: connection_admission == Admission::Probe,
            verdict: false,
            wait_ms,
        })
    }

    /// A slot of the provider's concurrency limit, when it has one.
    pub async fn slot(
        &self,
        provider: &str,
        settings: &Settings,
    ) -> Option<Result<OwnedSemaphorePermit, tokio::sync::AcquireError>> {
        let max = settings.provider_limits.get(provider)?.max_concurrent?;
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let entry = slots
                .entry(provider.to_string())
                .or_insert_with(|| (max, Arc::new(Semaphore::new(max as usize))));
            if entry.0 != max {
                *entry = (max, Arc::new(Semaphore::new(max as usize)));
            }
            entry.1.clone()
        };
        Some(semaphore.acquire_owned().await)
    }

    /// Breaker states, cooldowns, lockouts and load, for `/api/health`.
    pub fn report(&self, now_ms: i64) -> Value {
        let inner = self.lock();
        let config = breaker_config(&inner.settings);
        let mut breakers: Vec<Value> = inner
            .provider_breakers
            .iter()
            .map(|(provider, b)| breaker_json("provider", provider, None, b, now_ms, &config))
            .collect();
        breakers.extend(inner.connection_breakers.iter().map(|(id, b)| {
            let provider = inner
                .connection_providers
                .get(id)
                .map(String::as_str)
                .unwrap_or("");
            breaker_json("connection", provider, Some(*id), b, now_ms, &config)
        }));
        breakers.sort_by_key(|b| b.to_string());
        let disabled: Vec<Value> = inner
            .disabled
            .iter()
            .map(|(id, (state, reason))| {
                json!({"connection_id": id, "state": state.as_str(), "reason": reason})
            })
            .collect();
        let in_flight: serde_json::Map<String, Value> = inner
            .in_flight
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), json!(n)))
            .collect();
        json!({
            "breakers": breakers,
            "cooldowns": inner.cooldowns.active(now_ms),
            "disabled": disabled,
            "in_flight": in_flight,
        })
    }

    /// Takes an account out of rotation for a terminal reason found outside
    /// a request (a background token renewal): saved like a request's.
    pub fn disable(&self, account: &Account, state: AccountState, reason: &str) {
        let mut inner = self.lock();
        inner
            .disabled
            .insert(account.id, (state, reason.to_string()));
        inner.unsaved_disabled.insert(account.id);
        drop(inner);
        let _ = self.changes.send(StateChange {
            connection_id: account.id,
            state,
            reason: reason.to_string(),
        });
        self.publish(Event::ConnectionDisabled {
            provider: account.provider.clone(),
            connection_id: account.id,
            connection: account.name.clone(),
            state: state.as_str().to_string(),
            reason: reason.to_string(),
        });
    }

    /// Takes a provider's report of an account's quota windows (from the
    /// headers of an answer); a window reported full skips the account
    /// until it resets, and says so once.
    pub fn report_quota(&self, account: &Account, windows: Vec<ReportedWindow>, now_ms: i64) {
        let until = self
            .lock()
            .quotas
            .entry(account.id)
            .or_default()
            .report(windows, now_ms);
        if let Some(until) = until {
            self.publish(Event::QuotaExhausted {
                provider: account.provider.clone(),
                connection_id: account.id,
                connection: account.name.clone(),
                model: None,
                until_ms: Some(until),
                reason: "the provider reports this account's quota window used up".into(),
            });
        }
    }

    /// Quota windows of every account that has some, for `/api/quota`.
    pub fn quota_report(&self, snapshot: &Snapshot, now_ms: i64) -> Value {
        let inner = self.lock();
        let accounts: Vec<Value> = snapshot
            .providers
            .iter()
            .flat_map(|p| snapshot.accounts(&p.id))
            .map(|a| {
                let tracker = inner.quotas.get(&a.id).cloned().unwrap_or_default();
                let cooldown = inner.cooldowns.blocked(a.id, "", now_ms);
                json!({
                    "connection_id": a.id,
                    "provider": a.provider,
                    "connection": a.name,
                    "tier": tier_name(a),
                    "windows": tracker.status(&a.quota, now_ms),
                    "reported": tracker.reported(now_ms),
                    "exhausted_until_ms": tracker.exhausted_until(&a.quota, now_ms),
                    "cooldown": cooldown,
                })
            })
            .collect();
        json!({"data": accounts, "now_ms": now_ms})
    }

    /// Forgets breakers, cooldowns, lockouts and pacing (the health "reset"
    /// action). Spend, quotas and terminal states stay: they are facts.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.connection_breakers.clear();
        inner.provider_breakers.clear();
        inner.cooldowns.clear();
        inner.gates.clear();
    }

    /// The account's terminal state is saved (and the snapshot rebuilt
    /// from it): from now on the snapshot alone says whether it is usable.
    pub fn state_saved(&self, connection_id: i64) {
        self.lock().unsaved_disabled.remove(&connection_id);
    }

    /// Forgets an account's in-memory terminal state (it was re-enabled).
    pub fn forget_disabled(&self, connection_id: i64) {
        let mut inner = self.lock();
        inner.disabled.remove(&connection_id);
        inner.unsaved_disabled.remove(&connection_id);
    }

    pub fn publish(&self, event: Event) {
        self.events.publish(event);
    }
}

fn next_turn(inner: &mut Inner, key: &str, strategy: Strategy) -> u64 {
    if strategy != Strategy::RoundRobin {
        return 0;
    }
    let turn = inner.turns.entry(key.to_string()).or_default();
    let current = *turn;
    *turn = turn.wrapping_add(1);
    current
}

/// USD per million tokens, weighing output 3:1 like a typical coding turn.
fn blended_price(model: &crate::providers::ModelDef) -> f64 {
    (model.input * 3.0 + model.output) / 4.0
}

fn tier_name(account: &Account) -> &'static str {
    account.tier.as_str()
}

fn breaker_json(
    scope: &str,
    provider: &str,
    connection_id: Option<i64>,
    breaker: &CircuitBreaker,
    now_ms: i64,
    config: &BreakerConfig,
) -> Value {
    let state = breaker.state(now_ms);
    json!({
        "scope": scope,
        "provider": provider,
        "connection_id": connection_id,
        "state": state,
        "until_ms": (state != BreakerState::Closed).then(|| breaker.opened_until_ms()).flatten(),
        "recent_failures": breaker.recent_failures(now_ms, config),
    })
}

impl Inner {
    fn recent(&self, key: &str, now_ms: i64) -> u64 {
        match self.window.get(key) {
            Some((start, n)) if now_ms - start < LEAST_USED_WINDOW_MS => *n,
            _ => 0,
        }
    }

    fn count_request(&mut self, key: &str, now_ms: i64) {
        let entry = self.window.entry(key.to_string()).or_insert((now_ms, 0));
        if now_ms - entry.0 >= LEAST_USED_WINDOW_MS {
            *entry = (now_ms, 0);
        }
        entry.1 += 1;
    }

    /// Whether an account looks callable now (for strategies' health).
    fn usable_now(&self, account: &Account, model: &str, now_ms: i64) -> bool {
        !self.disabled.contains_key(&account.id)
            && self.cooldowns.blocked(account.id, model, now_ms).is_none()
            && self
                .connection_breakers
                .get(&account.id)
                .is_none_or(|b| b.state(now_ms) != BreakerState::Open)
            && self
                .provider_breakers
                .get(&account.provider)
                .is_none_or(|b| b.state(now_ms) != BreakerState::Open)
            && (account.quota.is_empty()
                || self
                    .quotas
                    .get(&account.id)
                    .and_then(|q| q.exhausted_until(&account.quota, now_ms))
                    .is_none())
    }
}

/// One admitted call: counted in flight until dropped; its verdict feeds
/// the breakers, cooldowns and account states.
pub struct Ticket {
    state: Arc<RoutingState>,
    account: Arc<Account>,
    provider: String,
    model: String,
    keys: [String; 2],
    provider_probe: bool,
    connection_probe: bool,
    verdict: bool,
    /// Pacing asked the call to wait this long before starting.
    pub wait_ms: u64,
}

impl Ticket {
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    /// The upstream answered usefully.
    pub fn success(&mut self, now_ms: i64) {
        self.verdict = true;
        let mut inner = self.state.lock();
        let mut recovered = Vec::new();
        if let Some(b) = inner.provider_breakers.get_mut(&self.provider)
            && b.on_success(now_ms) == Some(Transition::Recovered)
        {
            recovered.push(None);
        }
        if let Some(b) = inner.connection_breakers.get_mut(&self.account.id)
            && b.on_success(now_ms) == Some(Transition::Recovered)
        {
            recovered.push(Some(self.account.id));
        }
        inner.cooldowns.on_success(self.account.id);
        drop(inner);
        for connection_id in recovered {
            self.state.publish(Event::ProviderRecovered {
                provider: self.provider.clone(),
                connection_id,
            });
        }
    }

    /// The call failed as `failure` says. Returns the terminal state the
    /// account was put in, if any.
    pub fn failure(
        &mut self,
        failure: &Failure,
        reason: &str,
        settings: &Settings,
        now_ms: i64,
    ) -> Option<AccountState> {
        self.verdict = true;
        let config = breaker_config(settings);
        let id = self.account.id;
        let mut events = Vec::new();
        let mut terminal = None;
        let mut inner = self.state.lock();
        match failure {
            Failure::Transient { .. } => {
                if let Some(b) = inner.connection_breakers.get_mut(&id)
                    && b.on_failure(now_ms, &config) == Some(Transition::Opened)
                {
                    events.push(Event::ProviderDown {
                        provider: self.provider.clone(),
                        connection_id: Some(id),
                        until_ms: b.opened_until_ms().unwrap_or(now_ms),
                        reason: reason.to_string(),
                    });
                }
                if counts_for_provider_breaker(failure)
                    && let Some(b) = inner.provider_breakers.get_mut(&self.provider)
                    && b.on_failure(now_ms, &config) == Some(Transition::Opened)
                {
                    events.push(Event::ProviderDown {
                        provider: self.provider.clone(),
                        connection_id: None,
                        until_ms: b.opened_until_ms().unwrap_or(now_ms),
                        reason: reason.to_string(),
                    });
                }
            }
            Failure::RateLimited {
                until_ms,
                model_scoped,
                exhausted,
            } => {
                self.release_probes(&mut inner);
                let base = settings.cooldown_base_secs as i64 * 1000;
                let max = settings.cooldown_max_secs as i64 * 1000;
                let until = if *model_scoped {
                    let until = until_ms.unwrap_or(now_ms + base);
                    inner.cooldowns.lock_model(id, &self.model, until, reason);
                    until
                } else {
                    inner
                        .cooldowns
                        .cool_connection(id, now_ms, *until_ms, base, max, reason)
                };
                let tracker = inner.quotas.entry(id).or_default();
                let limits = &self.account.quota;
                // The same answer's headers may have reported this window
                // full already (see `report_quota`): one event per window.
                let known = tracker.exhausted_until(limits, now_ms).is_some();
                if *exhausted {
                    tracker.mark_exhausted(now_ms, Some(until), limits);
                }
                if *exhausted && !known {
                    events.push(Event::QuotaExhausted {
                        provider: self.provider.clone(),
                        connection_id: id,
                        connection: self.account.name.clone(),
                        model: model_scoped.then(|| self.model.clone()),
                        until_ms: Some(until),
                        reason: reason.to_string(),
                    });
                }
            }
            Failure::Auth { .. } | Failure::Terminal { .. } => {
                self.release_probes(&mut inner);
                let state = match failure {
                    Failure::Terminal { state } => *state,
                    _ => AccountState::AuthFailed,
                };
                inner.disabled.insert(id, (state, reason.to_string()));
                inner.unsaved_disabled.insert(id);
                terminal = Some(state);
                events.push(Event::ConnectionDisabled {
                    provider: self.provider.clone(),
                    connection_id: id,
                    connection: self.account.name.clone(),
                    state: state.as_str().to_string(),
                    reason: reason.to_string(),
                });
            }
            // The upstream is up and answered; the request was the problem.
            Failure::FallbackClientError { .. } | Failure::ClientError { .. } => {
                drop(inner);
                self.verdict = false;
                self.success(now_ms);
                return None;
            }
        }
        drop(inner);
        if let Some(state) = terminal {
            let _ = self.state.changes.send(StateChange {
                connection_id: id,
                state,
                reason: reason.to_string(),
            });
        }
        for event in events {
            self.state.publish(event);
        }
        terminal
    }

    fn release_probes(&self, inner: &mut Inner) {
        if self.provider_probe
            && let Some(b) = inner.provider_breakers.get_mut(&self.provider)
        {
            b.release_probe();
        }
        if self.connection_probe
            && let Some(b) = inner.connection_breakers.get_mut(&self.account.id)
        {
            b.release_probe();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        for key in &self.keys {
            if let Some(n) = inner.in_flight.get_mut(key) {
                *n = n.saturating_sub(1);
            }
        }
        if !self.verdict {
            self.release_probes(&mut inner);
        }
    }
}

impl RecordObserver for RoutingState {
    fn observe(&self, record: &UsageRecord) {
        if record.served_from.is_some() {
            return;
        }
        let (Some(provider), Some(connection_id)) = (&record.provider, record.connection_id) else {
            return;
        };
        let mut announce = Vec::new();
        {
            let mut inner = self.lock();
            let tokens = record.input_tokens + record.output_tokens;
            // Providers count the requests they served, not the ones they refused.
            let served = (200..300).contains(&record.status);
            if served && let Some(limits) = inner.quota_limits.get(&connection_id).cloned() {
                inner
                    .quotas
                    .entry(connection_id)
                    .or_default()
                    .record(&limits, record.ts, tokens);
            }
            if record.cost <= 0.0 {
                return;
            }
            let mut scopes = vec![format!("provider:{provider}")];
            if let Some(tier) = &record.tier {
                scopes.push(format!("tier:{tier}"));
            }
            for scope in &scopes {
                inner.spend.add(scope, record.ts, record.cost);
            }
            let settings = inner.settings.clone();
            let now = crate::store::now_ms();
            for scope in &scopes {
                if let Some(over) = exceeded(&inner.spend, &settings.budgets, &[scope], now) {
                    let day = now.div_euclid(86_400_000);
                    let period_key = if over.period == "daily" {
                        day
                    } else {
                        day / 31
                    };
                    if inner
                        .announced
                        .insert((over.scope.clone(), over.period, period_key))
                    {
                        announce.push(Event::BudgetExceeded {
                            scope: over.scope,
                            period: over.period.to_string(),
                            spent_usd: over.spent_usd,
                            limit_usd: over.limit_usd,
                        });
                    }
                }
            }
        }
        for event in announce {
            self.publish(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Catalog;
    use crate::routing::plan::plan;
    use crate::store::{self, SecretBox, connections::ConnectionInput, migrate};

    fn snapshot(accounts: usize) -> Snapshot {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::apply(&mut conn).unwrap();
        let sb = SecretBox::from_key([4; 32]);
        for i in 0..accounts {
            let input = ConnectionInput {
                provider: "openai".into(),
                name: format!("a{i}"),
                api_key: Some(format!("key-{i}")),
                priority: 1,
                enabled: true,
                ..Default::default()
            };
            store::connections::insert(&conn, &sb, &input, "api").unwrap();
        }
        Snapshot::build(&Catalog::builtin().unwrap(), &conn, &sb).unwrap()
    }

    fn settings() -> Settings {
        Settings {
            breaker_failure_threshold: 2,
            ..Settings::default()
        }
    }

    fn skip_kind(result: Result<Ticket, Skip>) -> SkipKind {
        match result {
            Ok(_) => panic!("admitted"),
            Err(skip) => skip.kind,
        }
    }

    #[test]
    fn a_reload_racing_the_save_of_a_terminal_state_does_not_revive_the_account() {
        let snap = snapshot(1);
        let candidate = plan(&snap, "openai/gpt-4.1", None).unwrap().candidates[0].clone();
        let account = candidate.accounts[0].clone();
        let state = Arc::new(RoutingState::new(EventBus::new()));
        let settings = settings();
        state.disable(&account, AccountState::AuthFailed, "revoked");
        // A snapshot built before the state was saved still lists the account.
        state.sync(&snap);
        assert_eq!(
            skip_kind(state.admit(&candidate, &account, &settings, 0)),
            SkipKind::Disabled
        );
        // Once saved, a snapshot that lists it means a person cleared it.
        state.state_saved(account.id);
        state.sync(&snap);
        assert!(state.admit(&candidate, &account, &settings, 0).is_ok());
    }

    #[test]
    fn failures_open_the_connection_breaker_and_a_success_after_the_cooldown_closes_it() {
        let snap = snapshot(1);
        let candidate = plan(&snap, "openai/gpt-4.1", None).unwrap().candidates[0].clone();
        let account = candidate.accounts[0].clone();
        let state = Arc::new(RoutingState::new(EventBus::new()));
        let mut events = state.events.subscribe();
        let settings = settings();
        let transient = Failure::Transient { status: Some(500) };
        for t in [0, 10] {
            let mut ticket = state.admit(&candidate, &account, &settings, t).unwrap();
            ticket.failure(&transient, "500", &settings, t);
        }
        assert_eq!(
            skip_kind(state.admit(&candidate, &account, &settings, 20)),
            SkipKind::Breaker
        );
        assert!(matches!(
            events.try_recv().unwrap().event,
            Event::ProviderDown { .. }
        ));
        let after = 20 + settings.breaker_cooldown_secs as i64 * 1000;
        let mut probe = state.admit(&candidate, &account, &settings, after).unwrap();
        // While the probe is out, nobody else gets through.
        assert_eq!(
            skip_kind(state.admit(&candidate, &account, &settings, after)),
            SkipKind::Breaker
        );
        probe.success(after);
        drop(probe);
        assert!(
            state
                .admit(&candidate, &account, &settings, after + 1)
                .is_ok()
        );
        let kinds: Vec<&str> = std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| e.event.kind())
            .collect();
        assert!(kinds.contains(&"ProviderRecovered"), "{kinds:?}");
    }

    #[test]
    fn a_rate_limit_cools_the_connection_until_the_hint_and_in_flight_counts_return_to_zero() {
        let snap = snapshot(1);
        let candidate = plan(&snap, "openai/gpt-4.1", None).unwrap().candidates[0].clone();
        let account = candidate.accounts[0].clone();
        let state = Arc::new(RoutingState::new(EventBus::new()));
        let settings = settings();
        let mut ticket = state.admit(&candidate, &account, &settings, 0).unwrap();
        assert_eq!(state.report(0)["in_flight"].as_object().unwrap().len(), 2);
        let limited = Failure::RateLimited {
            until_ms: Some(5_000),
            model_scoped: false,
            exhausted: false,
        };
        ticket.failure(&limited, "429", &settings, 0);
        drop(ticket);
        assert!(state.report(0)["in_flight"].as_object().unwrap().is_empty());
        let skip = state
            .admit(&candidate, &account, &settings, 4_999)
            .err()
            .unwrap();
        assert_eq!(
            (skip.kind, skip.until_ms),
            (SkipKind::RateLimited, Some(5_000))
        );
        assert!(
            state
                .why_unusable(&candidate, 4_999)
                .unwrap()
                .contains("cooling")
        );
        assert!(state.admit(&candidate, &account, &settings, 5_000).is_ok());
    }

    #[test]
    fn an_auth_failure_disables_the_account_until_a_snapshot_brings_it_back() {
        let snap = snapshot(1);
        let candidate = plan(&snap, "openai/gpt-4.1", None).unwrap().candidates[0].clone();
        let account = candidate.accounts[0].clone();
        let state = Arc::new(RoutingState::new(EventBus::new()));
        let mut changes = state.take_state_changes().unwrap();
        assert!(state.take_state_changes().is_none(), "taken once");
        let settings = settings();
        let mut ticket = state.admit(&candidate, &account, &settings, 0).unwrap();
        let state_set = ticket.failure(&Failure::Auth { status: 401 }, "401", &settings, 0);
        assert_eq!(state_set, Some(AccountState::AuthFailed));
        drop(ticket);
        let change = changes.try_recv().unwrap();
        assert_eq!(
            (change.connection_id, change.state),
            (account.id, AccountState::AuthFailed)
        );
        assert_eq!(
            skip_kind(state.admit(&candidate, &account, &settings, 1)),
            SkipKind::Disabled
        );
        // Once the state is saved, a snapshot that lists the account again
        // means its state was cleared.
        state.state_saved(account.id);
        state.sync(&snap);
        assert!(state.admit(&candidate, &account, &settings, 2).is_ok());
    }

    #[test]
    fn an_exceeded_budget_skips_its_tier_and_is_announced_once() {
        let snap = snapshot(1);
        let candidate = plan(&snap, "openai/gpt-4.1", None).unwrap().candidates[0].clone();
        let account = candidate.accounts[0].clone();
        let state = Arc::new(RoutingState::new(EventBus::new()));
        let mut events = state.events.subscribe();
        let mut settings = settings();
        settings.budgets = vec![crate::config::settings::Budget {
            scope: "tier:api-key".into(),
            daily_usd: Some(0.01),
            monthly_usd: None,
        }];
        let mut snap_settings = snap;
        snap_settings.settings = settings.clone();
        state.sync(&snap_settings);
        let now = crate::store::now_ms();
        let record = UsageRecord {
            ts: now,
            provider: Some("openai".into()),
            connection_id: Some(account.id),
            tier: Some("api-key".into()),
            cost: 0.02,
            status: 200,
            ..Default::default()
        };
        state.observe(&record);
        state.observe(&record);
        assert_eq!(
            skip_kind(state.admit(&candidate, &account, &settings, now)),
            SkipKind::Budget
        );
        let announced: Vec<_> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert_eq!(announced.len(), 1, "{announced:?}");
        assert_eq!(announced[0].event.kind(), "BudgetExceeded");
    }
}
