//! Request shaping on the upstream's wire body: the global system prompt and the thinking-budget modes.
//!
//! Shaping works on a body that is already in the upstream's format (a
//! `serde_json::Value`), so one code path serves requests forwarded as they
//! came and requests translated from another format. Every function here
//! only edits what it recognises and leaves anything malformed alone: the
//! upstream, not the gateway, judges a body the caller got wrong.

use serde_json::{Map, Value, json};

use super::anthropic::DEFAULT_MAX_TOKENS;
use super::ir::Effort;
use crate::config::Settings;
use crate::config::settings::ThinkingMode;
use crate::providers::{ModelDef, WireFormat};

/// The smallest thinking budget Claude (and this module) will set.
const MIN_BUDGET: u64 = 1024;
/// Room left for the answer after the thinking budget when `max_tokens` is
/// raised (Claude counts thinking inside `max_tokens`).
const ANSWER_ROOM: u64 = 1024;
/// Rough bytes per token of prompts (English text, code and JSON), used to
/// estimate a request's input size without a tokenizer.
const BYTES_PER_TOKEN: usize = 4;

/// Whether the settings ask for any shaping at all, so the hot path can skip
/// parsing bodies it would forward untouched.
pub fn needs_shaping(settings: &Settings) -> bool {
    !settings.system_prompt.trim().is_empty() || settings.thinking_mode != ThinkingMode::Passthrough
}

/// Prepends `text` to the request's system prompt:
/// - OpenAI Chat: the leading `system`/`developer` message gets `text` in
///   front of its content (one system message, not two); without one, a
///   `system` message is inserted first;
/// - Anthropic: `system` as a string gets `text` in front, as a block array
///   a text block in front; a missing `system` becomes `text`;
/// - Gemini: a text part in front of `systemInstruction.parts` (created
///   when missing; the snake-case `system_instruction` is honoured);
/// - Responses: `text` in front of `instructions`.
///
/// Idempotent: nothing changes when the system prompt already starts with
/// `text` (a retried or replayed body is not shaped twice).
pub fn inject_system_prompt(format: WireFormat, body: &mut Value, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    let Some(body) = body.as_object_mut() else {
        return;
    };
    match format {
        WireFormat::Openai => inject_openai(body, text),
        WireFormat::Anthropic => inject_anthropic(body, text),
        WireFormat::Gemini => inject_gemini(body, text),
        WireFormat::Responses => inject_responses(body, text),
    }
}

/// Puts `text` and a blank line in front of `existing` (just `text` when
/// `existing` is empty), unless `existing` already starts with `text`.
fn prefix_string(existing: &mut String, text: &str) {
    if existing.is_empty() {
        *existing = text.to_string();
    } else if !existing.starts_with(text) {
        *existing = format!("{text}\n\n{existing}");
    }
}

/// Prepends `text` to a content that is a string or an array of parts whose
/// text parts look like `{"type": "text", "text": ...}` (OpenAI messages and
/// Anthropic `system` share this shape). `false` when the content has a
/// shape it cannot take a prefix in.
fn prefix_content(content: &mut Value, text: &str) -> bool {
    match content {
        Value::Null => *content = json!(text),
        Value::String(s) => prefix_string(s, text),
        Value::Array(parts) => {
            let already = parts
                .first()
                .and_then(|p| p.get("text"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with(text));
            if !already {
                parts.insert(0, json!({"type": "text", "text": text}));
            }
        }
        _ => return false,
    }
    true
}

fn inject_openai(body: &mut Map<String, Value>, text: &str) {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    if let Some(Value::Object(first)) = messages.first_mut() {
        let role = first.get("role").and_then(Value::as_str);
        if matches!(role, Some("system" | "developer")) {
            let content = first.entry("content").or_insert(Value::Null);
            if prefix_content(content, text) {
                return;
            }
        }
    }
    messages.insert(0, json!({"role": "system", "content": text}));
}

fn inject_anthropic(body: &mut Map<String, Value>, text: &str) {
    let system = body.entry("system").or_insert(Value::Null);
    prefix_content(system, text);
}

fn inject_gemini(body: &mut Map<String, Value>, text: &str) {
    let key = spelling(body, SYSTEM_INSTRUCTION);
    let part = json!({"text": text});
    let system = body.entry(key).or_insert(Value::Null);
    match system {
        Value::Null => *system = json!({"parts": [part]}),
        // A bare string (some SDKs accept it): kept a string.
        Value::String(s) => prefix_string(s, text),
        Value::Array(parts) => prefix_parts(parts, part, text),
        Value::Object(content) => match content.get_mut("parts") {
            Some(Value::Array(parts)) => prefix_parts(parts, part, text),
            None | Some(Value::Null) => match content.get_mut("text") {
                Some(Value::String(s)) => prefix_string(s, text),
                _ => {
                    content.insert("parts".into(), json!([part]));
                }
            },
            Some(_) => {}
        },
        _ => {}
    }
}

/// Puts `part` in front of Gemini `parts` unless the first one already
/// starts with `text`.
fn prefix_parts(parts: &mut Vec<Value>, part: Value, text: &str) {
    let already = parts
        .first()
        .and_then(|p| p.get("text"))
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with(text));
    if !already {
        parts.insert(0, part);
    }
}

