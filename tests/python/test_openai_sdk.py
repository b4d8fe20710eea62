"""The official OpenAI Python SDK, pointed at OmniRoute, end to end against a mock upstream."""

import openai
import pytest
from openai import OpenAI

from conftest import TEST_KEY


@pytest.fixture
def client(gateway_url):
    return OpenAI(base_url=gateway_url, api_key=TEST_KEY, max_retries=0)


def test_non_stream_completion(client):
    completion = client.chat.completions.create(
        model="openai/gpt-4.1",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert completion.choices[0].message.content == "Hello from mock"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 12
    assert completion.usage.completion_tokens == 5


def test_stream_completion(client):
    stream = client.chat.completions.create(
        model="openai/gpt-4.1",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    finish = None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == "Hello from mock"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens == 17


def test_stream_helper_accumulates(client):
    with client.chat.completions.stream(
        model="openai/gpt-4.1",
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from mock"


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert "openai/gpt-4.1" in ids


def test_errors_surface_as_sdk_exceptions(client, gateway_url):
    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="nosuch/model", messages=[{"role": "user", "content": "x"}])
    assert "does not exist" in str(not_found.value)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="openai/error-429", messages=[{"role": "user", "content": "x"}])
    bad = OpenAI(base_url=gateway_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="openai/gpt-4.1", messages=[{"role": "user", "content": "x"}])
