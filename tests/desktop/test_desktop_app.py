"""End to end: the desktop app in a real X session (Xvfb), a real D-Bus session bus, GNOME Keyring as the secret service, and a notification server.

Run inside `xvfb-run dbus-run-session` (see `make test-desktop`). One app
is launched for the whole module with a temporary HOME, exactly as a user
starts it; later launches with flags talk to it the way a second click on
the app icon does (single instance). Quitting goes through the same code as
the tray's Quit item.
"""

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from Xlib import XK, X
from Xlib.ext import xtest
from Xlib.display import Display
from Xlib.protocol import event

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = ROOT / "target" / "debug"
APP = Path(os.environ.get("OMNIROUTE_DESKTOP_BIN", BIN_DIR / "omniroute-desktop"))
SCREENSHOTS = ROOT / "target" / "desktop-screenshots"
API_KEY = "sk-omni-desktop-e2e-0001"
PASSWORD = "desktop-e2e-password"
KEYRING_PASSWORD = "keyring-e2e"


def wait_for(what, check, timeout=60.0, every=0.25):
    """Polls `check` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on: calls to it are refused."""
    return free_port()


class Desktop:
    """The running app and everything around it."""

    def __init__(self, home, env, port, proc, log_path, notifications_path):
        self.home = home
        self.env = env
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc
        self.log_path = log_path
        self.notifications_path = notifications_path
        # Data-plane calls made; each leaves exactly one usage record.
        self.chats = 0

    def log(self):
        return self.log_path.read_text(errors="replace")

    def request(self, method, path, body=None):
        """(status, parsed JSON body) of a call to the gateway with the test key."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def chat(self, model):
        self.chats += 1
        return self.request(
            "POST",
            "/v1/chat/completions",
            {"model": model, "messages": [{"role": "user", "content": "Say hello"}]},
        )

    def launch_again(self, *flags):
        """A second launch: it hands its flags to the running app and exits."""
        second = subprocess.run(
            [str(APP), *flags], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 0, second.stderr
        return second

    def notifications(self):
        if not self.notifications_path.exists():
            return []
        return [json.loads(line) for line in self.notifications_path.read_text().splitlines()]


def assert_painted(shot):
    """Screenshots the screen into `shot` until it shows a painted window:
    the dashboard paints after the login redirect and the wasm start."""
    shot.parent.mkdir(parents=True, exist_ok=True)

    def painted():
        # ImageMagick by full path: some images put a reduced `convert` first.
        subprocess.run(["/usr/bin/import", "-window", "root", str(shot)], check=True, timeout=30)
        colours = subprocess.run(
            ["/usr/bin/convert", str(shot), "-format", "%k", "info:"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return int(colours) > 64

    wait_for(f"a painted window in {shot.name} (not blank)", painted, timeout=90, every=2)


def start(args, env, ready=None, **kwargs):
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True, **kwargs)
    if ready is None:
        return proc, None
    for line in proc.stdout:
        if line.startswith(ready):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, line.strip()
    raise RuntimeError(f"{args[0]} exited before it was ready")


def launch(workdir, children):
    """Starts the keyring, the notification server, the mock upstream and
    the app with a fresh HOME in `workdir`; every process goes into
    `children` as soon as it runs, so teardown stops it even after a failure."""
    home = workdir / "home"
    runtime_dir = workdir / "run"
    (home / ".local" / "share" / "keyrings").mkdir(parents=True)
    runtime_dir.mkdir(mode=0o700)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("XDG_") and key not in ("OMNIROUTE_PORT", "OMNIROUTE_DATA_DIR")
    }
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime_dir), OMNIROUTE_LOG="info")

    # A login keyring that is the default and unlocked, as a desktop login
    # leaves it; without the `default` alias the secret service has no
    # collection to store into.
    (home / ".local/share/keyrings/default").write_text("login")
    keyring = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    keyring.stdin.write(KEYRING_PASSWORD)
    keyring.stdin.close()
    children.append(keyring)

    def secret_service_up():
        # Until the daemon holds the name, a call would D-Bus-activate a
        # second, locked one that prompts.
        owner = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
             "string:org.freedesktop.secrets"],
            capture_output=True, text=True, timeout=10,
        )
        return "boolean true" in owner.stdout

    wait_for("the secret service", secret_service_up, timeout=30)
    notifications_path = workdir / "notifications.jsonl"
    server, _ = start(
        [str(ROOT / ".venv/bin/python"), str(Path(__file__).with_name("notification_server.py")), str(notifications_path)],
        env,
        ready="ready",
    )
    children.append(server)
    mock, mock_line = start([str(BIN_DIR / "mock-upstream")], env, ready="http://")
    children.append(mock)

    config = workdir / "omniroute.toml"
    config.write_text(
        f"""
