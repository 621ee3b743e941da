//! Many translator instances under HealthImaging's default quotas: `dicomweb-edge serve
//! --translators K --quotas aws-default` (release binary, `--auth none`) plays a deployment
//! whose CloudFront spreads cache misses over K Lambda instances, each with its own caches
//! and client, in front of an emulator that throttles as AHI does. V viewers then open V
//! different studies at once, as OHIF does: the study list, the study's series, each
//! series' metadata, then every frame with OHIF's prefetch concurrency.
//!
//! For each K and V it reports the HealthImaging calls per operation, those throttled, the
//! 5xx answers viewers saw, frame latency p50/p99 and the time to each study's last frame,
//! for the design before sharing (`--no-shared-resolution --throttle-patience 0`: each
//! instance resolves alone, throttling retried by the SDK only) and after (the defaults:
//! resolution shared through the edge's cache, throttling waited out up to 20 s). Every run
//! starts a new process, so every instance and the edge start cold.
//!
//! `cargo bench -p e2e --bench scale -- --instances 1,10,50 --viewers 1,10,50
//! --concurrency 25 --latency-ms 10` (defaults; `--frame-rate N` raises GetImageFrame's
//! quota to N/s, burst 2N; `--data DIR` for an existing folder, else
//! `tests/tools/generate_folder.py` writes enough studies of 100–500 64×64 slices, each with
//! a copy of the demo's HTJ2K series).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{arg, first_value, path_arg};
use e2e::{Process, workspace};
use futures_util::StreamExt;
use serde_json::Value;

const AS_STORED: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;

fn list_arg(name: &str, default: &[usize]) -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// What one viewer saw.
#[derive(Default)]
struct Viewer {
    frame_latencies: Vec<Duration>,
    server_errors: usize,
    other_errors: usize,
    last_frame: Duration,
}

/// GET with the status: 5xx and other failures are counted, never fatal.
async fn get(client: &reqwest::Client, url: &str, accept: &str) -> Result<Vec<u8>, u16> {
    match client.get(url).header("accept", accept).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.map(|b| b.to_vec()).map_err(|_| 0),
        Ok(r) => Err(r.status().as_u16()),
        Err(_) => Err(0),
    }
}

fn count(v: &mut Viewer, status: u16) {
    if status >= 500 {
        v.server_errors += 1;
    } else {
        v.other_errors += 1;
    }
}

