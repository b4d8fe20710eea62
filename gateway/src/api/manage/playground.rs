//! `POST /api/playground/chat`: the dashboard's chat tester, served by the real data plane for the signed-in user.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use tower::ServiceExt;

use super::Admin;
use crate::api::App;
use crate::api::auth::DashboardCaller;

/// Sends an OpenAI chat-completions body to `/v1/chat/completions` through
/// the gateway's own router, exactly as a coding tool would (middleware,
/// routing, fallback, translation, usage record), and answers with its reply,
/// streamed or not, untouched. The browser holds no gateway key, so the
/// request carries the [`DashboardCaller`] mark instead; only code in this
/// process can put it there.
pub async fn chat(_: Admin, State(app): State<App>, body: Body) -> Response {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static("/v1/chat/completions");
    request
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request.extensions_mut().insert(DashboardCaller);
    let answer: Result<Response, Infallible> = crate::api::router(app).oneshot(request).await;
    match answer {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
