//! `omniroute-bench`: load benchmark of the release `omniroute` gateway in front of the release `mock-upstream`, all on 127.0.0.1.
//!
//! Usage: `omniroute-bench [--seconds N] [--drift-requests N] [--threads N]
//! [--translate-requests N] [--translate-streams N] [--routing-requests N] [--routing-only]
//! [--dashboard-requests N] [--dashboard-only] [--oauth-only]`
//! (`make bench` builds the release binaries first). Both servers run as
//! child processes found next to this executable. A hyper 1 HTTP/1.1 load
//! generator (one keep-alive connection per client) measures the mock
//! directly and through the gateway, with 1 and 32 clients, non-stream and
//! stream; then the gateway's memory and whether its latency drifts as it
//! serves requests; then what translation costs (`translation.rs`); then
//! what routing costs (`routing.rs`: combo, fallback hop, skip; alone with
//! `--routing-only`); then what serving the dashboard costs (`dashboard.rs`;
//! alone with `--dashboard-only`). Exits non-zero when any request failed.

mod dashboard;
mod guards;
mod oauth;
mod routing;
mod translation;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use omniroute_tests::{TEST_KEY, mock_config};
use tokio::net::TcpStream;

/// Load before each measured window (connections open, pools fill, caches warm).
const WARMUP: Duration = Duration::from_secs(1);
/// Time the gateway gets after start before its idle RSS is read.
const SETTLE: Duration = Duration::from_secs(1);
/// Longest wait for a child's "ready" line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound on the drift run, whatever its request count.
const DRIFT_MAX: Duration = Duration::from_secs(40);
/// Client counts of the scenarios.
const CLIENTS: [usize; 2] = [1, 32];
/// Cores other processes may keep busy during a window before the run is flagged as disturbed.
const NOISE_CORES: f64 = 0.25;
/// Lines of a child's stderr kept to show when something goes wrong.
const STDERR_TAIL: usize = 20;

// Targets of the performance issue, checked at the end.
const TARGET_P50_OVERHEAD_MS: f64 = 0.1;
const TARGET_P99_OVERHEAD_MS: f64 = 0.5;
const TARGET_RPS_32: f64 = 20_000.0;
const TARGET_IDLE_RSS_MB: f64 = 30.0;
const TARGET_PEAK_RSS_MB: f64 = 60.0;
/// The last 10 % of the drift run may be at most this much slower (p50) than the first 10 %.
const DRIFT_TOLERANCE: f64 = 1.10;

