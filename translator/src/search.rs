//! QIDO-RS (PS3.18 §10.6): studies from SearchImageSets summaries, series and instances from
//! the study's metadata documents (the resolver's caches), matched by `dicomweb::qido`.
//!
//! - Studies: one filter goes to SearchImageSets when the query has an exact
//!   StudyInstanceUID, PatientID or AccessionNumber (AHI's EQUAL on an indexed field); the
//!   rest is matched here. Image sets of one study are merged (primary first); the study's
//!   counts add up its primary image sets. ModalitiesInStudy comes from the metadata
//!   documents, read only for the studies on the answered page unless the query matches on
//!   it. Studies come newest first (StudyDate, StudyTime), then by UID.
//! - Series and instances: the attributes of the documents, one record per series or
//!   instance, in SeriesNumber / InstanceNumber order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::dicom_json::Converter;
use axum::body::Body;
use dicomweb::Uid;
use dicomweb::json::DicomJson;
use dicomweb::qido::{self, Include, Query};
use healthimaging::api::{ImageSetSummary, Operator, SearchCriteria, SearchFilter, SearchValue};
use healthimaging::{DatastoreId, ImageSetId, ImageSetMetadata};
use http::Response;
use http::request::Parts;
use serde_json::{Map, Value, json};

use super::Translator;
use super::metadata::json_answer;
use super::resolve::Document;
use edge::EdgeError;
use edge::http_rules::accept_value;

use dicomweb::attributes::{INSTANCE_DEFAULTS, SERIES_DEFAULTS, STUDY_DEFAULTS};

fn check_accept(req: &Parts) -> Result<Query, EdgeError> {
    crate::plan::json(accept_value(req.uri.query(), &req.headers).as_deref())?;
    Ok(qido::parse(req.uri.query())?)
}

/// The record as DICOM JSON, reduced to the level's defaults and what the query asks for;
/// `vrs` are the VRs HealthImaging recorded for an instance's attributes (`DICOMVRs`: private
/// tags, and the attributes whose VR the dictionary leaves open), empty for study and series
/// records.
fn project(
    record: &Map<String, Value>,
    vrs: &BTreeMap<String, String>,
    defaults: &[&str],
    query: &Query,
) -> Value {
    let kept: Map<String, Value> = record
        .iter()
        .filter(|(k, _)| defaults.contains(&k.as_str()) || query.wants(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let converter = Converter {
        vrs,
        bulkdata: None,
        inline_limit: usize::MAX,
        for_file: false,
    };
    let mut out = DicomJson::new();
    converter.convert(&kept, &mut out);
    Value::Object(out.into_iter().collect())
}

/// `GET …/studies`.
pub async fn studies(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
) -> Result<Response<Body>, EdgeError> {
    let query = check_accept(req)?;
    let criteria = pushed_criteria(&query);
    let mut summaries = tr.upstream.search(&datastore, &criteria).await?;
    summaries.sort_by(crate::resolve::preference);
    let mut studies: BTreeMap<String, (Map<String, Value>, Vec<ImageSetId>)> = BTreeMap::new();
    for s in &summaries {
        let Some(uid) = s.dicom_tags.study_instance_uid.clone() else {
            continue;
        };
        let entry = studies
            .entry(uid)
            .or_insert_with(|| (study_record(s), Vec::new()));
        if s.is_primary && !entry.1.is_empty() {
            add_counts(&mut entry.0, s);
        }
        entry.1.push(s.image_set_id.clone());
    }
    let by_details = query.filters.iter().any(|f| {
        f.keyword == "ModalitiesInStudy" || DETAILS_FROM_METADATA.contains(&f.keyword.as_str())
    });
    let mut found = Vec::new();
    for (_, (mut record, image_sets)) in studies {
        if by_details {
            record.extend(study_details(tr, &datastore, &image_sets).await?);
        }
        if query.matches(&record) {
            found.push((record, image_sets));
        }
    }
    found.sort_by(|(a, _), (b, _)| {
        let key = |r: &Map<String, Value>| {
            ["StudyDate", "StudyTime"]
                .map(|k| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned())
        };
        key(b).cmp(&key(a)).then_with(|| {
            a.get("StudyInstanceUID")
                .and_then(Value::as_str)
                .cmp(&b.get("StudyInstanceUID").and_then(Value::as_str))
        })
    });
    let mut answer = Vec::new();
    for (mut record, image_sets) in query.page(found) {
        if !by_details {
            record.extend(study_details(tr, &datastore, &image_sets).await?);
        }
        answer.push(project(&record, &BTreeMap::new(), STUDY_DEFAULTS, &query));
    }
    Ok(json_answer(tr, req, &answer))
}

/// The SearchImageSets criteria a query can be narrowed by: one EQUAL filter when the query
/// has an exact StudyInstanceUID, PatientID or AccessionNumber (AHI's EQUAL is
/// case-sensitive, so fuzzy matching is done here only).
fn pushed_criteria(query: &Query) -> SearchCriteria {
    let exact = |keyword: &str| {
        if query.fuzzy {
            return None;
        }
        query
            .filters
            .iter()
            .find(|f| f.keyword == keyword && !f.value.is_empty())
            .map(|f| f.value.clone())
            .filter(|v| !v.contains(['*', '?', ',', '\\', '-']))
    };
    let pushed = exact("StudyInstanceUID")
        .map(SearchValue::StudyInstanceUid)
        .or_else(|| exact("PatientID").map(SearchValue::PatientId))
        .or_else(|| exact("AccessionNumber").map(SearchValue::AccessionNumber));
    SearchCriteria {
        filters: pushed
            .into_iter()
            .map(|v| SearchFilter {
                operator: Operator::Equal,
                values: vec![v],
            })
            .collect(),
        sort: None,
    }
}

/// A study's attributes as AHI's summary gives them, keyed by keyword.
fn study_record(s: &ImageSetSummary) -> Map<String, Value> {
    let t = &s.dicom_tags;
    let mut r = Map::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            r.insert(k.into(), Value::String(v.clone()));
        }
    };
    put("PatientName", &t.patient_name);
    put("PatientID", &t.patient_id);
    put("PatientBirthDate", &t.patient_birth_date);
    put("PatientSex", &t.patient_sex);
    put("StudyInstanceUID", &t.study_instance_uid);
    put("StudyID", &t.study_id);
    put("StudyDescription", &t.study_description);
    put("AccessionNumber", &t.accession_number);
    put("StudyDate", &t.study_date);
    put("StudyTime", &t.study_time);
    r.insert(
        "NumberOfStudyRelatedSeries".into(),
        json!(t.number_of_study_related_series),
    );
    r.insert(
        "NumberOfStudyRelatedInstances".into(),
        json!(t.number_of_study_related_instances),
    );
    r
}

