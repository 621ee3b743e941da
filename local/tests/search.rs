//! QIDO-RS through the local stack: each matching rule, ordering, paging, includefield,
//! refusals, and what the answers hold.

mod common;

use common::*;
use serde_json::Value;

async fn search(s: &stack_types::RunningStack, path: &str) -> (u16, Vec<Value>, String) {
    let (status, _, body) = get(s, path, Some("application/dicom+json")).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = if status == 200 {
        serde_json::from_slice(&body).expect("a JSON array")
    } else {
        Vec::new()
    };
    (status, json, text)
}

mod stack_types {
    pub use dicomweb_edge::stack::RunningStack;
}

fn values(items: &[Value], tag: &str) -> Vec<String> {
    items
        .iter()
        .map(|o| match &o[tag]["Value"][0] {
            Value::String(s) => s.clone(),
            Value::Object(pn) => pn["Alphabetic"].as_str().unwrap_or_default().to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studies_match_page_and_describe() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let root = format!("/datastore/{}/studies", ct.datastore);

    let (status, all, _) = search(&s, &root).await;
    assert_eq!(status, 200);
    // Newest first: the MR study (2024-02-20) before the CT study (2024-01-15).
    assert_eq!(values(&all, "00100010"), ["COLOR^MIXED", "PHANTOM^CHEST"]);
    let ct_study = &all[1];
    assert_eq!(ct_study["0020000D"]["Value"][0], ct.study.as_str());
    assert_eq!(
        ct_study["00080061"]["Value"],
        serde_json::json!(["CT", "OT"])
    );
    assert_eq!(ct_study["00201206"]["Value"][0], 3);
    assert_eq!(ct_study["00201208"]["Value"][0], 73);
    assert_eq!(ct_study["00080050"]["Value"][0], "ACC-0001");

    let mr = "COLOR^MIXED";
    let chest = "PHANTOM^CHEST";
    for (query, want) in [
        ("PatientName=phantom*", vec![chest]),
        ("PatientName=*MIXED", vec![mr]),
        ("PatientName=PH%3FNTOM%5ECHEST", vec![chest]),
        ("PatientID=DEMO002", vec![mr]),
        ("PatientID=demo002", vec![]),
        ("PatientID=demo002&fuzzymatching=true", vec![mr]),
        ("AccessionNumber=ACC-0001", vec![chest]),
        ("StudyDate=20240201-", vec![mr]),
        ("StudyDate=-20240131", vec![chest]),
        ("StudyDate=20240101-20241231", vec![mr, chest]),
        ("ModalitiesInStudy=MR", vec![mr]),
        ("ModalitiesInStudy=OT", vec![chest]),
        (&format!("StudyInstanceUID={}", ct.study), vec![chest]),
        (&format!("StudyInstanceUID=1.2.3,{}", ct.study), vec![chest]),
        ("PatientID=NOBODY", vec![]),
        ("limit=1", vec![mr]),
        ("limit=1&offset=1", vec![chest]),
        ("offset=2", vec![]),
        ("limit=0", vec![]),
    ] {
        let (status, found, body) = search(&s, &format!("{root}?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(values(&found, "00100010"), want, "{query}");
    }

    // includefield adds what the defaults lack; a filter's attribute is returned.
    let (_, found, _) = search(&s, &format!("{root}?includefield=PatientAge")).await;
    assert!(
        found[0].get("00101010").is_none(),
        "not in the summary, not invented"
    );
    let (_, found, _) = search(&s, &format!("{root}?limit=1")).await;
    let keys: Vec<&String> = found[0].as_object().unwrap().keys().collect();
    for tag in [
        "00080020", "00080061", "00100010", "00100020", "0020000D", "00201208",
    ] {
        assert!(keys.iter().any(|k| *k == tag), "{tag} in {keys:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_and_instances_of_a_study() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let htj2k = demo_series(&s, "Axial 3mm HTJ2K");
    let cine = &demo_series(&s, "Rotating phantom")[0];
    let study = format!("/datastore/{}/studies/{}", cine.datastore, cine.study);

    let (status, series, _) = search(&s, &format!("{study}/series")).await;
    assert_eq!(status, 200);
    assert_eq!(
        values(&series, "0008103E"),
        [
            "Axial 3mm HTJ2K",
            "Axial 24mm uncompressed",
            "Rotating phantom cine (36 frames)"
        ]
    );
    assert_eq!(values(&series, "00201209"), ["64", "8", "1"]);
    for (query, want) in [
        ("Modality=OT", 1),
        ("Modality=CT", 2),
        ("SeriesDescription=*uncompressed", 1),
        ("SeriesNumber=2", 1),
        (&format!("SeriesInstanceUID={}", cine.series), 1),
    ] {
        let (_, found, _) = search(&s, &format!("{study}/series?{query}")).await;
        assert_eq!(found.len(), want, "{query}");
    }

    let instances = format!("{study}/series/{}/instances", htj2k[0].series);
    let (_, all, _) = search(&s, &instances).await;
    assert_eq!(all.len(), 64);
    let numbers: Vec<String> = values(&all, "00200013");
    let expected: Vec<String> = (1..=64).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected, "InstanceNumber order");
    assert_eq!(values(&all[..1], "00080018"), [htj2k[0].sop.clone()]);
    assert_eq!(all[0]["00083002"]["Value"][0], "1.2.840.10008.1.2.4.202");
    let (_, page, _) = search(&s, &format!("{instances}?limit=10&offset=60")).await;
    assert_eq!(values(&page, "00200013"), ["61", "62", "63", "64"]);
    let (_, one, _) = search(&s, &format!("{instances}?InstanceNumber=5")).await;
    assert_eq!(values(&one, "00080018"), [htj2k[4].sop.clone()]);

    let (_, cine_instances, _) =
        search(&s, &format!("{study}/series/{}/instances", cine.series)).await;
    assert_eq!(cine_instances[0]["00280008"]["Value"][0], 36);
    let (_, everything, _) = search(
        &s,
        &format!("{study}/series/{}/instances?includefield=all", cine.series),
    )
    .await;
    assert!(
        everything[0].as_object().unwrap().len() > cine_instances[0].as_object().unwrap().len()
    );
    assert!(everything[0].get("00020010").is_none(), "no file meta");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_is_wrong() {
    let s = start_demo(|o| o.cache_bytes = 0).await;
    let ct = &demo_series(&s, "Axial 3mm HTJ2K")[0];
    let root = format!("/datastore/{}/studies", ct.datastore);
    for (query, needle) in [
        ("limit=-1", "limit"),
        ("offset=many", "offset"),
        ("fuzzymatching=maybe", "fuzzymatching"),
        ("Frobnicate=1", "Frobnicate"),
        ("includefield=NotAThing", "includefield"),
        ("StudyDate=Jan2024", "StudyDate"),
        ("StudyInstanceUID=1.2.x", "StudyInstanceUID"),
    ] {
        let (status, _, body) = search(&s, &format!("{root}?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(needle), "{query}: {body}");
    }
    let unknown = "2.25.99";
    let (status, _, body) = search(&s, &format!("{root}/{unknown}/series")).await;
    assert_eq!((status, body.trim_end()), (404, "study 2.25.99 not found"));
    let (status, _, _) = search(
        &s,
        &format!("{root}/{}/series/{unknown}/instances", ct.study),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = get(
        &s,
        &root,
        Some(r#"multipart/related; type="application/dicom+xml""#),
    )
    .await;
    assert_eq!(status, 406);
}
