//! Gemini generateContent request bodies <-> IR requests.

use serde_json::{Map, Value, json};

use super::{args_object, field, image_part, image_url, invalid};
use crate::translate::TranslateError;
use crate::translate::ir::{
    Effort, Message, Part, Request, ResponseFormat, Role, Tool, ToolChoice,
};

/// Gemini's OpenAPI-style schemas spell types in capitals (`OBJECT`,
/// `STRING`); JSON Schema wants them in lower case, and other providers
/// reject the capitals.
fn normalize_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("type", Value::String(t)) => Value::String(lower_type(t)),
                        ("type", Value::Array(ts)) => Value::Array(
                            ts.iter()
                                .map(|t| match t {
                                    Value::String(t) => Value::String(lower_type(t)),
                                    other => other.clone(),
                                })
                                .collect(),
                        ),
                        _ => normalize_schema(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize_schema).collect()),
        other => other.clone(),
    }
}

fn lower_type(t: &str) -> String {
    match t {
        "STRING" | "NUMBER" | "INTEGER" | "BOOLEAN" | "ARRAY" | "OBJECT" | "NULL" => {
            t.to_ascii_lowercase()
        }
        _ => t.to_string(),
    }
}

/// A whole number field, when present.
fn opt_u64(object: &Value, camel: &str, snake: &str) -> Result<Option<u64>, TranslateError> {
    match field(object, camel, snake) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{camel}` must be a non-negative integer"))),
    }
}

fn opt_f64(object: &Value, camel: &str, snake: &str) -> Result<Option<f64>, TranslateError> {
    match field(object, camel, snake) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{camel}` must be a number"))),
    }
}

/// A tool call the conversation made, to pair results that carry only a name.
struct Call {
    id: String,
    name: String,
    answered: bool,
}

/// Walks `contents` in order, naming calls that came without an id and
/// pairing the results to their calls.
#[derive(Default)]
struct Conversation {
    calls: Vec<Call>,
    generated: usize,
}

impl Conversation {
    fn next_id(&mut self) -> String {
        let id = format!("call_{}", self.generated);
        self.generated += 1;
        id
    }

    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = match id.filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => self.next_id(),
        };
        self.calls.push(Call {
            id: id.clone(),
            name: name.to_string(),
            answered: false,
        });
        id
    }

    /// The id of the call a result answers: its own id when it has one,
    /// else the earliest unanswered call of the same function.
    fn result(&mut self, id: Option<&str>, name: &str) -> String {
        let found = match id.filter(|i| !i.is_empty()) {
            Some(id) => self.calls.iter_mut().find(|c| c.id == id),
            None => self
                .calls
                .iter_mut()
                .find(|c| !c.answered && c.name == name),
        };
        match (found, id.filter(|i| !i.is_empty())) {
            (Some(call), _) => {
                call.answered = true;
                call.id.clone()
            }
            (None, Some(id)) => id.to_string(),
            (None, None) => self.next_id(),
        }
    }
}

/// The text a `functionResponse.response` stands for: `{"result": text}`
/// (how [`encode_request`] wraps plain text) unwraps, other objects stay
/// JSON; `{"error": ...}` marks a failed call.
fn result_content(response: Option<&Value>) -> (String, bool) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Some(response) = response else {
        return (String::new(), false);
    };
    if let Some(error) = response.get("error").filter(|e| !e.is_null()) {
        return (text(error), true);
    }
    match response.as_object() {
        Some(map) if map.len() == 1 => match map.get("result") {
            Some(Value::String(s)) => (s.clone(), false),
            _ => (response.to_string(), false),
        },
        _ => (text(response), false),
    }
}

