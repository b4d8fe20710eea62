//! `/api/combos`: named fallback chains (create, replace, patch, toggle, delete), checked by the same rules as the config file.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, json_body};
use crate::api::App;
use crate::error::ApiError;
use crate::routing::Strategy;
use crate::snapshot::Snapshot;
use crate::store::combos::{self, ComboProblem, ComboRow};
use crate::store::{StoreError, StoreResult};

/// A whole combo (`POST`, and `PUT` where the name comes from the path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComboBody {
    name: Option<String>,
    strategy: Strategy,
    models: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "one")]
    sticky: u32,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// A partial update; `{"enabled": false}` is the toggle.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// Accepted only when it is the combo's own name: combos are not renamed
    /// (other combos may list this one by name).
    name: Option<String>,
    strategy: Option<Strategy>,
    models: Option<Vec<String>>,
    enabled: Option<bool>,
    sticky: Option<u32>,
}

/// What a write can run into besides the database: a rule the combo breaks.
enum Refusal {
    Invalid(ComboProblem),
    Conflict(String),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(p) => ApiError::bad_request(p.message).with_param(p.field.param()),
            Refusal::Conflict(message) => ApiError::conflict(message),
        }
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no combo `{name}`"))
}

fn find<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a ComboRow> {
    snapshot.combos.iter().find(|c| c.name == name)
}

fn trimmed(models: Vec<String>) -> Vec<String> {
    models.into_iter().map(|m| m.trim().to_string()).collect()
}

/// Checks `combo` against the stored combos and writes it, inside one store
/// call so that two concurrent writes cannot build a cycle between them.
/// `exists` says whether the combo must already exist (replace) or must not
/// (create).
async fn save(app: &App, combo: ComboRow, exists: bool) -> Result<ComboRow, ApiError> {
    let snapshot: Arc<Snapshot> = app.snapshot.load_full();
    let outcome = app
        .store
        .call(move |conn, _| -> StoreResult<Result<ComboRow, Refusal>> {
            let stored = combos::list(conn)?;
            match (stored.iter().any(|c| c.name == combo.name), exists) {
                (true, false) => {
                    return Ok(Err(Refusal::Conflict(format!(
                        "a combo named `{}` already exists",
                        combo.name
                    ))));
                }
                (false, true) => {
                    return Err(StoreError::NotFound(format!("no combo `{}`", combo.name)));
                }
                _ => {}
            }
            if let Err(problem) = combos::validate(&combo, &stored, |name| {
                snapshot.provider_by_name(name).is_some()
            }) {
                return Ok(Err(Refusal::Invalid(problem)));
            }
            combos::upsert(conn, &combo)?;
            Ok(Ok(combo))
        })
        .await??;
    app.reload().await?;
    Ok(outcome)
}

pub async fn list(_: Admin, State(app): State<App>) -> Response {
    Json(json!({"data": app.snapshot.load().combos})).into_response()
}

pub async fn get_one(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot.load();
    let combo = find(&snapshot, &name).ok_or_else(|| not_found(&name))?;
    Ok(Json(combo).into_response())
}

pub async fn create(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let body: ComboBody = json_body(body).await?;
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .ok_or_else(|| ApiError::bad_request("a combo needs a name").with_param("name"))?;
    let combo = ComboRow {
        name,
        strategy: body.strategy,
        models: trimmed(body.models),
        enabled: body.enabled,
        sticky: body.sticky,
        source: "api".into(),
    };
    let saved = save(&app, combo, false).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

/// Replaces a combo whole; like a replaced provider, it is the API's from now on.
pub async fn replace(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body: ComboBody = json_body(body).await?;
    check_same_name(body.name.as_deref(), &name)?;
    let combo = ComboRow {
        name,
        strategy: body.strategy,
        models: trimmed(body.models),
        enabled: body.enabled,
        sticky: body.sticky,
        source: "api".into(),
    };
    Ok(Json(save(&app, combo, true).await?).into_response())
}

/// Changes the given fields; the combo keeps its source, like a patched connection.
pub async fn update(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body: PatchBody = json_body(body).await?;
    check_same_name(body.name.as_deref(), &name)?;
    let current = find(&app.snapshot.load(), &name)
        .cloned()
        .ok_or_else(|| not_found(&name))?;
    let combo = ComboRow {
        strategy: body.strategy.unwrap_or(current.strategy),
        models: body.models.map(trimmed).unwrap_or(current.models),
        enabled: body.enabled.unwrap_or(current.enabled),
        sticky: body.sticky.unwrap_or(current.sticky),
        ..current
    };
    Ok(Json(save(&app, combo, true).await?).into_response())
}

fn check_same_name(body_name: Option<&str>, path_name: &str) -> Result<(), ApiError> {
    match body_name {
        Some(n) if n.trim() != path_name => Err(ApiError::bad_request(
            "the name in the body must match the name in the path (combos are not renamed: create the new one, then delete the old)",
        )
        .with_param("name")),
        _ => Ok(()),
    }
}

/// Deletes a combo no other combo lists. A combo from the config file comes
/// back at the next start, as its connections and providers do.
pub async fn delete(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    app.store
        .call(move |conn, _| -> StoreResult<Result<(), Refusal>> {
            let stored = combos::list(conn)?;
            let users = combos::users_of(&stored, &name);
            if !users.is_empty() {
                let names = users
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Ok(Err(Refusal::Conflict(format!(
                    "combo `{name}` is used by {names}; remove it from there first"
                ))));
            }
            combos::delete(conn, &name)?;
            Ok(Ok(()))
        })
        .await??;
    app.reload().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
