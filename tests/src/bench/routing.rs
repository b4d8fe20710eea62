//! What routing costs: a model named directly against a fill-first combo whose first entry answers, whose first entry fails with a 500 (one fallback hop), and whose first entry is cooling down (a skip); one client at a time, plus 32-client throughput through a combo.
//!
//! The run has its own processes, so its settings touch nothing else: a
//! quiet mock (prepared answers, as in the main benchmark) serves the
//! `openai` connection every path ends on, a scripted mock (model-driven
//! behaviours, per-key scripts, a request log) serves the entries that fail
//! or cool down, and a gateway configured with `retry_attempts = 0` (a 500
//! moves straight to the next entry) and the highest breaker threshold over
//! the shortest window (1000 failures in 1 s). The hop requests rotate over
//! [`FAILING_PROVIDERS`] failing providers, so each breaker sees a quarter
//! of the 500s and none opens; the request log proves it afterwards: each
//! failing upstream was called exactly once per hop request sent to it, the
//! cooling one only by the 429 that primed it (`Retry-After` of an hour),
//! and no happy-path request reached a second entry.
//!
//! One client sends the paths in turn, each on its own keep-alive
//! connection and in an order rotated every round, so every path sees the
//! same machine state; the differences of the percentiles to the direct
//! path are what routing adds. Then 32 clients load the direct path and the
//! happy combo in alternating batches of a fixed request count.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use omniroute_tests::TEST_KEY;
use serde_json::{Value, json};

use super::{
    Outcome, Proc, Sender, Target, connect, connect_to, micros, one_request, runtime, sibling,
};

/// Failing providers the hop requests rotate over, so that no breaker sees
/// more than its share of the 500s.
const FAILING_PROVIDERS: usize = 4;
/// The highest breaker threshold and shortest window the settings accept:
/// a breaker opens only past 1000 failures within 1 s, more than one
/// client's sequential hops to one of [`FAILING_PROVIDERS`] can reach.
const BREAKER_THRESHOLD: u32 = 1000;
const BREAKER_WINDOW_SECS: u64 = 1;
/// `Retry-After` of the 429 that starts the cooldown: longer than the run.
const COOL_RETRY_AFTER_SECS: u64 = 3600;
/// Rounds (one request per path) before measuring.
const WARMUP_ROUNDS: usize = 100;
/// Upper bound on the sequential run, whatever its request count.
const SEQUENTIAL_MAX: Duration = Duration::from_secs(15);
/// Clients of the throughput run.
const THROUGHPUT_CLIENTS: usize = 32;
/// Batches per path of the throughput run, alternating between the paths.
const THROUGHPUT_BATCHES: usize = 2;
/// Requests per path of the throughput run, per request of the sequential run.
const THROUGHPUT_FACTOR: usize = 8;
/// Requests per client before the throughput batches (not measured).
const THROUGHPUT_WARMUP_PER_CLIENT: usize = 20;
/// Upper bound on one throughput batch.
const BATCH_MAX: Duration = Duration::from_secs(4);

/// Upstream API keys: each names one account on a mock.
const MAIN_KEY: &str = "sk-bench-main";
const COOL_KEY: &str = "sk-bench-cool";

fn fail_key(k: usize) -> String {
    format!("sk-bench-fail-{k}")
}

/// The model every path ends on, named directly.
const DIRECT_MODEL: &str = "openai/gpt-4.1";
const HAPPY_COMBO: &str = "bench-happy";
const SKIP_COMBO: &str = "bench-skip";

fn hop_combo(k: usize) -> String {
    format!("bench-hop-{k}")
}