/// Adds one Gemini part to `parts`. Consecutive thought parts form one
/// reasoning block until one carries its signature (streamed answers
/// replayed as history arrive cut in pieces, the signature last).
fn decode_part(
    part: &Value,
    at: &str,
    conversation: &mut Conversation,
    parts: &mut Vec<Part>,
) -> Result<(), TranslateError> {
    if !part.is_object() {
        return Err(invalid(format!("`{at}` must be an object")));
    }
    let signature = field(part, "thoughtSignature", "thought_signature")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(text) = part.get("text").filter(|t| !t.is_null()) {
        let text = text
            .as_str()
            .ok_or_else(|| invalid(format!("`{at}.text` must be a string")))?;
        if part["thought"].as_bool() == Some(true) {
            if let Some(Part::Reasoning {
                text: previous,
                signature: open @ None,
            }) = parts.last_mut()
            {
                previous.push_str(text);
                *open = signature;
            } else if !text.is_empty() || signature.is_some() {
                parts.push(Part::Reasoning {
                    text: text.to_string(),
                    signature,
                });
            }
        } else if !text.is_empty() {
            parts.push(Part::text(text));
        }
        return Ok(());
    }
    let inline = field(part, "inlineData", "inline_data");
    let file = field(part, "fileData", "file_data");
    if inline.is_some() || file.is_some() {
        let url = image_url(inline, file)
            .ok_or_else(|| invalid(format!("`{at}.fileData.fileUri` must be a string")))?;
        parts.push(Part::Image { url });
        return Ok(());
    }
    if let Some(call) = field(part, "functionCall", "function_call") {
        let name = call["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("`{at}.functionCall.name` must not be empty")))?;
        let id = conversation.call(call["id"].as_str(), name);
        let arguments = match call.get("args").filter(|a| !a.is_null()) {
            Some(args @ Value::Object(_)) => args.to_string(),
            Some(_) => {
                return Err(invalid(format!(
                    "`{at}.functionCall.args` must be an object"
                )));
            }
            None => "{}".to_string(),
        };
        parts.push(Part::ToolCall {
            id,
            name: name.to_string(),
            arguments,
        });
        return Ok(());
    }
    if let Some(result) = field(part, "functionResponse", "function_response") {
        let name = result["name"].as_str().unwrap_or_default();
        let call_id = conversation.result(result["id"].as_str(), name);
        let (content, is_error) = result_content(result.get("response"));
        parts.push(Part::ToolResult {
            call_id,
            content,
            is_error,
        });
        return Ok(());
    }
    // Server-side tool traces (code execution, search) and bare signature
    // carriers have no meaning for another model.
    const SKIPPED: &[&str] = &[
        "executableCode",
        "executable_code",
        "codeExecutionResult",
        "code_execution_result",
        "thoughtSignature",
        "thought_signature",
        "thought",
        "videoMetadata",
        "video_metadata",
    ];
    if SKIPPED.iter().any(|k| part.get(*k).is_some()) {
        return Ok(());
    }
    Err(invalid(format!(
        "`{at}` is not a part this gateway understands"
    )))
}

/// The text of a `systemInstruction`: a content, a bare string, or a list
/// of parts.
fn system_texts(system: &Value) -> Result<Vec<Part>, TranslateError> {
    let parts = match system {
        Value::String(s) => return Ok(vec![Part::text(s.as_str())]),
        Value::Array(parts) => parts,
        Value::Object(_) => match &system["parts"] {
            Value::Array(parts) => parts,
            Value::Null if system["text"].is_string() => {
                return Ok(vec![Part::text(
                    system["text"].as_str().unwrap_or_default(),
                )]);
            }
            _ => return Err(invalid("`systemInstruction.parts` must be an array")),
        },
        _ => return Err(invalid("`systemInstruction` must be a content or a string")),
    };
    Ok(parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .map(Part::text)
        .collect())
}

fn decode_tools(tools: Option<&Value>) -> Result<Vec<Tool>, TranslateError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        // googleSearch, codeExecution, urlContext... run at Google and have
        // no counterpart elsewhere.
        let Some(declarations) = field(tool, "functionDeclarations", "function_declarations")
        else {
            continue;
        };
        let declarations = declarations.as_array().ok_or_else(|| {
            invalid(format!(
                "`tools[{i}].functionDeclarations` must be an array"
            ))
        })?;
        for (j, d) in declarations.iter().enumerate() {
            let name = d["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    invalid(format!(
                        "`tools[{i}].functionDeclarations[{j}].name` must not be empty"
                    ))
                })?;
            let parameters = field(d, "parametersJsonSchema", "parameters_json_schema")
                .or_else(|| d.get("parameters").filter(|p| !p.is_null()))
                .map(normalize_schema)
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            out.push(Tool {
                name: name.to_string(),
                description: d["description"].as_str().map(str::to_string),
                parameters,
            });
        }
    }
    Ok(out)
}

