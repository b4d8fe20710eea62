//! The mock upstream hit directly (no gateway): each wire format's answers, tool calls, reasoning and failure behaviours.

use omniroute_tests::mock::{self, MockUpstream};
use serde_json::{Value, json};

/// (event name or "", data) of every SSE frame, for `\n\n` and `\r\n\r\n` framing.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in f.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or(Value::String(d.to_string()));
                }
            }
            (name, data)
        })
        .collect()
}

fn weather_tools_openai() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    ])
}

struct Client {
    mock: MockUpstream,
    http: reqwest::Client,
}

impl Client {
    async fn start() -> Client {
        Client {
            mock: MockUpstream::start().await,
            http: reqwest::Client::new(),
        }
    }

    fn openai(&self, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/chat/completions", self.mock.base_url()))
            .bearer_auth("sk-test")
            .json(&body)
    }

    fn anthropic(&self, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/messages", self.mock.base_url()))
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
    }

    fn gemini(&self, model: &str, stream: bool, body: Value) -> reqwest::RequestBuilder {
        let url = if stream {
            format!(
                "{}/models/{model}:streamGenerateContent?alt=sse",
                self.mock.gemini_base_url()
            )
        } else {
            format!(
                "{}/models/{model}:generateContent",
                self.mock.gemini_base_url()
            )
        };
        self.http
            .post(url)
            .header("x-goog-api-key", "gm-test")
            .json(&body)
    }

    fn responses(&self, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/responses", self.mock.base_url()))
            .bearer_auth("sk-resp-test")
            .json(&body)
    }
}

async fn json_of(request: reqwest::RequestBuilder, status: u16) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), status);
    response.json().await.unwrap()
}

async fn text_of(request: reqwest::RequestBuilder) -> String {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn user_contents(text: &str) -> Value {
    json!([{"role": "user", "parts": [{"text": text}]}])
}

#[tokio::test]
async fn every_format_answers_with_its_own_text_and_usage() {
    let c = Client::start().await;

    let chat = json_of(
        c.openai(json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]})),
        200,
    )
    .await;
    assert_eq!(chat["choices"][0]["message"]["content"], mock::OPENAI_TEXT);
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        chat["usage"]["prompt_tokens_details"]["cached_tokens"],
        mock::CACHED_TOKENS
    );

    let claude = json_of(
        c.anthropic(json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}]})),
        200,
    )
    .await;
    assert_eq!(claude["content"][0]["text"], mock::CLAUDE_TEXT);
    assert_eq!(
        claude["usage"]["cache_read_input_tokens"],
        mock::CLAUDE_CACHE_READ_TOKENS
    );

    let gemini = json_of(
        c.gemini(
            "gemini-2.5-flash",
            false,
            json!({"contents": user_contents("hi")}),
        ),
        200,
    )
    .await;
    let candidate = &gemini["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], mock::GEMINI_TEXT);
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["finishReason"], "STOP");
    let meta = &gemini["usageMetadata"];
    assert_eq!(meta["promptTokenCount"], mock::GEMINI_PROMPT_TOKENS);
    assert_eq!(meta["cachedContentTokenCount"], mock::GEMINI_CACHED_TOKENS);
    assert_eq!(meta["candidatesTokenCount"], mock::GEMINI_CANDIDATES_TOKENS);
    assert!(meta.get("thoughtsTokenCount").is_none(), "{meta}");
    assert_eq!(gemini["modelVersion"], "gemini-2.5-flash");

    let responses = json_of(c.responses(json!({"model": "gpt-5", "input": "hi"})), 200).await;
    assert_eq!(responses["object"], "response");
    assert_eq!(responses["status"], "completed");
    assert_eq!(responses["output"][0]["type"], "message");
    assert_eq!(
        responses["output"][0]["content"][0]["text"],
        mock::RESPONSES_TEXT
    );
    let usage = &responses["usage"];
    assert_eq!(usage["input_tokens"], mock::RESPONSES_INPUT_TOKENS);
    assert_eq!(
        usage["input_tokens_details"]["cached_tokens"],
        mock::RESPONSES_CACHED_TOKENS
    );
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);

    let received = c.mock.received();
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1/responses"
        ]
    );
    let credentials: Vec<Option<&str>> = received
        .iter()
        .map(|r| r.authorization.as_deref())
        .collect();
    assert_eq!(
        credentials,
        [
            Some("Bearer sk-test"),
            Some("sk-ant-test"),
            Some("gm-test"),
            Some("Bearer sk-resp-test")
        ]
    );
    assert_eq!(received[3].body["input"], "hi");
}

