//! Reading an inbound Chat Completions body without building a tree: top-level fields stay raw JSON.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ApiError;

/// A JSON object's top-level fields in order, values left as raw JSON.
pub struct RawObject<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> serde::Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(RawObject { fields })
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl<'a> RawObject<'a> {
    pub fn parse(body: &'a [u8]) -> Result<RawObject<'a>, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(
                ApiError::bad_request("The request body is empty; send a JSON object.")
                    .with_code("invalid_json"),
            );
        }
        serde_json::from_slice(body).map_err(ApiError::invalid_json)
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }
}

impl RawObject<'_> {
    /// The same object with `model` replaced; every other field is copied
    /// byte for byte.
    pub fn with_model(&self, model: &str) -> Vec<u8> {
        let size: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(size + model.len() + 2);
        out.push(b'{');
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, key.as_ref());
            out.push(b':');
            if key == "model" {
                let _ = serde_json::to_writer(&mut out, model);
            } else {
                out.extend_from_slice(value.get().as_bytes());
            }
        }
        out.push(b'}');
        out
    }
}

/// The fields of a chat request the gateway itself needs.
pub struct ChatRequest<'a> {
    pub raw: RawObject<'a>,
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage` as the caller sent it.
    pub include_usage: bool,
}

fn field_error(param: &'static str, message: &str) -> ApiError {
    ApiError::bad_request(message.to_string()).with_param(param)
}

impl<'a> ChatRequest<'a> {
    /// Parses and checks the fields routing depends on. The rest is the
    /// upstream's to judge, and its errors come back to the caller as they are.
    pub fn parse(body: &'a [u8]) -> Result<ChatRequest<'a>, ApiError> {
        let raw = RawObject::parse(body)?;
        let model: String = match raw.get("model") {
            None => {
                return Err(field_error(
                    "model",
                    "`model` is required (e.g. \"openai/gpt-4.1\").",
                ));
            }
            Some(v) => serde_json::from_str::<String>(v.get())
                .ok()
                .filter(|m| !m.trim().is_empty())
                .ok_or_else(|| field_error("model", "`model` must be a non-empty string."))?,
        };
        match raw.get("messages") {
            None => return Err(field_error("messages", "`messages` is required.")),
            Some(v) if !v.get().trim_start().starts_with('[') => {
                return Err(field_error("messages", "`messages` must be an array."));
            }
            Some(_) => {}
        }
        let stream = match raw.get("stream") {
            None => false,
            Some(v) => match v.get().trim() {
                "true" => true,
                "false" | "null" => false,
                _ => return Err(field_error("stream", "`stream` must be a boolean.")),
            },
        };
        let include_usage = match raw.get("stream_options") {
            None => false,
            Some(v) => {
                let options: serde_json::Value =
                    serde_json::from_str(v.get()).map_err(ApiError::invalid_json)?;
                if !(options.is_object() || options.is_null()) {
                    return Err(field_error(
                        "stream_options",
                        "`stream_options` must be an object.",
                    ));
                }
                options
                    .get("include_usage")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false)
            }
        };
        Ok(ChatRequest {
            raw,
            model,
            stream,
            include_usage,
        })
    }

    /// The body to send upstream: the same fields in the same order, with
    /// `model` replaced and, for streams, usage requested so that it can be
    /// counted. `messages` is rewritten only when a role quirk applies.
    pub fn upstream_body(
        &self,
        upstream_model: &str,
        ask_usage: bool,
        rename_roles: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.raw
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .sum::<usize>()
                + 64,
        );
        out.push(b'{');
        let mut first = true;
        let mut wrote_options = false;
        let mut push_key = |out: &mut Vec<u8>, key: &str| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
        };
        for (key, value) in &self.raw.fields {
            match key.as_ref() {
                "model" => {
                    push_key(&mut out, key);
                    let _ = serde_json::to_writer(&mut out, upstream_model);
                }
                "stream_options" if ask_usage => {
                    push_key(&mut out, key);
                    let mut options: serde_json::Value =
                        serde_json::from_str(value.get()).unwrap_or_default();
                    if !options.is_object() {
                        options = serde_json::json!({});
                    }
                    options["include_usage"] = serde_json::Value::Bool(true);
                    let _ = serde_json::to_writer(&mut out, &options);
                    wrote_options = true;
                }
                "messages" if !rename_roles.is_empty() => {
                    push_key(&mut out, key);
                    let mut messages: serde_json::Value =
                        serde_json::from_str(value.get()).unwrap_or_default();
                    for message in messages.as_array_mut().into_iter().flatten() {
                        let role = message
                            .get("role")
                            .and_then(|r| r.as_str())
                            .unwrap_or_default();
                        if let Some((_, to)) = rename_roles.iter().find(|(from, _)| *from == role) {
                            message["role"] = serde_json::Value::String(to.to_string());
                        }
                    }
                    let _ = serde_json::to_writer(&mut out, &messages);
                }
                _ => {
                    push_key(&mut out, key);
                    out.extend_from_slice(value.get().as_bytes());
                }
            }
        }
        if ask_usage && !wrote_options {
            push_key(&mut out, "stream_options");
            out.extend_from_slice(br#"{"include_usage":true}"#);
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse_err(body: &str) -> ApiError {
        match ChatRequest::parse(body.as_bytes()) {
            Err(e) => e,
            Ok(_) => panic!("{body} parsed"),
        }
    }

    #[test]
    fn rewrites_model_and_keeps_every_other_field_verbatim() {
        let body = br#"{"model":"openai/gpt-4.1","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.50,"x_custom":{"a":[1,2]}}"#;
        let req = ChatRequest::parse(body).unwrap();
        assert_eq!(req.model, "openai/gpt-4.1");
        assert!(!req.stream);
        let out = String::from_utf8(req.upstream_body("gpt-4.1", false, &[])).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.50,"x_custom":{"a":[1,2]}}"#
        );
    }

    #[test]
    fn stream_usage_is_requested_and_existing_options_kept() {
        let req = ChatRequest::parse(br#"{"model":"m","messages":[],"stream":true}"#).unwrap();
        assert!(req.stream && !req.include_usage);
        let out: Value = serde_json::from_slice(&req.upstream_body("u", true, &[])).unwrap();
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        let req = ChatRequest::parse(br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false,"x":1}}"#).unwrap();
        let out: Value = serde_json::from_slice(&req.upstream_body("u", true, &[])).unwrap();
        assert_eq!(
            out["stream_options"],
            json!({"include_usage": true, "x": 1})
        );
    }

    #[test]
    fn with_model_changes_only_the_model() {
        let body = br#"{"model":"anthropic/claude-x","system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"max_tokens":10}"#;
        let raw = RawObject::parse(body).unwrap();
        let out = String::from_utf8(raw.with_model("claude-x")).unwrap();
        assert_eq!(
            out,
            r#"{"model":"claude-x","system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"max_tokens":10}"#
        );
    }

    #[test]
    fn role_quirks_rename_roles() {
        let req = ChatRequest::parse(br#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}"#).unwrap();
        let out: Value =
            serde_json::from_slice(&req.upstream_body("u", false, &[("system", "user")])).unwrap();
        assert_eq!(out["messages"][0]["role"], "user");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        assert_eq!(parse_err("").code, Some("invalid_json"));
        assert_eq!(parse_err("{\"model\":").code, Some("invalid_json"));
        assert_eq!(parse_err("[1,2]").code, Some("invalid_json"));
        assert_eq!(parse_err(r#"{"messages":[]}"#).param, Some("model"));
        assert_eq!(
            parse_err(r#"{"model":7,"messages":[]}"#).param,
            Some("model")
        );
        assert_eq!(parse_err(r#"{"model":"m"}"#).param, Some("messages"));
        assert_eq!(
            parse_err(r#"{"model":"m","messages":"hi"}"#).param,
            Some("messages")
        );
        assert_eq!(
            parse_err(r#"{"model":"m","messages":[],"stream":"yes"}"#).param,
            Some("stream")
        );
    }
}
