//! Many translator instances under HealthImaging's default quotas: `dicomweb-edge serve
//! --translators K --quotas aws-default` (release binary, `--auth none`) plays a deployment
//! whose CloudFront spreads cache misses over K Lambda instances, each with its own caches
//! and client, in front of an emulator that throttles as AHI does. V viewers then open V
//! different studies at once, as OHIF does: the study list, the study's series, each
//! series' metadata, then every frame with OHIF's prefetch concurrency.
//!
//! For each K and V it reports the HealthImaging calls per operation, those throttled, the
//! 5xx answers viewers saw, frame latency p50/p99 and the time to each study's last frame,
//! once with instances resolving alone (`--no-shared-resolution`) and once sharing through
//! the edge's cache (the default).
//!
//! `cargo bench -p e2e --bench scale -- --instances 1,10,50 --viewers 1,10,50
//! --concurrency 25 --latency-ms 10` (defaults; `--data DIR` for an existing folder, else
//! `tests/tools/generate_folder.py` writes enough studies of 100–500 64×64 slices, each with
//! a copy of the demo's HTJ2K series).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{arg, first_value, get_json, path_arg};
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
    let needed: usize = viewers.iter().sum();
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
        "| resolution | K instances | V viewers | searches | metadata reads | frames read | throttled (search/metadata/frame) | viewer 5xx | frame p50 / p99 | last frame, median / slowest |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for shared in [false, true] {
        for &k in &instances {
            let k_arg = k.to_string();
            let mut args = vec![
                "serve",
                "--auth",
                "none",
                "--listen",
                "127.0.0.1:0",
                "--emulator-listen",
                "127.0.0.1:0",
                "--data",
                dir.to_str().unwrap(),
                "--quotas",
                "aws-default",
                "--translators",
                &k_arg,
                "--cache-mb",
                "4096",
            ];
            if !shared {
                args.push("--no-shared-resolution");
            }
            let p = Process::start(&args, &[]);
            let base = p.dicomweb_url();
            let emulator = p.upstream_url();
            let all = get_json(&client, &base, "/studies?limit=1000").await;
            let mut studies: Vec<String> = all
                .as_array()
                .unwrap()
                .iter()
                .map(|s| first_value(s, "0020000D"))
                .collect();
            studies.sort();
            assert!(
                studies.len() >= needed,
                "{} studies, {needed} needed",
                studies.len()
            );
            let mut next = 0;
            for &v in &viewers {
                // Full buckets, fresh counters, then the latency again (reset clears it).
                client
                    .post(format!("{emulator}/_emulator/reset"))
                    .send()
                    .await
                    .unwrap();
                client
                    .put(format!("{emulator}/_emulator/faults"))
                    .body(format!(r#"{{"latency_ms": {latency_ms}}}"#))
                    .send()
                    .await
                    .unwrap();
                // Studies no earlier run opened, so every instance starts cold for them.
                let mine = &studies[next..next + v];
                next += v;
                let seen: Vec<Viewer> = futures_util::future::join_all(
                    mine.iter()
                        .map(|st| open_study(&client, &base, st, concurrency)),
                )
                .await;
                let calls = admin(&client, &format!("{emulator}/_emulator/calls")).await;
                let quotas = admin(&client, &format!("{emulator}/_emulator/quotas")).await;
                let n = |v: &Value, op: &str| v[op].as_u64().unwrap_or(0);
                let throttled = &quotas["throttled"];
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
                    by_op.insert(op, (n(&calls, op), n(throttled, op)));
                }
                println!(
                    "| {} | {k} | {v} | {} ({:.1}/study) | {} ({:.1}/study) | {} | {} / {} / {} | {server_errors}{} | {:.0} / {:.0} ms | {:.1} / {:.1} s |",
                    if shared { "shared" } else { "alone" },
                    by_op["SearchImageSets"].0,
                    by_op["SearchImageSets"].0 as f64 / v as f64,
                    by_op["GetImageSetMetadata"].0,
                    by_op["GetImageSetMetadata"].0 as f64 / v as f64,
                    by_op["GetImageFrame"].0,
                    by_op["SearchImageSets"].1,
                    by_op["GetImageSetMetadata"].1,
                    by_op["GetImageFrame"].1,
                    if other > 0 {
                        format!(" (+{other} other)")
                    } else {
                        String::new()
                    },
                    percentile(&latencies, 50),
                    percentile(&latencies, 99),
                    last[last.len() / 2].as_secs_f64(),
                    last[last.len() - 1].as_secs_f64(),
                );
            }
        }
    }
}
