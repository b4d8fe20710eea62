//! `GET /api/cli-tools`: which coding tools are installed on the gateway's machine, their versions, and whether their config points at this gateway.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Admin;
use crate::api::App;
use crate::clitools::{self, DetectEnv};

/// Detection runs on every call (a few `stat`s and at most one short
/// `--version` per tool, all at once): installs change while the gateway runs.
pub async fn list(_: Admin, State(app): State<App>) -> Response {
    let tools = clitools::detect_all(DetectEnv::from_process(), app.listen).await;
    Json(json!({"data": tools})).into_response()
}
