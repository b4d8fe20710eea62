"""The real Codex CLI (from npm) talks to OmniRoute's Responses API, served from mock upstreams of the other formats.

How Codex is run here (@openai/codex 0.171.0, pinned in tests/cli; its
native binary comes from the optional package `@openai/codex-linux-x64`,
an npm alias of `@openai/codex@0.171.0-linux-x64`, which `npm ci` installs):

- a temp HOME with `~/.codex/config.toml` naming a custom provider
  (`model_provider = "omni"`, `[model_providers.omni]` with
  `base_url = "<gateway>/v1"`, `wire_api = "responses"` and
  `env_key = "OMNI_KEY"`); the key travels as `Authorization: Bearer`;
- `codex exec --skip-git-repo-check "<prompt>"` with stdin closed. It sends
  one `POST /v1/responses` (`stream: true`, `accept: text/event-stream`,
  `store: false`, developer-role `input` messages, `include:
  ["reasoning.encrypted_content"]`, tools of type `function`, `namespace`
  and `web_search`) and prints only the final answer on stdout; the banner
  and warnings go to stderr. The SSE reply must run the Responses lifecycle
  through `response.completed`.

Phoning home: without `[features] plugins = false` Codex 0.171 contacts
github.com, api.github.com and chatgpt.com (plugin sync); without
`[analytics] enabled = false`, ab.chatgpt.com. With both set it makes no
request but the one to the gateway (checked through an HTTPS proxy that
logged every CONNECT). `check_for_update_on_startup = false` is kept though
`exec` was not seen checking. `OPENAI_BASE_URL` alone does not redirect
Codex's built-in provider (it still calls api.openai.com), hence the
custom provider.

Exiting promptly: by default an error status is retried 5 times with
backoff (about 7 s before exit 1); the provider's `request_max_retries = 0`
and `stream_max_retries = 0` make a gateway error end the run at once with
`ERROR: unexpected status 404 Not Found: …` on stderr and exit code 1.

Sandbox: `exec` defaults to the read-only sandbox, used only when the model
asks to run a command (these answers never do); Codex warns that bubblewrap
is not on PATH and uses its bundled one, which works on these machines.
The warnings about refusing helper binaries under /tmp and about missing
model metadata for a gateway model name are harmless.
"""

import os
import subprocess

import pytest

from conftest import ROOT, TEST_KEY, rows_since, usage_rows

CODEX = ROOT / "tests" / "cli" / "node_modules" / ".bin" / "codex"


def codex_config(gateway_url, model):
    return f"""check_for_update_on_startup = false
model = "{model}"
model_provider = "omni"

[model_providers.omni]
name = "OmniRoute"
base_url = "{gateway_url}"
wire_api = "responses"
env_key = "OMNI_KEY"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
"""


@pytest.mark.parametrize(
    ("model", "answer", "provider"),
    [
        ("anthropic/claude-sonnet-4-5", "Hello from claude mock", "anthropic"),
        ("openai/gpt-4.1", "Hello from mock", "openai"),
        ("gemini/gemini-2.5-flash", "Hello from gemini mock", "gemini"),
    ],
)
def test_codex_prints_the_upstream_answer(all_formats_gateway_url, tmp_path, model, answer, provider):
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(codex_config(all_formats_gateway_url, model))
    workdir = tmp_path / "work"
    workdir.mkdir()
    before = len(usage_rows(all_formats_gateway_url))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "OMNI_KEY": TEST_KEY,
    }
    result = subprocess.run(
        [str(CODEX), "exec", "--skip-git-repo-check", "--color", "never", "Say hi"],
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
    assert rows, "the gateway recorded Codex's request"
    assert all(r["inbound_format"] == "responses" for r in rows)
    # The provider is the upstream format the mock answered in; its text
    # above came from that format's endpoint alone.
    assert all(r["provider"] == provider and r["status"] == 200 for r in rows)
    assert all(r["stream"] for r in rows)