fn decode_tool_choice(config: Option<&Value>) -> Result<Option<ToolChoice>, TranslateError> {
    let Some(calling) =
        config.and_then(|c| field(c, "functionCallingConfig", "function_calling_config"))
    else {
        return Ok(None);
    };
    let allowed: Vec<&str> = field(calling, "allowedFunctionNames", "allowed_function_names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mode = calling["mode"]
        .as_str()
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    Ok(match mode.as_str() {
        "AUTO" | "VALIDATED" | "MODE_UNSPECIFIED" => Some(ToolChoice::Auto),
        "NONE" => Some(ToolChoice::None),
        "ANY" => Some(match allowed.as_slice() {
            [name] => ToolChoice::Tool {
                name: name.to_string(),
            },
            _ => ToolChoice::Required,
        }),
        other => {
            return Err(invalid(format!(
                "unknown `toolConfig.functionCallingConfig.mode` {other:?}"
            )));
        }
    })
}

fn decode_response_format(config: &Value) -> Option<ResponseFormat> {
    if let Some(schema) = field(config, "responseJsonSchema", "response_json_schema")
        .or_else(|| field(config, "responseSchema", "response_schema"))
    {
        return Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: normalize_schema(schema),
            strict: false,
        });
    }
    (field(config, "responseMimeType", "response_mime_type").and_then(Value::as_str)
        == Some("application/json"))
    .then_some(ResponseFormat::JsonObject)
}

/// A generateContent request in IR. The model and streaming are in the URL,
/// not the body: the HTTP layer sets `model` and `stream`.
pub fn decode_request(body: &Value) -> Result<Request, TranslateError> {
    if !body.is_object() {
        return Err(invalid("the request body must be a JSON object"));
    }
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`contents` must be an array"))?;
    let mut messages = Vec::with_capacity(contents.len() + 1);
    if let Some(system) = field(body, "systemInstruction", "system_instruction") {
        let parts = system_texts(system)?;
        if !parts.is_empty() {
            messages.push(Message {
                role: Role::System,
                parts,
            });
        }
    }
    let mut conversation = Conversation::default();
    for (i, content) in contents.iter().enumerate() {
        let role = match content.get("role").and_then(Value::as_str) {
            // A single-turn request may leave the role out.
            Some("user") | Some("") | None => Role::User,
            Some("model") => Role::Assistant,
            // The v1 API's old name for a turn of function responses.
            Some("function") | Some("tool") => Role::User,
            Some(other) => {
                return Err(invalid(format!(
                    "unknown role {other:?} in `contents[{i}]`"
                )));
            }
        };
        let raw_parts = match content.get("parts") {
            Some(Value::Array(parts)) => parts.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err(invalid(format!("`contents[{i}].parts` must be an array"))),
        };
        let mut parts = Vec::with_capacity(raw_parts.len());
        for (j, part) in raw_parts.iter().enumerate() {
            decode_part(
                part,
                &format!("contents[{i}].parts[{j}]"),
                &mut conversation,
                &mut parts,
            )?;
        }
        if parts.is_empty() {
            continue;
        }
        let only_results = parts.iter().all(|p| matches!(p, Part::ToolResult { .. }));
        messages.push(Message {
            role: if only_results { Role::Tool } else { role },
            parts,
        });
    }
    let config = field(body, "generationConfig", "generation_config");
    if config.is_some_and(|c| !c.is_object()) {
        return Err(invalid("`generationConfig` must be an object"));
    }
    let config = config.cloned().unwrap_or_else(|| json!({}));
    let thinking = field(&config, "thinkingConfig", "thinking_config")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let stop = match field(&config, "stopSequences", "stop_sequences") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(_) => return Err(invalid("`stopSequences` must be an array of strings")),
    };
    Ok(Request {
        model: String::new(),
        messages,
        tools: decode_tools(body.get("tools").filter(|t| !t.is_null()))?,
        tool_choice: decode_tool_choice(field(body, "toolConfig", "tool_config"))?,
        max_tokens: opt_u64(&config, "maxOutputTokens", "max_output_tokens")?,
        temperature: opt_f64(&config, "temperature", "temperature")?,
        top_p: opt_f64(&config, "topP", "top_p")?,
        stop,
        stream: false,
        // A budget of 0 turns thinking off and -1 lets the model choose:
        // neither is a budget another provider could use.
        reasoning_budget: field(&thinking, "thinkingBudget", "thinking_budget")
            .and_then(Value::as_u64)
            .filter(|b| *b > 0),
        reasoning_effort: field(&thinking, "thinkingLevel", "thinking_level")
            .and_then(Value::as_str)
            .and_then(|level| Effort::parse(&level.to_ascii_lowercase())),
        response_format: decode_response_format(&config),
    })
}