/// Adds another primary image set's counts to a study's.
fn add_counts(record: &mut Map<String, Value>, s: &ImageSetSummary) {
    for (k, n) in [
        (
            "NumberOfStudyRelatedSeries",
            s.dicom_tags.number_of_study_related_series,
        ),
        (
            "NumberOfStudyRelatedInstances",
            s.dicom_tags.number_of_study_related_instances,
        ),
    ] {
        let have = record.get(k).and_then(Value::as_u64).unwrap_or(0);
        record.insert(k.into(), json!(have + u64::from(n)));
    }
}

/// Study attributes a search summary lacks, read from the study's metadata documents:
/// ModalitiesInStudy (the distinct Modality values of its series, sorted) and the study-level
/// attributes of PS3.18 Table 10.6.3-3 that AHI's summaries leave out (ReferringPhysicianName).
async fn study_details(
    tr: &Translator,
    datastore: &DatastoreId,
    image_sets: &[ImageSetId],
) -> Result<Map<String, Value>, EdgeError> {
    let mut set = BTreeSet::new();
    let mut details = Map::new();
    for is in image_sets {
        let doc = tr.resolver.document(datastore, is).await?;
        for s in doc.metadata.study.series.values() {
            if let Some(m) = s.dicom.get("Modality").and_then(Value::as_str) {
                set.insert(m.to_owned());
            }
        }
        for k in DETAILS_FROM_METADATA {
            if let Some(v) = doc.metadata.study.dicom.get(*k)
                && !details.contains_key(*k)
            {
                details.insert((*k).to_owned(), v.clone());
            }
        }
    }
    details.insert(
        "ModalitiesInStudy".into(),
        Value::Array(set.into_iter().map(Value::String).collect()),
    );
    Ok(details)
}

/// Study-level attributes taken from the metadata documents rather than the summaries.
const DETAILS_FROM_METADATA: &[&str] = &["ReferringPhysicianName"];

