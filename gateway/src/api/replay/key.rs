//! What makes two data-plane requests "the same": the caller format a path speaks, the idempotency header, the low-temperature test and the SHA-256 digests that key the shared answers and the cache.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::providers::WireFormat;

/// A SHA-256 digest: the only form in which a key, a path or a body is kept.
pub type Digest = [u8; 32];

/// At or below this temperature two identical requests should get the same
/// answer, so concurrent ones may share one upstream call. Above it the
/// caller wants variety (a "regenerate") and each request goes upstream.
pub const DEDUP_MAX_TEMPERATURE: f64 = 0.1;

/// The caller format of a data-plane path that produces an answer, or
/// `None` for a path this layer leaves alone (`countTokens`, anything else).
pub fn format_of_path(path: &str) -> Option<WireFormat> {
    if path.contains("/models/") {
        // Gemini's `models/{model}:{method}`; only the two methods that
        // produce an answer are worth sharing.
        let generates =
            path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent");
        return generates.then_some(WireFormat::Gemini);
    }
    if path.ends_with("/chat/completions") {
        Some(WireFormat::Openai)
    } else if path.ends_with("/messages") {
        Some(WireFormat::Anthropic)
    } else if path.ends_with("/responses") {
        Some(WireFormat::Responses)
    } else {
        None
    }
}

/// The request's idempotency key and the header it came in: `Idempotency-Key`
/// wins over `X-Request-Id`; an empty value counts as absent.
///
/// Not `X-Client-Request-Id`: Codex sends one value for a whole session,
/// each turn a different request, which would read as a reused key.
pub fn idempotency_header(headers: &HeaderMap) -> Option<(&'static str, HeaderValue)> {
    ["idempotency-key", "x-request-id"]
        .into_iter()
        .find_map(|name| {
            headers
                .get(name)
                .filter(|v| !v.as_bytes().trim_ascii().is_empty())
                .map(|v| (name, v.clone()))
        })
}

/// The sampling temperature a body asks for: top-level `temperature`, or
/// Gemini's `generationConfig.temperature`. A body that never mentions the
/// word is not parsed at all (the common case costs one substring scan).
pub fn temperature(format: WireFormat, body: &[u8]) -> Option<f64> {
    memchr::memmem::find(body, b"\"temperature\"")?;
    #[derive(Deserialize)]
    struct TopLevel {
        temperature: Option<f64>,
    }
    #[derive(Deserialize)]
    struct Gemini {
        #[serde(rename = "generationConfig", alias = "generation_config")]
        generation_config: Option<TopLevel>,
    }
    match format {
        WireFormat::Gemini => {
            serde_json::from_slice::<Gemini>(body)
                .ok()?
                .generation_config?
                .temperature
        }
        _ => serde_json::from_slice::<TopLevel>(body).ok()?.temperature,
    }
}

/// Whether concurrent identical copies of this body may share one upstream
/// call: only when it names a temperature of at most [`DEDUP_MAX_TEMPERATURE`].
pub fn shares_in_flight(format: WireFormat, body: &[u8]) -> bool {
    temperature(format, body).is_some_and(|t| t <= DEDUP_MAX_TEMPERATURE)
}

/// Who asks and where: the parts of a request that, with its body, decide
/// whether two requests are the same.
pub struct Scope<'a> {
    /// The API key the caller presented (`None`: anonymous). It enters the
    /// digests and is never stored.
    pub caller: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

impl Scope<'_> {
    fn feed(&self, hasher: &mut Sha256) {
        field(hasher, self.caller.unwrap_or("").as_bytes());
        field(hasher, self.path.as_bytes());
        // Gemini's `?key=` is the caller, already counted above (and a
        // client may move it to a header between two tries); `alt=sse`
        // changes the answer's shape, so the rest of the query counts.
        for pair in self
            .query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("key="))
        {
            field(hasher, pair.as_bytes());
        }
    }
}

/// One length-prefixed field, so that no two different field lists hash alike.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// The digest of a whole request: caller, path, query and body. It keys the
/// cache and the in-flight map, and tells whether a repeated idempotency key
/// comes with the same request.
pub fn request_digest(scope: &Scope<'_>, body: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    field(&mut hasher, b"omniroute/replay/request/v1");
    scope.feed(&mut hasher);
    field(&mut hasher, body);
    hasher.finalize().into()
}