/// The gateway's config: the `openai` connection on the quiet mock, the
/// failing and cooling providers on the scripted one, and the combos.
fn config(quiet_url: &str, scripted_url: &str) -> String {
    let mut c = format!(
        "[settings]\nretry_attempts = 0\nbreaker_failure_threshold = {BREAKER_THRESHOLD}\n\
         breaker_window_secs = {BREAKER_WINDOW_SECS}\n\n\
         [[connections]]\nprovider = \"openai\"\nname = \"main\"\napi_key = \"{MAIN_KEY}\"\n\
         base_url = \"{quiet_url}\"\n\n\
         [[providers]]\nid = \"bench-cool\"\nname = \"Cooling upstream\"\nformat = \"openai\"\n\
         base_url = \"{scripted_url}\"\nprefix = \"bench-cool\"\nmodels = [\"gpt-4.1\"]\n\n\
         [[connections]]\nprovider = \"bench-cool\"\nname = \"cool\"\napi_key = \"{COOL_KEY}\"\n\n\
         [[combos]]\nname = \"{SKIP_COMBO}\"\nstrategy = \"fill-first\"\n\
         models = [\"bench-cool/gpt-4.1\", \"{DIRECT_MODEL}\"]\n\n\
         [[combos]]\nname = \"{HAPPY_COMBO}\"\nstrategy = \"fill-first\"\n\
         models = [\"{DIRECT_MODEL}\", \"bench-fail-0/gpt-4.1\"]\n\n\
         [[api_keys]]\nname = \"bench\"\nkey = \"{TEST_KEY}\"\nmodels = [\"*\"]\n"
    );
    for k in 0..FAILING_PROVIDERS {
        // Writing to a String cannot fail.
        let _ = write!(
            c,
            "\n[[providers]]\nid = \"bench-fail-{k}\"\nname = \"Failing upstream {k}\"\n\
             format = \"openai\"\nbase_url = \"{scripted_url}\"\nprefix = \"bench-fail-{k}\"\n\
             models = [\"error-500\", \"gpt-4.1\"]\n\n\
             [[connections]]\nprovider = \"bench-fail-{k}\"\nname = \"fail-{k}\"\n\
             api_key = \"{key}\"\n\n\
             [[combos]]\nname = \"{combo}\"\nstrategy = \"fill-first\"\n\
             models = [\"bench-fail-{k}/error-500\", \"{DIRECT_MODEL}\"]\n",
            key = fail_key(k),
            combo = hop_combo(k),
        );
    }
    c
}

/// The paths of the sequential run, in table order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Direct,
    Happy,
    Hop,
    Skip,
}

const PATHS: [PathKind; 4] = [
    PathKind::Direct,
    PathKind::Happy,
    PathKind::Hop,
    PathKind::Skip,
];

impl PathKind {
    fn label(self) -> &'static str {
        match self {
            PathKind::Direct => "model named directly (openai/gpt-4.1)",
            PathKind::Happy => "fill-first combo, first entry answers",
            PathKind::Hop => "combo, first entry 500 -> second (1 hop)",
            PathKind::Skip => "combo, first entry cooling down (skip)",
        }
    }
}

/// Everything the run measured.
struct Measured {
    /// Per path of [`PATHS`]: latencies (µs) and failures.
    sequential: [Outcome; 4],
    /// Per throughput path (direct, happy combo): requests, seconds, latencies.
    throughput: [Throughput; 2],
    /// Mismatches between the calls each upstream account got and the calls
    /// the scenarios mean it to get.
    wrong_calls: Vec<String>,
}

#[derive(Default)]
struct Throughput {
    outcome: Outcome,
    seconds: f64,
}

