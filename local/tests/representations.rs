//! Decoded frames and whole-instance retrieve through the local stack: what they cost
//! upstream, that the edge cache serves repeats, and the answers' envelopes. Pixel and
//! attribute equality with the source files is checked against pydicom in the end-to-end
//! tests (tests/tests/representations.rs).

mod common;

use common::*;
use dicom_object::from_reader;

const DEFAULT_INSTANCES: &str = r#"multipart/related; type="application/dicom""#;

fn series_path(i: &DemoInstance) -> String {
    format!(
        "/datastore/{}/studies/{}/series/{}",
        i.datastore, i.study, i.series
    )
}

/// The parts of a `multipart/related` body: (part headers, payload).
fn parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .rsplit("boundary=")
        .next()
        .expect("a boundary")
        .to_owned();
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let payload = &rest[head_end + 4..];
        let end = find(payload, delimiter.as_bytes()).expect("next delimiter");
        out.push((head, payload[..end - 2].to_vec()));
        rest = &payload[end..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A series retrieve costs one search, one GetImageSetMetadata and one GetImageFrame per
/// frame, whatever its number of instances; each part is a Part 10 file that dicom-rs reads
/// back with the part's transfer syntax; a repeat is an edge cache hit with no upstream
/// call; `If-None-Match` gives 304.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_retrieve_costs_one_metadata_read_and_one_call_per_frame() {
    let s = start_demo(|_| {}).await;
    let series = demo_series(&s, "Axial 3mm HTJ2K");
    let path = series_path(&series[0]);
    let (status, h, body) = get(&s, &path, Some(DEFAULT_INSTANCES)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "x-cache"), "Miss");
    let ct = header(&h, "content-type");
    assert!(
        ct.starts_with(r#"multipart/related; type="application/dicom"; boundary="#),
        "{ct}"
    );
    let files = parts(ct, &body);
    assert_eq!(files.len(), 64);
    for (head, file) in &files {
        assert!(
            head.contains("Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1"),
            "{head}"
        );
        assert_eq!(&file[128..132], b"DICM");
        let obj = from_reader(&file[128..]).expect("a Part 10 file dicom-rs reads");
        assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.1");
        let pixels = obj
            .element(dicom_dictionary_std::tags::PIXEL_DATA)
            .expect("pixel data");
        assert_eq!(pixels.to_bytes().expect("native").len(), 256 * 256 * 2);
    }
    assert_eq!(calls(&s, "SearchImageSets"), 1);
    assert_eq!(calls(&s, "GetImageSetMetadata"), 1);
    assert_eq!(calls(&s, "GetImageFrame"), 64);

    let (status, h, again) = get(&s, &path, Some(DEFAULT_INSTANCES)).await;
    assert_eq!((status, header(&h, "x-cache")), (200, "Hit"));
    assert_eq!(again, body);
    assert_eq!(
        calls(&s, "GetImageFrame"),
        64,
        "a hit costs no upstream call"
    );

    let etag = header(&h, "etag").to_owned();
    let r = http()
        .get(format!("{}{path}", s.base_url))
        .header("accept", DEFAULT_INSTANCES)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 304);
}

