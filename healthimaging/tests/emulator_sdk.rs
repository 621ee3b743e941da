//! The emulator driven by the real `aws-sdk-medicalimaging` client over loopback HTTP:
//! search → metadata → frames on the demo data, search filters and paging, versions,
//! unknown IDs, malformed requests, signature checks and fault injection.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use healthimaging::api::{
    Operator, SearchCriteria, SearchFilter, SearchValue, Sort, SortField, SortOrder,
    StudyDateAndTime,
};
use healthimaging::emulator::Faults;
use healthimaging::{DatastoreId, ErrorKind, ImageFrameId, ImageSetId};

fn eq(v: SearchValue) -> SearchCriteria {
    SearchCriteria {
        filters: vec![SearchFilter {
            values: vec![v],
            operator: Operator::Equal,
        }],
        sort: None,
    }
}

/// The first image set a search of everything returns.
async fn first_image_set(
    c: &healthimaging::client::HealthImagingClient,
    ds: &DatastoreId,
) -> ImageSetId {
    c.search_all(ds, &SearchCriteria::default()).await.unwrap()[0]
        .image_set_id
        .clone()
}

fn only_datastore(r: &Running) -> DatastoreId {
    r.emulator
        .datastores()
        .next()
        .expect("one datastore")
        .id
        .clone()
}

#[tokio::test]
async fn demo_search_metadata_and_every_frame_match_the_source_files() {
    let r = start_demo().await;
    assert!(r.report.skipped.is_empty(), "{:?}", r.report.skipped);
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let hits = c.search_all(&ds, &SearchCriteria::default()).await.unwrap();
    assert_eq!(hits.len(), 2, "two demo studies");
    let mut frames_checked = 0;
    let mut syntaxes = HashSet::new();
    for hit in &hits {
        assert!(hit.is_primary);
        let meta = c
            .get_image_set_metadata(&ds, &hit.image_set_id, None)
            .await
            .unwrap();
        assert_eq!(meta.image_set_id, hit.image_set_id);
        assert_eq!(
            meta.study_instance_uid(),
            hit.dicom_tags.study_instance_uid.as_deref()
        );
        for (_, sop, inst) in meta.instances() {
            syntaxes.insert(inst.transfer_syntax().to_owned());
            let mut served = Vec::new();
            for f in &inst.image_frames {
                let got = c
                    .get_image_frame(&ds, &hit.image_set_id, &f.id)
                    .await
                    .unwrap();
                assert_eq!(
                    got.content_type,
                    healthimaging::media::frame_content_type(inst.transfer_syntax())
                );
                assert_eq!(Some(got.bytes.len() as u64), f.frame_size_in_bytes);
                served.push(got.bytes);
                frames_checked += 1;
            }
            assert_eq!(served, source_frames(sop), "frames of {sop}");
        }
    }
    assert_eq!(frames_checked, 64 + 8 + 36 + 12 + 1);
    let expected: HashSet<String> = [
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.4.50",
    ]
    .map(String::from)
    .into();
    assert_eq!(syntaxes, expected);
}

