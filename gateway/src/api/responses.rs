//! The OpenAI Responses endpoint (`POST /v1/responses`): passed through to Responses upstreams, translated through the IR for the others.

use axum::extract::{Request, State};
use axum::response::Response;

use super::App;
use super::serve::serve_model_in_body;
use crate::providers::WireFormat;

/// `POST /v1/responses`, streaming or not. Errors answer in OpenAI's format.
pub async fn responses(State(app): State<App>, request: Request) -> Response {
    serve_model_in_body(app, request, WireFormat::Responses).await
}
