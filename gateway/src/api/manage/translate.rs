//! `POST /api/translate`: one request or response body converted between wire formats, as the gateway would (the dashboard's translator playground).

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{Admin, json_body};
use crate::error::ApiError;
use crate::providers::WireFormat;
use crate::translate::codec;
use crate::translate::normalize::{drop_signatures, split_think};

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Request,
    Response,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslateBody {
    from: WireFormat,
    to: WireFormat,
    kind: Kind,
    body: Value,
    /// The model of a Gemini request, whose body does not name it.
    #[serde(default)]
    model: Option<String>,
}

pub async fn translate(_: Admin, body: Body) -> Result<Response, ApiError> {
    let asked: TranslateBody = json_body(body).await?;
    let translated = match asked.kind {
        Kind::Request => {
            let mut request = codec::decode_request(asked.from, &asked.body).map_err(|e| {
                ApiError::bad_request(format!("Not a valid {} request: {e}", asked.from.as_str()))
            })?;
            if let Some(model) = asked.model {
                request.model = model;
            }
            if asked.from != asked.to {
                drop_signatures(&mut request);
            }
            codec::encode_request(asked.to, &request)
        }
        Kind::Response => {
            let mut response = codec::decode_response(asked.from, &asked.body).map_err(|e| {
                ApiError::bad_request(format!("Not a valid {} response: {e}", asked.from.as_str()))
            })?;
            if asked.from == WireFormat::Openai {
                split_think(&mut response.parts);
            }
            codec::encode_response(asked.to, &response)
        }
    };
    Ok(Json(translated).into_response())
}
