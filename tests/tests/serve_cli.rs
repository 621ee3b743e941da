//! `dicomweb-edge serve` as a user runs it: the binary with the demo data, its stdout
//! contract, the sample `curl` it prints, the Python `dicomweb-client` reading frames that
//! must equal the source files' pixel data, and an access log without secrets.

use std::process::Command;

use e2e::{Process, python_modules_available, workspace};
use healthimaging::DatastoreId;
use healthimaging::api::SearchCriteria;

const DEMO_DATASTORE: &str = "fe979d40487394a75b813ff62a2f7451";

fn line<'a>(p: &'a Process, prefix: &str) -> &'a str {
    p.lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {:?}", p.lines))
}

/// A private state directory for the development issuer, shared by `serve` and `token`.
fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn token(state: &std::path::Path, extra: &[&str]) -> String {
    let out = Command::new(e2e::binary())
        .arg("token")
        .args(extra)
        .env("DICOMWEB_EDGE_STATE_DIR", state)
        .output()
        .expect("run dicomweb-edge token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "token prints just the token: {text}");
    lines[0].to_owned()
}

#[tokio::test]
async fn serve_prints_its_contract_and_its_sample_request_works() {
    let state = state_dir();
    let p = Process::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("DICOMWEB_EDGE_STATE_DIR", state.path().to_str().unwrap())],
    );
    assert_eq!(p.datastores(), [DEMO_DATASTORE]);
    let root = line(&p, "dicomweb ");
    assert_eq!(root, format!("{}/datastore/{DEMO_DATASTORE}", p.url));
    assert!(
        p.lines
            .last()
            .unwrap()
            .starts_with("listening on http://127.0.0.1:")
    );

    // The OHIF data source points at the root.
    let ohif: serde_json::Value =
        serde_json::from_str(line(&p, "ohif data source: ")).expect("OHIF snippet is JSON");
    for key in ["wadoRoot", "qidoRoot"] {
        assert_eq!(ohif["configuration"][key], root, "{key}");
    }
    assert_eq!(ohif["configuration"]["imageRendering"], "wadors");
    assert_eq!(ohif["configuration"]["qidoSupportsIncludeField"], true);

    // The upstream line names the embedded emulator, which AWS SDKs can call directly.
    let upstream = line(&p, "upstream ");
    assert!(upstream.contains("HealthImaging emulator"), "{upstream}");
    let sdk = p.upstream_sdk();
    let ds: DatastoreId = DEMO_DATASTORE.parse().unwrap();
    let sets = sdk
        .search_all(&ds, &SearchCriteria::default())
        .await
        .expect("SDK search through the printed upstream URL");
    assert_eq!(sets.len(), 2);

    // The printed curl command works as printed.
    let curl = line(&p, "try: ");
    let dir = tempfile::tempdir().unwrap();
    assert!(curl.contains("Authorization: Bearer $("), "{curl}");
    let out = Command::new("sh")
        .args(["-c", curl])
        .current_dir(dir.path())
        .env("DICOMWEB_EDGE_STATE_DIR", state.path())
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{curl}: {head}");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: multipart/related;"), "{head}");
    let body = std::fs::read(dir.path().join("frame.bin")).unwrap();
    assert!(body.starts_with(b"--") && body.ends_with(b"--"));
}

/// `serve` on a free port without authentication or edge cache, and its DICOMweb root, for
/// clients that cannot send tokens.
fn serve_without_auth_or_cache() -> (Process, String) {
    let p = Process::start(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cache-mb",
            "0",
            "--auth",
            "none",
        ],
        &[],
    );
    let root = line(&p, "dicomweb ").to_owned();
    (p, root)
}

