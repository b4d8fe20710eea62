//! Serving one data-plane request: plan the candidates, let the fallback loop find one that answers, and relay its answer in the caller's format (bytes forwarded when the formats match, translated through the IR when not).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::relay::SseRelay;
use super::request::{ChatRequest, RawObject};
use super::translating_relay::TranslatingRelay;
use super::v1::{Reply, clean_completion, conclude, pending_record, sse_reply};
use super::{App, auth, read_body};
use crate::error::ApiError;
use crate::observe::bodies::LoggedBody;
use crate::observe::usage::PendingRecord;
use crate::providers::{Quirk, WireFormat};
use crate::routing::fallback::{self, Answer, AnswerBody, Attempts, Outcome, Refusal};
use crate::routing::plan::{Candidate, Plan, PlanError, plan};
use crate::routing::resolve::ResolveError;
use crate::snapshot::{KeyGrant, Snapshot};
use crate::translate::codec::{self, StreamEncoder};
use crate::translate::normalize::{fit_request, split_think};
use crate::translate::{ir, shaping};

/// A data-plane request, read and checked, in the caller's format.
pub(super) struct Incoming<'a> {
    pub format: WireFormat,
    pub model: String,
    pub stream: bool,
    /// An OpenAI Chat caller asked for the usage chunk (`stream_options`).
    pub include_usage: bool,
    /// The caller's body as it arrived.
    pub body: &'a Bytes,
    pub shape: Shape<'a>,
}

/// Where the model is named, which says how a same-format body is made.
pub(super) enum Shape<'a> {
    /// OpenAI Chat: `model` rewritten, usage asked for, role quirks applied.
    Chat(ChatRequest<'a>),
    /// Anthropic Messages and Responses: only `model` rewritten.
    ModelInBody(RawObject<'a>),
    /// Gemini: the model is in the URL; the body goes on untouched.
    ModelInPath,
}

/// An endpoint whose body names the model and whether to stream (Anthropic
/// Messages, Responses). Errors answer in the caller's format.
pub(super) async fn serve_model_in_body(
    app: App,
    request: axum::extract::Request,
    inbound: WireFormat,
) -> Response {
    // Taken apart rather than extracted, so the headers are borrowed, not cloned.
    let (parts, body) = request.into_parts();
    let snapshot = app.snapshot.load_full();
    let grant = match auth::authenticate(&snapshot, &parts.headers) {
        Ok(grant) => grant,
        Err(e) => return e.into_format_response(inbound),
    };
    let started = Instant::now();
    let mut pending = pending_record(&app, grant.as_deref(), inbound, started);
    let result = async {
        let body = read_body(body, snapshot.settings.body_limit(parts.uri.path())).await?;
        let raw = RawObject::parse(&body)?;
        let model = raw
            .get("model")
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::bad_request("`model` is required").with_param("model"))?;
        let stream = raw.get("stream").is_some_and(|v| v.get().trim() == "true");
        let incoming = Incoming {
            format: inbound,
            model,
            stream,
            include_usage: false,
            body: &body,
            shape: Shape::ModelInBody(raw),
        };
        serve(
            &app,
            &snapshot,
            grant.as_deref(),
            incoming,
            &mut pending,
            started,
        )
        .await
    }
    .await;
    conclude(result, pending, started, inbound).await
}

/// Plans the request's candidates, runs the fallback loop within the
/// request deadline, and relays the answer.
pub(super) async fn serve(
    app: &App,
    snapshot: &Arc<Snapshot>,
    grant: Option<&KeyGrant>,
    incoming: Incoming<'_>,
    pending: &mut PendingRecord,
    started: Instant,
) -> Result<Reply, ApiError> {
    if app
        .routing_paused
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Routing is paused in OmniRoute: resume it from the tray menu.",
        )
        .with_code("routing_paused"));
    }
    let record = pending.record_mut();
    record.requested_model = incoming.model.clone();
    // Before any upstream is chosen; a refusal is recorded with its reason.
    if let Some(guard) = &snapshot.injection_guard {
        guard.check(incoming.body, grant.map(|g| g.name.as_str()))?;
    }
    record.stream = incoming.stream;
    let settings = &snapshot.settings;
    // Read once; when off, nothing below captures anything.
    let log_bodies = settings.log_bodies;
    if log_bodies {
        record.request_body = Some(LoggedBody::of(incoming.body));
    }
    let plan = plan(snapshot, &incoming.model, grant).map_err(plan_error)?;
    // After the permission check, so a refused model uses up nothing.
    if let Some(grant) = grant {
        app.key_meter.admit(grant, crate::store::now_ms())?;
    }

    let deadline_secs = settings.request_deadline_secs;
    let deadline = tokio::time::Instant::from_std(started) + Duration::from_secs(deadline_secs);
    let ctx = Attempts {
        upstream: &app.upstream,
        routing: &app.routing,
        snapshot,
        deadline,
        oauth: &app.oauth,
        store: &app.store,
    };
    // Decoded once, on the first candidate of another format.
    let mut decoded: Option<ir::Request> = None;
    let mut prepare =
        |candidate: &Candidate| prepare_body(&incoming, candidate, &mut decoded, snapshot);
    let outcome = tokio::time::timeout_at(
        deadline,
        fallback::run(
            &ctx,
            &plan,
            incoming.stream,
            &mut prepare,
            pending.record_mut(),
        ),
    )
    .await;
    match outcome {
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            format!("No provider answered within the request deadline of {deadline_secs} s."),
        )
        .with_code("deadline_exceeded")),
        Ok(Outcome::Failed(e)) => Err(e),
        Ok(Outcome::Refused(refusal)) => Ok(refused(&incoming, &plan, refusal, pending, started)),
        Ok(Outcome::Answered(answer)) => {
            answered(app, &incoming, &plan, answer, pending, started, log_bodies)
        }
    }
}

