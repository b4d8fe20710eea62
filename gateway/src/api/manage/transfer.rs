//! `/api/backup/export` and `/api/backup/import`: the configuration as one JSON document without secrets, and importing one — every item checked before anything is written, then all written in one transaction.

use std::collections::HashMap;

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
use crate::store::{self, api_keys, now_ms};

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

/// `GET /api/backup/export`.
pub async fn export(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let snapshot = app.snapshot.load_full();
    let (rows, keys) = app
        .store
        .call(|conn, _| Ok((connections::list(conn)?, api_keys::list(conn)?)))
        .await?;
    let settings = app
        .store
        .call(|conn, _| store::settings::load(conn))
        .await?;
    let document = ConfigDocument {
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
            .map(|c| ConnectionItem {
                provider: c.provider,
                name: c.name,
                api_key_env: c.api_key_env,
                base_url: c.base_url,
                priority: c.priority,
                enabled: c.enabled,
                tier: c.tier,
                proxy: c.proxy,
                quota: c.quota,
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
    };
    Ok(Json(document).into_response())
}

/// Everything an import writes, checked.
struct Plan {
    providers: Vec<ProviderDef>,
    connections: Vec<ConnectionInput>,
    combos: Vec<ComboRow>,
    settings: Map<String, Value>,
}

/// `POST /api/backup/import`.
pub async fn import(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let document: ConfigDocument = json_body(body).await?;
    if document.format != FORMAT || document.version != VERSION {
        return Err(ApiError::bad_request(format!(
            "This is not an OmniRoute configuration this gateway can read (format `{}`, version {}; expected `{FORMAT}`, version {VERSION}).",
            document.format, document.version
        ))
        .with_code("invalid_import"));
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
            let existing: HashMap<(String, String), i64> = connections::list(&tx)?
                .into_iter()
                .map(|c| ((c.provider, c.name), c.id))
                .collect();
            let mut needs_secret = Vec::new();
            for input in &plan.connections {
                match existing.get(&(input.provider.clone(), input.name.clone())) {
                    // An account this gateway has keeps its secret.
                    Some(&id) => {
                        let patch = ConnectionPatch {
                            api_key_env: input.api_key_env.clone().map(Some),
                            base_url: Some(input.base_url.clone()),
                            priority: Some(input.priority),
                            enabled: Some(input.enabled),
                            tier: Some(input.tier),
                            proxy: Some(input.proxy.clone()),
                            quota: Some(input.quota.clone()),
                            ..ConnectionPatch::default()
                        };
                        connections::update(&tx, secrets, id, &patch)?;
                    }
                    // A new one has no key yet: it waits, disabled, unless
                    // it reads its key from the environment.
                    None => {
                        let mut input = input.clone();
                        if input.api_key_env.is_none() {
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
            for (key, value) in &plan.settings {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    rusqlite::params![key, value.to_string()],
                )?;
            }
            tx.commit()?;
            Ok(needs_secret)
        })
        .await?;
    app.reload().await?;
    Ok(Json(json!({"imported": counts, "needs_secret": needs_secret})).into_response())
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
                api_key: None,
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