/// The `functionResponse.response` object for a tool result.
fn response_object(content: &str, is_error: bool) -> Value {
    if is_error {
        return json!({"error": content});
    }
    match serde_json::from_str::<Value>(content) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"result": content}),
    }
}

/// The Gemini contents for one IR message. Tool results come first, in a
/// content of their own: Gemini wants a call turn answered by a turn of
/// function responses only.
fn encode_message(message: &Message, names: &[(&str, &str)], out: &mut Vec<Value>) {
    let role = if message.role == Role::Assistant {
        "model"
    } else {
        "user"
    };
    let mut results = Vec::new();
    let mut parts = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } if !text.is_empty() => parts.push(json!({"text": text})),
            Part::Text { .. } => {}
            Part::Image { url } => parts.push(image_part(url)),
            // Gemini cannot verify another family's reasoning, and a
            // Gemini conversation never reaches the IR (it is relayed).
            Part::Reasoning { .. } => {}
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let mut call = Map::new();
                call.insert("name".into(), json!(name));
                call.insert("args".into(), args_object(arguments));
                if !id.is_empty() {
                    call.insert("id".into(), json!(id));
                }
                let mut part = json!({"functionCall": call});
                if !parts.iter().any(|p| p.get("functionCall").is_some()) {
                    // Gemini 3 refuses tool history whose first call in a
                    // turn has no thought signature. This history came from
                    // another family, which Google's documented marker says;
                    // it claims no reasoning, so it is not a forged signature.
                    part["thoughtSignature"] = json!(FOREIGN_HISTORY_SIGNATURE);
                }
                parts.push(part);
            }
            Part::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                // Gemini pairs results by function name; the IR by call id.
                let name = names
                    .iter()
                    .find(|(id, _)| id == call_id)
                    .map(|(_, name)| *name)
                    .unwrap_or(call_id.as_str());
                results.push(json!({"functionResponse": {
                    "name": name,
                    "response": response_object(content, *is_error),
                    "id": call_id,
                }}));
            }
        }
    }
    if !results.is_empty() {
        // Results of parallel calls often come as one IR message each;
        // Gemini wants them all in the one turn after the calls.
        match out.last_mut() {
            Some(previous) if is_result_turn(previous) => {
                if let Some(list) = previous["parts"].as_array_mut() {
                    list.extend(results);
                }
            }
            _ => out.push(json!({"role": "user", "parts": results})),
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": role, "parts": parts}));
    }
}

/// Google's documented `thoughtSignature` for function calls that another
/// model made ("skip_thought_signature_validator").
const FOREIGN_HISTORY_SIGNATURE: &str = "skip_thought_signature_validator";

fn is_result_turn(content: &Value) -> bool {
    content["role"] == "user"
        && content["parts"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p.iter().all(|p| p.get("functionResponse").is_some()))
}

