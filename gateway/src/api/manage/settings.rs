//! `/api/settings`: typed runtime settings, validated whole before anything is written.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::{Admin, json_body};
use crate::api::App;
use crate::error::ApiError;
use crate::store;

pub async fn get_all(_: Admin, State(app): State<App>) -> Response {
    Json(&app.snapshot.load().settings).into_response()
}

/// Applies a partial object of settings; unknown names and bad values are
/// refused whole, and nothing is written.
pub async fn update(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let patch: Map<String, Value> = json_body(body).await?;
    if patch.get("require_api_key") == Some(&Value::Bool(false)) && !app.listen.ip().is_loopback() {
        return Err(ApiError::conflict(format!(
            "The gateway listens on {}, which is not loopback: API keys must stay required.",
            app.listen.ip()
        )));
    }
    let next = app
        .snapshot
        .load()
        .settings
        .with_patch(&patch)
        .map_err(ApiError::bad_request)?;
    app.store
        .call(move |conn, secrets| store::settings::save(conn, secrets, &patch))
        .await?;
    app.reload().await?;
    Ok(Json(next).into_response())
}
