//! `dicomweb-edge emulator` as a user runs it: the binary, its stdout contract, the real
//! AWS SDK, and frames compared with what pydicom extracts from the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use aws_credential_types::Credentials;
use e2e::{
    Process, binary, frame_manifest, json_output, python_modules_available,
    python_oracle_available, workspace,
};
use healthimaging::DatastoreId;
use healthimaging::api::SearchCriteria;
use healthimaging::client::{ClientOptions, HealthImagingClient};
use sha2::{Digest, Sha256};

const AK: &str = "AKIDE2ETEST";
const SK: &str = "e2e-secret";

fn sdk(url: &str, ak: &str, sk: &str) -> HealthImagingClient {
    let opts = ClientOptions {
        max_attempts: 1,
        ..ClientOptions::default()
    };
    HealthImagingClient::for_endpoint(
        url,
        "us-east-1",
        Credentials::new(ak, sk, None, None, "e2e"),
        &opts,
    )
}

/// Every frame the emulator serves, fetched through the SDK: SOP instance UID → the frame
/// lists (SHA-256 per frame) of each image set holding that instance.
async fn all_frames(
    client: &HealthImagingClient,
    ds: &DatastoreId,
) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut out: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for hit in client
        .search_all(ds, &SearchCriteria::default())
        .await
        .expect("search")
    {
        let meta = client
            .get_image_set_metadata(ds, &hit.image_set_id, None)
            .await
            .expect("metadata");
        for (_, sop, inst) in meta.instances() {
            let mut hashes = Vec::new();
            for f in &inst.image_frames {
                let frame = client
                    .get_image_frame(ds, &hit.image_set_id, &f.id)
                    .await
                    .expect("frame");
                hashes.push(hex::encode(Sha256::digest(&frame.bytes)));
            }
            out.entry(sop.to_owned()).or_default().push(hashes);
        }
    }
    out
}

/// Checks each file pydicom could split into frames against what the emulator served.
/// Returns the transfer syntaxes compared and the number of files.
fn compare(
    manifest: &serde_json::Value,
    served: &BTreeMap<String, Vec<Vec<String>>>,
) -> (BTreeSet<String>, usize, usize) {
    let mut syntaxes = BTreeSet::new();
    let mut compared = 0;
    let mut multi_frame = 0;
    let mut failures = Vec::new();
    for entry in manifest.as_array().expect("array") {
        let Some(frames) = entry.get("frames").and_then(|f| f.as_array()) else {
            continue;
        };
        if frames.is_empty() {
            continue;
        }
        let want: Vec<String> = frames
            .iter()
            .map(|h| h.as_str().unwrap_or_default().to_owned())
            .collect();
        let sop = entry["sop"].as_str().unwrap_or_default();
        let path = entry["path"].as_str().unwrap_or_default();
        match served.get(sop) {
            Some(lists) if lists.contains(&want) => {
                compared += 1;
                if want.len() > 1 {
                    multi_frame += 1;
                }
                syntaxes.insert(entry["ts"].as_str().unwrap_or_default().to_owned());
            }
            Some(lists) => failures.push(format!(
                "{path}: {} frames from pydicom, emulator served {:?} frames with other bytes",
                want.len(),
                lists.iter().map(Vec::len).collect::<Vec<_>>()
            )),
            None => failures.push(format!("{path}: SOP instance {sop} not served")),
        }
    }
    assert!(
        failures.is_empty(),
        "frames differ from pydicom's:\n{}",
        failures.join("\n")
    );
    (syntaxes, compared, multi_frame)
}

#[tokio::test]
async fn serves_the_demo_to_the_sdk_with_source_identical_frames() {
    let demo = workspace().join("demo/dicom");
    let p = Process::start(
        &["emulator", "--listen", "127.0.0.1:0"],
        &[("AWS_ACCESS_KEY_ID", AK), ("AWS_SECRET_ACCESS_KEY", SK)],
    );
    let ids = p.datastores();
    assert_eq!(ids.len(), 1, "{:?}", p.lines);
    assert!(p.lines[0].ends_with("(2 image sets)"), "{:?}", p.lines);
    assert!(p.url.starts_with("http://127.0.0.1:"));
    let ds: DatastoreId = ids[0].parse().expect("datastore id is 32 hex");

    let served = all_frames(&sdk(&p.url, AK, SK), &ds).await;
    let total: usize = served.values().flatten().map(Vec::len).sum();
    assert_eq!(total, 121, "64 + 8 + 36 + 12 + 1 frames");

    if python_oracle_available() {
        let (syntaxes, files, multi) = compare(&frame_manifest(&demo), &served);
        assert_eq!(files, 86);
        assert_eq!(multi, 1);
        assert_eq!(
            syntaxes.into_iter().collect::<Vec<_>>(),
            [
                "1.2.840.10008.1.2.1",
                "1.2.840.10008.1.2.4.202",
                "1.2.840.10008.1.2.4.50"
            ]
        );
    }
}

