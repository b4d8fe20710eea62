//! Responses requests: `input` items and settings <-> the IR request.

use serde_json::{Map, Value, json};

use super::super::ir::{Effort, Message, Part, Request, ResponseFormat, Role, Tool, ToolChoice};
use super::super::{TranslateError, flat_text};
use super::reasoning_part;

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError(message.into())
}

/// Appends parts to the conversation. Consecutive items of one role become
/// one IR message: a turn's reasoning, text and function calls arrive as
/// separate items, and parallel calls' outputs belong in one tool turn.
fn push(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => messages.push(Message { role, parts }),
    }
}

/// The parts of a message item's `content` (a string or content parts).
/// Clients send both `text` and `input_text`/`output_text` parts; all are
/// text.
fn decode_content(at: &str, content: &Value) -> Result<Vec<Part>, TranslateError> {
    let items = match content {
        Value::String(s) if s.is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![Part::text(s.as_str())]),
        Value::Array(items) => items,
        _ => {
            return Err(invalid(format!(
                "`{at}.content` must be a string or a list of content parts"
            )));
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, item) in items.iter().enumerate() {
        let text = |key: &str| {
            item[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("`{at}.content[{j}].{key}` must be a string")))
        };
        match item["type"].as_str() {
            Some("input_text" | "output_text" | "text") => {
                let text = text("text")?;
                if !text.is_empty() {
                    parts.push(Part::Text { text });
                }
            }
            Some("refusal") => {
                let text = text("refusal")?;
                if !text.is_empty() {
                    parts.push(Part::Text { text });
                }
            }
            Some("input_image") => {
                let url = item["image_url"]
                    .as_str()
                    .or_else(|| item["image_url"]["url"].as_str())
                    .filter(|u| !u.is_empty());
                match url {
                    Some(url) => parts.push(Part::Image {
                        url: url.to_string(),
                    }),
                    None if item.get("file_id").is_some_and(|f| !f.is_null()) => {
                        return Err(invalid(format!(
                            "`{at}.content[{j}]`: file ids are not supported; send the image as `image_url` (a URL or a data: URL)"
                        )));
                    }
                    None => {
                        return Err(invalid(format!(
                            "`{at}.content[{j}]`: an input_image needs an `image_url`"
                        )));
                    }
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "`{at}.content[{j}]`: content parts of type `{other}` are not supported"
                )));
            }
            None => {
                return Err(invalid(format!(
                    "`{at}.content[{j}].type` must be a string"
                )));
            }
        }
    }
    Ok(parts)
}

/// A non-empty string field of an input item.
fn required_str<'a>(item: &'a Value, at: &str, key: &str) -> Result<&'a str, TranslateError> {
    item[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("`{at}.{key}` must be a non-empty string")))
}

/// One `input` item into the conversation.
fn decode_item(n: usize, item: &Value, messages: &mut Vec<Message>) -> Result<(), TranslateError> {
    let at = format!("input[{n}]");
    if !item.is_object() {
        return Err(invalid(format!("`{at}` must be an object")));
    }
    // A message may leave out its `type`.
    let kind = match &item["type"] {
        Value::Null => "message",
        Value::String(kind) => kind.as_str(),
        _ => return Err(invalid(format!("`{at}.type` must be a string"))),
    };
    match kind {
        "message" => {
            let role = match item["role"].as_str() {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                Some("developer") => Role::Developer,
                other => return Err(invalid(format!("`{at}.role`: unknown role {other:?}"))),
            };
            let parts = decode_content(&at, &item["content"])?;
            push(messages, role, parts);
        }
        "function_call" => {
            let arguments = match &item["arguments"] {
                Value::String(s) => s.clone(),
                Value::Null => "{}".to_string(),
                other => other.to_string(),
            };
            let call = Part::ToolCall {
                id: required_str(item, &at, "call_id")?.to_string(),
                name: required_str(item, &at, "name")?.to_string(),
                arguments,
            };
            push(messages, Role::Assistant, vec![call]);
        }
        "function_call_output" => {
            let content = match &item["output"] {
                Value::String(s) => s.clone(),
                output @ Value::Array(_) => flat_text(output),
                _ => {
                    return Err(invalid(format!(
                        "`{at}.output` must be a string or a list of content parts"
                    )));
                }
            };
            let result = Part::ToolResult {
                call_id: required_str(item, &at, "call_id")?.to_string(),
                content,
                is_error: false,
            };
            push(messages, Role::Tool, vec![result]);
        }
        "reasoning" => push(
            messages,
            Role::Assistant,
            reasoning_part(item).into_iter().collect(),
        ),
        // `item_reference` points at stored state OmniRoute does not have,
        // and hosted or custom tool calls (web_search_call,
        // local_shell_call, custom_tool_call...) have no IR form.
        _ => {}
    }
    Ok(())
}