fn inject_responses(body: &mut Map<String, Value>, text: &str) {
    let instructions = body.entry("instructions").or_insert(Value::Null);
    match instructions {
        Value::Null => *instructions = json!(text),
        Value::String(s) => prefix_string(s, text),
        _ => {}
    }
}

/// Applies the thinking mode to a request that asks for thinking; a request
/// that does not is left alone (the gateway never turns thinking on: it
/// costs the caller tokens they did not ask to spend).
///
/// The budget each mode gives, in tokens:
/// - `passthrough`: nothing changes;
/// - `auto`: the budget of the request's own effort ([`Effort::budget`] of
///   the effort it asked for, or of the effort nearest the budget it asked
///   for), so one effort means one budget whatever format the caller
///   speaks. A request that leaves the size to the model (Anthropic
///   `adaptive`, Gemini `-1` or `thinkingLevel`, or no budget at all) has
///   no budget to normalise and is left alone;
/// - `custom`: exactly `budget_tokens`;
/// - `adaptive`: half the estimated input tokens, where the estimate is
///   `request_bytes / 4`, clamped to `1024..=budget_tokens`: a long prompt
///   (much code, a long conversation) gets room to reason about it, a
///   short question does not pay for thinking it does not need.
///
/// How each format takes the budget:
/// - OpenAI `reasoning_effort` and Responses `reasoning.effort` take an
///   effort ([`Effort::from_budget`]); an effort that already means the
///   same (`xhigh` for `high`) is kept as the caller wrote it;
/// - Anthropic `thinking: {"type": "enabled", "budget_tokens": n}`: the
///   budget must stay below `max_tokens`, so `max_tokens` is raised to
///   budget + 1024 within the model's `max_output`, else the budget is
///   lowered to leave 1024 tokens of answer (never below 1024; in `auto`
///   mode down to the largest effort's budget that fits); when not even
///   1024 fits, the request is left as it came;
/// - Gemini `generationConfig.thinkingConfig.thinkingBudget` (replacing a
///   `thinkingLevel`, which Gemini refuses alongside a budget).
pub fn apply_thinking(
    format: WireFormat,
    body: &mut Value,
    mode: ThinkingMode,
    budget_tokens: u32,
    request_bytes: usize,
    model: Option<&ModelDef>,
) {
    if mode == ThinkingMode::Passthrough {
        return;
    }
    let Some(object) = body.as_object_mut() else {
        return;
    };
    let Some(asked) = thinking_asked(format, object) else {
        return;
    };
    let ceiling = u64::from(budget_tokens).max(MIN_BUDGET);
    let budget = match mode {
        ThinkingMode::Passthrough => return,
        ThinkingMode::Auto => match asked {
            Some(effort) => effort.budget(),
            None => return,
        },
        ThinkingMode::Custom => ceiling,
        ThinkingMode::Adaptive => {
            let estimated_input = (request_bytes / BYTES_PER_TOKEN) as u64;
            (estimated_input / 2).max(MIN_BUDGET).min(ceiling)
        }
    };
    match format {
        WireFormat::Openai => set_effort(object, &["reasoning_effort"], budget),
        WireFormat::Responses => set_effort(object, &["reasoning", "effort"], budget),
        WireFormat::Anthropic => {
            set_anthropic_budget(object, budget, mode == ThinkingMode::Auto, model)
        }
        WireFormat::Gemini => set_gemini_budget(object, budget),
    }
}

