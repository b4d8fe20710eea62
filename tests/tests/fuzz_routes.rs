//! Fuzz-style bad-input storm: a few thousand random and malformed requests (fixed seed, loopback, bounded) on every route of a real `omniroute` process; it never crashes or panics, never answers 500, every error it answers is well-formed JSON in the caller's format, its memory stays bounded, and its configuration is unchanged afterwards.
//!
//! The gateway runs as a child process (not inside the test), so a crash is
//! seen as an exit, a panic as a line on its stderr, and its memory as its
//! own `VmRSS` in `/proc`. Requests are generated from a xorshift PRNG with
//! a fixed seed: request `n` is the same on every run, so a failure message
//! names a request that can be replayed by hand.
//!
//! The storm must not be able to change the configuration, or "the
//! configuration is intact" would prove nothing. So every body sent to a
//! handler that creates or changes something is malformed by construction
//! (a wrong-typed field, never `null`; and for a record that exists, not a
//! JSON object at all), and a DELETE or a key rotation only ever names ids
//! that do not exist.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omniroute_tests::mock::MockUpstream;
use omniroute_tests::{TEST_KEY, mock_config, workspace_binary};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

/// The storm's seed; change it to explore, keep it fixed to reproduce.
const SEED: u64 = 0x0F22_5EED_2026_0001;
/// Requests sent before the memory baseline is taken (same generator,
/// another seed): caches, pools and allocator arenas fill up here.
const WARM_UP: usize = 600;
/// Requests of the storm proper.
const STORM: usize = 4000;
/// Requests in flight at once.
const WORKERS: usize = 8;
const PASSWORD: &str = "fuzz storm password";
/// `max_body_bytes` of the gateway under test: low, so that a few-MB body
/// is over it without making the storm heavy.
const MAX_BODY: usize = 2 * 1024 * 1024;
/// The management API's own limit (`MAX_MANAGE_BODY`).
const MAX_MANAGE_BODY: usize = 1024 * 1024;
/// No single answer may take longer (the mock answers in milliseconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A request body larger than this may go unread: a handler that needs no
/// body (a GET, a refusal before parsing, a 413 past the limit) answers
/// without reading it, the server closes the connection, and the kernel
/// resets a socket closed with unread data, which can destroy the answer in
/// flight (seen: `GET /api/backup` with a 60 KB body got its 200 head, then
/// a reset). That is TCP, not the gateway failing, so such a broken
/// connection is counted, not failed. Smaller bodies arrive with the head
/// and are always read; a crash is caught by the exit and panic checks.
const UNREAD_BODY: usize = 4 * 1024;
/// How much the gateway's resident memory may grow between the warm-up and
/// the end of the storm. Generous on purpose: this catches a leak that
/// grows with the number of requests, not allocator noise.
const RSS_GROWTH_LIMIT_KIB: u64 = 200 * 1024;

// ---------------------------------------------------------------------------
// PRNG

/// xorshift64, seeded through splitmix64 so that nearby seeds diverge.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Bytes a header value may hold: visible ASCII, space, tab and obs-text.
    fn header_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.next() as u8 {
                b @ (0x20..=0x7e | 0x80..=0xff | b'\t') => b,
                b => 0x20 + b % 0x5f,
            })
            .collect()
    }

    fn ascii(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len).map(|_| *self.pick(CHARS) as char).collect()
    }
}

// ---------------------------------------------------------------------------
// The gateway process

