"""Fixtures: the built mock upstream and omniroute binaries, started as real processes."""

import os
import subprocess
import tempfile
import threading
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