#[tokio::test]
async fn credentials_flags_environment_and_documented_default() {
    let demo = workspace().join("demo/dicom");
    let all = SearchCriteria::default();
    // No keys in the environment: the documented default pair.
    let p = Process::start(
        &["emulator", "--listen", "127.0.0.1:0"],
        &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
    );
    let ds: DatastoreId = p.datastores()[0].parse().expect("id");
    let default = sdk(
        &p.url,
        healthimaging::emulator::DEFAULT_ACCESS_KEY_ID,
        healthimaging::emulator::DEFAULT_SECRET_ACCESS_KEY,
    );
    assert!(
        default
            .search_image_sets(&ds, &all, None, None)
            .await
            .is_ok()
    );
    let err = sdk(&p.url, AK, SK)
        .search_image_sets(&ds, &all, None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        Some(healthimaging::ErrorKind::UnrecognizedClient)
    );

    // Flags win over the environment.
    let data = demo.display().to_string();
    let p = Process::start(
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data",
            &data,
            "--access-key-id",
            "AKIDFLAG",
            "--secret-access-key",
            "flag-secret",
        ],
        &[("AWS_ACCESS_KEY_ID", AK), ("AWS_SECRET_ACCESS_KEY", SK)],
    );
    assert!(
        sdk(&p.url, "AKIDFLAG", "flag-secret")
            .search_image_sets(&ds, &all, None, None)
            .await
            .is_ok()
    );
    assert!(
        sdk(&p.url, AK, SK)
            .search_image_sets(&ds, &all, None, None)
            .await
            .is_err()
    );
}

#[test]
fn a_missing_data_folder_is_a_clear_error() {
    let out = Command::new(binary())
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "/nonexistent/folder",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/folder") && err.contains("not a folder"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Another official SDK: boto3 (botocore signs and parses on its own) with host-prefix
/// injection off, reading every demo frame; the bytes equal pydicom's.
#[test]
fn boto3_reads_every_demo_frame() {
    if !python_modules_available("boto3, pydicom, numpy") {
        return;
    }
    let p = Process::start(
        &["emulator", "--listen", "127.0.0.1:0"],
        &[("AWS_ACCESS_KEY_ID", AK), ("AWS_SECRET_ACCESS_KEY", SK)],
    );
    let script = workspace().join("tests/tools/boto3_smoke.py");
    let summary = json_output(Command::new("python3").arg(script).args([
        p.url.as_str(),
        p.datastores()[0].as_str(),
        AK,
        SK,
    ]));
    assert_eq!(summary["image_sets"], 2);
    assert_eq!(summary["frames"], 121);
    assert_eq!(
        summary["content_types"],
        serde_json::json!(["application/octet-stream", "image/jpeg", "image/jph"])
    );
    assert_eq!(
        summary["not_found_error"],
        serde_json::json!(["ResourceNotFoundException", 404])
    );
    let manifest = frame_manifest(&workspace().join("demo/dicom"));
    for entry in manifest.as_array().expect("array") {
        let sop = entry["sop"].as_str().expect("sop");
        assert_eq!(summary["frame_sha256"][sop], entry["frames"], "{sop}");
    }
}

/// The log at its most verbose never holds a secret key, a session token, a signature or an
/// Authorization header, whether the request was accepted or refused.
#[tokio::test]
async fn logs_hold_no_secrets() {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let token = "session-token-e2e-0123456789";
    let p = Process::start_with_stderr(
        &[
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "-vv",
            "--access-key-id",
            AK,
            "--secret-access-key",
            SK,
            "--session-token",
            token,
        ],
        &[("RUST_LOG", "trace")],
        log.reopen().expect("reopen"),
    );
    let ds: DatastoreId = p.datastores()[0].parse().expect("id");
    let all = SearchCriteria::default();
    let opts = ClientOptions {
        max_attempts: 1,
        ..ClientOptions::default()
    };
    let good = HealthImagingClient::for_endpoint(
        &p.url,
        "us-east-1",
        Credentials::new(AK, SK, Some(token.into()), None, "e2e"),
        &opts,
    );
    let hits = good.search_all(&ds, &all).await.expect("search");
    let meta = good
        .get_image_set_metadata(&ds, &hits[0].image_set_id, None)
        .await
        .expect("metadata");
    let frame = &meta.instances().next().expect("instance").2.image_frames[0].id;
    good.get_image_frame(&ds, &hits[0].image_set_id, frame)
        .await
        .expect("frame");
    let bad = HealthImagingClient::for_endpoint(
        &p.url,
        "us-east-1",
        Credentials::new(AK, "wrong-secret-e2e", Some(token.into()), None, "e2e"),
        &opts,
    );
    assert!(bad.search_image_sets(&ds, &all, None, None).await.is_err());
    drop(p);

    let text = std::fs::read_to_string(log.path()).expect("read log");
    assert!(
        text.contains("GetImageFrame") || text.contains("getImageFrame"),
        "the log shows requests: {text}"
    );
    for secret in [
        SK,
        "wrong-secret-e2e",
        token,
        "Signature=",
        "AWS4-HMAC-SHA256",
        "authorization",
        "x-amz-security-token",
    ] {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "log contains {secret:?}"
        );
    }
}
