//! Frame throughput and added latency of the translator: WADO-RS frames through
//! `dicomweb-edge serve --cache-mb 0` against the same frames fetched straight from its
//! embedded emulator's GetImageFrame with the AWS SDK, same frames, same concurrency, same
//! run; plus the peak memory of the serve process while one response streams a long list.
//!
//! `cargo bench -p e2e --bench frames` (options: `-- --requests N --concurrency C`).
//! The data is generated: 64 single-frame instances of 320×320 16-bit pixels (204,800-byte
//! frames, Explicit VR Little Endian) and one 300-frame instance of the same size. This
//! process is the load generator; the server is the release binary in its own process.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Measure, arg, load, proc_status_kib};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use e2e::Process;
use healthimaging::api::SearchCriteria;
use healthimaging::client::HealthImagingClient;
use healthimaging::emulator::demo_data_dir;
use healthimaging::{DatastoreId, ImageFrameId, ImageSetId};

const SIDE: u16 = 320;
const FRAME_BYTES: usize = SIDE as usize * SIDE as usize * 2;
const INSTANCES: usize = 64;
const LONG_LIST: usize = 300;

fn write_dataset(dir: &Path) {
    let src = demo_data_dir().join("ct-phantom/series2-uncompressed/CT001.dcm");
    let study = "1.2.826.0.1.3680043.10.1082.1";
    let series = "1.2.826.0.1.3680043.10.1082.1.1";
    let pixels = |frames: usize| -> Vec<u8> {
        (0..FRAME_BYTES * frames)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    };
    let write = |name: &str, sop: &str, frames: usize| {
        let mut obj = dicom_object::open_file(&src).expect("open demo file");
        let put = |obj: &mut dicom_object::DefaultDicomObject, tag, vr, v: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, v));
        };
        put(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, study.into());
        put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, series.into());
        put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, sop.into());
        put(&mut obj, tags::ROWS, VR::US, PrimitiveValue::from(SIDE));
        put(&mut obj, tags::COLUMNS, VR::US, PrimitiveValue::from(SIDE));
        if frames > 1 {
            put(
                &mut obj,
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                frames.to_string().into(),
            );
        }
        put(
            &mut obj,
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::from(pixels(frames)),
        );
        obj.update_meta(|m| m.media_storage_sop_instance_uid = sop.to_owned());
        obj.write_to_file(dir.join(name)).expect("write");
    };
    for i in 1..=INSTANCES {
        write(&format!("IM{i:03}.dcm"), &format!("{series}.{i}"), 1);
    }
    write("MF.dcm", &format!("{series}.1000"), LONG_LIST);
}

struct Target {
    datastore: DatastoreId,
    image_set: ImageSetId,
    /// (WADO-RS path of frame 1, frame ID) per single-frame instance.
    frames: Vec<(String, ImageFrameId)>,
    long_list_path: String,
}

async fn targets(sdk: &HealthImagingClient, datastore: DatastoreId) -> Target {
    let sets = sdk
        .search_all(&datastore, &SearchCriteria::default())
        .await
        .expect("search");
    let image_set = sets[0].image_set_id.clone();
    let meta = sdk
        .get_image_set_metadata(&datastore, &image_set, None)
        .await
        .expect("metadata");
    let study = meta.study_instance_uid().expect("study").to_owned();
    let mut frames = Vec::new();
    let mut long_list_path = String::new();
    for (se, sop, inst) in meta.instances() {
        let base =
            format!("/datastore/{datastore}/studies/{study}/series/{se}/instances/{sop}/frames");
        if inst.image_frames.len() == 1 {
            frames.push((format!("{base}/1"), inst.image_frames[0].id.clone()));
        } else {
            let list: Vec<String> = (1..=inst.image_frames.len())
                .map(|n| n.to_string())
                .collect();
            long_list_path = format!("{base}/{}", list.join(","));
        }
    }
    frames.sort();
    Target {
        datastore,
        image_set,
        frames,
        long_list_path,
    }
}

fn main() {
    let requests = arg("--requests", 3000);
    let concurrency = arg("--concurrency", 32);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run(requests, concurrency));
}

