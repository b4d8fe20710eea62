//! `GET /api/quota`: each connection's quota windows, what is used, and when each resets.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::Admin;
use crate::api::App;
use crate::store::now_ms;

pub async fn quota(_: Admin, State(app): State<App>) -> Response {
    let snapshot = app.snapshot.load();
    Json(app.routing.quota_report(&snapshot, now_ms())).into_response()
}
