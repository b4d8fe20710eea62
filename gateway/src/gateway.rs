//! Starting and stopping a gateway: data dir, store, config file, listener, server, usage writer.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::{ConfigError, DEFAULT_HOST, DEFAULT_PORT, FileConfig, Options};
use crate::observe::UsageSink;
use crate::observe::events::EventBus;
use crate::observe::status::{self, GatewayStatus};
use crate::providers::Catalog;
use crate::providers::upstream::UpstreamClient;
use crate::snapshot::Snapshot;
use crate::store::{self, SecretBox, Store, StoreError, crypto::CryptoError, usage_writer};

/// The database file inside the data dir.
pub const DB_FILE: &str = "omniroute.db";
/// How long shutdown waits for in-flight requests before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often old usage records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the key table is checked for changes made by another process
/// (`omniroute setup` creating a key for a tool while the gateway runs).
const KEY_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Why a gateway could not start. Each renders as one line for the console.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the data dir {path} is not usable: {message}")]
    DataDir { path: PathBuf, message: String },
    #[error("{0}")]
    Secret(#[from] CryptoError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Catalog(#[from] crate::providers::catalog::CatalogError),
    #[error("{0}")]
    Client(#[from] crate::providers::upstream::ClientBuildError),
    #[error("`{0}` is not an IP address to listen on")]
    BadHost(String),
    #[error(
        "refusing to listen on {0}: a non-loopback address needs API keys to be required (setting require_api_key)"
    )]
    UnsafeBind(IpAddr),
    #[error(
        "port {port} on {host} is already in use (is OmniRoute already running? choose another with --port)"
    )]
    PortInUse { host: IpAddr, port: u16 },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the usage writer: {0}")]
    Writer(rusqlite::Error),
    #[error("{0} must have at least {min} characters", min = store::dashboard_auth::MIN_PASSWORD_LEN)]
    ShortPassword(&'static str),
    #[error("the data dir {dir} is busy: {why}", dir = .0.display(), why = .1)]
    DataDirBusy(PathBuf, &'static str),
    #[error("{0}")]
    Admin(String),
}

/// A running gateway.
pub struct Handle {
    addr: SocketAddr,
    generated_api_key: Option<String>,
    generated_dashboard_password: Option<String>,
    app: api::App,
    data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    pruner: JoinHandle<()>,
    renewer: JoinHandle<()>,
    key_follower: JoinHandle<()>,
    usage: UsageSink,
    events: EventBus,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Held while running, so that `omniroute rekey` knows to wait.
    _running_lock: std::fs::File,
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Renews every OAuth token that is due now, as the background task
    /// does every minute (tests call it after moving the clock).
    pub async fn renew_due_tokens(&self) {
        renew_due_tokens(&self.app).await;
    }

    /// The gateway's clock (tests move it to reach token expiry).
    pub fn clock(&self) -> crate::clock::Clock {
        self.app.oauth.clock.clone()
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key made on a first start with no key at all; shown once.
    pub fn generated_api_key(&self) -> Option<&str> {
        self.generated_api_key.as_deref()
    }

    /// The dashboard password made on a first start without `INITIAL_PASSWORD`; shown once.
    pub fn generated_dashboard_password(&self) -> Option<&str> {
        self.generated_dashboard_password.as_deref()
    }

    /// A one-time token that signs a dashboard window in (valid two minutes).
    pub fn issue_login_token(&self) -> String {
        self.app.dashboard.issue_token(store::now_ms())
    }

    /// The dashboard's address carrying a fresh one-time login token: the
    /// desktop window opens it so the user is never asked for the password.
    pub fn dashboard_login_url(&self) -> String {
        format!(
            "{}/dashboard/?login_token={}",
            self.url(),
            self.issue_login_token()
        )
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// How the gateway is doing, for the desktop tray (reads one count from
    /// SQLite on the blocking pool).
    pub async fn status(&self) -> GatewayStatus {
        let now = store::now_ms();
        let snapshot = self.app.snapshot.load_full();
        let accounts: Vec<(String, Vec<i64>)> = snapshot
            .providers
            .iter()
            .map(|p| {
                let ids = snapshot.accounts(&p.id).iter().map(|a| a.id).collect();
                (p.id.clone(), ids)
            })
            .filter(|(_, ids): &(String, Vec<i64>)| !ids.is_empty())
            .collect();
        let since = status::day_start(now);
        let requests_today = self
            .app
            .store
            .call(move |conn, _| store::usage::count_since(conn, since))
            .await
            .unwrap_or(0);
        let mut status = status::summarize(
            &accounts,
            &self.app.routing.report(now),
            &self.events.last(20),
            requests_today,
            now,
        );
        status.paused = self.routing_paused();
        status
    }

    /// Pauses or resumes routing: while paused every data-plane request is
    /// answered 503 `routing_paused` in the caller's format (desktop tray).
    pub fn set_routing_paused(&self, paused: bool) {
        self.app
            .routing_paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn routing_paused(&self) -> bool {
        self.app
            .routing_paused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The runtime settings in force now.
    pub fn settings(&self) -> crate::config::settings::Settings {
        self.app.snapshot.load().settings.clone()
    }

    /// The events bus, for the desktop shell's notifications (and tests).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Stops accepting, lets in-flight requests finish (up to a limit), then
    /// commits every queued usage record before returning.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        // Event streams never end on their own; graceful shutdown would
        // otherwise wait the whole drain timeout for them.
        self.events.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.server)
            .await
            .is_err()
        {
            tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; closing anyway");
            self.server.abort();
        }
        self.pruner.abort();
        self.renewer.abort();
        self.key_follower.abort();
        self.usage.stop().await;
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

/// Entry point for the binary, the desktop shell and tests.
pub struct Gateway;

/// Sets a new dashboard password in the data dir's database (`password`, or
/// a generated one, which is returned) and ends every session. Safe while a
/// gateway runs on the same data dir: SQLite (WAL) serialises the write, and
/// sessions are checked against the database on every call.
pub fn reset_dashboard_password(
    data_dir: &Path,
    password: Option<String>,
) -> Result<String, StartError> {
    if password
        .as_ref()
        .is_some_and(|p| p.chars().count() < store::dashboard_auth::MIN_PASSWORD_LEN)
    {
        return Err(StartError::ShortPassword("the new dashboard password"));
    }
    let mut conn = open_offline(data_dir)?;
    let password = password.unwrap_or_else(store::dashboard_auth::generate_password);
    store::dashboard_auth::set_password(&mut conn, &password, None, store::now_ms())?;
    Ok(password)
}

/// Opens the data dir's database from outside a running gateway (the
/// command-line tools), creating and migrating it when it is new.
fn open_offline(data_dir: &Path) -> Result<rusqlite::Connection, StartError> {
    prepare_data_dir(data_dir)?;
    Ok(store::open_migrated(&data_dir.join(DB_FILE))?)
}

/// Creates a full-access gateway key named `name` and returns it. Safe
/// while a gateway runs on the same data dir: it notices the new key within
/// a few seconds and takes it from then on.
pub fn create_api_key(data_dir: &Path, name: &str) -> Result<String, StartError> {
    let conn = open_offline(data_dir)?;
    let (_, key) = store::api_keys::create(&conn, name, &["*".to_string()])?;
    Ok(key)
}

/// The first enabled combo, the model a tool is set up with when none is named.
pub fn first_enabled_combo(data_dir: &Path) -> Result<Option<String>, StartError> {
    let conn = open_offline(data_dir)?;
    let combos = store::combos::list(&conn)?;
    Ok(combos.into_iter().find(|c| c.enabled).map(|c| c.name))
}

impl Gateway {
    pub async fn start(options: Options) -> Result<Handle, StartError> {
        prepare_data_dir(&options.data_dir)?;
        let running_lock = crate::admin::hold_running_lock(&options.data_dir)?;
        store::rekey::settle(&options.data_dir, &options.data_dir.join(DB_FILE))?;
        let secrets = SecretBox::load(options.secret_key_hex.as_deref(), &options.data_dir)?;
        let mut catalog = Catalog::builtin()?;
        if let Some(origin) = &options.upstream_override {
            catalog.redirect_to(origin);
        }
        let catalog = Arc::new(catalog);
        let file = match &options.config_path {
            Some(path) => Some(FileConfig::load(path)?),
            None => None,
        };
        let db_path = options.data_dir.join(DB_FILE);
        let store = Store::open(&db_path, secrets)?;
        if let Some(file) = &file {
            file.apply(&store, &catalog)?;
        }
        let generated_api_key = ensure_an_api_key(&store)?;
        let generated_dashboard_password =
            ensure_a_dashboard_password(&store, options.initial_password.as_deref())?;
        let snapshot = store.with_conn(|conn| Snapshot::build(&catalog, conn, store.secrets()))?;

        let host_text = options
            .host
            .clone()
            .or_else(|| file.as_ref().and_then(|f| f.server.host.clone()))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let host: IpAddr = match host_text.as_str() {
            "localhost" => IpAddr::from([127, 0, 0, 1]),
            text => text
                .parse()
                .map_err(|_| StartError::BadHost(host_text.clone()))?,
        };
        if !host.is_loopback() && !snapshot.settings.require_api_key {
            return Err(StartError::UnsafeBind(host));
        }
        let port = options
            .port
            .or_else(|| file.as_ref().and_then(|f| f.server.port))
            .unwrap_or(DEFAULT_PORT);
        let listener = bind(host, port).await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: SocketAddr::new(host, port),
            source,
        })?;

        let (usage, writer) = usage_writer::spawn(&db_path).map_err(StartError::Writer)?;
        let app = Arc::new(
            AppState::new(
                snapshot,
                store,
                catalog,
                usage.clone(),
                UpstreamClient::new()?,
                addr,
                options.warnings.clone(),
            )
            .with_oauth(crate::providers::oauth::OAuthRuntime {
                origin: options.upstream_override.clone(),
                ..Default::default()
            }),
        );
        seed_routing(&app).await;
        tokio::spawn(persist_account_states(app.clone()));
        let pruner = tokio::spawn(housekeeping(app.clone()));
        let renewer = tokio::spawn(renew_oauth_tokens(app.clone()));
        let key_follower = tokio::spawn(follow_key_changes(app.clone()));

        let (shutdown, mut stop) = watch::channel(false);
        let events = app.events.clone();
        let router = api::router(app.clone());
        // Stream events are small writes: without TCP_NODELAY, Nagle's
        // algorithm holds each one until the client's delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
        });
        let server = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            // The peer address paces wrong dashboard passwords per client.
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });

        Ok(Handle {
            addr,
            generated_api_key,
            generated_dashboard_password,
            app,
            data_dir: options.data_dir.clone(),
            shutdown,
            server,
            pruner,
            renewer,
            key_follower,
            usage,
            events,
            writer: Some(writer),
            _running_lock: running_lock,
        })
    }
}

