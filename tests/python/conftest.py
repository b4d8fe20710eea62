"""Fixtures: the built mock upstream and omniroute binaries, started as real processes."""

import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("OMNIROUTE_BIN_DIR", ROOT / "target" / "debug"))
TEST_KEY = "sk-omni-python-sdk-key"


def _start(args, ready_prefix, env=None):
    """Starts a process and returns (process, the first stdout line starting with ready_prefix)."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    for line in proc.stdout:
        if line.startswith(ready_prefix):
            # Keep draining so the child never blocks on a full pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, line.strip()
    proc.wait(timeout=10)
    raise RuntimeError(f"{args[0]} exited early: {proc.stderr.read()}")


@pytest.fixture(scope="session")
def mock_base_url():
    proc, line = _start([str(BIN_DIR / "mock-upstream")], "http://")
    yield line
    proc.terminate()
    proc.wait(timeout=10)


def _run_gateway(data_dir, config):
    """Runs the gateway binary with `config`; yields its `http://127.0.0.1:P/v1`."""
    env = dict(os.environ, OMNIROUTE_LOG="warn")
    proc, line = _start(
        [
            str(BIN_DIR / "omniroute"),
            "--port", "0",
            "--no-open",
            "--data-dir", data_dir,
            "--config", str(config),
        ],
        "OmniRoute listening on ",
        env=env,
    )
    yield line.removeprefix("OmniRoute listening on ")
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "graceful exit"


@pytest.fixture(scope="session")
def gateway_url(mock_base_url):
    with tempfile.TemporaryDirectory() as data_dir:
        config = Path(data_dir) / "omniroute.toml"
        config.write_text(
            f"""
[[connections]]
provider = "openai"
name = "sdk"
api_key = "sk-upstream"
base_url = "{mock_base_url}"

[[connections]]
provider = "anthropic"
name = "sdk-claude"
api_key = "sk-ant-upstream"
base_url = "{mock_base_url}"

[[api_keys]]
name = "python"
key = "{TEST_KEY}"
"""
        )
        yield from _run_gateway(data_dir, config)


def mock_received(mock_base_url):
    """Every request the mock upstream received, oldest first: [{path, authorization, body}]."""
    url = mock_base_url.removesuffix("/v1") + "/_mock/received"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def usage_rows(gateway_url):
    """The gateway's usage records, newest first (`gateway_url` ends in `/v1`)."""
    request = urllib.request.Request(
        gateway_url.removesuffix("/v1") + "/api/usage?limit=1000",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def rows_since(gateway_url, before, at_least=1, wait=5.0):
    """The usage records added since there were `before` of them, newest first.

    Waits up to `wait` seconds for `at_least` of them: the gateway commits
    usage in batches a few tens of milliseconds after a request ends, so an
    SDK call that just returned may not be listed yet.
    """
    deadline = time.monotonic() + wait
    while True:
        after = usage_rows(gateway_url)
        rows = after[: len(after) - before]
        if len(rows) >= at_least or time.monotonic() >= deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture(scope="session")
def all_formats_gateway_url(all_formats_gateway):
    """The `http://127.0.0.1:P/v1` of `all_formats_gateway`."""
    return all_formats_gateway[0]


@pytest.fixture(scope="session")
def all_formats_gateway(mock_base_url):
    """A second gateway with one mock connection per upstream wire format.

    Prefixes and the format each reaches (the mock answers each in its own
    shape, with its own text): `openai/` Chat Completions ("Hello from mock"),
    `anthropic/` Messages ("Hello from claude mock"), `gemini/` generateContent
    ("Hello from gemini mock"), `openai-responses/` Responses ("Hello from
    responses mock"). A separate process so that `gateway_url`'s config stays
    as the older tests expect it. Yields the gateway's `http://127.0.0.1:P/v1`
    and its data dir (where `omniroute setup` adds keys).
    """
    mock_root = mock_base_url.removesuffix("/v1")
    with tempfile.TemporaryDirectory() as data_dir:
        config = Path(data_dir) / "omniroute.toml"
        config.write_text(
            f"""
[[connections]]
provider = "openai"
name = "mock-chat"
api_key = "sk-upstream"
base_url = "{mock_base_url}"

[[connections]]
provider = "anthropic"
name = "mock-claude"
api_key = "sk-ant-upstream"
base_url = "{mock_base_url}"

[[connections]]
provider = "gemini"
name = "mock-gemini"
api_key = "gemini-upstream"
base_url = "{mock_root}/v1beta"

[[connections]]
provider = "openai-responses"
name = "mock-responses"
api_key = "sk-upstream-responses"
base_url = "{mock_base_url}"

[[api_keys]]
name = "python"
key = "{TEST_KEY}"
"""
        )
        for url in _run_gateway(data_dir, config):
            yield url, data_dir
