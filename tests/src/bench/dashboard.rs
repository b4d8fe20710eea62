//! What serving the dashboard costs: the embedded files' sizes, and the latency and throughput of the page, the compressed wasm and a revalidation (304) from the release gateway.
//!
//! The dashboard is embedded in the binary with its gzip form and ETag
//! precomputed at build time, so a request should cost a lookup and a
//! write. Each path is fetched sequentially by one client on a keep-alive
//! connection (`requests` times, after a warm-up of a tenth of that), then
//! by 8 clients for throughput; every answer is checked (status, encoding,
//! length) so a broken response cannot pass as a fast one.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, HOST, HeaderValue, IF_NONE_MATCH};
use hyper::{Request, StatusCode};

use super::{Proc, Sender, connect_to, micros, p_ms, runtime, sibling};

/// Clients of the throughput run.
const CLIENTS: usize = 8;
/// Upper bound on each measured run, whatever its request count.
const RUN_MAX: Duration = Duration::from_secs(10);

/// One path of the dashboard and what a good answer looks like.
struct Probe {
    name: &'static str,
    path: &'static str,
    gzip: bool,
    if_none_match: Option<HeaderValue>,
    status: StatusCode,
}

/// What one probe's first answer said.
struct Answer {
    status: StatusCode,
    gzip: bool,
    etag: Option<HeaderValue>,
    bytes: usize,
}

async fn fetch(sender: &mut Sender, host: &HeaderValue, probe: &Probe) -> Result<Answer> {
    sender.ready().await?;
    let mut request = Request::get(probe.path).header(HOST, host.clone());
    if probe.gzip {
        request = request.header(ACCEPT_ENCODING, "gzip, deflate, br");
    }
    if let Some(tag) = &probe.if_none_match {
        request = request.header(IF_NONE_MATCH, tag.clone());
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new()))?)
        .await?;
    let status = response.status();
    let gzip = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    let etag = response.headers().get(ETAG).cloned();
    let bytes = response.into_body().collect().await?.to_bytes().len();
    Ok(Answer {
        status,
        gzip,
        etag,
        bytes,
    })
}

/// Fetches and checks that the answer is the expected one.
async fn checked(sender: &mut Sender, host: &HeaderValue, probe: &Probe) -> Result<Answer> {
    let answer = fetch(sender, host, probe).await?;
    if answer.status != probe.status {
        bail!(
            "{}: HTTP {} instead of {}",
            probe.name,
            answer.status,
            probe.status
        );
    }
    if probe.status == StatusCode::OK && probe.gzip != answer.gzip {
        bail!(
            "{}: gzip {} instead of {}",
            probe.name,
            answer.gzip,
            probe.gzip
        );
    }
    Ok(answer)
}

/// Sequential latencies (µs) of `count` requests on one connection.
async fn sequential(
    addr: SocketAddr,
    host: &HeaderValue,
    probe: &Probe,
    count: usize,
) -> Result<Vec<u32>> {
    let mut sender = connect_to(addr).await?;
    for _ in 0..count / 10 {
        checked(&mut sender, host, probe).await?;
    }
    let mut latencies = Vec::with_capacity(count);
    let deadline = Instant::now() + RUN_MAX;
    while latencies.len() < count && Instant::now() < deadline {
        let started = Instant::now();
        checked(&mut sender, host, probe).await?;
        latencies.push(micros(started.elapsed()));
    }
    Ok(latencies)
}

