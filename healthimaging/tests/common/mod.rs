//! Shared by the integration tests: an emulator on a loopback port, the SDK client pointed at
//! it, raw signed requests, and variants of the demo files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use healthimaging::client::{ClientOptions, HealthImagingClient};
use healthimaging::emulator::{Credentials, Emulator, EmulatorConfig, ImportReport, demo_data_dir};

pub const AK: &str = "AKIDTESTEMULATOR";
pub const SK: &str = "test-secret-key-for-the-emulator";
pub const REGION: &str = "us-east-1";

pub struct Running {
    pub emulator: Arc<Emulator>,
    pub url: String,
    pub report: ImportReport,
}

pub fn config(dirs: Vec<PathBuf>, token: Option<&str>) -> EmulatorConfig {
    EmulatorConfig {
        data_dirs: dirs,
        region: REGION.into(),
        credentials: vec![Credentials {
            access_key_id: AK.into(),
            secret_access_key: SK.into(),
            session_token: token.map(Into::into),
        }],
    }
}

pub async fn start_with(config: EmulatorConfig, clock: Option<fn() -> SystemTime>) -> Running {
    let (mut emulator, report) = Emulator::load(&config).expect("load");
    if let Some(c) = clock {
        emulator = emulator.with_clock(c);
    }
    let emulator = Arc::new(emulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(emulator.clone().serve(listener));
    Running {
        emulator,
        url,
        report,
    }
}

pub async fn start(dirs: Vec<PathBuf>) -> Running {
    start_with(config(dirs, None), None).await
}

pub async fn start_demo() -> Running {
    start(vec![demo_data_dir()]).await
}

pub fn client(url: &str) -> HealthImagingClient {
    client_with(url, AK, SK, None, 1)
}

pub fn client_with(
    url: &str,
    ak: &str,
    sk: &str,
    token: Option<&str>,
    attempts: u32,
) -> HealthImagingClient {
    let opts = ClientOptions {
        max_attempts: attempts,
        ..ClientOptions::default()
    };
    HealthImagingClient::for_endpoint(
        url,
        REGION,
        AwsCredentials::new(ak, sk, token.map(Into::into), None, "test"),
        &opts,
    )
}

/// Sends a POST signed by `aws-sigv4` (service and secret chosen by the caller), bypassing
/// the SDK, so tests can send bodies the SDK would never build.
pub async fn raw_post(
    url: &str,
    path_and_query: &str,
    body: &[u8],
    service: &str,
    secret: &str,
) -> reqwest::Response {
    let full = format!("{url}{path_and_query}");
    let host = url.trim_start_matches("http://");
    let headers = [("host", host), ("content-type", "application/json")];
    let identity = AwsCredentials::new(AK, secret, None, None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        full.clone(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = reqwest::Client::new()
        .post(&full)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in instructions.headers() {
        req = req.header(name, value);
    }
    req.send().await.expect("send")
}

/// What a variant of a demo file changes.
pub struct Variant<'a> {
    pub study_uid: &'a str,
    pub series_uid: &'a str,
    pub sop_uid: &'a str,
    pub patient_id: &'a str,
    pub accession: &'a str,
    pub study_date: &'a str,
}

/// Writes a copy of an uncompressed demo CT slice with other identifiers.
pub fn write_variant(dst: &Path, v: &Variant<'_>) {
    let src = demo_data_dir().join("ct-phantom/series2-uncompressed/CT001.dcm");
    let mut obj = dicom_object::open_file(src).expect("open demo file");
    let put = |obj: &mut dicom_object::DefaultDicomObject, tag, vr, value: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    };
    put(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, v.study_uid);
    put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, v.series_uid);
    put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, v.sop_uid);
    put(&mut obj, tags::PATIENT_ID, VR::LO, v.patient_id);
    put(&mut obj, tags::ACCESSION_NUMBER, VR::SH, v.accession);
    put(&mut obj, tags::STUDY_DATE, VR::DA, v.study_date);
    obj.update_meta(|m| m.media_storage_sop_instance_uid = v.sop_uid.to_owned());
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
    obj.write_to_file(dst).expect("write variant");
}

/// Asserts an AWS restJson1 error: the status and the `x-amzn-ErrorType` header.
pub fn assert_aws_error(resp: &reqwest::Response, status: u16, error_type: &str) {
    assert_eq!(resp.status(), status, "{error_type}");
    assert_eq!(resp.headers()["x-amzn-errortype"], error_type);
}
