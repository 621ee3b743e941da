//! Every row of the error table, provoked for real: bad requests, unknown resources, and
//! upstream failures injected into the embedded emulator (throttling, errors of each type,
//! latency beyond the timeout) or an unreachable endpoint. Also: concurrent first requests
//! share one search and one metadata call, and a frame failing mid-stream aborts the answer.

mod common;

use std::sync::Arc;

use common::*;
use dicomweb_edge::keys::Keys;
use dicomweb_edge::server::LocalEdge;
use edge::authorizer::{AuthConfig, AuthMode, Authorizer};
use edge::lambda_edge::ViewerRequestFunction;
use healthimaging::client::HealthImagingClient;
use healthimaging::emulator::Faults;
use jsonwebtoken::jwk::JwkSet;
use translator::{Translator, TranslatorConfig};

/// A local edge without auth or cache whose HealthImaging is at `url` (the translator's
/// client and, when given, the native POST's origin), served on a loopback port; its URL.
async fn edge_over(
    url: &str,
    options: &healthimaging::client::ClientOptions,
    native: Option<dicomweb_edge::server::NativeOrigin>,
) -> String {
    let client = HealthImagingClient::for_endpoint(
        url,
        "us-east-1",
        aws_credential_types::Credentials::new("AKID", "secret", None, None, "test"),
        options,
    );
    let edge = Arc::new(LocalEdge::new(
        Arc::new(Translator::new(
            Arc::new(client),
            TranslatorConfig::default(),
        )),
        None,
        ViewerRequestFunction::from_parts(
            Authorizer::new(AuthConfig::new(AuthMode::None)),
            None,
            JwkSet { keys: Vec::new() },
            0,
            None,
        ),
        Keys::none(),
        native,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, edge.router()).await });
    base
}