struct Args {
    seconds: u64,
    drift_requests: usize,
    threads: usize,
    /// Requests per path of the end-to-end translation run.
    translate_requests: usize,
    /// Streams decoded and encoded by the in-process translation run.
    translate_streams: usize,
    /// Requests per path of the routing run (one client).
    routing_requests: usize,
    /// Run only the routing benchmark.
    routing_only: bool,
    /// Requests per path of the dashboard run.
    dashboard_requests: usize,
    /// Run only the dashboard benchmark.
    dashboard_only: bool,
    oauth_only: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 4,
        drift_requests: 20_000,
        threads: 1,
        translate_requests: 300,
        translate_streams: 2_000,
        routing_requests: 2_000,
        routing_only: false,
        dashboard_requests: 2_000,
        dashboard_only: false,
        oauth_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = it.next().ok_or_else(|| anyhow!("{name} needs a value"))?;
            v.parse::<u64>()
                .with_context(|| format!("{name} {v}: not a number"))
        };
        match flag.as_str() {
            "--seconds" => args.seconds = value("--seconds")?.max(1),
            "--drift-requests" => args.drift_requests = value("--drift-requests")?.max(10) as usize,
            "--threads" => args.threads = value("--threads")?.max(1) as usize,
            "--translate-requests" => {
                args.translate_requests = value("--translate-requests")?.max(10) as usize
            }
            "--translate-streams" => {
                args.translate_streams = value("--translate-streams")?.max(10) as usize
            }
            "--routing-requests" => {
                args.routing_requests = value("--routing-requests")?.max(10) as usize
            }
            "--routing-only" => args.routing_only = true,
            "--dashboard-requests" => {
                args.dashboard_requests = value("--dashboard-requests")?.max(10) as usize
            }
            "--dashboard-only" => args.dashboard_only = true,
            "--oauth-only" => args.oauth_only = true,
            "-h" | "--help" => {
                println!(
                    "omniroute-bench [--seconds N (measured window, default 4)] \
                     [--drift-requests N (default 20000)] [--threads N (load generator threads, default 1)] \
                     [--translate-requests N (per path, default 300)] [--translate-streams N (in-process, default 2000)] \
                     [--routing-requests N (per path, default 2000)] [--routing-only] \
                     [--dashboard-requests N (per path, default 2000)] [--dashboard-only] [--oauth-only]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(0) => {
            println!("bench: done");
            ExitCode::SUCCESS
        }
        Ok(errors) => {
            println!("bench: done, but {errors} requests FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs everything; returns the number of failed requests.
fn run() -> Result<usize> {
    let args = parse_args()?;
    if args.oauth_only {
        oauth::run();
        return Ok(0);
    }
    let window = Duration::from_secs(args.seconds);
    let bin_dir = std::env::current_exe()
        .context("current exe")?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("the bench executable has no directory"))?;
    let mock_bin = sibling(&bin_dir, "mock-upstream")?;
    let gateway_bin = sibling(&bin_dir, "omniroute")?;
    if args.routing_only {
        return routing::run(&bin_dir, args.routing_requests, args.threads);
    }
    if args.dashboard_only {
        return dashboard::run(&bin_dir, args.dashboard_requests, args.threads);
    }

    let (mock, mock_url) = Proc::spawn(
        "mock-upstream",
        &mock_bin,
        &["--quiet", "--port", "0"],
        &[],
        |line| line.starts_with("http://").then(|| line.trim().to_string()),
    )?;
    let data_dir = tempfile::tempdir().context("temp dir")?;
    let config_path = data_dir.path().join("omniroute.toml");
    std::fs::write(&config_path, mock_config(&mock_url)).context("write config")?;
    let data_arg = data_dir.path().to_string_lossy().into_owned();
    let config_arg = config_path.to_string_lossy().into_owned();
    let (gateway, gateway_url) = Proc::spawn(
        "omniroute",
        &gateway_bin,
        &[
            "--port",
            "0",
            "--no-open",
            "--data-dir",
            &data_arg,
            "--config",
            &config_arg,
        ],
        &[("OMNIROUTE_LOG", "warn")],
        |line| {
            line.strip_prefix("OmniRoute listening on ")
                .map(|u| u.trim().to_string())
        },
    )?;

    std::thread::sleep(SETTLE);
    let idle_rss_kb = proc_status_kb(gateway.child.id(), "VmRSS")?;

    let pids = Pids {
        gateway: gateway.child.id(),
        mock: mock.child.id(),
        generator: std::process::id(),
    };
    let direct = Arc::new(Target::new("mock direct", &mock_url, "gpt-4.1")?);
    let through = Arc::new(Target::new("gateway", &gateway_url, "openai/gpt-4.1")?);

    println!(
        "omniroute-bench: {} s warm-up + {} s window per scenario, load generator on {} thread(s)",
        WARMUP.as_secs(),
        window.as_secs(),
        args.threads
    );
    println!("  mock upstream: {mock_url} (pid {})", mock.child.id());
    println!(
        "  gateway:       {gateway_url} (pid {})",
        gateway.child.id()
    );
    println!();

    let runtime = runtime(args.threads)?;

    let mut results: Vec<Scenario> = Vec::new();
    for target in [&direct, &through] {
        for clients in CLIENTS {
            for stream in [false, true] {
                let outcome =
                    runtime.block_on(run_scenario(target.clone(), clients, stream, window, pids));
                let scenario = Scenario::new(target.name, clients, stream, window, outcome);
                eprintln!(
                    "  ran {:<11} {:>2} client(s) {:<10} {:>8.0} req/s{}",
                    scenario.target,
                    clients,
                    mode(stream),
                    scenario.rps,
                    if scenario.errors > 0 {
                        "  (ERRORS)"
                    } else {
                        ""
                    }
                );
                results.push(scenario);
            }
        }
    }

    let drift = runtime.block_on(run_drift(through.clone(), args.drift_requests));
    let translated = runtime.block_on(translation::end_to_end(
        &gateway_url,
        args.translate_requests,
    ));
    let peak_rss_kb = proc_status_kb(gateway.child.id(), "VmHWM")?;
    let end_rss_kb = proc_status_kb(gateway.child.id(), "VmRSS")?;
    drop(runtime);

    let mut errors: usize = results.iter().map(|s| s.errors).sum();
    errors += drift.errors;

    println!();
    print_results(&results);
    println!();
    let overheads = print_overhead(&results);
    println!();
    let idle_mb = idle_rss_kb as f64 / 1024.0;
    let peak_mb = peak_rss_kb as f64 / 1024.0;
    println!("Gateway memory (/proc/<pid>/status, 1 MB = 1024 kB)");
    println!(
        "  idle RSS (VmRSS {} s after start)     {idle_mb:>8.1} MB",
        SETTLE.as_secs()
    );
    println!("  peak RSS (VmHWM after all runs)       {peak_mb:>8.1} MB");
    println!(
        "  RSS after all runs (VmRSS)            {:>8.1} MB",
        end_rss_kb as f64 / 1024.0
    );
    println!();
    let drift_ratio = print_drift(&drift);
    println!();
    let in_process = translation::in_process(args.translate_streams);
    let translation_costs = match &translated {
        Ok(run) => Some(translation::print(run, &in_process)),
        Err(e) => {
            errors += 1;
            println!("Translation benchmark failed: {e:#}");
            None
        }
    };
    println!();
    guards::run();
    println!();
    oauth::run();
    println!();
    match routing::run(&bin_dir, args.routing_requests, args.threads) {
        Ok(routing_errors) => errors += routing_errors,
        Err(e) => {
            errors += 1;
            println!("Routing benchmark failed: {e:#}");
        }
    }
    println!();
    match dashboard::run(&bin_dir, args.dashboard_requests, args.threads) {
        Ok(dashboard_errors) => errors += dashboard_errors,
        Err(e) => {
            errors += 1;
            println!("Dashboard benchmark failed: {e:#}");
        }
    }
    println!();

    let mut failures: Vec<String> = Vec::new();
    for s in results.iter().filter(|s| s.errors > 0) {
        failures.push(format!(
            "{} {} client(s) {}: {} errors, first: {}",
            s.target,
            s.clients,
            mode(s.stream),
            s.errors,
            s.first_error.as_deref().unwrap_or("?")
        ));
    }
    if drift.errors > 0 {
        failures.push(format!(
            "drift run: {} errors, first: {}",
            drift.errors,
            drift.first_error.as_deref().unwrap_or("?")
        ));
    }

    let one = overheads.iter().find(|o| o.clients == 1 && !o.stream);
    let gw32 = results
        .iter()
        .find(|s| s.target == through.name && s.clients == 32 && !s.stream);
    println!("Targets (from the performance issue)");
    let target = |name: String, value: String, ok: bool| {
        let verdict = if ok { "met" } else { "NOT MET" };
        println!("  {name:<50} {value:>10}  {verdict}");
    };
    if let Some(o) = one {
        target(
            format!("1 client, gateway overhead p50 <= {TARGET_P50_OVERHEAD_MS} ms"),
            format!("{:.3} ms", o.d_p50),
            o.d_p50 <= TARGET_P50_OVERHEAD_MS,
        );
        target(
            format!("1 client, gateway overhead p99 <= {TARGET_P99_OVERHEAD_MS} ms"),
            format!("{:.3} ms", o.d_p99),
            o.d_p99 <= TARGET_P99_OVERHEAD_MS,
        );
    }
    if let Some(g) = gw32 {
        target(
            format!("32 clients non-stream via gateway >= {TARGET_RPS_32:.0} req/s"),
            format!("{:.0}", g.rps),
            g.rps >= TARGET_RPS_32,
        );
    }
    target(
        format!("idle RSS <= {TARGET_IDLE_RSS_MB} MB"),
        format!("{idle_mb:.1} MB"),
        idle_mb <= TARGET_IDLE_RSS_MB,
    );
    target(
        format!("peak RSS <= {TARGET_PEAK_RSS_MB} MB"),
        format!("{peak_mb:.1} MB"),
        peak_mb <= TARGET_PEAK_RSS_MB,
    );
    if let Some(r) = drift_ratio {
        target(
            format!("no latency drift (last/first p50 <= {DRIFT_TOLERANCE:.2})"),
            format!("{r:.2}"),
            r <= DRIFT_TOLERANCE,
        );
    }
    if let Some(costs) = translation_costs {
        target(
            format!(
                "translation adds < {} ms to time to first byte",
                translation::TARGET_TTFB_MS
            ),
            format!("{:.3} ms", costs.ttfb_ms),
            costs.ttfb_ms < translation::TARGET_TTFB_MS,
        );
        target(
            format!(
                "translation costs < {} us per chunk",
                translation::TARGET_CHUNK_US
            ),
            format!("{:.2} us", costs.chunk_us),
            costs.chunk_us < translation::TARGET_CHUNK_US,
        );
    }
    println!();

    for (name, proc) in [("mock-upstream", &mock), ("omniroute", &gateway)] {
        let tail = proc.stderr_tail();
        if !tail.is_empty() {
            println!("{name} stderr (last {} lines):", tail.len());
            for line in tail {
                println!("  {line}");
            }
        }
    }
    if !failures.is_empty() {
        println!("!!! ERRORS !!!");
        for f in &failures {
            println!("  {f}");
        }
    }
    drop(gateway);
    drop(mock);
    drop(data_dir);
    Ok(errors)
}

/// The load generator's runtime: one thread, or `threads` workers.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build().context("tokio runtime")
}

fn sibling(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build the release binaries first (`cargo build --release --workspace --bins`, as `make bench` does)",
            path.display()
        );
    }
    Ok(path)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

fn mode(stream: bool) -> &'static str {
    if stream { "stream" } else { "non-stream" }
}

