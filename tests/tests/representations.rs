//! Server-side decoding and whole-instance retrieval through `serve`, checked against
//! independent oracles: pydicom with pylibjpeg/pyjpegls decoding the source files, and the
//! Python `dicomweb-client` as the client.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{Process, json_output, python_modules_available, workspace};
use serde_json::Value;

const DECODERS: &str = "dicomweb_client, pydicom, numpy, pylibjpeg, openjpeg, libjpeg, rle";

/// `serve` without auth or edge cache over `folders` (one datastore each, with distinct
/// names), and the DICOMweb root of each datastore in the same order.
fn serve(folders: &[&Path]) -> (Process, Vec<String>) {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cache-mb",
        "0",
        "--auth",
        "none",
    ];
    let folders: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
    for f in &folders {
        args.extend(["--data", f]);
    }
    let p = Process::start(&args, &[]);
    let by_name = p.datastores_by_name();
    let roots = folders
        .iter()
        .map(|f| {
            let name = f.rsplit('/').next().unwrap_or_default();
            let id = by_name
                .get(name)
                .unwrap_or_else(|| panic!("no datastore {name}"));
            format!("{}/datastore/{id}", p.url)
        })
        .collect();
    (p, roots)
}

/// Runs `tests/tools/decoded_frames.py` over (root, folder) pairs.
fn decoded_frames(pairs: &[(String, PathBuf)]) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(workspace().join("tests/tools/decoded_frames.py"));
    for (root, folder) in pairs {
        cmd.arg(root).arg(folder);
    }
    json_output(&mut cmd)
}

/// Syntaxes whose decoders may legitimately differ (the IDCT of lossy JPEG is not specified
/// bit-exactly: PS3.5 §8.2.1 refers to ISO/IEC 10918-1's accuracy test), and the tolerance.
fn tolerance(ts: &str) -> u64 {
    match ts {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => 8,
        _ => 0,
    }
}

/// Every compressed demo frame, asked for by dicomweb-client as `application/octet-stream`
/// without a syntax (Explicit VR LE), equals pydicom's decoding of the source file: HTJ2K
/// exactly, JPEG baseline within the tolerance.
#[test]
fn every_demo_frame_is_served_decoded_equal_to_pydicom() {
    if !python_modules_available(DECODERS) {
        return;
    }
    let demo = workspace().join("demo/dicom");
    let (_p, roots) = serve(&[&demo]);
    let report = decoded_frames(&[(roots[0].clone(), demo)]);
    let files = report["files"].as_array().expect("files");
    let mut frames = 0;
    for f in files {
        let ts = f["ts"].as_str().unwrap_or_default();
        assert_eq!(f["status"], 200, "{f}");
        let diff = f["max_diff"].as_u64();
        assert!(diff.is_some_and(|d| d <= tolerance(ts)), "{f}");
        if tolerance(ts) == 0 {
            assert_eq!(f["exact"], f["frames"], "{f}");
        }
        frames += f["frames"].as_u64().unwrap_or(0);
    }
    // 64 + 36 HTJ2K frames and 12 JPEG baseline frames.
    assert_eq!(frames, 112, "{report}");
    assert_eq!(report["skipped"], serde_json::json!([]));
}

