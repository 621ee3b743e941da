//! Server-side decoding and whole-instance retrieval through `serve`, checked against
//! independent oracles: pydicom with pylibjpeg/pyjpegls decoding the source files, and the
//! Python `dicomweb-client` as the client.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{Process, python, python_modules_available, workspace};
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
    // `datastore <id> <folder name> (…)`
    let by_name: BTreeMap<&str, &str> = p
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("datastore "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let id = w.next()?;
            Some((w.next()?, id))
        })
        .collect();
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
    let out = cmd.output().expect("run decoded_frames.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
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

/// Files known to be outside what is served decoded, with the reason (listed in
/// docs/clients.md): the answer the server gives instead.
const KNOWN_DIFFERENT: &[(&str, u16, &str)] = &[
    (
        "SC_rgb_jpeg.dcm",
        404,
        "the emulator cannot import it (dicom-rs cannot read it)",
    ),
    (
        "JPGExtended.dcm",
        406,
        "12-bit JPEG extended: jpeg-decoder has no 12-bit DCT",
    ),
    (
        "rtdose_rle.dcm",
        406,
        "32-bit RLE: the RLE reader takes 8 and 16 bits",
    ),
    ("rtdose_rle_1frame.dcm", 406, "32-bit RLE"),
    ("SC_rgb_rle_32bit.dcm", 406, "32-bit RLE"),
    ("SC_rgb_rle_32bit_2frame.dcm", 406, "32-bit RLE"),
    (
        "MR_small_jpeg_ls_lossless.dcm",
        406,
        "JPEG-LS: no CharLS in this build",
    ),
    (
        "emri_small_jpeg_ls_lossless.dcm",
        406,
        "JPEG-LS: no CharLS in this build",
    ),
];

/// Real-world files from pydicom-data and pydicom's test files, in every syntax they come
/// in, decoded by the server and by pydicom. Files reuse UIDs across syntaxes, so they are
/// spread over datastores with unique UIDs in each.
#[test]
fn real_world_files_are_served_decoded_equal_to_pydicom() {
    if !python_modules_available(DECODERS) {
        return;
    }
    let listing = python(
        "import os, sys, json, pydicom\n\
         dirs = [os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files')]\n\
         try:\n    import data_store; dirs.append(os.path.join(os.path.dirname(data_store.__file__), 'data'))\n\
         except ImportError: pass\n\
         out = []\n\
         for d in dirs:\n\
         \x20   for f in sorted(os.listdir(d)):\n\
         \x20       p = os.path.join(d, f)\n\
         \x20       if not (os.path.isfile(p) and f.endswith('.dcm')): continue\n\
         \x20       try:\n\
         \x20           ds = pydicom.dcmread(p, stop_before_pixels=True)\n\
         \x20           if not ds.file_meta.TransferSyntaxUID.is_compressed: continue\n\
         \x20           out.append([p, str(ds.StudyInstanceUID) + '/' + str(ds.SeriesInstanceUID) + '/' + str(ds.SOPInstanceUID)])\n\
         \x20       except Exception: pass\n\
         print(json.dumps(out))",
        &[],
    );
    let files: Vec<(String, String)> = serde_json::from_str(&listing).expect("listing");
    let tmp = tempfile::tempdir().expect("tempdir");
    // Greedy: each file into the first datastore that does not hold its UIDs yet; each file
    // is its own import job (one image set).
    let mut stores: Vec<BTreeSet<String>> = Vec::new();
    for (n, (path, uids)) in files.iter().enumerate() {
        let i = match stores.iter().position(|s| !s.contains(uids)) {
            Some(i) => i,
            None => {
                stores.push(BTreeSet::new());
                stores.len() - 1
            }
        };
        stores[i].insert(uids.clone());
        let job = tmp.path().join(format!("ds{i}")).join(format!("{n:04}"));
        std::fs::create_dir_all(&job).expect("mkdir");
        let name = Path::new(path).file_name().expect("name");
        std::fs::copy(path, job.join(name)).expect("copy");
    }
    let folders: Vec<PathBuf> = (0..stores.len())
        .map(|i| tmp.path().join(format!("ds{i}")))
        .collect();
    let refs: Vec<&Path> = folders.iter().map(PathBuf::as_path).collect();
    let (_p, roots) = serve(&refs);
    assert_eq!(roots.len(), folders.len());
    let report = decoded_frames(&roots.into_iter().zip(folders).collect::<Vec<_>>());

    let mut by_syntax: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut failures = Vec::new();
    for f in report["files"].as_array().expect("files") {
        let path = f["path"].as_str().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        let ts = f["ts"].as_str().unwrap_or_default().to_owned();
        let known = KNOWN_DIFFERENT
            .iter()
            .any(|(k, status, _)| *k == name && f["status"] == *status);
        let good = f["status"] == 200
            && f["max_diff"].as_u64().is_some_and(|d| d <= tolerance(&ts))
            && (tolerance(&ts) > 0 || f["exact"] == f["frames"]);
        let e = by_syntax.entry(ts).or_default();
        e.0 += 1;
        if good {
            e.1 += 1;
        } else if !known {
            failures.push(f.clone());
        }
    }
    eprintln!("decoded files by syntax (files, equal): {by_syntax:?}");
    eprintln!("skipped: {}", report["skipped"]);
    assert!(failures.is_empty(), "{failures:#?}");
    for ts in [
        "1.2.840.10008.1.2.4.50", // JPEG baseline
        "1.2.840.10008.1.2.4.70", // JPEG lossless SV1
        "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
        "1.2.840.10008.1.2.4.91", // JPEG 2000
        "1.2.840.10008.1.2.5",    // RLE
    ] {
        assert!(
            by_syntax.get(ts).is_some_and(|(_, ok)| *ok > 0),
            "no file in {ts} decoded equal: {by_syntax:?}"
        );
    }
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
