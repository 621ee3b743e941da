//! WADO-RS metadata (PS3.18 §10.4.1.1.2 and Annex F): valid DICOM JSON at every level, the
//! levels consistent with each other and with QIDO-RS, content coding and validators.

use std::collections::BTreeSet;
use std::io::Read;

use super::qido::{SERIES_INSTANCES, SERIES_UID, SOP_UID, STUDY_UID};
use super::{Ctx, DICOM_JSON, Outcome, UNKNOWN_UID, expect_status};
use crate::dicom_json::{self, Object, first, values};
use crate::http::Request;

/// Attributes whose values a server may spell differently per level (the URI of the level
/// it was read through); left out when levels are compared.
fn comparable(tag: &str, attr: &serde_json::Value) -> bool {
    attr.get("BulkDataURI").is_none() && tag != "00081190"
}

/// Where two objects of the same instance disagree.
fn differences(a: &Object, b: &Object) -> Vec<String> {
    let mut out = Vec::new();
    for (tag, attr) in a {
        if !comparable(tag, attr) {
            continue;
        }
        let (va, vb) = (values(a, tag), values(b, tag));
        if va != vb {
            out.push(format!("{tag}: {va:?} vs {vb:?}"));
        }
    }
    out
}

/// What is wrong when some objects of a level's metadata lack one of the level's UIDs
/// (`(tag, UID)` pairs); empty when every object belongs.
fn strays(objects: &[Object], level: &[(&str, &str)]) -> Vec<String> {
    let n = objects
        .iter()
        .filter(|o| {
            level
                .iter()
                .any(|(tag, uid)| first(o, tag).as_deref() != Some(*uid))
        })
        .count();
    if n == 0 {
        return Vec::new();
    }
    let names: Vec<&str> = level.iter().map(|(tag, _)| *tag).collect();
    vec![format!("{n} objects with another {}", names.join(" or "))]
}

pub async fn instance(ctx: &Ctx) -> Outcome {
    let url = format!("{}/metadata", ctx.target.instance_url());
    let ex = ctx.get(url, DICOM_JSON).await;
    let expected = format!(
        "200, Content-Type: application/dicom+json, one valid DICOM JSON object of SOP instance {}",
        ctx.target.instance
    );
    let ct = ex.header("content-type").unwrap_or_default().to_owned();
    let media_ok = ct
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(DICOM_JSON));
    match dicom_json::objects(&ex) {
        Ok(objects) => {
            let problems: Vec<String> = objects.iter().flat_map(dicom_json::problems).collect();
            let sop = objects.first().and_then(|o| first(o, SOP_UID));
            let ok = ex.status == 200
                && media_ok
                && objects.len() == 1
                && problems.is_empty()
                && sop.as_deref() == Some(ctx.target.instance.as_str());
            let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
            Outcome::judge(
                ok,
                ex.sent.clone(),
                expected,
                format!(
                    "{}, Content-Type: {ct:?}, {} objects, SOPInstanceUID {sop:?}, {} problems{}",
                    ex.status,
                    objects.len(),
                    problems.len(),
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", shown.join("; "))
                    }
                ),
            )
        }
        Err(e) => Outcome::judge(false, ex.sent, expected, e),
    }
}

/// The metadata of a whole series or study, with its problems counted.
async fn level(ctx: &Ctx, path: String) -> (String, Result<Vec<Object>, String>) {
    let ex = ctx.json(&path).await;
    let found = dicom_json::objects(&ex).and_then(|objects| {
        let problems: Vec<String> = objects.iter().flat_map(dicom_json::problems).collect();
        match problems.first() {
            None => Ok(objects),
            Some(p) => Err(format!(
                "{} DICOM JSON problems, the first: {p}",
                problems.len()
            )),
        }
    });
    (ex.sent, found)
}

