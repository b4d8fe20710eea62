//! Strips vendor fields that strict OpenAI SDKs reject from responses and stream chunks.

use serde_json::Value;

/// Top-level (and `usage`-level) fields that are not part of the OpenAI
/// Chat Completions schema but that some upstreams add.
pub const NONSTANDARD_FIELDS: &[&str] = &[
    "x_groq",
    "usage_breakdown",
    "service_tier",
    "prompt_logprobs",
    "kv_transfer_params",
    "nvext",
];

/// Cheap pre-check on raw bytes: could this payload hold a field to strip?
pub fn may_need_stripping(raw: &[u8]) -> bool {
    NONSTANDARD_FIELDS
        .iter()
        .any(|f| contains_quoted(raw, f.as_bytes()))
}

/// True when `raw` contains `"needle"`.
pub fn contains_quoted(raw: &[u8], needle: &[u8]) -> bool {
    raw.windows(needle.len() + 2)
        .any(|w| w[0] == b'"' && w[w.len() - 1] == b'"' && &w[1..w.len() - 1] == needle)
}

/// Removes the non-standard fields; returns whether anything was removed.
pub fn strip_nonstandard(value: &mut Value) -> bool {
    let Some(obj) = value.as_object_mut() else {
        return false;
    };
    let mut changed = false;
    for field in NONSTANDARD_FIELDS {
        changed |= obj.shift_remove(*field).is_some();
    }
    if let Some(usage) = obj.get_mut("usage").and_then(Value::as_object_mut) {
        for field in NONSTANDARD_FIELDS {
            changed |= usage.shift_remove(*field).is_some();
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_vendor_fields_and_keeps_the_rest_in_order() {
        let mut v = json!({"id": "x", "x_groq": {"id": "r"}, "service_tier": "on_demand",
            "choices": [], "usage": {"prompt_tokens": 1, "usage_breakdown": {}}});
        assert!(strip_nonstandard(&mut v));
        assert_eq!(
            v.to_string(),
            r#"{"id":"x","choices":[],"usage":{"prompt_tokens":1}}"#
        );
        assert!(!strip_nonstandard(&mut v));
    }

    #[test]
    fn precheck_matches_quoted_keys_only() {
        assert!(may_need_stripping(br#"{"x_groq":{}}"#));
        assert!(!may_need_stripping(br#"{"content":"about x_groq"}"#));
        assert!(contains_quoted(br#"{"usage":null}"#, b"usage"));
    }
}