/// The frames of a demo instance as dicom-object reads them from the file: native pixel
/// data cut into frames of Rows×Columns×Samples×Bits/8, encapsulated data one fragment per
/// frame (the demo writes one fragment per frame).
fn source_frames(sop: &str) -> Vec<bytes::Bytes> {
    use dicom_core::value::Value;
    use dicom_dictionary_std::tags;
    let dir = healthimaging::emulator::demo_data_dir();
    for entry in walk(&dir) {
        let obj = dicom_object::open_file(&entry).unwrap();
        let uid = obj
            .element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap();
        if uid.trim_end_matches('\0') != sop {
            continue;
        }
        let pixel = obj.element(tags::PIXEL_DATA).unwrap();
        return match pixel.value() {
            Value::PixelSequence(seq) => seq
                .fragments()
                .iter()
                .map(|f| bytes::Bytes::from(f.clone()))
                .collect(),
            Value::Primitive(p) => {
                let raw = p.to_bytes().into_owned();
                let int = |t| obj.element(t).unwrap().to_int::<usize>().unwrap();
                let len = int(tags::ROWS)
                    * int(tags::COLUMNS)
                    * int(tags::SAMPLES_PER_PIXEL)
                    * int(tags::BITS_ALLOCATED)
                    / 8;
                raw.chunks(len)
                    .map(|c| bytes::Bytes::from(c.to_vec()))
                    .collect()
            }
            _ => panic!("unexpected pixel data"),
        };
    }
    panic!("{sop} not in the demo data");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn ids_are_stable_across_restarts() {
    let a = start_demo().await;
    let b = start_demo().await;
    let ids = |r: &Running| {
        r.emulator
            .datastores()
            .flat_map(|d| d.image_sets.keys().map(move |k| (d.id.clone(), k.clone())))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
    let ds = only_datastore(&a);
    let meta_a = client(&a.url)
        .search_all(&ds, &SearchCriteria::default())
        .await
        .unwrap();
    let set = &meta_a[0].image_set_id;
    let ma = client(&a.url)
        .get_image_set_metadata(&ds, set, None)
        .await
        .unwrap();
    let mb = client(&b.url)
        .get_image_set_metadata(&ds, set, None)
        .await
        .unwrap();
    assert_eq!(ma, mb, "same metadata, same frame IDs");
}

/// Seven studies, two patients, dates spread over a year.
fn many_studies(dir: &std::path::Path) {
    for i in 0..7 {
        write_variant(
            &dir.join(format!("job/{i}.dcm")),
            &Variant {
                study_uid: &format!("1.2.826.0.1.3680043.10.1.{i}"),
                series_uid: &format!("1.2.826.0.1.3680043.10.1.{i}.1"),
                sop_uid: &format!("1.2.826.0.1.3680043.10.1.{i}.1.1"),
                patient_id: if i % 2 == 0 { "EVEN" } else { "ODD" },
                accession: &format!("ACC{i}"),
                study_date: &format!("2023{:02}15", i + 1),
            },
        );
    }
}

#[tokio::test]
async fn search_pages_through_all_results_with_next_token() {
    let tmp = tempfile::tempdir().unwrap();
    many_studies(tmp.path());
    let r = start(vec![tmp.path().to_owned()]).await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let all = SearchCriteria::default();
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = c
            .search_image_sets(&ds, &all, Some(3), token)
            .await
            .unwrap();
        assert!(page.image_sets_metadata_summaries.len() <= 3);
        seen.extend(
            page.image_sets_metadata_summaries
                .into_iter()
                .map(|s| s.image_set_id),
        );
        pages += 1;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        7,
        "no duplicates across pages"
    );

    // Default order: updatedAt, newest first.
    let hits = c.search_all(&ds, &all).await.unwrap();
    assert!(hits.windows(2).all(|w| w[0].updated_at >= w[1].updated_at));

    // A token belongs to its search; a forged one is refused.
    let first = c.search_image_sets(&ds, &all, Some(3), None).await.unwrap();
    let other = eq(SearchValue::PatientId("EVEN".into()));
    let err = c
        .search_image_sets(&ds, &other, Some(3), first.next_token.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Validation));
    let err = c
        .search_image_sets(&ds, &all, Some(3), Some("zzz".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Validation));
    // maxResults outside 1..=50.
    let err = c
        .search_image_sets(&ds, &all, Some(51), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Validation));
}