/// `omniroute` as a child process, its stderr kept in a file to look for panics.
struct GatewayProcess {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Drop for GatewayProcess {
    /// A failed test must not leave a gateway running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl GatewayProcess {
    /// Starts the binary on an ephemeral loopback port. `HOME` and the
    /// coding tools' config directories point into `dir`: the storm calls
    /// `/api/cli-tools/{id}/apply` and `/restore`, which must never touch
    /// the real user's files.
    fn launch(dir: &Path, config: &str) -> GatewayProcess {
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let config_path = dir.join("omniroute.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr = dir.join("gateway.stderr");
        let data = dir.join("data");
        let mut child = Command::new(workspace_binary("omniroute"))
            .args(["--port", "0", "--no-open", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&config_path)
            .env("INITIAL_PASSWORD", PASSWORD)
            .env("HOME", &home)
            .env("CODEX_HOME", home.join(".codex"))
            .env("CLAUDE_CONFIG_DIR", home.join(".claude"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("OMNIROUTE_LOG", "warn")
            .env("RUST_BACKTRACE", "1")
            // glibc gives each thread that allocates concurrently an arena
            // of its own (up to 8 per core), and memory freed in one arena
            // is never reused by another: with the store's and argon2's
            // blocking threads, RSS then creeps up with thread scheduling,
            // not with anything the gateway keeps. Two arenas make the
            // measurement about the gateway. (Measured with the default:
            // +90..130 MiB after one storm, and still creeping by a few MiB
            // per storm after ten; with two: flat after the first storm.)
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn omniroute");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("OmniRoute listening on ") {
                        break url.trim_end_matches("/v1").to_string();
                    }
                }
                _ => panic!(
                    "omniroute exited before listening: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                ),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        GatewayProcess { child, url, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `None` while running, else how it ended.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Panic reports on the gateway's stderr (a handler that panicked
    /// drops its connection but leaves the process running).
    fn panics(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("panicked at"))
            .map(|(i, _)| lines[i..(i + 3).min(lines.len())].join("\n"))
            .collect()
    }
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------
// Routes

/// What kind of body a route's handler reads.
#[derive(Clone, Copy, PartialEq)]
enum Payload {
    None,
    Chat,
    Anthropic,
    Responses,
    Gemini,
    /// A management body with these fields (name, kind).
    Fields(&'static [(&'static str, Kind)]),
    Translate,
    Restore,
    Login,
}

/// A JSON field's type, to know which values are the wrong type for it.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Str,
    Int,
    Bool,
    List,
    /// A string naming one of a few values (a wire format, a strategy).
    Enum,
    Obj,
}

/// Which error shape the caller of a route expects.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    /// `{"error": {"message", ...}}`: OpenAI, and the management API.
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
    /// `{"error": {"code", "message", "status"}}`.
    Gemini,
    /// OpenAI's or Gemini's, depending on the caller's headers (the model
    /// routes also serve the google-genai SDK).
    Either,
}

struct Route {
    method: &'static str,
    path: &'static str,
    payload: Payload,
    /// Answers may come from an upstream: 502, 503 and 504 are legitimate.
    upstream: bool,
    shape: Shape,
}

const fn route(method: &'static str, path: &'static str, payload: Payload) -> Route {
    Route {
        method,
        path,
        payload,
        upstream: false,
        shape: Shape::OpenAi,
    }
}

const fn data(method: &'static str, path: &'static str, payload: Payload, shape: Shape) -> Route {
    Route {
        method,
        path,
        payload,
        upstream: true,
        shape,
    }
}

use Kind::{Bool, Enum, Int, List, Obj, Str};

const PROVIDER: &[(&str, Kind)] = &[
    ("id", Str),
    ("name", Str),
    ("format", Enum),
    ("base_url", Str),
    ("prefix", Str),
    ("auth", Enum),
    ("models", List),
];
const CONNECTION: &[(&str, Kind)] = &[
    ("provider", Str),
    ("name", Str),
    ("api_key", Str),
    ("api_key_env", Str),
    ("base_url", Str),
    ("priority", Int),
    ("enabled", Bool),
    ("tier", Enum),
    ("proxy", Str),
    ("quota", List),
];
const CONNECTION_TEST: &[(&str, Kind)] = &[("model", Str)];
const KEY: &[(&str, Kind)] = &[
    ("name", Str),
    ("models", List),
    ("expires_at", Int),
    ("limits", Obj),
];
const KEY_PATCH: &[(&str, Kind)] = &[("expires_at", Int), ("limits", Obj)];
const COMBO: &[(&str, Kind)] = &[
    ("name", Str),
    ("strategy", Enum),
    ("models", List),
    ("enabled", Bool),
    ("sticky", Int),
];
const SETTINGS: &[(&str, Kind)] = &[
    ("require_api_key", Bool),
    ("max_body_bytes", Int),
    ("usage_retention_days", Int),
    ("upstream_timeout_secs", Int),
    ("retry_attempts", Int),
    ("system_prompt", Str),
    ("proxy", Str),
    ("ip_blocklist", List),
    ("ip_allowlist", List),
    ("trusted_proxies", List),
    ("injection_guard", Enum),
    ("thinking_mode", Enum),
    ("prices", Obj),
    ("budgets", List),
    ("log_bodies", Bool),
    ("response_cache_enabled", Bool),
];
const SETUP: &[(&str, Kind)] = &[
    ("model", Str),
    ("extra_models", List),
    ("key", Str),
    ("url", Str),
];
const IMPORT: &[(&str, Kind)] = &[
    ("format", Str),
    ("version", Int),
    ("exported_at", Int),
    ("providers", List),
    ("connections", List),
    ("combos", List),
    ("settings", Obj),
    ("api_keys", List),
];
const TOKEN: &[(&str, Kind)] = &[("token", Str)];
const SEALED_EXPORT: &[(&str, Kind)] = &[("passphrase", Str)];
const PASSWORD_CHANGE: &[(&str, Kind)] = &[("current", Str), ("new", Str)];

/// Every route of `api::router` and `api::manage::router`, with the
/// method(s) it is registered for; `{..}` are filled per request.
const ROUTES: &[Route] = &[
    // Data plane.
    data("POST", "/v1/chat/completions", Payload::Chat, Shape::OpenAi),
    data("POST", "/chat/completions", Payload::Chat, Shape::OpenAi),
    data(
        "POST",
        "/v1/v1/chat/completions",
        Payload::Chat,
        Shape::OpenAi,
    ),
    data("POST", "/v1/messages", Payload::Anthropic, Shape::Anthropic),
    data(
        "POST",
        "/v1/v1/messages",
        Payload::Anthropic,
        Shape::Anthropic,
    ),
    data(
        "POST",
        "/v1/messages/count_tokens",
        Payload::Anthropic,
        Shape::Anthropic,
    ),
    data("GET", "/v1/models", Payload::None, Shape::Either),
    data("GET", "/models", Payload::None, Shape::Either),
    data("GET", "/v1/v1/models", Payload::None, Shape::Either),
    data("POST", "/v1/responses", Payload::Responses, Shape::OpenAi),
    data("POST", "/responses", Payload::Responses, Shape::OpenAi),
    data(
        "POST",
        "/v1/v1/responses",
        Payload::Responses,
        Shape::OpenAi,
    ),
    data("GET", "/v1beta/models", Payload::None, Shape::Gemini),
    data(
        "POST",
        "/v1beta/models/{gtarget}",
        Payload::Gemini,
        Shape::Gemini,
    ),
    data(
        "GET",
        "/v1beta/models/{gmodel}",
        Payload::None,
        Shape::Gemini,
    ),
    data(
        "POST",
        "/v1/models/{gtarget}",
        Payload::Gemini,
        Shape::Gemini,
    ),
    data("GET", "/v1/models/{mid}", Payload::None, Shape::Either),
    data("GET", "/v1/v1/models/{mid}", Payload::None, Shape::Either),
    data("GET", "/models/{mid}", Payload::None, Shape::Either),
    route("GET", "/metrics", Payload::None),
    route("GET", "/", Payload::None),
    route("HEAD", "/", Payload::None),
    route("GET", "/dashboard", Payload::None),
    route("GET", "/dashboard/", Payload::None),
    route("GET", "/dashboard/{junk}", Payload::None),
    route("GET", "{unknown}", Payload::None),
    route("POST", "{unknown}", Payload::Chat),
    // Management API.
    route("GET", "/api/providers", Payload::None),
    route("POST", "/api/providers", Payload::Fields(PROVIDER)),
    route("GET", "/api/providers/{pid}", Payload::None),
    route("PUT", "/api/providers/{pid}", Payload::Fields(PROVIDER)),
    route("DELETE", "/api/providers/{pid}", Payload::None),
    route("GET", "/api/connections", Payload::None),
    route("POST", "/api/connections", Payload::Fields(CONNECTION)),
    route("GET", "/api/connections/{cid}", Payload::None),
    route(
        "PATCH",
        "/api/connections/{cid}",
        Payload::Fields(CONNECTION),
    ),
    route("DELETE", "/api/connections/{cid}", Payload::None),
    Route {
        upstream: true,
        ..route(
            "POST",
            "/api/connections/{cid}/test",
            Payload::Fields(CONNECTION_TEST),
        )
    },
    route("GET", "/api/keys", Payload::None),
    route("POST", "/api/keys", Payload::Fields(KEY)),
    route("DELETE", "/api/keys/{kid}", Payload::None),
    route("PATCH", "/api/keys/{kid}", Payload::Fields(KEY_PATCH)),
    route("POST", "/api/keys/{kid}/rotate", Payload::None),
    route("GET", "/api/combos", Payload::None),
    route("POST", "/api/combos", Payload::Fields(COMBO)),
    route("GET", "/api/combos/{combo}", Payload::None),
    route("PUT", "/api/combos/{combo}", Payload::Fields(COMBO)),
    route("PATCH", "/api/combos/{combo}", Payload::Fields(COMBO)),
    route("DELETE", "/api/combos/{combo}", Payload::None),
    route("GET", "/api/settings", Payload::None),
    route("PATCH", "/api/settings", Payload::Fields(SETTINGS)),
    route("GET", "/api/usage", Payload::None),
    route("GET", "/api/usage/summary", Payload::None),
    route("GET", "/api/usage/live", Payload::None),
    route("GET", "/api/usage/{uid}", Payload::None),
    route("GET", "/api/cli-tools", Payload::None),
    route(
        "POST",
        "/api/cli-tools/{tool}/preview",
        Payload::Fields(SETUP),
    ),
    route(
        "POST",
        "/api/cli-tools/{tool}/apply",
        Payload::Fields(SETUP),
    ),
    route("POST", "/api/cli-tools/{tool}/restore", Payload::None),
    route("POST", "/api/translate", Payload::Translate),
    route("GET", "/api/quota", Payload::None),
    route("GET", "/api/events", Payload::None),
    route("GET", "/api/audit", Payload::None),
    route("GET", "/api/backup", Payload::None),
    route("GET", "/api/backup/export", Payload::None),
    route("POST", "/api/backup/export", Payload::Fields(SEALED_EXPORT)),
    route("POST", "/api/backup/import", Payload::Fields(IMPORT)),
    route("POST", "/api/restore", Payload::Restore),
    route("GET", "/api/health", Payload::None),
    route("POST", "/api/health/reset", Payload::None),
    route("GET", "/api/auth/session", Payload::None),
    route("POST", "/api/auth/login", Payload::Login),
    route("POST", "/api/auth/token-login", Payload::Fields(TOKEN)),
    route("POST", "/api/auth/logout", Payload::None),
    route(
        "POST",
        "/api/auth/password",
        Payload::Fields(PASSWORD_CHANGE),
    ),
    Route {
        upstream: true,
        ..route("POST", "/api/playground/chat", Payload::Chat)
    },
];

// ---------------------------------------------------------------------------
// Values for path parameters, queries and headers

/// Numeric ids that name nothing: none parses to an existing id (checked
/// against the live lists before the storm), so a DELETE or a rotation
/// with one of them cannot change anything.
const BOGUS_IDS: &[&str] = &[
    "0",
    "-1",
    "424242",
    "+424242",
    "007007",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "99999999999999999999",
    "abc",
    "%00",
    "%FF",
    "%FF%FE",
    "1.5",
    "1e3",
    "0x10",
    "%20",
    "null",
    "%E2%80%AE",
    "💩",
    "１",
    "%2e%2e",
    "%2F",
    "1;DROP TABLE api_keys",
];

/// Names that name nothing, for providers, combos and tools.
const BOGUS_NAMES: &[&str] = &[
    "no-such-thing",
    "%00",
    "%FF",
    "%FF%FE",
    "%2e%2e",
    "%2F",
    "💩",
    "%3Cscript%3E",
    "null",
    "0",
    "-1",
    "%E2%80%AE",
    "%20",
    "a%00b",
    "'%20OR%201=1",
];

const PROVIDERS: &[&str] = &["mock", "openai", "anthropic", "gemini", "openai-responses"];
const COMBOS: &[&str] = &["my-stack"];
const TOOLS: &[&str] = &[
    "codex",
    "claude-code",
    "gemini-cli",
    "opencode",
    "cline",
    "continue",
    "copilot",
    "droid",
    "openclaw",
    "qwen-code",
];

/// Models a body or a path may name: real ones (answered by the mock),
/// combos, and garbage. None of the mock's special behaviour names (errors,
/// slow answers, broken streams): those would be the mock's doing.
const MODELS: &[&str] = &[
    "mock/gpt-4.1",
    "openai/gpt-4.1",
    "anthropic/claude-sonnet-4-5",
    "gemini/gemini-2.5-flash",
    "openai-responses/gpt-5",
    "my-stack",
    "mock/tool-call",
    "mock/reasoning",
    "nope/none",
    "",
    "   ",
    "mock/",
    "/gpt-4.1",
    "mock//x",
    "💩/💩",
    "mock/gpt-4.1\u{0}",
    "../../etc/passwd",
    "\u{202e}mock/gpt-4.1",
];

/// Raw JSON-ish texts put in place of a value: wrong types, numbers no
/// float holds, tokens JSON does not have, lone surrogates, control
/// characters, broken escapes. Many make the whole body invalid JSON.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "-0",
    "1e308",
    "-1e308",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "1e999999",
    "1E-999999",
    "NaN",
    "Infinity",
    "-Infinity",
    "true",
    "false",
    "null",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "[1,2,3]",
    "[null]",
    "[{}]",
    "[\"\"]",
    "[[]]",
    "{\"type\":5}",
    "{\"type\":\"image_url\",\"image_url\":5}",
    "[{\"type\":\"text\",\"text\":5}]",
    "[{\"type\":\"tool_use\",\"id\":5,\"name\":[],\"input\":\"x\"}]",
    "[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"data\":7}}]",
    "[{\"role\":\"tool\",\"content\":null,\"tool_call_id\":9}]",
    "[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"arguments\":5}}]}]",
    "[{\"role\":5,\"content\":\"hi\"}]",
    "[{\"role\":\"user\"}]",
    "[{\"parts\":[{\"inlineData\":{\"data\":5}}]}]",
    "[{\"parts\":[{\"functionCall\":{\"args\":\"x\"}}]}]",
    "{\"role\":\"system\",\"content\":[]}",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\ud800\\u0041\"",
    "\"a\\u0000b\"",
    "\"\\u202e\\ufeff\"",
    "\"💩\"",
    "undefined",
    "'single'",
    "0x10",
    "+1",
    ".5",
    "01",
    "\"\\x41\"",
    "\"\\uZZZZ\"",
    "\"\\",
    "[1,]",
    "{\"a\":1,}",
    "{\"a\"}",
    "[}",
    "{]",
    "\"unterminated",
    "{\"a\":1,\"a\":2}",
];