pub async fn series(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let instance = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let (sent, found) = level(
        ctx,
        format!("/studies/{}/series/{}/metadata", t.study, t.series),
    )
    .await;
    let (qido_sent, qido) = {
        let ex = ctx.json(&format!("/studies/{}/series", t.study)).await;
        (ex.sent.clone(), dicom_json::objects(&ex))
    };
    let sent = format!("{sent}\n{qido_sent}");
    let expected = "valid DICOM JSON; every object in the study and series, SOP instances \
                    distinct, as many as QIDO-RS's NumberOfSeriesRelatedInstances, the \
                    instance's object equal to its instance-level metadata";
    let objects = match found {
        Ok(o) => o,
        Err(e) => return Outcome::judge(false, sent, expected, e),
    };
    let mut wrong = strays(&objects, &[(STUDY_UID, &t.study), (SERIES_UID, &t.series)]);
    let sops: BTreeSet<String> = objects.iter().filter_map(|o| first(o, SOP_UID)).collect();
    if sops.len() != objects.len() {
        wrong.push(format!(
            "{} objects, {} distinct SOP instances",
            objects.len(),
            sops.len()
        ));
    }
    let counted = qido.ok().and_then(|q| {
        q.into_iter()
            .find(|o| first(o, SERIES_UID).as_deref() == Some(t.series.as_str()))
            .and_then(|o| first(&o, SERIES_INSTANCES))
            .and_then(|n| n.parse::<usize>().ok())
    });
    if counted != Some(objects.len()) {
        wrong.push(format!(
            "{} objects, QIDO-RS NumberOfSeriesRelatedInstances {counted:?}",
            objects.len()
        ));
    }
    match objects
        .iter()
        .find(|o| first(o, SOP_UID).as_deref() == Some(t.instance.as_str()))
    {
        None => wrong.push("the instance is missing".into()),
        Some(o) => {
            let d = differences(&instance, o);
            if !d.is_empty() {
                wrong.push(format!(
                    "the instance differs from its instance-level metadata: {}",
                    d.join("; ")
                ));
            }
        }
    }
    Outcome::listing(
        sent,
        expected,
        &wrong,
        format!("{} objects, consistent", objects.len()),
    )
}

pub async fn study(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let (sent, found) = level(ctx, format!("/studies/{}/metadata", t.study)).await;
    let series_ex = ctx.json(&format!("/studies/{}/series", t.study)).await;
    let study_ex = ctx
        .json(&format!("/studies?StudyInstanceUID={}", t.study))
        .await;
    let sent = format!("{sent}\n{}\n{}", series_ex.sent, study_ex.sent);
    let expected = "valid DICOM JSON; every object in the study; the series are QIDO-RS's \
                    series of the study, and the objects as many as its \
                    NumberOfStudyRelatedInstances";
    let objects = match found {
        Ok(o) => o,
        Err(e) => return Outcome::judge(false, sent, expected, e),
    };
    let mut wrong = strays(&objects, &[(STUDY_UID, &t.study)]);
    let in_metadata: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| first(o, SERIES_UID))
        .collect();
    let in_qido: Option<BTreeSet<String>> = dicom_json::objects(&series_ex)
        .ok()
        .map(|q| q.iter().filter_map(|o| first(o, SERIES_UID)).collect());
    if in_qido.as_ref() != Some(&in_metadata) {
        wrong.push(format!(
            "series in the metadata {in_metadata:?}, by QIDO-RS {in_qido:?}"
        ));
    }
    let counted = dicom_json::objects(&study_ex)
        .ok()
        .and_then(|q| q.into_iter().next())
        .and_then(|o| first(&o, "00201208"))
        .and_then(|n| n.parse::<usize>().ok());
    if counted != Some(objects.len()) {
        wrong.push(format!(
            "{} objects, QIDO-RS NumberOfStudyRelatedInstances {counted:?}",
            objects.len()
        ));
    }
    if !objects
        .iter()
        .any(|o| first(o, SOP_UID).as_deref() == Some(t.instance.as_str()))
    {
        wrong.push("the instance is missing".into());
    }
    Outcome::listing(
        sent,
        expected,
        &wrong,
        format!(
            "{} objects in {} series, consistent",
            objects.len(),
            in_metadata.len()
        ),
    )
}

