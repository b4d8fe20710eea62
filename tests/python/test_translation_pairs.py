"""Every client format against every upstream format, through the real gateway.

The official `openai` SDK (Chat Completions and Responses) and `anthropic`
SDK call the gateway; a mock upstream answers in the format of the provider
the model prefix names. The google-genai SDK's pairs are in
test_google_genai_sdk.py. Each test checks what the SDK returns (text, tool
call name and parsed arguments, usage) and what the upstream received.
"""

import json

import anthropic
import openai
import pytest

from conftest import TEST_KEY, mock_received

# prefix -> (the mock's answer in that format, the path the mock was called on)
UPSTREAMS = {
    "openai": ("Hello from mock", "/v1/chat/completions"),
    "anthropic": ("Hello from claude mock", "/v1/messages"),
    "gemini": ("Hello from gemini mock", "/v1beta/models/"),
    "openai-responses": ("Hello from responses mock", "/v1/responses"),
}
MODEL = {
    "openai": "gpt-4.1",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "openai-responses": "gpt-5",
}
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def upstream_request(mock_base_url, before, prefix):
    """The one request the upstream got since `before`, checked for its path."""
    got = mock_received(mock_base_url)[before:]
    assert len(got) == 1, got
    assert got[0]["path"].startswith(UPSTREAMS[prefix][1]), got[0]["path"]
    return got[0]["body"]


@pytest.fixture
def oai(all_formats_gateway_url):
    return openai.OpenAI(base_url=all_formats_gateway_url, api_key=TEST_KEY, max_retries=0)


@pytest.fixture
def claude(all_formats_gateway_url):
    root = all_formats_gateway_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=TEST_KEY, max_retries=0)


# ---------------------------------------------------------------- OpenAI Chat


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_chat_text_and_usage(oai, mock_base_url, prefix):
    before = len(mock_received(mock_base_url))
    completion = oai.chat.completions.create(
        model=f"{prefix}/{MODEL[prefix]}",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        max_completion_tokens=300,
    )
    assert completion.choices[0].message.content == UPSTREAMS[prefix][0]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.prompt_tokens_details.cached_tokens > 0
    sent = json.dumps(upstream_request(mock_base_url, before, prefix))
    assert "Be brief." in sent and "Say hello" in sent


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_chat_stream_tool_call_round_trip(oai, mock_base_url, prefix):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city", "parameters": WEATHER_SCHEMA}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    stream = oai.chat.completions.create(
        model=f"{prefix}/tool-call", messages=messages, tools=tools, stream=True,
        stream_options={"include_usage": True},
    )
    calls, finish, usage = {}, None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function.name:
                    entry["name"] = call.function.name
                entry["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert usage is not None and usage.completion_tokens > 0

    before = len(mock_received(mock_base_url))
    messages.append({"role": "assistant", "content": None, "tool_calls": [{
        "id": calls[0]["id"], "type": "function",
        "function": {"name": "get_weather", "arguments": calls[0]["arguments"]}}]})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21 C"})
    answer = oai.chat.completions.create(model=f"{prefix}/tool-call", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "Tool said: sunny, 21 C"
    assert "sunny, 21 C" in json.dumps(upstream_request(mock_base_url, before, prefix))


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_chat_parallel_tool_calls(oai, prefix):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
    completion = oai.chat.completions.create(
        model=f"{prefix}/parallel-tools",
        messages=[{"role": "user", "content": "Weather in Paris and Tokyo?"}],
        tools=tools,
    )
    calls = completion.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Tokyo"]
    assert len({c.id for c in calls}) == 2
    assert completion.choices[0].finish_reason == "tool_calls"


# ------------------------------------------------------------- OpenAI Responses


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_responses_text_and_usage(oai, mock_base_url, prefix):
    before = len(mock_received(mock_base_url))
    response = oai.responses.create(
        model=f"{prefix}/{MODEL[prefix]}",
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}],
        max_output_tokens=300,
    )
    assert response.output_text == UPSTREAMS[prefix][0]
    assert response.status == "completed"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.input_tokens_details.cached_tokens > 0
    sent = json.dumps(upstream_request(mock_base_url, before, prefix))
    assert "Be brief." in sent and "Say hello" in sent


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_responses_stream_text(oai, prefix):
    text, completed = "", None
    with oai.responses.stream(model=f"{prefix}/{MODEL[prefix]}", input="Say hello") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.completed":
                completed = event.response
    assert text == UPSTREAMS[prefix][0]
    assert completed is not None and completed.output_text == text
    assert completed.usage.output_tokens > 0


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_responses_stream_tool_call_round_trip(oai, mock_base_url, prefix):
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    with oai.responses.stream(model=f"{prefix}/tool-call", input="Weather in Paris?", tools=tools) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}

    before = len(mock_received(mock_base_url))
    follow_up = oai.responses.create(
        model=f"{prefix}/tool-call",
        tools=tools,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
             "arguments": calls[0].arguments},
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"},
        ],
    )
    assert follow_up.output_text == "Tool said: sunny, 21 C"
    assert "sunny, 21 C" in json.dumps(upstream_request(mock_base_url, before, prefix))


