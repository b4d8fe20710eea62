//! What translation costs: a Chat Completions client served by an Anthropic upstream streaming 200 chunks, against the same stream relayed untranslated, end to end and in-process.
//!
//! End to end, requests alternate between the two paths on one keep-alive
//! connection each, so both see the same machine state: `POST /v1/messages`
//! (Anthropic in, Anthropic out: relayed byte for byte) and
//! `POST /v1/chat/completions` (OpenAI in, Anthropic out: translated), both
//! for `anthropic/chunks-200`, whose mock sends the opening events and first
//! text delta at once and the other 200 events 2 ms later (so the first byte
//! does not wait for the whole answer). The difference of the medians is
//! what translation adds. In-process, the same 200-event stream runs through the
//! splitter, the Anthropic stream decoder and the OpenAI stream encoder the
//! gateway uses, with no network, which gives the per-chunk cost without
//! the noise of two processes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use omniroute::providers::WireFormat;
use omniroute::translate::codec::{StreamDecoder, StreamEncoder};
use omniroute::wire::sse::{SseSplitter, event_data, event_ranges};
use omniroute_tests::TEST_KEY;
use omniroute_tests::mock::LONG_ANSWER_PIECES;

use super::{Sender, connect_to, percentile_ms};

/// Targets of the translation issue.
pub const TARGET_TTFB_MS: f64 = 1.0;
pub const TARGET_CHUNK_US: f64 = 5.0;
/// Requests per path before measuring.
const WARMUP_REQUESTS: usize = 30;

/// Times of one request, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    first_byte: u32,
    total: u32,
}

/// The end-to-end run: per path, each request's timings.
pub struct EndToEnd {
    relayed: Vec<Timing>,
    translated: Vec<Timing>,
}

/// What translation adds, as the targets state it.
pub struct Costs {
    pub ttfb_ms: f64,
    pub chunk_us: f64,
}

struct Path {
    path: &'static str,
    body: Bytes,
    /// Seen in every complete answer (the stream's terminal event).
    terminal: &'static [u8],
}

pub async fn end_to_end(gateway_url: &str, requests: usize) -> Result<EndToEnd> {
    let authority = gateway_url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow!("`{gateway_url}` is not an http:// URL"))?;
    let addr: SocketAddr = authority.parse().context("gateway address")?;
    let host = HeaderValue::from_str(authority)?;
    // The same body is a valid Messages and Chat Completions request.
    let body = Bytes::from(
        serde_json::json!({"model": "anthropic/chunks-200", "stream": true, "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Say hello"}]})
        .to_string(),
    );
    let relayed = Path {
        path: "/v1/messages",
        body: body.clone(),
        terminal: b"event: message_stop",
    };
    let translated = Path {
        path: "/v1/chat/completions",
        body,
        terminal: b"data: [DONE]",
    };
    let mut relayed_conn = connect_to(addr).await?;
    let mut translated_conn = connect_to(addr).await?;
    let mut run = EndToEnd {
        relayed: Vec::with_capacity(requests),
        translated: Vec::with_capacity(requests),
    };
    for i in 0..WARMUP_REQUESTS + requests {
        let a = timed(&mut relayed_conn, &host, &relayed).await?;
        let b = timed(&mut translated_conn, &host, &translated).await?;
        if i >= WARMUP_REQUESTS {
            run.relayed.push(a);
            run.translated.push(b);
        }
    }
    Ok(run)
}

/// Sends one streaming request; times its first body byte and its end.
async fn timed(sender: &mut Sender, host: &HeaderValue, path: &Path) -> Result<Timing> {
    sender.ready().await?;
    let request = Request::post(path.path)
        .header(HOST, host.clone())
        .header(AUTHORIZATION, format!("Bearer {TEST_KEY}"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Full::new(path.body.clone()))?;
    let started = Instant::now();
    let response = sender.send_request(request).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut first_byte: Option<Duration> = None;
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            first_byte.get_or_insert_with(|| started.elapsed());
            seen.extend_from_slice(&data);
        }
    }
    let total = started.elapsed();
    if status != hyper::StatusCode::OK {
        bail!("{} answered {status}", path.path);
    }
    if !seen
        .windows(path.terminal.len())
        .any(|w| w == path.terminal)
    {
        bail!(
            "{}: the stream has no `{}`",
            path.path,
            String::from_utf8_lossy(path.terminal)
        );
    }
    let first_byte = first_byte.ok_or_else(|| anyhow!("{}: empty body", path.path))?;
    Ok(Timing {
        first_byte: super::micros(first_byte),
        total: super::micros(total),
    })
}

