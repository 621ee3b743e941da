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
//!
//! With `--hostile 1` the run is mixed with clients that misbehave, beside the same viewers:
//! 8 that ask for a series retrieve and never read (each dropped by `--send-timeout`, 10 s
//! here, then replaced), 8 that read whole-study retrieves at 10 KB/s for 20 s, and upstream
//! faults (2 % of GetImageFrame calls fail, 2 % are throttled; `--faults 0` leaves them out). It reports, besides the
//! above, the viewers' p50 and p99 time to a whole answer against a run of the same load
//! without the hostile clients, and how many stalled clients the server dropped.

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

/// What one run measured.
struct Run {
    statuses: BTreeMap<u16, u64>,
    /// RSS samples (KiB), every 10 s, the last 5 s after the load.
    samples: Vec<u64>,
    errors: u64,
    /// The viewers' times to a whole 200 answer, sorted (µs).
    latencies: Vec<u64>,
}

impl Run {
    fn percentile(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 * p) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// A client that asks for `path` (a large answer) on a socket with a small receive buffer
/// and reads nothing for 25 s (the server's send timeout here is 10 s), then reads what is
/// there: whether the server had dropped it (the answer ends without its last chunk).
async fn stalled_reader(base: &str, path: &str, deadline: Instant) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = base.trim_start_matches("http://");
    let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let Ok(mut c) = socket.connect(host.parse().unwrap()).await else {
        return false;
    };
    let req = format!(
        "GET /{prefix}{path} HTTP/1.1\r\nHost: x\r\nAccept: multipart/related; type=\"application/dicom\"\r\nConnection: close\r\n\r\n"
    );
    if c.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let quiet = Duration::from_secs(25).min(deadline.saturating_duration_since(Instant::now()));
    tokio::time::sleep(quiet).await;
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer)).await;
    ended.is_ok() && !answer.ends_with(b"0\r\n\r\n")
}

/// A client that reads `path` at about 10 KB/s for 20 s, then goes away.
async fn slow_reader(client: &reqwest::Client, url: &str) {
    let Ok(r) = client
        .get(url)
        .header(
            "accept",
            r#"multipart/related; type="application/dicom"; transfer-syntax=*"#,
        )
        .send()
        .await
    else {
        return;
    };
    let mut body = r.bytes_stream();
    let started = Instant::now();
    let mut read = 0u64;
    while started.elapsed() < Duration::from_secs(20) {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => return,
        }
        let due = Duration::from_millis(read / 10);
        if due > started.elapsed() {
            tokio::time::sleep(due - started.elapsed()).await;
        }
    }
}