#[tokio::test]
async fn streamed_text_comes_in_pieces_in_every_format() {
    let c = Client::start().await;

    let claude = text_of(
        c.anthropic(json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
        "stream": true, "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await;
    let deltas: Vec<String> = sse_events(&claude)
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert!(deltas.len() >= 2);
    assert_eq!(deltas.concat(), mock::CLAUDE_TEXT);

    let raw = text_of(c.gemini(
        "gemini-2.5-flash",
        true,
        json!({"contents": user_contents("hi")}),
    ))
    .await;
    assert!(raw.starts_with("data: {"), "{raw}");
    assert!(
        raw.ends_with("}\r\n\r\n"),
        "Google frames with CRLF: {raw:?}"
    );
    assert!(!raw.contains("[DONE]") && !raw.contains("event:"));
    let chunks: Vec<Value> = sse_events(&raw).into_iter().map(|(_, d)| d).collect();
    let text: String = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(text, mock::GEMINI_TEXT);
    assert!(chunks.len() >= 3);
    let (last, before) = chunks.split_last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(
        before
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert_eq!(
        last["usageMetadata"]["candidatesTokenCount"],
        mock::GEMINI_CANDIDATES_TOKENS
    );
    assert_eq!(
        last["usageMetadata"]["cachedContentTokenCount"],
        mock::GEMINI_CACHED_TOKENS
    );
    assert_eq!(
        c.mock.received()[1].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
}

#[tokio::test]
async fn gemini_takes_the_key_from_the_query_and_refuses_a_request_without_one() {
    let c = Client::start().await;
    let url = format!(
        "{}/models/gemini-2.5-pro:generateContent?key=gm-from-query",
        c.mock.gemini_base_url()
    );
    let body = json!({"contents": user_contents("hi")});
    let answer = json_of(c.http.post(&url).json(&body), 200).await;
    assert_eq!(
        answer["candidates"][0]["content"]["parts"][0]["text"],
        mock::GEMINI_TEXT
    );
    let received = c.mock.received();
    assert_eq!(received[0].authorization.as_deref(), Some("gm-from-query"));
    assert_eq!(
        received[0].path,
        "/v1beta/models/gemini-2.5-pro:generateContent"
    );

    let keyless = format!(
        "{}/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        c.mock.gemini_base_url()
    );
    let refused = json_of(c.http.post(&keyless).json(&body), 401).await;
    assert_eq!(refused["error"]["code"], 401);
    assert_eq!(refused["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(
        c.mock.received().len(),
        1,
        "a refused request is not recorded"
    );

    let list = json_of(
        c.http
            .get(format!("{}/models", c.mock.gemini_base_url()))
            .query(&[("key", "gm-from-query")]),
        200,
    )
    .await;
    let first = &list["models"][0];
    assert_eq!(first["name"], "models/gemini-2.5-flash");
    assert!(first["displayName"].is_string());
    assert_eq!(
        first["supportedGenerationMethods"],
        json!(["generateContent", "streamGenerateContent"])
    );
    let keyless_list = c
        .http
        .get(format!("{}/models", c.mock.gemini_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(keyless_list.status(), 401);
}

#[tokio::test]
async fn the_other_formats_refuse_a_request_without_their_key() {
    let c = Client::start().await;
    let chat = json_of(
        c.http
            .post(format!("{}/chat/completions", c.mock.base_url()))
            .json(&json!({"model": "gpt-4.1", "messages": []})),
        401,
    )
    .await;
    assert_eq!(chat["error"]["type"], "invalid_request_error");
    let responses = json_of(
        c.http
            .post(format!("{}/responses", c.mock.base_url()))
            .json(&json!({"model": "gpt-5", "input": "hi"})),
        401,
    )
    .await;
    assert!(responses["error"]["message"].is_string());
    let claude = json_of(
        c.http
            .post(format!("{}/messages", c.mock.base_url()))
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []})),
        401,
    )
    .await;
    assert_eq!(claude["error"]["type"], "authentication_error");
    assert!(c.mock.received().is_empty());
}

#[tokio::test]
async fn responses_streams_openais_event_lifecycle_in_order() {
    let c = Client::start().await;
    let raw = text_of(c.responses(json!({"model": "gpt-5", "stream": true,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]})))
    .await;
    let events = sse_events(&raw);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let pieces = mock::RESPONSES_TEXT.split(' ').count();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", pieces));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str(), "the event name is the type");
        assert_eq!(data["sequence_number"], i, "{data}");
    }
    let created = &events[0].1["response"];
    assert_eq!(
        (
            created["status"].as_str(),
            created["output"].as_array().map(Vec::len)
        ),
        (Some("in_progress"), Some(0))
    );
    assert!(created["usage"].is_null());
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, mock::RESPONSES_TEXT);
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["output"][0]["content"][0]["text"],
        mock::RESPONSES_TEXT
    );
    assert_eq!(
        completed["usage"]["output_tokens"],
        mock::RESPONSES_OUTPUT_TOKENS
    );
    assert_eq!(
        completed["usage"]["input_tokens_details"]["cached_tokens"],
        mock::RESPONSES_CACHED_TOKENS
    );
}

