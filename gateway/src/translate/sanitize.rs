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

/// What a raw JSON payload may hold, found in one pass over its quotes so
/// that payloads with nothing to do are never parsed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// A key from [`NONSTANDARD_FIELDS`] appears.
    pub vendor_fields: bool,
    /// A `"usage"` key whose value is an object (not `null`) appears.
    pub usage_object: bool,
}

/// Skips JSON white space.
pub fn skip_ws(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(raw.len());
    &raw[start..]
}

/// The value after `"key"` when it is followed by `:` (so it is a key).
pub fn value_after_key(after_key: &[u8]) -> Option<&[u8]> {
    skip_ws(after_key).strip_prefix(b":").map(skip_ws)
}

/// The last `"usage"` key's object in a JSON body, parsed alone so the
/// rest of the body is never built. A quote inside a string is escaped, so
/// `\"usage\"` in content is skipped.
pub fn last_usage_object(body: &[u8]) -> Option<Value> {
    for pos in memchr::memmem::rfind_iter(body, b"\"usage\"") {
        if pos > 0 && body[pos - 1] == b'\\' {
            continue;
        }
        let Some(value) = value_after_key(&body[pos + 7..]) else {
            continue;
        };
        if value.first() != Some(&b'{') {
            continue;
        }
        let mut values = serde_json::Deserializer::from_slice(value).into_iter::<Value>();
        if let Some(Ok(usage)) = values.next() {
            return Some(usage);
        }
    }
    None
}

pub fn scan(raw: &[u8]) -> Scan {
    let mut found = Scan::default();
    for quote in memchr::memchr_iter(b'"', raw) {
        let rest = &raw[quote + 1..];
        if let Some(after) = rest.strip_prefix(b"usage\"") {
            if value_after_key(after).is_some_and(|v| v.first() == Some(&b'{')) {
                found.usage_object = true;
            }
            continue;
        }
        let vendor = NONSTANDARD_FIELDS.iter().any(|field| {
            rest.strip_prefix(field.as_bytes())
                .is_some_and(|after| after.first() == Some(&b'"'))
        });
        found.vendor_fields |= vendor;
    }
    found
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
    fn scan_finds_vendor_keys_and_usage_objects_only() {
        assert!(scan(br#"{"x_groq":{}}"#).vendor_fields);
        assert!(!scan(br#"{"content":"about x_groq"}"#).vendor_fields);
        assert!(!scan(br#"{"usage":null,"choices":[]}"#).usage_object);
        assert!(scan(br#"{"usage" : {"prompt_tokens":1}}"#).usage_object);
        assert!(!scan(br#"{"type":"usage","x":{}}"#).usage_object);
        assert_eq!(scan(b"[DONE]"), Scan::default());
    }
}
