//! `/api/backup/export` and `/api/backup/import`: the configuration as one JSON document — secrets only when the user sets a passphrase, sealed under it — and importing one: every item checked before anything is written, then all written in one transaction.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Admin, json_body};
use crate::api::App;
use crate::error::ApiError;
use crate::providers::catalog::{AuthKind, ProviderDef, ProviderSource, Tier, WireFormat};
use crate::routing::Strategy;
use crate::routing::quota::QuotaLimit;
use crate::store::combos::{self, ComboRow};
use crate::store::connections::{self, ConnectionInput, ConnectionPatch};
use crate::store::crypto::{MIN_PASSPHRASE_LEN, PassphraseSealed};
use crate::store::{self, api_keys, now_ms, sealed_url};

/// What `format` says in every exported document.
const FORMAT: &str = "omniroute-config";
/// The document version this gateway writes and reads.
const VERSION: u32 = 1;

/// The whole exported configuration.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    format: String,
    version: u32,
    #[serde(default)]
    exported_at: Option<i64>,
    #[serde(default)]
    providers: Vec<ProviderItem>,
    #[serde(default)]
    connections: Vec<ConnectionItem>,
    #[serde(default)]
    combos: Vec<ComboItem>,
    #[serde(default)]
    settings: Map<String, Value>,
    /// Names and permissions only, for the record: a key's secret exists
    /// only as a hash, so keys are made anew where the file is imported.
    #[serde(default)]
    api_keys: Vec<KeyItem>,
    /// Account keys and proxy URLs with passwords, sealed under the
    /// exporter's passphrase; absent from an export without one, which
    /// leaves these out entirely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secrets: Option<PassphraseSealed>,
}

/// What the sealed `secrets` hold.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SecretItems {
    /// By `provider/name`.
    connections: BTreeMap<String, ConnectionSecrets>,
    /// `proxy` and the `provider_proxies` entries that carry a password.
    settings: Map<String, Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConnectionSecrets {
    api_key: Option<String>,
    proxy: Option<String>,
}

/// Whether a proxy URL carries a password (a credential).
fn has_password(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.password().is_some())
}

/// Takes the proxy settings that carry a password out of `settings`.
fn take_secret_settings(settings: &mut Map<String, Value>) -> Map<String, Value> {
    let mut taken = Map::new();
    if settings
        .get("proxy")
        .and_then(Value::as_str)
        .is_some_and(has_password)
        && let Some(proxy) = settings.remove("proxy")
    {
        taken.insert("proxy".into(), proxy);
    }
    if let Some(Value::Object(proxies)) = settings.get_mut("provider_proxies") {
        let secret: Map<String, Value> = proxies
            .iter()
            .filter(|(_, url)| url.as_str().is_some_and(has_password))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        proxies.retain(|k, _| !secret.contains_key(k));
        if !secret.is_empty() {
            taken.insert("provider_proxies".into(), Value::Object(secret));
        }
    }
    taken
}

/// A user-defined provider, shaped like `POST /api/providers`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderItem {
    id: String,
    name: String,
    format: WireFormat,
    base_url: String,
    prefix: String,
    auth: AuthKind,
    #[serde(default)]
    models: Vec<String>,
}