#[tokio::test]
async fn responses_refuses_a_request_without_input() {
    let c = Client::start().await;
    let refused = json_of(c.responses(json!({"model": "gpt-5"})), 400).await;
    assert_eq!(refused["error"]["type"], "invalid_request_error");
    assert_eq!(refused["error"]["param"], "input");
}

#[tokio::test]
async fn a_streamed_tool_call_arrives_in_argument_pieces_in_every_format() {
    let c = Client::start().await;

    let chat = text_of(c.openai(json!({"model": "tool-call", "stream": true,
        "messages": [{"role": "user", "content": "weather?"}], "tools": weather_tools_openai()})))
    .await;
    let events = sse_events(&chat);
    let calls: Vec<&Value> = events
        .iter()
        .filter_map(|(_, d)| d["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(calls[0]["id"].is_string());
    let pieces: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .filter(|a| !a.is_empty())
        .collect();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(pieces.concat(), mock::PARIS_ARGUMENTS);
    let finish: Vec<&Value> = events
        .iter()
        .map(|(_, d)| &d["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("tool_calls")]);
    assert!(chat.trim_end().ends_with("data: [DONE]"));

    let claude = text_of(c.anthropic(
        json!({"model": "tool-call", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"name": "lookup_city", "input_schema": {"type": "object"}}]}),
    ))
    .await;
    let events = sse_events(&claude);
    let start = events
        .iter()
        .find(|(n, _)| n == "content_block_start")
        .unwrap();
    assert_eq!(start.1["content_block"]["type"], "tool_use");
    assert_eq!(start.1["content_block"]["name"], "lookup_city");
    let pieces: Vec<&str> = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .filter(|p| !p.is_empty())
        .collect();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(pieces.concat(), mock::PARIS_ARGUMENTS);
    let stop = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");

    let raw = text_of(c.responses(json!({"model": "tool-call", "stream": true, "input": "weather?",
        "tools": [{"type": "web_search"}, {"type": "function", "name": "lookup_city", "parameters": {}}]})))
    .await;
    let events = sse_events(&raw);
    let pieces: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(pieces.concat(), mock::PARIS_ARGUMENTS);
    let done = events
        .iter()
        .find(|(n, _)| n == "response.output_item.done")
        .unwrap();
    assert_eq!(done.1["item"]["type"], "function_call");
    assert_eq!(
        done.1["item"]["name"], "lookup_city",
        "the first function tool"
    );
    assert_eq!(done.1["item"]["arguments"], mock::PARIS_ARGUMENTS);
    let completed = &events.last().unwrap().1;
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["output"][0]["type"], "function_call");

    let raw = text_of(c.gemini("tool-call", true, json!({"contents": user_contents("weather?"),
        "tools": [{"functionDeclarations": [{"name": "lookup_city", "parametersJsonSchema": {}}]}]})))
    .await;
    let chunks: Vec<Value> = sse_events(&raw).into_iter().map(|(_, d)| d).collect();
    let call = &chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "lookup_city");
    assert_eq!(call["args"], json!({"city": "Paris"}));
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn a_tool_result_sent_back_is_echoed_in_every_format() {
    let c = Client::start().await;

    let chat = json_of(
        c.openai(json!({"model": "tool-call", "tools": weather_tools_openai(), "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}
        ]})),
        200,
    )
    .await;
    assert_eq!(
        chat["choices"][0]["message"]["content"],
        "Tool said: sunny, 21C"
    );

    let claude = json_of(
        c.anthropic(json!({"model": "tool-call", "max_tokens": 100, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "rainy"}]}]}
        ]})),
        200,
    )
    .await;
    assert_eq!(claude["content"][0]["text"], "Tool said: rainy");
    assert_eq!(claude["stop_reason"], "end_turn");

    let gemini = json_of(
        c.gemini(
            "tool-call",
            false,
            json!({"contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"result": "foggy"}}}]}
            ]}),
        ),
        200,
    )
    .await;
    assert_eq!(
        gemini["candidates"][0]["content"]["parts"][0]["text"],
        "Tool said: foggy"
    );

    let responses = json_of(
        c.responses(json!({"model": "tool-call", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "windy"}
        ]})),
        200,
    )
    .await;
    assert_eq!(
        responses["output"][0]["content"][0]["text"],
        "Tool said: windy"
    );
}

