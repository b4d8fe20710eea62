//! The Gemini endpoints (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens`, and the model list): passed through to Gemini upstreams, translated through the IR for the others.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::serve::{Incoming, Shape, serve};
use super::v1::{Reply, conclude, pending_record, route_for, usable_models};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::usage::PendingRecord;
use crate::providers::WireFormat;
use crate::snapshot::{KeyGrant, Snapshot};

/// What the path asks of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Generate,
    StreamGenerate,
    CountTokens,
}

/// Splits `anthropic/claude-sonnet-4-5:streamGenerateContent` (a `models/`
/// prefix allowed) into the model and the method.
fn parse_target(target: &str) -> Result<(&str, Method), ApiError> {
    let target = target.strip_prefix("models/").unwrap_or(target);
    let Some((model, method)) = target.rsplit_once(':') else {
        return Err(ApiError::not_found(format!(
            "`{target}` names no method; call `{target}:generateContent` or `{target}:streamGenerateContent`."
        )));
    };
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::StreamGenerate,
        "countTokens" => Method::CountTokens,
        other => {
            return Err(ApiError::not_found(format!(
                "Unknown method `{other}`: OmniRoute serves generateContent, streamGenerateContent and countTokens."
            )));
        }
    };
    if model.is_empty() {
        return Err(ApiError::bad_request("The model name is empty."));
    }
    Ok((model, method))
}

/// `POST /v1beta/models/{model}:{method}` (and `/v1/models/...`, the
/// google-genai SDK's default). Errors answer in Gemini's format.
pub async fn call_model(
    State(app): State<App>,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate_gemini(&snapshot, &parts.headers, &parts.uri) {
        Ok(grant) => grant,
        Err(e) => return e.into_gemini_response(),
    };
    let (model, method) = match parse_target(&target) {
        Ok(parsed) => parsed,
        Err(e) => return e.into_gemini_response(),
    };
    let limit = snapshot.settings.body_limit(parts.uri.path());
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(e) => return e.into_gemini_response(),
    };
    if method == Method::CountTokens {
        return count_tokens(&snapshot, grant.as_deref(), model, &body)
            .unwrap_or_else(ApiError::into_gemini_response);
    }
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), WireFormat::Gemini, started);
    let stream = method == Method::StreamGenerate;
    let result = generate(
        &app,
        &snapshot,
        grant.as_deref(),
        model,
        stream,
        body,
        &mut pending,
        started,
    )
    .await;
    conclude(result, pending, started, WireFormat::Gemini).await
}

#[allow(clippy::too_many_arguments)]
async fn generate(
    app: &App,
    snapshot: &Arc<Snapshot>,
    grant: Option<&KeyGrant>,
    model: &str,
    stream: bool,
    body: Bytes,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    let incoming = Incoming {
        format: WireFormat::Gemini,
        model: model.to_string(),
        stream,
        include_usage: false,
        body: &body,
        shape: Shape::ModelInPath,
    };
    serve(app, snapshot, grant, incoming, pending, started).await
}

/// `:countTokens`: an estimate of about four bytes of JSON per token, the
/// same rule as Anthropic's count for non-Anthropic upstreams.
fn count_tokens(
    snapshot: &Snapshot,
    grant: Option<&KeyGrant>,
    model: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    route_for(snapshot, grant, model)?;
    let value: serde_json::Value = serde_json::from_slice(body).map_err(ApiError::invalid_json)?;
    let counted = ["contents", "systemInstruction", "tools"]
        .iter()
        .filter_map(|key| value.get(*key))
        .map(|v| v.to_string().len())
        .sum::<usize>();
    Ok(axum::Json(json!({"totalTokens": counted.div_ceil(4)})).into_response())
}

/// `GET /v1beta/models`: every usable model, in Gemini's list shape, named
/// `models/{prefix}/{model}` so any of them can be called from a Gemini client.
pub async fn list_models(State(app): State<App>, request: Request) -> Response {
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate_gemini(&snapshot, request.headers(), request.uri()) {
        Ok(grant) => grant,
        Err(e) => return e.into_gemini_response(),
    };
    let models: Vec<serde_json::Value> = usable_models(&snapshot)
        .filter(|(_, id)| grant.as_ref().is_none_or(|g| g.allows(&[id])))
        .map(|(owner, id)| model_object(&owner, &id))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

/// `GET /v1beta/models/{model}`.
pub async fn get_model(
    State(app): State<App>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate_gemini(&snapshot, request.headers(), request.uri()) {
        Ok(grant) => grant,
        Err(e) => return e.into_gemini_response(),
    };
    let wanted = name.strip_prefix("models/").unwrap_or(&name);
    let found = usable_models(&snapshot)
        .filter(|(_, id)| grant.as_ref().is_none_or(|g| g.allows(&[id])))
        .find(|(_, id)| id == wanted);
    match found {
        Some((owner, id)) => axum::Json(model_object(&owner, &id)).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("models/{wanted} is not found. GET /v1beta/models lists the models OmniRoute serves."),
        )
        .into_gemini_response(),
    }
}

fn model_object(owner: &str, id: &str) -> serde_json::Value {
    json!({
        "name": format!("models/{id}"),
        "displayName": id,
        "description": format!("Served by {owner} through OmniRoute"),
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_at_the_last_colon() {
        assert_eq!(
            parse_target("anthropic/claude-sonnet-4-5:streamGenerateContent").unwrap(),
            ("anthropic/claude-sonnet-4-5", Method::StreamGenerate)
        );
        assert_eq!(
            parse_target("models/gemini-2.5-flash:generateContent").unwrap(),
            ("gemini-2.5-flash", Method::Generate)
        );
        assert_eq!(
            parse_target("ollama/gpt-oss:20b:countTokens").unwrap(),
            ("ollama/gpt-oss:20b", Method::CountTokens)
        );
        assert!(parse_target("gemini-2.5-flash").is_err());
        assert!(parse_target("gemini-2.5-flash:embedContent").is_err());
        assert!(parse_target(":generateContent").is_err());
    }
}