/// Byte sequences no JSON text may hold: raw control bytes in a string,
/// invalid UTF-8, surrogates encoded in UTF-8, a stray NUL.
const RAW_TOKENS: &[&[u8]] = &[
    b"\"a\x00b\"",
    b"\"\xff\xfe\"",
    b"\"\xc0\xaf\"",
    b"\"\xed\xa0\x80\"",
    b"\"\xf4\x90\x80\x80\"",
    b"\"tab\there\"",
    b"\"line\nbreak\"",
    b"\x00",
    b"\"\xe2\x82\"",
];

/// `X-Forwarded-For` values: the gateway trusts loopback as a proxy, so a
/// parseable address becomes the client, and garbage must be ignored.
const FORWARDED: &[&str] = &[
    "garbage",
    "203.0.113.9",
    "::1",
    "999.999.1.1",
    "",
    "10.0.0.1, 203.0.113.77, unknown",
    ",,,,",
    "[::ffff:1.2.3.4]:80",
    "2001:db8::1",
    "1.2.3.4.5",
];

/// Query strings (already percent-encoded as a client would send them).
const QUERIES: &[&str] = &[
    "limit=abc",
    "limit=-1",
    "limit=0",
    "limit=99999999999999999999",
    "limit=4294967296",
    "since=abc",
    "since=-9223372036854775808&until=9223372036854775807",
    "before_id=%FF",
    "before_id=-1",
    "status=70000",
    "status=-1",
    "ok=maybe",
    "model=%00&provider=%FF",
    "api_key_id=1e3",
    "month=2024-13",
    "month=0000-00",
    "month=99999-01",
    "month=-1-01",
    "month=%00",
    "month=2024-1",
    "since_id=-9223372036854775808",
    "since_id=abc",
    "since=18446744073709551616",
    "unknown=1",
    "a=%ZZ",
    "&&&==",
    "=",
    "key=garbage",
    "key=",
    "alt=sse",
    "alt=%FF",
    "limit=1&limit=2",
];

fn content_type(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(75) {
        return b"application/json".to_vec();
    }
    let pool: &[&[u8]] = &[
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=zz",
        b"application/json; charset=utf-16",
        b"application/JSON",
        b"",
        b"\xff\xfe",
        b"application/json, text/html",
        b"*/*",
        b"application/vnd.sqlite3",
        b"application/octet-stream",
    ];
    rng.pick(pool).to_vec()
}

// ---------------------------------------------------------------------------
// Bodies

/// `n` nested arrays (or objects), closed or not.
fn deep(rng: &mut Rng, depth: usize) -> Vec<u8> {
    let closed = rng.chance(50);
    let mut out = Vec::with_capacity(depth * 6);
    if rng.chance(50) {
        out.extend(std::iter::repeat_n(b'[', depth));
        if closed {
            out.extend(std::iter::repeat_n(b']', depth));
        }
    } else {
        for _ in 0..depth {
            out.extend_from_slice(b"{\"a\":");
        }
        out.push(b'1');
        if closed {
            out.extend(std::iter::repeat_n(b'}', depth));
        }
    }
    out
}

/// Raw text to put where a JSON value goes.
fn hostile_value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => rng.pick(RAW_TOKENS).to_vec(),
        // Just under serde_json's recursion limit (valid JSON that reaches
        // the handlers), just over it, and far over it.
        1 => deep(rng, 100),
        2 => deep(rng, 200),
        3 => deep(rng, 10_000),
        4 => format!("\"{}\"", "a".repeat(64 * 1024)).into_bytes(),
        5 => {
            // A wide array and a wide object (valid JSON, ~100 KB).
            if rng.chance(50) {
                let items = vec!["0"; 50_000].join(",");
                format!("[{items}]").into_bytes()
            } else {
                let fields: Vec<String> = (0..5_000).map(|i| format!("\"k{i}\":{i}")).collect();
                format!("{{{}}}", fields.join(",")).into_bytes()
            }
        }
        _ => rng.pick(TOKENS).as_bytes().to_vec(),
    }
}

/// A valid request of each data-plane format.
fn template(payload: Payload, model: &str, rng: &mut Rng) -> Value {
    let stream = rng.chance(25);
    match payload {
        Payload::Anthropic => json!({
            "model": model, "max_tokens": 16, "stream": stream, "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"name": "get_weather", "description": "w",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        }),
        Payload::Responses => json!({
            "model": model, "stream": stream, "instructions": "Be brief.",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            "max_output_tokens": 16,
        }),
        Payload::Gemini => json!({
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 16, "temperature": 0.5},
        }),
        _ => json!({
            "model": model, "stream": stream, "max_tokens": 16, "temperature": 0.5,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                       "parameters": {"type": "object"}}}],
        }),
    }
}

/// JSON pointers of every value inside `value` (not the root).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{at}/{k}");
                out.push(here.clone());
                pointers(v, here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                out.push(here.clone());
                pointers(v, here, out);
            }
        }
        _ => {}
    }
}

/// `value` serialized with the values at `marked` replaced by the raw
/// texts in `raw` (which need not be JSON at all).
fn splice(mut value: Value, marked: &[(String, Vec<u8>)]) -> Vec<u8> {
    for (i, (pointer, _)) in marked.iter().enumerate() {
        if let Some(slot) = value.pointer_mut(pointer) {
            *slot = Value::String(format!("@@FUZZ{i}@@"));
        }
    }
    let mut text = serde_json::to_vec(&value).unwrap();
    for (i, (_, raw)) in marked.iter().enumerate() {
        let marker = format!("\"@@FUZZ{i}@@\"").into_bytes();
        if let Some(at) = text.windows(marker.len()).position(|w| w == marker) {
            text = [&text[..at], raw.as_slice(), &text[at + marker.len()..]].concat();
        }
    }
    text
}

