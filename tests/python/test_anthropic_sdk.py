"""The official Anthropic Python SDK, pointed at OmniRoute, served by a mock OpenAI Chat upstream."""

import anthropic
import pytest

from conftest import TEST_KEY


@pytest.fixture
def client(gateway_url):
    return anthropic.Anthropic(
        base_url=gateway_url.removesuffix("/v1"), api_key=TEST_KEY, max_retries=0
    )


def test_message(client):
    message = client.messages.create(
        model="openai/gpt-4.1",
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from mock"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 8
    assert message.usage.cache_read_input_tokens == 4
    assert message.usage.output_tokens == 5


def test_streamed_message(client):
    with client.messages.stream(
        model="openai/gpt-4.1",
        max_tokens=256,
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from mock"
    assert final.content[0].text == "Hello from mock"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5


def test_errors_surface_as_sdk_exceptions(client, gateway_url):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="nosuch/model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    bad = anthropic.Anthropic(
        base_url=gateway_url.removesuffix("/v1"), api_key="sk-wrong", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(
            model="openai/gpt-4.1", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