/// Runs the routing benchmark with `requests` per path (one client) and
/// prints its tables; returns the number of failed requests plus upstream
/// call counts that show a path did not route as meant.
pub fn run(bin_dir: &Path, requests: usize, threads: usize) -> Result<usize> {
    let mock_bin = sibling(bin_dir, "mock-upstream")?;
    let gateway_bin = sibling(bin_dir, "omniroute")?;
    let ready_url = |line: &str| line.starts_with("http://").then(|| line.trim().to_string());
    let (quiet_mock, quiet_url) = Proc::spawn(
        "mock-upstream (quiet)",
        &mock_bin,
        &["--quiet", "--port", "0"],
        &[],
        ready_url,
    )?;
    let (scripted_mock, scripted_url) = Proc::spawn(
        "mock-upstream (scripted)",
        &mock_bin,
        &["--port", "0"],
        &[],
        ready_url,
    )?;
    let data_dir = tempfile::tempdir().context("temp dir")?;
    let config_path = data_dir.path().join("omniroute.toml");
    std::fs::write(&config_path, config(&quiet_url, &scripted_url)).context("write config")?;
    let data_arg = data_dir.path().to_string_lossy().into_owned();
    let config_arg = config_path.to_string_lossy().into_owned();
    let (gateway, gateway_url) = Proc::spawn(
        "omniroute (routing)",
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

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Routing: {requests} requests per path, 1 client, non-stream; machine load average (1/5/15 min) {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  gateway {gateway_url} (pid {}), quiet mock {quiet_url}, scripted mock {scripted_url}",
        gateway.child.id()
    );

    let runtime = runtime(threads)?;
    let measured = runtime.block_on(measure(&gateway_url, &scripted_url, requests));
    drop(runtime);

    let result = measured.map(|m| {
        print(&m, requests);
        let errors: usize = m.sequential.iter().map(|o| o.errors).sum::<usize>()
            + m.throughput.iter().map(|t| t.outcome.errors).sum::<usize>();
        errors + m.wrong_calls.len()
    });
    if !matches!(result, Ok(0)) {
        for (name, proc) in [
            ("omniroute (routing)", &gateway),
            ("mock-upstream (scripted)", &scripted_mock),
        ] {
            let tail = proc.stderr_tail();
            if !tail.is_empty() {
                println!("{name} stderr (last {} lines):", tail.len());
                for line in tail {
                    println!("  {line}");
                }
            }
        }
    }
    drop(gateway);
    drop(scripted_mock);
    drop(quiet_mock);
    drop(data_dir);
    result
}

async fn measure(gateway_url: &str, scripted_url: &str, requests: usize) -> Result<Measured> {
    let direct = Arc::new(Target::new("direct", gateway_url, DIRECT_MODEL)?);
    let happy = Arc::new(Target::new("happy combo", gateway_url, HAPPY_COMBO)?);
    let skip = Target::new("skip combo", gateway_url, SKIP_COMBO)?;
    let hops: Vec<Target> = (0..FAILING_PROVIDERS)
        .map(|k| Target::new("hop combo", gateway_url, &hop_combo(k)))
        .collect::<Result<_>>()?;
    let mock_addr = addr_of(scripted_url)?;

    // The cooling entry: one 429 with a long Retry-After, met by one
    // request through the skip combo (which the second entry answers).
    let queued = mock_call(
        mock_addr,
        Method::POST,
        "/_mock/script",
        Some(json!({"key": COOL_KEY, "steps": [
            {"status": 429, "headers": {"retry-after": COOL_RETRY_AFTER_SECS.to_string()}}
        ]})),
    )
    .await
    .context("script the cooling upstream")?;
    if queued["queued"] != 1 {
        bail!("the scripted mock did not queue the 429: {queued}");
    }
    let mut priming = connect(&skip).await?;
    one_request(&mut priming, &skip, false)
        .await
        .context("the request that starts the cooldown")?;
    drop(priming);

    let mut hop_sent = [0usize; FAILING_PROVIDERS];
    let mut sequential: [Outcome; 4] = Default::default();
    let mut senders: [Option<Sender>; 4] = Default::default();
    let deadline = Instant::now() + SEQUENTIAL_MAX;
    for round in 0..WARMUP_ROUNDS + requests {
        if Instant::now() >= deadline {
            break;
        }
        for i in 0..PATHS.len() {
            let slot = (round + i) % PATHS.len();
            let target = match PATHS[slot] {
                PathKind::Direct => &*direct,
                PathKind::Happy => &*happy,
                PathKind::Skip => &skip,
                PathKind::Hop => {
                    let k = round % FAILING_PROVIDERS;
                    hop_sent[k] += 1;
                    &hops[k]
                }
            };
            let keep = round >= WARMUP_ROUNDS;
            timed(&mut senders[slot], target, &mut sequential[slot], keep).await;
        }
    }
    drop(senders);

    let total = requests * THROUGHPUT_FACTOR;
    let per_batch = total.div_ceil(THROUGHPUT_BATCHES);
    let mut throughput: [Throughput; 2] = Default::default();
    for (i, target) in [&direct, &happy].into_iter().enumerate() {
        let mut warmup = batch(
            target.clone(),
            THROUGHPUT_CLIENTS,
            THROUGHPUT_CLIENTS * THROUGHPUT_WARMUP_PER_CLIENT,
        )
        .await;
        // Warm-up failures count like any other; its latencies do not.
        warmup.outcome.latencies.clear();
        throughput[i].outcome.merge(warmup.outcome);
    }
    for _ in 0..THROUGHPUT_BATCHES {
        for (i, target) in [&direct, &happy].into_iter().enumerate() {
            let run = batch(target.clone(), THROUGHPUT_CLIENTS, per_batch).await;
            throughput[i].seconds += run.seconds;
            throughput[i].outcome.merge(run.outcome);
        }
    }

    // What the scripted mock saw, by upstream key.
    let log = mock_call(mock_addr, Method::GET, "/_mock/received", None)
        .await
        .context("read the scripted mock's request log")?;
    let calls = |key: &str| {
        log.as_array()
            .map(|rows| rows.iter().filter(|r| r["key"] == key).count())
            .unwrap_or(0)
    };
    let mut wrong_calls = Vec::new();
    for (k, sent) in hop_sent.iter().enumerate() {
        let got = calls(&fail_key(k));
        if got != *sent {
            wrong_calls.push(format!(
                "failing upstream {k} got {got} calls for {sent} hop requests \
                 (its breaker opened, a retry was made, or a happy-path request reached it)"
            ));
        }
    }
    let cool = calls(COOL_KEY);
    if cool != 1 {
        wrong_calls.push(format!(
            "the cooling upstream got {cool} calls, not only the 429 that started its cooldown"
        ));
    }

    Ok(Measured {
        sequential,
        throughput,
        wrong_calls,
    })
}

/// Sends one request on `sender` (connecting first when needed) and notes
/// its latency when `keep`, or its failure.
async fn timed(sender: &mut Option<Sender>, target: &Target, out: &mut Outcome, keep: bool) {
    let conn = match sender {
        Some(s) => s,
        None => match connect(target).await {
            Ok(s) => sender.insert(s),
            Err(e) => {
                out.error(&e);
                return;
            }
        },
    };
    let started = Instant::now();
    match one_request(conn, target, false).await {
        Ok(()) => {
            if keep {
                out.latencies.push(micros(started.elapsed()));
            }
        }
        Err(e) => {
            out.error(&e);
            *sender = None;
        }
    }
}

/// `count` requests to `target` shared by `clients` closed-loop clients,
/// timed from the moment every client has its connection.
async fn batch(target: Arc<Target>, clients: usize, count: usize) -> Throughput {
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (target, next, barrier) = (target.clone(), next.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut out = Outcome::default();
                let mut sender = match connect(&target).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        out.error(&e);
                        None
                    }
                };
                barrier.wait().await;
                let deadline = Instant::now() + BATCH_MAX;
                while next.fetch_add(1, Ordering::Relaxed) < count && Instant::now() < deadline {
                    timed(&mut sender, &target, &mut out, true).await;
                }
                out
            })
        })
        .collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Outcome::default();
    for task in tasks {
        match task.await {
            Ok(out) => all.merge(out),
            Err(e) => all.error(&anyhow!("client task failed: {e}")),
        }
    }
    Throughput {
        outcome: all,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// `IP:port` of an `http://IP:port/...` URL.
fn addr_of(url: &str) -> Result<SocketAddr> {
    url.strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("`{url}` is not an http:// URL"))?
        .parse()
        .with_context(|| format!("`{url}` has no IP:port"))
}