/// One viewer opening `study` as OHIF does, with `concurrency` frame requests in flight.
async fn open_study(
    client: &reqwest::Client,
    base: &str,
    study: &str,
    concurrency: usize,
) -> Viewer {
    let started = Instant::now();
    let mut v = Viewer::default();
    let json = "application/dicom+json";
    if let Err(s) = get(client, &format!("{base}/studies?limit=101&offset=0"), json).await {
        count(&mut v, s);
    }
    let series: Value = match get(client, &format!("{base}/studies/{study}/series"), json).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Err(s) => {
            count(&mut v, s);
            return v;
        }
    };
    let mut frames = Vec::new();
    for se in series.as_array().into_iter().flatten() {
        let se = first_value(se, "0020000E");
        let url = format!("{base}/studies/{study}/series/{se}/metadata");
        let meta: Value = match get(client, &url, json).await {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(s) => {
                count(&mut v, s);
                continue;
            }
        };
        for inst in meta.as_array().into_iter().flatten() {
            let sop = first_value(inst, "00080018");
            let n = inst["00280008"]["Value"][0]
                .as_u64()
                .or_else(|| inst["00280008"]["Value"][0].as_str()?.parse().ok())
                .unwrap_or(1);
            for f in 1..=n {
                frames.push(format!(
                    "{base}/studies/{study}/series/{se}/instances/{sop}/frames/{f}"
                ));
            }
        }
    }
    let results: Vec<(Duration, Result<Vec<u8>, u16>)> = futures_util::stream::iter(frames)
        .map(|url| async move {
            let t = Instant::now();
            let r = get(client, &url, AS_STORED).await;
            (t.elapsed(), r)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (latency, r) in results {
        match r {
            Ok(_) => v.frame_latencies.push(latency),
            Err(s) => count(&mut v, s),
        }
    }
    v.last_frame = started.elapsed();
    v
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn admin(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let instances = list_arg("--instances", &[1, 10, 50]);
    let viewers = list_arg("--viewers", &[1, 10, 50]);
    let concurrency = arg("--concurrency", 25);
    let latency_ms = arg("--latency-ms", 10);
    // A raised GetImageFrame quota (requests per second, burst twice that), to see what
    // raising it buys; 0 keeps AHI's default.
    let frame_rate = arg("--frame-rate", 0);
    let needed = viewers.iter().copied().max().unwrap_or(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = path_arg("--data").unwrap_or_else(|| {
        let out: PathBuf = tmp.path().join("folder");
        let status = std::process::Command::new("python3")
            .arg(workspace().join("tests/tools/generate_folder.py"))
            .arg(&out)
            .args([
                "--studies",
                &needed.to_string(),
                "--slices",
                "100-500",
                "--size",
                "64",
            ])
            .status()
            .expect("run generate_folder.py (python3 with pydicom and numpy)");
        assert!(status.success(), "generate_folder.py failed");
        out
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2048)
        .build()
        .unwrap();
    println!(
        "machine: {} cores; emulator latency {latency_ms} ms per call; {concurrency} frame requests in flight per viewer",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| design | K instances | V viewers | SearchImageSets (throttled) | GetImageSetMetadata (throttled) | GetImageFrame (throttled) | viewer 5xx | frame p50 / p99 | last frame: median viewer / all |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // The studies, listed from the emulator itself so no edge or translator cache is warm.
    let studies = {
        let p = start(&dir, 1, true);
        let sdk = p.upstream_sdk();
        let ds: healthimaging::DatastoreId = p.datastores()[0].parse().unwrap();
        let all = healthimaging::api::SearchCriteria::default();
        let mut uids: Vec<String> = sdk
            .search_all(&ds, &all)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|s| s.dicom_tags.study_instance_uid)
            .collect();
        uids.sort();
        uids.dedup();
        uids
    };
    let most = viewers.iter().copied().max().unwrap_or(1);
    assert!(
        studies.len() >= most,
        "{} studies, {most} needed",
        studies.len()
    );
    for shared in [false, true] {
        for &k in &instances {
            for &v in &viewers {
                // A new process for every run: every instance and the edge start cold.
                let p = start(&dir, k, shared);
                let base = p.dicomweb_url();
                let emulator = p.upstream_url();
                client
                    .put(format!("{emulator}/_emulator/faults"))
                    .body(format!(r#"{{"latency_ms": {latency_ms}}}"#))
                    .send()
                    .await
                    .unwrap();
                if frame_rate > 0 {
                    let mut q = healthimaging::emulator::quotas::Quotas::aws_default();
                    q.0.insert(
                        "GetImageFrame".into(),
                        healthimaging::emulator::quotas::Quota {
                            rate: frame_rate as f64,
                            burst: 2 * frame_rate as u32,
                        },
                    );
                    client
                        .put(format!("{emulator}/_emulator/quotas"))
                        .body(serde_json::to_vec(&q).unwrap())
                        .send()
                        .await
                        .unwrap();
                }
                let started = Instant::now();
                let seen: Vec<Viewer> = futures_util::future::join_all(
                    studies[..v]
                        .iter()
                        .map(|st| open_study(&client, &base, st, concurrency)),
                )
                .await;
                let wall = started.elapsed();
                let calls = admin(&client, &format!("{emulator}/_emulator/calls")).await;
                let quotas = admin(&client, &format!("{emulator}/_emulator/quotas")).await;
                drop(p);
                report(shared, k, v, &seen, &calls, &quotas["throttled"], wall);
            }
        }
    }
}

/// `serve` over `dir` with `k` translator instances, sharing resolution or not.
fn start(dir: &std::path::Path, k: usize, shared: bool) -> Process {
    let args = serve_args(dir, k, shared);
    Process::start(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

fn serve_args(dir: &std::path::Path, k: usize, shared: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "serve",
        "--auth",
        "none",
        "--listen",
        "127.0.0.1:0",
        "--emulator-listen",
        "127.0.0.1:0",
        "--quotas",
        "aws-default",
        "--cache-mb",
        "4096",
    ]
    .map(str::to_owned)
    .into();
    args.extend(["--data".into(), dir.display().to_string()]);
    args.extend(["--translators".into(), k.to_string()]);
    if !shared {
        // The design before sharing: each instance resolves alone, and a throttled call is
        // retried only by the SDK (three attempts) before the viewer gets 503.
        args.extend(["--no-shared-resolution", "--throttle-patience", "0"].map(String::from));
    }
    args
}

/// One row of the table.
fn report(
    shared: bool,
    k: usize,
    v: usize,
    seen: &[Viewer],
    calls: &Value,
    throttled: &Value,
    wall: Duration,
) {
    let n = |v: &Value, op: &str| v[op].as_u64().unwrap_or(0);
    let mut latencies: Vec<Duration> = seen
        .iter()
        .flat_map(|s| s.frame_latencies.clone())
        .collect();
    latencies.sort();
    let mut last: Vec<Duration> = seen.iter().map(|s| s.last_frame).collect();
    last.sort();
    let server_errors: usize = seen.iter().map(|s| s.server_errors).sum();
    let other: usize = seen.iter().map(|s| s.other_errors).sum();
    let mut by_op = BTreeMap::new();
    for op in ["SearchImageSets", "GetImageSetMetadata", "GetImageFrame"] {
        by_op.insert(op, (n(calls, op), n(throttled, op)));
    }
    println!(
        "| {} | {k} | {v} | {} ({}) | {} ({}) | {} ({}) | {server_errors}{} | {:.0} / {:.0} ms | {:.1} / {:.1} s |",
        if shared { "after" } else { "before" },
        by_op["SearchImageSets"].0,
        by_op["SearchImageSets"].1,
        by_op["GetImageSetMetadata"].0,
        by_op["GetImageSetMetadata"].1,
        by_op["GetImageFrame"].0,
        by_op["GetImageFrame"].1,
        if other > 0 {
            format!(" (+{other} other)")
        } else {
            String::new()
        },
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        last[last.len() / 2].as_secs_f64(),
        wall.as_secs_f64(),
    );
}
