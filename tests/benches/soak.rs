//! Soak: a bounded run of mixed load against `dicomweb-edge serve` (release binary, demo
//! data, `--auth none`): frames as stored and decoded, many frame lists of the multi-frame
//! cine (so the cache keeps filling and evicting), metadata, searches, the native GET, and
//! some requests that are refused. Reports answers by status (any 5xx, or an answer that
//! is not what the request asks for, is an error), the server's RSS every 10 s, and the
//! edge cache's real memory: the RSS with a full `--cache-mb` cache less the RSS of the same
//! load without a cache (each the median of its run's second half), against `--cache-mb`.
//!
//! `cargo bench -p e2e --bench soak -- --seconds 600 --concurrency 64 --cache-mb 32`
//! (defaults). The load generator is this process.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{arg, first_value, get_json, proc_status_kib};
use e2e::Process;
use futures_util::StreamExt;

const OHIF: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;
const DECODED: &str =
    r#"multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1"#;

/// The demo's requests the load picks from: (path below the datastore, Accept).
async fn requests(base: &str, client: &reqwest::Client) -> Vec<(String, &'static str)> {
    let get = |path: String| async move { get_json(client, base, &path).await };
    let value = first_value;
    let mut out = Vec::new();
    for study in get("/studies".into()).await.as_array().unwrap() {
        let st = value(study, "0020000D");
        out.push((format!("/studies/{st}/metadata"), "application/dicom+json"));
        out.push((format!("/studies/{st}/series"), "application/dicom+json"));
        for series in get(format!("/studies/{st}/series"))
            .await
            .as_array()
            .unwrap()
        {
            let se = value(series, "0020000E");
            let instances = get(format!("/studies/{st}/series/{se}/instances")).await;
            for inst in instances.as_array().unwrap() {
                let sop = value(inst, "00080018");
                let frames = inst["00280008"]["Value"][0]
                    .as_u64()
                    .or_else(|| inst["00280008"]["Value"][0].as_str()?.parse().ok())
                    .unwrap_or(1);
                let path = format!("/studies/{st}/series/{se}/instances/{sop}");
                out.push((format!("{path}/frames/1"), OHIF));
                out.push((format!("{path}/frames/1"), DECODED));
                for n in 2..=frames.min(36) {
                    let list: Vec<String> = (1..=n).rev().map(|i| i.to_string()).collect();
                    out.push((format!("{path}/frames/{}", list.join(",")), OHIF));
                    out.push((format!("{path}/frames/{}", list.join(",")), DECODED));
                }
                out.push((format!("{path}/metadata"), "application/dicom+json"));
            }
        }
    }
    out.push(("/studies?PatientName=*".into(), "application/dicom+json"));
    out.push(("/studies/1.2.3/metadata".into(), "application/dicom+json"));
    out
}

/// Runs the load for `seconds`; returns answers by status and RSS samples (KiB).
async fn run(
    p: &Process,
    base: &str,
    seconds: u64,
    concurrency: usize,
) -> (BTreeMap<u16, u64>, Vec<u64>, u64) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let work = Arc::new(requests(base, &client).await);
    let statuses: Arc<std::sync::Mutex<BTreeMap<u16, u64>>> = Default::default();
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let pid = p.pid();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds))).await;
            samples.push(proc_status_kib(pid, "VmRSS:"));
        }
        samples
    });
    futures_util::stream::iter(0..)
        .take_while(|_| futures_util::future::ready(Instant::now() < deadline))
        .for_each_concurrent(concurrency, |i: u64| {
            let (client, work, statuses, errors) = (
                client.clone(),
                work.clone(),
                statuses.clone(),
                errors.clone(),
            );
            let base = base.to_owned();
            async move {
                let (path, accept) = &work[(i.wrapping_mul(2_654_435_761) as usize) % work.len()];
                let r = client
                    .get(format!("{base}{path}"))
                    .header("accept", *accept)
                    .send()
                    .await;
                let status = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        if r.bytes().await.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        s
                    }
                    Err(_) => 0,
                };
                // Only the unknown study is expected to be refused (404).
                let expected_refusal = path.starts_with("/studies/1.2.3/");
                if status >= 500 || status == 0 || (status >= 400 && !expected_refusal) {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                *statuses.lock().unwrap().entry(status).or_default() += 1;
            }
        })
        .await;
    let mut samples = sampler.await.unwrap();
    // Idle: what the server holds once the requests in flight are gone and freed pages
    // purged (about 1 s, local/src/main.rs); the last sample.
    tokio::time::sleep(Duration::from_secs(5)).await;
    samples.push(proc_status_kib(pid, "VmRSS:"));
    let statuses = statuses.lock().unwrap().clone();
    (statuses, samples, errors.load(Ordering::Relaxed))
}

/// The RSS under load after warm-up: the median of the second half of the samples taken
/// under load.
fn steady(samples: &[u64]) -> u64 {
    let loaded = &samples[..samples.len().saturating_sub(1)];
    let mut late = loaded[loaded.len() / 2..].to_vec();
    late.sort_unstable();
    late.get(late.len() / 2).copied().unwrap_or(0)
}

fn serve(cache_mb: usize) -> (Process, String) {
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--cache-mb",
            &cache_mb.to_string(),
        ],
        &[],
    );
    let base = p.dicomweb_url();
    (p, base)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = arg("--seconds", 600) as u64;
    let concurrency = arg("--concurrency", 64);
    let cache_mb = arg("--cache-mb", 32);
    println!("soak: {seconds} s at concurrency {concurrency}, --cache-mb {cache_mb}");

    let (p, base) = serve(cache_mb);
    let (statuses, samples, errors) = run(&p, &base, seconds, concurrency).await;
    let total: u64 = statuses.values().sum();
    println!("answers: {total} by status {statuses:?}; errors: {errors}");
    println!(
        "RSS every 10 s (MiB), the last 5 s after the load: {:?}",
        samples.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    let with_cache = (steady(&samples), *samples.last().unwrap_or(&0));
    drop(p);

    // The same load for a shorter time without a cache: the memory the cache does not hold.
    let (p, base) = serve(0);
    let (_, samples, errors_uncached) = run(&p, &base, seconds.min(120), concurrency).await;
    let without = (steady(&samples), *samples.last().unwrap_or(&0));
    drop(p);
    for (what, with, without) in [
        ("under load", with_cache.0, without.0),
        ("idle after the load", with_cache.1, without.1),
    ] {
        println!(
            "edge cache {what}: RSS {} MiB with it, {} MiB without (errors {errors_uncached}): {:.2}x of --cache-mb {cache_mb}",
            with / 1024,
            without / 1024,
            with.saturating_sub(without) as f64 / 1024.0 / cache_mb as f64,
        );
    }
}
