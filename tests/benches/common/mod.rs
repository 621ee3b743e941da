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

/// Orthanc with its DICOMweb plugin (Debian's packages, which scripts/test.sh installs) on a
/// free loopback port, loaded with the files of `folder`; stopped when dropped. `None` when
/// Orthanc or the plugin is not installed.
pub struct Orthanc {
    pub url: String,
    child: std::process::Child,
}

impl Orthanc {
    pub async fn start(
        http: &reqwest::Client,
        work: &std::path::Path,
        folder: &std::path::Path,
    ) -> Option<Orthanc> {
        let plugin = std::path::Path::new("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
        if !plugin.exists() {
            return None;
        }
        std::fs::create_dir_all(work).ok()?;
        let port = e2e::free_port();
        let db = work.join("db");
        let config = serde_json::json!({
            "Name": "bench", "StorageDirectory": db, "IndexDirectory": db, "HttpPort": port,
            "DicomServerEnabled": false, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
            "Plugins": [plugin], "DicomWeb": {"Enable": true, "Root": "/dicom-web/"}
        });
        let config_path = work.join("orthanc.json");
        std::fs::write(&config_path, config.to_string()).ok()?;
        let child = std::process::Command::new("Orthanc")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let orthanc = Orthanc {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if http
                .get(format!("{}/system", orthanc.url))
                .send()
                .await
                .is_ok()
            {
                break;
            }
        }
        for f in std::fs::read_dir(folder).ok()? {
            let bytes = std::fs::read(f.ok()?.path()).ok()?;
            http.post(format!("{}/instances", orthanc.url))
                .body(bytes)
                .send()
                .await
                .ok()?;
        }
        Some(orthanc)
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the `.dcm` files of `from` into the new folder `to` decompressed by pydicom (same
/// UIDs and pixels); whether it worked.
pub fn decompress(from: &std::path::Path, to: &std::path::Path) -> bool {
    std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pathlib, pydicom\n\
             out = pathlib.Path(sys.argv[2]); out.mkdir()\n\
             for f in pathlib.Path(sys.argv[1]).glob('*.dcm'):\n\
             \x20   ds = pydicom.dcmread(f); ds.decompress(generate_instance_uid=False); ds.save_as(out / f.name, enforce_file_format=True)",
        ])
        .arg(from)
        .arg(to)
        .status()
        .is_ok_and(|s| s.success())
}

/// `serve --cache-mb 0` (every request goes upstream) over the files in `data`, without
/// authentication or viewer; the process and its first datastore's DICOMweb root.
pub fn serve_uncached(data: &std::path::Path) -> (e2e::Process, String) {
    let p = e2e::Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cache-mb",
            "0",
            "--auth",
            "none",
            "--no-viewer",
            "--data",
            &data.display().to_string(),
        ],
        &[("RUST_LOG", "warn")],
    );
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    (p, root)
}
