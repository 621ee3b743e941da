//! The translator over an in-memory source: whole answers (status, headers, bytes) and the
//! upstream calls they cost, without sockets, SigV4 or the emulator. The end-to-end tests
//! check the same behaviour through the local stack against the emulator.

use std::sync::Arc;

use bytes::Bytes;
use healthimaging::api::ImageSetSummary;
use healthimaging::{AhiError, ClientError, ErrorKind, ImageFrameId, ImageSetMetadata};
use http_body_util::BodyExt;
use serde_json::json;
use translator::source::MemorySource;
use translator::{Translator, TranslatorConfig};

const DS: &str = "fe979d40487394a75b813ff62a2f7451";
const IS: &str = "0123456789abcdef0123456789abcdef";
const STUDY: &str = "1.2.3";
const SERIES: &str = "1.2.3.4";
const HTJ2K_SOP: &str = "1.2.3.4.5";
const NATIVE_SOP: &str = "1.2.3.4.6";
const OHIF: &str = r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;

fn frame_id(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

/// One image set: an HTJ2K instance of three frames and a native one of one frame.
fn source() -> MemorySource {
    let instance = |ts: Option<&str>, frames: &[u8]| {
        let mut i = json!({
            "DICOM": {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "Rows": 2, "Columns": 2,
                      "BitsAllocated": 16, "BitsStored": 12, "PixelRepresentation": 0,
                      "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2"},
            "ImageFrames": frames.iter().map(|n| json!({"ID": frame_id(*n)})).collect::<Vec<_>>(),
        });
        if let Some(ts) = ts {
            i["StoredTransferSyntaxUID"] = json!(ts);
        }
        i
    };
    let metadata: ImageSetMetadata = serde_json::from_value(json!({
        "SchemaVersion": "1.1", "DatastoreID": DS, "ImageSetID": IS,
        "Patient": {"DICOM": {"PatientID": "P1", "PatientName": "Test^Patient"}},
        "Study": {"DICOM": {"StudyInstanceUID": STUDY},
            "Series": {SERIES: {"DICOM": {"Modality": "CT", "SeriesInstanceUID": SERIES},
                "Instances": {
                    HTJ2K_SOP: instance(None, &[1, 2, 3]),
                    NATIVE_SOP: instance(Some("1.2.840.10008.1.2"), &[4]),
                }}}}
    }))
    .unwrap();
    let summary: ImageSetSummary = serde_json::from_value(json!({
        "imageSetId": IS, "version": 1, "createdAt": 0.0, "updatedAt": 0.0, "isPrimary": true,
        "DICOMTags": {"DICOMStudyInstanceUID": STUDY}
    }))
    .unwrap();
    let mut s = MemorySource::default().with_image_set(summary, metadata);
    for n in 1..=3u8 {
        s = s.with_frame(
            frame_id(n).parse().unwrap(),
            "image/jph",
            &[0xff, 0x4f, n, 0xff, 0xd9],
        );
    }
    s.with_frame(
        frame_id(4).parse().unwrap(),
        "application/octet-stream",
        &[1, 0, 2, 0, 3, 0, 4, 0],
    )
}

fn frames_path(sop: &str, list: &str) -> String {
    format!("/datastore/{DS}/studies/{STUDY}/series/{SERIES}/instances/{sop}/frames/{list}")
}

async fn get(tr: &Translator, path: &str, accept: Option<&str>) -> (u16, http::HeaderMap, Bytes) {
    let mut req = http::Request::get(path);
    if let Some(a) = accept {
        req = req.header(http::header::ACCEPT, a);
    }
    let (parts, ()) = req.body(()).unwrap().into_parts();
    let r = tr.handle(&parts).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn translator() -> (Translator, Arc<MemorySource>) {
    let source = Arc::new(source());
    (
        Translator::new(source.clone(), TranslatorConfig::default()),
        source,
    )
}

#[tokio::test]
async fn frames_as_stored_in_request_order_with_one_lookup() {
    let (tr, source) = translator();
    let (status, h, body) = get(&tr, &frames_path(HTJ2K_SOP, "3,1"), Some(OHIF)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let ct = h[http::header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        ct.starts_with(r#"multipart/related; type="image/jphc"; boundary="#),
        "{ct}"
    );
    let boundary = ct.rsplit("boundary=").next().unwrap();
    let text = String::from_utf8_lossy(&body);
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).collect();
    assert_eq!(
        parts.len(),
        4,
        "two parts and the closing delimiter: {text}"
    );
    assert!(
        parts[1].contains("Content-Type: image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202\r\n")
    );
    assert!(parts[1].contains(&format!(
        "{}/3\r\n",
        frames_path(HTJ2K_SOP, "").trim_end_matches('/')
    )));
    assert!(
        body.windows(5).any(|w| w == b"\r\n\xff\x4f\x03"),
        "frame 3 first"
    );
    assert_eq!(parts[3], "--");
    assert_eq!(
        h[http::header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(source.calls.counts(), (1, 1, 2));

    // Another frame of the study: no second search or metadata read.
    let (status, _, _) = get(&tr, &frames_path(HTJ2K_SOP, "2"), Some(OHIF)).await;
    assert_eq!(status, 200);
    assert_eq!(source.calls.counts(), (1, 1, 3));
}

#[tokio::test]
async fn native_data_is_served_as_explicit_vr_le_single_part_when_asked() {
    let (tr, _) = translator();
    let (status, h, body) = get(
        &tr,
        &frames_path(NATIVE_SOP, "1"),
        Some("application/octet-stream"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        h[http::header::CONTENT_TYPE],
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    );
    assert_eq!(&body[..], &[1, 0, 2, 0, 3, 0, 4, 0]);
}

/// A stored frame that does not decode (these test frames are markers only, not a
/// codestream) is a 406 naming the frame, not a panic, a 5xx (nothing upstream failed) or a
/// frame of garbage; the stored form of the same frame is still served.
#[tokio::test]
async fn a_frame_that_does_not_decode_is_a_clear_406() {
    let (tr, source) = translator();
    let (status, h, body) = get(
        &tr,
        &frames_path(HTJ2K_SOP, "2"),
        Some(r#"multipart/related; type="application/octet-stream""#),
    )
    .await;
    assert_eq!(status, 406);
    assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.starts_with("frame 2: 1.2.840.10008.1.2.4.202 frame did not decode"),
        "{body}"
    );
    assert_eq!(source.calls.counts(), (1, 1, 1));
    let (status, _, _) = get(&tr, &frames_path(HTJ2K_SOP, "2"), Some(OHIF)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn refusals_are_decided_before_any_frame_is_fetched() {
    let (tr, source) = translator();
    // JPEG 2000 is neither stored nor produced: 406 naming what is.
    let (status, h, body) = get(
        &tr,
        &frames_path(HTJ2K_SOP, "1"),
        Some(r#"multipart/related; type="image/jp2""#),
    )
    .await;
    assert_eq!(status, 406);
    assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("available: multipart/related; type=\"image/jphc\"; transfer-syntax=1.2.840.10008.1.2.4.202, multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1"),
        "{body}"
    );
    let (status, _, body) = get(&tr, &frames_path(HTJ2K_SOP, "4"), Some(OHIF)).await;
    assert_eq!(status, 400);
    assert_eq!(
        &body[..],
        b"frame 4 does not exist: the instance has 3 frame(s)\n"
    );
    let (status, h, _) = get(&tr, &frames_path("1.2.3.4.99", "1"), Some(OHIF)).await;
    assert_eq!(status, 404);
    assert_eq!(h[http::header::CACHE_CONTROL], "public, max-age=5");
    assert_eq!(
        source.calls.counts().2,
        0,
        "no GetImageFrame for a refused request"
    );
}

#[tokio::test]
async fn a_throttled_first_frame_is_503_with_retry_after_and_no_upstream_text() {
    let source = Arc::new(source());
    let config = TranslatorConfig {
        throttle_patience: std::time::Duration::ZERO,
        ..TranslatorConfig::default()
    };
    let tr = Translator::new(source.clone(), config);
    source.fail_frame(frame_id(1).parse().unwrap(), || {
        ClientError::Service(AhiError::new(
            ErrorKind::Throttling,
            "Rate exceeded for arn:aws:medical-imaging:us-east-1:111122223333:datastore/x",
        ))
    });
    let (status, h, body) = get(&tr, &frames_path(HTJ2K_SOP, "1"), Some(OHIF)).await;
    assert_eq!(status, 503);
    assert_eq!(h[http::header::RETRY_AFTER], "1");
    assert!(!String::from_utf8_lossy(&body).contains("arn:aws"));
}

/// Throttling is waited out with backoff and jitter, within the patience (paused clock: the
/// waits take no real time).
#[tokio::test(start_paused = true)]
async fn throttled_frames_are_retried_until_the_patience_runs_out() {
    let (tr, source) = translator();
    let throttled = || ClientError::Service(AhiError::new(ErrorKind::Throttling, "Rate exceeded"));
    let id: ImageFrameId = frame_id(1).parse().unwrap();
    // Refused five times, then served: the viewer gets its frame, later.
    source.fail_frame_times(id.clone(), 5, throttled);
    let started = tokio::time::Instant::now();
    let (status, _, _) = get(&tr, &frames_path(HTJ2K_SOP, "1"), Some(OHIF)).await;
    assert_eq!(status, 200);
    assert_eq!(
        source.calls.counts().2,
        6,
        "five refusals and the call that got through"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Refused for good: 503 once the 20 s of patience have passed, not before.
    source.fail_frame(id, throttled);
    let started = tokio::time::Instant::now();
    let (status, h, _) = get(&tr, &frames_path(HTJ2K_SOP, "1"), Some(OHIF)).await;
    assert_eq!(status, 503);
    assert_eq!(h[http::header::RETRY_AFTER], "1");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(20) && waited < std::time::Duration::from_secs(21),
        "{waited:?}"
    );
}

/// Sharing through a distribution that cannot be reached falls back to HealthImaging.
#[tokio::test]
async fn an_unreachable_distribution_falls_back_to_direct_calls() {
    let source = Arc::new(source());
    let config = TranslatorConfig {
        internal_key: Some(edge::internal::InternalKey::new([3; 32])),
        public_url: Some(format!("http://127.0.0.1:{}", closed_port())),
        ..TranslatorConfig::default()
    };
    let tr = Translator::new(source.clone(), config);
    let (status, _, _) = get(&tr, &frames_path(HTJ2K_SOP, "1"), Some(OHIF)).await;
    assert_eq!(status, 200);
    assert_eq!(source.calls.counts(), (1, 1, 1));
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A frame HealthImaging answers with 200 but cut short (or empty) is never served as
/// whole: 502 naming the frame before the status line when it is the first, an aborted
/// body (no closing delimiter, so no cache stores it) when a later one is; for native data
/// by the instance's size, for codestreams by their end marker, also on the native GET.
#[tokio::test]
async fn truncated_frames_are_refused_not_served() {
    let (tr, _) = translator();
    let (status, h, body) = get(&tr, &frames_path(NATIVE_SOP, "1"), Some(OHIF)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        h[http::header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    let cut = |id: u8, ct: &str, bytes: &[u8]| {
        let source = Arc::new(source().with_frame(frame_id(id).parse().unwrap(), ct, bytes));
        Translator::new(source, TranslatorConfig::default())
    };
    for (tr, path, accept) in [
        // Half the native frame, and nothing at all.
        (
            cut(4, "application/octet-stream", &[1, 0, 2, 0]),
            frames_path(NATIVE_SOP, "1"),
            OHIF,
        ),
        (
            cut(4, "application/octet-stream", &[]),
            frames_path(NATIVE_SOP, "1"),
            OHIF,
        ),
        (
            cut(4, "application/octet-stream", &[1, 0, 2, 0]),
            frames_path(NATIVE_SOP, "1"),
            "application/octet-stream",
        ),
        // An HTJ2K codestream without its EOC, single-part and as the first of several.
        (
            cut(1, "image/jph", &[0xff, 0x4f, 1]),
            frames_path(HTJ2K_SOP, "1"),
            "image/jphc",
        ),
        (
            cut(1, "image/jph", &[0xff, 0x4f, 1]),
            frames_path(HTJ2K_SOP, "1,2"),
            OHIF,
        ),
        (
            cut(1, "image/jph", &[]),
            frames_path(HTJ2K_SOP, "1,2"),
            OHIF,
        ),
        // The native GET, judged by HealthImaging's media type.
        (
            cut(2, "image/jph", &[0xff, 0x4f, 2]),
            format!(
                "/datastore/{DS}/imageSet/{IS}/getImageFrame?imageFrameId={}",
                frame_id(2)
            ),
            "*/*",
        ),
    ] {
        let (status, h, body) = get(&tr, &path, Some(accept)).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 502, "{path} {accept}: {body}");
        assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
        assert!(
            body.starts_with("HealthImaging sent an incomplete frame; frame "),
            "{body}"
        );
    }

    // A later frame cut short: the multipart body ends in an error, without its closing
    // delimiter.
    let tr = cut(2, "image/jph", &[0xff, 0x4f, 2]);
    let mut req = http::Request::get(frames_path(HTJ2K_SOP, "1,2,3"));
    req = req.header(http::header::ACCEPT, OHIF);
    let (parts, ()) = req.body(()).unwrap().into_parts();
    let r = tr.handle(&parts).await;
    assert_eq!(r.status(), 200);
    assert!(r.into_body().collect().await.is_err());
}

/// HEAD answers with the head a GET would have, decided by the first part, and costs no
/// more upstream frames than that part: not every frame of the list or the study.
#[tokio::test]
async fn head_costs_no_more_than_the_first_part() {
    let head = |path: String| {
        let (parts, ()) = http::Request::head(path)
            .header(http::header::ACCEPT, OHIF)
            .body(())
            .unwrap()
            .into_parts();
        parts
    };
    let (tr, source) = translator();
    let r = tr.handle(&head(frames_path(HTJ2K_SOP, "1,2,3"))).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("multipart/related")
    );
    assert!(r.into_body().collect().await.unwrap().to_bytes().is_empty());
    assert_eq!(source.calls.counts().2, 1, "one frame fetched");

    let (tr, source) = translator();
    let study = format!("/datastore/{DS}/studies/{STUDY}");
    let (parts, ()) = http::Request::head(&study)
        .header(
            http::header::ACCEPT,
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )
        .body(())
        .unwrap()
        .into_parts();
    let r = tr.handle(&parts).await;
    assert_eq!(r.status(), 200);
    assert!(r.into_body().collect().await.unwrap().to_bytes().is_empty());
    let (_, _, frames) = source.calls.counts();
    assert!(
        frames <= 3,
        "at most the first instance's frames: {frames} of 4"
    );
    // The same GET fetches all four.
    let (tr, source) = translator();
    let (status, _, _) = get(
        &tr,
        &study,
        Some("multipart/related; type=\"application/dicom\"; transfer-syntax=*"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(source.calls.counts().2, 4);
}

/// A source whose frames take a few milliseconds, as HealthImaging's do, so that a
/// request has several in flight.
struct Slow(Arc<MemorySource>);

impl translator::source::Upstream for Slow {
    fn search<'a>(
        &'a self,
        datastore: &'a healthimaging::DatastoreId,
        criteria: &'a healthimaging::api::SearchCriteria,
    ) -> futures_util::future::BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        self.0.search(datastore, criteria)
    }

    fn metadata<'a>(
        &'a self,
        datastore: &'a healthimaging::DatastoreId,
        image_set: &'a healthimaging::ImageSetId,
    ) -> futures_util::future::BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        self.0.metadata(datastore, image_set)
    }

    fn frame<'a>(
        &'a self,
        datastore: &'a healthimaging::DatastoreId,
        image_set: &'a healthimaging::ImageSetId,
        frame: &'a ImageFrameId,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<healthimaging::client::FrameSegments, ClientError>,
    > {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.0.frame(datastore, image_set, frame).await
        })
    }
}

/// Frames held ahead of a client are bounded across requests: with a 1 MiB budget and
/// 512 KiB frames, a client that has not read yet holds two frames, and no more are even
/// fetched until it reads; reading it gets every frame, and the budget comes back.
#[tokio::test]
async fn frames_fetched_ahead_wait_for_the_read_ahead_budget() {
    let frames: Vec<u8> = (10..20).collect();
    let mut s = MemorySource::default();
    let mut metadata: serde_json::Value = json!({
        "SchemaVersion": "1.1", "DatastoreID": DS, "ImageSetID": IS,
        "Patient": {"DICOM": {}},
        "Study": {"DICOM": {"StudyInstanceUID": STUDY},
            "Series": {SERIES: {"DICOM": {"SeriesInstanceUID": SERIES}, "Instances": {
                NATIVE_SOP: {
                    "DICOM": {"Rows": 512, "Columns": 512, "BitsAllocated": 16, "BitsStored": 16,
                              "PixelRepresentation": 0, "SamplesPerPixel": 1,
                              "PhotometricInterpretation": "MONOCHROME2"},
                    "StoredTransferSyntaxUID": "1.2.840.10008.1.2.1",
                    "ImageFrames": frames.iter().map(|n| json!({"ID": frame_id(*n)})).collect::<Vec<_>>(),
                }}}}}
    });
    let summary: ImageSetSummary = serde_json::from_value(json!({
        "imageSetId": IS, "version": 1, "createdAt": 0.0, "updatedAt": 0.0, "isPrimary": true,
        "DICOMTags": {"DICOMStudyInstanceUID": STUDY}
    }))
    .unwrap();
    metadata["Patient"]["DICOM"]["PatientID"] = json!("P1");
    s = s.with_image_set(summary, serde_json::from_value(metadata).unwrap());
    for n in &frames {
        s = s.with_frame(
            frame_id(*n).parse().unwrap(),
            "application/octet-stream",
            &vec![*n; 512 * 512 * 2],
        );
    }
    let source = Arc::new(s);
    let budget = translator::read_ahead::ReadAhead::new(1 << 20);
    let tr = Translator::new(
        Arc::new(Slow(source.clone())),
        TranslatorConfig {
            read_ahead: budget.clone(),
            ..TranslatorConfig::default()
        },
    );
    let (parts, ()) = http::Request::get(frames_path(NATIVE_SOP, "1,2,3,4,5,6,7,8,9,10"))
        .header(http::header::ACCEPT, OHIF)
        .body(())
        .unwrap()
        .into_parts();
    let r = tr.handle(&parts).await;
    if r.status() != 200 {
        let body = r.into_body().collect().await.unwrap().to_bytes();
        panic!("{}", String::from_utf8_lossy(&body));
    }
    // A client that reads the first frame and a little of the second, then stops.
    let mut body = r.into_body();
    let mut read = 0;
    while read < 512 * 512 * 2 + 1000 {
        let frame = body.frame().await.unwrap().unwrap();
        read += frame.data_ref().map_or(0, |d| d.len());
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    eprintln!(
        "read {read} available {} calls {:?}",
        budget.available(),
        source.calls.counts()
    );
    // The frames after those hold the whole budget, and the rest are not even fetched.
    assert_eq!(budget.available(), 0);
    let fetched = source.calls.counts().2;
    assert!((2..=4).contains(&fetched), "fetched {fetched} of 10");
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(read + rest.len() > 10 * 512 * 512 * 2);
    assert_eq!(source.calls.counts().2, 10);
    assert_eq!(budget.available(), budget.bytes());
}
