"""The official google-genai Python SDK, pointed at OmniRoute, end to end against mock upstreams of every format.

google-genai 3.6.1 with `http_options=HttpOptions(base_url=<gateway root>)`
defaults to API version v1: `generate_content` sends
`POST /v1/models/<model>:generateContent`, `generate_content_stream`
`POST /v1/models/<model>:streamGenerateContent?alt=sse`, each with the key
in `x-goog-api-key` (`HttpOptions(api_version="v1beta")` switches to
`/v1beta/...`). A model with a slash goes into the path as is, not
percent-encoded (`/v1/models/openai/gpt-4.1:generateContent`); only a
leading `models/` is dropped. A function declaration built from
`types.Schema` arrives as `parameters` with upper-case types
(`"type": "OBJECT"`, `"STRING"`), next to an empty `"generationConfig": {}`
when the config holds only tools. The SDK does not retry an error status
by default.

The expected usage follows from the mock's counts (tests/src/mock/mod.rs)
in Gemini's terms: `promptTokenCount` includes cached tokens, thoughts are
counted apart from `candidatesTokenCount`, and the total adds them all.
"""

import json

import pytest
from google import genai
from google.genai import types

from conftest import TEST_KEY, mock_received, rows_since, usage_rows

# (model, answer, provider, (prompt, candidates, cached, total)).
UPSTREAMS = [
    # OpenAI Chat: 12 prompt (4 cached), 5 completion of which 2 reasoning.
    ("openai/gpt-4.1", "Hello from mock", "openai", (12, 3, 4, 17)),
    # Anthropic: 20 input + 5 cache reads, 6 output.
    ("anthropic/claude-sonnet-4-5", "Hello from claude mock", "anthropic", (25, 6, 5, 31)),
    # Gemini itself: passed through.
    ("gemini/gemini-2.5-flash", "Hello from gemini mock", "gemini", (30, 7, 8, 37)),
    # Responses: 16 input (6 cached), 9 output.
    ("openai-responses/gpt-5", "Hello from responses mock", "openai-responses", (16, 9, 6, 25)),
]


@pytest.fixture
def client(all_formats_gateway_url):
    return genai.Client(
        api_key=TEST_KEY,
        http_options=types.HttpOptions(
            base_url=all_formats_gateway_url.removesuffix("/v1"), timeout=60_000
        ),
    )


def token_counts(meta):
    return (
        meta.prompt_token_count,
        meta.candidates_token_count,
        meta.cached_content_token_count,
        meta.total_token_count,
    )


# provider -> the path its requests reach on the mock, and where the request
# body keeps the first declared tool's name, in that provider's own format.
UPSTREAM_SHAPES = {
    "openai": ("/v1/chat/completions", lambda b: b["tools"][0]["function"]["name"]),
    "anthropic": ("/v1/messages", lambda b: b["tools"][0]["name"]),
    "gemini": ("/v1beta/models/", lambda b: b["tools"][0]["functionDeclarations"][0]["name"]),
    "openai-responses": ("/v1/responses", lambda b: b["tools"][0]["name"]),
}


def upstream_request(mock_base_url, before, provider):
    """The one request the mock got since `before`, in `provider`'s format."""
    got = mock_received(mock_base_url)[before:]
    assert len(got) == 1, got
    assert got[0]["path"].startswith(UPSTREAM_SHAPES[provider][0]), got[0]["path"]
    return got[0]["body"]


def check_usage_rows(gateway_url, before, provider, stream):
    rows = rows_since(gateway_url, before)
    assert len(rows) == 1, rows
    assert rows[0]["inbound_format"] == "gemini"
    # The provider is the upstream format the mock answered in.
    assert rows[0]["provider"] == provider
    assert rows[0]["status"] == 200
    assert rows[0]["stream"] is stream


@pytest.mark.parametrize(("model", "answer", "provider", "counts"), UPSTREAMS)
def test_generate_content(client, all_formats_gateway_url, mock_base_url, model, answer, provider, counts):
    before = len(usage_rows(all_formats_gateway_url))
    received = len(mock_received(mock_base_url))
    response = client.models.generate_content(model=model, contents="Say hello")
    assert response.text == answer
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert token_counts(response.usage_metadata) == counts
    check_usage_rows(all_formats_gateway_url, before, provider, stream=False)
    assert "Say hello" in json.dumps(upstream_request(mock_base_url, received, provider))


@pytest.mark.parametrize(("model", "answer", "provider", "counts"), UPSTREAMS)
def test_generate_content_stream(client, all_formats_gateway_url, model, answer, provider, counts):
    before = len(usage_rows(all_formats_gateway_url))
    chunks = list(client.models.generate_content_stream(model=model, contents="Say hello"))
    assert "".join(chunk.text or "" for chunk in chunks) == answer
    finishes = [c.candidates[0].finish_reason for c in chunks if c.candidates and c.candidates[0].finish_reason]
    assert finishes == [types.FinishReason.STOP]
    metas = [chunk.usage_metadata for chunk in chunks if chunk.usage_metadata]
    assert metas, "a chunk carries usageMetadata"
    assert token_counts(metas[-1]) == counts
    check_usage_rows(all_formats_gateway_url, before, provider, stream=True)


@pytest.mark.parametrize("prefix", ["openai", "anthropic", "gemini", "openai-responses"])
def test_function_call(client, all_formats_gateway_url, mock_base_url, prefix):
    get_weather = types.FunctionDeclaration(
        name="get_weather",
        description="The current weather in a city",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING)},
            required=["city"],
        ),
    )
    before = len(usage_rows(all_formats_gateway_url))
    received = len(mock_received(mock_base_url))
    response = client.models.generate_content(
        model=f"{prefix}/tool-call",
        contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[get_weather])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    calls = response.function_calls
    assert calls is not None and len(calls) == 1, response
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}
    check_usage_rows(all_formats_gateway_url, before, prefix, stream=False)
    sent = upstream_request(mock_base_url, received, prefix)
    assert UPSTREAM_SHAPES[prefix][1](sent) == "get_weather"
