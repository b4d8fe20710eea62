//! Fitting a translated request to its upstream (model caps, role quirks, foreign reasoning) and pulling `<think>` reasoning out of plain text.

use super::ir::{Part, Request, Role, StreamEvent};
use crate::providers::{ModelDef, ProviderDef, Quirk, WireFormat};

const OPEN_TAG: &str = "<think>";
const CLOSE_TAG: &str = "</think>";

/// Makes an IR request decoded from `inbound` acceptable to `provider`:
/// - `max_tokens` is clamped to the model's output cap (a caller asking for
///   more than the model can give gets the most it can, not an error);
/// - reasoning signatures are dropped, since they only verify with the
///   family that made them and same-format traffic never reaches the IR;
/// - the provider's role quirks are applied.
pub fn fit_request(
    request: &mut Request,
    inbound: WireFormat,
    provider: &ProviderDef,
    model: Option<&ModelDef>,
) {
    if let (Some(asked), Some(cap)) = (request.max_tokens, model.and_then(|m| m.max_output)) {
        request.max_tokens = Some(asked.min(cap));
    }
    if inbound != provider.format {
        drop_signatures(request);
    }
    let system_as_user = provider.has_quirk(Quirk::SystemAsUser);
    let developer_as_system = provider.has_quirk(Quirk::DeveloperAsSystem);
    for message in &mut request.messages {
        message.role = match message.role {
            Role::System | Role::Developer if system_as_user => Role::User,
            Role::Developer if developer_as_system => Role::System,
            role => role,
        };
    }
}

/// Forgets every reasoning signature: they verify only with the provider
/// family that made them, so a conversation moving to another family must
/// not carry them (encoders then drop the unsigned reasoning they cannot send).
pub fn drop_signatures(request: &mut Request) {
    for message in &mut request.messages {
        for part in &mut message.parts {
            if let Part::Reasoning { signature, .. } = part {
                *signature = None;
            }
        }
    }
}

/// Moves a leading `<think>...</think>` block of a whole answer's text into
/// a reasoning part. Only a block at the very start counts, so an answer
/// that merely mentions the tag is left alone.
pub fn split_think(parts: &mut Vec<Part>) {
    let Some(Part::Text { text }) = parts.first() else {
        return;
    };
    let trimmed = text.trim_start();
    let Some(rest) = trimmed.strip_prefix(OPEN_TAG) else {
        return;
    };
    let (reasoning, answer) = match rest.find(CLOSE_TAG) {
        Some(end) => (&rest[..end], rest[end + CLOSE_TAG.len()..].trim_start()),
        None => (rest, ""),
    };
    let mut split = vec![Part::Reasoning {
        text: reasoning.trim().to_string(),
        signature: None,
    }];
    if !answer.is_empty() {
        split.push(Part::text(answer));
    }
    parts.splice(0..1, split);
}

/// Where a streamed answer is relative to its `<think>` block.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum ThinkState {
    /// Not yet known whether the answer opens with `<think>`.
    #[default]
    Start,
    InThink,
    /// Just past the block: the blank lines that follow it are dropped.
    AfterThink,
    /// Past the block, or there was none: text flows through.
    Text,
}

/// The streaming form of [`split_think`]: text deltas in, reasoning and
/// text deltas out, correct when a tag is split across deltas.
#[derive(Debug, Default)]
pub struct ThinkExtractor {
    state: ThinkState,
    /// Text held back because it may be part of a tag.
    held: String,
}

impl ThinkExtractor {
    /// Passes IR events through, splitting text deltas.
    pub fn process(&mut self, events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        if self.state == ThinkState::Text {
            return events;
        }
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            match event {
                StreamEvent::TextDelta { text } => self.push(&text, &mut out),
                StreamEvent::Finish { .. } | StreamEvent::Error { .. } => {
                    self.flush(&mut out);
                    out.push(event);
                }
                other => out.push(other),
            }
        }
        out
    }

    fn push(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        self.held.push_str(text);
        loop {
            match self.state {
                ThinkState::Start => {
                    let trimmed = self.held.trim_start();
                    if let Some(rest) = trimmed.strip_prefix(OPEN_TAG) {
                        self.held = rest.to_string();
                        self.state = ThinkState::InThink;
                    } else if OPEN_TAG.starts_with(trimmed) {
                        return; // maybe the tag, not complete yet
                    } else {
                        self.state = ThinkState::Text;
                    }
                }
                ThinkState::InThink => {
                    if let Some(end) = self.held.find(CLOSE_TAG) {
                        let reasoning = self.held[..end].to_string();
                        let after = self.held[end + CLOSE_TAG.len()..].to_string();
                        emit_reasoning(reasoning, out);
                        self.held = after;
                        self.state = ThinkState::AfterThink;
                    } else {
                        // Keep back a tail that could begin the closing tag.
                        let keep = partial_tag_len(&self.held, CLOSE_TAG);
                        let ready = self.held.len() - keep;
                        let reasoning: String = self.held.drain(..ready).collect();
                        emit_reasoning(reasoning, out);
                        return;
                    }
                }
                ThinkState::AfterThink => {
                    let text = self.held.trim_start();
                    if text.is_empty() {
                        self.held.clear();
                        return;
                    }
                    self.held = text.to_string();
                    self.state = ThinkState::Text;
                }
                ThinkState::Text => {
                    if !self.held.is_empty() {
                        out.push(StreamEvent::TextDelta {
                            text: std::mem::take(&mut self.held),
                        });
                    }
                    return;
                }
            }
        }
    }

    /// Sends what was held back when the stream ends.
    fn flush(&mut self, out: &mut Vec<StreamEvent>) {
        let held = std::mem::take(&mut self.held);
        match self.state {
            ThinkState::InThink => emit_reasoning(held, out),
            _ if !held.is_empty() => out.push(StreamEvent::TextDelta { text: held }),
            _ => {}
        }
        self.state = ThinkState::Text;
    }
}