#[tokio::test]
async fn parallel_tools_make_two_calls_with_distinct_ids() {
    let c = Client::start().await;

    let chat = json_of(
        c.openai(
            json!({"model": "parallel-tools", "tools": weather_tools_openai(),
            "messages": [{"role": "user", "content": "weather?"}]}),
        ),
        200,
    )
    .await;
    let calls = chat["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert_eq!(calls[1]["function"]["name"], "get_weather");
    assert_eq!(calls[1]["function"]["arguments"], mock::TOKYO_ARGUMENTS);
    assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");

    let claude = json_of(
        c.anthropic(json!({"model": "parallel-tools", "max_tokens": 100,
            "tools": [{"name": "w", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "weather?"}]})),
        200,
    )
    .await;
    let blocks = claude["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_ne!(blocks[0]["id"], blocks[1]["id"]);
    assert_eq!(
        (&blocks[0]["input"], &blocks[1]["input"]),
        (&json!({"city": "Paris"}), &json!({"city": "Tokyo"}))
    );

    let raw = text_of(c.gemini(
        "parallel-tools",
        true,
        json!({"contents": user_contents("weather?"),
        "tools": [{"functionDeclarations": [{"name": "w"}]}]}),
    ))
    .await;
    let first = &sse_events(&raw)[0].1;
    let parts = first["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap();
    assert_eq!(parts.len(), 2, "Gemini sends parallel calls together");
    assert_ne!(
        parts[0]["functionCall"]["id"],
        parts[1]["functionCall"]["id"]
    );
    assert_eq!(parts[1]["functionCall"]["args"], json!({"city": "Tokyo"}));

    let raw = text_of(c.responses(
        json!({"model": "parallel-tools", "stream": true, "input": "weather?",
        "tools": [{"type": "function", "name": "w", "parameters": {}}]}),
    ))
    .await;
    let events = sse_events(&raw);
    let output = events.last().unwrap().1["response"]["output"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(output.len(), 2);
    assert_ne!(output[0]["call_id"], output[1]["call_id"]);
    assert_ne!(output[0]["id"], output[1]["id"]);
    let arguments: Vec<String> = [0, 1]
        .iter()
        .map(|i| {
            events
                .iter()
                .filter(|(n, d)| {
                    n == "response.function_call_arguments.delta" && d["output_index"] == *i
                })
                .map(|(_, d)| d["delta"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(arguments, [mock::PARIS_ARGUMENTS, mock::TOKYO_ARGUMENTS]);
}

#[tokio::test]
async fn reasoning_comes_before_the_text_in_every_format() {
    let c = Client::start().await;

    let chat = text_of(c.openai(json!({"model": "reasoning", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]})))
    .await;
    let deltas: Vec<Value> = sse_events(&chat)
        .into_iter()
        .map(|(_, d)| d["choices"][0]["delta"].clone())
        .collect();
    let reasoning: String = deltas
        .iter()
        .filter_map(|d| d["reasoning_content"].as_str())
        .collect();
    let content: String = deltas
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(reasoning, mock::THINKING_TEXT);
    assert_eq!(content, mock::OPENAI_TEXT);
    let first_content = deltas
        .iter()
        .position(|d| d["content"].as_str().is_some_and(|s| !s.is_empty()))
        .unwrap();
    let last_reasoning = deltas
        .iter()
        .rposition(|d| {
            d["reasoning_content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap();
    assert!(last_reasoning < first_content);

    let claude = text_of(c.anthropic(
        json!({"model": "reasoning", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    let deltas: Vec<Value> = sse_events(&claude)
        .into_iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d)
        .collect();
    let kinds: Vec<&str> = deltas
        .iter()
        .map(|d| d["delta"]["type"].as_str().unwrap())
        .collect();
    let signature = kinds.iter().position(|k| *k == "signature_delta").unwrap();
    assert!(kinds[..signature].iter().all(|k| *k == "thinking_delta"));
    assert!(kinds[signature + 1..].iter().all(|k| *k == "text_delta"));
    assert_eq!(
        deltas[signature]["delta"]["signature"],
        mock::CLAUDE_SIGNATURE
    );
    let whole = json_of(
        c.anthropic(json!({"model": "reasoning", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}]})),
        200,
    )
    .await;
    assert_eq!(
        whole["content"][0],
        json!({"type": "thinking", "thinking": mock::THINKING_TEXT, "signature": mock::CLAUDE_SIGNATURE})
    );
    assert_eq!(whole["content"][1]["text"], mock::CLAUDE_TEXT);

    let gemini = json_of(
        c.gemini("reasoning", false, json!({"contents": user_contents("hi")})),
        200,
    )
    .await;
    let parts = &gemini["candidates"][0]["content"]["parts"];
    assert_eq!(
        parts[0],
        json!({"text": mock::THINKING_TEXT, "thought": true})
    );
    assert_eq!(parts[1], json!({"text": mock::GEMINI_TEXT}));
    assert_eq!(
        gemini["usageMetadata"]["thoughtsTokenCount"],
        mock::GEMINI_THOUGHTS_TOKENS
    );

    let raw =
        text_of(c.responses(json!({"model": "reasoning", "stream": true, "input": "hi"}))).await;
    let events = sse_events(&raw);
    let added = &events
        .iter()
        .find(|(n, _)| n == "response.output_item.added")
        .unwrap()
        .1;
    assert_eq!(added["item"]["type"], "reasoning");
    assert_eq!(
        added["item"]["encrypted_content"],
        mock::RESPONSES_ENCRYPTED_CONTENT
    );
    let summary: String = events
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, mock::THINKING_TEXT);
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["type"], "reasoning");
    assert_eq!(
        completed["output"][1]["content"][0]["text"],
        mock::RESPONSES_TEXT
    );
    assert_eq!(
        completed["usage"]["output_tokens_details"]["reasoning_tokens"],
        mock::RESPONSES_REASONING_TOKENS
    );
}

#[tokio::test]
async fn echo_max_tokens_answers_the_formats_own_field() {
    let c = Client::start().await;
    let chat = json_of(
        c.openai(
            json!({"model": "echo-max-tokens", "max_completion_tokens": 321,
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        200,
    )
    .await;
    assert_eq!(chat["choices"][0]["message"]["content"], "321");
    let chat_none = json_of(
        c.openai(
            json!({"model": "echo-max-tokens", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        200,
    )
    .await;
    assert_eq!(chat_none["choices"][0]["message"]["content"], "none");
    let claude = json_of(
        c.anthropic(json!({"model": "echo-max-tokens", "max_tokens": 77,
            "messages": [{"role": "user", "content": "hi"}]})),
        200,
    )
    .await;
    assert_eq!(claude["content"][0]["text"], "77");
    let gemini = json_of(
        c.gemini(
            "echo-max-tokens",
            false,
            json!({"contents": user_contents("hi"), "generationConfig": {"maxOutputTokens": 55}}),
        ),
        200,
    )
    .await;
    assert_eq!(gemini["candidates"][0]["content"]["parts"][0]["text"], "55");
    let responses = json_of(
        c.responses(json!({"model": "echo-max-tokens", "input": "hi", "max_output_tokens": 999})),
        200,
    )
    .await;
    assert_eq!(responses["output"][0]["content"][0]["text"], "999");
}

#[tokio::test]
async fn errors_come_in_each_formats_shape() {
    let c = Client::start().await;
    let hi_chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let hi_claude = |model: &str| json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    for (model, status) in [("error-429", 429), ("error-400", 400)] {
        let chat = json_of(c.openai(hi_chat(model)), status).await;
        assert!(chat["error"]["message"].is_string(), "{chat}");

        let claude = json_of(c.anthropic(hi_claude(model)), status).await;
        assert_eq!(claude["type"], "error");
        let kind = if status == 429 {
            "rate_limit_error"
        } else {
            "invalid_request_error"
        };
        assert_eq!(claude["error"]["type"], kind);

        let gemini = json_of(
            c.gemini(model, false, json!({"contents": user_contents("hi")})),
            status,
        )
        .await;
        assert_eq!(gemini["error"]["code"], status);
        let google_status = if status == 429 {
            "RESOURCE_EXHAUSTED"
        } else {
            "INVALID_ARGUMENT"
        };
        assert_eq!(gemini["error"]["status"], google_status);

        let responses = json_of(c.responses(json!({"model": model, "input": "hi"})), status).await;
        assert!(responses["error"]["message"].is_string(), "{responses}");
    }
}

#[tokio::test]
async fn no_terminal_streams_end_without_their_terminal_event() {
    let c = Client::start().await;

    let chat = text_of(c.openai(json!({"model": "no-terminal", "stream": true,
        "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]})))
    .await;
    assert!(!chat.contains("[DONE]"));
    let events = sse_events(&chat);
    assert!(
        events
            .iter()
            .all(|(_, d)| d["choices"][0]["finish_reason"].is_null())
    );
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, mock::OPENAI_TEXT);

    let claude = text_of(c.anthropic(
        json!({"model": "no-terminal", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    let names: Vec<String> = sse_events(&claude).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.last().map(String::as_str), Some("content_block_stop"));
    assert!(
        !names
            .iter()
            .any(|n| n == "message_delta" || n == "message_stop")
    );

    let gemini = text_of(c.gemini(
        "no-terminal",
        true,
        json!({"contents": user_contents("hi")}),
    ))
    .await;
    let chunks = sse_events(&gemini);
    assert!(!chunks.is_empty());
    assert!(!gemini.contains("finishReason"));

    let responses =
        text_of(c.responses(json!({"model": "no-terminal", "stream": true, "input": "hi"}))).await;
    let names: Vec<String> = sse_events(&responses).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("response.output_item.done")
    );
    assert!(!names.iter().any(|n| n == "response.completed"));
}

#[tokio::test]
async fn stream_errors_arrive_inside_a_200_stream() {
    let c = Client::start().await;

    let chat = text_of(c.openai(json!({"model": "stream-error", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]})))
    .await;
    let events = sse_events(&chat);
    let (_, last) = events.last().unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(events.len() > 1 && !chat.contains("[DONE]"));

    let claude = text_of(c.anthropic(
        json!({"model": "stream-error", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    ))
    .await;
    let events = sse_events(&claude);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert!(events.iter().any(|(n, _)| n == "content_block_delta"));

    let gemini = text_of(c.gemini(
        "stream-error",
        true,
        json!({"contents": user_contents("hi")}),
    ))
    .await;
    let events = sse_events(&gemini);
    assert!(events[0].1["candidates"].is_array());
    assert_eq!(events.last().unwrap().1["error"]["status"], "UNAVAILABLE");

    let responses =
        text_of(c.responses(json!({"model": "stream-error", "stream": true, "input": "hi"}))).await;
    let events = sse_events(&responses);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"response.output_text.delta"));
    assert_eq!(names[names.len() - 2..], ["error", "response.failed"]);
    let failed = &events.last().unwrap().1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error");
    assert_eq!(failed["model"], "stream-error");

    let whole = json_of(
        c.responses(json!({"model": "stream-error", "input": "hi"})),
        200,
    )
    .await;
    assert_eq!(whole["status"], "failed");
    assert_eq!(whole["output"], json!([]));
    assert!(whole["error"]["message"].is_string());
}

#[tokio::test]
async fn think_tags_arrive_inside_the_content() {
    let c = Client::start().await;
    let chat = text_of(c.openai(json!({"model": "think-tags", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]})))
    .await;
    let pieces: Vec<String> = sse_events(&chat)
        .iter()
        .filter_map(|(_, d)| d["choices"][0]["delta"]["content"].as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(
        pieces.concat(),
        format!(
            "<think>{}</think>{}",
            mock::THINK_TAGS_TEXT,
            mock::OPENAI_TEXT
        )
    );
    assert!(
        !pieces.iter().any(|p| p == "<think>" || p == "</think>"),
        "the tags share pieces with text: {pieces:?}"
    );
}

#[tokio::test]
async fn break_stream_cuts_the_connection_in_every_format() {
    let c = Client::start().await;
    let requests = [
        c.openai(json!({"model": "break-stream", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]})),
        c.anthropic(
            json!({"model": "break-stream", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        c.gemini(
            "break-stream",
            true,
            json!({"contents": user_contents("hi")}),
        ),
        c.responses(json!({"model": "break-stream", "stream": true, "input": "hi"})),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.text().await.is_err(),
            "the body must end in an error"
        );
    }
}
