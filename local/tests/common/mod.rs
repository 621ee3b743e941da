//! Shared by the edge's integration tests: the local stack on loopback ports with the demo
//! data, the demo's instances by series, direct AHI calls to the embedded emulator, and a
//! readable rendering of complete responses for snapshots.
#![allow(dead_code)]

use std::time::Duration;

use dicomweb_edge::stack::{self, RunningStack, StackOptions};
use healthimaging::client::{ClientOptions, HealthImagingClient};
use healthimaging::emulator::demo_data_dir;
use healthimaging::{DatastoreId, ImageFrameId, ImageSetId};
use sha2::{Digest, Sha256};

pub const OHIF_DEFAULT: &str =
    r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;

/// Client options for tests: one attempt, short timeouts, so failures show at once.
pub fn one_attempt() -> ClientOptions {
    ClientOptions {
        max_attempts: 1,
        attempt_timeout: Duration::from_millis(1500),
        connect_timeout: Duration::from_millis(500),
    }
}

pub async fn start_demo(configure: impl FnOnce(&mut StackOptions)) -> RunningStack {
    let mut opts = StackOptions::emulator(vec![demo_data_dir()]);
    opts.client = one_attempt();
    configure(&mut opts);
    stack::start(opts).await.expect("stack starts")
}

/// One demo instance, located from the emulator's own metadata.
#[derive(Debug, Clone)]
pub struct DemoInstance {
    pub datastore: DatastoreId,
    pub image_set: ImageSetId,
    pub study: String,
    pub series: String,
    pub sop: String,
    pub frames: Vec<ImageFrameId>,
    pub transfer_syntax: String,
}

impl DemoInstance {
    /// The DICOMweb root-relative path of `frames/{list}`.
    pub fn frames_path(&self, list: &str) -> String {
        format!(
            "/datastore/{}/studies/{}/series/{}/instances/{}/frames/{list}",
            self.datastore, self.study, self.series, self.sop
        )
    }
}

/// The instances of the series whose SeriesDescription starts with `description`, in
/// InstanceNumber order.
pub fn demo_series(s: &RunningStack, description: &str) -> Vec<DemoInstance> {
    let em = &s.emulator.as_ref().expect("embedded emulator").emulator;
    let mut out = Vec::new();
    for ds in em.datastores() {
        for set in ds.image_sets.values().filter(|s| s.is_primary) {
            let meta = set.latest().metadata();
            for (se_uid, se) in &meta.study.series {
                let desc = se.dicom.get("SeriesDescription").and_then(|v| v.as_str());
                if !desc.is_some_and(|d| d.starts_with(description)) {
                    continue;
                }
                for (sop, inst) in &se.instances {
                    out.push((
                        inst.dicom
                            .get("InstanceNumber")
                            .and_then(|v| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()))
                            .unwrap_or(0),
                        DemoInstance {
                            datastore: ds.id.clone(),
                            image_set: set.id.clone(),
                            study: meta.study_instance_uid().unwrap_or_default().to_owned(),
                            series: se_uid.clone(),
                            sop: sop.clone(),
                            frames: inst.image_frames.iter().map(|f| f.id.clone()).collect(),
                            transfer_syntax: inst.transfer_syntax().to_owned(),
                        },
                    ));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no demo series {description:?}");
    out.sort_by_key(|(n, _)| *n);
    out.into_iter().map(|(_, i)| i).collect()
}

/// A client of the embedded emulator, for the bytes AHI itself returns.
pub fn direct_client(s: &RunningStack) -> HealthImagingClient {
    let e = s.emulator.as_ref().expect("embedded emulator");
    let c = stack::emulator_credentials();
    HealthImagingClient::for_endpoint(
        &e.url,
        &e.region,
        aws_credential_types::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            None,
            None,
            "test",
        ),
        &one_attempt(),
    )
}

/// Upstream calls so far, by operation.
pub fn calls(s: &RunningStack, op: &str) -> u64 {
    let e = &s.emulator.as_ref().expect("embedded emulator").emulator;
    e.calls().get(op).copied().unwrap_or(0)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// GETs `path` with optional Accept; returns status, headers, body.
pub async fn get(
    s: &RunningStack,
    path: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
    let mut req = http().get(format!("{}{path}", s.base_url));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body");
    (status, headers, body)
}

pub fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A complete response as reviewable text: status, headers (sorted, without `date` and the
/// request ID), and
/// the body with every CRLF shown as `␍␊` and every part payload summarised by its length,
/// first bytes and SHA-256. The summary is checked to stand for the exact body: rebuilding
/// the body from the rendered structure and the real payloads gives the received bytes.
pub fn render(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> String {
    let mut out = format!("HTTP {status}\n");
    let mut names: Vec<_> = headers
        .iter()
        // Both differ on every request (`x-amz-cf-id` is the request's ID).
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "x-amz-cf-id"))
        .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap_or("<binary>")))
        .collect();
    names.sort();
    out.push_str(&names.join("\n"));
    out.push_str("\n\n");
    let ct = header(headers, "content-type");
    if !ct.starts_with("multipart/") {
        out.push_str(&summary(body));
        return out;
    }
    let boundary = dicomweb::multipart::boundary_of(ct).expect("boundary");
    let parts = dicomweb::multipart::parse(body, &boundary).expect("multipart body");
    let mut rebuilt = Vec::new();
    let mut text = String::new();
    for p in &parts {
        let head = format!(
            "--{boundary}\r\n{}\r\n\r\n",
            p.headers
                .iter()
                .map(|(n, v)| format!("{}: {v}", canonical_name(n)))
                .collect::<Vec<_>>()
                .join("\r\n")
        );
        rebuilt.extend_from_slice(head.as_bytes());
        rebuilt.extend_from_slice(&p.body);
        rebuilt.extend_from_slice(b"\r\n");
        text.push_str(&head);
        text.push_str(&summary(&p.body));
        text.push_str("\r\n");
    }
    let close = format!("--{boundary}--");
    rebuilt.extend_from_slice(close.as_bytes());
    text.push_str(&close);
    assert_eq!(
        rebuilt, body,
        "the body is exactly the delimiters, headers and payloads rendered"
    );
    out.push_str(&text.replace("\r\n", "␍␊\n"));
    out
}

fn canonical_name(lower: &str) -> &str {
    match lower {
        "content-type" => "Content-Type",
        "content-location" => "Content-Location",
        other => other,
    }
}

fn summary(b: &[u8]) -> String {
    format!(
        "<{} bytes, starting {}, sha256 {}>",
        b.len(),
        hex::encode(&b[..b.len().min(8)]),
        sha256(b)
    )
}