/// Requests per second with [`CLIENTS`] clients sending `count` requests in all.
async fn throughput(
    addr: SocketAddr,
    host: &HeaderValue,
    probe: &Probe,
    count: usize,
) -> Result<f64> {
    let per_client = count.div_ceil(CLIENTS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let host = host.clone();
        let probe = Probe {
            name: probe.name,
            path: probe.path,
            gzip: probe.gzip,
            if_none_match: probe.if_none_match.clone(),
            status: probe.status,
        };
        tasks.push(tokio::spawn(async move {
            let mut sender = connect_to(addr).await?;
            let deadline = Instant::now() + RUN_MAX;
            let mut done = 0;
            while done < per_client && Instant::now() < deadline {
                checked(&mut sender, &host, &probe).await?;
                done += 1;
            }
            Ok::<usize, anyhow::Error>(done)
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.context("client task")??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Runs the dashboard benchmark against its own gateway; returns the number of failed checks.
pub fn run(bin_dir: &Path, requests: usize, threads: usize) -> Result<usize> {
    let gateway_bin = sibling(bin_dir, "omniroute")?;
    let data_dir = tempfile::tempdir().context("temp dir")?;
    let data_arg = data_dir.path().to_string_lossy().into_owned();
    let (gateway, gateway_url) = Proc::spawn(
        "omniroute (dashboard)",
        &gateway_bin,
        &["--port", "0", "--no-open", "--data-dir", &data_arg],
        &[
            ("OMNIROUTE_LOG", "warn"),
            ("INITIAL_PASSWORD", "bench-password"),
        ],
        |line| {
            line.strip_prefix("OmniRoute listening on ")
                .map(|u| u.trim().to_string())
        },
    )?;
    let authority = gateway_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .ok_or_else(|| anyhow!("no address in {gateway_url}"))?
        .to_owned();
    let addr: SocketAddr = authority.parse().context("gateway address")?;
    let host = HeaderValue::from_str(&authority)?;

    let runtime = runtime(threads)?;
    let result = runtime.block_on(measure(addr, &host, requests));
    drop(gateway);
    result
}

async fn measure(addr: SocketAddr, host: &HeaderValue, requests: usize) -> Result<usize> {
    let mut sender = connect_to(addr).await?;
    let page = |gzip| Probe {
        name: "page",
        path: "/dashboard/",
        gzip,
        if_none_match: None,
        status: StatusCode::OK,
    };
    let wasm = |gzip| Probe {
        name: "wasm",
        path: "/dashboard/pkg/omniroute_ui_bg.wasm",
        gzip,
        if_none_match: None,
        status: StatusCode::OK,
    };
    let script = |gzip| Probe {
        name: "script",
        path: "/dashboard/pkg/omniroute_ui.js",
        gzip,
        if_none_match: None,
        status: StatusCode::OK,
    };

    println!("Dashboard: the files embedded in the release binary");
    let mut wasm_etag = None;
    for (name, plain, zipped) in [
        ("index.html", page(false), page(true)),
        ("omniroute_ui.js", script(false), script(true)),
        ("omniroute_ui_bg.wasm", wasm(false), wasm(true)),
    ] {
        let raw = checked(&mut sender, host, &plain).await?;
        let gz = checked(&mut sender, host, &zipped).await?;
        if name.ends_with(".wasm") {
            wasm_etag = raw.etag.clone();
        }
        println!(
            "  {name:<22} {:>9.1} KB, gzip {:>8.1} KB",
            raw.bytes as f64 / 1024.0,
            gz.bytes as f64 / 1024.0
        );
    }
    let tag = wasm_etag.ok_or_else(|| anyhow!("the wasm file has no ETag"))?;
    let probes = [
        page(true),
        wasm(true),
        Probe {
            name: "wasm 304",
            path: "/dashboard/pkg/omniroute_ui_bg.wasm",
            gzip: true,
            if_none_match: Some(tag),
            status: StatusCode::NOT_MODIFIED,
        },
    ];
    println!(
        "  {requests} sequential requests per path on one connection, then {requests} with {CLIENTS} clients"
    );
    println!(
        "  {:<10} {:>10} {:>10} {:>14}",
        "path", "p50 ms", "p99 ms", "req/s (8 cl.)"
    );
    let mut errors = 0;
    for probe in &probes {
        match sequential(addr, host, probe, requests).await {
            Ok(latencies) => {
                let rps = throughput(addr, host, probe, requests).await;
                let rps = match rps {
                    Ok(rps) => format!("{rps:.0}"),
                    Err(e) => {
                        errors += 1;
                        format!("failed: {e:#}")
                    }
                };
                println!(
                    "  {:<10} {:>10.3} {:>10.3} {:>14}",
                    probe.name,
                    p_ms(&latencies, 50.0),
                    p_ms(&latencies, 99.0),
                    rps
                );
            }
            Err(e) => {
                errors += 1;
                println!("  {:<10} failed: {e:#}", probe.name);
            }
        }
    }
    Ok(errors)
}