#[tokio::test]
async fn search_filters_and_sort() {
    let tmp = tempfile::tempdir().unwrap();
    many_studies(tmp.path());
    let r = start(vec![tmp.path().to_owned()]).await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let count = |crit: SearchCriteria| {
        let c = c.clone();
        let ds = ds.clone();
        async move { c.search_all(&ds, &crit).await.unwrap() }
    };

    assert_eq!(
        count(eq(SearchValue::PatientId("EVEN".into()))).await.len(),
        4
    );
    assert_eq!(
        count(eq(SearchValue::PatientId("NOBODY".into())))
            .await
            .len(),
        0
    );
    let hit = count(eq(SearchValue::AccessionNumber("ACC3".into()))).await;
    assert_eq!(hit.len(), 1);
    assert_eq!(
        hit[0].dicom_tags.study_instance_uid.as_deref(),
        Some("1.2.826.0.1.3680043.10.1.3")
    );
    assert_eq!(hit[0].dicom_tags.study_date.as_deref(), Some("20230415"));
    assert_eq!(hit[0].dicom_tags.number_of_study_related_instances, 1);
    assert_eq!(
        count(eq(SearchValue::StudyInstanceUid(
            "1.2.826.0.1.3680043.10.1.5".into()
        )))
        .await
        .len(),
        1
    );
    assert_eq!(
        count(eq(SearchValue::SeriesInstanceUid(
            "1.2.826.0.1.3680043.10.1.5.1".into()
        )))
        .await
        .len(),
        1
    );
    assert_eq!(count(eq(SearchValue::IsPrimary(true))).await.len(), 7);
    assert_eq!(count(eq(SearchValue::IsPrimary(false))).await.len(), 0);

    let date = |d: &str| {
        SearchValue::StudyDateAndTime(StudyDateAndTime {
            study_date: d.into(),
            study_time: None,
        })
    };
    let between = |a, b| SearchCriteria {
        filters: vec![SearchFilter {
            values: vec![a, b],
            operator: Operator::Between,
        }],
        sort: Some(Sort {
            sort_order: SortOrder::Asc,
            sort_field: SortField::StudyDateAndTime,
        }),
    };
    let hits = count(between(date("20230301"), date("20230531"))).await;
    let dates: Vec<_> = hits
        .iter()
        .map(|h| h.dicom_tags.study_date.clone().unwrap())
        .collect();
    assert_eq!(
        dates,
        ["20230315", "20230415", "20230515"],
        "inclusive bounds, ascending"
    );

    // Two filters are ANDed.
    let mut both = between(date("20230101"), date("20231231"));
    both.filters.push(SearchFilter {
        values: vec![SearchValue::PatientId("ODD".into())],
        operator: Operator::Equal,
    });
    assert_eq!(count(both).await.len(), 3);

    let all = count(SearchCriteria::default()).await;
    let (lo, hi) = (
        all.iter().map(|h| h.created_at).fold(f64::MAX, f64::min),
        all.iter().map(|h| h.created_at).fold(0.0, f64::max),
    );
    assert_eq!(
        count(between(
            SearchValue::CreatedAt(lo),
            SearchValue::CreatedAt(hi)
        ))
        .await
        .len(),
        7
    );

    // Malformed filters are ValidationExceptions.
    for bad in [
        SearchCriteria {
            filters: vec![SearchFilter {
                values: vec![date("20230101")],
                operator: Operator::Between,
            }],
            sort: None,
        },
        between(
            SearchValue::PatientId("A".into()),
            SearchValue::PatientId("B".into()),
        ),
        between(date("2023"), date("20231231")),
        SearchCriteria {
            filters: vec![SearchFilter {
                values: vec![],
                operator: Operator::Equal,
            }],
            sort: None,
        },
    ] {
        let err = c
            .search_image_sets(&ds, &bad, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::Validation), "{bad:?}");
    }
}