/// The study's documents, primary first; 404 when no image set holds it.
async fn documents(
    tr: &Translator,
    datastore: &DatastoreId,
    study: &Uid,
) -> Result<Vec<Arc<Document>>, EdgeError> {
    let image_sets = tr.resolver.image_sets_of(datastore, study).await?;
    if image_sets.is_empty() {
        return Err(EdgeError::NotFound(format!("study {study} not found")));
    }
    let mut docs = Vec::new();
    for is in image_sets.iter() {
        docs.push(tr.resolver.document(datastore, is).await?);
    }
    Ok(docs)
}

fn number(r: &Map<String, Value>, k: &str) -> i64 {
    match r.get(k) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn merged(levels: &[&Map<String, Value>]) -> Map<String, Value> {
    let mut r = Map::new();
    for level in levels {
        r.extend(level.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    r
}

/// One record per series of `docs` (the first document holding a series wins), matched.
fn series_records(docs: &[Arc<Document>], query: &Query) -> Vec<Map<String, Value>> {
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    for doc in docs {
        let doc: &ImageSetMetadata = &doc.metadata;
        for (uid, s) in &doc.study.series {
            if !seen.insert(uid.clone()) {
                continue;
            }
            let mut r = merged(&[&doc.patient.dicom, &doc.study.dicom, &s.dicom]);
            r.insert(
                "NumberOfSeriesRelatedInstances".into(),
                json!(s.instances.len()),
            );
            if query.matches(&r) {
                records.push(r);
            }
        }
    }
    records
}

/// An instance's record: its attributes with those of its series, study and patient, and
/// the VRs HealthImaging recorded for them.
struct InstanceRecord<'a> {
    attrs: Map<String, Value>,
    vrs: &'a BTreeMap<String, String>,
}

/// One record per instance of `docs` (of one series, or of all), matched; and whether the
/// series was found.
fn instance_records<'a>(
    docs: &'a [Arc<Document>],
    series: Option<&str>,
    query: &Query,
) -> (Vec<InstanceRecord<'a>>, bool) {
    let mut seen = BTreeSet::new();
    let mut records = Vec::new();
    let mut series_found = false;
    for doc in docs {
        let doc: &ImageSetMetadata = &doc.metadata;
        for (se, s) in &doc.study.series {
            if series.is_some_and(|want| want != se) {
                continue;
            }
            series_found = true;
            for (sop, inst) in &s.instances {
                if !seen.insert(sop.clone()) {
                    continue;
                }
                let mut r = merged(&[&doc.patient.dicom, &doc.study.dicom, &s.dicom, &inst.dicom]);
                // As the metadata answer gives them (`metadata::instance_json`).
                r.insert(
                    "AvailableTransferSyntaxUID".into(),
                    json!(inst.transfer_syntax()),
                );
                if inst.image_frames.len() > 1 || r.contains_key("NumberOfFrames") {
                    r.insert("NumberOfFrames".into(), json!(inst.image_frames.len()));
                }
                r.retain(|k, _| !crate::dicom_json::is_file_meta(k));
                if query.matches(&r) {
                    records.push(InstanceRecord {
                        attrs: r,
                        vrs: &inst.dicom_vrs,
                    });
                }
            }
        }
    }
    (records, series_found)
}

fn text<'a>(r: &'a Map<String, Value>, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn instance_answer(query: &Query, records: Vec<InstanceRecord>) -> Vec<Value> {
    let all = matches!(query.include, Include::All);
    let defaults = if all { &[][..] } else { INSTANCE_DEFAULTS };
    query
        .page(records)
        .iter()
        .map(|r| project(&r.attrs, r.vrs, defaults, query))
        .collect()
}

/// `GET …/studies/{study}/series`.
pub async fn series(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    study: Uid,
) -> Result<Response<Body>, EdgeError> {
    let query = check_accept(req)?;
    let docs = documents(tr, &datastore, &study).await?;
    let mut records = series_records(&docs, &query);
    records.sort_by_key(|r| number(r, "SeriesNumber"));
    let answer: Vec<Value> = query
        .page(records)
        .iter()
        .map(|r| project(r, &BTreeMap::new(), SERIES_DEFAULTS, &query))
        .collect();
    Ok(json_answer(tr, req, &answer))
}

/// `GET …/studies/{study}/series/{series}/instances`.
pub async fn instances(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    study: Uid,
    series: Uid,
) -> Result<Response<Body>, EdgeError> {
    let query = check_accept(req)?;
    let docs = documents(tr, &datastore, &study).await?;
    let (mut records, series_found) = instance_records(&docs, Some(series.as_str()), &query);
    if !series_found {
        return Err(EdgeError::NotFound(format!(
            "series {series} not found in study {study}"
        )));
    }
    records.sort_by_key(|r| number(&r.attrs, "InstanceNumber"));
    Ok(json_answer(tr, req, &instance_answer(&query, records)))
}

/// The level of a search across studies or series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Series,
    Instances,
}