/// docs/clients.md: dicomweb-client needs `boundary=` in the header and, with its default
/// Accept, expects Explicit VR Little Endian. It retrieves every frame of the uncompressed
/// demo series, one by one and as a reversed list, equal to pydicom's pixel data.
#[test]
fn dicomweb_client_reads_uncompressed_frames_equal_to_the_source() {
    if !python_modules_available("dicomweb_client, pydicom") {
        return;
    }
    let (_p, root) = serve_without_auth_or_cache();
    let script = workspace().join("tests/tools/dicomweb_client_frames.py");
    for (folder, instances) in [
        ("demo/dicom/ct-phantom/series2-uncompressed", 8),
        ("demo/dicom/mixed/series2-rgb", 1),
    ] {
        let out = Command::new("python3")
            .arg(&script)
            .arg(&root)
            .arg(workspace().join(folder))
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{folder}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["instances"], instances, "{folder}: {summary}");
        assert_eq!(summary["matched"], summary["frames"], "{folder}: {summary}");
        assert_eq!(summary["mismatches"], serde_json::json!([]));
    }
}

/// The Python dicomweb-client searches studies, series and instances and reads series
/// metadata through `serve`; everything agrees with what pydicom reads from the demo files,
/// attribute by attribute, with pydicom parsing our DICOM JSON.
#[test]
fn dicomweb_client_searches_and_reads_metadata() {
    if !python_modules_available("dicomweb_client, pydicom") {
        return;
    }
    let (_p, root) = serve_without_auth_or_cache();
    let out = Command::new("python3")
        .arg(workspace().join("tests/tools/dicomweb_client_search.py"))
        .arg(&root)
        .arg(workspace().join("demo/dicom"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["mismatches"], serde_json::json!([]), "{summary}");
    assert_eq!(summary["studies"], 2);
    assert_eq!(summary["series"], 5);
    assert_eq!(summary["instances"], 86);
    assert!(summary["attributes"].as_u64().unwrap() > 3000, "{summary}");
    // The uncompressed CT (8) and the RGB photo (1), through their Pixel Data BulkDataURIs.
    assert_eq!(summary["bulkdata_frames"], 9, "{summary}");
}

/// The access log shows each request and never a bearer token (good or bad), a `token`
/// value or AWS signing material, at the most verbose level (the SDK's trace names the `authorization`
/// header, with its value redacted).
#[tokio::test]
async fn access_log_holds_no_secrets() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let state = state_dir();
    let p = Process::start_with_stderr(
        &["serve", "--listen", "127.0.0.1:0", "-vv"],
        &[
            ("RUST_LOG", "trace"),
            ("DICOMWEB_EDGE_STATE_DIR", state.path().to_str().unwrap()),
        ],
        log.reopen().unwrap(),
    );
    let good = token(state.path(), &[]);
    let curl = line(&p, "try: ");
    let url = curl.split_whitespace().last().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .get(format!("{url}?token={good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!(
            "{}/datastore/{DEMO_DATASTORE}/studies/1.2/series/1.3/instances/1.4/frames/1",
            p.url
        ))
        .header("authorization", format!("Bearer {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{url}?token=query-token-e2e-secret"))
        .header("authorization", "Bearer header-token-e2e-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Spellings the authorizer decodes as `token`, and one it does not.
    for query in [
        "%74oken=spelt-e2e-secret",
        "tok%65n=spelt-e2e-secret",
        "Token=capital-e2e-secret",
    ] {
        let r = http.get(format!("{url}?{query}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{query}");
    }
    drop(p);
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        text.contains("token=…") && text.contains("?=…"),
        "the access log shows requests: {text}"
    );
    let signature = good.rsplit('.').next().unwrap();
    for secret in [
        good.as_str(),
        signature,
        "e2e-secret",
        healthimaging::emulator::DEFAULT_SECRET_ACCESS_KEY,
        "Signature=",
    ] {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "log contains {secret:?}"
        );
    }
}