/// `transfer-syntax=*` keeps the stored syntax (encapsulated, one fragment per frame with a
/// Basic Offset Table); one instance may be asked for single-part; a syntax that cannot be
/// produced is 406 naming what can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_syntax_single_part_and_refusals() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let multi = &demo_series(&s, "Rotating phantom")[0];
    let path = format!("{}/instances/{}", series_path(multi), multi.sop);
    let (status, h, body) = get(&s, &path, Some("application/dicom; transfer-syntax=*")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header(&h, "content-type"),
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.202"
    );
    let obj = from_reader(&body[128..]).expect("a Part 10 file");
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.4.202");
    let pixel = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .expect("pixel data");
    let fragments = pixel.fragments().expect("encapsulated");
    assert_eq!(fragments.len(), 36);
    let table = pixel.offset_table().expect("offset table");
    assert_eq!(table.len(), 36);
    assert_eq!(table[1] as usize, 8 + fragments[0].len());
    assert!(
        fragments
            .iter()
            .all(|f| f.len() % 2 == 0 && f.starts_with(&[0xff, 0x4f]))
    );

    let (status, _, body) = get(
        &s,
        &path,
        Some("application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90"),
    )
    .await;
    assert_eq!(status, 406);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1,"#)
            && text
                .contains(r#"type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.202"#),
        "{text}"
    );
    // Several instances cannot be one single-part body.
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let (status, _, _) = get(&s, &series_path(ct), Some("application/dicom")).await;
    assert_eq!(status, 406);
    // Unknown study: 404.
    let missing = format!("/datastore/{}/studies/1.2.3.4.5.6", multi.datastore);
    let (status, _, _) = get(&s, &missing, Some(DEFAULT_INSTANCES)).await;
    assert_eq!(status, 404);
}

/// Decoded frames are cached like stored ones: a second request for the same rendition is a
/// hit with no upstream call; the stored rendition of the same frame is another entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_frames_are_cached_per_rendition() {
    let s = start_demo(|_| {}).await;
    let inst = &demo_series(&s, "Axial 3mm HTJ2K")[10];
    let decoded = r#"multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1"#;
    let (status, h, first) = get(&s, &inst.frames_path("1"), Some(decoded)).await;
    assert_eq!((status, header(&h, "x-cache")), (200, "Miss"));
    assert!(
        header(&h, "content-type")
            .starts_with(r#"multipart/related; type="application/octet-stream""#)
    );
    let frames = calls(&s, "GetImageFrame");
    let (status, h, again) = get(&s, &inst.frames_path("1"), Some(decoded)).await;
    assert_eq!((status, header(&h, "x-cache")), (200, "Hit"));
    assert_eq!(again, first);
    assert_eq!(calls(&s, "GetImageFrame"), frames);
    let (_, h, stored) = get(&s, &inst.frames_path("1"), Some(OHIF_DEFAULT)).await;
    assert_eq!(header(&h, "x-cache"), "Miss");
    assert!(
        stored.len() < first.len(),
        "HTJ2K is smaller than its decoded pixels"
    );
}

/// QIDO-RS across studies: `{root}/series`, `{root}/instances` and
/// `…/studies/{st}/instances`, with matching and paging, from one search and one metadata
/// read per image set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_across_studies() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let root = format!("/datastore/{}", ct.datastore);
    let json =
        |body: &[u8]| -> Vec<serde_json::Value> { serde_json::from_slice(body).expect("JSON") };
    let (status, _, body) = get(&s, &format!("{root}/series"), None).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body).len(), 5, "every demo series");
    let (_, _, body) = get(&s, &format!("{root}/series?Modality=MR"), None).await;
    assert_eq!(json(&body).len(), 1);
    let (_, _, body) = get(&s, &format!("{root}/instances"), None).await;
    assert_eq!(json(&body).len(), 86);
    let (_, _, body) = get(&s, &format!("{root}/instances?limit=10&offset=80"), None).await;
    assert_eq!(json(&body).len(), 6);
    let (_, _, body) = get(&s, &format!("{root}/instances?PatientID=DEMO002"), None).await;
    assert_eq!(json(&body).len(), 13, "12 MR slices and the photo");
    let (_, _, body) = get(&s, &format!("{root}/studies/{}/instances", ct.study), None).await;
    let within = json(&body);
    assert_eq!(within.len(), 73);
    assert!(
        within
            .iter()
            .all(|i| i["0020000D"]["Value"][0] == ct.study.as_str())
    );
    let (status, _, _) = get(&s, &format!("{root}/series?StudyDate=2024"), None).await;
    assert_eq!(status, 400, "a malformed date is refused");
    // Two image sets: one search per request without a study key, one metadata read each.
    assert_eq!(calls(&s, "GetImageSetMetadata"), 2);
}