/// dicomweb-client's `retrieve_series` (default: Explicit VR LE, and `transfer-syntax=*`)
/// and `retrieve_instance` on every demo series: each dataset pydicom reads equals the
/// source file attribute by attribute (File Meta Information aside; a decoded file's
/// Photometric Interpretation, Planar Configuration and Lossy Image Compression are the
/// decoded pixels') and pixel for pixel (lossy JPEG within the tolerance). DCMTK's
/// `dcmdump` reads every file as sent without a warning.
#[test]
fn dicomweb_client_retrieves_series_equal_to_the_source() {
    if !python_modules_available(&format!("{DECODERS}, requests")) {
        return;
    }
    let demo = workspace().join("demo/dicom");
    let (_p, roots) = serve(&[&demo]);
    let out = tempfile::tempdir().expect("tempdir");
    let run = Command::new("python3")
        .arg(workspace().join("tests/tools/retrieve_compare.py"))
        .arg(&roots[0])
        .arg(&demo)
        .arg(out.path())
        .output()
        .expect("run retrieve_compare.py");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: Value = serde_json::from_slice(&run.stdout).expect("JSON");
    assert_eq!(summary["instances"], 86, "{summary}");
    assert_eq!(summary["retrieved"], 172, "{summary}");
    assert_eq!(summary["single"], 5, "{summary}");
    assert_eq!(summary["differences"], serde_json::json!({}), "{summary}");
    assert_eq!(
        summary["pixel_mismatches"],
        serde_json::json!([]),
        "{summary}"
    );
    assert_eq!(
        summary["syntaxes"],
        serde_json::json!({"1.2.840.10008.1.2.1": 86}),
        "{summary}"
    );
    assert_eq!(
        summary["stored_syntaxes"],
        serde_json::json!({"1.2.840.10008.1.2.4.202": 65, "1.2.840.10008.1.2.1": 9, "1.2.840.10008.1.2.4.50": 12}),
        "{summary}"
    );
    for (conversion, diff) in summary["max_pixel_diff"].as_object().expect("diffs") {
        let from = conversion.split(' ').next().unwrap_or_default();
        let allowed = if conversion.ends_with(from) {
            0
        } else {
            tolerance(from)
        };
        assert!(
            diff.as_u64().is_some_and(|d| d <= allowed),
            "{conversion}: {diff}"
        );
    }

    let dcmdump = Command::new("dcmdump").arg("--version").output();
    if dcmdump.is_err() {
        assert!(
            std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
            "dcmdump (DCMTK) is required; scripts/test.sh installs it"
        );
        eprintln!("SKIPPED: dcmdump not installed");
        return;
    }
    let files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 86);
    for f in &files {
        let d = Command::new("dcmdump")
            .arg("-q")
            .arg(f)
            .output()
            .expect("dcmdump");
        let stderr = String::from_utf8_lossy(&d.stderr);
        assert!(
            d.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            f.display()
        );
    }
}

/// Another server's DICOMweb client pulls a whole demo study through `serve`: Orthanc's
/// DICOMweb plugin (`POST /dicom-web/servers/{name}/retrieve`) stores all 73 instances of
/// the CT study, and the files it stored equal the source files (pydicom, attribute by
/// attribute and pixel for pixel).
#[test]
fn orthanc_pulls_a_demo_study_through_serve() {
    let plugin = Path::new("/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
    let have_orthanc = Command::new("Orthanc").arg("--version").output().is_ok() && plugin.exists();
    if !have_orthanc || !python_modules_available(DECODERS) {
        assert!(
            have_orthanc || std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
            "Orthanc with its DICOMweb plugin is required; scripts/test.sh installs them"
        );
        return;
    }
    let demo = workspace().join("demo/dicom");
    let (_p, roots) = serve(&[&demo]);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = e2e::free_port();
    let config = serde_json::json!({
        "Name": "pull",
        "StorageDirectory": dir.path().join("db"),
        "IndexDirectory": dir.path().join("db"),
        "HttpPort": port,
        "DicomServerEnabled": false,
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "Servers": {"edge": [format!("{}/", roots[0])]}}
    });
    let config_path = dir.path().join("orthanc.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");
    /// Kills Orthanc however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _orthanc = Killed(
        Command::new("Orthanc")
            .arg(&config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start Orthanc"),
    );
    {
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::blocking::Client::new();
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            client
                .get(format!("{url}/system"))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(up, "Orthanc did not start");
        let study = "2.25.43013641727009647318637766896963722706";
        let r = client
            .post(format!("{url}/dicom-web/servers/edge/retrieve"))
            .body(serde_json::json!({"Resources": [{"Study": study}]}).to_string())
            .send()
            .expect("retrieve");
        assert!(r.status().is_success(), "{:?}", r.text());
        let ids: Vec<String> = client
            .get(format!("{url}/instances"))
            .send()
            .and_then(|r| r.json())
            .expect("instances");
        assert_eq!(ids.len(), 73, "every instance of the CT study");
        let pulled = dir.path().join("pulled");
        std::fs::create_dir_all(&pulled).expect("mkdir");
        for id in &ids {
            let bytes = client
                .get(format!("{url}/instances/{id}/file"))
                .send()
                .and_then(|r| r.bytes())
                .expect("file");
            std::fs::write(pulled.join(format!("{id}.dcm")), bytes).expect("write");
        }
        let out = Command::new("python3")
            .arg(workspace().join("tests/tools/dicom_compare.py"))
            .arg(demo.join("ct-phantom"))
            .arg(&pulled)
            .output()
            .expect("run dicom_compare.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(summary["files"], 73, "{summary}");
        assert_eq!(summary["unknown"], serde_json::json!([]), "{summary}");
        assert_eq!(summary["differences"], serde_json::json!({}), "{summary}");
        assert_eq!(
            summary["pixel_mismatches"],
            serde_json::json!([]),
            "{summary}"
        );
        for (conversion, diff) in summary["max_pixel_diff"].as_object().expect("diffs") {
            assert_eq!(diff, 0, "{conversion}");
        }
    }
}