async fn expect(
    s: &dicomweb_edge::stack::RunningStack,
    path: &str,
    status: u16,
    message: &str,
) -> reqwest::header::HeaderMap {
    let (got, headers, body) = get(s, path, Some(OHIF_DEFAULT)).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(got, status, "{path}: {text}");
    assert_eq!(text, format!("{message}\n"), "{path}");
    assert_eq!(
        header(&headers, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert_eq!(header(&headers, "access-control-allow-origin"), "*");
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_unknown_resources() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let mf = &demo_series(&s, "Rotating phantom")[0];
    let ds = &ct.datastore;
    let root = format!("/datastore/{ds}");
    let study = &ct.study;
    let series = &ct.series;

    // 400: malformed path parts and frame lists.
    let f = |st: &str, se: &str, sop: &str, list: &str| {
        format!("{root}/studies/{st}/series/{se}/instances/{sop}/frames/{list}")
    };
    expect(
        &s,
        &f("1..2", series, &ct.sop, "1"),
        400,
        "invalid study UID: UID has an empty component",
    )
    .await;
    expect(
        &s,
        &f(study, "1.2.x", &ct.sop, "1"),
        400,
        "invalid series UID: UID may contain only digits and dots",
    )
    .await;
    expect(
        &s,
        &f(study, series, &"1".repeat(65), "1"),
        400,
        "invalid SOP instance UID: UID is longer than 64 characters",
    )
    .await;
    expect(
        &s,
        &ct.frames_path("0"),
        400,
        "invalid frame list: frame numbers start at 1",
    )
    .await;
    expect(
        &s,
        &ct.frames_path("-1"),
        400,
        "invalid frame list: frame number \"-1\" is not a positive integer",
    )
    .await;
    expect(
        &s,
        &ct.frames_path("a"),
        400,
        "invalid frame list: frame number \"a\" is not a positive integer",
    )
    .await;
    expect(
        &s,
        &ct.frames_path("1,1"),
        400,
        "invalid frame list: frame 1 is listed twice",
    )
    .await;
    expect(
        &s,
        &ct.frames_path("1,"),
        400,
        "invalid frame list: frame number \"\" is not a positive integer",
    )
    .await;
    let many: Vec<String> = (1..=1001).map(|n| n.to_string()).collect();
    expect(
        &s,
        &ct.frames_path(&many.join(",")),
        400,
        "invalid frame list: more than 1000 frames requested",
    )
    .await;
    expect(
        &s,
        "/datastore/XYZ/studies",
        400,
        "invalid datastore id: datastore id must be 32 lowercase hexadecimal characters",
    )
    .await;
    expect(
        &s,
        &format!("{}?imageSetId=nope", ct.frames_path("1")),
        400,
        "invalid imageSetId: image set id must be 32 lowercase hexadecimal characters",
    )
    .await;
    // 400: a frame beyond the instance.
    expect(
        &s,
        &ct.frames_path("2"),
        400,
        "frame 2 does not exist: the instance has 1 frame(s)",
    )
    .await;
    expect(
        &s,
        &mf.frames_path("36,37"),
        400,
        "frame 37 does not exist: the instance has 36 frame(s)",
    )
    .await;

    // 404: unknown study, series, instance, image set; unknown paths.
    let h = expect(
        &s,
        &f("1.2.3", series, &ct.sop, "1"),
        404,
        "study 1.2.3 not found",
    )
    .await;
    assert_eq!(header(&h, "cache-control"), "public, max-age=5");
    expect(
        &s,
        &f(study, "1.2.3", &ct.sop, "1"),
        404,
        &format!("series 1.2.3 not found in study {study}"),
    )
    .await;
    expect(
        &s,
        &f(study, series, "1.2.3", "1"),
        404,
        &format!("instance 1.2.3 not found in series {series}"),
    )
    .await;
    let unknown_set = "0123456789abcdef0123456789abcdef";
    expect(
        &s,
        &format!("{}?imageSetId={unknown_set}", ct.frames_path("1")),
        404,
        "HealthImaging has no such resource",
    )
    .await;
    // The image set of the other study does not hold this one.
    let other = &demo_series(&s, "Axial T2 JPEG")[0];
    expect(
        &s,
        &format!("{}?imageSetId={}", ct.frames_path("1"), other.image_set),
        404,
        &format!("image set {} does not hold study {study}", other.image_set),
    )
    .await;
    // With the right image set, the lookup skips the search.
    let searches = calls(&s, "SearchImageSets");
    let (status, _, _) = get(
        &s,
        &format!("{}?imageSetId={}", ct.frames_path("1"), ct.image_set),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(calls(&s, "SearchImageSets"), searches);
    expect(&s, "/", 404, "no such resource").await;
    expect(
        &s,
        &format!("{root}/studies/{study}/bogus"),
        404,
        "no such resource",
    )
    .await;

    // 405 with Allow.
    let r = http()
        .post(format!("{}{}", s.base_url, ct.frames_path("1")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(r.headers(), "allow"), "GET, HEAD");
    // 406: a search asked for with the frames' multipart Accept.
    expect(
        &s,
        &format!("{root}/studies"),
        406,
        "the requested media type or transfer syntax is not available; available: application/dicom+json",
    )
    .await;

    // Nothing leaked a panic: the server still answers.
    let (status, _, _) = get(&s, &ct.frames_path("1"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_map_to_gateway_statuses() {
    // Throttling is waited out for 300 ms here (20 s by default) before the 503.
    let s = start_demo(|o| {
        o.cache_bytes = 0;
        o.translator.throttle_patience = std::time::Duration::from_millis(300);
    })
    .await;
    let em = s.emulator.as_ref().unwrap().emulator.clone();
    let ct = demo_series(&s, "Axial 3mm HTJ2K");
    // Resolve first, so the faults below hit GetImageFrame.
    let (status, _, _) = get(&s, &ct[0].frames_path("1"), None).await;
    assert_eq!(status, 200);
    let frame_faults = |f: Faults| {
        em.set_faults(Faults {
            operations: vec!["GetImageFrame".into()],
            ..f
        })
    };

    frame_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let h = expect(
        &s,
        &ct[1].frames_path("1"),
        503,
        "HealthImaging is throttling requests; retry shortly",
    )
    .await;
    assert_eq!(header(&h, "retry-after"), "1");
    assert_eq!(header(&h, "cache-control"), "no-store");

    for (error_type, status, message) in [
        ("InternalServerException", 502, "HealthImaging failed"),
        (
            "AccessDeniedException",
            403,
            "HealthImaging denied the edge access to this resource",
        ),
        (
            "ServiceQuotaExceededException",
            503,
            "HealthImaging is throttling requests; retry shortly",
        ),
        (
            "ConflictException",
            503,
            "the image set is being changed in HealthImaging; retry shortly",
        ),
        (
            "ValidationException",
            400,
            "HealthImaging rejected the request",
        ),
        (
            "ResourceNotFoundException",
            404,
            "HealthImaging has no such resource",
        ),
        (
            "InvalidSignatureException",
            502,
            "HealthImaging rejected the edge's credentials",
        ),
    ] {
        frame_faults(Faults {
            error_rate: 1.0,
            error_type: Some(error_type.into()),
            ..Faults::default()
        });
        expect(&s, &ct[2].frames_path("1"), status, message).await;
    }

    // Latency beyond the attempt timeout (1.5 s in these tests).
    frame_faults(Faults {
        latency_ms: 2500,
        ..Faults::default()
    });
    expect(
        &s,
        &ct[3].frames_path("1"),
        504,
        "HealthImaging did not answer in time",
    )
    .await;

    // Failures while resolving map the same way.
    em.reset();
    em.set_faults(Faults {
        throttle_rate: 1.0,
        operations: vec!["SearchImageSets".into()],
        ..Faults::default()
    });
    let mr = &demo_series(&s, "Axial T2 JPEG")[0];
    let h = expect(
        &s,
        &mr.frames_path("1"),
        503,
        "HealthImaging is throttling requests; retry shortly",
    )
    .await;
    assert_eq!(header(&h, "retry-after"), "1");
    em.set_faults(Faults {
        error_rate: 1.0,
        operations: vec!["GetImageSetMetadata".into()],
        ..Faults::default()
    });
    expect(&s, &mr.frames_path("1"), 502, "HealthImaging failed").await;
    // Errors are not remembered: once AHI recovers, the same request succeeds.
    em.reset();
    let (status, _, _) = get(&s, &mr.frames_path("1"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_502() {
    // A translator whose AHI endpoint refuses connections.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let base = edge_over(&url, &one_attempt(), None).await;
    let r = http()
        .get(format!(
            "{base}/datastore/0123456789abcdef0123456789abcdef/studies/1.2/series/1.3/instances/1.4/frames/1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(header(r.headers(), "access-control-allow-origin"), "*");
    assert_eq!(r.text().await.unwrap(), "HealthImaging is unreachable\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_first_requests_make_one_search_and_one_metadata_call() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let series = demo_series(&s, "Axial 3mm HTJ2K");
    assert!(series.len() >= 50);
    let tasks: Vec<_> = series
        .iter()
        .take(50)
        .map(|inst| {
            let url = format!("{}{}", s.base_url, inst.frames_path("1"));
            tokio::spawn(async move {
                http()
                    .get(url)
                    .header("accept", OHIF_DEFAULT)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(calls(&s, "SearchImageSets"), 1);
    assert_eq!(calls(&s, "GetImageSetMetadata"), 1);
    assert_eq!(calls(&s, "GetImageFrame"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_failing_mid_stream_aborts_the_response() {
    let s = start_demo(|o| {
        o.cache_bytes = 64 << 20;
        o.translator.frame_concurrency = 1;
    })
    .await;
    let em = s.emulator.as_ref().unwrap().emulator.clone();
    let mf = &demo_series(&s, "Rotating phantom")[0];
    let list: Vec<String> = (1..=36).map(|n| n.to_string()).collect();
    let url = format!("{}{}", s.base_url, mf.frames_path(&list.join(",")));
    // Each frame takes 50 ms, so the first part is out before the fault is switched on.
    em.set_faults(Faults {
        latency_ms: 50,
        operations: vec!["GetImageFrame".into()],
        ..Faults::default()
    });
    let mut r = http()
        .get(&url)
        .header("accept", OHIF_DEFAULT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"--"));
    em.set_faults(Faults {
        error_rate: 1.0,
        operations: vec!["GetImageFrame".into()],
        ..Faults::default()
    });
    let mut received = first.to_vec();
    let outcome = loop {
        match r.chunk().await {
            Ok(Some(c)) => received.extend_from_slice(&c),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        outcome.is_err(),
        "the body must end in an error, not a clean close"
    );
    assert!(!received.ends_with(b"--"), "no closing delimiter");
    // The broken answer was not cached: once AHI recovers, the request is a miss and whole.
    em.reset();
    let r = http()
        .get(&url)
        .header("accept", OHIF_DEFAULT)
        .send()
        .await
        .unwrap();
    assert_eq!(header(r.headers(), "x-cache"), "Miss");
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap();
    let boundary = dicomweb::multipart::boundary_of(header(&headers, "content-type")).unwrap();
    assert_eq!(
        dicomweb::multipart::parse(&body, &boundary).unwrap().len(),
        36
    );
}

/// The native POST is answered from the same table: HealthImaging's refusals become the
/// table's status and message (AHI's own text, which names resources, is never relayed); a
/// success keeps AHI's bytes and content type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_post_refusals_come_from_the_error_table() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let em = s.emulator.as_ref().unwrap().emulator.clone();
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let url = format!(
        "{}/datastore/{}/imageSet/{}/getImageFrame",
        s.base_url, ct.datastore, ct.image_set
    );
    let post = |frame: String| {
        let url = url.clone();
        async move {
            let r = http()
                .post(url)
                .header("content-type", "application/json")
                .body(format!(r#"{{"imageFrameId":"{frame}"}}"#))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let h = r.headers().clone();
            (status, h, r.bytes().await.unwrap())
        }
    };

    let (status, h, body) = post(ct.frames[0].to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "image/jph");
    let direct = direct_client(&s)
        .get_image_frame(&ct.datastore, &ct.image_set, &ct.frames[0])
        .await
        .unwrap();
    assert_eq!(body, direct.bytes);

    let missing = "00000000000000000000000000000000".to_owned();
    let (status, h, body) = post(missing.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "HealthImaging has no such resource\n"
    );
    assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
    assert!(h.get("x-amzn-errortype").is_none());

    for (error_type, status, message) in [
        ("InternalServerException", 502, "HealthImaging failed"),
        (
            "ThrottlingException",
            503,
            "HealthImaging is throttling requests; retry shortly",
        ),
        (
            "AccessDeniedException",
            403,
            "HealthImaging denied the edge access to this resource",
        ),
    ] {
        em.set_faults(Faults {
            error_rate: 1.0,
            error_type: Some(error_type.into()),
            operations: vec!["GetImageFrame".into()],
            ..Faults::default()
        });
        let (got, h, body) = post(ct.frames[0].to_string()).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            (got, text.as_ref()),
            (status, format!("{message}\n").as_str())
        );
        assert!(
            !text.contains("emulator") && !text.contains("message"),
            "{text}"
        );
        assert_eq!(header(&h, "cache-control"), "no-store");
    }
}

/// The native POST and the translator against an upstream that answers its head and then
/// closes the connection, or stalls mid-body: the client gets a status line (502, or 504
/// once the upstream has been silent too long), never an empty reply or a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_post_whose_upstream_breaks_off_gets_a_status() {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use dicomweb_edge::server::NativeOrigin;
    use edge::lambda_edge::OriginRequestFunction;
    use edge::signer::SignerConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    for (fault, status, body) in [
        ("reset", 502, "HealthImaging is unreachable\n"),
        ("stall", 504, "HealthImaging did not answer in time\n"),
    ] {
        // An upstream that reads the request, sends a head and part of the frame, then
        // closes the connection or goes quiet.
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = upstream.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = c.read(&mut buf).await;
                    let _ = c
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/jph\r\nContent-Length: 1000\r\n\r\n\xff\x4f")
                        .await;
                    if fault == "stall" {
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    }
                });
            }
        });
        let options = healthimaging::client::ClientOptions {
            attempt_timeout: std::time::Duration::from_millis(800),
            ..one_attempt()
        };
        let native = NativeOrigin {
            function: OriginRequestFunction::from_signer(SignerConfig {
                region: "us-east-1".into(),
                host: "127.0.0.1".into(),
                protocol: "http".into(),
                port,
            }),
            region: "us-east-1".into(),
            credentials: SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "test",
            )),
            client: NativeOrigin::http_client(&options),
        };
        let base = edge_over(&format!("http://127.0.0.1:{port}"), &options, Some(native)).await;
        let started = std::time::Instant::now();
        let r = http()
            .post(format!(
                "{base}/datastore/0123456789abcdef0123456789abcdef/imageSet/fedcba9876543210fedcba9876543210/getImageFrame"
            ))
            .body(r#"{"imageFrameId":"00112233445566778899aabbccddeeff"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{fault}");
        assert_eq!(header(r.headers(), "access-control-allow-origin"), "*");
        assert_eq!(r.text().await.unwrap(), body, "{fault}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{fault}"
        );
        // The translator's calls over the same upstream (here the metadata, whose body
        // breaks off or stalls) answer the same way; a stall ends by the SDK's stalled-stream
        // protection (a grace period of 5 s).
        let started = std::time::Instant::now();
        let r = http()
            .get(format!(
                "{base}/datastore/0123456789abcdef0123456789abcdef/studies/1.2/series/1.3/instances/1.4/metadata?imageSetId=fedcba9876543210fedcba9876543210"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{fault}");
        assert_eq!(r.text().await.unwrap(), body, "{fault}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(12),
            "{fault}"
        );
    }
}