/// The Anthropic stream the mock sends for `chunks-200`, one event per
/// network chunk as a slow upstream delivers it.
fn anthropic_stream() -> Vec<Bytes> {
    let frame = |event: &str, data: serde_json::Value| {
        Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
    };
    let mut frames = vec![
        frame(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_bench", "type": "message",
                "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        frame(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for i in 0..LONG_ANSWER_PIECES {
        frames.push(frame(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": format!(" w{i}")}}),
        ));
    }
    frames.push(frame(
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(frame(
        "message_delta",
        serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 200}}),
    ));
    frames.push(frame(
        "message_stop",
        serde_json::json!({"type": "message_stop"}),
    ));
    frames
}

/// Nanoseconds per upstream chunk of translating `streams` whole streams
/// (split, decode, encode: the translating relay's per-chunk work).
pub fn in_process(streams: usize) -> f64 {
    let chunks = anthropic_stream();
    let mut out_bytes = 0usize;
    let started = Instant::now();
    for _ in 0..streams {
        let mut splitter = SseSplitter::default();
        let mut decoder = StreamDecoder::new(WireFormat::Anthropic);
        let mut encoder = StreamEncoder::new(WireFormat::Openai, true);
        for chunk in &chunks {
            let Ok(Some(block)) = splitter.push(chunk.clone()) else {
                continue;
            };
            for range in event_ranges(&block) {
                let Some(data) = event_data(&block[range]) else {
                    continue;
                };
                for event in decoder.data(&data) {
                    out_bytes += encoder.encode(&event).len();
                }
            }
        }
        if let Some(event) = decoder.finish() {
            out_bytes += encoder.encode(&event).len();
        }
    }
    let elapsed = started.elapsed();
    // Keeps the work observable so it is not optimised away.
    std::hint::black_box(out_bytes);
    elapsed.as_nanos() as f64 / (streams * chunks.len()) as f64
}

fn p50(values: impl Iterator<Item = u32>) -> f64 {
    let mut sorted: Vec<u32> = values.collect();
    sorted.sort_unstable();
    percentile_ms(&sorted, 50.0)
}

/// Prints the results and returns what translation costs.
pub fn print(run: &EndToEnd, in_process_ns: &f64) -> Costs {
    let ttfb_relayed = p50(run.relayed.iter().map(|t| t.first_byte));
    let ttfb_translated = p50(run.translated.iter().map(|t| t.first_byte));
    let total_relayed = p50(run.relayed.iter().map(|t| t.total));
    let total_translated = p50(run.translated.iter().map(|t| t.total));
    // Upstream events: message_start, content_block_start, ping, the
    // deltas, content_block_stop, message_delta, message_stop.
    let chunks = (LONG_ANSWER_PIECES + 6) as f64;
    let end_to_end_chunk_us = (total_translated - total_relayed) * 1000.0 / chunks;
    println!(
        "Translation (anthropic/chunks-200: {LONG_ANSWER_PIECES} text deltas, {} requests per path, medians)",
        run.relayed.len()
    );
    println!("  path                                   first byte      whole stream");
    println!(
        "  Messages -> Anthropic (relayed)       {ttfb_relayed:>8.3} ms   {total_relayed:>10.3} ms"
    );
    println!(
        "  Chat -> Anthropic (translated)        {ttfb_translated:>8.3} ms   {total_translated:>10.3} ms"
    );
    println!(
        "  translation adds                      {:>8.3} ms   {:>10.3} ms  ({end_to_end_chunk_us:.2} us per upstream event)",
        ttfb_translated - ttfb_relayed,
        total_translated - total_relayed
    );
    let chunk_us = in_process_ns / 1000.0;
    println!("  in-process split + decode + encode    {chunk_us:>8.2} us per upstream event");
    Costs {
        ttfb_ms: ttfb_translated - ttfb_relayed,
        chunk_us,
    }
}
