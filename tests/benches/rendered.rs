//! Rendered images and thumbnails per second, this edge against Orthanc in one run on one
//! machine: the demo CT's 64 HTJ2K slices (256x256, 16 bits), decompressed by pydicom so
//! that Orthanc (whose DCMTK predates HTJ2K) can render them, served by both:
//!
//! - `serve --cache-mb 0` (every request rendered afresh) `…/rendered` (JPEG, quality 90,
//!   the instance's window) against Orthanc's DICOMweb `…/rendered`;
//! - `serve`'s `…/thumbnail` (128x128) against Orthanc's `…/rendered?viewport=128,128`
//!   (Orthanc 1.10's plugin has no thumbnail resource);
//! - and, for scale, `serve` rendering the HTJ2K originals (decoding included).
//!
//! `cargo bench -p e2e --bench rendered` (options: `-- --requests N --concurrency N`). Needs
//! Orthanc with its DICOMweb plugin and pydicom (scripts/test.sh installs them); without
//! them the comparison is skipped.

mod common;

use std::sync::Arc;

use common::{Measure, arg, load, serve_uncached as serve};
use healthimaging::emulator::demo_data_dir;

/// The best of three runs of `requests` GETs of `{root}/{instance}{suffix}`, each a JPEG.
async fn measure(
    http: &reqwest::Client,
    root: &str,
    instances: &Arc<Vec<String>>,
    suffix: &'static str,
    requests: usize,
    concurrency: usize,
) -> Measure {
    let call = |i: usize| {
        let (http, instances) = (http.clone(), instances.clone());
        let url = format!("{root}/{}{suffix}", instances[i % instances.len()]);
        async move {
            let r = http
                .get(url)
                .header("accept", "image/jpeg")
                .send()
                .await
                .expect("GET");
            assert_eq!(r.status(), 200);
            let ctype = r.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_owned();
            assert!(ctype.starts_with("image/jpeg"), "{ctype}");
            r.bytes().await.expect("body");
        }
    };
    load(instances.len(), concurrency, &call).await; // warm-up
    let mut best: Option<Measure> = None;
    for _ in 0..3 {
        let m = load(requests, concurrency, &call).await;
        if best.as_ref().is_none_or(|b| m.per_second > b.per_second) {
            best = Some(m);
        }
    }
    best.expect("measured")
}

fn print(label: &str, m: &Measure) {
    println!(
        "  {label:<52} {:>7.0} images/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        m.per_second,
        m.p50.as_secs_f64() * 1e3,
        m.p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let requests = arg("--requests", 1000);
    let concurrency = arg("--concurrency", 16);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(requests, concurrency));
}

async fn run(requests: usize, concurrency: usize) {
    let work = tempfile::tempdir().expect("tempdir");
    let htj2k = demo_data_dir().join("ct-phantom/series1-htj2k");
    let native = work.path().join("native");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    println!(
        "machine: {} cores; 64 instances of the demo CT (256x256x16), concurrency {concurrency}, best of 3 x {requests} requests",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !common::decompress(&htj2k, &native) {
        println!("pydicom could not decompress the demo CT: no comparison");
        return;
    }
    let list = Arc::new(e2e::instance_paths(&native));

    let (_p, root) = serve(&native);
    let serve_rendered = measure(&http, &root, &list, "/rendered", requests, concurrency).await;
    let serve_thumb = measure(&http, &root, &list, "/thumbnail", requests, concurrency).await;
    drop(_p);
    let (_h, htj2k_root) = serve(&htj2k);
    let htj2k_rendered = measure(
        &http,
        &htj2k_root,
        &list,
        "/rendered",
        requests,
        concurrency,
    )
    .await;
    drop(_h);

    println!("\nrendered JPEG (uncompressed files):");
    print("serve --cache-mb 0  …/rendered", &serve_rendered);
    let orthanc = common::Orthanc::start(&http, &work.path().join("orthanc"), &native).await;
    let Some(orthanc) = orthanc else {
        print("serve --cache-mb 0  …/thumbnail", &serve_thumb);
        println!("Orthanc with its DICOMweb plugin not installed: no comparison");
        return;
    };
    let o_root = format!("{}/dicom-web", orthanc.url);
    let o_rendered = measure(&http, &o_root, &list, "/rendered", requests, concurrency).await;
    let o_thumb = measure(
        &http,
        &o_root,
        &list,
        "/rendered?viewport=128,128",
        requests,
        concurrency,
    )
    .await;
    print("Orthanc 1.10 + DICOMweb 1.7  …/rendered", &o_rendered);
    println!(
        "  ratio serve/Orthanc: {:.2}",
        serve_rendered.per_second / o_rendered.per_second
    );
    println!("\nthumbnails (128x128 JPEG):");
    print("serve --cache-mb 0  …/thumbnail", &serve_thumb);
    print("Orthanc  …/rendered?viewport=128,128", &o_thumb);
    println!(
        "  ratio serve/Orthanc: {:.2}",
        serve_thumb.per_second / o_thumb.per_second
    );
    println!("\nrendered JPEG from the HTJ2K originals (decoded per request):");
    print("serve --cache-mb 0  …/rendered", &htj2k_rendered);
}
