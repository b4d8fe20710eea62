//! What the per-request security checks cost in process: the prompt-injection guard over a 100 KB coding-tool body, and the key meter's admission of a key with limits.
//!
//! The body is what a coding tool sends late in a session: a system prompt,
//! a few turns, and file contents with many `\n` escapes (the guard reads
//! those as spaces, which costs one copy of the body). Each measurement
//! runs the check many times on one thread and reports the median of
//! several batches, so one descheduling does not move the result.

use std::time::Instant;

use omniroute::api::injection_guard::InjectionGuard;
use omniroute::config::Settings;
use omniroute::routing::key_meter::KeyMeter;
use omniroute::snapshot::KeyGrant;
use omniroute::store::api_keys::KeyLimits;
use serde_json::json;

pub const BATCHES: usize = 9;

/// A Chat Completions body of a little over `size` bytes, mostly source code.
fn coding_body(size: usize) -> Vec<u8> {
    let line = "    let total = items.iter().map(|item| item.price * item.count).sum::<u64>(); // sum the order\n";
    let file: String = line.repeat(size / line.len() + 1);
    let body = json!({
        "model": "mock/gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are a coding assistant. Follow the user's instructions."},
            {"role": "user", "content": "Why does this overflow?"},
            {"role": "assistant", "content": "Let me read the file."},
            {"role": "user", "content": file},
        ],
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The median of `BATCHES` batches of `per_batch` calls, in ns per call.
pub fn median_ns(per_batch: usize, mut call: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_batch {
                call();
            }
            started.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[BATCHES / 2]
}

/// Runs both measurements and prints them.
pub fn run() {
    println!("Security checks in process (median of {BATCHES} batches, one thread)");
    let settings = Settings::default();
    match InjectionGuard::from_settings(&settings) {
        Some(guard) => {
            let body = coding_body(100 * 1024);
            let clean = median_ns(200, || {
                let _ = guard.check(&body, None);
            });
            let plain: Vec<u8> = body
                .iter()
                .map(|&b| if b == b'\\' { b' ' } else { b })
                .collect();
            let no_escapes = median_ns(200, || {
                let _ = guard.check(&plain, None);
            });
            let mb = body.len() as f64 / 1e6;
            println!(
                "  injection guard, {} KB body with \\n escapes  {:>8.1} µs  ({:.0} MB/s)",
                body.len() / 1024,
                clean / 1000.0,
                mb / (clean / 1e9)
            );
            println!(
                "  injection guard, same body without escapes   {:>8.1} µs  ({:.0} MB/s)",
                no_escapes / 1000.0,
                mb / (no_escapes / 1e9)
            );
        }
        None => println!("  injection guard: off in the default settings"),
    }
    let meter = KeyMeter::default();
    let limited = KeyGrant {
        id: 1,
        name: "bench".into(),
        models: vec!["*".into()],
        expires_at: None,
        limits: KeyLimits {
            requests_per_minute: Some(u32::MAX),
            requests_per_day: Some(u32::MAX),
            daily_usd: Some(1e9),
            ..KeyLimits::default()
        },
    };
    // The clock moves 1 ms per call, so the per-minute window holds the
    // last 60,000 admissions, as it would for a very busy key.
    let mut now = 1_800_000_000_000i64;
    let admit = median_ns(100_000, || {
        now += 1;
        let _ = meter.admit(&limited, now);
    });
    println!(
        "  key meter, admit with every limit set        {:>8.1} ns",
        admit
    );
}