# ------------------------------------------------------------ Anthropic Messages


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_messages_text_and_usage(claude, mock_base_url, prefix):
    before = len(mock_received(mock_base_url))
    message = claude.messages.create(
        model=f"{prefix}/{MODEL[prefix]}",
        max_tokens=300,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.content[0].text == UPSTREAMS[prefix][0]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens >= 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens > 0
    sent = json.dumps(upstream_request(mock_base_url, before, prefix))
    assert "Be brief." in sent and "Say hello" in sent


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_messages_stream_tool_use_round_trip(claude, mock_base_url, prefix):
    tools = [{"name": "get_weather", "description": "Weather of a city", "input_schema": WEATHER_SCHEMA}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    with claude.messages.stream(model=f"{prefix}/tool-call", max_tokens=300,
                                messages=messages, tools=tools) as stream:
        final = stream.get_final_message()
    uses = [block for block in final.content if block.type == "tool_use"]
    assert final.stop_reason == "tool_use"
    assert [u.name for u in uses] == ["get_weather"]
    assert uses[0].input == {"city": "Paris"}
    assert final.usage.output_tokens > 0

    before = len(mock_received(mock_base_url))
    messages.append({"role": "assistant", "content": [
        {"type": "tool_use", "id": uses[0].id, "name": "get_weather", "input": uses[0].input}]})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21 C"}]})
    answer = claude.messages.create(model=f"{prefix}/tool-call", max_tokens=300,
                                    messages=messages, tools=tools)
    assert answer.content[0].text == "Tool said: sunny, 21 C"
    assert "sunny, 21 C" in json.dumps(upstream_request(mock_base_url, before, prefix))


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_messages_stream_reasoning(claude, prefix):
    with claude.messages.stream(model=f"{prefix}/reasoning", max_tokens=4000,
                                thinking={"type": "enabled", "budget_tokens": 2048},
                                messages=[{"role": "user", "content": "Think, then say hello"}]) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    text = "".join(block.text for block in final.content if block.type == "text")
    assert text == UPSTREAMS[prefix][0]
    if prefix == "anthropic":
        # Same family: the real signature reaches the client, to be sent back.
        assert final.content[0].type == "thinking"
        assert final.content[0].signature == "sig-mock-claude"
    else:
        # Another family's reasoning has no Claude signature to give, and
        # none is invented: the thinking is shown without one, or not at all.
        for block in final.content:
            if block.type == "thinking":
                assert block.signature in ("", None)
    assert "text" in kinds


@pytest.mark.parametrize("prefix", [p for p in UPSTREAMS if p != "anthropic"])
def test_thinking_from_claude_history_is_not_sent_to_another_family(claude, mock_base_url, prefix):
    before = len(mock_received(mock_base_url))
    claude.messages.create(
        model=f"{prefix}/{MODEL[prefix]}",
        max_tokens=300,
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "secret plan", "signature": "sig-real-claude"},
                {"type": "text", "text": "Hello"}]},
            {"role": "user", "content": "Again"},
        ],
    )
    sent = json.dumps(upstream_request(mock_base_url, before, prefix))
    assert "sig-real-claude" not in sent


@pytest.mark.parametrize("prefix", list(UPSTREAMS))
def test_errors_come_back_in_each_callers_format(oai, claude, prefix):
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=f"{prefix}/error-429",
                                    messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        oai.responses.create(model=f"{prefix}/error-429", input="x")
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=f"{prefix}/error-429", max_tokens=10,
                               messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "error"
