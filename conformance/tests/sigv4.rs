//! `dicomweb-conformance --sigv4` against an endpoint that checks AWS Signature Version 4 the
//! way AWS does: the HealthImaging emulator's verifier in front of the local stack's DICOMweb.
//! The suite signs every request (discovery included) with the key of the standard credential
//! chain, passes the signed checks, and sees unsigned and altered requests refused.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use dicomweb_edge::stack::{self, StackOptions};
use healthimaging::emulator::demo_data_dir;
use healthimaging::emulator::sigv4::{Credentials, SignedRequest, Verifier};

const KEY_ID: &str = "AKIDCONFORMANCETEST";
const SECRET: &str = "conformance-test-secret-access-key";
const SESSION_TOKEN: &str = "conformance-test-session-token";
const REGION: &str = "eu-west-2";

#[derive(Clone)]
struct Gate {
    verifier: Arc<Verifier>,
    upstream: Arc<std::sync::OnceLock<String>>,
    client: reqwest::Client,
    accepted: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

/// Verifies the signature, then forwards the request without it.
async fn gate(State(g): State<Gate>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let signed = SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    if let Err(e) = g.verifier.verify(&signed, SystemTime::now()) {
        g.refused.fetch_add(1, Ordering::SeqCst);
        let mut r = Response::new(Body::from(format!(r#"{{"message":"{}"}}"#, e.message)));
        *r.status_mut() = http::StatusCode::FORBIDDEN;
        return r;
    }
    g.accepted.fetch_add(1, Ordering::SeqCst);
    let upstream = g.upstream.get().cloned().unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = g
        .client
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if n != "host" && n != "authorization" && !n.starts_with("x-amz-") {
            out = out.header(name, value);
        }
    }
    let Ok(resp) = out.send().await else {
        let mut r = Response::new(Body::from("upstream unreachable"));
        *r.status_mut() = http::StatusCode::BAD_GATEWAY;
        return r;
    };
    let status = resp.status();
    let mut headers = resp.headers().clone();
    for name in ["transfer-encoding", "connection", "content-length"] {
        headers.remove(name);
    }
    let mut r = Response::new(Body::from(resp.bytes().await.unwrap_or_default()));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

fn suite(args: &[&str], secret: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dicomweb-conformance"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        // Only the environment: no shared files, no instance metadata service.
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run dicomweb-conformance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_signs_with_sigv4_and_passes_behind_a_verifier() {
    let gate_state = Gate {
        verifier: Arc::new(Verifier {
            credentials: vec![Credentials {
                access_key_id: KEY_ID.into(),
                secret_access_key: SECRET.into(),
                session_token: Some(SESSION_TOKEN.into()),
            }],
            region: REGION.into(),
            service: "medical-imaging".into(),
            max_skew: Duration::from_secs(300),
        }),
        upstream: Arc::default(),
        client: reqwest::Client::new(),
        accepted: Arc::default(),
        refused: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let gate_url = format!("http://{}", listener.local_addr().expect("addr"));
    // The stack names the gate in its BulkDataURIs, so bulk data is fetched through it too.
    let mut opts = StackOptions::emulator(vec![demo_data_dir()]);
    opts.translator.public_url = Some(gate_url.clone());
    opts.shared_resolution = false;
    let stack = stack::start(opts).await.expect("stack");
    let _ = gate_state.upstream.set(stack.base_url.clone());
    let app = axum::Router::new()
        .fallback(gate)
        .with_state(gate_state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ds = stack.datastores[0].id.to_string();
    let base = format!("{gate_url}/datastore/{ds}");

    let out = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            suite(
                &[
                    "--base-url",
                    &base,
                    "--sigv4",
                    "--region",
                    REGION,
                    "--format",
                    "json",
                ],
                SECRET,
            )
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    let verdict = |id: &str| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .map(|c| c["verdict"].clone())
    };
    for id in [
        "auth.sigv4-unsigned",
        "auth.sigv4-tampered",
        "auth.sigv4-signed",
    ] {
        assert_eq!(verdict(id), Some("pass".into()), "{id}");
    }
    // Bearer checks do not apply to a signed run; QIDO-RS, metadata and bulk data do.
    assert_eq!(verdict("auth.with-token"), Some("not_applicable".into()));
    for id in ["qido.uid-match", "metadata.series", "bulkdata.pixel-data"] {
        assert_eq!(verdict(id), Some("pass".into()), "{id}");
    }
    // Exactly the two deliberately unsigned or altered requests were refused.
    assert_eq!(gate_state.refused.load(Ordering::SeqCst), 2);
    assert!(gate_state.accepted.load(Ordering::SeqCst) > 50);
    assert!(!stdout.contains(SECRET) && !stdout.contains("Signature="));
    assert!(!stdout.contains(SESSION_TOKEN));

    // Another secret: discovery is refused, and the run cannot start.
    let out = tokio::task::spawn_blocking(move || {
        suite(
            &["--base-url", &base, "--sigv4", "--region", REGION],
            "wrong-secret",
        )
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("QIDO-RS") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-secret"), "{stderr}");
}