/// Whether the body asks for thinking: `None` when it does not,
/// `Some(effort)` when it does, with the effort it asked for when it named
/// one (directly, or as a budget).
fn thinking_asked(format: WireFormat, body: &Map<String, Value>) -> Option<Option<Effort>> {
    let parse = |v: Option<&Value>| v.and_then(Value::as_str).and_then(Effort::parse);
    match format {
        // "none" (or anything unknown) asks for no reasoning.
        WireFormat::Openai => parse(body.get("reasoning_effort")).map(Some),
        WireFormat::Responses => {
            parse(body.get("reasoning").and_then(|r| r.get("effort"))).map(Some)
        }
        WireFormat::Anthropic => {
            let thinking = body.get("thinking")?;
            match thinking.get("type").and_then(Value::as_str)? {
                "enabled" => Some(
                    thinking
                        .get("budget_tokens")
                        .and_then(Value::as_u64)
                        .map(Effort::from_budget)
                        .or_else(|| parse(body.get("output_config").and_then(|c| c.get("effort")))),
                ),
                // The model sizes its own thinking.
                "adaptive" => Some(None),
                _ => None,
            }
        }
        WireFormat::Gemini => {
            let config = field(body, GENERATION_CONFIG)?.as_object()?;
            let thinking = field(config, THINKING_CONFIG)?.as_object()?;
            match field(thinking, THINKING_BUDGET) {
                // 0 turns thinking off.
                Some(b) if b.as_f64() == Some(0.0) => None,
                // -1 lets the model choose.
                Some(b) => Some(b.as_u64().filter(|b| *b > 0).map(Effort::from_budget)),
                None => {
                    let level = field(thinking, THINKING_LEVEL);
                    let shows = field(thinking, INCLUDE_THOUGHTS)
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    // A level is an effort the model turns into a budget
                    // itself: nothing for `auto` to normalise.
                    (level.is_some() || shows).then_some(None)
                }
            }
        }
    }
}

/// A Gemini field's two spellings (the API accepts camelCase and snake_case).
type Spellings = [&'static str; 2];
const SYSTEM_INSTRUCTION: Spellings = ["systemInstruction", "system_instruction"];
const GENERATION_CONFIG: Spellings = ["generationConfig", "generation_config"];
const THINKING_CONFIG: Spellings = ["thinkingConfig", "thinking_config"];
const THINKING_BUDGET: Spellings = ["thinkingBudget", "thinking_budget"];
const THINKING_LEVEL: Spellings = ["thinkingLevel", "thinking_level"];
const INCLUDE_THOUGHTS: Spellings = ["includeThoughts", "include_thoughts"];

/// The spelling of a Gemini field this object uses: camelCase when present
/// (even as null, as the upstream would read it), else snake_case.
fn spelling(object: &Map<String, Value>, names: Spellings) -> &'static str {
    if object.contains_key(names[0]) || !object.contains_key(names[1]) {
        names[0]
    } else {
        names[1]
    }
}

/// A Gemini field by either spelling; null counts as absent.
fn field(object: &Map<String, Value>, names: Spellings) -> Option<&Value> {
    object.get(spelling(object, names)).filter(|v| !v.is_null())
}

/// Writes the effort nearest `budget` at `path` (its parents exist: the
/// request asked for an effort there), unless the effort there already
/// means the same.
fn set_effort(body: &mut Map<String, Value>, path: &[&str], budget: u64) {
    let effort = Effort::from_budget(budget);
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut object = body;
    for key in parents {
        match object.get_mut(*key) {
            Some(Value::Object(inner)) => object = inner,
            _ => return,
        }
    }
    let current = object
        .get(*last)
        .and_then(Value::as_str)
        .and_then(Effort::parse);
    if current != Some(effort) {
        object.insert((*last).to_string(), json!(effort.as_str()));
    }
}