async fn bind(host: IpAddr, port: u16) -> Result<TcpListener, StartError> {
    let addr = SocketAddr::new(host, port);
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            StartError::PortInUse { host, port }
        } else {
            StartError::Bind { addr, source }
        }
    })
}

/// Creates the data dir and proves it is writable.
fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    let fail = |message: String| StartError::DataDir {
        path: dir.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// On a first start with no API key at all, makes one so that the gateway
/// is usable at once; it is returned to be shown once.
fn ensure_an_api_key(store: &Store) -> Result<Option<String>, StartError> {
    Ok(store.with_conn(|conn| {
        if store::api_keys::count_all(conn)? > 0 {
            return Ok(None);
        }
        let (_, key) = store::api_keys::create(conn, "default", &["*".to_string()])?;
        Ok(Some(key))
    })?)
}

/// Sets the dashboard password on a first start: `INITIAL_PASSWORD` when
/// given, else a generated one (returned, to be shown once). A stored password
/// is never replaced here; `omniroute reset-password` does that on purpose.
fn ensure_a_dashboard_password(
    store: &Store,
    initial: Option<&str>,
) -> Result<Option<String>, StartError> {
    let initial = initial.filter(|p| !p.is_empty());
    let stored = store.with_conn(|conn| store::dashboard_auth::password_hash(conn))?;
    if stored.is_some() {
        if initial.is_some() {
            tracing::info!("INITIAL_PASSWORD ignored: a dashboard password is already set");
        }
        return Ok(None);
    }
    let (password, generated) = match initial {
        Some(p) if p.chars().count() < store::dashboard_auth::MIN_PASSWORD_LEN => {
            return Err(StartError::ShortPassword("INITIAL_PASSWORD"));
        }
        Some(p) => (p.to_owned(), false),
        None => (store::dashboard_auth::generate_password(), true),
    };
    store.with_conn(|conn| {
        store::dashboard_auth::set_password(conn, &password, None, store::now_ms())
    })?;
    Ok(generated.then_some(password))
}

/// Counts what earlier runs spent this month (budgets), the recent requests
/// of connections with quota windows, and what each gateway key used this
/// month (its limits), so a restart forgets none of them.
async fn seed_routing(app: &api::App) {
    let now = store::now_ms();
    let month_start =
        crate::routing::quota::window_bounds(crate::routing::quota::QuotaWindow::Monthly, 0, now)
            .map_or(now - 31 * 86_400_000, |(start, _)| start);
    let snapshot = app.snapshot.load_full();
    let with_quota: Vec<i64> = snapshot
        .providers
        .iter()
        .flat_map(|p| snapshot.accounts(&p.id))
        .filter(|a| !a.quota.is_empty())
        .map(|a| a.id)
        .collect();
    let since = now - 32 * 86_400_000;
    let history = app
        .store
        .call(move |conn, _| {
            Ok((
                store::history::spend_since(conn, month_start)?,
                store::history::requests_since(conn, &with_quota, since)?,
                store::history::key_use_since(conn, month_start)?,
            ))
        })
        .await;
    match history {
        Ok((spend, requests, key_use)) => {
            app.routing.seed_spend(spend);
            app.routing.seed_quota(requests, &snapshot);
            app.key_meter.seed(key_use, now);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read past usage; budgets and quotas start from zero")
        }
    }
}

/// Writes terminal account states (revoked, banned, out of credits) to the
/// store as routing finds them, so they survive restarts, and reloads the
/// snapshot so that no request tries those accounts again.
async fn persist_account_states(app: api::App) {
    let Some(mut changes) = app.routing.take_state_changes() else {
        return;
    };
    while let Some(change) = changes.recv().await {
        let id = change.connection_id;
        let saved = app
            .store
            .call(move |conn, _| {
                store::connections::set_state(
                    conn,
                    change.connection_id,
                    Some(change.state),
                    Some(&change.reason),
                )
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(connection = id, error = %e, "cannot save the connection's state");
            continue;
        }
        if let Err(e) = app.reload().await {
            tracing::error!(error = %e, "cannot reload the configuration");
            continue;
        }
        app.routing.state_saved(id);
    }
}

/// Reloads the snapshot when the key table or the audit log changes under
/// the gateway, so a key another process adds, or a restore from the
/// command line (which writes an audit entry), applies within
/// [`KEY_CHECK_EVERY`]. One small query per tick, off the request path.
async fn follow_key_changes(app: api::App) {
    let fingerprint = |app: &api::App| {
        let app = app.clone();
        async move {
            app.store
                .call(|conn, _| {
                    Ok((
                        store::api_keys::fingerprint(conn)?,
                        store::audit::latest_id(conn)?,
                    ))
                })
                .await
                .ok()
        }
    };
    let mut known = fingerprint(&app).await;
    let mut tick = tokio::time::interval(KEY_CHECK_EVERY);
    loop {
        tick.tick().await;
        let now = fingerprint(&app).await;
        if now.is_some() && now != known {
            match app.reload().await {
                Ok(()) => known = now,
                Err(e) => tracing::warn!("API keys changed on disk, reload failed: {}", e.message),
            }
        }
    }
}

/// Hourly, from the start: drops usage records past the retention period,
/// and makes the daily backup when one is due.
/// How often OAuth tokens are checked for renewal.
const RENEW_CHECK_EVERY: Duration = Duration::from_secs(60);

/// Renews OAuth tokens shortly before they expire, also for accounts no
/// request uses, so that an idle account is still signed in days later.
async fn renew_oauth_tokens(app: api::App) {
    let mut tick = tokio::time::interval(RENEW_CHECK_EVERY);
    loop {
        tick.tick().await;
        renew_due_tokens(&app).await;
    }
}

/// Renews every OAuth token that is due; a dead grant takes its account
/// out of rotation with a `TokenRefreshFailed` event, as a request would.
async fn renew_due_tokens(app: &api::App) {
    let snapshot = app.snapshot.load_full();
    for provider in &snapshot.providers {
        let Some(def) = &provider.oauth else {
            continue;
        };
        for account in snapshot
            .accounts(&provider.id)
            .iter()
            .filter(|a| a.oauth.is_some())
        {
            let renewed = app
                .oauth
                .sessions
                .fresh(account, def, &app.upstream, &app.store, &app.oauth.clock)
                .await;
            match renewed {
                Ok(_) => {}
                Err(e) if e.permanent => {
                    app.events
                        .publish(crate::observe::events::Event::TokenRefreshFailed {
                            provider: account.provider.clone(),
                            connection_id: account.id,
                            reason: e.message.clone(),
                        });
                    app.routing.disable(
                        account,
                        store::connections::AccountState::AuthFailed,
                        &format!(
                            "renewing the OAuth token failed: {}. Sign in to this account again from the dashboard.",
                            e.message
                        ),
                    );
                }
                Err(e) => {
                    tracing::warn!(connection = account.id, error = %e, "OAuth renewal failed; trying again later");
                }
            }
        }
    }
}

async fn housekeeping(app: api::App) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let settings = app.snapshot.load().settings.clone();
        let days = i64::from(settings.usage_retention_days);
        app.usage.prune(store::now_ms() - days * 86_400_000).await;
        if settings.daily_backup {
            let dir = store::auto_backup::dir_of(app.store.path());
            let keep = settings.backups_kept as usize;
            match app
                .store
                .call(move |conn, _| store::auto_backup::daily_if_due(conn, &dir, keep))
                .await
            {
                Ok(Some(file)) => tracing::info!(backup = %file.display(), "daily backup written"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "the daily backup failed"),
            }
        }
    }
}
