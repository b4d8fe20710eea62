//! `/api/cli-tools`: which coding tools are installed on the gateway's machine and whether they point at this gateway; and for each tool OmniRoute can set up, a preview of the change (diffs), applying it, and restoring the user's files.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, json_body};
use crate::api::App;
use crate::clitools::setup::{self, Places, Target, ToolSetup};
use crate::clitools::write::WriteError;
use crate::clitools::{self, DetectEnv, tools};
use crate::error::ApiError;
use crate::store::api_keys;

/// Detection runs on every call (a few `stat`s and at most one short
/// `--version` per tool, all at once): installs change while the gateway runs.
pub async fn list(_: Admin, State(app): State<App>) -> Response {
    let tools = clitools::detect_all(DetectEnv::from_process(), app.listen).await;
    Json(json!({"data": tools})).into_response()
}

/// What to point the tool at.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    /// The default model or combo.
    model: String,
    /// More models for tools that list several.
    #[serde(default)]
    extra_models: Vec<String>,
    /// A gateway API key. Without one, applying creates a key named after
    /// the tool (shown in the response once); a preview shows a placeholder.
    #[serde(default)]
    key: Option<String>,
    /// The gateway's address as the tool reaches it [default: where it listens].
    #[serde(default)]
    url: Option<String>,
}

/// The key placeholder a preview shows when applying would create a key.
const NEW_KEY_PLACEHOLDER: &str = "<a new key, created when you apply>";

fn tool(id: &str) -> Result<&'static dyn ToolSetup, ApiError> {
    tools::by_id(id).ok_or_else(|| {
        let ids: Vec<&str> = tools::ALL.iter().map(|t| t.id()).collect();
        ApiError::not_found(format!(
            "No setup for a tool named {id:?}; these can be set up: {}",
            ids.join(", ")
        ))
    })
}

fn places() -> Result<Places, ApiError> {
    DetectEnv::from_process()
        .places()
        .ok_or_else(|| ApiError::internal("The gateway's user has no home directory"))
}

fn target(app: &App, body: &SetupBody, key: &str) -> Result<Target, ApiError> {
    let url = body
        .url
        .clone()
        .unwrap_or_else(|| clitools::gateway_url(app.listen));
    Target::new(&url, key, &body.model, body.extra_models.clone())
        .map_err(|e| ApiError::bad_request(format!("Cannot set up the tool: {e}")))
}

/// Runs file work off the async runtime; a file error becomes the caller's.
async fn on_files<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WriteError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(write_error)
}

fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Unparsable { .. } => ApiError::conflict(e.to_string()),
        WriteError::Io { .. } => ApiError::internal(e.to_string()),
    }
}

/// The change `apply` would make, as one diff per file; nothing is written.
pub async fn preview(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let tool = tool(&id)?;
    let body: SetupBody = json_body(body).await?;
    let key = body
        .key
        .clone()
        .unwrap_or_else(|| NEW_KEY_PLACEHOLDER.to_owned());
    let target = target(&app, &body, &key)?;
    let places = places()?;
    let files = on_files(move || setup::preview(tool, &places, &target)).await?;
    Ok(Json(json!({"tool": id, "files": files, "next_step": tool.next_step()})).into_response())
}

/// Points the tool at the gateway, keeping a backup of every file it changes.
pub async fn apply(
    _: Admin,
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let tool = tool(&id)?;
    let body: SetupBody = json_body(body).await?;
    let places = places()?;
    // Check the request and every file before a key is created for it.
    let checked = target(&app, &body, NEW_KEY_PLACEHOLDER)?;
    let plan_places = places.clone();
    on_files(move || tool.plan(&plan_places, &checked)).await?;
    let (key, created) = match body.key.clone() {
        Some(key) => (key, None),
        None => {
            let name = format!("{} (set up by OmniRoute)", tool.id());
            let (row, key) = app
                .store
                .call(move |conn, _| api_keys::create(conn, &name, &["*".to_string()]))
                .await?;
            app.reload().await?;
            (key, Some(row))
        }
    };
    let target = target(&app, &body, &key)?;
    let files = on_files(move || setup::apply(tool, &places, &target)).await?;
    let mut answer = json!({"tool": id, "files": files, "next_step": tool.next_step()});
    if let Some(row) = created {
        answer["created_key"] = serde_json::to_value(&row).unwrap_or_default();
        answer["created_key"]["key"] = json!(key);
    }
    Ok(Json(answer).into_response())
}

/// Puts back every file of the tool as it was before OmniRoute's first change.
pub async fn restore(_: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let tool = tool(&id)?;
    let places = places()?;
    let files = on_files(move || setup::restore_all(tool, &places)).await?;
    let files: Vec<_> = files
        .into_iter()
        .map(|(path, outcome)| json!({"path": path, "outcome": outcome}))
        .collect();
    Ok(Json(json!({"tool": id, "files": files})).into_response())
}