/// A data-plane body: mostly malformed in one of many ways, sometimes valid.
fn data_body(payload: Payload, rng: &mut Rng) -> Vec<u8> {
    let model = *rng.pick(MODELS);
    let valid = template(payload, model, rng);
    match rng.below(100) {
        0..=3 => Vec::new(),
        4..=5 => b" \n\t\r ".to_vec(),
        6..=15 => {
            let len = rng.below(4096);
            rng.bytes(len)
        }
        16..=20 => {
            // JSON punctuation soup: reaches deeper into the parser than noise.
            const SOUP: &[u8] = b"{}[]\":,0123456789.eE+-truefalsnl\\u \n";
            let len = rng.below(2048);
            (0..len).map(|_| *rng.pick(SOUP)).collect()
        }
        21..=32 => {
            let text = serde_json::to_vec(&valid).unwrap();
            let cut = rng.below(text.len());
            text[..cut].to_vec()
        }
        33..=62 => {
            let mut all = Vec::new();
            pointers(&valid, String::new(), &mut all);
            let count = if rng.chance(70) { 1 } else { 2 + rng.below(3) };
            let marked: Vec<(String, Vec<u8>)> = (0..count)
                .map(|_| (rng.pick(&all).clone(), hostile_value(rng)))
                .collect();
            splice(valid, &marked)
        }
        63..=67 => {
            // A required field missing, or an unknown one added.
            let mut v = valid;
            if let Some(map) = v.as_object_mut() {
                let keys: Vec<String> = map.keys().cloned().collect();
                if rng.chance(50) {
                    map.remove(rng.pick(&keys));
                } else {
                    map.insert("\u{0}unknown".into(), json!({"x": [1, {"y": null}]}));
                }
            }
            serde_json::to_vec(&v).unwrap()
        }
        68..=71 => {
            let depth = *rng.pick(&[100, 129, 1000, 10_000]);
            deep(rng, depth)
        }
        72..=75 => {
            // A JSON value that is not an object.
            let pool: &[&str] = &[
                "[]",
                "[{}]",
                "\"model\"",
                "42",
                "null",
                "true",
                "[{\"model\":\"mock/gpt-4.1\"}]",
            ];
            rng.pick(pool).as_bytes().to_vec()
        }
        76..=80 => {
            let text = serde_json::to_vec(&valid).unwrap();
            match rng.below(6) {
                0 => [b"\xef\xbb\xbf".as_slice(), &text].concat(),
                1 => [text.as_slice(), b"xyz"].concat(),
                2 => [text.as_slice(), text.as_slice()].concat(),
                3 => [b"{\"model\":5,".as_slice(), &text[1..]].concat(),
                4 => [&text[..text.len() - 1], b",\"model\":[\"a\"]}".as_slice()].concat(),
                _ => text
                    .iter()
                    .map(|b| if *b == b'"' { b'\'' } else { *b })
                    .collect(),
            }
        }
        81 => {
            // Over the body limit: a 413, whatever the content.
            let mut text =
                b"{\"model\":\"mock/gpt-4.1\",\"messages\":[{\"role\":\"user\",\"content\":\""
                    .to_vec();
            text.resize(MAX_BODY + 512 * 1024, b'a');
            text.extend_from_slice(b"\"}]}");
            text
        }
        82 => {
            // Under the limit but big: 1.5 MB of text in the first message.
            let mut v = valid;
            let big = "lorem ipsum ".repeat(128 * 1024);
            let at = if v.pointer("/messages/0/content/0/text").is_some() {
                "/messages/0/content/0/text"
            } else {
                "/messages/1/content/0/text"
            };
            if let Some(slot) = v.pointer_mut(at) {
                *slot = Value::String(big);
            }
            serde_json::to_vec(&v).unwrap()
        }
        _ => serde_json::to_vec(&valid).unwrap(),
    }
}

/// A JSON text of the right type for a field (used to build objects that
/// are then cut short).
fn right_value(kind: Kind) -> &'static str {
    match kind {
        Str => "\"x\"",
        Int => "1",
        Bool => "true",
        List => "[\"x\"]",
        Enum => "\"openai\"",
        Obj => "{}",
    }
}

/// A JSON text of the wrong type for a field; never `null` (an optional
/// field takes `null`, and the body would then be valid).
fn wrong_value(kind: Kind, rng: &mut Rng) -> &'static str {
    let pool: &[&str] = match kind {
        Str | Enum => &[
            "5",
            "-1",
            "1.5",
            "true",
            "false",
            "[]",
            "[\"x\"]",
            "{}",
            "{\"a\":1}",
            "99999999999999999999",
            "1e400",
        ],
        Int => &[
            "\"1\"",
            "\"x\"",
            "true",
            "[]",
            "{}",
            "1.5",
            "-1.5",
            "1e400",
            "99999999999999999999",
            "-99999999999999999999",
            "[1]",
        ],
        Bool => &["0", "1", "\"true\"", "\"yes\"", "[]", "{}", "[true]"],
        List => &[
            "\"x\"",
            "5",
            "{}",
            "true",
            "[5]",
            "[[\"x\"]]",
            "[{}]",
            "[true]",
        ],
        Obj => &["\"x\"", "5", "[]", "true", "[{}]"],
    };
    rng.pick::<&str>(pool)
}

/// A management body that no handler can accept. With `strict`, not even a
/// JSON object: for requests that name an existing record, where an object
/// with no known field could be a valid (empty) update.
fn management_body(fields: &[(&str, Kind)], strict: bool, rng: &mut Rng) -> Vec<u8> {
    let object = |fields: &[(&str, Kind)], value: &mut dyn FnMut(Kind) -> Vec<u8>| {
        let mut out = b"{".to_vec();
        for (i, (name, kind)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(serde_json::to_string(name).unwrap().as_bytes());
            out.push(b':');
            out.extend(value(*kind));
        }
        out.push(b'}');
        out
    };
    let choice = if strict || fields.is_empty() {
        rng.below(6)
    } else {
        rng.below(11)
    };
    match choice {
        0 => {
            let len = rng.below(2048);
            rng.bytes(len)
        }
        1 => {
            // A well-typed object cut short: never valid JSON.
            let text = object(fields, &mut |k| right_value(k).as_bytes().to_vec());
            let cut = rng.below(text.len());
            text[..cut].to_vec()
        }
        2 => {
            // Not `[]` when strict: serde reads a struct from a JSON array
            // (its fields by position), so to an update whose fields are
            // all optional `[]` is the same as `{}`, a valid empty update.
            let pool: &[&str] = &[
                "\"x\"", "42", "null", "true", "[{}]", "\"{}\"", "", " ", "1e400", "[]",
            ];
            let pool = if strict {
                &pool[..pool.len() - 1]
            } else {
                pool
            };
            rng.pick(pool).as_bytes().to_vec()
        }
        3 => {
            let depth = *rng.pick(&[100, 129, 10_000]);
            let mut text = deep(rng, depth);
            if text.first() == Some(&b'{') {
                // Nested objects are still an object at the top: make the
                // top an array so it stays strict.
                text.insert(0, b'[');
            }
            text
        }
        4 => rng.pick(RAW_TOKENS).to_vec(),
        5 => {
            // Over the management limit: a 413 before any parsing.
            let mut text = b"[\"".to_vec();
            text.resize(MAX_MANAGE_BODY + 64 * 1024, b'z');
            text
        }
        6..=8 => {
            // Every field present, or some of them, each with a wrong type.
            let keep: Vec<(&str, Kind)> =
                fields.iter().copied().filter(|_| rng.chance(60)).collect();
            let keep = if keep.is_empty() {
                vec![*rng.pick(fields)]
            } else {
                keep
            };
            let mut values: Vec<Vec<u8>> = keep
                .iter()
                .map(|(_, k)| wrong_value(*k, rng).as_bytes().to_vec())
                .collect();
            let mut n = 0;
            object(&keep, &mut |_| {
                n += 1;
                std::mem::take(&mut values[n - 1])
            })
        }
        9 => {
            // Right types everywhere but one, which holds hostile text
            // (NaN, a lone surrogate, invalid UTF-8...) or a wrong type.
            let bad = rng.below(fields.len());
            let mut i = 0;
            let hostile = rng.chance(50);
            let bad_value = if hostile {
                [
                    b"\"\\ud800\"".as_slice(),
                    b"NaN",
                    b"\"\xff\"",
                    b"\"a\x00\"",
                    b"1e999999",
                ][rng.below(5)]
                .to_vec()
            } else {
                wrong_value(fields[bad].1, rng).as_bytes().to_vec()
            };
            let text = object(fields, &mut |k| {
                i += 1;
                if i - 1 == bad {
                    bad_value.clone()
                } else {
                    right_value(k).as_bytes().to_vec()
                }
            });
            if hostile && bad_value == b"\"\\ud800\"" {
                // A lone surrogate alone might one day be accepted as a
                // replacement character; keep one more field wrong so the
                // body stays invalid whatever the parser decides.
                let other = fields[(bad + 1) % fields.len()];
                let mut with_wrong = text[..text.len() - 1].to_vec();
                with_wrong.extend_from_slice(
                    format!(",\"{}\":{}}}", other.0, wrong_value(other.1, rng)).as_bytes(),
                );
                with_wrong
            } else {
                text
            }
        }
        _ => {
            // Only unknown fields, or none at all.
            if rng.chance(50) {
                b"{}".to_vec()
            } else {
                b"{\"\\u0000\":1,\"__proto__\":{\"admin\":true},\"\xc3\xa9\":[]}".to_vec()
            }
        }
    }
}

