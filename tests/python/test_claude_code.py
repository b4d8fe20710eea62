"""The real Claude Code CLI (from npm) talks to OmniRoute, which serves it from a mock OpenAI upstream."""

import os
import subprocess
import time

import pytest

from conftest import ROOT, TEST_KEY, rows_since, usage_rows

CLAUDE = ROOT / "tests" / "cli" / "node_modules" / ".bin" / "claude"


@pytest.mark.parametrize(
    ("model", "answer", "provider"),
    [
        # Translated: Anthropic Messages in, OpenAI Chat upstream.
        ("openai/gpt-4.1", "Hello from mock", "openai"),
        # Passed through: Anthropic Messages in and out.
        ("anthropic/claude-sonnet-4-5", "Hello from claude mock", "anthropic"),
    ],
)
def test_claude_code_prints_the_upstream_answer(gateway_url, tmp_path, model, answer, provider):
    before = len(usage_rows(gateway_url))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "ANTHROPIC_BASE_URL": gateway_url.removesuffix("/v1"),
        "ANTHROPIC_API_KEY": TEST_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    result = subprocess.run(
        [str(CLAUDE), "-p", "Say hi", "--model", model],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == answer
    # Claude Code's streamed call is the one that answers; usage is committed
    # in batches just after a request ends, so wait for that row.
    rows = rows_since(gateway_url, before)
    deadline = time.monotonic() + 5
    while not any(r["stream"] and r["requested_model"] == model for r in rows) and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = rows_since(gateway_url, before)
    assert rows, "the gateway recorded Claude Code's request"
    assert all(r["inbound_format"] == "anthropic" for r in rows)
    # Claude Code may also send background requests for its small model
    # (titles, quota probes), depending on timing; only the asked model's
    # requests are this test's concern.
    asked = [r for r in rows if r["requested_model"] == model]
    assert asked, rows
    assert all(r["provider"] == provider and r["status"] == 200 for r in asked), rows
    assert any(r["stream"] for r in asked)
