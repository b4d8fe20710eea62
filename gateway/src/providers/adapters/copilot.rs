//! GitHub Copilot's per-model API: each model lists the endpoints it serves (`supported_endpoints` in `/models`), and models that only speak the Responses API are sent there, their answers turned back into Chat Completions.

use serde_json::Value;

use super::super::catalog::redirect_url;
use super::super::oauth::TokenSet;

/// `TokenSet::extra` key: the comma-separated models that need `/responses`.
pub const RESPONSES_MODELS: &str = "copilot_responses_models";

/// Reads the models Copilot serves only through `/responses` from a
/// `/models` answer (a model without `supported_endpoints` serves chat).
pub fn responses_only(models: &Value) -> Vec<String> {
    models
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| {
            let endpoints: Vec<&str> = m
                .get("supported_endpoints")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            !endpoints.is_empty()
                && endpoints.contains(&"/responses")
                && !endpoints.contains(&"/chat/completions")
        })
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// Whether `model` must go to `/responses` for this account.
pub fn needs_responses(tokens: &TokenSet, model: &str) -> bool {
    tokens
        .extra
        .get(RESPONSES_MODELS)
        .is_some_and(|list| list.split(',').any(|m| m == model))
}

/// Learns which models need `/responses`, once per sign-in. A failure
/// leaves every model on chat, which is what most of them speak.
pub async fn learn_models(
    http: &reqwest::Client,
    origin: Option<&str>,
    provider_headers: &std::collections::BTreeMap<String, String>,
    mut tokens: TokenSet,
) -> TokenSet {
    let base = tokens
        .api_base
        .clone()
        .unwrap_or_else(|| "https://api.githubcopilot.com".into());
    let base = match origin {
        Some(origin) => redirect_url(origin, &base),
        None => base,
    };
    let mut request = http
        .get(format!("{}/models", base.trim_end_matches('/')))
        .bearer_auth(&tokens.access_token)
        .timeout(std::time::Duration::from_secs(20));
    for (name, value) in provider_headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let models = match request.send().await {
        Ok(r) if r.status().is_success() => r.text().await.ok(),
        Ok(r) => {
            tracing::warn!(
                status = r.status().as_u16(),
                "Copilot /models refused; every model goes to chat"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "Copilot /models unreachable; every model goes to chat");
            None
        }
    };
    if let Some(list) = models
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .map(|v| responses_only(&v))
    {
        tokens.extra.insert(RESPONSES_MODELS.into(), list.join(","));
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_models_without_chat_go_to_responses() {
        let models = json!({"data": [
            {"id": "gpt-4.1", "supported_endpoints": ["/chat/completions", "/responses"]},
            {"id": "gpt-5.4", "supported_endpoints": ["/responses"]},
            {"id": "claude-sonnet-4.5"},
        ]});
        assert_eq!(responses_only(&models), vec!["gpt-5.4"]);
        let mut tokens = TokenSet::from_json(r#"{"access_token":"t","obtained_at_ms":0}"#).unwrap();
        tokens
            .extra
            .insert(RESPONSES_MODELS.into(), "gpt-5.4,mai-code-1".into());
        assert!(needs_responses(&tokens, "gpt-5.4"));
        assert!(!needs_responses(&tokens, "gpt-5"));
    }
}
