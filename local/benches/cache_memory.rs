//! The edge cache's real memory against its capacity, in a process with `dicomweb-edge`'s
//! allocator and options: responses of the sizes the demo's frame answers have (12 KB to
//! 2 MB, streamed in chunks of one frame as multipart answers are) pass through
//! `EdgeCache::store` from 8 tasks at once until ten times the capacity has gone through;
//! the RSS after that, once freed pages are purged, less the RSS after the same traffic
//! through a cache that stores nothing, against `--cache-mb`.
//!
//! `cargo bench -p dicomweb-edge --bench cache_memory -- --cache-mb 32` (`--size BYTES`: every
//! response of that size).

#[path = "../src/allocator.rs"]
mod allocator;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use dicomweb_edge::cache::EdgeCache;
use futures_util::StreamExt;
use http::{Response, header};
use http_body_util::BodyExt;
use rand::{Rng, SeedableRng};

const SIZES: [usize; 9] = [
    12_000, 33_000, 50_000, 128_000, 131_072, 300_000, 600_000, 1_200_000, 2_000_000,
];
const FRAME: usize = 32_768;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends `total` bytes of responses through `cache`; returns how many responses.
async fn traffic(cache: &EdgeCache, total: usize, size: Option<usize>, seed: u64) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut work = Vec::new();
    let mut sent = 0;
    while sent < total {
        let len = size.unwrap_or_else(|| SIZES[rng.random_range(0..SIZES.len())]);
        work.push((work.len(), len));
        sent += len;
    }
    let n = work.len();
    futures_util::stream::iter(work)
        .for_each_concurrent(8, |(i, len)| async move {
            let chunks: Vec<Result<Bytes, std::io::Error>> = (0..len.div_ceil(FRAME))
                .map(|c| Ok(Bytes::from(vec![c as u8; FRAME.min(len - c * FRAME)])))
                .collect();
            let resp = Response::builder()
                .header(header::CACHE_CONTROL, "public, max-age=3600")
                .header(header::CONTENT_TYPE, "multipart/related; boundary=x")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap();
            let key = format!("/datastore/d/studies/1.2/series/3.4/instances/{i}/frames/1");
            let served = cache
                .store(key, resp, None)
                .into_body()
                .collect()
                .await
                .unwrap();
            assert_eq!(served.to_bytes().len(), len);
            tokio::task::yield_now().await;
        })
        .await;
    n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cache_mb: u64 = args
        .iter()
        .position(|a| a == "--cache-mb")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(32);
    let capacity = cache_mb << 20;
    let size: Option<usize> = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let settle = || tokio::time::sleep(Duration::from_secs(3));

    let nothing = EdgeCache::new(0);
    traffic(&nothing, 10 * capacity as usize, size, 1).await;
    settle().await;
    let before = rss_kib();

    let cache = EdgeCache::new(capacity);
    let responses = traffic(&cache, 10 * capacity as usize, size, 2).await;
    settle().await;
    let after = rss_kib();
    println!(
        "--cache-mb {cache_mb}: {responses} responses through it; it holds {} weighing {:.1} MiB; \
         RSS {} MiB with it, {} MiB without: {:.2}x of --cache-mb",
        cache.len(),
        cache.weighted_bytes() as f64 / f64::from(1 << 20),
        after / 1024,
        before / 1024,
        after.saturating_sub(before) as f64 / 1024.0 / cache_mb as f64
    );
}