/// `POST /api/translate`: a well-formed envelope around a hostile body (the
/// handler is a pure function, so anything may pass), or a hostile envelope.
fn translate_body(rng: &mut Rng) -> Vec<u8> {
    const FORMATS: &[&str] = &[
        "\"openai\"",
        "\"anthropic\"",
        "\"gemini\"",
        "\"responses\"",
        "\"bogus\"",
        "5",
    ];
    const KINDS: &[&str] = &["\"request\"", "\"response\"", "\"bogus\"", "[]"];
    if rng.chance(15) {
        return management_body(
            &[("from", Enum), ("to", Enum), ("kind", Enum), ("body", Obj)],
            false,
            rng,
        );
    }
    let payload = *rng.pick(&[
        Payload::Chat,
        Payload::Anthropic,
        Payload::Responses,
        Payload::Gemini,
    ]);
    let inner = data_body(payload, rng);
    let inner = if inner.is_empty() || inner.len() > MAX_MANAGE_BODY / 2 {
        b"{}".to_vec()
    } else {
        inner
    };
    let mut out = format!(
        "{{\"from\":{},\"to\":{},\"kind\":{},",
        rng.pick(FORMATS),
        rng.pick(FORMATS),
        rng.pick(KINDS)
    )
    .into_bytes();
    if rng.chance(20) {
        out.extend_from_slice(b"\"model\":");
        out.extend(hostile_value(rng));
        out.push(b',');
    }
    out.extend_from_slice(b"\"body\":");
    out.extend(inner);
    out.push(b'}');
    out
}

/// `POST /api/restore`: never a usable database. Damaged copies of a real
/// backup get furthest: past the header check, into SQLite.
fn restore_body(backup: &[u8], rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => Vec::new(),
        1 => {
            let len = rng.below(64 * 1024);
            rng.bytes(len)
        }
        2 => {
            let len = 100 + rng.below(8192);
            let mut out = b"SQLite format 3\0".to_vec();
            out.extend(rng.bytes(len));
            out
        }
        3 => {
            // Cut short: the header promises pages that are not there.
            let cut = 100 + rng.below(backup.len().saturating_sub(101).max(1));
            backup[..cut.min(backup.len().saturating_sub(1))].to_vec()
        }
        4 => {
            // Header fields that decide how the file is read: page size,
            // versions, reserved space, page count, schema format, encoding.
            let mut out = backup.to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = *rng.pick(&[16, 17, 18, 19, 20, 21, 22, 28, 29, 44, 47, 56, 59]);
                out[at] = rng.next() as u8;
            }
            // And one page of the body overwritten with noise.
            let page = 1 + rng.below((out.len() / 4096).saturating_sub(1).max(1));
            let start = (page * 4096).min(out.len());
            let end = (start + 4096).min(out.len());
            let noise = rng.bytes(end - start);
            out[start..end].copy_from_slice(&noise);
            out
        }
        _ => b"{\"not\":\"a database\"}".to_vec(),
    }
}

// ---------------------------------------------------------------------------
// Requests

/// What the storm knows about the gateway under test.
struct Target {
    url: String,
    cookie: String,
    csrf: String,
    connection_ids: Vec<i64>,
    key_ids: Vec<i64>,
    backup: Vec<u8>,
}

/// One generated request, and what its answer may be.
struct Case {
    /// Which phase and which request of it: `storm #123` is request 123
    /// of the storm's seed, the same on every run.
    label: String,
    /// The route template, for the statistics.
    route: &'static str,
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    upstream: bool,
    shape: Shape,
}

impl Case {
    /// Everything needed to send the request again by hand.
    fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v).escape_debug()))
            .collect();
        let body = match &self.body {
            None => "none".to_string(),
            Some(b) => {
                let shown: String = String::from_utf8_lossy(&b[..b.len().min(600)])
                    .escape_debug()
                    .to_string();
                format!(
                    "{} bytes: {shown}{}",
                    b.len(),
                    if b.len() > 600 { "…" } else { "" }
                )
            }
        };
        format!(
            "{}: {} {}\n  headers: [{}]\n  body: {body}",
            self.label,
            self.method,
            self.path,
            headers.join(" | ")
        )
    }
}

fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Request `index` of the storm seeded with `seed`.
fn generate(phase: &str, index: usize, seed: u64, target: &Target) -> Case {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let route = rng.pick(ROUTES);
    let path_template = route.path;
    let manage = path_template.starts_with("/api/");

    // The registered method most of the time, else any method at all.
    let method = if rng.chance(82) {
        Method::from_bytes(route.method.as_bytes()).unwrap()
    } else {
        let methods: &[&[u8]] = &[
            b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"HEAD", b"TRACE", b"FUZZ",
        ];
        Method::from_bytes(rng.pick::<&[u8]>(methods)).unwrap()
    };
    let registered = method.as_str() == route.method;
    // Could this request, if it were well-formed and authorised, change a
    // record named in its path?
    let destructive = method == Method::DELETE || path_template.ends_with("/rotate");
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut strict = false;

    let mut id = |rng: &mut Rng, existing: &[String], bogus: &[&str]| -> String {
        let long = rng.chance(4);
        if long {
            return match rng.below(3) {
                0 => "9".repeat(5000),
                1 => "a".repeat(5000),
                _ => percent_encode_all(&"é".repeat(1000)),
            };
        }
        if !destructive && !existing.is_empty() && rng.chance(40) {
            // An existing record: a GET may read it; anything that could
            // change it gets a body that is not even a JSON object.
            if changes {
                strict = true;
            }
            return rng.pick(existing).clone();
        }
        (*rng.pick(bogus)).to_string()
    };
    let connection_ids: Vec<String> = target.connection_ids.iter().map(i64::to_string).collect();
    let key_ids: Vec<String> = target.key_ids.iter().map(i64::to_string).collect();
    let strings = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };

    let mut path = path_template.to_string();
    if path.contains("{cid}") {
        let v = id(&mut rng, &connection_ids, BOGUS_IDS);
        path = path.replace("{cid}", &v);
    }
    if path.contains("{kid}") {
        let v = id(&mut rng, &key_ids, BOGUS_IDS);
        path = path.replace("{kid}", &v);
    }
    if path.contains("{uid}") {
        let v = id(&mut rng, &strings(&["1", "2", "3"]), BOGUS_IDS);
        path = path.replace("{uid}", &v);
    }
    if path.contains("{pid}") {
        let v = id(&mut rng, &strings(PROVIDERS), BOGUS_NAMES);
        path = path.replace("{pid}", &v);
    }
    if path.contains("{combo}") {
        let v = id(&mut rng, &strings(COMBOS), BOGUS_NAMES);
        path = path.replace("{combo}", &v);
    }
    if path.contains("{tool}") {
        // Real tools are safe to name: their files live in the test's HOME.
        let v = if rng.chance(60) {
            (*rng.pick(TOOLS)).to_string()
        } else {
            (*rng.pick(BOGUS_NAMES)).to_string()
        };
        path = path.replace("{tool}", &v);
    }
    let model_in_path = |rng: &mut Rng| -> String {
        let pool: &[&str] = &[
            "mock/gpt-4.1",
            "gemini/gemini-2.5-flash",
            "anthropic/claude-sonnet-4-5",
            "models/gemini/gemini-2.5-flash",
            "openai/gpt-4.1",
            "my-stack",
            "",
            "%FF",
            "%00",
            "💩",
            "nope/none",
            "models/",
            "%2F%2F",
        ];
        if rng.chance(3) {
            "m".repeat(4000)
        } else {
            (*rng.pick(pool)).to_string()
        }
    };
    if path.contains("{gtarget}") {
        let suffixes: &[&str] = &[
            ":generateContent",
            ":streamGenerateContent",
            ":streamGenerateContent?alt=sse",
            ":countTokens",
            ":bogus",
            "",
            ":",
            ":generateContent:generateContent",
        ];
        let v = format!("{}{}", model_in_path(&mut rng), rng.pick(suffixes));
        path = path.replace("{gtarget}", &v);
    }
    if path.contains("{gmodel}") {
        let v = model_in_path(&mut rng);
        path = path.replace("{gmodel}", &v);
    }
    if path.contains("{mid}") {
        let v = model_in_path(&mut rng);
        path = path.replace("{mid}", &v);
    }
    if path.contains("{junk}") {
        let pool: &[&str] = &[
            "index.html",
            "nope.js",
            "%00",
            "%FF",
            "..%2F..%2Fetc%2Fpasswd",
            "pkg/x.wasm",
            "settings",
            "a/b/c/d/e",
        ];
        let v = (*rng.pick(pool)).to_string();
        path = path.replace("{junk}", &v);
    }
    if path == "{unknown}" {
        let pool: &[&str] = &[
            "/v2/chat/completions",
            "/api",
            "/api/",
            "/api/nope",
            "/v1",
            "/v1/",
            "/v1/chat",
            "/v1/chat/completions/x",
            "/%00",
            "/%FF",
            "//",
            "/v1//chat/completions",
            "/v1beta",
            "/v1beta/models/",
            "/.env",
            "/api/keys/1/2/3",
            "/v1/chat/completions%00",
            "/api/connections/1%2Ftest",
            "/API/KEYS",
            "/v1/messages/count_tokens/x",
        ];
        path = if rng.chance(5) {
            format!("/{}", "a".repeat(8000))
        } else {
            (*rng.pick(pool)).to_string()
        };
    }
    // Queries: often on the management lists and streams, sometimes anywhere.
    let has_query_params = matches!(
        path_template,
        "/api/usage" | "/api/usage/summary" | "/api/usage/live" | "/api/events" | "/api/audit"
    );
    if rng.chance(if has_query_params { 60 } else { 10 }) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let query = if rng.chance(10) {
            format!("limit={}", "9".repeat(3000))
        } else {
            (*rng.pick(QUERIES)).to_string()
        };
        path = format!("{path}{separator}{query}");
    }

    // The body, for the route's handler (or any handler a random method
    // reaches: the route's own payload stays malformed by construction).
    let payload = if registered {
        route.payload
    } else {
        Payload::None
    };
    let body = match payload {
        Payload::None => {
            if rng.chance(40) {
                Some(management_body(&[], true, &mut rng))
            } else {
                None
            }
        }
        Payload::Chat | Payload::Anthropic | Payload::Responses | Payload::Gemini => {
            Some(data_body(payload, &mut rng))
        }
        Payload::Fields(fields) => Some(management_body(fields, strict, &mut rng)),
        Payload::Translate => Some(translate_body(&mut rng)),
        Payload::Restore => Some(restore_body(&target.backup, &mut rng)),
        Payload::Login => Some(if rng.chance(30) {
            // Well-formed, wrong password: argon2 runs, then the lock-out.
            format!("{{\"password\":\"{}\"}}", rng.ascii(12)).into_bytes()
        } else {
            management_body(&[("password", Str)], false, &mut rng)
        }),
    };
    let body = body.filter(|_| !(method == Method::GET && rng.chance(50)));

    // Credentials.
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut header = |name: &str, value: &[u8]| headers.push((name.to_string(), value.to_vec()));
    let garbage_credential = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(6) {
            0 => b"Bearer ".to_vec(),
            1 => b"Bearer".to_vec(),
            2 => b"Basic Zm9vOmJhcg==".to_vec(),
            3 => [b"Bearer sk-".as_slice(), &rng.header_bytes(40)].concat(),
            4 => format!("Bearer {}", "k".repeat(8192)).into_bytes(),
            _ => b"Bearer sk-omni-\xe9\xff\x80".to_vec(),
        }
    };
    if manage {
        // Logging the session out would end the storm's own session.
        let logout = path_template == "/api/auth/logout";
        match rng.below(100) {
            0..=44 if !logout => {
                header("cookie", target.cookie.as_bytes());
                header("x-csrf-token", target.csrf.as_bytes());
            }
            0..=64 => header("authorization", format!("Bearer {TEST_KEY}").as_bytes()),
            65..=72 if !logout => header("cookie", target.cookie.as_bytes()),
            73..=77 if !logout => {
                header("cookie", target.cookie.as_bytes());
                let wrong = rng.header_bytes(64);
                header("x-csrf-token", &wrong);
            }
            78..=84 => {}
            85..=89 => {
                let cookie = [b"omniroute_session=".as_slice(), &rng.header_bytes(64)].concat();
                header("cookie", &cookie);
                header("x-csrf-token", target.csrf.as_bytes());
            }
            _ => {
                let credential = garbage_credential(&mut rng);
                header("authorization", &credential);
            }
        }
    } else if rng.chance(80) {
        let anthropic = matches!(route.payload, Payload::Anthropic);
        let gemini = route.shape == Shape::Gemini;
        match rng.below(4) {
            0 if anthropic => header("x-api-key", TEST_KEY.as_bytes()),
            0 if gemini => header("x-goog-api-key", TEST_KEY.as_bytes()),
            1 if gemini => {
                let separator = if path.contains('?') { '&' } else { '?' };
                path = format!("{path}{separator}key={TEST_KEY}");
            }
            _ => header("authorization", format!("Bearer {TEST_KEY}").as_bytes()),
        }
    } else if rng.chance(70) {
        let credential = garbage_credential(&mut rng);
        header("authorization", &credential);
        if rng.chance(30) {
            let key = rng.header_bytes(30);
            header("x-api-key", &key);
        }
    }

    // Other headers, some garbage.
    if body.is_some() {
        let ct = content_type(&mut rng);
        header("content-type", &ct);
    }
    if rng.chance(15) {
        let accept: &[&[u8]] = &[
            b"text/html",
            b"text/event-stream",
            b"application/xml",
            b"*/*",
            b"\x80\x81",
        ];
        let v = rng.pick(accept).to_vec();
        header("accept", &v);
    }
    if rng.chance(15) {
        let v = rng.pick(FORWARDED).as_bytes().to_vec();
        header("x-forwarded-for", &v);
    }
    if rng.chance(5) {
        let v = rng
            .pick(&[b"https".as_slice(), b"gopher", b"\xff"])
            .to_vec();
        header("x-forwarded-proto", &v);
    }
    if rng.chance(10) {
        let len = *rng.pick(&[0, 8, 64, 4096]);
        let v = rng.header_bytes(len);
        header("idempotency-key", &v);
    }
    if rng.chance(5) {
        let v = rng.header_bytes(36);
        header("x-request-id", &v);
    }
    if rng.chance(8) {
        let v = rng
            .pick(&[b"2023-06-01".as_slice(), b"garbage", b"", b"\xff"])
            .to_vec();
        header("anthropic-version", &v);
    }
    if rng.chance(6) {
        let v = rng
            .pick(&[
                b"-1".as_slice(),
                b"abc",
                b"18446744073709551616",
                b"1",
                b"\xff",
            ])
            .to_vec();
        header("last-event-id", &v);
    }
    if rng.chance(5) {
        let v = rng
            .pick(&[b"no-cache".as_slice(), b"no-store", b"max-age=-1", b"\x80"])
            .to_vec();
        header("cache-control", &v);
    }
    if rng.chance(6) {
        // A browser page's origin, sometimes as a CORS preflight.
        let v = rng
            .pick(&[
                b"https://evil.example".as_slice(),
                b"null",
                b"http://127.0.0.1:1",
                b"\xff\xfe",
                b"",
            ])
            .to_vec();
        header("origin", &v);
        if rng.chance(50) {
            header("access-control-request-method", b"POST");
            let v = rng.header_bytes(20);
            header("access-control-request-headers", &v);
        }
    }
    if rng.chance(8) {
        let len = 1 + rng.below(200);
        let v = rng.header_bytes(len);
        header("x-fuzz", &v);
    }
    if rng.chance(1) {
        for i in 0..100 {
            header(&format!("x-many-{i}"), "v".repeat(100).as_bytes());
        }
    }

    Case {
        label: format!("{phase} #{index}"),
        route: path_template,
        method,
        path,
        headers,
        body,
        upstream: route.upstream,
        shape: if registered {
            route.shape
        } else {
            Shape::OpenAi
        },
    }
}

