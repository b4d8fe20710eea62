"""The official OpenAI SDK through a combo whose first account is rate-limited: the gateway's fallback answers (the SDK's own retries are off)."""

import json
import tempfile
import urllib.request
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from conftest import TEST_KEY, _run_gateway, mock_received, rows_since, usage_rows

FIRST = "sk-py-fallback-first"
SECOND = "sk-py-fallback-second"
CLAUDE = "sk-py-fallback-claude"
COMBO = "py-fallback"


def script(mock_base_url, key, steps):
    """Queues scripted answers on the mock for the requests that carry `key`."""
    request = urllib.request.Request(
        mock_base_url.removesuffix("/v1") + "/_mock/script",
        data=json.dumps({"key": key, "steps": steps}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["queued"]


def clear_scripts(mock_base_url):
    """Forgets every scripted answer (a failed test may leave some queued)."""
    request = urllib.request.Request(
        mock_base_url.removesuffix("/v1") + "/_mock/script", method="DELETE"
    )
    urllib.request.urlopen(request, timeout=10).close()


def calls(mock_base_url, key):
    """How many requests the mock received with upstream key `key`."""
    return sum(1 for r in mock_received(mock_base_url) if r["key"] == key)


@pytest.fixture
def gateway(mock_base_url):
    """A fresh gateway (no cooldowns left from another test): two OpenAI
    accounts, then Claude, in the combo `py-fallback`."""
    clear_scripts(mock_base_url)
    with tempfile.TemporaryDirectory() as data_dir:
        config = Path(data_dir) / "omniroute.toml"
        config.write_text(
            f"""
[[connections]]
provider = "openai"
name = "first"
api_key = "{FIRST}"
base_url = "{mock_base_url}"
priority = 1

[[connections]]
provider = "openai"
name = "second"
api_key = "{SECOND}"
base_url = "{mock_base_url}"
priority = 2

[[connections]]
provider = "anthropic"
name = "claude"
api_key = "{CLAUDE}"
base_url = "{mock_base_url}"

[[combos]]
name = "{COMBO}"
strategy = "fill-first"
models = ["openai/gpt-4.1", "anthropic/claude-sonnet-4-5"]

[[api_keys]]
name = "python"
key = "{TEST_KEY}"
"""
        )
        yield from _run_gateway(data_dir, config)


@pytest.fixture
def client(gateway):
    return OpenAI(base_url=gateway, api_key=TEST_KEY, max_retries=0)


def test_a_rate_limited_first_account_is_invisible_to_the_sdk(client, gateway, mock_base_url):
    before = (calls(mock_base_url, FIRST), calls(mock_base_url, SECOND))
    script(mock_base_url, FIRST, [{"status": 429, "headers": {"retry-after": "30"}}])
    completion = client.chat.completions.create(
        model=COMBO, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert completion.choices[0].message.content == "Hello from mock"
    assert (calls(mock_base_url, FIRST), calls(mock_base_url, SECOND)) == (
        before[0] + 1,
        before[1] + 1,
    )
    [row] = rows_since(gateway, 0)
    assert row["status"] == 200
    assert [(h["provider"], h["status"]) for h in row["hops"]] == [("openai", 429)]
    assert row["cost"] > 0

    # Streaming while the first account cools down: it is not called.
    stream = client.chat.completions.create(
        model=COMBO, messages=[{"role": "user", "content": "Say hello"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from mock"
    assert calls(mock_base_url, FIRST) == before[0] + 1
    assert calls(mock_base_url, SECOND) == before[1] + 2
    assert len(rows_since(gateway, 0, at_least=2)) == 2


def test_every_account_rate_limited_is_a_429_with_retry_after(client, gateway, mock_base_url):
    for key in (FIRST, SECOND, CLAUDE):
        script(mock_base_url, key, [{"status": 429, "headers": {"retry-after": "5"}}])
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model=COMBO, messages=[{"role": "user", "content": "Say hello"}]
        )
    error = raised.value
    assert error.status_code == 429
    assert error.response.headers.get("retry-after"), error.response.headers
    assert error.message
    [row] = rows_since(gateway, 0)
    assert row["status"] == 429
    assert len(row["hops"]) == 3
    assert row["cost"] == 0
    assert len(usage_rows(gateway)) == 1
