//! A large folder through `dicomweb-edge serve` (release binary, `--auth none`,
//! `--cache-mb 0` so that every frame is read from its file): the time until it serves, its
//! RSS after the import and at its peak, and every frame of every study fetched through
//! DICOMweb, against reading the same files straight from disk in this process (the
//! baseline, measured in the same run). The folder is made by
//! `tests/tools/generate_folder.py` unless `--data DIR` names one.
//!
//! `cargo bench -p e2e --bench large_folder -- --gigabytes 5 --concurrency 16`
//! (defaults; `--data DIR` to use an existing folder). Drop the page cache first
//! (`sync; echo 3 > /proc/sys/vm/drop_caches`) for a cold import.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{arg, first_value, get_json, load, path_arg, proc_status_kib};
use e2e::{Process, workspace};
use futures_util::StreamExt;

const AS_STORED: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every frame URL of the datastore, from QIDO-RS searches.
async fn frame_urls(base: &str, client: &reqwest::Client) -> Vec<String> {
    let get = |path: String| async move { get_json(client, base, &path).await };
    let value = first_value;
    let mut out = Vec::new();
    for study in get("/studies?limit=1000".into()).await.as_array().unwrap() {
        let st = value(study, "0020000D");
        for series in get(format!("/studies/{st}/series"))
            .await
            .as_array()
            .unwrap()
        {
            let se = value(series, "0020000E");
            let path = format!("/studies/{st}/series/{se}/instances?limit=100000");
            for inst in get(path).await.as_array().unwrap() {
                let sop = value(inst, "00080018");
                let frames = inst["00280008"]["Value"][0].as_u64().unwrap_or(1);
                for n in 1..=frames {
                    out.push(format!(
                        "{base}/studies/{st}/series/{se}/instances/{sop}/frames/{n}"
                    ));
                }
            }
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let concurrency = arg("--concurrency", 16);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = path_arg("--data").unwrap_or_else(|| {
        let gigabytes = arg("--gigabytes", 5);
        let out = tmp.path().join("folder");
        let status = std::process::Command::new("python3")
            .arg(workspace().join("tests/tools/generate_folder.py"))
            .arg(&out)
            .args(["--gigabytes", &gigabytes.to_string()])
            .status()
            .expect("python3");
        assert!(status.success(), "generate_folder.py failed");
        out
    });
    let files = files_below(&dir);
    let bytes: u64 = files
        .iter()
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum();
    println!(
        "folder {}: {} files, {:.2} GiB",
        dir.display(),
        files.len(),
        bytes as f64 / f64::from(1 << 30)
    );

    let started = Instant::now();
    let data = dir.to_string_lossy().into_owned();
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--cache-mb",
            "0",
            "--data",
            &data,
        ],
        &[("RUST_LOG", "warn,healthimaging::import=info")],
    );
    let ready = started.elapsed();
    let (rss, hwm) = (
        proc_status_kib(p.pid(), "VmRSS:"),
        proc_status_kib(p.pid(), "VmHWM:"),
    );
    println!(
        "serving after {:.1} s ({:.0} files/s); RSS {} MiB after the import, peak {} MiB",
        ready.as_secs_f64(),
        files.len() as f64 / ready.as_secs_f64(),
        rss / 1024,
        hwm / 1024
    );
    let base = p.dicomweb_url();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let urls = frame_urls(&base, &client).await;
    let served = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let (urls, served_ref) = (&urls, &served);
    let m = load(urls.len(), concurrency, |i| {
        let r = client.get(&urls[i]).header("accept", AS_STORED).send();
        let served = served_ref;
        async move {
            let r = r.await.expect("request");
            assert_eq!(r.status(), 200, "{}", urls[i]);
            let n = r.bytes().await.expect("body").len() as u64;
            served.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    let served = served.into_inner();
    println!(
        "{} frames at concurrency {concurrency}: {:.0} frames/s, {:.0} MB/s, p50 {:?}, p99 {:?}; RSS after {} MiB, peak {} MiB",
        urls.len(),
        m.per_second,
        served as f64 / secs / 1e6,
        m.p50,
        m.p99,
        proc_status_kib(p.pid(), "VmRSS:") / 1024,
        proc_status_kib(p.pid(), "VmHWM:") / 1024,
    );
    drop(p);

    // Baseline: the same files read whole, at the same concurrency, by this process.
    let started = Instant::now();
    let read: u64 = futures_util::stream::iter(files)
        .map(|f| async move { tokio::fs::read(f).await.map_or(0, |b| b.len() as u64) })
        .buffer_unordered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await;
    let base_secs = started.elapsed().as_secs_f64();
    println!(
        "baseline, reading the files: {:.0} MB/s; serving frames ran at {:.2}x of it",
        read as f64 / base_secs / 1e6,
        (served as f64 / secs) / (read as f64 / base_secs)
    );
}