// ---------------------------------------------------------------------------
// Sending and judging

/// What became of one request.
struct Outcome {
    status: Option<u16>,
    failure: Option<String>,
    /// The connection failed (no answer, or the answer's body broke off).
    transport: bool,
}

/// A problem with the answer, if there is one.
fn judge(case: &Case, status: u16, content_type: &str, body: &[u8]) -> Option<String> {
    let dashboard = case.path.starts_with("/dashboard");
    let root = case.path == "/" || case.path.starts_with("/?");
    match status {
        200..=299 => {
            // A request that happened to be valid; a JSON answer must parse.
            if content_type.starts_with("application/json")
                && !body.is_empty()
                && case.method != Method::HEAD
                && serde_json::from_slice::<Value>(body).is_err()
            {
                return Some(format!("{status} with a body that is not JSON"));
            }
            return None;
        }
        300..=399 if dashboard || root => return None,
        100..=399 => return Some(format!("unexpected status {status}")),
        500 => return Some("500 Internal Server Error".into()),
        502..=504 if case.upstream => {}
        501..=599 => return Some(format!("{status} from a route that calls no upstream")),
        _ => {}
    }
    // An error. HEAD answers carry no body by definition, and the dashboard
    // serves HTML to a browser: only the API's errors must be JSON.
    if body.is_empty() || case.method == Method::HEAD || dashboard {
        return None;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Some(format!(
            "{status} error that is not JSON (content-type {content_type:?})"
        ));
    };
    let message = value["error"]["message"].as_str().unwrap_or_default();
    if message.trim().is_empty() {
        return Some(format!("{status} error without error.message"));
    }
    match case.shape {
        Shape::Anthropic if value["type"] != "error" || !value["error"]["type"].is_string() => {
            Some(format!("{status} error not in Anthropic's shape"))
        }
        Shape::Gemini
            if value["error"]["code"] != json!(status) || !value["error"]["status"].is_string() =>
        {
            Some(format!("{status} error not in Gemini's shape"))
        }
        _ => None,
    }
}