/// Runs the load for `seconds`, with the hostile clients when `hostile` names the emulator
/// and the paths they ask for.
async fn run(
    p: &Process,
    base: &str,
    seconds: u64,
    concurrency: usize,
    hostile: Option<(&str, &[String])>,
) -> Run {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let work = Arc::new(requests(base, &client).await);
    let statuses: Arc<std::sync::Mutex<BTreeMap<u16, u64>>> = Default::default();
    let latencies: Arc<std::sync::Mutex<Vec<u64>>> = Default::default();
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut misbehaving = Vec::new();
    if let Some((upstream, retrieves)) = hostile {
        let rate = if arg("--faults", 1) != 0 { 0.02 } else { 0.0 };
        let faults = serde_json::json!({
            "latency_ms": 0, "throttle_rate": rate, "error_rate": rate,
            "error_type": "InternalServerException", "operations": ["GetImageFrame"]
        });
        client
            .put(format!("{upstream}/_emulator/faults"))
            .json(&faults)
            .send()
            .await
            .unwrap();
        let dropped = Arc::new(AtomicU64::new(0));
        for i in 0..8 {
            let (base, path, dropped) = (
                base.to_owned(),
                retrieves[i % retrieves.len()].clone(),
                dropped.clone(),
            );
            misbehaving.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    if stalled_reader(&base, &path, deadline).await {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for i in 0..8 {
            let (client, url) = (
                client.clone(),
                format!("{base}{}", retrieves[(i + 1) % retrieves.len()]),
            );
            misbehaving.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    slow_reader(&client, &url).await;
                }
            }));
        }
        let dropped = dropped.clone();
        misbehaving.push(tokio::spawn(async move {
            tokio::time::sleep(deadline - Instant::now()).await;
            println!(
                "stalled clients dropped by the server: {}",
                dropped.load(Ordering::Relaxed)
            );
        }));
    }
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
            let (client, work, statuses, errors, latencies) = (
                client.clone(),
                work.clone(),
                statuses.clone(),
                errors.clone(),
                latencies.clone(),
            );
            let base = base.to_owned();
            let faulty = hostile.is_some();
            async move {
                let (path, accept) = &work[(i.wrapping_mul(2_654_435_761) as usize) % work.len()];
                let started = Instant::now();
                let r = client
                    .get(format!("{base}{path}"))
                    .header("accept", *accept)
                    .send()
                    .await;
                let status = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        if r.bytes().await.is_err() && !faulty {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        s
                    }
                    Err(_) => 0,
                };
                if status == 200 {
                    latencies
                        .lock()
                        .unwrap()
                        .push(started.elapsed().as_micros() as u64);
                }
                // Only the unknown study is expected to be refused (404), and with faults
                // injected the statuses they stand for (502, 503; a body cut short).
                let expected_refusal = path.starts_with("/studies/1.2.3/");
                let injected = faulty && matches!(status, 502 | 503);
                if (status >= 500 && !injected)
                    || status == 0
                    || ((400..500).contains(&status) && !expected_refusal)
                {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                *statuses.lock().unwrap().entry(status).or_default() += 1;
            }
        })
        .await;
    let mut samples = sampler.await.unwrap();
    for m in misbehaving {
        m.abort();
        let _ = m.await;
    }
    if let Some((upstream, _)) = hostile {
        client
            .put(format!("{upstream}/_emulator/faults"))
            .json(&serde_json::json!({"latency_ms": 0, "throttle_rate": 0.0, "error_rate": 0.0, "operations": []}))
            .send()
            .await
            .unwrap();
    }
    // Idle: what the server holds once the requests in flight are gone and freed pages
    // purged (about 1 s, local/src/main.rs); the last sample.
    tokio::time::sleep(Duration::from_secs(5)).await;
    samples.push(proc_status_kib(pid, "VmRSS:"));
    let statuses = statuses.lock().unwrap().clone();
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_unstable();
    Run {
        statuses,
        samples,
        errors: errors.load(Ordering::Relaxed),
        latencies,
    }
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
            "--no-viewer",
            "--send-timeout",
            "10",
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

    if arg("--hostile", 0) != 0 {
        return hostile(seconds, concurrency, cache_mb).await;
    }
    let (p, base) = serve(cache_mb);
    let Run {
        statuses,
        samples,
        errors,
        ..
    } = run(&p, &base, seconds, concurrency, None).await;
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
    let Run {
        samples,
        errors: errors_uncached,
        ..
    } = run(&p, &base, seconds.min(120), concurrency, None).await;
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

/// The viewers' load alone, then the same with the hostile clients, each on a fresh server.
async fn hostile(seconds: u64, concurrency: usize, cache_mb: usize) {
    let mut runs = Vec::new();
    for with in [false, true] {
        let (p, base) = serve(cache_mb);
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut retrieves = Vec::new();
        for study in get_json(&client, &base, "/studies")
            .await
            .as_array()
            .unwrap()
        {
            let st = first_value(study, "0020000D");
            for series in get_json(&client, &base, &format!("/studies/{st}/series"))
                .await
                .as_array()
                .unwrap()
            {
                retrieves.push(format!(
                    "/studies/{st}/series/{}",
                    first_value(series, "0020000E")
                ));
            }
            retrieves.push(format!("/studies/{st}"));
        }
        let upstream = p.upstream_url();
        let r = run(
            &p,
            &base,
            seconds,
            concurrency,
            with.then_some((upstream.as_str(), &retrieves[..])),
        )
        .await;
        let peak = proc_status_kib(p.pid(), "VmHWM:") / 1024;
        println!(
            "{}: {} answers by status {:?}; errors {}; viewers' p50 {:.1} ms, p99 {:.1} ms; RSS every 10 s (MiB) {:?}, peak {peak} MiB",
            if with {
                "with hostile clients"
            } else {
                "viewers alone"
            },
            r.statuses.values().sum::<u64>(),
            r.statuses,
            r.errors,
            r.percentile(0.5),
            r.percentile(0.99),
            r.samples.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        );
        runs.push((r, peak));
        drop(p);
    }
    let ((alone, _), (mixed, _)) = (&runs[0], &runs[1]);
    println!(
        "viewers' p99 with the hostile clients / alone: {:.2}x (p50 {:.2}x)",
        mixed.percentile(0.99) / alone.percentile(0.99).max(0.001),
        mixed.percentile(0.5) / alone.percentile(0.5).max(0.001),
    );
}
