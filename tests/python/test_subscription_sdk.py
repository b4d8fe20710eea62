"""Subscription accounts used through the official SDKs, as a user would: sign in through the gateway's API (the browser step played by urllib against the mock provider), then call `cx/`, `cc/` and `gc/` models with the openai, anthropic and google-genai SDKs.

The mock (`mock-oauth`, tests/src/mock/oauth.rs) plays each provider's real
issuer and backend; the gateway reaches it through
`OMNIROUTE_UPSTREAM_OVERRIDE`, which sends every built-in URL
`https://host/path` to `<mock>/host/path`, so the gateway code under test is
the code that talks to the real providers.
"""

import json
import os
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from conftest import BIN_DIR, TEST_KEY, _start

# The mock's answer text for every subscription backend.
OAUTH_TEXT = "Hello from the subscription mock."


@pytest.fixture(scope="module")
def subscription_gateway():
    """A gateway signed in to Codex, Claude and Gemini CLI; yields its root URL."""
    mock, origin = _start([str(BIN_DIR / "mock-oauth")], "http://")
    # The mock reads control commands on stdin; nothing is sent here.
    with tempfile.TemporaryDirectory() as data_dir:
        config = Path(data_dir) / "omniroute.toml"
        config.write_text(f'[[api_keys]]\nname = "python"\nkey = "{TEST_KEY}"\nmodels = ["*"]\n')
        env = dict(os.environ, OMNIROUTE_LOG="warn", OMNIROUTE_UPSTREAM_OVERRIDE=origin)
        proc, line = _start(
            [str(BIN_DIR / "omniroute"), "--port", "0", "--no-open", "--data-dir", data_dir, "--config", str(config)],
            "OmniRoute listening on ",
            env=env,
        )
        root = line.removeprefix("OmniRoute listening on ").removesuffix("/v1")
        sign_in_manually(root, "cx", {})
        sign_in_manually(root, "cc", {"accept_terms": True})
        sign_in_through_redirects(root, "gc", {"accept_terms": True})
        yield root
        proc.terminate()
        assert proc.wait(timeout=30) == 0, "graceful exit"
    mock.terminate()
    mock.wait(timeout=10)


def api(root, path, body):
    request = urllib.request.Request(
        root + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_in_manually(root, provider, body):
    """Manual mode: the browser's final address is pasted back."""
    started = api(root, f"/api/oauth/{provider}/start", {**body, "mode": "manual"})
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(started["auth_url"], timeout=30)
    assert redirect.value.code == 302
    landed = redirect.value.headers["Location"]
    if provider == "cc":
        # Claude's page shows `code#state` for the user to copy.
        from urllib.parse import parse_qs, urlparse

        query = parse_qs(urlparse(landed).query)
        landed = f"{query['code'][0]}#{query['state'][0]}"
    done = api(root, f"/api/oauth/{provider}/complete", {"login_id": started["login_id"], "url": landed})
    assert done["status"] == "done", done


def sign_in_through_redirects(root, provider, body):
    """The browser follows the provider's redirect back to the gateway's /callback."""
    started = api(root, f"/api/oauth/{provider}/start", body)
    with urllib.request.urlopen(started["auth_url"], timeout=60) as page:
        assert page.status == 200
        assert "Signed in" in page.read().decode()
    done = api(root, f"/api/oauth/{provider}/poll", {"login_id": started["login_id"]})
    assert done["status"] == "done", done


def test_openai_sdk_chats_with_a_codex_subscription_whole_and_streamed(subscription_gateway):
    client = openai.OpenAI(base_url=subscription_gateway + "/v1", api_key=TEST_KEY)
    whole = client.chat.completions.create(
        model="cx/gpt-5.1-codex", messages=[{"role": "user", "content": "hi"}]
    )
    assert whole.choices[0].message.content == OAUTH_TEXT
    stream = client.chat.completions.create(
        model="cx/gpt-5.1-codex", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == OAUTH_TEXT


def test_openai_sdk_responses_api_with_a_codex_subscription(subscription_gateway):
    client = openai.OpenAI(base_url=subscription_gateway + "/v1", api_key=TEST_KEY)
    response = client.responses.create(model="cx/gpt-5.1-codex", input="hi")
    assert response.output_text == OAUTH_TEXT


def test_anthropic_sdk_messages_with_a_claude_subscription(subscription_gateway):
    client = anthropic.Anthropic(base_url=subscription_gateway, api_key=TEST_KEY)
    message = client.messages.create(
        model="cc/claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == OAUTH_TEXT
    with client.messages.stream(
        model="cc/claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert "".join(stream.text_stream) == OAUTH_TEXT


def test_google_genai_sdk_with_a_gemini_cli_sign_in(subscription_gateway):
    client = genai.Client(api_key=TEST_KEY, http_options=types.HttpOptions(base_url=subscription_gateway))
    answer = client.models.generate_content(model="gc/gemini-2.5-flash", contents="hi")
    assert answer.text == OAUTH_TEXT
    streamed = "".join(
        chunk.text or "" for chunk in client.models.generate_content_stream(model="gc/gemini-2.5-flash", contents="hi")
    )
    assert streamed == OAUTH_TEXT


def test_a_discontinued_provider_is_a_clear_sdk_error(subscription_gateway):
    client = openai.OpenAI(base_url=subscription_gateway + "/v1", api_key=TEST_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model="qw/coder-model", messages=[{"role": "user", "content": "hi"}])
    assert error.value.status_code == 410
    assert "2026-04-15" in str(error.value)
