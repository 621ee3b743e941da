//! What the benchmarks share (not every bench uses all of it): a load generator that reports throughput and latency
//! percentiles, the serve process's memory from /proc, and `--name value` arguments.

#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Completed calls per second.
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Runs `requests` calls of `call(i)` with `concurrency` in flight.
pub async fn load<F, Fut>(requests: usize, concurrency: usize, call: F) -> Measure
where
    F: Fn(usize) -> Fut,
    Fut: Future,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures_util::stream::iter(0..requests)
        .map(|i| {
            let fut = call(i);
            async move {
                let t = Instant::now();
                fut.await;
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    Measure {
        per_second: requests as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
    }
}

pub use e2e::proc_status_kib;

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The path after `name` on the command line.
pub fn path_arg(name: &str) -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(std::path::PathBuf::from)
}

/// The DICOM JSON answer to `GET {base}{path}`.
pub async fn get_json(client: &reqwest::Client, base: &str, path: &str) -> serde_json::Value {
    let r = client.get(format!("{base}{path}")).send().await.unwrap();
    r.json().await.unwrap()
}

/// The first value of attribute `tag` of a DICOM JSON object, as text.
pub fn first_value(v: &serde_json::Value, tag: &str) -> String {
    v[tag]["Value"][0].as_str().unwrap().to_owned()
}