/// Sets Claude's thinking budget, fitted below `max_tokens` (see
/// [`apply_thinking`]). With `snap` (auto mode) a budget that had to be
/// lowered goes down to the largest effort step that fits, so the result
/// still names an effort and shaping it again changes nothing.
fn set_anthropic_budget(
    body: &mut Map<String, Value>,
    budget: u64,
    snap: bool,
    model: Option<&ModelDef>,
) {
    let asked_max = match body.get("max_tokens") {
        None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
        Some(v) => match v.as_u64() {
            Some(n) => n,
            // Not a count: the upstream will say so; guessing would hide it.
            None => return,
        },
    };
    let cap = model.and_then(|m| m.max_output).unwrap_or(u64::MAX);
    let mut budget = budget.max(MIN_BUDGET);
    // Raise max_tokens for the budget plus an answer, never past the
    // model's cap, and never lower what the caller asked for.
    let max_tokens = asked_max.max(budget.saturating_add(ANSWER_ROOM).min(cap));
    if budget >= max_tokens {
        budget = max_tokens.saturating_sub(ANSWER_ROOM).max(MIN_BUDGET);
        if snap {
            budget = EFFORT_STEPS
                .iter()
                .map(|e| e.budget())
                .filter(|b| *b <= budget)
                .max()
                .unwrap_or(MIN_BUDGET);
        }
    }
    if budget >= max_tokens {
        // Not even the smallest budget fits below the cap.
        return;
    }
    let Some(Value::Object(thinking)) = body.get_mut("thinking") else {
        return;
    };
    thinking.insert("type".into(), json!("enabled"));
    thinking.insert("budget_tokens".into(), json!(budget));
    if body.get("max_tokens").and_then(Value::as_u64) != Some(max_tokens) {
        body.insert("max_tokens".into(), json!(max_tokens));
    }
}

/// Every effort, for snapping a budget down to one.
const EFFORT_STEPS: [Effort; 4] = [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High];