pub async fn qido_consistent(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let meta = match ctx.instance_metadata().await {
        Ok(m) => m,
        Err(o) => return o,
    };
    let path = format!(
        "/studies/{}/series/{}/instances?SOPInstanceUID={}&includefield=all",
        t.study, t.series, t.instance
    );
    let ex = ctx.json(&path).await;
    let expected = "every attribute of the instance's QIDO-RS record that its metadata has \
                    carries the same values";
    let record = match dicom_json::objects(&ex) {
        Ok(found) => found.into_iter().next(),
        Err(e) => return Outcome::judge(false, ex.sent, expected, e),
    };
    let Some(record) = record else {
        return Outcome::judge(false, ex.sent, expected, "the instance was not found");
    };
    let mut compared = 0;
    let mut wrong = Vec::new();
    for (tag, attr) in &record {
        if !comparable(tag, attr) || !meta.contains_key(tag) {
            continue;
        }
        let Some(want) = values(&meta, tag) else {
            continue;
        };
        compared += 1;
        let got = values(&record, tag);
        if got.as_ref() != Some(&want) {
            wrong.push(format!("{tag}: QIDO-RS {got:?}, metadata {want:?}"));
        }
    }
    Outcome::judge(
        wrong.is_empty() && compared > 0,
        ex.sent.clone(),
        expected,
        if wrong.is_empty() {
            format!("{compared} attributes compared, all equal")
        } else {
            wrong.join("; ")
        },
    )
}

pub async fn gzip(ctx: &Ctx) -> Outcome {
    let url = format!("{}/metadata", ctx.target.instance_url());
    let plain = ctx.get(url.clone(), DICOM_JSON).await;
    let ex = ctx
        .send(
            Request::get(url)
                .accept(DICOM_JSON)
                .header("Accept-Encoding", "gzip"),
        )
        .await;
    let expected = "Content-Encoding: gzip, and the body inflates to the uncompressed answer";
    let sent = format!("{}\n{}", ex.sent, plain.sent);
    let coding = ex.header("content-encoding").unwrap_or_default().to_owned();
    if ex.status != 200 || !coding.eq_ignore_ascii_case("gzip") {
        return Outcome::judge(
            false,
            sent,
            expected,
            format!("{}; Content-Encoding: {coding:?}", ex.summary()),
        );
    }
    let mut inflated = Vec::new();
    let read = flate2::read::GzDecoder::new(&ex.body[..]).read_to_end(&mut inflated);
    let same = |a: &[u8], b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(a).ok()
            == serde_json::from_slice::<serde_json::Value>(b).ok()
    };
    let ok =
        read.is_ok() && same(&inflated, &plain.body) && plain.header("content-encoding").is_none();
    Outcome::judge(
        ok,
        sent,
        expected,
        format!(
            "{} compressed bytes, {} inflated{}, uncompressed answer {} bytes (Content-Encoding {:?})",
            ex.body.len(),
            inflated.len(),
            if read.is_err() {
                " (not valid gzip)"
            } else {
                ""
            },
            plain.body.len(),
            plain.header("content-encoding")
        ),
    )
}

pub async fn validators(ctx: &Ctx) -> Outcome {
    let url = format!("{}/metadata", ctx.target.instance_url());
    let first_answer = ctx.get(url.clone(), DICOM_JSON).await;
    let Some(etag) = first_answer.header("etag") else {
        return Outcome::judge(
            false,
            first_answer.sent.clone(),
            "an ETag, and 304 for If-None-Match with it",
            format!("{}; no ETag", first_answer.summary()),
        );
    };
    let ex = ctx
        .send(
            Request::get(url)
                .accept(DICOM_JSON)
                .header("If-None-Match", etag),
        )
        .await;
    Outcome::judge(
        ex.status == 304 && ex.body.is_empty(),
        format!("{}\n{}", first_answer.sent, ex.sent),
        "an ETag, and 304 for If-None-Match with it",
        format!("ETag {etag}; {}", ex.summary()),
    )
}

pub async fn unknown(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let ex = ctx
        .json(&format!(
            "/studies/{}/series/{}/instances/{UNKNOWN_UID}/metadata",
            t.study, t.series
        ))
        .await;
    expect_status(&ex, 404)
}
