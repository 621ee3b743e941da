//! WADO-RS frame retrieval through the local stack (`serve` in process): complete responses,
//! payload bytes against AHI's, Accept negotiation with what real clients send, a parser
//! written like Cornerstone's, conditional requests, the native GET, and the edge cache.

mod common;

use common::*;
use dicomweb::multipart;

const ELE: &str = "1.2.840.10008.1.2.1";
const HTJ2K: &str = "1.2.840.10008.1.2.4.202";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

fn parts_of(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Vec<multipart::Part> {
    let boundary = multipart::boundary_of(header(headers, "content-type")).expect("boundary");
    multipart::parse(body, &boundary).expect("well-formed multipart body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_responses_for_each_stored_syntax() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let direct = direct_client(&s);
    let cases = [
        (
            "ct_uncompressed_frame_1",
            "Axial 24mm uncompressed",
            "1",
            "application/octet-stream",
            ELE,
        ),
        (
            "ct_htj2k_frame_1",
            "Axial 3mm HTJ2K",
            "1",
            "image/jphc",
            HTJ2K,
        ),
        (
            "mr_jpeg_baseline_frame_1",
            "Axial T2 JPEG",
            "1",
            "image/jpeg",
            JPEG_BASELINE,
        ),
        (
            "rgb_uncompressed_frame_1",
            "Clinical photograph",
            "1",
            "application/octet-stream",
            ELE,
        ),
        (
            "multiframe_htj2k_frames_5_1_36_2",
            "Rotating phantom",
            "5,1,36,2",
            "image/jphc",
            HTJ2K,
        ),
        (
            "multiframe_htj2k_frames_3_2_percent_encoded",
            "Rotating phantom",
            "3%2C2",
            "image/jphc",
            HTJ2K,
        ),
    ];
    for (name, series, list, media_type, ts) in cases {
        let inst = &demo_series(&s, series)[0];
        let path = inst.frames_path(list);
        let (status, headers, body) = get(&s, &path, Some(OHIF_DEFAULT)).await;
        assert_eq!(status, 200, "{name}");
        insta::assert_snapshot!(name, render(status, &headers, &body));

        // The parts are AHI's frames in request order, each labelled with its syntax and URL.
        let numbers: Vec<usize> = list
            .replace("%2C", ",")
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        let parts = parts_of(&headers, &body);
        assert_eq!(parts.len(), numbers.len(), "{name}");
        let base = path.rsplit_once('/').unwrap().0;
        for (part, n) in parts.iter().zip(&numbers) {
            let ahi = direct
                .get_image_frame(&inst.datastore, &inst.image_set, &inst.frames[n - 1])
                .await
                .unwrap();
            assert_eq!(part.body, ahi.bytes, "{name}: frame {n}");
            assert_eq!(
                part.header("content-type"),
                Some(format!("{media_type}; transfer-syntax={ts}").as_str())
            );
            assert_eq!(
                part.header("content-location"),
                Some(format!("{base}/{n}").as_str())
            );
        }
        // The same request gives the same bytes (the strong ETag's promise).
        let (_, again_headers, again) = get(&s, &path, Some(OHIF_DEFAULT)).await;
        assert_eq!(again, body, "{name}");
        assert_eq!(header(&again_headers, "etag"), header(&headers, "etag"));
    }
}

/// What the clients in docs/clients.md send, and what each gets for each stored syntax.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_headers_real_clients_send() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let raw = &demo_series(&s, "Axial 24mm uncompressed")[0];
    let mr = &demo_series(&s, "Axial T2 JPEG")[0];
    let ohif_unquoted = "multipart/related; type=application/octet-stream; transfer-syntax=*";
    let ohif_requested = |ts: &str| {
        format!(
            r#"multipart/related; type="application/octet-stream"; transfer-syntax="{ts}"; transfer-syntax="*""#
        )
    };
    let ohif_joined = r#"application/dicom+json, multipart/related; type="application/octet-stream"; transfer-syntax=*"#;
    let dicomweb_client = r#"multipart/related; type="application/octet-stream""#;
    // (instance, Accept, status, multipart type, part transfer syntax)
    let cases: Vec<(&DemoInstance, String, u16, &str, &str)> = vec![
        (ct, OHIF_DEFAULT.into(), 200, "image/jphc", HTJ2K),
        (ct, ohif_unquoted.into(), 200, "image/jphc", HTJ2K),
        (
            raw,
            OHIF_DEFAULT.into(),
            200,
            "application/octet-stream",
            ELE,
        ),
        (mr, ohif_unquoted.into(), 200, "image/jpeg", JPEG_BASELINE),
        (ct, ohif_requested(HTJ2K), 200, "image/jphc", HTJ2K),
        (ct, ohif_requested("1.2.840.10008.1.2.4.90"), 406, "", ""),
        (mr, ohif_joined.into(), 200, "image/jpeg", JPEG_BASELINE),
        (
            raw,
            dicomweb_client.into(),
            200,
            "application/octet-stream",
            ELE,
        ),
        // No syntax named: Explicit VR LE, decoded from HTJ2K and JPEG.
        (
            ct,
            dicomweb_client.into(),
            200,
            "application/octet-stream",
            ELE,
        ),
        (
            mr,
            dicomweb_client.into(),
            200,
            "application/octet-stream",
            ELE,
        ),
        (ct, "*/*".into(), 200, "image/jphc", HTJ2K),
        (
            ct,
            format!("multipart/related; type=\"image/jphc\"; transfer-syntax={HTJ2K}"),
            200,
            "image/jphc",
            HTJ2K,
        ),
        (
            mr,
            format!("multipart/related; type=image/jpeg; transfer-syntax={JPEG_BASELINE}"),
            200,
            "image/jpeg",
            JPEG_BASELINE,
        ),
        (
            ct,
            "multipart/related; type=\"image/jp2\"; transfer-syntax=1.2.840.10008.1.2.4.90".into(),
            406,
            "",
            "",
        ),
        (
            ct,
            "multipart/related; type=\"unterminated".into(),
            400,
            "",
            "",
        ),
        (ct, "nonsense".into(), 400, "", ""),
        (ct, "multipart/related; q=7".into(), 400, "", ""),
    ];
    for (inst, accept, status, mt, ts) in cases {
        // Two frames, so only multipart answers fit.
        let path = if inst.frames.len() > 1 {
            inst.frames_path("1,2")
        } else {
            inst.frames_path("1")
        };
        let (got, headers, body) = get(&s, &path, Some(&accept)).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{accept}: {text}");
        assert!(!header(&headers, "access-control-allow-origin").is_empty());
        if status == 200 {
            assert!(
                header(&headers, "content-type")
                    .starts_with(&format!("multipart/related; type=\"{mt}\"; boundary=")),
                "{accept}"
            );
            for p in parts_of(&headers, &body) {
                assert_eq!(
                    p.header("content-type"),
                    Some(format!("{mt}; transfer-syntax={ts}").as_str())
                );
            }
        } else if status == 406 {
            assert!(
                text.contains("available: multipart/related; type="),
                "{text}"
            );
            assert!(text.contains(&inst.transfer_syntax), "{text}");
        } else {
            assert!(text.starts_with("malformed Accept"), "{text}");
        }
    }

    // Cornerstone with `accept=` in the URL sends no Accept header; the query parameter also
    // overrides a header that would not be acceptable.
    let q = "?accept=multipart%2Frelated%3B%20type%3D%22application%2Foctet-stream%22%3B%20transfer-syntax%3D*";
    let (status, headers, _) = get(&s, &format!("{}{q}", ct.frames_path("1")), None).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").contains("image/jphc"));
    let (status, _, _) = get(
        &s,
        &format!("{}{q}", ct.frames_path("1")),
        Some("image/jpeg"),
    )
    .await;
    assert_eq!(status, 200);

    // A single-part media type for a single frame: the bare frame.
    let direct = direct_client(&s);
    let (status, headers, body) = get(&s, &ct.frames_path("1"), Some("image/jphc")).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        format!("image/jphc; transfer-syntax={HTJ2K}")
    );
    let ahi = direct
        .get_image_frame(&ct.datastore, &ct.image_set, &ct.frames[0])
        .await
        .unwrap();
    assert_eq!(body, ahi.bytes);
    assert_eq!(header(&headers, "content-length"), body.len().to_string());
    // No Accept at all: multipart in the stored syntax.
    let (status, headers, _) = get(&s, &ct.frames_path("1"), None).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").contains("image/jphc"));
}

