"""`omniroute setup <tool>` makes the real coding CLIs (from npm) work through the gateway on the first try, and `--restore` puts the user's files back byte for byte.

Each test starts from a temp HOME holding the user's own config with
unrelated settings (the ones the other CLI tests need to keep the tools
from phoning home), runs `omniroute setup`, checks that nothing but the
tool's config files (and OmniRoute's backups beside them) changed, runs the
CLI non-interactively with one prompt, and checks that it printed the mock
upstream's answer and that the mock received the call. No key or base URL
is passed to the CLI by environment: everything comes from what `setup`
wrote.

Claude Code is set up without `--key`: `setup` creates a key in the running
gateway's data dir, which the gateway picks up within seconds.
"""

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN_DIR, ROOT, TEST_KEY, mock_received

CLI_BIN = ROOT / "tests" / "cli" / "node_modules" / ".bin"


def snapshot(home):
    """{relative path: sha256} of every file under `home`."""
    files = {}
    for path in home.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def setup(home, data_dir, *args, extra_env=None):
    result = subprocess.run(
        [str(BIN_DIR / "omniroute"), "setup", "--data-dir", data_dir, *args],
        env={"PATH": os.environ["PATH"], "HOME": str(home), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def changed(before, after):
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def assert_only(changes, files):
    """Every changed path is one of `files` or an OmniRoute backup of one."""
    for path in changes:
        assert any(path == f or path.startswith(f + ".omniroute-backup-") for f in files), (
            f"{path} changed, but only {files} should have"
        )
    for f in files:
        assert f in changes, f"{f} was not written"


def wait_until_key_works(gateway_url, key):
    """The gateway reads keys made by another process every 2 s."""
    deadline = time.monotonic() + 15
    while True:
        request = urllib.request.Request(
            gateway_url + "/models", headers={"Authorization": f"Bearer {key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                return
        except urllib.error.HTTPError as e:
            if e.code != 401 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def run_cli(args, home, workdir, extra_env=None):
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **(extra_env or {})}
    return subprocess.run(
        args,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_answers(mock_base_url, args, home, tmp_path, answer, path_part, extra_env=None):
    """The CLI, run once in a fresh work dir, prints `answer`, and the mock
    received a call whose path contains `path_part`."""
    seen = len(mock_received(mock_base_url))
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(args, home, work, extra_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == answer
    received = mock_received(mock_base_url)[seen:]
    assert any(path_part in r["path"] for r in received), received


def check_round_trip(home, data_dir, tool, files, original, extra_env=None):
    """`--restore` gives back exactly the files the user had (paths under `home`)."""
    out = setup(home, data_dir, tool, "--restore", extra_env=extra_env)
    assert "put back" in out or "removed" in out, out
    for f in files:
        path = home / f
        if f in original:
            assert path.read_bytes() == original[f], f"{f} is not back as it was"
        else:
            assert not path.exists(), f"{f} was created by setup and must go"
        assert not list(path.parent.glob(path.name + ".omniroute-backup-*"))


def test_claude_code_works_after_setup_with_a_new_key(all_formats_gateway, mock_base_url, tmp_path):
    gateway_url, data_dir = all_formats_gateway
    home = tmp_path / "home"
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    original = {".claude/settings.json": b'{\n  "permissions": {"allow": ["Bash(ls)"]},\n  "env": {"DISABLE_AUTOUPDATER": "1"}\n}\n'}
    settings.write_bytes(original[".claude/settings.json"])
    before = snapshot(home)

    out = setup(
        home, data_dir, "claude-code",
        "--model", "anthropic/claude-sonnet-4-5",
        "--url", gateway_url.removesuffix("/v1"),
    )
    assert "Created the gateway key" in out, out
    assert_only(changed(before, snapshot(home)), [".claude/settings.json"])
    written = json.loads(settings.read_text())
    assert written["permissions"] == {"allow": ["Bash(ls)"]}
    assert written["env"]["DISABLE_AUTOUPDATER"] == "1"
    key = written["env"]["ANTHROPIC_AUTH_TOKEN"]
    assert key.startswith("sk-") and key != TEST_KEY
    wait_until_key_works(gateway_url, key)

    assert_answers(
        mock_base_url,
        [str(CLI_BIN / "claude"), "-p", "Say hi"],
        home,
        tmp_path,
        "Hello from claude mock",
        "/messages",
        {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
    )

    check_round_trip(home, data_dir, "claude-code", [".claude/settings.json"], original)


@pytest.mark.parametrize("moved", [False, True], ids=["home", "CODEX_HOME"])
def test_codex_works_after_setup(all_formats_gateway, mock_base_url, tmp_path, moved):
    """With `CODEX_HOME` set, setup writes there and Codex reads it there."""
    gateway_url, data_dir = all_formats_gateway
    root = tmp_path if moved else tmp_path / "home"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    codex_dir = "codex-home" if moved else ".codex"
    env = {"CODEX_HOME": str(root / codex_dir)} if moved else {}
    config = root / codex_dir / "config.toml"
    config.parent.mkdir(parents=True)
    user_config = (
        b"# my Codex settings\n"
        b"check_for_update_on_startup = false\n"
        b'model = "gpt-5"  # the one I had\n\n'
        b"[analytics]\nenabled = false\n\n"
        b"[features]\nplugins = false\n"
    )
    config.write_bytes(user_config)
    files = [f"{codex_dir}/config.toml", f"{codex_dir}/.env"]
    original = {files[0]: user_config}
    before = snapshot(root)

    setup(
        home, data_dir, "codex",
        "--model", "openai/gpt-4.1",
        "--key", TEST_KEY,
        "--url", gateway_url,
        extra_env=env,
    )
    assert_only(changed(before, snapshot(root)), files)
    text = config.read_text()
    assert text.startswith("# my Codex settings\ncheck_for_update_on_startup = false\n")
    assert "[features]\nplugins = false" in text

    assert_answers(
        mock_base_url,
        [str(CLI_BIN / "codex"), "exec", "--skip-git-repo-check", "--color", "never", "Say hi"],
        home,
        tmp_path,
        "Hello from mock",
        "/chat/completions",
        env,
    )

    check_round_trip(root, data_dir, "codex", files, original, extra_env=env)


def test_gemini_cli_works_after_setup(all_formats_gateway, mock_base_url, tmp_path):
    gateway_url, data_dir = all_formats_gateway
    home = tmp_path / "home"
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    user_settings = json.dumps(
        {
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        },
        indent=2,
    ).encode() + b"\n"
    settings.write_bytes(user_settings)
    original = {".gemini/settings.json": user_settings}
    before = snapshot(home)

    setup(
        home, data_dir, "gemini-cli",
        "--model", "gemini/gemini-2.5-flash",
        "--key", TEST_KEY,
        "--url", gateway_url,
    )
    files = [".gemini/settings.json", ".gemini/.env"]
    assert_only(changed(before, snapshot(home)), files)
    written = json.loads(settings.read_text())
    assert written["privacy"] == {"usageStatisticsEnabled": False}

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    assert_answers(
        mock_base_url,
        [str(CLI_BIN / "gemini"), "-p", "Say hi", "-o", "text"],
        home,
        tmp_path,
        "Hello from gemini mock",
        "gemini-2.5-flash",
        {
            "TMPDIR": str(scratch),
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            "GEMINI_CLI_NO_RELAUNCH": "true",
        },
    )

    check_round_trip(home, data_dir, "gemini-cli", files, original)
