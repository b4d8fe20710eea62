//! The HTTP surface: the router, shared state, and helpers every handler uses.

pub mod auth;
mod cors;
mod dashboard;
pub(crate) mod gemini;
pub mod injection_guard;
pub mod manage;
pub mod messages;
pub mod metrics;
pub mod network_guard;
pub(crate) mod oauth;
mod plain_errors;
pub mod relay;
pub mod replay;
pub mod request;
mod responses;
mod serve;
pub mod translating_relay;
pub mod v1;

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use crate::error::ApiError;
use crate::observe::UsageSink;
use crate::observe::events::EventBus;
use crate::observe::metrics::Metrics;
use crate::providers::Catalog;
use crate::providers::upstream::UpstreamClient;
use crate::routing::key_meter::KeyMeter;
use crate::routing::state::RoutingState;
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Everything handlers share.
pub struct AppState {
    /// The configuration the hot path reads; replaced whole on every change.
    pub snapshot: ArcSwap<Snapshot>,
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub usage: UsageSink,
    pub upstream: UpstreamClient,
    /// Breakers, cooldowns, load, quotas and spend, shared by all requests.
    pub routing: Arc<RoutingState>,
    /// What each gateway key used, against its request limits and budgets.
    pub key_meter: Arc<KeyMeter>,
    /// Events a person should know about (notifications, `/api/events`).
    pub events: EventBus,
    /// Per-provider traffic metrics (`/api/health`, `/metrics`).
    pub metrics: Arc<Metrics>,
    /// Idempotency keys, answers shared in flight and the response cache.
    pub replay: replay::Replay,
    /// Dashboard login tokens and failed-password pacing.
    pub dashboard: manage::session::DashboardLogins,
    /// Data-plane requests per client address this minute.
    pub ip_pacer: network_guard::IpPacer,
    pub started_at: Instant,
    /// Where the server listens; settings that would make a public address unsafe are refused.
    pub listen: std::net::SocketAddr,
    /// Start-up problems to show on the Health page (`Options::warnings`).
    pub warnings: Vec<String>,
    /// Set from the desktop tray: data-plane requests are refused (503
    /// `routing_paused`) while it is on; management stays open.
    pub routing_paused: std::sync::atomic::AtomicBool,
    /// OAuth sign-ins in progress and live account tokens.
    pub oauth: crate::providers::oauth::OAuthRuntime,
    /// Serialises snapshot rebuilds so an older build never replaces a newer one.
    reload_lock: tokio::sync::Mutex<()>,
}

pub type App = Arc<AppState>;

impl AppState {
    pub fn new(
        snapshot: Snapshot,
        store: Store,
        catalog: Arc<Catalog>,
        usage: UsageSink,
        upstream: UpstreamClient,
        listen: std::net::SocketAddr,
        warnings: Vec<String>,
    ) -> AppState {
        let events = EventBus::new();
        let routing = Arc::new(RoutingState::new(events.clone()));
        routing.sync(&snapshot);
        upstream.set_connect_timeout(std::time::Duration::from_secs(
            snapshot.settings.connect_timeout_secs,
        ));
        let metrics = Arc::new(Metrics::new());
        let key_meter = Arc::new(KeyMeter::default());
        usage.set_observers(vec![routing.clone(), metrics.clone(), key_meter.clone()]);
        AppState {
            snapshot: ArcSwap::from_pointee(snapshot),
            store,
            catalog,
            usage,
            upstream,
            routing,
            key_meter,
            events,
            metrics,
            replay: replay::Replay::new(),
            dashboard: manage::session::DashboardLogins::default(),
            ip_pacer: network_guard::IpPacer::default(),
            started_at: Instant::now(),
            listen,
            warnings,
            routing_paused: Default::default(),
            oauth: Default::default(),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Uses `oauth` (its upstream override) instead of the default.
    pub fn with_oauth(mut self, oauth: crate::providers::oauth::OAuthRuntime) -> AppState {
        self.oauth = oauth;
        self
    }

    /// Rebuilds the snapshot from the store after a configuration change.
    pub async fn reload(&self) -> Result<(), ApiError> {
        let _guard = self.reload_lock.lock().await;
        let catalog = self.catalog.clone();
        let snapshot = self
            .store
            .call(move |conn, secrets| Snapshot::build(&catalog, conn, secrets))
            .await?;
        self.routing.sync(&snapshot);
        self.upstream
            .set_connect_timeout(std::time::Duration::from_secs(
                snapshot.settings.connect_timeout_secs,
            ));
        self.oauth.sessions.retain(|id| {
            snapshot
                .providers
                .iter()
                .any(|p| snapshot.accounts(&p.id).iter().any(|a| a.id == id))
        });
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }
}

/// Reads a request body up to `limit` bytes; a larger one is a 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large(limit);
            }
            source = err.source();
        }
        ApiError::bad_request(format!("The request body could not be read: {e}"))
    })
}

