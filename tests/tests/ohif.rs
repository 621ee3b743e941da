//! The real viewer: the prebuilt OHIF (npm @ohif/app) in Debian's Chromium, driven by
//! playwright-core (`tests/ohif/ohif_e2e.mjs`), against `dicomweb-edge serve`. It lists the
//! demo studies, opens the CT study and renders it; every request to the edge succeeds,
//! frames go through the WADO-RS frames route with OHIF's own Accept, and the viewport is
//! not blank. Then again with development tokens, which OHIF sends from its `?token=`; and
//! every series of the demo and of a set of real-world files, each compared with an
//! independent rendering of its source.
//! `scripts/install-ohif.sh` (run by the test command) installs what this needs; the
//! screenshots are left in `target/ohif-e2e/`.

use std::path::PathBuf;
use std::process::Command;

use e2e::{Process, binary, json_output, workspace};
use serde_json::Value;

const CT_STUDY: &str = "2.25.43013641727009647318637766896963722706";
/// What OHIF sends for frames with `omitQuotationForMultipartRequest`.
const OHIF_FRAMES_ACCEPT: &str =
    "multipart/related; type=application/octet-stream; transfer-syntax=*";
/// What OHIF sends for frames by default (the configuration `serve` writes).
const OHIF_DEFAULT_FRAMES_ACCEPT: &str =
    r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;

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
    drive_command(dist, root, token, |cmd| {
        if let Some(ts) = syntax {
            cmd.env("OHIF_REQUEST_TRANSFER_SYNTAX", ts);
        }
    })
}

/// Drives the viewer `serve` itself serves at `url`.
fn drive_served(dist: &PathBuf, url: &str, root: &str, token: Option<&str>) -> Value {
    drive_command(dist, root, token, |cmd| {
        cmd.env("OHIF_URL", url);
    })
}

fn drive_command(
    dist: &PathBuf,
    root: &str,
    token: Option<&str>,
    setup: impl FnOnce(&mut Command),
) -> Value {
    let mut cmd = Command::new("node");
    setup(&mut cmd);
    cmd.arg(workspace().join("tests/ohif/ohif_e2e.mjs"))
        .arg(dist)
        .arg(root)
        .arg(CT_STUDY)
        .arg("CT PHANTOM|MR AND PHOTO")
        .arg(out_dir());
    if let Some(t) = token {
        cmd.arg(t);
    }
    let result = json_output(&mut cmd);
    assert!(result["error"].is_null(), "{}", result["error"]);
    result
}

/// What `serve` printed on its `viewer` line.
fn viewer_line(p: &Process) -> &str {
    p.lines
        .iter()
        .find_map(|l| l.strip_prefix("viewer "))
        .expect("a viewer line")
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
        .filter(|r| !matches!(r["status"].as_u64(), Some(200 | 206 | 304)))
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
    // The study browser's thumbnails, rendered by the edge.
    let thumbnails: Vec<&Value> = requests
        .iter()
        .filter(|r| r["url"].as_str().unwrap().contains("/thumbnail"))
        .collect();
    assert!(!thumbnails.is_empty(), "no thumbnail request");
    for t in &thumbnails {
        assert_eq!(t["contentType"], "image/jpeg", "{t}");
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
        // Every DICOMweb request, in the Authorization header (the frames that stream in
        // too); the viewer's own files, where `serve` serves them, need none.
        let unauthorised: Vec<&Value> = requests
            .iter()
            .filter(|r| r["url"].as_str().unwrap().starts_with("/datastore/"))
            .filter(|r| r["authorization"].is_null())
            .collect();
        assert!(
            unauthorised.is_empty(),
            "without the token: {unauthorised:#?}"
        );
    }
    let px = &result["pixels"];
    assert!(
        px["sd"].as_f64().unwrap() > 10.0 && px["lit"].as_f64().unwrap() > 0.02,
        "the viewport looks blank: {px}"
    );
    assert!(std::path::Path::new(result["screenshot"].as_str().unwrap()).exists());
}

