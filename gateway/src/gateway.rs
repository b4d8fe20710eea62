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
}

/// A running gateway.
pub struct Handle {
    addr: SocketAddr,
    generated_api_key: Option<String>,
    data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    pruner: JoinHandle<()>,
    usage: UsageSink,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key made on a first start with no key at all; shown once.
    pub fn generated_api_key(&self) -> Option<&str> {
        self.generated_api_key.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops accepting, lets in-flight requests finish (up to a limit), then
    /// commits every queued usage record before returning.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.server)
            .await
            .is_err()
        {
            tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; closing anyway");
            self.server.abort();
        }
        self.pruner.abort();
        self.usage.stop().await;
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

/// Entry point for the binary, the desktop shell and tests.
pub struct Gateway;

impl Gateway {
    pub async fn start(options: Options) -> Result<Handle, StartError> {
        prepare_data_dir(&options.data_dir)?;
        let secrets = SecretBox::load(options.secret_key_hex.as_deref(), &options.data_dir)?;
        let catalog = Arc::new(Catalog::builtin()?);
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
        let app = Arc::new(AppState::new(
            snapshot,
            store,
            catalog,
            usage.clone(),
            UpstreamClient::new()?,
            addr,
        ));
        let pruner = tokio::spawn(prune_periodically(app.clone()));

        let (shutdown, mut stop) = watch::channel(false);
        let router = api::router(app);
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
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });

        Ok(Handle {
            addr,
            generated_api_key,
            data_dir: options.data_dir.clone(),
            shutdown,
            server,
            pruner,
            usage,
            writer: Some(writer),
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

/// Asks the writer to drop records past the retention period, now and hourly.
async fn prune_periodically(app: api::App) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let days = i64::from(app.snapshot.load().settings.usage_retention_days);
        app.usage.prune(store::now_ms() - days * 86_400_000).await;
    }
}