/// The development issuer end to end: a token from `dicomweb-edge token` reaches frames and
/// the native POST through `serve`; without it, or with a tampered one, nothing is served,
/// cache hits included; the issuer's keys are published.
#[tokio::test]
async fn dev_tokens_gate_every_request_cache_hits_included() {
    let state = state_dir();
    let p = Process::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("DICOMWEB_EDGE_STATE_DIR", state.path().to_str().unwrap())],
    );
    let good = token(state.path(), &["--expires-in", "600"]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = line(&p, "try: ")
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let get = |auth: Option<String>| {
        let mut r = http.get(&url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let h = r.headers().clone();
            (status, h)
        }
    };
    let (status, h) = get(Some(format!("Bearer {good}"))).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-cache"], "Miss");
    let (status, h) = get(Some(format!("Bearer {good}"))).await;
    assert_eq!((status, h["x-cache"].to_str().unwrap()), (200, "Hit"));
    // The cached frame is not served without a valid token.
    let (status, h) = get(None).await;
    assert_eq!(status, 401);
    assert_eq!(h["www-authenticate"], "Bearer");
    assert!(h.get("x-cache").is_none());
    // One signature character changed (to another character, whatever it was).
    let at = good.len() - 5;
    let was = &good[at..at + 1];
    let tampered = format!(
        "{}{}{}",
        &good[..at],
        if was == "A" { "B" } else { "A" },
        &good[at + 1..]
    );
    assert_ne!(tampered, good);
    let (status, h) = get(Some(format!("Bearer {tampered}"))).await;
    assert_eq!(status, 401);
    assert_eq!(h["www-authenticate"], "Bearer error=\"invalid_token\"");

    // The published keys verify the token's kid.
    let jwks_url = line(&p, "auth ").rsplit(' ').next().unwrap().to_owned();
    let jwks: serde_json::Value = http
        .get(&jwks_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

    // The native POST, signed by the edge, returns AHI's frame.
    let sdk = p.upstream_sdk();
    let ds: DatastoreId = DEMO_DATASTORE.parse().unwrap();
    let set = &sdk
        .search_all(&ds, &SearchCriteria::default())
        .await
        .unwrap()[0];
    let meta = sdk
        .get_image_set_metadata(&ds, &set.image_set_id, None)
        .await
        .unwrap();
    let frame = meta.instances().next().unwrap().2.image_frames[0]
        .id
        .clone();
    let direct = sdk
        .get_image_frame(&ds, &set.image_set_id, &frame)
        .await
        .unwrap();
    let post = |auth: Option<String>, body: String| {
        let mut r = http
            .post(format!(
                "{}/datastore/{ds}/imageSet/{}/getImageFrame",
                p.url, set.image_set_id
            ))
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let body = format!(r#"{{"imageFrameId":"{frame}"}}"#);
    let r = post(Some(format!("Bearer {good}")), body.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], direct.content_type.as_str());
    assert_eq!(r.bytes().await.unwrap(), direct.bytes);
    let r = post(None, body).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(Some(format!("Bearer {good}")), "{}".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// A viewer sign-in `serve` cannot use is refused before it starts, with what to change.
#[test]
fn serve_refuses_a_viewer_sign_in_it_cannot_use() {
    let cognito = [
        "--auth",
        "cognito",
        "--cognito-region",
        "us-east-1",
        "--cognito-user-pool-id",
        "us-east-1_Ab",
        "--client-id",
        "c1",
    ];
    let oidc = [
        "--auth",
        "oidc",
        "--oidc-issuer",
        "https://id.example",
        "--audience",
        "a",
    ];
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["--auth", "none", "--viewer-client-id", "v"],
            "are for --auth oidc or cognito",
        ),
        (
            [&oidc[..], &["--viewer-scope", "s"]].concat(),
            "need --viewer-client-id",
        ),
        (
            [&cognito[..], &["--viewer-client-id", "other"]].concat(),
            "the viewer's client \"other\" is not one of the accepted app clients",
        ),
        (
            [
                &oidc[..],
                &[
                    "--viewer-client-id",
                    "v",
                    "--viewer-sign-in-origin",
                    "http://x",
                ],
            ]
            .concat(),
            "is not https://host",
        ),
        (
            vec!["--oidc-jwks-uri", "https://id.example/keys"],
            "--oidc-jwks-uri is for --auth oidc",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(e2e::binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--no-viewer"])
            .args(&args)
            .output()
            .expect("run serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
