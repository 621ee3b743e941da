//! The packaged translator (`translator.zip` from `cargo xtask package`) as Lambda runs it: the
//! `bootstrap` under cargo-lambda's Lambda runtime emulator (`cargo lambda watch
//! --only-lambda-apis`), reached through its Function URL endpoint, answering with a streamed
//! multipart response whose parts are the emulator's frames, and, for requests marked as the
//! buffered `ranges` URL gets them, with buffered byte ranges.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{free_port, workspace};
use healthimaging::api::SearchCriteria;

const AK: &str = "AKIDLAMBDATEST";
const SK: &str = "lambda-test-secret";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// cargo-lambda's runtime API and Function URL emulator on `port`, or `None` when it is not
/// installed (allowed only outside the full test command).
fn runtime_emulator(port: u16) -> Option<Killed> {
    let spawned = Command::new("cargo-lambda")
        .current_dir(workspace())
        .args(["lambda", "watch", "--only-lambda-apis", "--disable-cors"])
        .args(["-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(c) => Some(Killed(c)),
        Err(_) => {
            assert!(
                std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
                "cargo-lambda is required (scripts/test.sh installs it)"
            );
            eprintln!("SKIPPED: cargo-lambda not installed; run scripts/test.sh");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packaged_bootstrap_streams_frames_through_a_function_url() {
    let port = free_port();
    let Some(_runtime) = runtime_emulator(port) else {
        return;
    };
    let (emulator, ds, sdk) = e2e::emulator(AK, SK);

    // The artefact itself: package, unpack, check it is the bootstrap Lambda runs. The
    // bootstrap is the one built with the tests (same code, unoptimised): a second build in
    // the `lambda` profile would take most of the test command's time.
    let bootstrap_built = e2e::bootstrap_binary();
    let (dir, out, stdout) = e2e::package(
        &format!(
            "[auth]\nmode = \"oidc\"\nissuer = \"https://id.example\"\naudiences = [\"a\"]\n\
             [healthimaging]\nregion = \"us-east-1\"\ndatastores = [\"{ds}\"]\n"
        ),
        &["--bootstrap", bootstrap_built.to_str().unwrap()],
    );
    assert!(stdout.contains("translator.zip"), "{stdout}");
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(out.join("translator.zip")).unwrap()).unwrap();
    assert_eq!(zip.len(), 1);
    let mut entry = zip.by_name("bootstrap").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let bootstrap = dir.path().join("bootstrap");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    std::fs::write(&bootstrap, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();

    let _function = Killed(
        Command::new(&bootstrap)
            .env_clear()
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_REGION", "us-east-1")
            .env("AHI_ENDPOINT", &emulator.url)
            .env("AWS_ACCESS_KEY_ID", AK)
            .env("AWS_SECRET_ACCESS_KEY", SK)
            .env("METADATA_MAX_AGE", "7")
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bootstrap"),
    );

    // A multi-frame instance, and its frames as the SDK reads them.
    let hits = sdk
        .search_all(&ds, &SearchCriteria::default())
        .await
        .unwrap();
    let mut found = None;
    for hit in &hits {
        let meta = sdk
            .get_image_set_metadata(&ds, &hit.image_set_id, None)
            .await
            .unwrap();
        let study = meta.study_instance_uid().unwrap().to_owned();
        if let Some((se, sop, inst)) = meta.instances().find(|(_, _, i)| i.image_frames.len() > 2) {
            found = Some((
                hit.image_set_id.clone(),
                study,
                se.to_owned(),
                sop.to_owned(),
                inst.image_frames.clone(),
            ));
            break;
        }
    }
    let (set, study, series, sop, frames) = found.expect("a multi-frame instance");
    let mut expected = Vec::new();
    for f in [&frames[2].id, &frames[0].id] {
        expected.push(sdk.get_image_frame(&ds, &set, f).await.unwrap().bytes);
    }

    let base = format!("http://127.0.0.1:{port}/lambda-url/_");
    let http = reqwest::Client::new();
    let url =
        format!("{base}/datastore/{ds}/studies/{study}/series/{series}/instances/{sop}/frames/3,1");
    let started = Instant::now();
    let response = loop {
        // The function may still be registering with the runtime API.
        match http
            .get(&url)
            .header(
                "accept",
                "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
            )
            .timeout(Duration::from_secs(30))
            .send()
            .await
        {
            Ok(r) => break r,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("waiting for the function: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("the function URL did not answer: {e}"),
        }
    };
    assert_eq!(response.status(), 200);
    // The runtime answered in streaming mode (as a RESPONSE_STREAM Function URL needs), and
    // the body came chunked, not as one buffered payload.
    assert_eq!(
        response.headers()["lambda-runtime-function-response-mode"],
        "streaming"
    );
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("multipart/related"),
        "{content_type}"
    );
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=31536000, immutable"
    );
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let body = response.bytes().await.unwrap();
    let parts = dicomweb::multipart::parse(&body, &boundary).expect("multipart body");
    assert_eq!(parts.len(), 2);
    for (part, want) in parts.iter().zip(&expected) {
        assert_eq!(&part.body[..], &want[..]);
    }

    // Byte ranges as the `ranges` URL (BUFFERED) gets them from the origin-request function:
    // one buffered answer with a length, not a stream, which CloudFront can pass on as a 206
    // (a chunked answer makes it send the whole frame instead).
    let single =
        format!("{base}/datastore/{ds}/studies/{study}/series/{series}/instances/{sop}/frames/1");
    let single_part = "application/octet-stream; transfer-syntax=*";
    let ranged = |mode: Option<&str>, range: Option<&str>| {
        let mut r = http.get(&single).header("accept", single_part);
        if let Some(m) = mode {
            r = r.header(edge::signer::RESPONSE_MODE_HEADER, m);
        }
        if let Some(v) = range {
            r = r.header("range", v);
        }
        r.send()
    };
    let frame = &expected[1];
    let part = ranged(Some(edge::signer::BUFFERED), Some("bytes=0-99"))
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert!(
        part.headers()
            .get("lambda-runtime-function-response-mode")
            .is_none()
    );
    assert!(part.headers().get("transfer-encoding").is_none());
    assert_eq!(part.headers()["content-length"], "100");
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-99/{}", frame.len())
    );
    assert_eq!(part.headers()["accept-ranges"], "bytes");
    assert_eq!(&part.bytes().await.unwrap()[..], &frame[..100]);
    let suffix = ranged(Some(edge::signer::BUFFERED), Some("bytes=-10"))
        .await
        .unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(
        &suffix.bytes().await.unwrap()[..],
        &frame[frame.len() - 10..]
    );
    let beyond = ranged(Some(edge::signer::BUFFERED), Some("bytes=999999999-"))
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        beyond.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", frame.len())
    );
    assert_eq!(beyond.headers()["cache-control"], "no-store");
    let whole = ranged(Some(edge::signer::BUFFERED), None).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert!(whole.headers().get("transfer-encoding").is_none());
    assert_eq!(whole.headers()["content-length"], frame.len().to_string());
    assert_eq!(&whole.bytes().await.unwrap()[..], &frame[..]);
    // The streaming URL answers the same range, chunked.
    let streamed = ranged(None, Some("bytes=0-99")).await.unwrap();
    assert_eq!(streamed.status(), 206);
    assert_eq!(
        streamed.headers()["lambda-runtime-function-response-mode"],
        "streaming"
    );
    assert_eq!(&streamed.bytes().await.unwrap()[..], &frame[..100]);

    // Metadata through the same URL: BulkDataURIs use the URL the viewer-request names, and
    // the max-age comes from the environment.
    let meta = http
        .get(format!(
            "{base}/datastore/{ds}/studies/{study}/series/{series}/metadata"
        ))
        .header(
            "x-dicomweb-public-url",
            "https://d111111abcdef8.cloudfront.net",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 200);
    assert_eq!(
        meta.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=7"
    );
    let text = meta.text().await.unwrap();
    assert!(
        text.contains(&format!("\"BulkDataURI\":\"https://d111111abcdef8.cloudfront.net/datastore/{ds}/studies/{study}/series/{series}/instances/")),
        "{}",
        &text[..text.len().min(400)]
    );
    // An unknown study: the translator's own answer, not a runtime error.
    let missing = http
        .get(format!(
            "{base}/datastore/{ds}/studies/1.2.3.4/series/1.2.3/instances/1.2.3/frames/1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    missing.bytes().await.unwrap();

    // Its metrics, in CloudWatch's Embedded Metric Format on stdout: a document per answered
    // request (action and status as dimensions), and per HealthImaging operation and outcome.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let printed = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let docs: Vec<serde_json::Value> = printed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d.get("_aws").is_some())
        .collect();
    for d in &docs {
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "DicomwebEdge");
        assert!(d["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        for key in directive["Dimensions"][0].as_array().unwrap() {
            assert!(d[key.as_str().unwrap()].is_string(), "{d}");
        }
        for m in directive["Metrics"].as_array().unwrap() {
            let v = &d[m["Name"].as_str().unwrap()];
            assert!(v.is_number() || v.is_array(), "{d}");
        }
    }
    let requests = |action: &str, status: &str| {
        docs.iter()
            .filter(|d| d["Action"] == action && d["Status"] == status)
            .count()
    };
    assert!(requests("frames", "200") >= 2, "{printed}");
    assert_eq!(requests("metadata", "200"), 1, "{printed}");
    assert_eq!(requests("frames", "404"), 1, "{printed}");
    let frame_calls: u64 = docs
        .iter()
        .filter(|d| d["Operation"] == "GetImageFrame" && d["Outcome"] == "ok")
        .map(|d| d["HealthImagingCalls"].as_u64().unwrap())
        .sum();
    assert!(frame_calls >= 2, "{printed}");
}