/// The function tools of `tools`. Hosted and other tool kinds (web_search,
/// namespace, custom, local_shell, file_search...) cannot be offered to
/// another provider and are left out.
fn decode_tools(tools: &Value) -> Result<Vec<Tool>, TranslateError> {
    let list = match tools {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err(invalid("`tools` must be an array")),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        if tool["type"] != "function" {
            continue;
        }
        let name = tool["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("`tools[{i}].name` must be a non-empty string")))?;
        out.push(Tool {
            name: name.to_string(),
            description: tool["description"].as_str().map(str::to_string),
            parameters: match &tool["parameters"] {
                Value::Null => json!({"type": "object", "properties": {}}),
                schema => schema.clone(),
            },
        });
    }
    Ok(out)
}

fn decode_tool_choice(choice: &Value) -> Result<Option<ToolChoice>, TranslateError> {
    let mode = |mode: &str| match mode {
        "auto" => Ok(Some(ToolChoice::Auto)),
        "none" => Ok(Some(ToolChoice::None)),
        "required" => Ok(Some(ToolChoice::Required)),
        other => Err(invalid(format!(
            "`tool_choice`: unknown mode {other:?} (auto, none or required)"
        ))),
    };
    match choice {
        Value::Null => Ok(None),
        Value::String(s) => mode(s),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| invalid("`tool_choice.name` must be a non-empty string"))?;
                Ok(Some(ToolChoice::Tool {
                    name: name.to_string(),
                }))
            }
            Some("allowed_tools") => mode(o.get("mode").and_then(Value::as_str).unwrap_or("auto")),
            // A hosted tool the IR cannot offer: let the model choose.
            _ => Ok(None),
        },
        _ => Err(invalid("`tool_choice` must be a string or an object")),
    }
}

fn decode_response_format(text: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    let format = &text["format"];
    Ok(match format["type"].as_str() {
        None | Some("text") => None,
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => Some(ResponseFormat::JsonSchema {
            name: format["name"].as_str().unwrap_or("response").to_string(),
            schema: match &format["schema"] {
                Value::Null => json!({}),
                schema => schema.clone(),
            },
            strict: format["strict"].as_bool().unwrap_or(false),
        }),
        Some(other) => {
            return Err(invalid(format!(
                "`text.format.type`: unknown format {other:?}"
            )));
        }
    })
}

fn number(body: &Value, key: &str) -> Result<Option<f64>, TranslateError> {
    match &body[key] {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        _ => Err(invalid(format!("`{key}` must be a number"))),
    }
}

fn count(body: &Value, key: &str) -> Result<Option<u64>, TranslateError> {
    match &body[key] {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be a non-negative integer"))),
    }
}

/// A Responses request in IR.
pub fn decode_request(body: &Value) -> Result<Request, TranslateError> {
    if !body.is_object() {
        return Err(invalid("the request body must be a JSON object"));
    }
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("`model` is required"))?;
    if !body["previous_response_id"].is_null() {
        return Err(invalid(
            "previous_response_id is not supported: OmniRoute keeps no conversation state; send the whole conversation in `input`",
        ));
    }
    let mut messages = Vec::new();
    match &body["instructions"] {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => push(&mut messages, Role::System, vec![Part::text(s.as_str())]),
        _ => return Err(invalid("`instructions` must be a string")),
    }
    match &body["input"] {
        Value::String(s) => push(&mut messages, Role::User, vec![Part::text(s.as_str())]),
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                decode_item(n, item, &mut messages)?;
            }
        }
        Value::Null => return Err(invalid("`input` is required")),
        _ => return Err(invalid("`input` must be a string or a list of items")),
    }
    let stream = match &body["stream"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err(invalid("`stream` must be a boolean")),
    };
    let reasoning_effort = match &body["reasoning"]["effort"] {
        Value::Null => None,
        Value::String(effort) => Some(Effort::parse(effort).ok_or_else(|| {
            invalid(format!(
                "`reasoning.effort`: unknown effort {effort:?} (none, minimal, low, medium, high or xhigh)"
            ))
        })?),
        _ => return Err(invalid("`reasoning.effort` must be a string")),
    };
    Ok(Request {
        model: model.to_string(),
        messages,
        tools: decode_tools(&body["tools"])?,
        tool_choice: decode_tool_choice(&body["tool_choice"])?,
        max_tokens: count(body, "max_output_tokens")?,
        temperature: number(body, "temperature")?,
        top_p: number(body, "top_p")?,
        // The Responses API has no stop sequences.
        stop: Vec::new(),
        stream,
        reasoning_budget: None,
        reasoning_effort,
        response_format: decode_response_format(&body["text"])?,
    })
}

