//! Decoded frames and whole-study retrieve, measured in one run on one machine:
//!
//! 1. frames per second of single frames through `dicomweb-edge serve --cache-mb 0` at
//!    concurrency 16, decoded to Explicit VR LE against the same frames as stored (HTJ2K);
//! 2. whole-study retrieve throughput (MB/s) of `serve` (as stored and decoded) against
//!    Orthanc's DICOMweb plugin on the same files (as stored: Debian's Orthanc cannot decode
//!    HTJ2K; the files are given to it uncompressed too, for a decoded-size comparison);
//! 3. the serve process's peak RSS growth while it streams the decoded study.
//!
//! `cargo bench -p e2e --bench representations` (options: `-- --copies N` copies of the
//! 64-slice demo CT, default 8 = 512 instances; `--requests N`). Needs Orthanc with its
//! DICOMweb plugin (scripts/test.sh installs them) for part 2; without it that part is
//! skipped.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Measure, arg, load, proc_status_kib};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use e2e::Process;
use healthimaging::emulator::demo_data_dir;

const STUDY: &str = "1.2.826.0.1.3680043.10.1082.2";
const SERIES: &str = "1.2.826.0.1.3680043.10.1082.2.1";
const DECODED: &str = r#"multipart/related; type="application/octet-stream""#;
const STORED: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;

/// `copies` × the 64 HTJ2K demo CT slices as one series of one study, new UIDs.
fn write_study(dir: &Path, copies: usize) -> Vec<String> {
    let src = demo_data_dir().join("ct-phantom/series1-htj2k");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("demo series")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut sops = Vec::new();
    for c in 0..copies {
        for (i, f) in files.iter().enumerate() {
            let mut obj = dicom_object::open_file(f).expect("open demo file");
            let sop = format!("{SERIES}.{c}.{i}");
            obj.put(DataElement::new(
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(STUDY),
            ));
            obj.put(DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(SERIES),
            ));
            obj.put(DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(sop.as_str()),
            ));
            obj.put(DataElement::new(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::from((c * files.len() + i + 1).to_string()),
            ));
            obj.meta_mut().media_storage_sop_instance_uid = sop.clone();
            obj.meta_mut().update_information_group_length();
            obj.write_to_file(dir.join(format!("{c:02}-{i:03}.dcm")))
                .expect("write");
            sops.push(sop);
        }
    }
    sops
}

/// GETs `url` with `accept`, reading the body to its end; the bytes and the seconds taken.
async fn read_all(http: &reqwest::Client, url: &str, accept: &str) -> (usize, f64) {
    let t = Instant::now();
    let mut r = http
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200, "{url}");
    let mut total = 0;
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        total += chunk.len();
    }
    (total, t.elapsed().as_secs_f64())
}

/// Best of three: MB/s.
async fn throughput(http: &reqwest::Client, url: &str, accept: &str) -> (f64, usize) {
    let mut best = 0f64;
    let mut size = 0;
    for _ in 0..3 {
        let (n, s) = read_all(http, url, accept).await;
        size = n;
        best = best.max(n as f64 / 1e6 / s);
    }
    (best, size)
}

fn main() {
    let copies = arg("--copies", 8);
    let requests = arg("--requests", 2000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(copies, requests));
}