/// A child process, killed and reaped when dropped (also on error paths).
struct Proc {
    child: Child,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts `path` and waits for the stdout line `ready` accepts; returns
    /// what `ready` extracted from it. Stdout and stderr keep being drained
    /// by threads so the child never blocks on a full pipe.
    fn spawn(
        name: &str,
        path: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        ready: fn(&str) -> Option<String>,
    ) -> Result<(Proc, String)> {
        let mut cmd = Command::new(path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", path.display()))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let proc = Proc {
            child,
            stderr: Arc::new(Mutex::new(VecDeque::new())),
        };
        if let Some(stderr) = stderr {
            let tail = proc.stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == STDERR_TAIL {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        let stdout = stdout.ok_or_else(|| anyhow!("{name}: no stdout pipe"))?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut tx = Some(tx);
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let found = tx.as_ref().and_then(|_| ready(line.trim_end()));
                        if let (Some(found), Some(sender)) = (found, tx.as_ref()) {
                            let _ = sender.send(found);
                            tx = None;
                        }
                    }
                }
            }
            // Drain anything else (binary-safe) until the child exits.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(found) => Ok((proc, found)),
            Err(_) => {
                let tail = proc_kill(proc);
                bail!(
                    "{name} exited or did not print its ready line within {} s; its stderr:\n{}",
                    START_TIMEOUT.as_secs(),
                    tail.join("\n")
                )
            }
        }
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.stderr
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Kills `proc` and gives back its stderr tail (for the error message).
fn proc_kill(mut proc: Proc) -> Vec<String> {
    let _ = proc.child.kill();
    let _ = proc.child.wait();
    // Let the stderr thread read what the child wrote last.
    std::thread::sleep(Duration::from_millis(100));
    proc.stderr_tail()
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

/// Where requests go and what they carry.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    host: HeaderValue,
    path: String,
    auth: HeaderValue,
    plain: Bytes,
    stream: Bytes,
}

