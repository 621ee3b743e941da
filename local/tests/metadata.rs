//! WADO-RS metadata through the local stack: DICOM JSON for each demo series (reviewed
//! snapshots), the caches (one GetImageSetMetadata per image set, shared with frames),
//! conditional requests, gzip, and refusals.

mod common;

use std::io::Read;

use common::*;
use serde_json::Value;

fn metadata_path(inst: &DemoInstance, level: &str) -> String {
    let study = format!("/datastore/{}/studies/{}", inst.datastore, inst.study);
    match level {
        "study" => format!("{study}/metadata"),
        "series" => format!("{study}/series/{}/metadata", inst.series),
        _ => format!(
            "{study}/series/{}/instances/{}/metadata",
            inst.series, inst.sop
        ),
    }
}

fn json(body: &[u8]) -> Vec<Value> {
    serde_json::from_slice(body).expect("a DICOM JSON array")
}

fn first(v: &Value, tag: &str) -> Value {
    v[tag]["Value"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_metadata_for_each_demo_series() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let cases = [
        ("ct_htj2k", "Axial 3mm HTJ2K"),
        ("ct_uncompressed", "Axial 24mm uncompressed"),
        ("cine_multiframe", "Rotating phantom"),
        ("mr_jpeg", "Axial T2 JPEG"),
        ("rgb_photo", "Clinical photograph"),
    ];
    for (name, description) in cases {
        let series = demo_series(&s, description);
        let (status, headers, body) = get(&s, &metadata_path(&series[0], "series"), None).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(header(&headers, "content-type"), "application/dicom+json");
        let instances = json(&body);
        assert_eq!(
            instances.len(),
            series.len(),
            "{name}: one object per instance"
        );
        for (obj, inst) in instances.iter().zip(&series) {
            // Every instance names itself, its syntax and its frames.
            assert_eq!(first(obj, "0020000E"), inst.series.as_str());
            assert_eq!(first(obj, "00083002"), inst.transfer_syntax.as_str());
            let frames = obj["00280008"]["Value"][0].as_u64().unwrap_or(1);
            assert_eq!(frames as usize, inst.frames.len(), "{name}");
            assert!(
                obj.as_object()
                    .unwrap()
                    .keys()
                    .all(|k| !k.starts_with("0002"))
            );
        }
        let mut sops: Vec<_> = instances.iter().map(|o| first(o, "00080018")).collect();
        sops.dedup();
        assert_eq!(sops.len(), series.len());
        // The first instance in full, reviewed.
        let by_number = instances
            .iter()
            .find(|o| first(o, "00080018") == series[0].sop.as_str())
            .expect("the first instance");
        // The bulk data URL names this run's port; the snapshot shows it as `http://edge`.
        let reviewed: Value =
            serde_json::from_str(&by_number.to_string().replace(&s.base_url, "http://edge"))
                .unwrap();
        insta::assert_json_snapshot!(format!("metadata_{name}"), reviewed);
    }
}

/// The Pixel Data BulkDataURI answers every frame, as the frames resource does; other tags
/// without bulk data are 404, malformed ones 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixel_data_bulk_data_is_every_frame() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let cine = &demo_series(&s, "Rotating phantom")[0];
    let (_, _, body) = get(&s, &metadata_path(cine, "instance"), None).await;
    let instance = &json(&body)[0];
    assert_eq!(instance["7FE00010"]["vr"], "OB");
    let uri = instance["7FE00010"]["BulkDataURI"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = uri.strip_prefix(&s.base_url).expect("an URL of this edge");
    assert!(path.ends_with("/bulkdata/7FE00010"), "{path}");
    let (status, headers, bulk) = get(&s, path, Some(OHIF_DEFAULT)).await;
    assert_eq!(status, 200);
    let parts = dicomweb::multipart::parse(
        &bulk,
        &dicomweb::multipart::boundary_of(header(&headers, "content-type")).unwrap(),
    )
    .unwrap();
    assert_eq!(parts.len(), 36);
    let (_, fh, frames) = get(&s, &cine.frames_path("1,2,36"), Some(OHIF_DEFAULT)).await;
    let frames = dicomweb::multipart::parse(
        &frames,
        &dicomweb::multipart::boundary_of(header(&fh, "content-type")).unwrap(),
    )
    .unwrap();
    for (i, n) in [(0, 1), (1, 2), (2, 36)] {
        assert_eq!(parts[n - 1].body, frames[i].body, "frame {n}");
    }
    let ct = &demo_series(&s, "Axial 24mm uncompressed")[0];
    let (_, _, body) = get(&s, &metadata_path(ct, "instance"), None).await;
    assert_eq!(
        json(&body)[0]["7FE00010"]["vr"],
        "OW",
        "16-bit native pixel data"
    );

    let base = path.trim_end_matches("7FE00010");
    let (status, _, _) = get(&s, &format!("{base}00100010"), None).await;
    assert_eq!(status, 404, "PatientName has no bulk data");
    let (status, _, _) = get(&s, &format!("{base}7FE0001"), None).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn study_series_and_instance_levels_agree() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 24mm uncompressed")[2];
    let (_, _, study) = get(&s, &metadata_path(ct, "study"), None).await;
    let (_, _, series) = get(&s, &metadata_path(ct, "series"), None).await;
    let (status, _, instance) = get(&s, &metadata_path(ct, "instance"), None).await;
    assert_eq!(status, 200);
    let (study, series, instance) = (json(&study), json(&series), json(&instance));
    assert_eq!(instance.len(), 1);
    assert!(series.contains(&instance[0]));
    assert!(study.contains(&instance[0]));
    // The CT study: the HTJ2K and uncompressed series and the cine.
    let expected = demo_series(&s, "Axial 3mm HTJ2K").len()
        + demo_series(&s, "Axial 24mm uncompressed").len()
        + demo_series(&s, "Rotating phantom").len();
    assert_eq!(study.len(), expected);
}

/// Opening a series reads its image set's metadata once; the frames that follow reuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_read_from_ahi_once_and_shared_with_frames() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let series = demo_series(&s, "Axial 3mm HTJ2K");
    assert_eq!(series.len(), 64, "the 64-slice demo series");
    let path = metadata_path(&series[0], "series");
    for _ in 0..3 {
        let (status, _, _) = get(&s, &path, None).await;
        assert_eq!(status, 200);
    }
    for inst in &series[..8] {
        let (status, _, _) = get(&s, &inst.frames_path("1"), Some(OHIF_DEFAULT)).await;
        assert_eq!(status, 200);
    }
    assert_eq!(calls(&s, "SearchImageSets"), 1);
    assert_eq!(calls(&s, "GetImageSetMetadata"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_gzip_and_refusals() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let mr = &demo_series(&s, "Axial T2 JPEG")[0];
    let path = metadata_path(mr, "series");
    let url = format!("{}{path}", s.base_url);
    let plain = http().get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let cache_control = plain.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cache_control, "public, max-age=60");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();

    // gzip when accepted, the same JSON inside.
    let zipped = http()
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["etag"].to_str().unwrap(), etag);
    let zipped = zipped.bytes().await.unwrap();
    assert!(
        zipped.len() * 4 < plain.len(),
        "{} vs {}",
        zipped.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    let refused = http()
        .get(&url)
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());

    // The ETag answers 304 without a body.
    let again = http()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    // Accept: DICOM JSON or JSON; XML is not offered.
    for (accept, status) in [
        ("application/dicom+json", 200),
        ("application/json, text/plain;q=0.5", 200),
        ("*/*", 200),
        (r#"multipart/related; type="application/dicom+xml""#, 406),
        ("application/dicom+json;q=0", 406),
        ("nonsense", 400),
    ] {
        let (got, _, _) = get(&s, &path, Some(accept)).await;
        assert_eq!(got, status, "{accept}");
    }

    // Unknown study, series and instance: 404 with what was not found.
    let unknown = "2.25.1234567890";
    for (p, needle) in [
        (
            format!("/datastore/{}/studies/{unknown}/metadata", mr.datastore),
            "study",
        ),
        (
            format!(
                "/datastore/{}/studies/{}/series/{unknown}/metadata",
                mr.datastore, mr.study
            ),
            "series",
        ),
        (
            format!(
                "/datastore/{}/studies/{}/series/{}/instances/{unknown}/metadata",
                mr.datastore, mr.study, mr.series
            ),
            "instance",
        ),
    ] {
        let (status, _, body) = get(&s, &p, None).await;
        assert_eq!(status, 404, "{p}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(needle) && text.contains(unknown), "{text}");
    }
}
