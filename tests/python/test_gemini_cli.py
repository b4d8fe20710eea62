"""The real Gemini CLI (from npm) talks to OmniRoute's Gemini API, served from mock upstreams of the other formats.

How Gemini CLI is run here (@google/gemini-cli 0.61.0, pinned in tests/cli;
`engines.node >=20`; a self-contained bundle, its optional native modules
keytar and node-pty are not needed for `-p`):

- a temp HOME with `~/.gemini/settings.json` choosing API-key auth
  (`security.auth.selectedType = "gemini-api-key"`, else it asks how to log
  in) and `privacy.usageStatisticsEnabled = false` (else it contacts
  play.googleapis.com); the auto-update switches are off too, though `-p`
  was not seen checking for updates;
- env `GEMINI_API_KEY` (sent as `x-goog-api-key`), `GOOGLE_GEMINI_BASE_URL`
  = the gateway root without `/v1` (a path in it is kept: the CLI appends
  `/v1beta/models/...`), `GEMINI_CLI_TRUST_WORKSPACE=true` (else exit 55,
  "not running in a trusted directory"), `GEMINI_CLI_NO_RELAUNCH=true`
  (skips re-spawning node with a bigger heap, about 1.5 s) and `TMPDIR`
  inside the test dir (an API error writes
  `gemini-client-error-*.json` there);
- `gemini -p "<prompt>" -m <model>` with stdin closed. With `-m` it makes a
  single `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`
  (without `-m` it first asks a router model through `:generateContent`).
  The body has `contents`, `systemInstruction`, `tools[].functionDeclarations`
  with `parametersJsonSchema`, and `generationConfig` with
  `thinkingConfig.includeThoughts = true`. Stdout is the answer alone.

A model with a slash is put in the path as is, not percent-encoded:
`-m anthropic/claude-sonnet-4-5` arrives as
`POST /v1beta/models/anthropic/claude-sonnet-4-5:streamGenerateContent?alt=sse`.

A 404 from the gateway ends the run at once (exit 1, `ModelNotFoundError`
on stderr); 429 and 5xx are retried with backoff. The CLI's sandbox is off
unless asked for (`-s` or `GEMINI_SANDBOX`), which the clean env ensures.
"""

import json
import os
import subprocess

import pytest

from conftest import ROOT, TEST_KEY, rows_since, usage_rows

GEMINI = ROOT / "tests" / "cli" / "node_modules" / ".bin" / "gemini"

SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
}


@pytest.mark.parametrize(
    ("model", "answer", "provider"),
    [
        ("anthropic/claude-sonnet-4-5", "Hello from claude mock", "anthropic"),
        ("openai/gpt-4.1", "Hello from mock", "openai"),
        ("openai-responses/gpt-5", "Hello from responses mock", "openai-responses"),
    ],
)
def test_gemini_cli_prints_the_upstream_answer(all_formats_gateway_url, tmp_path, model, answer, provider):
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(SETTINGS))
    workdir = tmp_path / "work"
    workdir.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    before = len(usage_rows(all_formats_gateway_url))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": all_formats_gateway_url.removesuffix("/v1"),
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_CLI_NO_RELAUNCH": "true",
    }
    result = subprocess.run(
        [str(GEMINI), "-p", "Say hi", "-m", model, "-o", "text"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == answer
    rows = rows_since(all_formats_gateway_url, before)
    assert rows, "the gateway recorded Gemini CLI's request"
    assert all(r["inbound_format"] == "gemini" for r in rows)
    # The provider is the upstream format the mock answered in; its text
    # above came from that format's endpoint alone.
    assert all(r["provider"] == provider and r["status"] == 200 for r in rows)
    assert all(r["stream"] for r in rows)