fn set_gemini_budget(body: &mut Map<String, Value>, budget: u64) {
    let key = spelling(body, GENERATION_CONFIG);
    let Some(Value::Object(config)) = body.get_mut(key) else {
        return;
    };
    let key = spelling(config, THINKING_CONFIG);
    let Some(Value::Object(thinking)) = config.get_mut(key) else {
        return;
    };
    // One spelling only (Gemini refuses a field given twice), and no level
    // beside the budget (Gemini refuses both together).
    for key in THINKING_LEVEL.into_iter().chain([THINKING_BUDGET[1]]) {
        thinking.shift_remove(key);
    }
    thinking.insert(THINKING_BUDGET[0].into(), json!(budget));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROMPT: &str = "Answer in French.";

    fn shaped(format: WireFormat, mut body: Value) -> Value {
        inject_system_prompt(format, &mut body, PROMPT);
        let once = body.clone();
        inject_system_prompt(format, &mut body, PROMPT);
        assert_eq!(body, once, "injecting twice changes nothing");
        body
    }

    fn thought(
        format: WireFormat,
        mut body: Value,
        mode: ThinkingMode,
        budget: u32,
        bytes: usize,
        model: Option<&ModelDef>,
    ) -> Value {
        apply_thinking(format, &mut body, mode, budget, bytes, model);
        let once = body.clone();
        apply_thinking(format, &mut body, mode, budget, bytes, model);
        assert_eq!(body, once, "applying twice changes nothing");
        body
    }

    fn claude(max_output: Option<u64>) -> ModelDef {
        ModelDef {
            max_output,
            ..ModelDef::bare("claude-sonnet-4-5")
        }
    }

    #[test]
    fn shaping_is_needed_only_for_a_prompt_or_a_thinking_mode() {
        let mut s = Settings::default();
        assert!(!needs_shaping(&s));
        s.system_prompt = "  \n".into();
        assert!(!needs_shaping(&s), "a blank prompt injects nothing");
        s.system_prompt = PROMPT.into();
        assert!(needs_shaping(&s));
        s.system_prompt.clear();
        s.thinking_mode = ThinkingMode::Adaptive;
        assert!(needs_shaping(&s));
    }

    #[test]
    fn openai_prompt_merges_into_the_leading_system_or_developer_message() {
        let body = shaped(
            WireFormat::Openai,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(
            body["messages"],
            json!([{"role": "system", "content": PROMPT}, {"role": "user", "content": "hi"}])
        );

        let body = shaped(
            WireFormat::Openai,
            json!({"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]}),
        );
        assert_eq!(
            body["messages"][0],
            json!({"role": "developer", "content": format!("{PROMPT}\n\nBe brief.")})
        );
        assert_eq!(body["messages"].as_array().unwrap().len(), 2);

        let body = shaped(
            WireFormat::Openai,
            json!({"messages": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}]}),
        );
        assert_eq!(
            body["messages"][0]["content"],
            json!([{"type": "text", "text": PROMPT}, {"type": "text", "text": "Be brief."}])
        );

        // A system message later in the conversation is not the leading one.
        let body = shaped(
            WireFormat::Openai,
            json!({"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]}),
        );
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][2]["content"], "x");
    }

    #[test]
    fn anthropic_prompt_goes_before_a_string_or_block_system() {
        let body = shaped(WireFormat::Anthropic, json!({"messages": []}));
        assert_eq!(body["system"], PROMPT);
        let body = shaped(
            WireFormat::Anthropic,
            json!({"system": "You are Claude Code.", "messages": []}),
        );
        assert_eq!(body["system"], format!("{PROMPT}\n\nYou are Claude Code."));
        let body = shaped(
            WireFormat::Anthropic,
            json!({"system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]}),
        );
        assert_eq!(
            body["system"],
            json!([
                {"type": "text", "text": PROMPT},
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
            ])
        );
        let body = shaped(WireFormat::Anthropic, json!({"system": ""}));
        assert_eq!(body["system"], PROMPT);
    }

    #[test]
    fn gemini_prompt_is_the_first_system_instruction_part() {
        let body = shaped(WireFormat::Gemini, json!({"contents": []}));
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": PROMPT}]})
        );
        let body = shaped(
            WireFormat::Gemini,
            json!({"systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI."}]}}),
        );
        assert_eq!(
            body["systemInstruction"],
            json!({"role": "user", "parts": [{"text": PROMPT}, {"text": "You are Gemini CLI."}]})
        );
        let body = shaped(
            WireFormat::Gemini,
            json!({"system_instruction": {"parts": [{"text": "x"}]}}),
        );
        assert!(body.get("systemInstruction").is_none(), "one spelling only");
        assert_eq!(body["system_instruction"]["parts"][0]["text"], PROMPT);
        let body = shaped(WireFormat::Gemini, json!({"systemInstruction": "x"}));
        assert_eq!(body["systemInstruction"], format!("{PROMPT}\n\nx"));
    }

    #[test]
    fn responses_prompt_goes_before_the_instructions() {
        let body = shaped(WireFormat::Responses, json!({"input": "hi"}));
        assert_eq!(body["instructions"], PROMPT);
        let body = shaped(
            WireFormat::Responses,
            json!({"input": "hi", "instructions": "You are Codex."}),
        );
        assert_eq!(body["instructions"], format!("{PROMPT}\n\nYou are Codex."));
    }

    #[test]
    fn malformed_bodies_and_empty_prompts_are_left_alone() {
        for format in [
            WireFormat::Openai,
            WireFormat::Anthropic,
            WireFormat::Gemini,
            WireFormat::Responses,
        ] {
            let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
            let before = body.clone();
            inject_system_prompt(format, &mut body, "");
            assert_eq!(body, before, "{format:?}");
            let mut array = json!([1, 2]);
            inject_system_prompt(format, &mut array, PROMPT);
            assert_eq!(array, json!([1, 2]));
        }
        let body = shaped(WireFormat::Anthropic, json!({"system": 3}));
        assert_eq!(
            body["system"], 3,
            "a system of no known shape is not replaced"
        );
        let body = shaped(WireFormat::Openai, json!({"messages": "hi"}));
        assert_eq!(body["messages"], "hi");
    }

    #[test]
    fn requests_without_thinking_are_untouched_in_every_mode() {
        let bodies = [
            (WireFormat::Openai, json!({"messages": []})),
            (
                WireFormat::Openai,
                json!({"messages": [], "reasoning_effort": "none"}),
            ),
            (
                WireFormat::Responses,
                json!({"input": "x", "reasoning": {"summary": "auto"}}),
            ),
            (
                WireFormat::Anthropic,
                json!({"max_tokens": 100, "messages": []}),
            ),
            (
                WireFormat::Anthropic,
                json!({"max_tokens": 100, "thinking": {"type": "disabled"}}),
            ),
            (
                WireFormat::Gemini,
                json!({"contents": [], "generationConfig": {"temperature": 1}}),
            ),
            (
                WireFormat::Gemini,
                json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}),
            ),
        ];
        for mode in [
            ThinkingMode::Auto,
            ThinkingMode::Custom,
            ThinkingMode::Adaptive,
        ] {
            for (format, body) in &bodies {
                let out = thought(*format, body.clone(), mode, 16_000, 1 << 20, None);
                assert_eq!(&out, body, "{format:?} {mode:?}");
            }
        }
    }

    #[test]
    fn passthrough_changes_nothing() {
        let body =
            json!({"max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 5000}});
        let out = thought(
            WireFormat::Anthropic,
            body.clone(),
            ThinkingMode::Passthrough,
            2048,
            0,
            None,
        );
        assert_eq!(out, body);
    }

    #[test]
    fn openai_and_responses_take_the_effort_of_the_budget() {
        let chat = json!({"messages": [], "reasoning_effort": "low"});
        let out = thought(
            WireFormat::Openai,
            chat.clone(),
            ThinkingMode::Custom,
            30_000,
            0,
            None,
        );
        assert_eq!(out["reasoning_effort"], "high");
        let out = thought(
            WireFormat::Openai,
            chat.clone(),
            ThinkingMode::Custom,
            8192,
            0,
            None,
        );
        assert_eq!(out["reasoning_effort"], "medium");
        let out = thought(
            WireFormat::Openai,
            chat.clone(),
            ThinkingMode::Auto,
            30_000,
            0,
            None,
        );
        assert_eq!(out, chat, "auto keeps the request's own effort");

        let xhigh = json!({"input": "x", "reasoning": {"effort": "xhigh", "summary": "auto"}});
        let out = thought(
            WireFormat::Responses,
            xhigh.clone(),
            ThinkingMode::Custom,
            100_000,
            0,
            None,
        );
        assert_eq!(out, xhigh, "xhigh already means high");
        let out = thought(
            WireFormat::Responses,
            xhigh,
            ThinkingMode::Custom,
            1024,
            0,
            None,
        );
        assert_eq!(
            out["reasoning"],
            json!({"effort": "minimal", "summary": "auto"})
        );
    }

    #[test]
    fn auto_normalises_a_budget_to_its_effort() {
        let body =
            json!({"max_tokens": 32_000, "thinking": {"type": "enabled", "budget_tokens": 5000}});
        let out = thought(
            WireFormat::Anthropic,
            body,
            ThinkingMode::Auto,
            2048,
            0,
            None,
        );
        assert_eq!(out["thinking"]["budget_tokens"], Effort::Medium.budget());
        assert_eq!(out["max_tokens"], 32_000);

        let body = json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 20_000, "includeThoughts": true}}});
        let out = thought(WireFormat::Gemini, body, ThinkingMode::Auto, 2048, 0, None);
        assert_eq!(
            out["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingBudget": Effort::High.budget()})
        );

        // Budgets chosen by the model have nothing to normalise.
        for (format, body) in [
            (
                WireFormat::Anthropic,
                json!({"max_tokens": 9000, "thinking": {"type": "adaptive"}}),
            ),
            (
                WireFormat::Gemini,
                json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": -1}}}),
            ),
            (
                WireFormat::Gemini,
                json!({"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),
            ),
        ] {
            let out = thought(format, body.clone(), ThinkingMode::Auto, 2048, 0, None);
            assert_eq!(out, body, "{format:?}");
        }
    }

    #[test]
    fn anthropic_custom_budget_raises_max_tokens_within_the_model_cap() {
        let body =
            json!({"max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2000}});
        let model = claude(Some(64_000));
        let out = thought(
            WireFormat::Anthropic,
            body.clone(),
            ThinkingMode::Custom,
            16_000,
            0,
            Some(&model),
        );
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 16_000})
        );
        assert_eq!(out["max_tokens"], 17_024);

        // A cap below budget + answer: max_tokens goes to the cap and the
        // budget leaves room for an answer.
        let small = claude(Some(10_000));
        let out = thought(
            WireFormat::Anthropic,
            body.clone(),
            ThinkingMode::Custom,
            16_000,
            0,
            Some(&small),
        );
        assert_eq!(out["max_tokens"], 10_000);
        assert_eq!(out["thinking"]["budget_tokens"], 10_000 - 1024);

        // The caller's larger max_tokens is kept.
        let roomy =
            json!({"max_tokens": 50_000, "thinking": {"type": "enabled", "budget_tokens": 2000}});
        let out = thought(
            WireFormat::Anthropic,
            roomy,
            ThinkingMode::Custom,
            16_000,
            0,
            Some(&model),
        );
        assert_eq!(out["max_tokens"], 50_000);
        assert_eq!(out["thinking"]["budget_tokens"], 16_000);

        // Without max_tokens, the default is the starting point.
        let bare = json!({"thinking": {"type": "enabled", "budget_tokens": 2000}});
        let out = thought(
            WireFormat::Anthropic,
            bare,
            ThinkingMode::Custom,
            4096,
            0,
            None,
        );
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(out["thinking"]["budget_tokens"], 4096);
    }

    #[test]
    fn auto_lowers_a_budget_that_cannot_fit_to_an_effort_that_does() {
        let body =
            json!({"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 5000}});
        let model = claude(Some(6000));
        let out = thought(
            WireFormat::Anthropic,
            body,
            ThinkingMode::Auto,
            2048,
            0,
            Some(&model),
        );
        assert_eq!(out["max_tokens"], 6000);
        assert_eq!(
            out["thinking"]["budget_tokens"],
            Effort::Low.budget(),
            "medium (8192) cannot fit below 6000 with room to answer; low can"
        );
    }

    #[test]
    fn anthropic_budget_that_cannot_fit_leaves_the_request_alone() {
        let body =
            json!({"max_tokens": 900, "thinking": {"type": "enabled", "budget_tokens": 800}});
        let tiny = claude(Some(1000));
        let out = thought(
            WireFormat::Anthropic,
            body.clone(),
            ThinkingMode::Custom,
            8192,
            0,
            Some(&tiny),
        );
        assert_eq!(out, body);
        // Just enough room for the minimum budget below the cap.
        let snug = claude(Some(1500));
        let out = thought(
            WireFormat::Anthropic,
            body,
            ThinkingMode::Custom,
            8192,
            0,
            Some(&snug),
        );
        assert_eq!(out["max_tokens"], 1500);
        assert_eq!(out["thinking"]["budget_tokens"], 1024);
    }

    #[test]
    fn anthropic_adaptive_thinking_gets_a_fixed_budget_in_custom_mode() {
        let body = json!({"max_tokens": 32_000, "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}});
        let out = thought(
            WireFormat::Anthropic,
            body,
            ThinkingMode::Custom,
            10_000,
            0,
            None,
        );
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 10_000})
        );
        assert_eq!(out["output_config"]["effort"], "high");
    }

    #[test]
    fn gemini_budget_replaces_a_level_and_keeps_one_spelling() {
        let body = json!({"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "includeThoughts": true}}});
        let out = thought(
            WireFormat::Gemini,
            body,
            ThinkingMode::Custom,
            12_000,
            0,
            None,
        );
        assert_eq!(
            out["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingBudget": 12_000})
        );
        let snake = json!({"generation_config": {"thinking_config": {"thinking_budget": 500}}});
        let out = thought(
            WireFormat::Gemini,
            snake,
            ThinkingMode::Custom,
            12_000,
            0,
            None,
        );
        assert_eq!(
            out["generation_config"]["thinking_config"],
            json!({"thinkingBudget": 12_000})
        );
    }

    #[test]
    fn adaptive_scales_with_the_request_within_its_bounds() {
        let body = json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 2048}}});
        let budget_for = |bytes: usize| {
            let out = thought(
                WireFormat::Gemini,
                body.clone(),
                ThinkingMode::Adaptive,
                16_000,
                bytes,
                None,
            );
            out["generationConfig"]["thinkingConfig"]["thinkingBudget"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(budget_for(0), 1024, "a short request gets the floor");
        assert_eq!(budget_for(4 * 1024 * 2), 1024);
        assert_eq!(budget_for(40_000), 5000, "40 kB = 10k tokens -> 5k budget");
        assert_eq!(budget_for(80_000), 10_000);
        assert_eq!(
            budget_for(10 << 20),
            16_000,
            "a huge request gets the ceiling"
        );
        assert!(budget_for(40_000) < budget_for(80_000));

        // A ceiling below the floor (not a valid setting) still cannot panic.
        let out = thought(
            WireFormat::Gemini,
            body,
            ThinkingMode::Adaptive,
            0,
            1 << 20,
            None,
        );
        assert_eq!(
            out["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            1024
        );
    }

    fn format() -> impl Strategy<Value = WireFormat> {
        prop::sample::select(vec![
            WireFormat::Openai,
            WireFormat::Anthropic,
            WireFormat::Gemini,
            WireFormat::Responses,
        ])
    }

    fn mode() -> impl Strategy<Value = ThinkingMode> {
        prop::sample::select(vec![
            ThinkingMode::Passthrough,
            ThinkingMode::Auto,
            ThinkingMode::Custom,
            ThinkingMode::Adaptive,
        ])
    }

    /// JSON whose keys are mostly the ones shaping reads, so the shapes it
    /// handles (and almost-right ones) come up often.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "messages",
            "role",
            "content",
            "system",
            "developer",
            "text",
            "type",
            "parts",
            "systemInstruction",
            "system_instruction",
            "instructions",
            "reasoning",
            "effort",
            "reasoning_effort",
            "thinking",
            "enabled",
            "adaptive",
            "budget_tokens",
            "max_tokens",
            "output_config",
            "generationConfig",
            "generation_config",
            "thinkingConfig",
            "thinking_config",
            "thinkingBudget",
            "thinking_budget",
            "thinkingLevel",
            "includeThoughts",
            "high",
            "x",
        ])
        .prop_map(str::to_string);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            key.clone().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// A number as shaping meets them: mostly token counts around the
    /// limits, sometimes anything.
    fn count() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => (0u64..70_000).prop_map(Value::from),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
            1 => Just(Value::from(-1)),
            1 => Just(Value::from(0)),
            1 => json(),
        ]
    }

    fn effort() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => prop::sample::select(vec!["none", "minimal", "low", "medium", "high", "xhigh", "HIGH"])
                .prop_map(Value::from),
            1 => json(),
        ]
    }

    /// Bodies shaped like each format's thinking and system fields, with
    /// values that are right, borderline or wrong.
    fn near_valid() -> impl Strategy<Value = Value> {
        let kind = prop_oneof![
            3 => prop::sample::select(vec!["enabled", "adaptive", "disabled"]).prop_map(Value::from),
            1 => json(),
        ];
        prop_oneof![
            (json(), effort()).prop_map(|(system, effort)| json!({
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}],
                "reasoning_effort": effort,
            })),
            (json(), effort()).prop_map(|(instructions, effort)| json!({
                "input": "hi", "instructions": instructions, "reasoning": {"effort": effort},
            })),
            (json(), count(), kind, count(), effort()).prop_map(|(system, max, kind, budget, effort)| json!({
                "system": system, "max_tokens": max,
                "thinking": {"type": kind, "budget_tokens": budget},
                "output_config": {"effort": effort},
            })),
            (json(), count(), effort(), any::<bool>()).prop_map(|(system, budget, level, show)| json!({
                "contents": [], "systemInstruction": system,
                "generationConfig": {"thinkingConfig": {"thinkingBudget": budget, "thinkingLevel": level, "includeThoughts": show}},
            })),
            (count(), any::<bool>()).prop_map(|(budget, show)| json!({
                "generation_config": {"thinking_config": {"thinking_budget": budget, "include_thoughts": show}},
            })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn shaping_never_panics_and_is_idempotent(
            body in prop_oneof![json(), near_valid()],
            format in format(),
            mode in mode(),
            budget in any::<u32>(),
            bytes in any::<usize>(),
            max_output in proptest::option::of(prop_oneof![0u64..70_000, any::<u64>()]),
            prompt in "\\PC{0,12}",
        ) {
            let model = ModelDef { max_output, ..ModelDef::bare("m") };
            let mut once = body.clone();
            inject_system_prompt(format, &mut once, &prompt);
            apply_thinking(format, &mut once, mode, budget, bytes, Some(&model));
            let mut twice = once.clone();
            inject_system_prompt(format, &mut twice, &prompt);
            apply_thinking(format, &mut twice, mode, budget, bytes, Some(&model));
            prop_assert_eq!(once, twice);
        }

        /// Whatever Claude request and mode, a budget the gateway sets
        /// fits below `max_tokens` within the model's cap, and shaping
        /// again changes nothing.
        #[test]
        fn claude_budgets_fit_and_settle(
            max in proptest::option::of(0u64..80_000),
            own in 0u64..80_000,
            mode in mode(),
            budget in 1024u32..=128_000,
            bytes in 0usize..2_000_000,
            cap in proptest::option::of(0u64..80_000),
        ) {
            let model = ModelDef { max_output: cap, ..ModelDef::bare("claude") };
            let mut body = json!({"thinking": {"type": "enabled", "budget_tokens": own}});
            if let Some(max) = max {
                body["max_tokens"] = json!(max);
            }
            let before = body.clone();
            apply_thinking(WireFormat::Anthropic, &mut body, mode, budget, bytes, Some(&model));
            if body != before {
                let set = body["thinking"]["budget_tokens"].as_u64().unwrap();
                let max_tokens = body["max_tokens"].as_u64().unwrap();
                prop_assert!(set >= MIN_BUDGET && set < max_tokens, "{body}");
                let asked = max.unwrap_or(DEFAULT_MAX_TOKENS);
                prop_assert!(max_tokens == asked || Some(max_tokens) <= cap.or(Some(u64::MAX)), "{body}");
            }
            let once = body.clone();
            apply_thinking(WireFormat::Anthropic, &mut body, mode, budget, bytes, Some(&model));
            prop_assert_eq!(body, once);
        }
    }
}