/// `serve`'s viewer streams frames in: one request per frame, without `Range`, answered
/// whole (200) with the stored syntax, under `serve`'s Content-Security-Policy. What it draws
/// from part of a frame is [`the_viewer_shows_every_series_as_its_source_renders`]'s.
fn check_streaming(result: &Value) {
    assert_eq!(
        result["cspViolations"],
        serde_json::json!([]),
        "{}",
        result["cspViolations"]
    );
    for r in result["requests"].as_array().expect("requests") {
        if r["url"].as_str().unwrap().contains("/frames/") {
            assert!(r["range"].is_null(), "{r}");
            assert_eq!(r["status"], 200, "{r}");
            assert!(!r["url"].as_str().unwrap().contains('?'), "{r}");
        }
    }
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

    // What opening the CT study in OHIF cost upstream (reported in docs/testing.md).
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

/// The viewer in one command, the README's first: `scripts/viewer.sh` puts the viewer's
/// files where `serve` finds them by itself; `serve` serves them at `/` with an
/// `app-config.js` of its own and prints the link; OHIF opened from that link lists the
/// studies, opens the CT and renders it, every request to the same origin.
#[tokio::test]
async fn serve_serves_the_viewer_and_prints_its_link() {
    let Some(_) = ohif_dist() else { return };
    let fetched = Command::new(workspace().join("scripts/viewer.sh"))
        .output()
        .expect("run scripts/viewer.sh");
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let dist = PathBuf::from(String::from_utf8(fetched.stdout).unwrap().trim());
    let p = Process::start(&["serve", "--listen", "127.0.0.1:0", "--auth", "none"], &[]);
    let link = viewer_line(&p).to_owned();
    assert_eq!(link, format!("{}/", p.url));
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);

    // The generated configuration names this edge; the files carry cross-origin isolation,
    // hashed files a year's lifetime, and navigations to the viewer's routes get index.html.
    let http = reqwest::Client::new();
    let config = http
        .get(format!("{link}app-config.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.headers()["cache-control"], "no-cache");
    let config = config.text().await.unwrap();
    assert!(
        config.contains(&format!("\"wadoRoot\":\"{root}\"")),
        "{config}"
    );
    let index = http
        .get(format!("{link}viewer?StudyInstanceUIDs={CT_STUDY}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(
        index.headers()["cross-origin-embedder-policy"],
        "require-corp"
    );
    // The policy the viewer runs under (the driver fails on any violation OHIF reports).
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(csp.contains("'sha256-"), "{csp}");
    assert!(index.text().await.unwrap().contains("app-config.js"));
    let missing = http
        .get(format!("{link}no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bundle = std::fs::read_dir(&dist)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("app.bundle.") && n.ends_with(".js"))
        .expect("OHIF's app bundle");
    let js = http.get(format!("{link}{bundle}")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // The edge keeps its own paths.
    let studies = http.get(format!("{root}/studies")).send().await.unwrap();
    assert_eq!(studies.headers()["content-type"], "application/dicom+json");

    let picture = out_dir().join("viewer-readme.png");
    let result = drive_command(&dist, &root, None, |cmd| {
        cmd.env("OHIF_URL", &link)
            .env("OHIF_README_SCREENSHOT", &picture);
    });
    check_frames(&result, false, OHIF_DEFAULT_FRAMES_ACCEPT);
    check_streaming(&result);
    // The README's picture of the viewer is this run's (`scripts/screenshot.sh` refreshes it).
    let readme_picture = workspace().join("docs/images/viewer.png");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(readme_picture.parent().unwrap()).unwrap();
        std::fs::copy(&picture, &readme_picture).unwrap();
    }
    let taken = std::fs::read(&picture).unwrap();
    assert!(taken.starts_with(b"\x89PNG"), "{}", picture.display());
    assert!(
        readme_picture.is_file(),
        "docs/images/viewer.png: run scripts/screenshot.sh"
    );
    assert_eq!(
        result["studyList"],
        serde_json::json!(["CT PHANTOM", "MR AND PHOTO"])
    );
}

/// With development tokens (`serve`'s default), the printed link opens the CT study with a
/// token, which OHIF sends on every request.
#[tokio::test]
async fn the_printed_viewer_link_carries_a_development_token() {
    let Some(dist) = ohif_dist() else { return };
    let state = tempfile::tempdir().unwrap();
    let dist_arg = dist.display().to_string();
    let p = Process::start(
        &["serve", "--listen", "127.0.0.1:0", "--viewer", &dist_arg],
        &[("DICOMWEB_EDGE_STATE_DIR", state.path().to_str().unwrap())],
    );
    let line = viewer_line(&p).to_owned();
    let link = line.split_whitespace().next().unwrap();
    let prefix = format!("{}/viewer?StudyInstanceUIDs={CT_STUDY}&token=", p.url);
    let token = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{line}"));
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);
    // The viewer's files need no token; the DICOMweb root does.
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/", p.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let refused = http.get(format!("{root}/studies")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let result = drive_served(&dist, &format!("{}/", p.url), &root, Some(token));
    check_frames(&result, true, OHIF_DEFAULT_FRAMES_ACCEPT);
    check_streaming(&result);
}

/// The viewer signs in (`serve --auth oidc --viewer-client-id …`) with a real OpenID Connect
/// provider on loopback (npm `oidc-provider`, [`e2e::OidcProvider`]): opening the viewer's
/// URL leads to the provider's sign-in page; signed in, the study list appears, the CT opens
/// from it and renders, and every DICOMweb request carries the provider's access token as
/// `Authorization: Bearer`. A request without it is refused; the token is in no URL the page
/// loaded and nowhere in `serve`'s output, at the most verbose log level.
#[tokio::test]
async fn the_served_viewer_signs_in_at_an_oidc_provider() {
    let Some(dist) = ohif_dist() else { return };
    assert!(
        e2e::OidcProvider::installed(),
        "oidc-provider is installed with the viewer's test parts (scripts/install-ohif.sh)"
    );
    const CLIENT: &str = "dicomweb-viewer";
    const AUDIENCE: &str = "urn:dicomweb-edge";
    let provider = e2e::OidcProvider::start(
        CLIENT,
        AUDIENCE,
        "openid dicomweb",
        &out_dir().join("oidc-provider.log"),
    );
    let log = tempfile::NamedTempFile::new().unwrap();
    let dist_arg = dist.display().to_string();
    let p = Process::start_with_stderr(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "-vv",
            "--auth",
            "oidc",
            "--oidc-issuer",
            &provider.issuer,
            "--oidc-jwks-uri",
            &provider.jwks_uri,
            "--audience",
            AUDIENCE,
            "--required-scope",
            "dicomweb",
            "--viewer",
            &dist_arg,
            "--viewer-client-id",
            CLIENT,
            "--viewer-scope",
            "openid",
            "--viewer-scope",
            "dicomweb",
        ],
        &[("RUST_LOG", "trace")],
        log.reopen().unwrap(),
    );
    let link = format!("{}/", p.url);
    let line = viewer_line(&p);
    assert_eq!(
        line,
        format!(
            "{link} (signs in at {} as client {CLIENT}, returning to {link}callback)",
            provider.issuer
        )
    );
    let root = format!("{}/datastore/{}", p.url, p.datastores()[0]);

    // The generated configuration: OHIF's code flow with PKCE at this provider, and frames
    // that stream in with the Authorization header.
    let http = reqwest::Client::new();
    let config = http
        .get(format!("{link}app-config.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let config = dicomweb_edge::ohif::window_config(&config).expect("window.config");
    let oidc = &config["oidc"][0];
    assert_eq!(oidc["authority"], provider.issuer.as_str());
    assert_eq!(oidc["client_id"], CLIENT);
    assert_eq!(oidc["response_type"], "code");
    assert_eq!(oidc["scope"], "openid dicomweb");
    assert_eq!(
        config["dataSources"][0]["configuration"]["stackRetrieveOptions"]["stages"][0]["retrieveType"],
        "streaming"
    );
    let index = http.get(&link).send().await.unwrap();
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' {}", provider.issuer)),
        "{csp}"
    );

    let result = drive_command(&dist, &root, None, |cmd| {
        cmd.env("OHIF_URL", &link);
        cmd.env("OHIF_SIGN_IN", "reader:any-password");
    });
    assert!(
        result["signInPage"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("{}/interaction/", provider.issuer))),
        "{}",
        result["signInPage"]
    );
    assert_eq!(
        result["studyList"],
        serde_json::json!(["CT PHANTOM", "MR AND PHOTO"])
    );
    check_frames(&result, true, OHIF_DEFAULT_FRAMES_ACCEPT);
    check_streaming(&result);
    let requests = result["requests"].as_array().unwrap();
    let dicomweb: Vec<&Value> = requests
        .iter()
        .filter(|r| r["url"].as_str().unwrap().starts_with("/datastore/"))
        .collect();
    assert!(dicomweb.len() >= 10, "{} DICOMweb requests", dicomweb.len());
    for r in &dicomweb {
        assert_eq!(r["bearer"], "signed-in", "{r}");
        assert!(!r["url"].as_str().unwrap().contains("token="), "{r}");
    }

    // The token is the provider's JWT access token for the edge (RFC 9068), and the edge
    // takes it; without it the edge refuses.
    let token = result["accessToken"].as_str().expect("OHIF's access token");
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["scope"], "dicomweb");
    let studies = format!("{root}/studies");
    // A new client: `serve` has closed the first one's idle connection by now.
    let http = reqwest::Client::new();
    let with = http.get(&studies).bearer_auth(token).send().await.unwrap();
    assert_eq!(with.status(), 200);
    let without = http.get(&studies).send().await.unwrap();
    assert_eq!(without.status(), 401);
    assert_eq!(result["tokenInUrls"], serde_json::json!([]));

    // Nowhere in the log, nor any part of it (the signature alone is a secret too).
    drop(p);
    let written = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        written.contains("/studies"),
        "the log shows the requests: {written:.2000}"
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(!written.contains(signature), "the token is in the log");
}

/// The decoded header and claims of a JWT.
fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let part = |i: usize| -> Value {
        let b64 = token.split('.').nth(i).expect("a JWT");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .expect("base64url");
        serde_json::from_slice(&raw).expect("JSON")
    };
    (part(0), part(1))
}

/// Without the viewer's files `serve` starts all the same and says how to get them; a
/// `--viewer` folder that holds no viewer is refused with the same advice.
#[test]
fn serve_without_a_viewer_says_how_to_get_one() {
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--no-viewer",
        ],
        &[],
    );
    let line = p
        .lines
        .iter()
        .find(|l| l.starts_with("viewer "))
        .expect("a viewer line");
    assert!(line.contains("scripts/viewer.sh"), "{line}");
    drop(p);
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--viewer",
        ])
        .arg(empty.path())
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds no viewer") && stderr.contains("scripts/viewer.sh"),
        "{stderr}"
    );
}

