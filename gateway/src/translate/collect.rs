//! Folds a stream of IR events into one whole IR response, for callers who asked for a whole answer from an upstream that only streams.
//!
//! Some upstreams (the ChatGPT Codex backend) refuse `stream: false`. The
//! gateway then asks for a stream, decodes it with
//! [`StreamDecoder`](super::codec::StreamDecoder), pushes every event here
//! and encodes the collected [`Response`] in the caller's format.

use super::ir::{Part, Response, StopReason, StreamEvent, Usage};

/// Accumulates stream events into a [`Response`].
#[derive(Debug, Default)]
pub struct Collector {
    id: String,
    model: String,
    /// Whether any event arrived: an empty stream is no answer at all.
    seen: bool,
    parts: Vec<Part>,
    /// Stream index of each tool call -> its position in `parts`.
    calls: Vec<(usize, usize)>,
    finish: Option<(StopReason, Usage)>,
    error: Option<String>,
}

impl Collector {
    pub fn new() -> Collector {
        Collector::default()
    }

    pub fn push(&mut self, event: &StreamEvent) {
        // The first error ends the answer; anything after it (a decoder's
        // closing Finish, say) must not turn it back into a success.
        if self.error.is_some() {
            return;
        }
        self.seen = true;
        match event {
            StreamEvent::Start { id, model } => {
                // Some upstreams repeat the start (Responses sends both
                // `created` and `in_progress`); the first one names it.
                if self.id.is_empty() {
                    self.id.clone_from(id);
                }
                if self.model.is_empty() {
                    self.model.clone_from(model);
                }
            }
            StreamEvent::TextDelta { text } => {
                if let Some(Part::Text { text: last }) = self.parts.last_mut() {
                    last.push_str(text);
                } else if !text.is_empty() {
                    self.parts.push(Part::text(text.as_str()));
                }
            }
            StreamEvent::ReasoningDelta { text } => match self.parts.last_mut() {
                // A signature closes a reasoning block, so text after it
                // is a new block with its own signature to come.
                Some(Part::Reasoning {
                    text: last,
                    signature: None,
                }) => last.push_str(text),
                _ if text.is_empty() => {}
                _ => self.parts.push(Part::Reasoning {
                    text: text.clone(),
                    signature: None,
                }),
            },
            StreamEvent::ReasoningSignature { signature } => match self.parts.last_mut() {
                Some(Part::Reasoning {
                    signature: slot @ None,
                    ..
                }) => *slot = Some(signature.clone()),
                // Encrypted reasoning with no readable summary arrives as
                // a bare signature; it must still be sent back next turn.
                _ => self.parts.push(Part::Reasoning {
                    text: String::new(),
                    signature: Some(signature.clone()),
                }),
            },
            StreamEvent::ToolCallStart { index, id, name } => {
                if self.calls.iter().any(|(i, _)| i == index) {
                    return;
                }
                self.calls.push((*index, self.parts.len()));
                self.parts.push(Part::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            StreamEvent::ToolCallArgumentsDelta { index, json } => {
                // Decoders always announce a call before its arguments;
                // arguments of a call never announced have no tool name
                // to call, so there is nothing to attach them to.
                let Some(&(_, at)) = self.calls.iter().find(|(i, _)| i == index) else {
                    return;
                };
                if let Some(Part::ToolCall { arguments, .. }) = self.parts.get_mut(at) {
                    arguments.push_str(json);
                }
            }
            StreamEvent::Finish { stop, usage } => self.finish = Some((*stop, *usage)),
            StreamEvent::Error { message } => self.error = Some(message.clone()),
        }
    }

    /// The whole response, or the upstream's error message.
    pub fn finish(self) -> Result<Response, String> {
        if let Some(message) = self.error {
            return Err(message);
        }
        if !self.seen {
            return Err("the upstream stream ended without any event".to_string());
        }
        // A stream cut before its terminal event still carries a usable
        // answer; its stop reason follows from what it holds.
        let (stop, usage) = self.finish.unwrap_or_else(|| {
            let called = !self.calls.is_empty();
            let stop = if called {
                StopReason::ToolUse
            } else {
                StopReason::EndTurn
            };
            (stop, Usage::default())
        });
        Ok(Response {
            id: self.id,
            model: self.model,
            parts: self.parts,
            stop,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::WireFormat;
    use crate::translate::codec::StreamDecoder;
    use crate::wire::sse::{event_data, event_ranges};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/src/translate/fixtures/responses/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Decodes a whole upstream SSE body and collects it, as the gateway
    /// does for a caller who did not ask to stream.
    fn collect(format: WireFormat, sse: &str) -> Result<Response, String> {
        let mut decoder = StreamDecoder::new(format);
        let mut collector = Collector::new();
        for range in event_ranges(sse.as_bytes()) {
            if let Some(data) = event_data(&sse.as_bytes()[range]) {
                for event in decoder.data(&data) {
                    collector.push(&event);
                }
            }
        }
        if let Some(event) = decoder.finish() {
            collector.push(&event);
        }
        collector.finish()
    }

    #[test]
    fn a_recorded_codex_stream_collects_reasoning_signature_tool_call_and_usage() {
        let response = collect(
            WireFormat::Responses,
            &fixture("upstream-reasoning-tool.sse"),
        )
        .unwrap();
        assert_eq!(
            response.id,
            "resp_01830d662ab3856501693c321345c88190b0de00f3b9975691"
        );
        assert_eq!(response.model, "gpt-5.1-codex-max");
        assert_eq!(response.stop, StopReason::ToolUse);
        assert_eq!(
            response.usage,
            Usage {
                input: 134,
                output: 28,
                cached: 0,
                reasoning: 0
            }
        );
        assert_eq!(response.parts.len(), 2, "{:#?}", response.parts);
        let Part::Reasoning { text, signature } = &response.parts[0] else {
            panic!("expected reasoning first: {:#?}", response.parts);
        };
        assert!(text.starts_with("**"), "{text}");
        assert!(signature.as_deref().unwrap().starts_with("gAAAAA"));
        let Part::ToolCall {
            id,
            name,
            arguments,
        } = &response.parts[1]
        else {
            panic!("expected a tool call: {:#?}", response.parts);
        };
        assert_eq!(name, "calculator");
        assert!(id.starts_with("call_"), "{id}");
        // The argument deltas join into one JSON document.
        let args: serde_json::Value = serde_json::from_str(arguments).unwrap();
        assert!(args.get("op").is_some(), "{args}");
    }

    #[test]
    fn a_recorded_stream_of_two_messages_collects_one_text_and_its_usage() {
        let response = collect(WireFormat::Responses, &fixture("upstream-phase.sse")).unwrap();
        assert_eq!(response.model, "gpt-5.3-codex");
        // A commentary message, then the answer: one text, a paragraph apart.
        assert_eq!(
            response.parts,
            vec![Part::text("Got it\n\nHere are a few **AI")]
        );
        assert_eq!(response.stop, StopReason::EndTurn);
        assert_eq!(
            response.usage,
            Usage {
                input: 7112,
                output: 463,
                cached: 3072,
                reasoning: 64
            }
        );
    }

    #[test]
    fn a_recorded_mid_stream_error_is_an_error() {
        let error = collect(WireFormat::Responses, &fixture("upstream-error.sse")).unwrap_err();
        assert!(
            error.starts_with("You exceeded your current quota"),
            "{error}"
        );
    }

    #[test]
    fn parallel_calls_keep_their_own_arguments_and_order() {
        let mut c = Collector::new();
        for event in [
            StreamEvent::Start {
                id: "r1".into(),
                model: "m".into(),
            },
            StreamEvent::TextDelta {
                text: "Look".into(),
            },
            StreamEvent::TextDelta {
                text: "ing.".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "a".into(),
                name: "read".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "b".into(),
                name: "list".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 1,
                json: "{\"dir\":".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 0,
                json: "{\"path\":\"x\"}".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 1,
                json: "\".\"}".into(),
            },
            StreamEvent::ToolCallArgumentsDelta {
                index: 7,
                json: "{}".into(),
            },
            StreamEvent::Finish {
                stop: StopReason::ToolUse,
                usage: Usage {
                    input: 10,
                    output: 5,
                    cached: 2,
                    reasoning: 0,
                },
            },
        ] {
            c.push(&event);
        }
        let response = c.finish().unwrap();
        assert_eq!(
            response.parts,
            vec![
                Part::text("Looking."),
                Part::ToolCall {
                    id: "a".into(),
                    name: "read".into(),
                    arguments: "{\"path\":\"x\"}".into()
                },
                Part::ToolCall {
                    id: "b".into(),
                    name: "list".into(),
                    arguments: "{\"dir\":\".\"}".into()
                },
            ]
        );
        assert_eq!(response.id, "r1");
        assert_eq!(response.usage.input, 10);
    }

    #[test]
    fn a_signature_closes_a_reasoning_block() {
        let mut c = Collector::new();
        for event in [
            StreamEvent::ReasoningDelta { text: "one".into() },
            StreamEvent::ReasoningSignature {
                signature: "s1".into(),
            },
            StreamEvent::ReasoningDelta { text: "two".into() },
            StreamEvent::ReasoningSignature {
                signature: "s2".into(),
            },
            StreamEvent::ReasoningSignature {
                signature: "s3".into(),
            },
            StreamEvent::TextDelta { text: "hi".into() },
        ] {
            c.push(&event);
        }
        let response = c.finish().unwrap();
        let reasoning = |text: &str, sig: &str| Part::Reasoning {
            text: text.into(),
            signature: Some(sig.into()),
        };
        assert_eq!(
            response.parts,
            vec![
                reasoning("one", "s1"),
                reasoning("two", "s2"),
                reasoning("", "s3"),
                Part::text("hi")
            ]
        );
        // Cut before its Finish: the stop reason follows from the content.
        assert_eq!(response.stop, StopReason::EndTurn);
    }

    #[test]
    fn an_error_wins_over_a_later_finish_and_an_empty_stream_is_an_error() {
        let mut c = Collector::new();
        c.push(&StreamEvent::TextDelta {
            text: "partial".into(),
        });
        c.push(&StreamEvent::Error {
            message: "overloaded".into(),
        });
        c.push(&StreamEvent::Finish {
            stop: StopReason::EndTurn,
            usage: Usage::default(),
        });
        assert_eq!(c.finish().unwrap_err(), "overloaded");
        assert!(Collector::new().finish().is_err());
    }
}