/// Cornerstone3D's `extractMultipart` and `getTransferSyntaxForContentType`, ported line by
/// line: the boundary is the first header line starting with `--` (the HTTP header's boundary
/// is ignored), the part type the line starting exactly with `Content-Type:`, the payload ends
/// two bytes before the next occurrence of the boundary.
mod cornerstone {
    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    pub struct Extracted {
        pub content_type: String,
        pub pixel_data: Vec<u8>,
    }

    pub fn extract_multipart(content_type: &str, response: &[u8]) -> Result<Extracted, String> {
        if !content_type.contains("multipart") {
            return Ok(Extracted {
                content_type: content_type.into(),
                pixel_data: response.to_vec(),
            });
        }
        let token_index =
            find(response, b"\r\n\r\n", 0).ok_or("invalid response - no multipart mime header")?;
        let header = String::from_utf8_lossy(&response[..token_index]).into_owned();
        let split: Vec<&str> = header.split("\r\n").collect();
        let boundary = split
            .iter()
            .find(|l| l.starts_with("--"))
            .ok_or("invalid response - no boundary marker")?;
        let offset = token_index + 4;
        let end_index = find(response, boundary.as_bytes(), offset)
            .ok_or("invalid response - terminating boundary not found")?;
        let length = end_index - offset - 2;
        let content_type = split
            .iter()
            .find(|l| l.starts_with("Content-Type:"))
            .map(|l| l["Content-Type:".len()..].trim().to_owned())
            .unwrap_or_default();
        Ok(Extracted {
            content_type,
            pixel_data: response[offset..offset + length].to_vec(),
        })
    }