async fn run(copies: usize, requests: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("study");
    std::fs::create_dir_all(&data).expect("mkdir");
    let sops = write_study(&data, copies);
    let data_arg = data.display().to_string();
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cache-mb",
            "0",
            "--auth",
            "none",
            "--data",
            &data_arg,
        ],
        &[("RUST_LOG", "warn")],
    );
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    println!(
        "machine: {} cores; study: {} instances of 256x256x16 HTJ2K (the demo CT, {copies} copies)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        sops.len()
    );

    // 1. Single frames, decoded against stored, concurrency 16.
    let sops = Arc::new(sops);
    let frame = |accept: &'static str| {
        let (http, root, sops) = (http.clone(), root.clone(), sops.clone());
        move |i: usize| {
            let (http, root, sops) = (http.clone(), root.clone(), sops.clone());
            async move {
                let url = format!(
                    "{root}/studies/{STUDY}/series/{SERIES}/instances/{}/frames/1",
                    sops[i % sops.len()]
                );
                let r = http
                    .get(url)
                    .header("accept", accept)
                    .send()
                    .await
                    .expect("GET");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
            }
        }
    };
    let (stored, decoded) = (frame(STORED), frame(DECODED));
    load(sops.len(), 16, &stored).await; // warm-up: resolution caches, connections
    let (mut s_best, mut d_best): (Option<Measure>, Option<Measure>) = (None, None);
    for _ in 0..3 {
        let s = load(requests, 16, &stored).await;
        let d = load(requests, 16, &decoded).await;
        if s_best.as_ref().is_none_or(|b| s.per_second > b.per_second) {
            s_best = Some(s);
        }
        if d_best.as_ref().is_none_or(|b| d.per_second > b.per_second) {
            d_best = Some(d);
        }
    }
    let (s, d) = (s_best.expect("measured"), d_best.expect("measured"));
    println!(
        "\nsingle frames through serve --cache-mb 0, concurrency 16, best of 3 ({requests} requests):"
    );
    for (label, m) in [("stored (HTJ2K)", &s), ("decoded (Explicit VR LE)", &d)] {
        println!(
            "  {label:<26} {:>7.0} frames/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            m.per_second,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3
        );
    }
    println!("  ratio decoded/stored: {:.2}", d.per_second / s.per_second);

    // 2. Whole-study retrieve.
    let study_url = format!("{root}/studies/{STUDY}");
    let (serve_stored, stored_size) = throughput(
        &http,
        &study_url,
        r#"multipart/related; type="application/dicom"; transfer-syntax=*"#,
    )
    .await;
    let (serve_decoded, decoded_size) = throughput(
        &http,
        &study_url,
        r#"multipart/related; type="application/dicom""#,
    )
    .await;
    println!("\nwhole-study retrieve, best of 3:");
    println!(
        "  serve, as stored:  {serve_stored:>7.1} MB/s ({:.1} MB)",
        stored_size as f64 / 1e6
    );
    println!(
        "  serve, decoded:    {serve_decoded:>7.1} MB/s ({:.1} MB)",
        decoded_size as f64 / 1e6
    );
    if let Some((orthanc_stored, orthanc_native)) = orthanc(&http, dir.path(), &data).await {
        println!(
            "  Orthanc, as stored:           {:>7.1} MB/s ({:.1} MB)",
            orthanc_stored.0,
            orthanc_stored.1 as f64 / 1e6
        );
        println!(
            "  Orthanc, files uncompressed:  {:>7.1} MB/s ({:.1} MB)",
            orthanc_native.0,
            orthanc_native.1 as f64 / 1e6
        );
        println!(
            "  ratio serve/Orthanc: as stored {:.2}, decoded vs uncompressed {:.2}",
            serve_stored / orthanc_stored.0,
            serve_decoded / orthanc_native.0
        );
    } else {
        println!("  Orthanc with its DICOMweb plugin not installed: no comparison");
    }

    // 3. Peak memory while one response streams the decoded study.
    let pid = p.pid();
    let rss_before = proc_status_kib(pid, "VmRSS:");
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let mut r = http
        .get(&study_url)
        .header("accept", r#"multipart/related; type="application/dicom""#)
        .send()
        .await
        .expect("GET study");
    let mut total = 0usize;
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        total += chunk.len();
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    let peak = proc_status_kib(pid, "VmHWM:");
    println!(
        "\nserve streaming the decoded study ({:.1} MB, {} instances): RSS before {:.1} MB, peak {:.1} MB, growth {:.1} MB",
        total as f64 / 1e6,
        sops.len(),
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(rss_before) as f64 / 1024.0
    );
}

/// Orthanc's retrieve throughput on the same files: as given (HTJ2K), and with the files
/// decompressed by pydicom (what an archive that stores uncompressed data serves).
async fn orthanc(
    http: &reqwest::Client,
    work: &Path,
    data: &Path,
) -> Option<((f64, usize), (f64, usize))> {
    let mut out = Vec::new();
    for (name, folder) in [
        ("stored", data.to_path_buf()),
        ("native", work.join("native")),
    ] {
        if name == "native" && !common::decompress(data, &folder) {
            return None;
        }
        let orthanc =
            common::Orthanc::start(http, &work.join(format!("orthanc-{name}")), &folder).await?;
        let study_url = format!("{}/dicom-web/studies/{STUDY}", orthanc.url);
        out.push(
            throughput(
                http,
                &study_url,
                r#"multipart/related; type="application/dicom"; transfer-syntax=*"#,
            )
            .await,
        );
    }
    Some((out[0], out[1]))
}