/// Real-world files the viewer opens beside the demo, one series each, by what each shows:
/// big endian, deflated, JPEG-LS, 12-bit JPEG, JPEG 2000 (colour, and lossy MONOCHROME1),
/// palette colour, multi-frame JPEG in YBR_FULL_422, an uncompressed CT. (16-bit RGB is not
/// here: Cornerstone3D draws it wrongly from native and RLE frames alike, whatever the
/// server; the edge's own rendering of it is checked by the corpus test.)
const REAL_WORLD_SERIES: &[&str] = &[
    "CT_small.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "emri_small_big_endian.dcm",
    "image_dfl.dcm",
    "examples_palette.dcm",
    "examples_ybr_color.dcm",
    "JPGExtended.dcm",
    "US1_J2KR.dcm",
    "RG3_J2KI.dcm",
];

/// The viewer `serve` serves, over both datastores of `serve --data demo/dicom --data
/// real-world` (the first the default, as given), opens every series of the demo and of
/// [`REAL_WORLD_SERIES`] in turn (`tests/ohif/ohif_series.mjs`). For each, the image drawn on
/// the viewport's canvas is the source's as pydicom renders it (`viewer_compare.py`:
/// correlation at least 0.99 at 64 × 64, a mean difference of at most 8 levels), as is the
/// study browser's thumbnail (0.95, a JPEG); the console reports no error, no request fails,
/// and frames are asked for once each, without `Range`, with OHIF's Accept. Frames held
/// after their first 8,400 bytes (a slow network, played by a proxy between the browser and
/// `serve`): the HTJ2K CT is drawn from them, the uncompressed CT waits for the whole frame.
#[tokio::test]
async fn the_viewer_shows_every_series_as_its_source_renders() {
    let Some(dist) = ohif_dist() else { return };
    if !e2e::python_modules_available("pydicom, numpy, PIL, pylibjpeg, openjpeg, libjpeg") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real_world = tmp.path().join("real-world");
    let series_file = tmp.path().join("series.json");
    // The source files: the real-world ones copied one per import job, and every series of
    // both datastores, with the data source each is in.
    let listing = e2e::python(
        "import json, os, shutil, sys, pydicom\n\
         from pydicom.data import get_testdata_file\n\
         real, names, demo = sys.argv[1], sys.argv[2].split(','), sys.argv[3]\n\
         for i, n in enumerate(names):\n\
         \x20   d = os.path.join(real, '%02d' % i)\n\
         \x20   os.makedirs(d)\n\
         \x20   shutil.copy(get_testdata_file(n), d)\n\
         out, seen = [], set()\n\
         for source, folder in (('dicom', demo), ('real-world', real)):\n\
         \x20   for root, _, files in sorted(os.walk(folder)):\n\
         \x20       for f in sorted(files):\n\
         \x20           ds = pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True)\n\
         \x20           key = (ds.StudyInstanceUID, ds.SeriesInstanceUID)\n\
         \x20           if key in seen: continue\n\
         \x20           seen.add(key)\n\
         \x20           text = str(ds.get('SeriesDescription', '')) or f[:-4]\n\
         \x20           name = ''.join(c if c.isalnum() else '-' for c in text)\n\
         \x20           out.append({'name': name, 'source': source, 'folder': folder,\n\
         \x20                       'study': key[0], 'series': key[1],\n\
         \x20                       'drip': 'HTJ2K' in text or 'uncompressed' in text})\n\
         print(json.dumps(out))",
        &[
            real_world.to_str().unwrap(),
            &REAL_WORLD_SERIES.join(","),
            workspace().join("demo/dicom").to_str().unwrap(),
        ],
    );
    let series: Vec<Value> = serde_json::from_str(&listing).expect("series");
    assert_eq!(series.len(), 5 + REAL_WORLD_SERIES.len(), "{series:#?}");
    std::fs::write(&series_file, &listing).unwrap();

    let proxy_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = format!("http://127.0.0.1:{proxy_port}");
    let demo = workspace().join("demo/dicom");
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--viewer",
            dist.to_str().unwrap(),
            "--public-url",
            &public,
            "--data",
            demo.to_str().unwrap(),
            "--data",
            real_world.to_str().unwrap(),
        ],
        &[],
    );
    // The viewer's default data source is the first --data, whatever the datastore IDs.
    let config = reqwest::get(format!("{}/app-config.js", p.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let config = dicomweb_edge::ohif::window_config(&config).expect("window.config");
    assert_eq!(config["defaultDataSourceName"], "dicom");

    let out = out_dir();
    let shown = json_output(
        Command::new("node")
            .arg(workspace().join("tests/ohif/ohif_series.mjs"))
            .arg(&p.url)
            .arg(proxy_port.to_string())
            .arg(&series_file)
            .arg(&out),
    );
    assert!(shown["error"].is_null(), "{}", shown["error"]);
    let shown = shown["series"].as_array().expect("series");
    assert_eq!(shown.len(), series.len());
    for s in shown {
        let name = &s["name"];
        assert_eq!(s["consoleErrors"], serde_json::json!([]), "{name}");
        assert_eq!(s["failedRequests"], serde_json::json!([]), "{name}");
        let frames = s["frames"].as_array().unwrap();
        assert!(!frames.is_empty(), "{name}: no frame asked for");
        for f in frames {
            assert_eq!(f["status"], 200, "{name}: {f}");
            assert!(f["range"].is_null(), "{name}: {f}");
            assert_eq!(f["accept"], OHIF_DEFAULT_FRAMES_ACCEPT, "{name}: {f}");
        }
        let thumbnails = s["thumbnails"].as_array().unwrap();
        assert!(
            thumbnails
                .iter()
                .all(|t| t["status"] == 200 && t["contentType"] == "image/jpeg"),
            "{name}: {thumbnails:?}"
        );
    }

    // What each viewport and thumbnail showed, against the sources.
    let spec = serde_json::json!({
        "series": shown.iter().zip(&series).map(|(s, want)| {
            let mut s = s.clone();
            s["folder"] = want["folder"].clone();
            s["series"] = want["series"].clone();
            s
        }).collect::<Vec<_>>()
    });
    let spec_file = tmp.path().join("shown.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let compared = json_output(
        Command::new("python3")
            .arg(workspace().join("tests/tools/viewer_compare.py"))
            .arg(&spec_file),
    );
    let compared = compared["series"].as_array().unwrap();
    for c in compared {
        eprintln!(
            "viewer: {} ({}): correlation {:.4}, mean difference {:.2}; thumbnail {:.4}",
            c["name"],
            c["shown"].as_str().unwrap_or_default(),
            c["correlation"].as_f64().unwrap_or_default(),
            c["mean_difference"].as_f64().unwrap_or_default(),
            c["thumbnail_correlation"].as_f64().unwrap_or(-1.0),
        );
    }
    for c in compared {
        let name = &c["name"];
        assert_eq!(c["flat"], false, "{name}: the viewport is blank");
        assert!(c["correlation"].as_f64().unwrap() >= 0.99, "{name}: {c}");
        assert!(c["mean_difference"].as_f64().unwrap() <= 8.0, "{name}: {c}");
        assert!(
            c["thumbnail_correlation"].as_f64().unwrap_or(0.0) >= 0.95,
            "{name}: {c}"
        );
    }

    // A slow network: the HTJ2K CT drawn from the first bytes of its frame (a lower
    // resolution, then the whole), the uncompressed CT nothing until the frame is whole.
    let stats = |path: &str| -> (f64, Vec<f64>) {
        let image = image::open(path).unwrap().to_luma8();
        let greys: Vec<f64> = image.pixels().map(|p| f64::from(p.0[0])).collect();
        let mean = greys.iter().sum::<f64>() / greys.len() as f64;
        let sd =
            (greys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / greys.len() as f64).sqrt();
        (sd, greys)
    };
    let by_name = |needle: &str| {
        shown
            .iter()
            .find(|s| s["name"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no series {needle}"))
    };
    let htj2k = by_name("HTJ2K");
    let (partial_sd, partial) = stats(htj2k["partial"].as_str().expect("a capture while held"));
    let (_, whole) = stats(htj2k["png"].as_str().unwrap());
    let difference = partial
        .iter()
        .zip(&whole)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / whole.len() as f64;
    eprintln!(
        "viewer: the HTJ2K CT from its first bytes: spread {partial_sd:.1}, {difference:.3} from the whole"
    );
    assert!(partial_sd > 10.0, "nothing drawn from the first bytes");
    assert!(difference > 0.0 && difference < 8.0, "{difference}");
    let raw = by_name("uncompressed");
    let (raw_sd, _) = stats(raw["partial"].as_str().expect("a capture while held"));
    assert!(
        raw_sd < 1.0,
        "drawn from part of an uncompressed frame: {raw_sd}"
    );
}

/// The syntaxes the viewer draws from part of a frame (Cornerstone3D's
/// `streamableTransferSyntaxes`, in the bundled OHIF) are those the table calls progressive
/// (`dicomweb::transfer_syntax::SYNTAXES`; Cornerstone3D also lists a private HTJ2K UID of
/// its own, `3.2.840.10008.1.2.4.96`).
#[test]
fn the_viewer_draws_from_part_of_a_frame_what_the_table_calls_progressive() {
    let Some(dist) = ohif_dist() else { return };
    let bundle = std::fs::read_dir(&dist)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find(|js| js.contains("streamableTransferSyntaxes"))
        .expect("Cornerstone3D's loader in the bundle");
    let list = bundle
        .split("streamableTransferSyntaxes = new Set([")
        .nth(1)
        .and_then(|rest| rest.split("])").next())
        .expect("the list of streamable syntaxes");
    let mut viewer: Vec<&str> = list
        .split(['\'', '"'])
        .filter(|t| t.starts_with("1.2.840.10008."))
        .collect();
    viewer.sort_unstable();
    let mut table: Vec<&str> = dicomweb::transfer_syntax::SYNTAXES
        .iter()
        .filter(|c| c.progressive)
        .map(|c| c.uid)
        .collect();
    table.sort_unstable();
    assert_eq!(viewer, table, "{list}");
}
