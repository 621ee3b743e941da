//! Byte ranges (RFC 9110 §14) of single-part answers: a frame asked for as one part and the
//! native GET. Each range is compared byte for byte with a slice of the frame as
//! HealthImaging itself returns it (the emulator's GetImageFrame, called directly), through
//! the edge cache (a hit on a stored whole answer, and a miss, which the origin answers)
//! and with no cache; a part is never stored as the whole.

mod common;

use common::*;
use dicomweb_edge::stack::RunningStack;

/// One frame of the HTJ2K CT as stored, single-part.
const SINGLE_PART: &str = "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202";

struct Case {
    range: &'static str,
    if_range: Option<String>,
}

async fn ranged(
    s: &RunningStack,
    path: &str,
    accept: Option<&str>,
    case: &Case,
) -> (u16, reqwest::header::HeaderMap, bytes::Bytes) {
    let mut req = http()
        .get(format!("{}{path}", s.base_url))
        .header("range", case.range);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if let Some(t) = &case.if_range {
        req = req.header("if-range", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body"))
}

/// What RFC 9110 says each case must answer, from the whole frame.
fn expected(case: &Case, whole: &[u8], etag: &str) -> (u16, Option<String>, Vec<u8>) {
    let len = whole.len();
    let part = |a: usize, b: usize| {
        (
            206,
            Some(format!("bytes {a}-{b}/{len}")),
            whole[a..=b].to_vec(),
        )
    };
    if case.if_range.as_deref().is_some_and(|t| t != etag) {
        return (200, None, whole.to_vec());
    }
    match case.range {
        "bytes=0-99" => part(0, 99),
        "bytes=100-" => part(100, len - 1),
        "bytes=-64" => part(len - 64, len - 1),
        "bytes=10-999999999" => part(10, len - 1),
        "bytes=999999999-" | "bytes=-0" => (416, Some(format!("bytes */{len}")), Vec::new()),
        // Malformed, another unit, several ranges: the whole answer.
        _ => (200, None, whole.to_vec()),
    }
}

fn cases(etag: &str) -> Vec<Case> {
    let plain = |range| Case {
        range,
        if_range: None,
    };
    vec![
        plain("bytes=0-99"),
        plain("bytes=100-"),
        plain("bytes=-64"),
        plain("bytes=10-999999999"),
        plain("bytes=999999999-"),
        plain("bytes=-0"),
        plain("bytes=99-0"),
        plain("bytes=abc"),
        plain("pages=1-2"),
        plain("bytes=0-1,5-9"),
        Case {
            range: "bytes=0-99",
            if_range: Some(etag.to_owned()),
        },
        Case {
            range: "bytes=0-99",
            if_range: Some("\"another-version\"".into()),
        },
        Case {
            range: "bytes=0-99",
            if_range: Some("Tue, 01 Dec 2026 00:00:00 GMT".into()),
        },
    ]
}

/// Checks every case against `path` on `s`, whose whole answer is `whole`.
async fn check_all(s: &RunningStack, path: &str, accept: Option<&str>, whole: &[u8]) {
    let (status, h, body) = get(s, path, accept).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], whole, "the whole answer is the frame");
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    let etag = header(&h, "etag").to_owned();
    for case in cases(&etag) {
        let (status, h, body) = ranged(s, path, accept, &case).await;
        let (want_status, want_range, want_body) = expected(&case, whole, &etag);
        let what = format!("{} (If-Range {:?})", case.range, case.if_range);
        assert_eq!(status, want_status, "{what}");
        assert_eq!(
            h.get("content-range")
                .map(|v| v.to_str().unwrap().to_owned()),
            want_range,
            "{what}"
        );
        assert_eq!(&body[..], &want_body[..], "{what}");
        assert_eq!(
            header(&h, "content-length"),
            want_body.len().to_string(),
            "{what}"
        );
        if status == 416 {
            assert_eq!(header(&h, "cache-control"), "no-store", "{what}");
        }
    }
}

/// The frame's bytes as HealthImaging returns them.
async fn ahi_frame(s: &RunningStack, i: &DemoInstance) -> Vec<u8> {
    direct_client(s)
        .get_image_frame(&i.datastore, &i.image_set, &i.frames[0])
        .await
        .expect("GetImageFrame")
        .bytes
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_of_a_single_part_frame_are_slices_of_the_frame() {
    for cache_mb in [256, 0] {
        let s = start_demo(|o| o.cache_bytes = cache_mb << 20).await;
        let i = demo_series(&s, "Axial 3mm HTJ2K")[0].clone();
        let whole = ahi_frame(&s, &i).await;
        let path = i.frames_path("1");

        // A range before anything is stored: the origin answers it, and does not fill the
        // cache with a part.
        let first = Case {
            range: "bytes=0-99",
            if_range: None,
        };
        let (status, h, body) = ranged(&s, &path, Some(SINGLE_PART), &first).await;
        assert_eq!(status, 206);
        assert_eq!(&body[..], &whole[..100]);
        if cache_mb > 0 {
            assert_eq!(header(&h, "x-cache"), "Miss");
            let (_, h, body) = get(&s, &path, Some(SINGLE_PART)).await;
            assert_eq!(
                header(&h, "x-cache"),
                "Miss",
                "a part was stored as the whole"
            );
            assert_eq!(&body[..], &whole[..]);
        }
        let upstream = calls(&s, "GetImageFrame");
        check_all(&s, &path, Some(SINGLE_PART), &whole).await;
        if cache_mb > 0 {
            // Every range came from the stored whole answer.
            assert_eq!(calls(&s, "GetImageFrame"), upstream);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_of_the_native_get_are_slices_of_the_frame() {
    let s = start_demo(|_| {}).await;
    let i = demo_series(&s, "Axial 3mm HTJ2K")[0].clone();
    let whole = ahi_frame(&s, &i).await;
    let path = format!(
        "/datastore/{}/imageSet/{}/getImageFrame?imageFrameId={}",
        i.datastore, i.image_set, i.frames[0]
    );
    check_all(&s, &path, None, &whole).await;
}
