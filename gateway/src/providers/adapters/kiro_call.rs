//! Kiro's call: the prepared body re-encoded as a `conversationState` with its stable conversation id, the answer read back from the AWS event stream, and the account named after sign-in from its usage limits.

use bytes::Bytes;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::Value;

use super::{Outgoing, Reshape, header, kiro, provider_headers, request_id, uuid_form};
use crate::providers::ProviderDef;
use crate::providers::oauth::TokenSet;
use crate::snapshot::Account;
use crate::translate::codec;

/// Kiro's call: the prepared body (in the declared format) decoded to IR
/// and re-encoded as a `conversationState`, its answer re-encoded from the
/// AWS event stream into the declared format.
///
/// Builder ID accounts have no profile ARN (docs/oauth §1.6), so the body
/// names none and the API is the catalog's `q.us-east-1` host, the region
/// an ARN would otherwise choose.
pub(super) fn outgoing(
    provider: &ProviderDef,
    account: &Account,
    tokens: &TokenSet,
    body: &[u8],
) -> Result<Outgoing, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the request body is not JSON: {e}"))?;
    let request = codec::decode_request(provider.format, &value)
        .map_err(|e| format!("the request cannot be read for Kiro: {e}"))?;
    let body = kiro::encode_request(&request, None, &conversation_id(account.id, &request));
    let base = account.base_url.trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}/generateAssistantResponse"))
        .map_err(|e| format!("bad API base {base}: {e}"))?;
    let mut headers = provider_headers(provider, tokens)?;
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    headers.insert("amz-sdk-invocation-id", header(&request_id())?);
    headers.insert(
        "amz-sdk-request",
        HeaderValue::from_static("attempt=1; max=3"),
    );
    let context = provider
        .model(&request.model)
        .and_then(|m| m.context)
        .unwrap_or(kiro::DEFAULT_CONTEXT_WINDOW);
    let response_id = format!("msg_{}", request_id().replace('-', ""));
    let decoder = kiro::EventStreamDecoder::new(response_id, request.model.clone())
        .with_context_window(context);
    Ok(Outgoing {
        url,
        headers,
        body: Bytes::from(body.to_string()),
        // Kiro always answers with an event stream; a whole answer is built
        // from it by the reshape, not by collecting SSE.
        force_stream: false,
        reshape: Some(Reshape::kiro(provider.format, decoder)),
    })
}

/// Kiro's `conversationId`, the same for every turn of one conversation
/// of one account: a UUID-shaped digest of the account and the messages up
/// to the first user turn, which a growing conversation keeps.
fn conversation_id(account_id: i64, request: &crate::translate::ir::Request) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(account_id.to_le_bytes());
    for message in &request.messages {
        digest.update(serde_json::to_vec(message).unwrap_or_default());
        if message.role == crate::translate::ir::Role::User {
            break;
        }
    }
    uuid_form(&hex::encode(digest.finalize()))
}

/// Names a Kiro account after sign-in: its email and plan, from the usage
/// limits Kiro's IDE reads (`isEmailRequired` asks for the email). Without
/// a profile ARN the resource type is left out (kiro.rs does the same).
pub(super) async fn name_account(
    provider: &ProviderDef,
    http: &reqwest::Client,
    mut tokens: TokenSet,
) -> Result<TokenSet, String> {
    let base = provider.base_url.trim_end_matches('/');
    let url = format!("{base}/getUsageLimits?origin=AI_EDITOR&isEmailRequired=true");
    let headers = provider_headers(provider, &tokens)?;
    let answer = http
        .get(&url)
        .headers(headers)
        .header(ACCEPT, "application/json")
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await;
    let response = match answer {
        Ok(response) => response,
        // The email is only a label: an account Kiro could not describe
        // still serves.
        Err(e) => {
            tracing::warn!(error = %e, "Kiro usage limits unreachable after sign-in");
            return Ok(tokens);
        }
    };
    let status = response.status().as_u16();
    let body: Value = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    match status {
        200 => {
            let text = |pointer: &str| {
                body.pointer(pointer)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            tokens.email = text("/userInfo/email").or(tokens.email);
            tokens.plan = text("/subscriptionInfo/subscriptionTitle").or(tokens.plan);
            Ok(tokens)
        }
        // Kiro refuses suspended accounts with 403: such an account cannot
        // serve, so the sign-in says so now rather than on every request.
        401 | 403 => Err(format!(
            "Kiro refused this account ({status}): {}",
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )),
        _ => {
            tracing::warn!(status, "Kiro usage limits failed after sign-in");
            Ok(tokens)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kiro_conversation_keeps_its_id_as_it_grows_and_accounts_do_not_share_it() {
        use crate::translate::ir::{Message, Part, Request, Role};
        let message = |role, text: &str| Message {
            role,
            parts: vec![Part::text(text)],
        };
        let mut request = Request {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                message(Role::System, "Be brief."),
                message(Role::User, "hi"),
            ],
            tools: Vec::new(),
            tool_choice: None,
            max_tokens: None,
            temperature: None,
            top_p: None,
            stop: Vec::new(),
            stream: false,
            reasoning_budget: None,
            reasoning_effort: None,
            response_format: None,
        };
        let first = conversation_id(1, &request);
        request.messages.push(message(Role::Assistant, "Hello."));
        request.messages.push(message(Role::User, "again"));
        assert_eq!(conversation_id(1, &request), first);
        assert_ne!(conversation_id(2, &request), first);
        assert_eq!(first.len(), 36);
    }
}