fn emit_reasoning(text: String, out: &mut Vec<StreamEvent>) {
    if !text.is_empty() {
        out.push(StreamEvent::ReasoningDelta { text });
    }
}

/// Length of the longest end of `text` that is a proper start of `tag`.
/// Tags are ASCII, so the split point is always a char boundary.
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| text.len() >= n && text.as_bytes()[text.len() - n..] == tag.as_bytes()[..n])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ir::{Message, StopReason, Usage};

    fn run(pieces: &[&str]) -> (String, String) {
        let mut extractor = ThinkExtractor::default();
        let mut events: Vec<StreamEvent> = Vec::new();
        for piece in pieces {
            events.extend(extractor.process(vec![StreamEvent::TextDelta {
                text: piece.to_string(),
            }]));
        }
        events.extend(extractor.process(vec![StreamEvent::Finish {
            stop: StopReason::EndTurn,
            usage: Usage::default(),
        }]));
        let (mut reasoning, mut text) = (String::new(), String::new());
        for event in events {
            match event {
                StreamEvent::ReasoningDelta { text: t } => reasoning.push_str(&t),
                StreamEvent::TextDelta { text: t } => text.push_str(&t),
                _ => {}
            }
        }
        (reasoning, text)
    }

    #[test]
    fn think_block_split_anywhere_across_chunks_is_reasoning() {
        let whole = "<think>plan the answer</think>\n\nThe answer is 4.";
        // Every way of cutting the text in two, and one byte at a time.
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            assert_eq!(
                run(&[a, b]),
                (
                    "plan the answer".to_string(),
                    "The answer is 4.".to_string()
                ),
                "cut at {cut}"
            );
        }
        let bytes: Vec<String> = whole.chars().map(String::from).collect();
        let pieces: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(run(&pieces).0, "plan the answer");
    }

    #[test]
    fn text_without_a_leading_tag_is_untouched() {
        assert_eq!(
            run(&["Use the ", "<think> tag</think> in XML"]),
            (
                String::new(),
                "Use the <think> tag</think> in XML".to_string()
            )
        );
        assert_eq!(run(&["<thi", "s is not it"]).1, "<this is not it");
        assert_eq!(run(&["<"]).1, "<");
    }

    #[test]
    fn unclosed_think_at_the_end_is_reasoning() {
        assert_eq!(run(&["<think>still thinking </"]).0, "still thinking </");
    }

    #[test]
    fn multibyte_text_around_tags_is_kept_whole() {
        assert_eq!(
            run(&["<think>é", "ü</th", "ink>ñ"]),
            ("éü".to_string(), "ñ".to_string())
        );
    }

    #[test]
    fn whole_answer_think_block_becomes_a_reasoning_part() {
        let mut parts = vec![Part::text("<think>\nstep one\n</think>\nDone.")];
        split_think(&mut parts);
        assert_eq!(
            parts,
            vec![
                Part::Reasoning {
                    text: "step one".into(),
                    signature: None
                },
                Part::text("Done.")
            ]
        );
        let mut plain = vec![Part::text("no <think> here")];
        split_think(&mut plain);
        assert_eq!(plain, vec![Part::text("no <think> here")]);
    }

    fn provider(format: WireFormat, quirks: Vec<Quirk>) -> ProviderDef {
        let mut p = ProviderDef::user(
            "p".into(),
            "P".into(),
            "p".into(),
            format,
            "https://example.com".into(),
            crate::providers::AuthKind::Bearer,
            vec![],
        );
        p.quirks = quirks;
        p
    }

    #[test]
    fn fitting_clamps_tokens_drops_foreign_signatures_and_applies_quirks() {
        let mut request = Request {
            max_tokens: Some(200_000),
            messages: vec![
                Message {
                    role: Role::Developer,
                    parts: vec![Part::text("be brief")],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::Reasoning {
                        text: "t".into(),
                        signature: Some("sig".into()),
                    }],
                },
            ],
            ..Default::default()
        };
        let mut model = ModelDef::bare("m");
        model.max_output = Some(64_000);
        let openai = provider(WireFormat::Openai, vec![Quirk::SystemAsUser]);
        fit_request(&mut request, WireFormat::Anthropic, &openai, Some(&model));
        assert_eq!(request.max_tokens, Some(64_000));
        assert_eq!(request.messages[0].role, Role::User);
        assert_eq!(
            request.messages[1].parts[0],
            Part::Reasoning {
                text: "t".into(),
                signature: None
            }
        );

        let mut small = Request {
            max_tokens: Some(100),
            messages: vec![Message {
                role: Role::Developer,
                parts: vec![],
            }],
            ..Default::default()
        };
        let quirky = provider(WireFormat::Openai, vec![Quirk::DeveloperAsSystem]);
        fit_request(&mut small, WireFormat::Openai, &quirky, Some(&model));
        assert_eq!(small.max_tokens, Some(100));
        assert_eq!(small.messages[0].role, Role::System);
    }
}
