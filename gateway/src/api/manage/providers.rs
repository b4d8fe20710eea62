//! `/api/providers`: the catalog and user-defined providers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, json_body};
use crate::api::App;
use crate::config::file::is_http_url;
use crate::error::ApiError;
use crate::providers::catalog::valid_name;
use crate::providers::{AuthKind, ModelDef, ProviderDef, WireFormat};
use crate::snapshot::Snapshot;
use crate::store;

/// A user-defined provider as the API accepts it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderBody {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) format: WireFormat,
    pub(super) base_url: String,
    pub(super) prefix: String,
    #[serde(default = "bearer")]
    pub(super) auth: AuthKind,
    #[serde(default)]
    pub(super) models: Vec<String>,
}

fn bearer() -> AuthKind {
    AuthKind::Bearer
}

fn view(snapshot: &Snapshot, p: &ProviderDef) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or_default();
    v["connections"] = json!(snapshot.accounts(&p.id).len());
    v["usable"] = json!(snapshot.is_usable(p));
    v
}

pub async fn list(_: Admin, State(app): State<App>) -> Response {
    let snapshot = app.snapshot.load();
    let data: Vec<Value> = snapshot
        .providers
        .iter()
        .map(|p| view(&snapshot, p))
        .collect();
    Json(json!({"data": data})).into_response()
}

pub async fn get_one(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let snapshot = app.snapshot.load();
    let provider = snapshot
        .providers
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no provider `{id}`")))?;
    Ok(Json(view(&snapshot, provider)).into_response())
}

/// Checks a user provider and turns it into a definition.
pub(super) fn definition(
    app: &App,
    body: ProviderBody,
    replacing: Option<&str>,
) -> Result<ProviderDef, ApiError> {
    for name in [&body.id, &body.prefix] {
        if !valid_name(name) {
            return Err(ApiError::bad_request(format!(
                "`{name}` is not a valid id or prefix (lowercase letters, digits, - _ .)"
            )));
        }
        if app
            .catalog
            .providers
            .iter()
            .any(|p| p.names().any(|n| n == name))
        {
            return Err(ApiError::conflict(format!(
                "`{name}` is a built-in provider id or prefix"
            )));
        }
    }
    if replacing.is_some_and(|id| id != body.id) {
        return Err(ApiError::bad_request(
            "the id in the body must match the id in the path",
        ));
    }
    let url = body.base_url.trim_end_matches('/');
    if !is_http_url(url) {
        return Err(ApiError::bad_request(
            "base_url must be an http:// or https:// URL",
        ));
    }
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    Ok(ProviderDef::user(
        body.id,
        body.name,
        body.prefix,
        body.format,
        url.to_string(),
        body.auth,
        body.models.iter().map(|m| ModelDef::bare(m)).collect(),
    ))
}

pub async fn create(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let def = definition(&app, json_body(body).await?, None)?;
    let saved = def.clone();
    app.store
        .call(move |conn, _| store::providers::save(conn, &saved, "api", false))
        .await?;
    app.reload().await?;
    Ok((StatusCode::CREATED, Json(view(&app.snapshot.load(), &def))).into_response())
}

pub async fn replace(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let def = definition(&app, json_body(body).await?, Some(&id))?;
    let saved = def.clone();
    app.store
        .call(move |conn, _| {
            if store::providers::get(conn, &saved.id)?.is_none() {
                return Err(store::StoreError::NotFound(format!(
                    "no user provider `{}`",
                    saved.id
                )));
            }
            store::providers::save(conn, &saved, "api", true)
        })
        .await?;
    app.reload().await?;
    Ok(Json(view(&app.snapshot.load(), &def)).into_response())
}

pub async fn delete(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if app.catalog.get(&id).is_some() {
        return Err(ApiError::conflict(format!(
            "`{id}` is a built-in provider and cannot be deleted"
        )));
    }
    app.store
        .call(move |conn, _| store::providers::delete(conn, &id))
        .await?;
    app.reload().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