async fn run(requests: usize, concurrency: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path());
    let data = dir.path().display().to_string();
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
            &data,
        ],
        &[("RUST_LOG", "warn")],
    );
    let base_url = p.url.clone();
    let sdk = p.upstream_sdk();
    let t = Arc::new(targets(&sdk, p.datastores()[0].parse().expect("id")).await);
    assert_eq!(t.frames.len(), INSTANCES);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let accept = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;

    let direct = |i: usize| {
        let (sdk, t) = (sdk.clone(), t.clone());
        async move {
            let id = &t.frames[i % t.frames.len()].1;
            let len = sdk
                .get_image_frame(&t.datastore, &t.image_set, id)
                .await
                .expect("GetImageFrame")
                .bytes
                .len();
            assert_eq!(len, FRAME_BYTES);
        }
    };
    let through = |i: usize| {
        let (http, t, base) = (http.clone(), t.clone(), base_url.clone());
        async move {
            let r = http
                .get(format!("{base}{}", t.frames[i % t.frames.len()].0))
                .header("accept", accept)
                .send()
                .await
                .expect("GET frames");
            assert_eq!(r.status(), 200);
            let body = r.bytes().await.expect("body");
            // One part: the frame and the multipart framing around it.
            assert!(body.len() > FRAME_BYTES && body.len() < FRAME_BYTES + 600);
        }
    };

    // Warm up both paths (connections, resolution caches).
    load(INSTANCES * 2, concurrency, &direct).await;
    load(INSTANCES * 2, concurrency, &through).await;

    println!(
        "frames of {FRAME_BYTES} bytes; {requests} requests per round; best of 3 alternating rounds"
    );
    let best = |m: &mut Option<Measure>, x: Measure| {
        if m.is_none_or(|b| x.per_second > b.per_second) {
            *m = Some(x);
        }
    };
    for (label, c, n) in [
        ("throughput", concurrency, requests),
        ("latency", 1, requests / 6),
    ] {
        let (mut d, mut e) = (None, None);
        for _ in 0..3 {
            best(&mut d, load(n, c, &direct).await);
            best(&mut e, load(n, c, &through).await);
        }
        let (d, e) = (d.expect("measured"), e.expect("measured"));
        println!("\n{label} at concurrency {c}:");
        println!(
            "  direct GetImageFrame (SDK → emulator): {:>8.0} frames/s  p50 {:>7.3} ms  p99 {:>7.3} ms",
            d.per_second,
            d.p50.as_secs_f64() * 1e3,
            d.p99.as_secs_f64() * 1e3
        );
        println!(
            "  WADO-RS through serve (cache off):     {:>8.0} frames/s  p50 {:>7.3} ms  p99 {:>7.3} ms",
            e.per_second,
            e.p50.as_secs_f64() * 1e3,
            e.p99.as_secs_f64() * 1e3
        );
        println!(
            "  ratio serve/direct: {:.2}x throughput; added p50 latency {:+.3} ms",
            e.per_second / d.per_second,
            (e.p50.as_secs_f64() - d.p50.as_secs_f64()) * 1e3
        );
    }

    // Peak memory of the serve process while one response streams the long list.
    let pid = p.pid();
    let rss_before = proc_status_kib(pid, "VmRSS:");
    // Resets the process's VmHWM (peak RSS) to its current RSS.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let mut r = http
        .get(format!("{base_url}{}", t.long_list_path))
        .header("accept", accept)
        .send()
        .await
        .expect("GET long list");
    assert_eq!(r.status(), 200);
    let mut total = 0usize;
    while let Some(chunk) = r.chunk().await.expect("chunk") {
        total += chunk.len();
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let peak = proc_status_kib(pid, "VmHWM:");
    println!(
        "\nserve process streaming {LONG_LIST} frames in one response ({:.1} MB): RSS before {:.1} MB, peak {:.1} MB, growth {:.1} MB",
        total as f64 / 1e6,
        rss_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(rss_before) as f64 / 1024.0
    );
}