/// The generateContent body for an IR request. The model goes in the URL,
/// so it is not written here.
pub fn encode_request(request: &Request) -> Value {
    let names: Vec<(&str, &str)> = request
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let mut system = Vec::new();
    let mut contents = Vec::new();
    for message in &request.messages {
        if matches!(message.role, Role::System | Role::Developer) {
            system.extend(message.parts.iter().filter_map(|p| match p {
                Part::Text { text } if !text.is_empty() => Some(json!({"text": text})),
                _ => None,
            }));
        } else {
            encode_message(message, &names, &mut contents);
        }
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut d = Map::new();
                d.insert("name".into(), json!(t.name));
                if let Some(description) = &t.description {
                    d.insert("description".into(), json!(description));
                }
                // `parametersJsonSchema` takes full JSON Schema, which is
                // what callers of other formats write.
                d.insert("parametersJsonSchema".into(), t.parameters.clone());
                Value::Object(d)
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Tool { name } => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut config = Map::new();
    if let Some(n) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    match &request.response_format {
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        None => {}
    }
    let budget = request
        .reasoning_budget
        .or(request.reasoning_effort.map(Effort::budget));
    if let Some(budget) = budget {
        config.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": budget, "includeThoughts": true}),
        );
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    #[test]
    fn gemini_cli_request_decodes_system_tools_calls_and_thinking() {
        let body = json!({
            "contents": [
                {"parts": [{"text": "<session_context>"}, {"text": "list files"}], "role": "user"},
                {"parts": [{"functionCall": {"id": "list_directory_1_0", "args": {"dir_path": "."}, "name": "list_directory"},
                    "thoughtSignature": "RkFLRVNJRw=="}], "role": "model"},
                {"parts": [{"functionResponse": {"name": "list_directory", "response": {"output": "empty"}, "id": "list_directory_1_0"}}], "role": "user"}
            ],
            "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}], "role": "user"},
            "tools": [{"functionDeclarations": [{"name": "list_directory", "description": "ls",
                "parametersJsonSchema": {"type": "object", "properties": {"dir_path": {"type": "string"}}}}]}],
            "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64,
                "thinkingConfig": {"includeThoughts": true, "thinkingLevel": "HIGH"}}
        });
        let r = decode_request(&body).unwrap();
        assert_eq!(r.model, "");
        assert!(!r.stream);
        assert_eq!(
            r.messages[0],
            Message {
                role: Role::System,
                parts: vec![Part::text("You are Gemini CLI.")]
            }
        );
        assert_eq!(r.messages[1].parts.len(), 2);
        assert_eq!(
            r.messages[2],
            Message {
                role: Role::Assistant,
                parts: vec![Part::ToolCall {
                    id: "list_directory_1_0".into(),
                    name: "list_directory".into(),
                    arguments: "{\"dir_path\":\".\"}".into()
                }]
            }
        );
        assert_eq!(
            r.messages[3],
            Message {
                role: Role::Tool,
                parts: vec![Part::ToolResult {
                    call_id: "list_directory_1_0".into(),
                    content: "{\"output\":\"empty\"}".into(),
                    is_error: false
                }]
            }
        );
        assert_eq!(
            r.tools[0].parameters["properties"]["dir_path"]["type"],
            "string"
        );
        assert_eq!(r.temperature, Some(1.0));
        assert_eq!(r.top_p, Some(0.95));
        assert_eq!(r.reasoning_effort, Some(Effort::High));
        assert_eq!(r.reasoning_budget, None);
    }

    #[test]
    fn snake_case_fields_and_string_system_instruction_are_accepted() {
        let body = json!({
            "contents": [{"parts": [{"text": "hi"}, {"inline_data": {"mime_type": "image/png", "data": "QUJD"}},
                {"file_data": {"mime_type": "image/jpeg", "file_uri": "https://x/y.jpg"}}]}],
            "system_instruction": "be brief",
            "tools": [{"function_declarations": [{"name": "get_country", "description": "",
                "parameters_json_schema": {"type": "object", "properties": {}}}]}, {"google_search": {}}],
            "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_country"]}},
            "generation_config": {"max_output_tokens": 64, "stop_sequences": ["END"],
                "thinking_config": {"thinking_budget": 2048}, "response_mime_type": "application/json"}
        });
        let r = decode_request(&body).unwrap();
        assert_eq!(r.messages[0].parts, vec![Part::text("be brief")]);
        assert_eq!(r.messages[1].role, Role::User);
        assert_eq!(
            r.messages[1].parts[1..],
            [
                Part::Image {
                    url: "data:image/png;base64,QUJD".into()
                },
                Part::Image {
                    url: "https://x/y.jpg".into()
                }
            ]
        );
        assert_eq!(r.tools.len(), 1, "googleSearch is skipped");
        assert_eq!(
            r.tool_choice,
            Some(ToolChoice::Tool {
                name: "get_country".into()
            })
        );
        assert_eq!(r.max_tokens, Some(64));
        assert_eq!(r.stop, vec!["END"]);
        assert_eq!(r.reasoning_budget, Some(2048));
        assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
    }

    #[test]
    fn calls_without_ids_get_stable_ids_and_results_pair_by_name() {
        let body = json!({"contents": [
            user("weather in two cities"),
            {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
                {"functionCall": {"name": "time", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "time", "response": {"result": "noon"}}},
                {"functionResponse": {"name": "weather", "response": {"temp": 20}}},
                {"functionResponse": {"name": "weather", "response": {"error": "no data"}}}]}
        ]});
        let r = decode_request(&body).unwrap();
        let ids: Vec<&str> = r.messages[1]
            .parts
            .iter()
            .map(|p| match p {
                Part::ToolCall { id, .. } => id.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(ids, ["call_0", "call_1", "call_2"]);
        assert_eq!(
            r.messages[2].parts,
            vec![
                Part::ToolResult {
                    call_id: "call_2".into(),
                    content: "noon".into(),
                    is_error: false
                },
                Part::ToolResult {
                    call_id: "call_0".into(),
                    content: "{\"temp\":20}".into(),
                    is_error: false
                },
                Part::ToolResult {
                    call_id: "call_1".into(),
                    content: "no data".into(),
                    is_error: true
                },
            ]
        );
        assert_eq!(decode_request(&body).unwrap(), r, "ids are deterministic");
    }

    #[test]
    fn streamed_thought_pieces_join_into_one_signed_reasoning_part() {
        let body = json!({"contents": [user("hi"), {"role": "model", "parts": [
            {"text": "Let me ", "thought": true},
            {"text": "think.", "thought": true},
            {"text": "", "thought": true, "thoughtSignature": "c2ln"},
            {"text": "Hello", "thoughtSignature": "b3RoZXI="}]}]});
        let r = decode_request(&body).unwrap();
        assert_eq!(
            r.messages[1].parts,
            vec![
                Part::Reasoning {
                    text: "Let me think.".into(),
                    signature: Some("c2ln".into())
                },
                Part::text("Hello")
            ]
        );
        let empty = json!({"contents": [user("hi"), {"role": "model", "parts": [
            {"text": "", "thought": true}, {"thoughtSignature": "c2ln"}]}]});
        assert_eq!(
            decode_request(&empty).unwrap().messages.len(),
            1,
            "a turn with nothing an IR part can hold is left out"
        );
    }

    #[test]
    fn uppercase_gemini_schema_types_become_json_schema_types() {
        let body = json!({"contents": [user("rate it")], "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {
                "type": {"type": "STRING", "enum": ["OBJECT"]},
                "score": {"type": ["INTEGER", "NULL"]}}}}});
        let r = decode_request(&body).unwrap();
        assert_eq!(
            r.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "response".into(),
                schema: json!({"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["OBJECT"]},
                    "score": {"type": ["integer", "null"]}}}),
                strict: false
            })
        );
    }

    #[test]
    fn bad_requests_are_refused_with_the_field_named() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({}), "contents"),
            (json!({"contents": {}}), "contents"),
            (
                json!({"contents": [{"role": "robot", "parts": []}]}),
                "robot",
            ),
            (json!({"contents": [{"parts": "hi"}]}), "contents[0].parts"),
            (
                json!({"contents": [{"parts": [{"text": 5}]}]}),
                "contents[0].parts[0].text",
            ),
            (
                json!({"contents": [{"parts": [{"functionCall": {"name": "", "args": {}}}]}]}),
                "functionCall.name",
            ),
            (
                json!({"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}),
                "functionCall.args",
            ),
            (
                json!({"contents": [{"parts": [{"hologram": {}}]}]}),
                "contents[0].parts[0]",
            ),
            (
                json!({"contents": [], "tools": [{"functionDeclarations": [{"name": ""}]}]}),
                "tools[0].functionDeclarations[0].name",
            ),
            (json!({"contents": [], "tools": {}}), "tools"),
            (
                json!({"contents": [], "generationConfig": {"maxOutputTokens": "lots"}}),
                "maxOutputTokens",
            ),
            (
                json!({"contents": [], "generationConfig": {"temperature": "hot"}}),
                "temperature",
            ),
            (
                json!({"contents": [], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}),
                "functionCallingConfig.mode",
            ),
            (
                json!({"contents": [], "systemInstruction": 3}),
                "systemInstruction",
            ),
        ];
        for (body, needle) in cases {
            let err = decode_request(&body).unwrap_err();
            assert!(err.0.contains(needle), "{body}: {err}");
        }
    }

    fn sample_request() -> Request {
        Request {
            model: "gemini-2.5-flash".into(),
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
                        Part::text("what is in these?"),
                        Part::Image {
                            url: "data:image/png;base64,QUJD".into(),
                        },
                        Part::Image {
                            url: "https://example.com/a.png".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Reasoning {
                            text: "from another model".into(),
                            signature: Some("not-gemini".into()),
                        },
                        Part::ToolCall {
                            id: "toolu_1".into(),
                            name: "ls".into(),
                            arguments: "{\"path\":\".\"}".into(),
                        },
                        Part::ToolCall {
                            id: "toolu_2".into(),
                            name: "cat".into(),
                            arguments: "not json".into(),
                        },
                    ],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult {
                        call_id: "toolu_1".into(),
                        content: "a.txt".into(),
                        is_error: false,
                    }],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![Part::ToolResult {
                        call_id: "toolu_2".into(),
                        content: "{\"code\":2}".into(),
                        is_error: true,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "ls".into(),
                description: Some("list".into()),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Required),
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop: vec!["END".into()],
            stream: true,
            reasoning_budget: None,
            reasoning_effort: Some(Effort::Low),
            response_format: None,
        }
    }

    #[test]
    fn request_encodes_system_images_calls_and_grouped_results() {
        let body = encode_request(&sample_request());
        assert!(body.get("model").is_none());
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "be brief"}, {"text": "use tools"}]})
        );
        let contents = body["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3);
        assert_eq!(
            contents[0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "QUJD"}})
        );
        assert_eq!(
            contents[0]["parts"][2]["fileData"]["fileUri"],
            "https://example.com/a.png"
        );
        assert_eq!(
            contents[1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "ls", "args": {"path": "."}, "id": "toolu_1"},
                    "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"name": "cat", "args": {}, "id": "toolu_2"}}]}),
            "reasoning is dropped; only the first call carries Google's foreign-history marker"
        );
        assert_eq!(
            contents[2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "ls", "response": {"result": "a.txt"}, "id": "toolu_1"}},
                {"functionResponse": {"name": "cat", "response": {"error": "{\"code\":2}"}, "id": "toolu_2"}}]})
        );
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "ls", "description": "list", "parametersJsonSchema": {"type": "object"}}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY"}})
        );
        assert_eq!(
            body["generationConfig"],
            json!({"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                "thinkingConfig": {"thinkingBudget": Effort::Low.budget(), "includeThoughts": true}})
        );
    }

    #[test]
    fn tool_choices_and_response_formats_encode() {
        let mut r = Request {
            tool_choice: Some(ToolChoice::Tool { name: "ls".into() }),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "answer".into(),
                schema: json!({"type": "object"}),
                strict: true,
            }),
            reasoning_budget: Some(500),
            ..Default::default()
        };
        let body = encode_request(&r);
        assert_eq!(
            body["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["ls"]})
        );
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 500, "includeThoughts": true}})
        );
        r.tool_choice = Some(ToolChoice::None);
        r.response_format = Some(ResponseFormat::JsonObject);
        r.reasoning_budget = None;
        let body = encode_request(&r);
        assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "NONE");
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json"})
        );
        r.tool_choice = Some(ToolChoice::Auto);
        r.response_format = None;
        let body = encode_request(&r);
        assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");
        assert!(body.get("generationConfig").is_none());
    }

    #[test]
    fn request_round_trips_through_gemini() {
        let mut r = sample_request();
        // What Gemini cannot carry: model and stream live in the URL,
        // reasoning is dropped, effort becomes a budget, system and
        // developer prompts merge, and invalid arguments become `{}`.
        r.model = String::new();
        r.stream = false;
        r.messages.remove(1);
        r.messages[2].parts.remove(0);
        if let Part::ToolCall { arguments, .. } = &mut r.messages[2].parts[1] {
            *arguments = "{}".into();
        }
        r.reasoning_effort = None;
        r.reasoning_budget = Some(4096);
        r.response_format = Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            strict: false,
        });
        // Two tool messages become one Gemini turn of results.
        let second = r.messages.remove(4);
        r.messages[3].parts.extend(second.parts);
        let back = decode_request(&encode_request(&r)).unwrap();
        assert_eq!(back, r);
    }
}