/// The error of a request whose model cannot be planned.
pub(super) fn plan_error(e: PlanError) -> ApiError {
    match e {
        PlanError::Resolve(ResolveError::UnknownModel(m)) => ApiError::model_not_found(&m),
        PlanError::Resolve(ResolveError::NoAccount(p)) => ApiError::no_connection(format!(
            "No usable connection for provider `{p}`: add one with an API key or sign in (dashboard, /api/connections, /api/oauth/{p}/start or the config file)."
        )),
        PlanError::Resolve(ResolveError::Discontinued(why)) => {
            ApiError::new(StatusCode::GONE, "invalid_request_error", why)
                .with_code("provider_discontinued")
                .with_param("model")
        }
        PlanError::NotAllowed(model) => ApiError::forbidden(format!(
            "This API key may not use the model `{model}`."
        ))
        .with_code("model_not_allowed"),
        PlanError::ComboDisabled(name) => ApiError::bad_request(format!(
            "The combo `{name}` is disabled; enable it in the dashboard or with PATCH /api/combos/{name}."
        ))
        .with_code("combo_disabled")
        .with_param("model"),
        e @ PlanError::NothingUsable { .. } => {
            ApiError::no_connection(format!("{e}.")).with_code("no_usable_candidate")
        }
    }
}

/// The body for one candidate, in its provider's format.
fn prepare_body(
    incoming: &Incoming<'_>,
    candidate: &Candidate,
    decoded: &mut Option<ir::Request>,
    snapshot: &Snapshot,
) -> Result<Bytes, ApiError> {
    let provider = &candidate.provider;
    let settings = &snapshot.settings;
    let shape = shaping::needs_shaping(settings);
    if provider.format == incoming.format {
        let body = match &incoming.shape {
            Shape::Chat(request) => {
                let ask_usage = request.stream && !provider.has_quirk(Quirk::NoStreamOptions);
                let mut renames: Vec<(&str, &str)> = Vec::new();
                if provider.has_quirk(Quirk::DeveloperAsSystem) {
                    renames.push(("developer", "system"));
                }
                if provider.has_quirk(Quirk::SystemAsUser) {
                    renames.push(("system", "user"));
                    renames.push(("developer", "user"));
                }
                Bytes::from(request.upstream_body(&candidate.upstream_model, ask_usage, &renames))
            }
            Shape::ModelInBody(raw) => Bytes::from(raw.with_model(&candidate.upstream_model)),
            Shape::ModelInPath => incoming.body.clone(),
        };
        if !shape {
            return Ok(body);
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&body).map_err(ApiError::invalid_json)?;
        apply_shaping(&mut value, candidate, incoming.body.len(), snapshot);
        return Ok(Bytes::from(value.to_string()));
    }

    let mut request = match decoded {
        Some(request) => request.clone(),
        None => {
            let value: serde_json::Value =
                serde_json::from_slice(incoming.body).map_err(ApiError::invalid_json)?;
            let mut request = codec::decode_request(incoming.format, &value)
                .map_err(|e| ApiError::bad_request(e.0))?;
            if incoming.format == WireFormat::Gemini {
                // Gemini names the model and the method in the URL.
                request.model = incoming.model.clone();
                request.stream = incoming.stream;
            }
            decoded.insert(request).clone()
        }
    };
    request.model = candidate.upstream_model.clone();
    let model = provider.model(&candidate.upstream_model);
    fit_request(&mut request, incoming.format, provider, model);
    let mut body = codec::encode_request(provider.format, &request);
    if let Some(fields) = body.as_object_mut() {
        if provider.has_quirk(Quirk::NoStreamOptions) {
            fields.remove("stream_options");
        }
        if provider.has_quirk(Quirk::MaxCompletionTokens)
            && let Some(n) = fields.remove("max_tokens")
        {
            fields.insert("max_completion_tokens".into(), n);
        }
    }
    if shape {
        apply_shaping(&mut body, candidate, incoming.body.len(), snapshot);
    }
    Ok(Bytes::from(body.to_string()))
}