/// Writes one IR message as input items: text and images as a message
/// item, and each reasoning part, tool call and tool result as an item of
/// its own, in the message's order.
fn encode_message(message: &Message, input: &mut Vec<Value>) {
    let assistant = message.role == Role::Assistant;
    let (role, text_type) = if assistant {
        ("assistant", "output_text")
    } else {
        ("user", "input_text")
    };
    let mut content: Vec<Value> = Vec::new();
    let flush = |content: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !content.is_empty() {
            input
                .push(json!({"type": "message", "role": role, "content": std::mem::take(content)}));
        }
    };
    for part in &message.parts {
        match part {
            Part::Text { text } if !text.is_empty() => {
                content.push(json!({"type": text_type, "text": text}));
            }
            Part::Text { .. } => {}
            // Assistant messages hold only output text in this format.
            Part::Image { url } if !assistant => {
                content.push(json!({"type": "input_image", "image_url": url, "detail": "auto"}));
            }
            Part::Image { .. } => {}
            // Only a signature this family made can go back as
            // `encrypted_content`; unsigned reasoning is dropped, never
            // re-signed. The item goes without an `id`: with `store: false`
            // OpenAI looks an id up and fails, while the encrypted content
            // alone is enough.
            Part::Reasoning {
                text,
                signature: Some(signature),
            } if assistant => {
                flush(&mut content, input);
                let summary: Vec<Value> = if text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "summary_text", "text": text})]
                };
                let item = json!({"type": "reasoning", "summary": summary,
                    "encrypted_content": signature});
                input.push(item);
            }
            Part::Reasoning { .. } => {}
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                flush(&mut content, input);
                let item = json!({"type": "function_call", "call_id": id, "name": name,
                    "arguments": arguments});
                input.push(item);
            }
            // Responses has no error flag on a tool result: the text goes,
            // the flag is lost.
            Part::ToolResult {
                call_id,
                content: output,
                ..
            } => {
                flush(&mut content, input);
                input.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": output}),
                );
            }
        }
    }
    flush(&mut content, input);
}