/// The digest of an idempotency key as this caller used it on this path.
pub fn idempotency_digest(scope: &Scope<'_>, key: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    field(&mut hasher, b"omniroute/replay/idempotency/v1");
    field(&mut hasher, scope.caller.unwrap_or("").as_bytes());
    field(&mut hasher, scope.path.as_bytes());
    field(&mut hasher, key);
    hasher.finalize().into()
}

/// The model and stream flag of a request, for the records of requests
/// served without the upstream. Gemini names both in the path.
pub fn model_and_stream(format: WireFormat, path: &str, body: &[u8]) -> (String, bool) {
    if format == WireFormat::Gemini {
        let target = path.split_once("/models/").map_or(path, |(_, t)| t);
        let target = target.strip_prefix("models/").unwrap_or(target);
        let (model, method) = target.rsplit_once(':').unwrap_or((target, ""));
        return (model.to_string(), method == "streamGenerateContent");
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Probe<'a> {
        #[serde(borrow)]
        model: Option<Cow<'a, str>>,
        stream: Option<bool>,
    }
    let probe: Probe<'_> = serde_json::from_slice(body).unwrap_or_default();
    (
        probe.model.map(Cow::into_owned).unwrap_or_default(),
        probe.stream.unwrap_or(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn idempotency_key_wins_over_request_id() {
        let both = headers(&[("x-request-id", "req-1"), ("idempotency-key", "idem-1")]);
        let (name, value) = idempotency_header(&both).unwrap();
        assert_eq!(name, "idempotency-key");
        assert_eq!(value, "idem-1");

        let only_id = headers(&[("x-request-id", "req-1")]);
        assert_eq!(idempotency_header(&only_id).unwrap().0, "x-request-id");

        assert!(idempotency_header(&headers(&[])).is_none());
    }

    #[test]
    fn an_empty_idempotency_key_falls_back_to_the_request_id() {
        let blank = headers(&[("idempotency-key", "  "), ("x-request-id", "req-2")]);
        let (name, value) = idempotency_header(&blank).unwrap();
        assert_eq!((name, value.to_str().unwrap()), ("x-request-id", "req-2"));
        assert!(idempotency_header(&headers(&[("idempotency-key", "")])).is_none());
    }

    #[test]
    fn temperature_is_read_where_each_format_puts_it() {
        let chat = br#"{"model":"m","temperature":0,"messages":[]}"#;
        assert_eq!(temperature(WireFormat::Openai, chat), Some(0.0));
        assert_eq!(temperature(WireFormat::Anthropic, chat), Some(0.0));

        let gemini = br#"{"contents":[],"generationConfig":{"temperature":0.05}}"#;
        assert_eq!(temperature(WireFormat::Gemini, gemini), Some(0.05));
        let snake = br#"{"contents":[],"generation_config":{"temperature":0.7}}"#;
        assert_eq!(temperature(WireFormat::Gemini, snake), Some(0.7));
        // A top-level temperature is not Gemini's field.
        assert_eq!(
            temperature(WireFormat::Gemini, br#"{"temperature":0}"#),
            None
        );
        // Nor is a nested one OpenAI's.
        assert_eq!(
            temperature(
                WireFormat::Openai,
                br#"{"generationConfig":{"temperature":0}}"#
            ),
            None
        );
    }

    #[test]
    fn only_a_named_low_temperature_shares() {
        let low = br#"{"temperature":0.1}"#;
        let high = br#"{"temperature":0.7}"#;
        let null = br#"{"temperature":null}"#;
        let absent = br#"{"model":"m","messages":[]}"#;
        let in_text = br#"{"messages":[{"role":"user","content":"what is \"temperature\"?"}]}"#;
        let broken = br#"{"temperature":0,"#;
        let text_value = br#"{"temperature":"0"}"#;
        assert!(shares_in_flight(WireFormat::Openai, low));
        for body in [&high[..], null, absent, in_text, broken, text_value] {
            assert!(
                !shares_in_flight(WireFormat::Openai, body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn paths_map_to_their_caller_format() {
        assert_eq!(
            format_of_path("/v1/chat/completions"),
            Some(WireFormat::Openai)
        );
        assert_eq!(
            format_of_path("/chat/completions"),
            Some(WireFormat::Openai)
        );
        assert_eq!(
            format_of_path("/v1/v1/messages"),
            Some(WireFormat::Anthropic)
        );
        assert_eq!(format_of_path("/v1/messages/count_tokens"), None);
        assert_eq!(format_of_path("/responses"), Some(WireFormat::Responses));
        assert_eq!(
            format_of_path("/v1beta/models/gemini/gemini-2.5-flash:streamGenerateContent"),
            Some(WireFormat::Gemini)
        );
        assert_eq!(
            format_of_path("/v1/models/openai/gpt-4.1:generateContent"),
            Some(WireFormat::Gemini)
        );
        assert_eq!(format_of_path("/v1beta/models/x:countTokens"), None);
        assert_eq!(format_of_path("/v1/models/x/chat/completions"), None);
    }

    #[test]
    fn digests_tell_callers_paths_queries_and_bodies_apart() {
        let scope = |caller, path, query| Scope {
            caller,
            path,
            query,
        };
        let base = request_digest(&scope(Some("k1"), "/v1/chat/completions", None), b"{}");
        assert_eq!(
            base,
            request_digest(&scope(Some("k1"), "/v1/chat/completions", None), b"{}")
        );
        let others = [
            request_digest(&scope(Some("k2"), "/v1/chat/completions", None), b"{}"),
            request_digest(&scope(None, "/v1/chat/completions", None), b"{}"),
            request_digest(&scope(Some("k1"), "/v1/responses", None), b"{}"),
            request_digest(&scope(Some("k1"), "/v1/chat/completions", None), b"{ }"),
            request_digest(
                &scope(Some("k1"), "/v1/chat/completions", Some("alt=sse")),
                b"{}",
            ),
        ];
        assert!(others.iter().all(|d| *d != base));
        // Gemini's `?key=` is the caller, not part of the request.
        let with_key = scope(Some("k1"), "/v1/chat/completions", Some("key=k1"));
        assert_eq!(base, request_digest(&with_key, b"{}"));
        // Field boundaries count: "ab"+"c" is not "a"+"bc".
        assert_ne!(
            request_digest(&scope(Some("ab"), "c", None), b""),
            request_digest(&scope(Some("a"), "bc", None), b"")
        );
    }

    #[test]
    fn idempotency_digests_depend_on_caller_path_and_key() {
        let scope = |caller, path| Scope {
            caller,
            path,
            query: None,
        };
        let base = idempotency_digest(&scope(Some("k1"), "/v1/messages"), b"id-1");
        assert_eq!(
            base,
            idempotency_digest(&scope(Some("k1"), "/v1/messages"), b"id-1")
        );
        assert_ne!(
            base,
            idempotency_digest(&scope(Some("k2"), "/v1/messages"), b"id-1")
        );
        assert_ne!(
            base,
            idempotency_digest(&scope(Some("k1"), "/v1/responses"), b"id-1")
        );
        assert_ne!(
            base,
            idempotency_digest(&scope(Some("k1"), "/v1/messages"), b"id-2")
        );
    }

    #[test]
    fn model_and_stream_come_from_the_body_or_the_gemini_path() {
        let body = br#"{"model":"openai/gpt-4.1","stream":true,"messages":[]}"#;
        assert_eq!(
            model_and_stream(WireFormat::Openai, "/v1/chat/completions", body),
            ("openai/gpt-4.1".to_string(), true)
        );
        assert_eq!(
            model_and_stream(WireFormat::Anthropic, "/v1/messages", b"not json"),
            (String::new(), false)
        );
        assert_eq!(
            model_and_stream(
                WireFormat::Gemini,
                "/v1beta/models/models/gemini/gemini-2.5-flash:streamGenerateContent",
                b"{}"
            ),
            ("gemini/gemini-2.5-flash".to_string(), true)
        );
        assert_eq!(
            model_and_stream(
                WireFormat::Gemini,
                "/v1/models/openai/gpt-4.1:generateContent",
                b"{}"
            ),
            ("openai/gpt-4.1".to_string(), false)
        );
    }
}