/// One request to the mock's control routes; its JSON answer.
async fn mock_call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut sender = connect_to(addr).await?;
    sender.ready().await?;
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, HeaderValue::from_str(&addr.to_string())?)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{path}: not JSON"))
}

/// Nearest-rank percentile in ms, and the mean in ms, of µs latencies.
fn stats(latencies: &[u32]) -> (f64, f64, f64) {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let mean = if sorted.is_empty() {
        f64::NAN
    } else {
        sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / sorted.len() as f64 / 1000.0
    };
    (
        super::percentile_ms(&sorted, 50.0),
        super::percentile_ms(&sorted, 99.0),
        mean,
    )
}

fn print(m: &Measured, requests: usize) {
    let kept = m.sequential[0].latencies.len();
    println!();
    println!(
        "Routing cost (1 client, non-stream, paths interleaved, {kept} measured requests per path{})",
        if kept < requests {
            format!(", cut short by the {} s bound", SEQUENTIAL_MAX.as_secs())
        } else {
            String::new()
        }
    );
    println!(
        "  {:<42} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6}",
        "path", "p50 ms", "p99 ms", "mean ms", "Δp50 ms", "Δp99 ms", "Δmean ms", "errors"
    );
    let (d50, d99, dmean) = stats(&m.sequential[0].latencies);
    for (kind, outcome) in PATHS.iter().zip(&m.sequential) {
        let (p50, p99, mean) = stats(&outcome.latencies);
        let delta = |v: f64, base: f64| {
            if *kind == PathKind::Direct {
                format!("{:>9}", "-")
            } else {
                format!("{:>9.3}", v - base)
            }
        };
        println!(
            "  {:<42} {p50:>8.3} {p99:>8.3} {mean:>8.3} {} {} {} {:>6}",
            kind.label(),
            delta(p50, d50),
            delta(p99, d99),
            delta(mean, dmean),
            outcome.errors
        );
    }
    println!();
    println!(
        "Routing throughput ({THROUGHPUT_CLIENTS} clients, non-stream, {THROUGHPUT_BATCHES} alternating batches per path)"
    );
    println!(
        "  {:<42} {:>9} {:>8} {:>8} {:>8} {:>6}",
        "path", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (kind, run) in [PathKind::Direct, PathKind::Happy]
        .iter()
        .zip(&m.throughput)
    {
        let (p50, p99, _) = stats(&run.outcome.latencies);
        let n = run.outcome.latencies.len();
        println!(
            "  {:<42} {n:>9} {:>8.0} {p50:>8.3} {p99:>8.3} {:>6}",
            kind.label(),
            n as f64 / run.seconds.max(1e-9),
            run.outcome.errors
        );
    }
    let rps = |t: &Throughput| t.outcome.latencies.len() as f64 / t.seconds.max(1e-9);
    println!(
        "  combo / direct throughput: {:.2}",
        rps(&m.throughput[1]) / rps(&m.throughput[0]).max(1e-9)
    );
    let failures: Vec<String> = PATHS
        .iter()
        .zip(&m.sequential)
        .map(|(k, o)| (k.label(), o))
        .chain(
            ["throughput: direct", "throughput: combo"]
                .into_iter()
                .zip(m.throughput.iter().map(|t| &t.outcome)),
        )
        .filter(|(_, o)| o.errors > 0)
        .map(|(name, o)| {
            format!(
                "{name}: {} errors, first: {}",
                o.errors,
                o.first_error.as_deref().unwrap_or("?")
            )
        })
        .chain(m.wrong_calls.iter().cloned())
        .collect();
    if !failures.is_empty() {
        println!("!!! ROUTING ERRORS !!!");
        for f in failures {
            println!("  {f}");
        }
    }
}