#[tokio::test]
async fn later_imports_make_versions_or_non_primary_image_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let study = "1.2.826.0.1.3680043.10.2";
    let v = |series: &str, sop: &str, patient: &'static str| Variant {
        study_uid: study,
        series_uid: Box::leak(format!("{study}.{series}").into_boxed_str()),
        sop_uid: Box::leak(format!("{study}.{sop}").into_boxed_str()),
        patient_id: patient,
        accession: "A1",
        study_date: "20240101",
    };
    // job a: series 1. job b: a new series, consistent → version 2 of the primary.
    // job c: the same SOP instance as job a again → a separate, non-primary image set.
    write_variant(&tmp.path().join("a/1.dcm"), &v("1", "1.1", "P1"));
    write_variant(&tmp.path().join("b/1.dcm"), &v("2", "2.1", "P1"));
    write_variant(&tmp.path().join("c/1.dcm"), &v("1", "1.1", "P1"));
    let r = start(vec![tmp.path().to_owned()]).await;
    let c = client(&r.url);
    let ds = only_datastore(&r);

    let hits = c
        .search_all(&ds, &eq(SearchValue::StudyInstanceUid(study.into())))
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    let primary = hits.iter().find(|h| h.is_primary).unwrap();
    let secondary = hits.iter().find(|h| !h.is_primary).unwrap();
    assert_eq!(primary.version, 2);
    assert_eq!(primary.dicom_tags.number_of_study_related_series, 2);
    assert_eq!(secondary.version, 1);

    let v1 = c
        .get_image_set_metadata(&ds, &primary.image_set_id, Some(1))
        .await
        .unwrap();
    let v2 = c
        .get_image_set_metadata(&ds, &primary.image_set_id, Some(2))
        .await
        .unwrap();
    let latest = c
        .get_image_set_metadata(&ds, &primary.image_set_id, None)
        .await
        .unwrap();
    assert_eq!(v1.study.series.len(), 1);
    assert_eq!(v2.study.series.len(), 2);
    assert_eq!(latest, v2);

    let set = c
        .get_image_set(&ds, &primary.image_set_id, Some(1))
        .await
        .unwrap();
    assert_eq!(set.version_id, "1");
    assert_eq!(set.image_set_state, "ACTIVE");
    assert!(
        set.image_set_arn
            .ends_with(&format!("datastore/{ds}/imageset/{}", primary.image_set_id))
    );
    assert_eq!(
        c.get_image_set(&ds, &primary.image_set_id, None)
            .await
            .unwrap()
            .version_id,
        "2"
    );
    assert!(
        !c.get_image_set(&ds, &secondary.image_set_id, None)
            .await
            .unwrap()
            .is_primary
    );

    // Frames of version 1 stay retrievable after version 2.
    let f = &v1.instances().next().unwrap().2.image_frames[0].id;
    assert!(
        c.get_image_frame(&ds, &primary.image_set_id, f)
            .await
            .is_ok()
    );

    let err = c
        .get_image_set_metadata(&ds, &primary.image_set_id, Some(3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ResourceNotFound));
    let err = c
        .get_image_set(&ds, &primary.image_set_id, Some(9))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ResourceNotFound));
    let resp = raw_post(
        &r.url,
        &format!(
            "/datastore/{ds}/imageSet/{}/getImageSetMetadata?version=x",
            primary.image_set_id
        ),
        b"",
        "medical-imaging",
        SK,
    )
    .await;
    assert_aws_error(&resp, 400, "ValidationException");
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_malformed_ids_are_invalid() {
    let r = start_demo().await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let set = first_image_set(&c, &ds).await;
    let zero_ds: DatastoreId = "00000000000000000000000000000000".parse().unwrap();
    let zero_set: ImageSetId = "00000000000000000000000000000000".parse().unwrap();
    let zero_frame: ImageFrameId = "00000000000000000000000000000000".parse().unwrap();

    let kind = |e: healthimaging::client::ClientError| e.kind();
    assert_eq!(
        kind(
            c.search_image_sets(&zero_ds, &SearchCriteria::default(), None, None)
                .await
                .unwrap_err()
        ),
        Some(ErrorKind::ResourceNotFound)
    );
    assert_eq!(
        kind(
            c.get_image_set_metadata(&ds, &zero_set, None)
                .await
                .unwrap_err()
        ),
        Some(ErrorKind::ResourceNotFound)
    );
    assert_eq!(
        kind(c.get_image_set(&ds, &zero_set, None).await.unwrap_err()),
        Some(ErrorKind::ResourceNotFound)
    );
    assert_eq!(
        kind(c.get_image_frame(&ds, &set, &zero_frame).await.unwrap_err()),
        Some(ErrorKind::ResourceNotFound)
    );

    for (path, body) in [
        (
            "/datastore/NOT-AN-ID/searchImageSets".to_owned(),
            &b"{}"[..],
        ),
        (format!("/datastore/{ds}/imageSet/short/getImageSet"), b""),
    ] {
        let resp = raw_post(&r.url, &path, body, "medical-imaging", SK).await;
        assert_aws_error(&resp, 400, "ValidationException");
    }
    let resp = raw_post(
        &r.url,
        &format!("/datastore/{ds}/imageSet/{set}/deleteImageSet"),
        b"",
        "medical-imaging",
        SK,
    )
    .await;
    assert_aws_error(&resp, 404, "UnknownOperationException");
}