async fn send(client: &reqwest::Client, url: &str, case: &Case) -> Outcome {
    let mut request = client
        .request(case.method.clone(), format!("{url}{}", case.path))
        .timeout(REQUEST_TIMEOUT);
    for (name, value) in &case.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            request = request.header(name, value);
        }
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Outcome {
                status: None,
                failure: Some(format!("no answer: {}", error_chain(&e))),
                transport: true,
            };
        }
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // The live streams never end: their head is the answer.
    if content_type.starts_with("text/event-stream")
        && matches!(case.route, "/api/events" | "/api/usage/live")
        && (200..300).contains(&status)
    {
        return Outcome {
            status: Some(status),
            failure: None,
            transport: false,
        };
    }
    match response.bytes().await {
        Ok(body) => Outcome {
            status: Some(status),
            failure: judge(case, status, &content_type, &body),
            transport: false,
        },
        Err(e) => Outcome {
            status: Some(status),
            failure: Some(format!(
                "{status}, then the body broke: {}",
                error_chain(&e)
            )),
            transport: true,
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Statistics and failures of a storm.
#[derive(Default)]
struct Report {
    statuses: BTreeMap<String, usize>,
    by_route: BTreeMap<&'static str, BTreeMap<String, usize>>,
    failures: Vec<String>,
    /// Requests with a sizeable body whose connection broke: see
    /// [`UNREAD_BODY`].
    unread_bodies: usize,
}

impl Report {
    fn record(&mut self, case: &Case, outcome: Outcome) {
        let status = outcome
            .status
            .map_or_else(|| "no answer".to_string(), |s| s.to_string());
        *self.statuses.entry(status.clone()).or_default() += 1;
        *self
            .by_route
            .entry(case.route)
            .or_default()
            .entry(status)
            .or_default() += 1;
        match outcome.failure {
            Some(_)
                if outcome.transport
                    && case.body.as_ref().is_some_and(|b| b.len() > UNREAD_BODY) =>
            {
                self.unread_bodies += 1;
            }
            Some(why) => self.failures.push(format!("{why}\n  {}", case.describe())),
            None => {}
        }
    }
}

/// A client that opens a fresh connection per request: the server may
/// close a kept-alive connection after an answer (one whose request body it
/// did not read), and a pooled request racing that close would fail without
/// the server being at fault. Without reuse, a request that gets no answer
/// is the server's doing.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Sends requests `0..count` of the storm seeded `seed`, `WORKERS` at a time.
async fn storm(target: &Arc<Target>, phase: &'static str, seed: u64, count: usize) -> Report {
    let client = fresh_client();
    let next = Arc::new(AtomicUsize::new(0));
    let report = Arc::new(Mutex::new(Report::default()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (client, next, report, target) =
            (client.clone(), next.clone(), report.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                let case = generate(phase, index, seed, &target);
                let outcome = send(&client, &target.url, &case).await;
                report.lock().unwrap().record(&case, outcome);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    Arc::try_unwrap(report)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap()
}

/// Identical requests from every worker at once, a few times over: races
/// between equal requests (a file named after the clock, an answer shared
/// in flight, one idempotency key for different bodies) that a random mix
/// seldom lines up.
async fn bursts(target: &Target) -> Report {
    const ROUNDS: usize = 3;
    let client = fresh_client();
    let key = || {
        vec![(
            "authorization".to_string(),
            format!("Bearer {TEST_KEY}").into_bytes(),
        )]
    };
    let json_key = || {
        let mut headers = key();
        headers.push(("content-type".into(), b"application/json".to_vec()));
        headers
    };
    let case =
        |route: &'static str, method: Method, path: &str, headers, body: Option<Vec<u8>>, shape| {
            Case {
                label: String::new(),
                route,
                method,
                path: path.to_string(),
                headers,
                body,
                upstream: !route.starts_with("/api/"),
                shape,
            }
        };
    let chat = |n: usize| {
        json!({"model": "mock/gpt-4.1", "temperature": 0,
               "messages": [{"role": "user", "content": format!("burst {n}")}]})
        .to_string()
        .into_bytes()
    };
    let mut groups: Vec<Vec<Case>> = Vec::new();
    for round in 0..ROUNDS {
        for path in [
            "/api/backup",
            "/api/backup/export",
            "/api/cli-tools",
            "/api/health",
            "/api/quota",
            "/api/usage?limit=1000",
            "/api/usage/summary",
            "/api/audit?limit=1000",
            "/metrics",
            "/v1/models",
            "/v1beta/models",
        ] {
            groups.push(
                (0..WORKERS)
                    .map(|_| case(path, Method::GET, path, key(), None, Shape::OpenAi))
                    .collect(),
            );
        }
        // The same low-temperature request: one upstream call shared.
        groups.push(
            (0..WORKERS)
                .map(|_| {
                    let body = Some(chat(round));
                    case(
                        "/v1/chat/completions",
                        Method::POST,
                        "/v1/chat/completions",
                        json_key(),
                        body,
                        Shape::OpenAi,
                    )
                })
                .collect(),
        );
        groups.push(
            (0..WORKERS)
                .map(|_| {
                    let body = json!({"model": "openai/gpt-4.1", "max_tokens": 8, "temperature": 0, "stream": true,
                                      "messages": [{"role": "user", "content": format!("burst {round}")}]});
                    let body = Some(body.to_string().into_bytes());
                    case("/v1/messages", Method::POST, "/v1/messages", json_key(), body, Shape::Anthropic)
                })
                .collect(),
        );
        // One idempotency key, a different body (valid or not) each time.
        groups.push(
            (0..WORKERS)
                .map(|n| {
                    let mut headers = json_key();
                    headers.push((
                        "idempotency-key".into(),
                        format!("burst-{round}").into_bytes(),
                    ));
                    let body = if n % 2 == 0 {
                        chat(n)
                    } else {
                        chat(n)[..20].to_vec()
                    };
                    case(
                        "/v1/chat/completions",
                        Method::POST,
                        "/v1/chat/completions",
                        headers,
                        Some(body),
                        Shape::OpenAi,
                    )
                })
                .collect(),
        );
    }
    let mut report = Report::default();
    for (n, group) in groups.into_iter().enumerate() {
        let answers = futures_util::future::join_all(
            group.iter().map(|case| send(&client, &target.url, case)),
        )
        .await;
        for (i, (mut case, outcome)) in group.into_iter().zip(answers).enumerate() {
            case.label = format!("burst {n}, request {i}");
            report.record(&case, outcome);
        }
    }
    report
}

// ---------------------------------------------------------------------------
// Configuration snapshot

/// What must not change: the exported configuration (providers,
/// connections, combos, settings, key names), and the management lists
/// whole (ids, timestamps, connection states, key expiries) but for the
/// fields traffic moves: a key's use counters and a provider's live
/// usability.
async fn configuration(client: &reqwest::Client, url: &str) -> Value {
    let get = |path: &'static str| {
        let request = client
            .get(format!("{url}{path}"))
            .bearer_auth(TEST_KEY)
            .send();
        async move {
            let response = request.await.unwrap();
            assert_eq!(response.status(), 200, "GET {path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let mut export = get("/api/backup/export").await;
    export.as_object_mut().unwrap().remove("exported_at");
    let without = |mut list: Value, moving: &[&str]| -> Value {
        for row in list["data"].as_array_mut().unwrap() {
            row.as_object_mut()
                .unwrap()
                .retain(|k, _| !moving.contains(&k.as_str()));
        }
        list["data"].take()
    };
    json!({
        "export": export,
        "keys": without(get("/api/keys").await, &["last_used_at", "request_count", "usage"]),
        "connections": without(get("/api/connections").await, &[]),
        "providers": without(get("/api/providers").await, &["usable"]),
        "combos": get("/api/combos").await,
        "settings": get("/api/settings").await,
    })
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["id"].as_i64())
        .collect()
}

fn print_report(name: &str, report: &Report, elapsed: Duration) {
    println!(
        "{name}: {} requests in {:.1} s; statuses {:?}; connections reset over an unread body: {}",
        report.statuses.values().sum::<usize>(),
        elapsed.as_secs_f64(),
        report.statuses,
        report.unread_bodies
    );
}

// ---------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_malformed_requests_on_every_route_leave_the_gateway_serving_and_unchanged() {
    let started = Instant::now();
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Loopback is a trusted proxy, so the storm's X-Forwarded-For values
    // reach the address parsing, the per-address pacing and the login lock.
    let config = format!(
        "{}\n[settings]\nmax_body_bytes = {MAX_BODY}\ntrusted_proxies = [\"127.0.0.1\"]\n",
        mock_config(&mock.base_url())
    );
    let mut gateway = GatewayProcess::launch(dir.path(), &config);
    let url = gateway.url.clone();
    let client = reqwest::Client::new();

    // Sign in as the dashboard does, before the storm's wrong passwords
    // lock the loopback address out of the login.
    let login = client
        .post(format!("{url}/api/auth/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = login.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    let before = configuration(&client, &url).await;
    let connection_ids = ids(&before["connections"]);
    let key_ids = ids(&before["keys"]);
    assert!(
        !connection_ids.is_empty() && !key_ids.is_empty(),
        "{before}"
    );
    // A bogus id must never name a real record (a DELETE would succeed).
    for bogus in BOGUS_IDS {
        if let Ok(n) = bogus.parse::<i64>() {
            assert!(
                !connection_ids.contains(&n) && !key_ids.contains(&n),
                "bogus id {bogus} exists"
            );
        }
    }
    let backup = client
        .get(format!("{url}/api/backup"))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(backup.starts_with(b"SQLite format 3\0") && backup.len() > 8192);

    let target = Arc::new(Target {
        url: url.clone(),
        cookie,
        csrf,
        connection_ids,
        key_ids,
        backup,
    });

    // Warm-up with another seed, then the baseline.
    let warm_started = Instant::now();
    let warm = storm(&target, "warm-up", SEED ^ 0xFFFF, WARM_UP).await;
    print_report("warm-up", &warm, warm_started.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (baseline_kib, _) = memory_kib(gateway.pid());

    let storm_started = Instant::now();
    let report = storm(&target, "storm", SEED, STORM).await;
    let storm_elapsed = storm_started.elapsed();
    print_report("storm", &report, storm_elapsed);
    let burst_started = Instant::now();
    let burst = bursts(&target).await;
    print_report("bursts", &burst, burst_started.elapsed());
    for (route, statuses) in &report.by_route {
        println!("  {route}: {statuses:?}");
    }

    // Every check runs, and the test then fails once with all that went
    // wrong: a bad answer and a changed configuration are both worth seeing.
    let mut problems: Vec<String> = Vec::new();
    if let Some(status) = gateway.exited() {
        // Nothing else can be checked on a dead process.
        panic!(
            "the gateway died during the storm ({status}):\n{}",
            std::fs::read_to_string(&gateway.stderr).unwrap_or_default()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (after_kib, peak_kib) = memory_kib(gateway.pid());
    println!(
        "gateway memory: {} MiB after warm-up, {} MiB after the storm (growth {} MiB), peak {} MiB",
        baseline_kib / 1024,
        after_kib / 1024,
        after_kib.saturating_sub(baseline_kib) / 1024,
        peak_kib / 1024
    );
    if after_kib >= baseline_kib + RSS_GROWTH_LIMIT_KIB {
        problems.push(format!(
            "resident memory grew from {baseline_kib} KiB to {after_kib} KiB"
        ));
    }

    let panics = gateway.panics();
    if !panics.is_empty() {
        problems.push(format!(
            "the gateway panicked {} time(s):\n{}",
            panics.len(),
            panics.join("\n---\n")
        ));
    }

    // It still serves a normal request through the mock upstream.
    let chat = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(TEST_KEY)
        .json(&json!({"model": "mock/gpt-4.1", "messages": [{"role": "user", "content": "still there?"}]}))
        .send()
        .await
        .unwrap();
    let chat_status = chat.status();
    let chat_body: Value = chat.json().await.unwrap_or(Value::Null);
    if chat_status != 200
        || chat_body["choices"][0]["message"]["content"] != omniroute_tests::mock::OPENAI_TEXT
    {
        problems.push(format!(
            "a normal chat request after the storm: {chat_status} {chat_body}"
        ));
    }
    // The dashboard session survived (the storm never sends it to logout).
    let session = client
        .get(format!("{url}/api/keys"))
        .header("cookie", &target.cookie)
        .send()
        .await
        .unwrap()
        .status();
    if session != 200 {
        problems.push(format!("the signed-in session was lost: {session}"));
    }

    let after = configuration(&client, &url).await;
    if after != before {
        problems.push(format!(
            "the configuration changed during the storm:\nbefore: {before}\nafter:  {after}"
        ));
    }

    let mut failures: Vec<String> = warm.failures;
    failures.extend(report.failures);
    failures.extend(burst.failures);
    // Every bad answer in full on stdout (`--nocapture`); the failure
    // message repeats the first ones.
    for failure in &failures {
        println!("BAD ANSWER {failure}\n");
    }
    if !failures.is_empty() {
        problems.push(format!(
            "{} bad answer(s); the first ones:\n\n{}",
            failures.len(),
            failures
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n\n")
        ));
    }
    if let Some(status) = gateway.exited() {
        problems.push(format!("the gateway died after the storm ({status})"));
    }
    println!("total runtime {:.1} s", started.elapsed().as_secs_f64());
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