impl Target {
    /// `base_url` is `http://127.0.0.1:PORT/v1`.
    fn new(name: &'static str, base_url: &str, model: &str) -> Result<Target> {
        let rest = base_url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("{name}: `{base_url}` is not an http:// URL"))?;
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let addr: SocketAddr = authority
            .parse()
            .with_context(|| format!("{name}: `{authority}` is not an IP:port"))?;
        let prefix = prefix.trim_end_matches('/');
        let path = if prefix.is_empty() {
            "/chat/completions".to_string()
        } else {
            format!("/{prefix}/chat/completions")
        };
        let body = |stream: bool| {
            let mut v = serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]});
            if stream {
                v["stream"] = serde_json::Value::Bool(true);
            }
            Bytes::from(v.to_string())
        };
        Ok(Target {
            name,
            addr,
            host: HeaderValue::from_str(authority)?,
            path,
            auth: HeaderValue::from_str(&format!("Bearer {TEST_KEY}"))?,
            plain: body(false),
            stream: body(true),
        })
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// One keep-alive HTTP/1.1 connection with TCP_NODELAY.
async fn connect(target: &Target) -> Result<Sender> {
    connect_to(target.addr).await
}

async fn connect_to(addr: SocketAddr) -> Result<Sender> {
    let tcp = TcpStream::connect(addr).await.context("connect")?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request, reads the whole body and checks it.
async fn one_request(sender: &mut Sender, target: &Target, stream: bool) -> Result<()> {
    sender.ready().await?;
    let body = if stream {
        &target.stream
    } else {
        &target.plain
    };
    let request = Request::post(target.path.as_str())
        .header(HOST, target.host.clone())
        .header(AUTHORIZATION, target.auth.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Full::new(body.clone()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if status != hyper::StatusCode::OK {
        bail!("HTTP {status}: {}", snippet(&bytes));
    }
    let needle: &[u8] = if stream {
        b"data: [DONE]"
    } else {
        b"\"choices\""
    };
    if !bytes.windows(needle.len()).any(|w| w == needle) {
        bail!(
            "HTTP 200 without `{}`: {}",
            String::from_utf8_lossy(needle),
            snippet(&bytes)
        );
    }
    Ok(())
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(300).collect()
}

/// What the clients of one scenario saw.
#[derive(Default)]
struct Outcome {
    /// Latencies (µs) of requests started and finished inside the window.
    latencies: Vec<u32>,
    /// CPU ns used in the window by the gateway, the mock, the generator, and the whole machine.
    cpu_ns: [u64; 4],
    errors: usize,
    first_error: Option<String>,
}

impl Outcome {
    fn error(&mut self, e: &anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e:#}"));
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// Closed loop: each client sends its next request as soon as the last one is read.
async fn client_loop(
    target: Arc<Target>,
    stream: bool,
    measure_from: Instant,
    end: Instant,
) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(1 << 14),
        ..Default::default()
    };
    let mut sender: Option<Sender> = None;
    while Instant::now() < end {
        let conn = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&target).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    out.error(&e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        match one_request(conn, &target, stream).await {
            Ok(()) => {
                let done = Instant::now();
                if started >= measure_from && done <= end {
                    out.latencies.push(micros(done - started));
                }
            }
            Err(e) => {
                out.error(&e);
                sender = None;
            }
        }
    }
    out
}

async fn run_scenario(
    target: Arc<Target>,
    clients: usize,
    stream: bool,
    window: Duration,
    pids: Pids,
) -> Outcome {
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + window;
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client_loop(target.clone(), stream, measure_from, end)))
        .collect();
    // CPU time each process spends inside the measured window.
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = pids.cpu_ns();
        tokio::time::sleep_until(end.into()).await;
        let after = pids.cpu_ns();
        [0, 1, 2, 3].map(|i| after[i].saturating_sub(before[i]))
    });
    let mut all = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(out) => all.merge(out),
            Err(e) => all.error(&anyhow!("client task failed: {e}")),
        }
    }
    all.cpu_ns = cpu.await.unwrap_or_default();
    all
}