/// Image sets a search across studies reads at most: each costs one GetImageSetMetadata
/// (cached), so the cost of `{root}/series` is bounded whatever the datastore's size.
pub const MAX_IMAGE_SETS_ACROSS_STUDIES: usize = 100;

/// Study attributes the image-set summaries carry, by which a search across studies is
/// narrowed before any metadata document is read.
const SUMMARY_KEYS: &[&str] = &[
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "StudyDate",
    "StudyTime",
];

/// QIDO-RS across levels (PS3.18 §10.6.1, Table 10.6.1-2): `{root}/series`,
/// `{root}/instances` and `…/studies/{st}/instances`. Without a study, the image sets are
/// those SearchImageSets returns for the query's exact StudyInstanceUID, PatientID or
/// AccessionNumber, narrowed by the study attributes of their summaries; when more than
/// [`MAX_IMAGE_SETS_ACROSS_STUDIES`] remain, the answer is 400 asking for a narrower query
/// rather than reading every document of the datastore. Cost: one SearchImageSets (AHI
/// pages it by 50 image sets) and one GetImageSetMetadata per image set read.
pub async fn across(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    study: Option<Uid>,
    level: Level,
) -> Result<Response<Body>, EdgeError> {
    let query = check_accept(req)?;
    let docs = match &study {
        Some(st) => documents(tr, &datastore, st).await?,
        None => {
            let mut summaries = tr
                .upstream
                .search(&datastore, &pushed_criteria(&query))
                .await?;
            let study_query = Query {
                filters: query
                    .filters
                    .iter()
                    .filter(|f| SUMMARY_KEYS.contains(&f.keyword.as_str()))
                    .cloned()
                    .collect(),
                ..Query::default()
            };
            summaries.retain(|s| study_query.matches(&study_record(s)));
            if summaries.len() > MAX_IMAGE_SETS_ACROSS_STUDIES {
                return Err(EdgeError::BadRequest(format!(
                    "this search covers {} image sets, more than the {} a search across studies reads; \
                     narrow it by a study attribute (StudyInstanceUID, PatientID, AccessionNumber, StudyDate, …) \
                     or search within a study",
                    summaries.len(),
                    MAX_IMAGE_SETS_ACROSS_STUDIES
                )));
            }
            summaries.sort_by(crate::resolve::preference);
            let mut docs = Vec::with_capacity(summaries.len());
            for s in &summaries {
                docs.push(tr.resolver.document(&datastore, &s.image_set_id).await?);
            }
            docs
        }
    };
    let answer = match level {
        Level::Series => {
            let mut records = series_records(&docs, &query);
            records.sort_by(|a, b| {
                text(a, "StudyInstanceUID")
                    .cmp(text(b, "StudyInstanceUID"))
                    .then(number(a, "SeriesNumber").cmp(&number(b, "SeriesNumber")))
            });
            query
                .page(records)
                .iter()
                .map(|r| project(r, &BTreeMap::new(), SERIES_DEFAULTS, &query))
                .collect()
        }
        Level::Instances => {
            let (mut records, _) = instance_records(&docs, None, &query);
            records.sort_by(|a, b| {
                let (a, b) = (&a.attrs, &b.attrs);
                text(a, "StudyInstanceUID")
                    .cmp(text(b, "StudyInstanceUID"))
                    .then(number(a, "SeriesNumber").cmp(&number(b, "SeriesNumber")))
                    .then(text(a, "SeriesInstanceUID").cmp(text(b, "SeriesInstanceUID")))
                    .then(number(a, "InstanceNumber").cmp(&number(b, "InstanceNumber")))
            });
            instance_answer(&query, records)
        }
    };
    Ok(json_answer(tr, req, &answer))
}