/// Every route of the gateway.
pub fn router(app: App) -> Router {
    // Idempotency, in-flight sharing and the response cache sit in front of
    // the POSTs that produce an answer, and of nothing else.
    let share = axum::middleware::from_fn_with_state(app.clone(), replay::middleware);
    let chat = post(v1::chat_completions).layer(share.clone());
    let message = post(messages::messages).layer(share.clone());
    let respond = post(responses::responses).layer(share.clone());
    let generate = post(gemini::call_model).layer(share);
    let models = get(v1::list_models);
    Router::new()
        .route("/", get(root).head(root))
        .route("/v1/chat/completions", chat.clone())
        .route("/chat/completions", chat.clone())
        .route("/v1/v1/chat/completions", chat)
        .route("/v1/messages", message.clone())
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/v1/messages", message)
        .route("/v1/models", models.clone())
        .route("/models", models.clone())
        .route("/v1/v1/models", models)
        .route("/v1/responses", respond.clone())
        .route("/responses", respond.clone())
        .route("/v1/v1/responses", respond)
        .route("/v1beta/models", get(gemini::list_models))
        .route(
            "/v1beta/models/{*target}",
            generate.clone().get(gemini::get_model),
        )
        // The google-genai SDK's default path: a POST here is a Gemini call,
        // a GET an OpenAI model lookup.
        .route("/v1/models/{*id}", generate.get(v1::get_model))
        .route("/v1/v1/models/{*id}", get(v1::get_model))
        .route("/models/{*id}", get(v1::get_model))
        .route("/metrics", get(metrics::metrics))
        .route("/callback", get(oauth::callback))
        .route("/dashboard", get(dashboard::redirect_to_slash))
        .route("/dashboard/", get(dashboard::serve))
        .route("/dashboard/{*path}", get(dashboard::serve))
        .nest(
            "/api",
            manage::router().layer(axum::middleware::from_fn_with_state(
                app.clone(),
                manage::audit::record,
            )),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(plain_errors::middleware))
        .layer(cors::layer(app.clone()))
        // Outermost: a refused address reaches nothing else.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            network_guard::middleware,
        ))
        .with_state(app)
}

/// What this server is, for humans and for clients' reachability checks.
async fn root(headers: axum::http::HeaderMap) -> Response {
    if dashboard::wants_html(&headers) {
        return axum::response::Redirect::to("/dashboard/").into_response();
    }
    axum::Json(json!({
        "name": "OmniRoute",
        "version": env!("CARGO_PKG_VERSION"),
        "openai_base_path": "/v1",
        "management_api": "/api",
    }))
    .into_response()
}

/// Answered in the wire format of the route the caller aimed at.
async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("{method} is not allowed on {}", uri.path()),
    )
    .with_code("method_not_allowed");
    network_guard::refuse_request(&method, uri.path(), error)
}

/// Answered in the wire format of the route the caller aimed at.
async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    let error = ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Unknown route: {method} {}", uri.path()),
    )
    .with_code("unknown_route");
    network_guard::refuse_request(&method, uri.path(), error)
}