/// The processes whose CPU time is measured: gateway, mock, this generator.
#[derive(Clone, Copy)]
struct Pids {
    gateway: u32,
    mock: u32,
    generator: u32,
}

impl Pids {
    /// CPU ns of the gateway, the mock, the generator, and of the whole machine.
    fn cpu_ns(&self) -> [u64; 4] {
        let [g, m, b] = [self.gateway, self.mock, self.generator].map(process_cpu_ns);
        [g, m, b, machine_busy_ns()]
    }
}

/// Busy CPU time of the whole machine (all but idle and iowait) from the
/// first line of `/proc/stat`, in ns (its unit is USER_HZ = 1/100 s).
fn machine_busy_ns() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user already).
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy * 10_000_000
}

/// CPU time (ns) a process's live threads have used: the first field of
/// `/proc/<pid>/task/<tid>/schedstat`, summed.
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One client, non-stream, a fixed number of requests in order (bounded by [`DRIFT_MAX`]).
async fn run_drift(target: Arc<Target>, count: usize) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity(count),
        ..Default::default()
    };
    let deadline = Instant::now() + DRIFT_MAX;
    let mut sender: Option<Sender> = None;
    while out.latencies.len() < count && Instant::now() < deadline {
        let conn = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&target).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    out.error(&e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        match one_request(conn, &target, false).await {
            Ok(()) => out.latencies.push(micros(started.elapsed())),
            Err(e) => {
                out.error(&e);
                sender = None;
            }
        }
    }
    out
}

/// Nearest-rank percentile of sorted µs latencies, in ms.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted[idx] as f64 / 1000.0
}

fn p_ms(latencies: &[u32], p: f64) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    percentile_ms(&sorted, p)
}

struct Scenario {
    target: &'static str,
    clients: usize,
    stream: bool,
    requests: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
    first_error: Option<String>,
    /// CPU µs per request (gateway, mock, generator).
    cpu_us: [f64; 3],
    /// Cores busy with the three processes, and with everything else on the machine.
    cores: f64,
    other: f64,
}