#[tokio::test]
async fn malformed_bodies_are_validation_errors() {
    let r = start_demo().await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let set = first_image_set(&c, &ds).await;
    let frame_path = format!("/datastore/{ds}/imageSet/{set}/getImageFrame");
    for body in [
        &b""[..],
        b"{",
        b"[]",
        b"{}",
        br#"{"imageFrameId":"abc"}"#,
        br#"{"imageFrameId":"0123456789abcdef0123456789abcdef","x":1}"#,
        &[0xff, 0xfe],
    ] {
        let resp = raw_post(&r.url, &frame_path, body, "medical-imaging", SK).await;
        assert_aws_error(&resp, 400, "ValidationException");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert!(json["message"].as_str().unwrap().contains("imageFrameId"));
    }
    let search_path = format!("/datastore/{ds}/searchImageSets");
    for body in [
        &b"{"[..],
        br#"{"filters":[{"values":[{"Nope":"x"}],"operator":"EQUAL"}]}"#,
        br#"{"filters":[{"values":[],"operator":"LIKE"}]}"#,
    ] {
        let resp = raw_post(&r.url, &search_path, body, "medical-imaging", SK).await;
        assert_aws_error(&resp, 400, "ValidationException");
    }
    let big = vec![b' '; 2 << 20];
    let resp = raw_post(&r.url, &search_path, &big, "medical-imaging", SK).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn signatures_are_checked_like_aws() {
    let r = start_demo().await;
    let ds = only_datastore(&r);
    let all = SearchCriteria::default();

    // Unsigned.
    let resp = reqwest::Client::new()
        .post(format!("{}/datastore/{ds}/searchImageSets", r.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_aws_error(&resp, 403, "MissingAuthenticationTokenException");
    assert!(resp.headers().contains_key("x-amzn-requestid"));

    // Wrong secret, unknown key, wrong service.
    let err = client_with(&r.url, AK, "wrong-secret", None, 1)
        .search_image_sets(&ds, &all, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidSignature));
    let err = client_with(&r.url, "AKIDUNKNOWN", SK, None, 1)
        .search_image_sets(&ds, &all, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::UnrecognizedClient));
    let resp = raw_post(
        &r.url,
        &format!("/datastore/{ds}/searchImageSets"),
        b"{}",
        "s3",
        SK,
    )
    .await;
    assert_aws_error(&resp, 403, "InvalidSignatureException");
    let msg = resp.text().await.unwrap();
    assert!(msg.contains("medical-imaging"), "{msg}");

    // The real SDK's signature is accepted.
    assert!(
        client(&r.url)
            .search_image_sets(&ds, &all, None, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn expired_signatures_are_rejected() {
    // The emulator's clock runs 10 minutes ahead of the client's.
    let ahead = || SystemTime::now() + Duration::from_secs(600);
    let r = start_with(
        config(vec![healthimaging::emulator::demo_data_dir()], None),
        Some(ahead),
    )
    .await;
    let ds = only_datastore(&r);
    let err = client(&r.url)
        .search_image_sets(&ds, &SearchCriteria::default(), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidSignature));
    assert!(err.to_string().contains("Signature expired"), "{err}");
}

#[tokio::test]
async fn session_tokens_are_required_when_configured() {
    let r = start_with(
        config(
            vec![healthimaging::emulator::demo_data_dir()],
            Some("session-token-1"),
        ),
        None,
    )
    .await;
    let ds = only_datastore(&r);
    let all = SearchCriteria::default();
    assert!(
        client_with(&r.url, AK, SK, Some("session-token-1"), 1)
            .search_image_sets(&ds, &all, None, None)
            .await
            .is_ok()
    );
    for token in [None, Some("other-token")] {
        let err = client_with(&r.url, AK, SK, token, 1)
            .search_image_sets(&ds, &all, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::UnrecognizedClient), "{token:?}");
    }
}

#[tokio::test]
async fn fault_injection_and_call_counters() {
    let r = start_demo().await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let all = SearchCriteria::default();
    let set = first_image_set(&c, &ds).await;
    let meta = c.get_image_set_metadata(&ds, &set, None).await.unwrap();
    let frame = meta.instances().next().unwrap().2.image_frames[0]
        .id
        .clone();
    assert_eq!(r.emulator.calls()["SearchImageSets"], 1);
    assert_eq!(r.emulator.calls()["GetImageSetMetadata"], 1);

    // Throttling, scoped to one operation; other operations are untouched.
    r.emulator.set_faults(Faults {
        throttle_rate: 1.0,
        operations: vec!["GetImageFrame".into()],
        ..Faults::default()
    });
    let err = c.get_image_frame(&ds, &set, &frame).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Throttling));
    assert!(c.search_image_sets(&ds, &all, None, None).await.is_ok());

    // The SDK retries throttling like real AWS: three attempts reach the emulator.
    r.emulator.reset();
    r.emulator.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let retrying = client_with(&r.url, AK, SK, None, 3);
    let err = retrying.get_image_set(&ds, &set, None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Throttling));
    assert_eq!(r.emulator.calls()["GetImageSet"], 3);

    // Server errors.
    r.emulator.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let err = c.get_image_frame(&ds, &set, &frame).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InternalServer));
    // Another error type, with its own status code.
    r.emulator.set_faults(Faults {
        error_rate: 1.0,
        error_type: Some("AccessDeniedException".into()),
        ..Faults::default()
    });
    let err = c.get_image_frame(&ds, &set, &frame).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::AccessDenied));

    // Latency: the call takes at least the injected delay.
    r.emulator.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let t = Instant::now();
    assert!(c.get_image_frame(&ds, &set, &frame).await.is_ok());
    assert!(t.elapsed() >= Duration::from_millis(300));

    // The same knobs over the loopback admin routes.
    r.emulator.reset();
    let http = reqwest::Client::new();
    let resp = http
        .put(format!("{}/_emulator/faults", r.url))
        .body(r#"{"error_rate": 1.0, "operations": ["GetImageSetMetadata"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let err = c.get_image_set_metadata(&ds, &set, None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InternalServer));
    let calls: serde_json::Value = http
        .get(format!("{}/_emulator/calls", r.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls, serde_json::json!({"GetImageSetMetadata": 1}));
    let bad = http
        .put(format!("{}/_emulator/faults", r.url))
        .body(r#"{"error_rate": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = http
        .put(format!("{}/_emulator/faults", r.url))
        .body(r#"{"error_rate": 1, "error_type": "NoSuchException"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    for body in [
        r#"{"nope": 1}"#,
        r#"{"error_rate": 1, "operations": ["GetImageFrames"]}"#,
        r#"{"latency_ms": 18446744073709551615}"#,
        r#"{"latency_ms": 60001}"#,
    ] {
        let bad = http
            .put(format!("{}/_emulator/faults", r.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400, "{body}");
    }
    // A known admin route with the wrong method: 405 with Allow; an unknown one: 404.
    for (method, path, allow) in [
        (reqwest::Method::POST, "faults", "GET, PUT"),
        (reqwest::Method::DELETE, "calls", "GET"),
        (reqwest::Method::GET, "reset", "POST"),
    ] {
        let resp = http
            .request(method, format!("{}/_emulator/{path}", r.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{path}");
        assert_eq!(resp.headers()["allow"], allow);
    }
    let resp = http
        .get(format!("{}/_emulator/nothing", r.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        http.post(format!("{}/_emulator/reset", r.url))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(c.get_image_set_metadata(&ds, &set, None).await.is_ok());
    assert_eq!(r.emulator.calls()["GetImageSetMetadata"], 1);
}

/// One job holding the same SOP instance twice (a file and its copy) keeps both, as AHI
/// never drops an instance it is given: the first in the study's
/// primary image set, the second in a non-primary image set of its own; the report names it.
#[tokio::test]
async fn a_job_holding_an_instance_twice_keeps_both() {
    let tmp = tempfile::tempdir().unwrap();
    let v = Variant {
        study_uid: "1.2.826.0.1.3680043.10.7",
        series_uid: "1.2.826.0.1.3680043.10.7.1",
        sop_uid: "1.2.826.0.1.3680043.10.7.1.1",
        patient_id: "P7",
        accession: "A7",
        study_date: "20240101",
    };
    write_variant(&tmp.path().join("job/a.dcm"), &v);
    write_variant(&tmp.path().join("job/b.dcm"), &v);
    write_variant(
        &tmp.path().join("job/c.dcm"),
        &Variant {
            sop_uid: "1.2.826.0.1.3680043.10.7.1.2",
            ..v
        },
    );
    let r = start(vec![tmp.path().to_owned()]).await;
    assert_eq!(r.report.instances, 3);
    assert_eq!(r.report.duplicates.len(), 1, "{:?}", r.report.duplicates);
    let d = &r.report.duplicates[0];
    assert_eq!(d.sop_uid, v.sop_uid);
    assert_eq!(d.path.file_name().unwrap(), "b.dcm");
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let hits = c.search_all(&ds, &SearchCriteria::default()).await.unwrap();
    assert_eq!(hits.len(), 2);
    let primary = hits.iter().find(|h| h.is_primary).unwrap();
    let second = hits.iter().find(|h| !h.is_primary).unwrap();
    assert_eq!(second.image_set_id, d.image_set);
    let count = |meta: &healthimaging::ImageSetMetadata| meta.instances().count();
    let meta = c
        .get_image_set_metadata(&ds, &primary.image_set_id, None)
        .await
        .unwrap();
    assert_eq!(count(&meta), 2);
    let copy = c
        .get_image_set_metadata(&ds, &second.image_set_id, None)
        .await
        .unwrap();
    assert_eq!(count(&copy), 1);
    assert_eq!(copy.instances().next().unwrap().1, v.sop_uid);
}

#[tokio::test]
async fn bad_files_are_skipped_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_variant(
        &tmp.path().join("good.dcm"),
        &Variant {
            study_uid: "1.2.3",
            series_uid: "1.2.3.1",
            sop_uid: "1.2.3.1.1",
            patient_id: "P",
            accession: "A",
            study_date: "20240101",
        },
    );
    std::fs::write(tmp.path().join("garbage.dcm"), b"this is not DICOM").unwrap();
    std::fs::write(tmp.path().join("README.txt"), b"notes").unwrap();
    let r = start(vec![tmp.path().to_owned()]).await;
    assert_eq!(r.report.instances, 1);
    let skipped: Vec<_> = r
        .report
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(skipped, ["README.txt", "garbage.dcm"]);
    assert!(r.report.skipped.iter().all(|s| !s.reason.is_empty()));
    let hits = client(&r.url)
        .search_all(&only_datastore(&r), &SearchCriteria::default())
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
}

/// Frames are read from their files when asked for: a file changed after the import is
/// refused (InternalServerException, which the edge answers with 502) rather than served as
/// frames it no longer holds.
#[tokio::test]
async fn frames_are_read_from_their_files_and_a_changed_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("one.dcm");
    write_variant(
        &file,
        &Variant {
            study_uid: "1.2.3",
            series_uid: "1.2.3.1",
            sop_uid: "1.2.3.1.1",
            patient_id: "P",
            accession: "A",
            study_date: "20240101",
        },
    );
    let r = start(vec![tmp.path().to_owned()]).await;
    let c = client(&r.url);
    let ds = only_datastore(&r);
    let is = first_image_set(&c, &ds).await;
    let meta = c.get_image_set_metadata(&ds, &is, None).await.unwrap();
    let (_, _, inst) = meta.instances().next().expect("one instance");
    let frame = inst.image_frames[0].id.clone();
    let served = c.get_image_frame(&ds, &is, &frame).await.unwrap();
    let obj = dicom_object::open_file(&file).unwrap();
    let pixels = obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap();
    assert_eq!(served.bytes.as_ref(), pixels.to_bytes().unwrap().as_ref());

    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"\0\0");
    std::fs::write(&file, &bytes).unwrap();
    let err = c.get_image_frame(&ds, &is, &frame).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InternalServer), "{err:?}");
    assert!(
        err.to_string().contains("changed after the import"),
        "{err}"
    );
}

#[tokio::test]
async fn quotas_throttle_calls_over_the_rate_and_the_sdk_retries_them() {
    use healthimaging::emulator::quotas::{Quota, Quotas};
    let r = start_demo().await;
    let ds = only_datastore(&r);
    let all = SearchCriteria::default();
    // AHI's own numbers: the 51st search at once is over the burst of 50.
    r.emulator.set_quotas(Quotas::aws_default());
    let once = client_with(&r.url, AK, SK, None, 1);
    let searches = futures_util::future::join_all(
        (0..60).map(|_| once.search_image_sets(&ds, &all, Some(1), None)),
    )
    .await;
    let refused = searches
        .iter()
        .filter(|s| matches!(s, Err(e) if e.kind() == Some(ErrorKind::Throttling)))
        .count();
    assert!(searches.iter().filter(|s| s.is_ok()).count() >= 50);
    assert!(refused >= 1, "60 searches at once, none throttled");
    assert_eq!(r.emulator.throttled()["SearchImageSets"], refused as u64);

    // The refusal is AHI's: 429, `x-amzn-ErrorType: ThrottlingException`, a JSON message;
    // only signed calls count (an unsigned one is refused before the quota).
    r.emulator.set_quotas(Quotas(
        [(
            "GetImageSet".to_owned(),
            Quota {
                rate: 0.001,
                burst: 1,
            },
        )]
        .into(),
    ));
    let set = first_image_set(&once, &ds).await;
    assert!(once.get_image_set(&ds, &set, None).await.is_ok());
    let err = once.get_image_set(&ds, &set, None).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Throttling));
    let http = reqwest::Client::new();
    let unsigned = http
        .post(format!(
            "{}/datastore/{ds}/imageSet/{set}/getImageSet",
            r.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let q: serde_json::Value = http
        .get(format!("{}/_emulator/quotas", r.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        q,
        serde_json::json!({"quotas": {"GetImageSet": {"rate": 0.001, "burst": 1}},
                           "throttled": {"GetImageSet": 1}})
    );

    // The SDK's standard retries back off (full jitter, doubling from 1 s) and get through
    // once the bucket refills: a token every 500 ms.
    r.emulator.set_quotas(Quotas(
        [(
            "GetImageSetMetadata".to_owned(),
            Quota {
                rate: 2.0,
                burst: 1,
            },
        )]
        .into(),
    ));
    let retrying = client_with(&r.url, AK, SK, None, 10);
    assert!(
        retrying
            .get_image_set_metadata(&ds, &set, None)
            .await
            .is_ok()
    );
    let second = retrying.get_image_set_metadata(&ds, &set, None).await;
    assert!(second.is_ok(), "{:?}", second.err());
    assert!(r.emulator.throttled()["GetImageSetMetadata"] >= 1);

    // Quotas over the admin route are checked.
    for (body, why) in [
        (
            r#"{"GetImageFrame": {"rate": 0, "burst": 1}}"#,
            "rate above 0",
        ),
        (r#"{"Nope": {"rate": 1, "burst": 1}}"#, "not an operation"),
        (r#"{"GetImageFrame": {"rate": 1}}"#, "invalid quotas"),
    ] {
        let resp = http
            .put(format!("{}/_emulator/quotas", r.url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        assert!(resp.text().await.unwrap().contains(why), "{body}");
    }
}