/// An account without its secret, shaped like `POST /api/connections`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionItem {
    provider: String,
    name: String,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default = "one")]
    priority: i64,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    tier: Option<Tier>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    quota: Vec<QuotaLimit>,
    /// From the sealed secrets, at import; never written in the clear.
    #[serde(skip)]
    api_key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComboItem {
    name: String,
    strategy: Strategy,
    models: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one_u32")]
    sticky: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyItem {
    name: String,
    models: Vec<String>,
    #[serde(default)]
    limits: api_keys::KeyLimits,
}

fn one() -> i64 {
    1
}

fn one_u32() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// `GET /api/backup/export`: the configuration without any secret.
pub async fn export(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    Ok(Json(document(&app, None).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// Seals the account keys and proxy passwords into the export.
    passphrase: String,
}

/// `POST /api/backup/export`: the configuration with its secrets, sealed
/// under the caller's passphrase.
pub async fn export_with_secrets(
    _: Admin,
    State(app): State<App>,
    body: Body,
) -> Result<Response, ApiError> {
    let body: ExportBody = json_body(body).await?;
    if body.passphrase.chars().count() < MIN_PASSPHRASE_LEN {
        return Err(ApiError::bad_request(format!(
            "The passphrase needs at least {MIN_PASSPHRASE_LEN} characters."
        ))
        .with_param("passphrase"));
    }
    Ok(Json(document(&app, Some(body.passphrase)).await?).into_response())
}

/// The export document; with a passphrase, secrets sealed under it.
async fn document(app: &App, passphrase: Option<String>) -> Result<ConfigDocument, ApiError> {
    let snapshot = app.snapshot.load_full();
    let with_secrets = passphrase.is_some();
    let (rows, keys, mut settings, mut sealed) = app
        .store
        .call(move |conn, secrets| {
            // OAuth accounts stay behind: their refresh tokens rotate, so a
            // copy on another gateway would race this one and one of them
            // would lose the account. The other machine signs in itself.
            let mut rows: Vec<_> = connections::list(conn)?
                .into_iter()
                .filter(|r| !r.oauth)
                .collect();
            let mut settings = store::settings::load(conn)?;
            let mut sealed = SecretItems::default();
            if with_secrets {
                // Stored proxy passwords are sealed with the data key; the
                // export seals them under the passphrase instead.
                for row in &mut rows {
                    if let Some(proxy) = &row.proxy {
                        row.proxy = Some(sealed_url::open(secrets, proxy)?);
                    }
                }
                sealed_url::map_settings(&mut settings, |url| sealed_url::open(secrets, url))?;
                for row in rows.iter().filter(|r| r.secret.is_some()) {
                    sealed
                        .connections
                        .entry(format!("{}/{}", row.provider, row.name))
                        .or_default()
                        .api_key = connections::resolve_key(row, secrets)?;
                }
            }
            Ok((rows, api_keys::list(conn)?, settings, sealed))
        })
        .await?;
    sealed.settings = take_secret_settings(&mut settings);
    let mut document = ConfigDocument {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: Some(now_ms()),
        providers: snapshot
            .providers
            .iter()
            .filter(|p| p.source == ProviderSource::User)
            .map(|p| ProviderItem {
                id: p.id.clone(),
                name: p.name.clone(),
                format: p.format,
                base_url: p.base_url.clone(),
                prefix: p.prefix.clone(),
                auth: p.auth,
                models: p.models.iter().map(|m| m.id.clone()).collect(),
            })
            .collect(),
        connections: rows
            .into_iter()
            .map(|c| {
                let mut proxy = c.proxy;
                if proxy.as_deref().is_some_and(has_password) {
                    sealed
                        .connections
                        .entry(format!("{}/{}", c.provider, c.name))
                        .or_default()
                        .proxy = proxy.take();
                }
                ConnectionItem {
                    provider: c.provider,
                    name: c.name,
                    api_key_env: c.api_key_env,
                    base_url: c.base_url,
                    priority: c.priority,
                    enabled: c.enabled,
                    tier: c.tier,
                    proxy,
                    quota: c.quota,
                    api_key: None,
                }
            })
            .collect(),
        combos: snapshot
            .combos
            .iter()
            .map(|c| ComboItem {
                name: c.name.clone(),
                strategy: c.strategy,
                models: c.models.clone(),
                enabled: c.enabled,
                sticky: c.sticky,
            })
            .collect(),
        settings,
        api_keys: keys
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| KeyItem {
                name: k.name,
                models: k.models,
                limits: k.limits,
            })
            .collect(),
        secrets: None,
    };
    if let Some(passphrase) = passphrase {
        let plain = serde_json::to_vec(&sealed).map_err(|e| ApiError::internal(e.to_string()))?;
        // Argon2 takes tens of milliseconds of CPU and memory on purpose:
        // off the async threads.
        let sealed =
            tokio::task::spawn_blocking(move || PassphraseSealed::seal(&passphrase, &plain))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| ApiError::internal(e.to_string()))?;
        document.secrets = Some(sealed);
    }
    Ok(document)
}

/// Everything an import writes, checked.
struct Plan {
    providers: Vec<ProviderDef>,
    connections: Vec<ConnectionInput>,
    combos: Vec<ComboRow>,
    settings: Map<String, Value>,
}

/// `POST /api/backup/import`.
/// The header that carries the passphrase of an export with secrets.
const PASSPHRASE_HEADER: &str = "x-omniroute-passphrase";

pub async fn import(
    _: Admin,
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut document: ConfigDocument = json_body(body).await?;
    if document.format != FORMAT || document.version != VERSION {
        return Err(ApiError::bad_request(format!(
            "This is not an OmniRoute configuration this gateway can read (format `{}`, version {}; expected `{FORMAT}`, version {VERSION}).",
            document.format, document.version
        ))
        .with_code("invalid_import"));
    }
    let passphrase = headers
        .get(PASSPHRASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let secrets_skipped = document.secrets.is_some() && passphrase.is_none();
    match (document.secrets.take(), passphrase) {
        (Some(sealed), Some(passphrase)) => {
            // Argon2 is slow on purpose: off the async threads.
            let opened = tokio::task::spawn_blocking(move || sealed.open(&passphrase))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let items = opened
                .ok()
                .and_then(|plain| serde_json::from_slice::<SecretItems>(&plain).ok())
                .ok_or_else(|| refuse("secrets".to_owned(), "the passphrase does not open them"))?;
            fold_secrets(&mut document, items);
        }
        // What an export without secrets left out stays as it is here.
        _ => keep_secret_proxies(&mut document.settings, &app.snapshot.load().settings),
    }
    let plan = check(&app, document).await?;
    let counts = json!({
        "providers": plan.providers.len(),
        "connections": plan.connections.len(),
        "combos": plan.combos.len(),
        "settings": plan.settings.len(),
    });
    let needs_secret = app
        .store
        .call(move |conn, secrets| {
            let tx = conn.transaction()?;
            for provider in &plan.providers {
                let exists = store::providers::get(&tx, &provider.id)?.is_some();
                store::providers::save(&tx, provider, "api", exists)?;
            }
            let existing: HashMap<(String, String), (i64, Option<String>)> =
                connections::list(&tx)?
                    .into_iter()
                    .map(|c| ((c.provider, c.name), (c.id, c.proxy)))
                    .collect();
            let mut needs_secret = Vec::new();
            for input in &plan.connections {
                match existing.get(&(input.provider.clone(), input.name.clone())) {
                    // An account this gateway has keeps its secret.
                    Some((id, current_proxy)) => {
                        // An export without secrets left out a proxy with a
                        // password; the one here stays.
                        let proxy = match &input.proxy {
                            None if current_proxy.as_deref().is_some_and(has_password) => None,
                            given => Some(given.clone()),
                        };
                        let patch = ConnectionPatch {
                            api_key_env: input.api_key_env.clone().map(Some),
                            base_url: Some(input.base_url.clone()),
                            priority: Some(input.priority),
                            enabled: Some(input.enabled),
                            tier: Some(input.tier),
                            proxy,
                            quota: Some(input.quota.clone()),
                            ..ConnectionPatch::default()
                        };
                        connections::update(&tx, secrets, *id, &patch)?;
                    }
                    // A new one has no key yet: it waits, disabled, unless
                    // it reads its key from the environment.
                    None => {
                        let mut input = input.clone();
                        if input.api_key_env.is_none() && input.api_key.is_none() {
                            input.enabled = false;
                            needs_secret
                                .push(json!({"provider": input.provider, "name": input.name}));
                        }
                        connections::insert(&tx, secrets, &input, "api")?;
                    }
                }
            }
            for combo in &plan.combos {
                combos::upsert(&tx, combo)?;
            }
            store::settings::save_in(&tx, secrets, &plan.settings)?;
            tx.commit()?;
            Ok(needs_secret)
        })
        .await?;
    app.reload().await?;
    Ok(Json(json!({
        "imported": counts,
        "needs_secret": needs_secret,
        "secrets_skipped": secrets_skipped,
    }))
    .into_response())
}

/// Puts the opened secrets where an export without them would have had
/// them: account keys and proxies on their connections, proxy settings
/// among the settings.
fn fold_secrets(document: &mut ConfigDocument, mut items: SecretItems) {
    for item in &mut document.connections {
        if let Some(found) = items
            .connections
            .remove(&format!("{}/{}", item.provider, item.name))
        {
            item.api_key = found.api_key;
            if found.proxy.is_some() {
                item.proxy = found.proxy;
            }
        }
    }
    for (key, value) in items.settings {
        match (document.settings.get_mut(&key), value) {
            (Some(Value::Object(current)), Value::Object(secret)) => current.extend(secret),
            (_, value) => {
                document.settings.insert(key, value);
            }
        }
    }
}

/// Keeps this gateway's per-provider proxies that carry a password when
/// the imported settings, exported without secrets, lack them.
fn keep_secret_proxies(settings: &mut Map<String, Value>, current: &crate::config::Settings) {
    let Some(Value::Object(proxies)) = settings.get_mut("provider_proxies") else {
        return;
    };
    for (provider, url) in &current.provider_proxies {
        if has_password(url) && !proxies.contains_key(provider) {
            proxies.insert(provider.clone(), json!(url));
        }
    }
}

/// A 400 naming the item that is wrong.
fn refuse(item: String, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{item}: {why}. Nothing was imported."))
        .with_code("invalid_import")
}

/// Checks every item by the rules of the matching `/api` route, against
/// the current configuration with the document's own items added.
async fn check(app: &App, document: ConfigDocument) -> Result<Plan, ApiError> {
    let snapshot = app.snapshot.load_full();
    let mut providers = Vec::new();
    for item in document.providers {
        let label = format!("provider `{}`", item.id);
        let def = super::providers::definition(
            app,
            super::providers::ProviderBody {
                id: item.id,
                name: item.name,
                format: item.format,
                base_url: item.base_url,
                prefix: item.prefix,
                auth: item.auth,
                models: item.models,
            },
            None,
        )
        .map_err(|e| refuse(label, e.message))?;
        providers.push(def);
    }
    // A name is a provider when the gateway or the document knows it.
    let provider_id = |name: &str| -> Option<String> {
        snapshot
            .provider_by_name(name)
            .map(|p| p.id.clone())
            .or_else(|| {
                providers
                    .iter()
                    .find(|p| p.id == name || p.prefix == name)
                    .map(|p| p.id.clone())
            })
    };

    let mut inputs = Vec::new();
    for item in document.connections {
        let label = format!("connection `{}/{}`", item.provider, item.name);
        let provider = provider_id(&item.provider).ok_or_else(|| {
            refuse(
                label.clone(),
                format!("unknown provider `{}`", item.provider),
            )
        })?;
        let input = super::connections::checked_input(
            provider,
            super::connections::CreateBody {
                provider: item.provider,
                name: item.name,
                api_key: item.api_key,
                api_key_env: item.api_key_env,
                base_url: item.base_url,
                priority: item.priority,
                enabled: item.enabled,
                tier: item.tier,
                proxy: item.proxy,
                quota: item.quota,
            },
        )
        .map_err(|e| refuse(label, e.message))?;
        inputs.push(input);
    }

    let stored = app.store.call(|conn, _| combos::list(conn)).await?;
    let mut all: Vec<ComboRow> = stored;
    let mut combo_rows = Vec::new();
    for item in document.combos {
        let name = item.name.trim().to_owned();
        // A combo from the config file stays one.
        let source = all
            .iter()
            .find(|c| c.name == name)
            .map_or_else(|| "api".to_owned(), |c| c.source.clone());
        let row = ComboRow {
            name,
            strategy: item.strategy,
            models: item
                .models
                .into_iter()
                .map(|m| m.trim().to_owned())
                .collect(),
            enabled: item.enabled,
            sticky: item.sticky,
            source,
        };
        all.retain(|c| c.name != row.name);
        all.push(row.clone());
        combo_rows.push(row);
    }
    // Checked once all are known, so combos may name each other.
    for row in &combo_rows {
        combos::validate(row, &all, |name| provider_id(name).is_some())
            .map_err(|p| refuse(format!("combo `{}`", row.name), p.message))?;
    }

    snapshot
        .settings
        .with_patch(&document.settings)
        .map_err(|e| refuse("settings".to_owned(), e))?;
    if document.settings.get("require_api_key") == Some(&Value::Bool(false))
        && !app.listen.ip().is_loopback()
    {
        return Err(refuse(
            "settings".to_owned(),
            format!(
                "the gateway listens on {}, which is not loopback: API keys must stay required",
                app.listen.ip()
            ),
        ));
    }
    Ok(Plan {
        providers,
        connections: inputs,
        combos: combo_rows,
        settings: document.settings,
    })
}