[[connections]]
provider = "anthropic"
name = "claude"
api_key = "sk-ant-upstream"
base_url = "{mock_line}"

[[connections]]
provider = "openai"
name = "unreachable"
api_key = "sk-upstream"
base_url = "http://127.0.0.1:{closed_port()}/v1"

[[api_keys]]
name = "desktop-e2e"
key = "{API_KEY}"
"""
    )
    port = free_port()
    env.update(
        OMNIROUTE_PORT=str(port),
        OMNIROUTE_CONFIG=str(config),
        INITIAL_PASSWORD=PASSWORD,
    )
    log_path = workdir / "app.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT)
    children.append(proc)
    app = Desktop(home, env, port, proc, log_path, notifications_path)

    def health():
        try:
            return app.request("GET", "/api/health")[0] == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            assert proc.poll() is None, f"the app exited early:\n{app.log()}"
            return False

    wait_for("the gateway to answer", health, timeout=120)
    return app


@pytest.fixture(scope="module")
def desktop():
    assert APP.exists(), f"{APP} is not built (make test-desktop builds it)"
    assert os.environ.get("DISPLAY"), "run under xvfb-run"
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS"), "run under dbus-run-session"
    workdir = Path(tempfile.mkdtemp(prefix="omniroute-desktop-e2e-"))
    children = []
    try:
        yield launch(workdir, children)
    finally:
        # Kept beside the screenshots for a look after a failure.
        if (workdir / "app.log").exists():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(workdir / "app.log", SCREENSHOTS / "desktop-app.log")
        for child in reversed(children):
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_gateway_serves_requests(desktop):
    status, models = desktop.request("GET", "/v1/models")
    assert status == 200, models
    assert any(m["id"].startswith("anthropic/") for m in models["data"])
    status, body = desktop.chat("anthropic/claude-sonnet-4-5")
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]


def test_the_data_key_lives_in_the_keychain(desktop):
    looked_up = subprocess.run(
        ["secret-tool", "lookup", "service", "OmniRoute", "username", "data-encryption-key"],
        env=desktop.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert looked_up.returncode == 0, looked_up.stderr
    assert re.fullmatch(r"[0-9a-f]{64}", looked_up.stdout.strip()), "a 256-bit hex key"
    data_dir = desktop.home / ".omniroute"
    assert (data_dir / "omniroute.db").exists()
    assert not (data_dir / "secret.key").exists(), "no key file beside the data"


def test_the_window_shows_the_dashboard(desktop):
    def window_listed():
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"], capture_output=True, text=True, timeout=30
        ).stdout
        return '"OmniRoute"' in tree

    wait_for("the OmniRoute window", window_listed, timeout=60)
    assert_painted(SCREENSHOTS / "desktop-window.png")


def window_title(display, window):
    """The window's UTF-8 title (_NET_WM_NAME), else its WM_NAME."""
    utf8 = window.get_full_property(
        display.intern_atom("_NET_WM_NAME"), display.intern_atom("UTF8_STRING")
    )
    if utf8 is not None:
        value = utf8.value
        return value.decode() if isinstance(value, bytes) else value
    return window.get_wm_name()


def find_window(display, title):
    """The top-level X window titled `title`, or None."""
    for window in display.screen().root.query_tree().children:
        if window_title(display, window) == title:
            return window
    return None


def is_mapped(window):
    return window.get_attributes().map_state == X.IsViewable


def test_closing_the_window_keeps_the_gateway_and_a_second_launch_shows_it(desktop):
    display = Display()
    try:
        window = find_window(display, "OmniRoute")
        assert window is not None and is_mapped(window)
        # What a window manager sends when the user clicks the close button.
        protocols = display.intern_atom("WM_PROTOCOLS")
        delete = display.intern_atom("WM_DELETE_WINDOW")
        window.send_event(
            event.ClientMessage(window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])),
            event_mask=X.NoEventMask,
        )
        display.flush()
        wait_for("the window to hide", lambda: not is_mapped(window), timeout=30)
        assert desktop.proc.poll() is None, "the app keeps running"
        assert desktop.request("GET", "/v1/models")[0] == 200, "and so does the gateway"
        desktop.launch_again()
        wait_for("the window to come back", lambda: is_mapped(window), timeout=30)
    finally:
        display.close()