    pub fn transfer_syntax_for_content_type(content_type: &str) -> Option<String> {
        content_type.split(';').find_map(|p| {
            let kv: Vec<&str> = p.split('=').collect();
            (kv.len() == 2 && kv[0].trim() == "transfer-syntax")
                .then(|| kv[1].trim().replace('"', ""))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parser_written_like_cornerstones_reads_our_responses() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let direct = direct_client(&s);
    for (series, ts) in [
        ("Axial 3mm HTJ2K", HTJ2K),
        ("Axial 24mm uncompressed", ELE),
        ("Axial T2 JPEG", JPEG_BASELINE),
        ("Rotating phantom", HTJ2K),
    ] {
        let inst = &demo_series(&s, series)[0];
        let (status, headers, body) = get(&s, &inst.frames_path("1"), Some(OHIF_DEFAULT)).await;
        assert_eq!(status, 200);
        let x = cornerstone::extract_multipart(header(&headers, "content-type"), &body).unwrap();
        let ahi = direct
            .get_image_frame(&inst.datastore, &inst.image_set, &inst.frames[0])
            .await
            .unwrap();
        assert_eq!(x.pixel_data, ahi.bytes, "{series}");
        assert_eq!(
            cornerstone::transfer_syntax_for_content_type(&x.content_type).as_deref(),
            Some(ts)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_requests_and_cache_headers() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let inst = &demo_series(&s, "Axial 3mm HTJ2K")[3];
    let (status, headers, _) = get(&s, &inst.frames_path("1"), Some(OHIF_DEFAULT)).await;
    assert_eq!(status, 200);
    let etag = header(&headers, "etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&headers, "vary"), "Accept");
    let frames_before = calls(&s, "GetImageFrame");
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        let r = http()
            .get(format!("{}{}", s.base_url, inst.frames_path("1")))
            .header("accept", OHIF_DEFAULT)
            .header("if-none-match", &inm)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{inm}");
        assert_eq!(header(r.headers(), "etag"), etag);
        assert!(r.bytes().await.unwrap().is_empty());
    }
    assert_eq!(
        calls(&s, "GetImageFrame"),
        frames_before,
        "304s need no frame"
    );
    // Another rendition is another entity.
    let (_, single, _) = get(&s, &inst.frames_path("1"), Some("image/jphc")).await;
    assert_ne!(header(&single, "etag"), etag);
    let r = http()
        .get(format!("{}{}", s.base_url, inst.frames_path("1")))
        .header("accept", OHIF_DEFAULT)
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_get_returns_ahis_bytes_and_type() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let direct = direct_client(&s);
    for series in [
        "Axial 3mm HTJ2K",
        "Axial 24mm uncompressed",
        "Axial T2 JPEG",
    ] {
        let inst = &demo_series(&s, series)[0];
        let path = format!(
            "/datastore/{}/imageSet/{}/getImageFrame?imageFrameId={}",
            inst.datastore, inst.image_set, inst.frames[0]
        );
        let (status, headers, body) = get(&s, &path, None).await;
        assert_eq!(status, 200, "{series}");
        let ahi = direct
            .get_image_frame(&inst.datastore, &inst.image_set, &inst.frames[0])
            .await
            .unwrap();
        assert_eq!(body, ahi.bytes);
        assert_eq!(header(&headers, "content-type"), ahi.content_type);
        assert_eq!(header(&headers, "content-length"), body.len().to_string());
        assert!(header(&headers, "cache-control").contains("immutable"));
        assert!(headers.get("vary").is_none());
        let r = http()
            .get(format!("{}{path}", s.base_url))
            .header("if-none-match", header(&headers, "etag"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
    }
    let inst = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let base = format!(
        "/datastore/{}/imageSet/{}/getImageFrame",
        inst.datastore, inst.image_set
    );
    let (status, _, body) = get(&s, &base, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "invalid imageFrameId: the query parameter imageFrameId is required\n"
    );
    let (status, _, _) = get(&s, &format!("{base}?imageFrameId=XYZ"), None).await;
    assert_eq!(status, 400);
    let (status, _, _) = get(
        &s,
        &format!("{base}?imageFrameId=00000000000000000000000000000000"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // `If-None-Match: *` matches only what exists (RFC 9110 §13.1.2): 304 for a frame that
    // does, 404 for one that does not (or of an image set that does not).
    let star = |path: String| {
        let url = format!("{}{path}", s.base_url);
        async move {
            http()
                .get(url)
                .header("if-none-match", "*")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        star(format!("{base}?imageFrameId={}", inst.frames[0])).await,
        304
    );
    assert_eq!(
        star(format!(
            "{base}?imageFrameId=00000000000000000000000000000000"
        ))
        .await,
        404
    );
    let unknown_set = format!(
        "/datastore/{}/imageSet/{}/getImageFrame?imageFrameId={}",
        inst.datastore,
        "0".repeat(32),
        inst.frames[0]
    );
    assert_eq!(star(unknown_set).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_cache_is_shared_and_never_keyed_on_credentials() {
    let s = start_demo(|_| {}).await;
    let inst = &demo_series(&s, "Axial 3mm HTJ2K")[5];
    let url = format!("{}{}", s.base_url, inst.frames_path("1"));
    let fetch = |url: String, accept: &'static str, auth: Option<&'static str>| async move {
        let mut r = http().get(url).header("accept", accept);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        (
            status,
            header(&h, "x-cache").to_owned(),
            r.bytes().await.unwrap(),
        )
    };
    let (status, cache, first) = fetch(url.clone(), OHIF_DEFAULT, Some("Bearer user-a")).await;
    assert_eq!((status, cache.as_str()), (200, "Miss"));
    let frames = calls(&s, "GetImageFrame");
    // Another user, a token in the query, the unquoted Accept form: one shared entry.
    let (_, cache, body) = fetch(url.clone(), OHIF_DEFAULT, Some("Bearer user-b")).await;
    assert_eq!((cache.as_str(), body.clone()), ("Hit", first.clone()));
    let (_, cache, _) = fetch(format!("{url}?token=abc"), OHIF_DEFAULT, None).await;
    assert_eq!(cache, "Hit");
    let (_, cache, _) = fetch(
        url.clone(),
        "multipart/related; transfer-syntax=*; type=application/octet-stream",
        None,
    )
    .await;
    assert_eq!(cache, "Hit");
    assert_eq!(calls(&s, "GetImageFrame"), frames, "hits reach no upstream");
    // A different representation is a different entry.
    let (status, cache, _) = fetch(url.clone(), "image/jphc", None).await;
    assert_eq!((status, cache.as_str()), (200, "Miss"));
    // Errors are not cached (except 404, briefly).
    let bad = format!("{}{}", s.base_url, inst.frames_path("0"));
    let (status, _, _) = fetch(bad.clone(), OHIF_DEFAULT, None).await;
    assert_eq!(status, 400);
    let (_, cache, _) = fetch(bad, OHIF_DEFAULT, None).await;
    assert_eq!(cache, "Miss");
    // A conditional request is answered from the cache.
    let r = http()
        .get(&url)
        .header("accept", OHIF_DEFAULT)
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(header(r.headers(), "x-cache"), "Hit");
    assert!(
        header(r.headers(), "content-type").starts_with("multipart/related"),
        "a 304 from the cache says what the 200 says"
    );
}

/// What reaches the origin costs only what the answer needs: HEAD fetches the first part
/// and is not stored in place of the GET's answer; a parameter the key would hold but the
/// origin does not read, or a frame number spelled with a leading zero, is refused rather
/// than a cache miss of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_unread_parameters_cost_no_upstream_amplification() {
    let s = start_demo(|_| {}).await;
    let series = demo_series(&s, "Axial 3mm HTJ2K");
    let path = format!(
        "/datastore/{}/studies/{}/series/{}",
        series[0].datastore, series[0].study, series[0].series
    );
    let url = format!("{}{path}", s.base_url);
    let before = calls(&s, "GetImageFrame");
    let r = http().head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(r.headers(), "x-cache"), "Miss");
    let head_cost = calls(&s, "GetImageFrame") - before;
    assert!(
        (1..=2).contains(&head_cost),
        "HEAD of a {}-instance series cost {head_cost} frames",
        series.len()
    );
    // Not stored: the GET is a miss and gets the whole series, then HEAD is a hit.
    let (status, h, body) = get(&s, &path, None).await;
    assert_eq!((status, header(&h, "x-cache")), (200, "Miss"));
    assert!(body.len() > 100_000);
    let r = http().head(&url).send().await.unwrap();
    assert_eq!(header(r.headers(), "x-cache"), "Hit");

    let frames = calls(&s, "GetImageFrame");
    for bad in [
        format!("{path}?x=1"),
        format!("{path}/metadata?x=2"),
        series[0].frames_path("01"),
        series[0].frames_path("1,002"),
        format!("/datastore/{}/studies/01.2", series[0].datastore),
    ] {
        let (status, _, body) = get(&s, &bad, None).await;
        assert_eq!(status, 400, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(calls(&s, "GetImageFrame"), frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_on_answers_errors_and_preflight() {
    let s = start_demo(|o| {
        o.cors.origins = vec!["https://viewer.example.org".into()];
    })
    .await;
    let inst = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let r = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{}", s.base_url, inst.frames_path("1")),
        )
        .header("origin", "https://viewer.example.org")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization, accept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let allowed = header(r.headers(), "access-control-allow-headers").to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("accept"));
    assert_eq!(
        header(r.headers(), "access-control-allow-origin"),
        "https://viewer.example.org"
    );
    for path in [inst.frames_path("1"), inst.frames_path("999")] {
        let r = http()
            .get(format!("{}{path}", s.base_url))
            .header("origin", "https://viewer.example.org")
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(r.headers(), "access-control-allow-origin"),
            "https://viewer.example.org",
            "{path}"
        );
        let exposed = header(r.headers(), "access-control-expose-headers");
        for h in ["Content-Length", "Content-Range", "ETag"] {
            assert!(exposed.contains(h), "{h}");
        }
    }
    let r = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{}", s.base_url, inst.frames_path("1")),
        )
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