/// The gateway-wide system prompt and thinking mode.
fn apply_shaping(
    body: &mut serde_json::Value,
    candidate: &Candidate,
    request_bytes: usize,
    snapshot: &Snapshot,
) {
    let settings = &snapshot.settings;
    let format = candidate.provider.format;
    if !settings.system_prompt.is_empty() {
        shaping::inject_system_prompt(format, body, &settings.system_prompt);
    }
    shaping::apply_thinking(
        format,
        body,
        settings.thinking_mode,
        settings.thinking_budget_tokens,
        request_bytes,
        candidate.provider.model(&candidate.upstream_model),
    );
}

/// A client error that goes back unchanged: the upstream's own body when it
/// speaks the caller's format, else its message in the caller's format.
fn refused(
    incoming: &Incoming<'_>,
    plan: &Plan,
    refusal: Refusal,
    pending: &mut PendingRecord,
    started: Instant,
) -> Reply {
    let candidate = &plan.candidates[refusal.candidate];
    let record = pending.record_mut();
    record.status = refusal.status.as_u16();
    record.error = Some(refusal.message.clone());
    record.latency_ms = started.elapsed().as_millis() as u64;
    let own_format = candidate.provider.format == incoming.format
        && serde_json::from_slice::<serde_json::Value>(&refusal.body)
            .ok()
            .is_some_and(|v| v.get("error").is_some());
    if own_format {
        let mut reply = Response::new(Body::from(refusal.body));
        *reply.status_mut() = refusal.status;
        reply.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Reply::Complete(reply);
    }
    let kind = match refusal.status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "invalid_request_error",
    };
    Reply::Complete(
        ApiError::new(refusal.status, kind, refusal.message).into_format_response(incoming.format),
    )
}

/// Relays the answer of the candidate that served the request.
fn answered(
    app: &App,
    incoming: &Incoming<'_>,
    plan: &Plan,
    answer: Answer,
    pending: &mut PendingRecord,
    started: Instant,
    log_bodies: bool,
) -> Result<Reply, ApiError> {
    let candidate = &plan.candidates[answer.candidate];
    let provider = &candidate.provider;
    let same_format = provider.format == incoming.format;
    match answer.body {
        AnswerBody::Stream(upstream) => {
            let pending = PendingRecord::new(app.usage.clone(), pending.take(), started);
            let body = if same_format {
                let caller_wants_usage =
                    incoming.format != WireFormat::Openai || incoming.include_usage;
                Body::from_stream(
                    SseRelay::new(
                        upstream,
                        caller_wants_usage,
                        pending,
                        provider.clone(),
                        provider.format,
                    )
                    .log_body(log_bodies),
                )
            } else {
                Body::from_stream(
                    TranslatingRelay::new(
                        upstream,
                        StreamEncoder::new(incoming.format, incoming.include_usage),
                        pending,
                        provider.clone(),
                    )
                    .log_body(log_bodies),
                )
            };
            Ok(Reply::Streaming(sse_reply(body)))
        }
        AnswerBody::Whole { status, body } if same_format => {
            let (body, usage) = if provider.format == WireFormat::Openai {
                clean_completion(body)
            } else {
                let usage = codec::usage_of_body(provider.format, &body);
                (body, usage)
            };
            pending.complete(usage, provider, status, None);
            let mut reply = Response::new(Body::from(body));
            *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(Reply::Complete(reply))
        }
        AnswerBody::Whole { body, .. } => {
            let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                ApiError::upstream_unreachable(format!(
                    "The upstream sent a body that is not JSON: {e}"
                ))
            })?;
            drop(body);
            let mut answer = codec::decode_response(provider.format, &value)
                .map_err(|e| ApiError::upstream_unreachable(e.0))?;
            if provider.format == WireFormat::Openai {
                split_think(&mut answer.parts);
            }
            // Signatures verify only with the family that made them.
            for part in &mut answer.parts {
                if let ir::Part::Reasoning { signature, .. } = part {
                    *signature = None;
                }
            }
            pending.complete(Some(answer.usage), provider, 200, None);
            Ok(Reply::Complete(
                axum::Json(codec::encode_response(incoming.format, &answer)).into_response(),
            ))
        }
    }
}
