//! The real viewer: the prebuilt OHIF (npm @ohif/app) in Debian's Chromium, driven by
//! playwright-core (`tests/ohif/ohif_e2e.mjs`), against `dicomweb-edge serve`. It lists the
//! demo studies, opens the CT study and renders it; every request to the edge succeeds,
//! frames go through the WADO-RS frames route with OHIF's own Accept, and the viewport is
//! not blank. Then again with development tokens, which OHIF sends from its `?token=`.
//! `scripts/install-ohif.sh` (run by the test command) installs what this needs; the
//! screenshots are left in `target/ohif-e2e/`.

use std::path::PathBuf;
use std::process::Command;

use e2e::{Process, binary, workspace};
use serde_json::Value;

const CT_STUDY: &str = "2.25.43013641727009647318637766896963722706";
/// What OHIF sends for frames with `omitQuotationForMultipartRequest`.
const OHIF_FRAMES_ACCEPT: &str =
    "multipart/related; type=application/octet-stream; transfer-syntax=*";

/// The OHIF dist folder, or `None` (skipping) when the browser parts are not installed.
fn ohif_dist() -> Option<PathBuf> {
    let dist = std::env::var_os("DICOMWEB_EDGE_OHIF_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".cache/ohif/3.13.2/package/dist"));
    let ready = dist.join("index.html").exists()
        && workspace()
            .join("tests/ohif/node_modules/playwright-core")
            .exists()
        && std::path::Path::new("/usr/bin/chromium").exists();
    if !ready {
        assert!(
            std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
            "the OHIF test needs scripts/install-ohif.sh (the test command runs it)"
        );
        eprintln!(
            "SKIPPED: OHIF, Chromium or playwright-core not installed (scripts/install-ohif.sh)"
        );
        return None;
    }
    Some(dist)
}

fn out_dir() -> PathBuf {
    let dir = workspace().join("target/ohif-e2e");
    std::fs::create_dir_all(&dir).expect("artefact folder");
    dir
}

fn drive(dist: &PathBuf, root: &str, token: Option<&str>) -> Value {
    drive_with(dist, root, token, None)
}

/// As `drive`, with OHIF's `requestTransferSyntaxUID` set to `syntax`.
fn drive_with(dist: &PathBuf, root: &str, token: Option<&str>, syntax: Option<&str>) -> Value {
    let mut cmd = Command::new("node");
    if let Some(ts) = syntax {
        cmd.env("OHIF_REQUEST_TRANSFER_SYNTAX", ts);
    }
    cmd.arg(workspace().join("tests/ohif/ohif_e2e.mjs"))
        .arg(dist)
        .arg(root)
        .arg(CT_STUDY)
        .arg("CT PHANTOM|MR AND PHOTO")
        .arg(out_dir());
    if let Some(t) = token {
        cmd.arg(t);
    }
    let out = cmd.output().expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("the driver's JSON");
    assert!(result["error"].is_null(), "{}", result["error"]);
    result
}

/// What every run must show: all edge requests answered, frames by WADO-RS with OHIF's
/// Accept, a viewport that is not blank.
fn check(result: &Value, with_token: bool) {
    check_frames(result, with_token, OHIF_FRAMES_ACCEPT);
}

fn check_frames(result: &Value, with_token: bool, frames_accept: &str) {
    let requests = result["requests"].as_array().expect("requests");
    let failed: Vec<&Value> = requests
        .iter()
        .filter(|r| !matches!(r["status"].as_u64(), Some(200 | 304)))
        .collect();
    assert!(failed.is_empty(), "failed requests: {failed:#?}");
    let frames: Vec<&Value> = requests
        .iter()
        .filter(|r| r["url"].as_str().unwrap().contains("/frames/"))
        .collect();
    assert!(frames.len() >= 8, "{} frame requests", frames.len());
    for f in &frames {
        assert_eq!(f["accept"], frames_accept, "{f}");
    }
    for kind in ["/metadata", "/series"] {
        assert!(
            requests
                .iter()
                .any(|r| r["url"].as_str().unwrap().contains(kind)),
            "no {kind} request"
        );
    }
    if with_token {
        assert!(
            requests.iter().all(|r| !r["authorization"].is_null()),
            "a request without the token"
        );
    }
    let px = &result["pixels"];
    assert!(
        px["sd"].as_f64().unwrap() > 10.0 && px["lit"].as_f64().unwrap() > 0.02,
        "the viewport looks blank: {px}"
    );
    assert!(std::path::Path::new(result["screenshot"].as_str().unwrap()).exists());
}

#[tokio::test]
async fn ohif_lists_opens_and_renders_the_demo_ct() {
    let Some(dist) = ohif_dist() else { return };
    let p = Process::start(&["serve", "--listen", "127.0.0.1:0", "--auth", "none"], &[]);
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    let http = reqwest::Client::new();
    let emulator = p.upstream_url();
    http.post(format!("{emulator}/_emulator/reset"))
        .send()
        .await
        .unwrap();

    let result = drive(&dist, &root, None);
    check(&result, false);
    let list = result["studyList"]
        .as_array()
        .expect("the study list was seen");
    assert_eq!(list.len(), 2);

    // What opening the CT study in OHIF cost upstream (reported in the README).
    let calls: Value = http
        .get(format!("{emulator}/_emulator/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = result["requests"].as_array().unwrap().len();
    eprintln!("OHIF: {requests} requests to the edge; upstream calls: {calls}");
    assert!(
        calls["GetImageSetMetadata"].as_u64().unwrap() <= 2,
        "{calls}"
    );
    assert!(calls["SearchImageSets"].as_u64().unwrap() <= 8, "{calls}");
}

/// OHIF with `requestTransferSyntaxUID` set to Explicit VR Little Endian renders the demo CT
/// from frames the edge decodes from HTJ2K.
#[tokio::test]
async fn ohif_renders_the_demo_ct_from_decoded_frames() {
    let Some(dist) = ohif_dist() else { return };
    let p = Process::start(&["serve", "--listen", "127.0.0.1:0", "--auth", "none"], &[]);
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    let ts = "1.2.840.10008.1.2.1";
    let result = drive_with(&dist, &root, None, Some(ts));
    // OHIF 3.13 with `omitQuotationForMultipartRequest` names only the requested syntax.
    let accept = format!("multipart/related; type=application/octet-stream; transfer-syntax={ts}");
    check_frames(&result, false, &accept);
    let frames: Vec<&Value> = result["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| r["url"].as_str().unwrap_or("").contains("/frames/"))
        .collect();
    assert!(
        frames.iter().all(|f| {
            f["contentType"].as_str().is_some_and(|c| {
                c.starts_with("multipart/related; type=\"application/octet-stream\"")
            })
        }),
        "frames not answered decoded: {frames:#?}"
    );
}

#[tokio::test]
async fn ohif_sends_development_tokens() {
    let Some(dist) = ohif_dist() else { return };
    let state = tempfile::tempdir().unwrap();
    let env = [("DICOMWEB_EDGE_STATE_DIR", state.path().to_str().unwrap())];
    let p = Process::start(&["serve", "--listen", "127.0.0.1:0"], &env);
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    let token = Command::new(binary())
        .arg("token")
        .env("DICOMWEB_EDGE_STATE_DIR", state.path())
        .output()
        .expect("dicomweb-edge token");
    let token = String::from_utf8(token.stdout).unwrap();
    let result = drive(&dist, &root, Some(token.trim()));
    check(&result, true);
}