impl Scenario {
    fn new(
        target: &'static str,
        clients: usize,
        stream: bool,
        window: Duration,
        mut outcome: Outcome,
    ) -> Scenario {
        outcome.latencies.sort_unstable();
        let requests = outcome.latencies.len();
        let [gw, mock, generator, machine] = outcome.cpu_ns;
        let secs = window.as_secs_f64();
        let ours = (gw + mock + generator) as f64 / 1e9 / secs;
        let per_request = |ns: u64| ns as f64 / 1000.0 / requests.max(1) as f64;
        Scenario {
            target,
            clients,
            stream,
            requests,
            rps: requests as f64 / window.as_secs_f64(),
            p50: percentile_ms(&outcome.latencies, 50.0),
            p99: percentile_ms(&outcome.latencies, 99.0),
            errors: outcome.errors,
            first_error: outcome.first_error,
            cpu_us: [gw, mock, generator].map(per_request),
            cores: ours,
            other: (machine as f64 / 1e9 / secs - ours).max(0.0),
        }
    }
}

fn print_results(results: &[Scenario]) {
    println!("Results (closed loop; latency = request sent .. whole response body read)");
    println!("  gw/mock/gen cpu = CPU µs per request of the gateway, the mock and this generator;");
    println!(
        "  cores = cores those three kept busy; other = cores busy outside them (other programs,"
    );
    println!(
        "  and kernel threads such as disk writeback of the gateway's database); {} cores in all",
        cores()
    );
    println!(
        "{:<12} {:>7} {:<10} {:>9} {:>8} {:>8} {:>8} {:>6} {:>7} {:>7} {:>7} {:>5} {:>5}",
        "target",
        "clients",
        "mode",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "gw cpu",
        "mock",
        "gen",
        "cores",
        "other"
    );
    for s in results {
        println!(
            "{:<12} {:>7} {:<10} {:>9} {:>8.0} {:>8.3} {:>8.3} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>5.2} {:>5.2}",
            s.target,
            s.clients,
            mode(s.stream),
            s.requests,
            s.rps,
            s.p50,
            s.p99,
            s.errors,
            s.cpu_us[0],
            s.cpu_us[1],
            s.cpu_us[2],
            s.cores,
            s.other
        );
    }
    let noisy = results.iter().filter(|s| s.other > NOISE_CORES).count();
    if noisy > 0 {
        println!(
            "  WARNING: something else kept > {NOISE_CORES} core busy during {noisy} scenario(s) (`other`); those numbers may be disturbed"
        );
    }
}

struct Overhead {
    clients: usize,
    stream: bool,
    d_p50: f64,
    d_p99: f64,
}

fn print_overhead(results: &[Scenario]) -> Vec<Overhead> {
    println!("Gateway overhead (gateway - mock direct)");
    println!(
        "{:>7} {:<10} {:>10} {:>10} {:>22}",
        "clients", "mode", "Δp50 ms", "Δp99 ms", "throughput gw/direct"
    );
    let mut out = Vec::new();
    for clients in CLIENTS {
        for stream in [false, true] {
            let find = |gateway: bool| {
                results.iter().find(|s| {
                    s.clients == clients && s.stream == stream && (s.target == "gateway") == gateway
                })
            };
            let (Some(gw), Some(direct)) = (find(true), find(false)) else {
                continue;
            };
            let o = Overhead {
                clients,
                stream,
                d_p50: gw.p50 - direct.p50,
                d_p99: gw.p99 - direct.p99,
            };
            println!(
                "{:>7} {:<10} {:>10.3} {:>10.3} {:>22.2}",
                clients,
                mode(stream),
                o.d_p50,
                o.d_p99,
                gw.rps / direct.rps
            );
            out.push(o);
        }
    }
    out
}

/// Prints the first-10 % vs last-10 % p50 of the drift run; returns last/first.
fn print_drift(drift: &Outcome) -> Option<f64> {
    let n = drift.latencies.len();
    println!("Latency drift (gateway, 1 client, non-stream, {n} requests in order)");
    let tenth = n / 10;
    if tenth == 0 {
        println!("  too few requests to compare");
        return None;
    }
    let first = p_ms(&drift.latencies[..tenth], 50.0);
    let last = p_ms(&drift.latencies[n - tenth..], 50.0);
    let all = p_ms(&drift.latencies, 50.0);
    println!("  p50 first 10% ({tenth} requests): {first:.3} ms");
    println!("  p50 last 10%  ({tenth} requests): {last:.3} ms");
    println!("  p50 all: {all:.3} ms; last/first = {:.2}", last / first);
    Some(last / first)
}