/// The Responses body for an IR request. System and developer messages
/// become `instructions`; stop sequences have no place and are dropped.
pub fn encode_request(request: &Request) -> Value {
    let mut instructions: Vec<&str> = Vec::new();
    let mut input = Vec::new();
    for message in &request.messages {
        if matches!(message.role, Role::System | Role::Developer) {
            instructions.extend(message.parts.iter().filter_map(|p| match p {
                Part::Text { text } => Some(text.as_str()),
                _ => None,
            }));
        } else {
            encode_message(message, &mut input);
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    body.insert("input".into(), Value::Array(input));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("type".into(), json!("function"));
                tool.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    tool.insert("description".into(), json!(d));
                }
                tool.insert("parameters".into(), t.parameters.clone());
                // Responses defaults to strict schemas, which most schemas
                // written for other formats do not satisfy.
                tool.insert("strict".into(), json!(false));
                Value::Object(tool)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let v = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
        };
        body.insert("tool_choice".into(), v);
    }
    if let Some(n) = request.max_tokens {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    let effort = request
        .reasoning_effort
        .or(request.reasoning_budget.map(Effort::from_budget));
    if let Some(effort) = effort {
        body.insert("reasoning".into(), json!({"effort": effort.as_str()}));
        // Without stored state, the reasoning of one turn reaches the next
        // only as encrypted content.
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    if let Some(format) = &request.response_format {
        let format = match format {
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({"type": "json_schema", "name": name, "schema": schema, "strict": strict}),
        };
        body.insert("text".into(), json!({"format": format}));
    }
    body.insert("stream".into(), json!(request.stream));
    body.insert("store".into(), json!(false));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: Value) -> String {
        decode_request(&body).unwrap_err().0
    }

    #[test]
    fn a_string_input_is_one_user_message_after_the_instructions() {
        let r =
            decode_request(&json!({"model": "gpt-5", "instructions": "be brief", "input": "hi"}))
                .unwrap();
        assert_eq!(
            r.messages,
            vec![
                Message {
                    role: Role::System,
                    parts: vec![Part::text("be brief")]
                },
                Message {
                    role: Role::User,
                    parts: vec![Part::text("hi")]
                },
            ]
        );
        assert!(!r.stream);
        let empty =
            decode_request(&json!({"model": "m", "instructions": "", "input": "hi"})).unwrap();
        assert_eq!(empty.messages.len(), 1, "empty instructions add nothing");
    }

    #[test]
    fn every_text_part_type_is_text() {
        let r = decode_request(&json!({"model": "m", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "c"}, {"type": "refusal", "refusal": "no"}]},
            {"type": "message", "role": "developer", "content": "d"},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "e"}]}
        ]}))
        .unwrap();
        assert_eq!(r.messages[0].parts, vec![Part::text("a"), Part::text("b")]);
        assert_eq!(r.messages[1].parts, vec![Part::text("c"), Part::text("no")]);
        assert_eq!(r.messages[2].role, Role::Developer);
        assert_eq!(r.messages[3].role, Role::System);
    }

    #[test]
    fn function_call_items_join_the_assistant_turn_and_outputs_the_tool_turn() {
        let r = decode_request(&json!({"model": "m", "input": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": {"city": "Rome"}},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rain"}]},
            {"type": "item_reference", "id": "msg_old"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"}
        ]}))
        .unwrap();
        assert_eq!(r.messages.len(), 3);
        assert_eq!(
            r.messages[1],
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::text("Checking."),
                    Part::ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        arguments: "{\"city\":\"Paris\"}".into()
                    },
                    Part::ToolCall {
                        id: "call_2".into(),
                        name: "weather".into(),
                        arguments: "{\"city\":\"Rome\"}".into()
                    },
                ]
            }
        );
        assert_eq!(
            r.messages[2],
            Message {
                role: Role::Tool,
                parts: vec![
                    Part::ToolResult {
                        call_id: "call_1".into(),
                        content: "sunny".into(),
                        is_error: false
                    },
                    Part::ToolResult {
                        call_id: "call_2".into(),
                        content: "rain".into(),
                        is_error: false
                    },
                ]
            }
        );
    }

    #[test]
    fn images_by_url_or_data_url_and_never_by_file_id() {
        let r = decode_request(&json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
        ]}]}))
        .unwrap();
        assert_eq!(
            r.messages[0].parts,
            vec![
                Part::Image {
                    url: "https://example.com/cat.png".into()
                },
                Part::Image {
                    url: "data:image/png;base64,iVBORw0KGgo=".into()
                },
            ]
        );
        let e = err(
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
        );
        assert!(e.contains("file ids are not supported"), "{e}");
    }

    #[test]
    fn settings_map_to_the_ir() {
        let r = decode_request(&json!({
            "model": "gpt-5", "input": "hi", "stream": true, "max_output_tokens": 300, "temperature": 0.2, "top_p": 0.9,
            "reasoning": {"effort": "xhigh", "summary": "auto"},
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true}},
            "tool_choice": {"type": "function", "name": "ls"},
            "store": true, "include": ["reasoning.encrypted_content"], "parallel_tool_calls": false,
            "prompt_cache_key": "k", "metadata": {"a": "b"}, "user": "u", "service_tier": "auto", "truncation": "auto",
            "previous_response_id": null
        }))
        .unwrap();
        assert!(r.stream);
        assert_eq!(r.max_tokens, Some(300));
        assert_eq!(r.temperature, Some(0.2));
        assert_eq!(r.top_p, Some(0.9));
        assert_eq!(r.reasoning_effort, Some(Effort::High));
        assert_eq!(r.tool_choice, Some(ToolChoice::Tool { name: "ls".into() }));
        assert_eq!(
            r.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
                strict: true
            })
        );
        let plain = decode_request(
            &json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}}}),
        )
        .unwrap();
        assert_eq!(plain.response_format, None);
        let object = decode_request(
            &json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}),
        )
        .unwrap();
        assert_eq!(object.response_format, Some(ResponseFormat::JsonObject));
        for (choice, expected) in [
            ("auto", ToolChoice::Auto),
            ("none", ToolChoice::None),
            ("required", ToolChoice::Required),
        ] {
            let r = decode_request(&json!({"model": "m", "input": "x", "tool_choice": choice}))
                .unwrap();
            assert_eq!(r.tool_choice, Some(expected));
        }
    }

    #[test]
    fn only_function_tools_are_kept() {
        let r = decode_request(&json!({"model": "m", "input": "x", "tools": [
            {"type": "function", "name": "exec_command", "description": "run", "strict": false, "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn_agent"}]},
            {"type": "web_search", "external_web_access": false},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
            {"type": "local_shell"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "function", "name": "noop"}
        ]}))
        .unwrap();
        assert_eq!(
            r.tools,
            vec![
                Tool {
                    name: "exec_command".into(),
                    description: Some("run".into()),
                    parameters: json!({"type": "object", "properties": {"cmd": {"type": "string"}}})
                },
                Tool {
                    name: "noop".into(),
                    description: None,
                    parameters: json!({"type": "object", "properties": {}})
                },
            ]
        );
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason_naming_the_field() {
        let cases = [
            (json!([1, 2]), "JSON object"),
            (json!({"input": "x"}), "`model`"),
            (json!({"model": "m"}), "`input`"),
            (json!({"model": "m", "input": 5}), "`input`"),
            (
                json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
                "previous_response_id is not supported",
            ),
            (
                json!({"model": "m", "input": [{"role": "wizard", "content": "x"}]}),
                "input[0].role",
            ),
            (json!({"model": "m", "input": ["x"]}), "input[0]"),
            (
                json!({"model": "m", "input": [{"role": "user", "content": 5}]}),
                "input[0].content",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "input_audio",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "", "arguments": "{}"}]}),
                "input[0].name",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": 1}]}),
                "input[0].output",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": ""}]}),
                "tools[0].name",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
                "tools[0].name",
            ),
            (json!({"model": "m", "input": "x", "tools": {}}), "`tools`"),
            (
                json!({"model": "m", "input": "x", "tool_choice": "sometimes"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "input": "x", "tool_choice": {"type": "function", "name": ""}}),
                "tool_choice.name",
            ),
            (
                json!({"model": "m", "input": "x", "temperature": "hot"}),
                "temperature",
            ),
            (
                json!({"model": "m", "input": "x", "max_output_tokens": -1}),
                "max_output_tokens",
            ),
            (
                json!({"model": "m", "input": "x", "stream": "yes"}),
                "stream",
            ),
            (
                json!({"model": "m", "input": "x", "reasoning": {"effort": "extreme"}}),
                "reasoning.effort",
            ),
            (
                json!({"model": "m", "input": "x", "instructions": ["a"]}),
                "instructions",
            ),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}),
                "text.format.type",
            ),
        ];
        for (body, needle) in cases {
            let e = err(body.clone());
            assert!(e.contains(needle), "{body} -> {e:?} should name {needle}");
        }
    }

    #[test]
    fn encode_writes_items_instructions_and_settings() {
        let request = Request {
            model: "gpt-5".into(),
            messages: vec![
                Message {
                    role: Role::System,
                    parts: vec![Part::text("be brief")],
                },
                Message {
                    role: Role::Developer,
                    parts: vec![Part::text("use tools")],
                },
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::text("look"),
                        Part::Image {
                            url: "data:image/png;base64,QUJD".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Reasoning {
                            text: "from another model".into(),
                            signature: None,
                        },
                        Part::Reasoning {
                            text: "mine".into(),
                            signature: Some("gAAAA".into()),
                        },
                        Part::text("Listing."),
                        Part::ToolCall {
                            id: "call_1".into(),
                            name: "ls".into(),
                            arguments: "{}".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult {
                        call_id: "call_1".into(),
                        content: "permission denied".into(),
                        is_error: true,
                    }],
                },
            ],
            stop: vec!["END".into()],
            reasoning_budget: Some(3000),
            ..Default::default()
        };
        let body = encode_request(&request);
        assert_eq!(body["instructions"], "be brief\n\nuse tools");
        assert_eq!(
            body["input"],
            json!([
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "data:image/png;base64,QUJD", "detail": "auto"}]},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "mine"}], "encrypted_content": "gAAAA"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Listing."}]},
                {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "permission denied"}
            ])
        );
        assert_eq!(
            body["reasoning"],
            json!({"effort": "low"}),
            "budget 3000 is low effort"
        );
        assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
        assert_eq!(body["store"], false);
        assert_eq!(body["stream"], false);
        assert!(body.get("stop").is_none());
        assert!(body.get("tools").is_none());
        let plain = encode_request(&Request {
            model: "m".into(),
            ..Default::default()
        });
        assert!(plain.get("reasoning").is_none() && plain.get("include").is_none());
        assert!(plain.get("instructions").is_none());
    }
}
