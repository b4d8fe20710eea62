//! OpenAI Chat Completions wire types the gateway reads: token usage.

use serde_json::Value;

use crate::translate::sanitize::last_usage_object;

/// Token counts of one response, in OpenAI's sense: cached tokens are part
/// of the input, reasoning tokens part of the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
    pub reasoning: u64,
}

fn number(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_u64()
}

impl TokenUsage {
    /// Reads `usage` from a response or chunk object; Groq's older streams
    /// carry it in `x_groq.usage`.
    pub fn from_response(obj: &Value) -> Option<TokenUsage> {
        obj.get("usage")
            .filter(|u| u.is_object())
            .or_else(|| {
                obj.get("x_groq")
                    .and_then(|g| g.get("usage"))
                    .filter(|u| u.is_object())
            })
            .map(TokenUsage::from_usage)
    }

    /// Reads a `usage` object itself.
    pub fn from_usage(usage: &Value) -> TokenUsage {
        TokenUsage {
            input: number(usage, &["prompt_tokens"]).unwrap_or(0),
            output: number(usage, &["completion_tokens"]).unwrap_or(0),
            cached: number(usage, &["prompt_tokens_details", "cached_tokens"])
                .or_else(|| number(usage, &["prompt_cache_hit_tokens"]))
                .unwrap_or(0),
            reasoning: number(usage, &["completion_tokens_details", "reasoning_tokens"])
                .unwrap_or(0),
        }
    }

    /// Usage of a whole JSON response body, parsing only its usage object.
    pub fn from_json_bytes(body: &[u8]) -> Option<TokenUsage> {
        last_usage_object(body).map(|usage| TokenUsage::from_usage(&usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_openai_deepseek_and_groq_shapes() {
        let openai = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2}}});
        assert_eq!(
            TokenUsage::from_response(&openai),
            Some(TokenUsage {
                input: 10,
                output: 5,
                cached: 4,
                reasoning: 2
            })
        );
        let deepseek = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 1, "prompt_cache_hit_tokens": 8}});
        assert_eq!(TokenUsage::from_response(&deepseek).unwrap().cached, 8);
        let groq =
            json!({"x_groq": {"id": "r", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}});
        assert_eq!(TokenUsage::from_response(&groq).unwrap().input, 3);
        assert_eq!(TokenUsage::from_response(&json!({"usage": null})), None);
    }

    #[test]
    fn usage_of_a_raw_body_skips_content_and_nulls() {
        let body = br#"{"choices":[{"message":{"content":"say \"usage\": {\"prompt_tokens\": 99}"}}],"usage":{"prompt_tokens":7,"completion_tokens":3},"system_fingerprint":"fp"}"#;
        assert_eq!(
            TokenUsage::from_json_bytes(body).map(|u| (u.input, u.output)),
            Some((7, 3))
        );
        let first = br#"{"usage": {"prompt_tokens":2,"completion_tokens":1}, "choices":[{"message":{"content":"\"usage\": {}"}}]}"#;
        assert_eq!(TokenUsage::from_json_bytes(first).map(|u| u.input), Some(2));
        assert_eq!(TokenUsage::from_json_bytes(br#"{"usage":null}"#), None);
    }
}