def test_start_on_login_is_written_and_removed(desktop):
    autostart = desktop.home / ".config" / "autostart"
    desktop.launch_again("--start-on-login=on")
    entries = wait_for("an autostart entry", lambda: list(autostart.glob("*.desktop")), timeout=30)
    text = entries[0].read_text()
    assert "--minimized" in text, text
    assert str(APP.name) in text, text
    desktop.launch_again("--start-on-login=off")
    wait_for("the autostart entry to go", lambda: not list(autostart.glob("*.desktop")), timeout=30)


def test_pause_and_resume_routing(desktop):
    desktop.launch_again("--pause-routing")

    def refused():
        status, body = desktop.chat("anthropic/claude-sonnet-4-5")
        return status == 503 and body["error"]["code"] == "routing_paused"

    wait_for("requests to be refused while paused", refused, timeout=30)
    desktop.launch_again("--resume-routing")
    wait_for(
        "requests to be served again",
        lambda: desktop.chat("anthropic/claude-sonnet-4-5")[0] == 200,
        timeout=30,
    )


def test_an_outage_is_notified(desktop):
    # Every call to the unreachable provider fails at the connection; after
    # the breaker threshold it is down and the app says so.
    def notified():
        status, _ = desktop.chat("openai/gpt-4.1")
        assert status >= 500
        return [n for n in desktop.notifications() if n["summary"] == "openai is down"]

    found = wait_for("an outage notification", notified, timeout=90, every=0.5)
    assert found[0]["app_name"] == "OmniRoute"
    assert "next provider" in found[0]["body"], found[0]


def serving(desktop):
    try:
        return desktop.request("GET", "/api/health")[0] == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def test_moving_to_another_port_restarts_the_gateway_there(desktop):
    old_url = desktop.url
    new_port = free_port()
    desktop.launch_again(f"--port={new_port}")
    desktop.url = f"http://127.0.0.1:{new_port}"

    wait_for("the gateway on its new port", lambda: serving(desktop), timeout=60)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(old_url + "/api/health", timeout=5)
    prefs = json.loads((desktop.home / ".omniroute" / "desktop.json").read_text())
    assert prefs["port"] == new_port
    assert desktop.chat("anthropic/claude-sonnet-4-5")[0] == 200
    wait_for(
        "the window to reload",
        lambda: f"dashboard window reloaded address=127.0.0.1:{new_port}" in desktop.log(),
        timeout=30,
    )
    # The reloaded window, kept for a look.
    assert_painted(SCREENSHOTS / "desktop-window-after-port-change.png")


def type_text(display, window, text):
    """Types `text` and Enter into `window` through XTEST, like a keyboard."""
    window.set_input_focus(X.RevertToParent, X.CurrentTime)
    display.sync()
    for keysym in [XK.string_to_keysym(c) for c in text] + [XK.XK_Return]:
        keycode = display.keysym_to_keycode(keysym)
        xtest.fake_input(display, X.KeyPress, keycode)
        xtest.fake_input(display, X.KeyRelease, keycode)
        display.sync()
        time.sleep(0.05)


def test_a_custom_port_typed_in_the_port_window(desktop):
    new_port = free_port()
    desktop.launch_again("--choose-port")
    display = Display()
    try:
        window = wait_for(
            "the port window",
            lambda: find_window(display, "OmniRoute — server port"),
            timeout=30,
        )
        wait_for("the port window to show", lambda: is_mapped(window), timeout=30)
        time.sleep(1)  # its page loads and focuses the field
        type_text(display, window, str(new_port))
        desktop.url = f"http://127.0.0.1:{new_port}"
        wait_for("the gateway on the typed port", lambda: serving(desktop), timeout=60)
        wait_for("the port window to close", lambda: find_window(display, "OmniRoute — server port") is None, timeout=30)
    finally:
        display.close()


def test_quit_ends_the_process_with_usage_flushed(desktop):
    # A last request right before quitting: its record may still be queued.
    assert desktop.chat("anthropic/claude-sonnet-4-5")[0] == 200
    desktop.launch_again("--quit")
    assert desktop.proc.wait(timeout=60) == 0, desktop.log()
    assert "gateway stopped, usage flushed" in desktop.log()
    db = sqlite3.connect(desktop.home / ".omniroute" / "omniroute.db")
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM usage").fetchone()
    finally:
        db.close()
    assert count == desktop.chats, "every request's usage record is on disk"
