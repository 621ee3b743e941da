//! WADO-RS metadata (PS3.18 §10.4.1.1.2 `…/metadata`) for a study, a series or an instance:
//! DICOM JSON (§F.2) converted from the image sets' metadata documents.
//!
//! Each instance object carries every level's attributes (patient, study, series,
//! instance), `AvailableTransferSyntaxUID` (0008,3002) set to the stored syntax, and
//! `NumberOfFrames` equal to the frames AHI holds for a multi-frame instance. When a study
//! spans several image sets, an instance is taken from the first that holds it in the
//! resolver's preference order (primary first). Answers carry a strong `ETag` over the
//! JSON, a short `max-age` (metadata changes when image sets do), and are gzip-encoded when
//! the client accepts it. Pixel Data and binary values over 1 KB are BulkDataURIs below
//! `{origin}/datastore/{ds}/studies/{st}/series/{se}/instances/{sop}/bulkdata/`, which
//! `bulkdata` answers.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use crate::dicom_json::Converter;
use axum::body::Body;
use dicomweb::Uid;
use dicomweb::json::{DicomJson, PIXEL_DATA, tag_key};
use healthimaging::metadata::{ImageSetMetadata, Instance};
use healthimaging::{DatastoreId, ImageSetId};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

use super::Translator;
use crate::resolve::Document;
use edge::EdgeError;
use edge::http_rules::if_none_match;
use edge::http_rules::{accept_value, accepts_gzip};

/// Which instances a metadata request covers.
#[derive(Debug, Clone)]
pub enum Scope {
    Study(Uid),
    Series(Uid, Uid),
    Instance(Uid, Uid, Uid),
}

impl Scope {
    fn study(&self) -> &Uid {
        match self {
            Scope::Study(st) | Scope::Series(st, _) | Scope::Instance(st, _, _) => st,
        }
    }

    fn covers(&self, series: &str, sop: &str) -> bool {
        match self {
            Scope::Study(_) => true,
            Scope::Series(_, se) => se.as_str() == series,
            Scope::Instance(_, se, i) => se.as_str() == series && i.as_str() == sop,
        }
    }

    fn not_found(&self) -> EdgeError {
        EdgeError::NotFound(match self {
            Scope::Study(st) => format!("study {st} not found"),
            Scope::Series(st, se) => format!("series {se} not found in study {st}"),
            Scope::Instance(_, se, i) => format!("instance {i} not found in series {se}"),
        })
    }
}

/// Binary values longer than this are given as a BulkDataURI.
const INLINE_LIMIT: usize = 1024;

/// One instance as DICOM JSON. With `bulkdata` (the instance's bulk data URL), Pixel Data
/// and binary values over 1 KB are BulkDataURIs below it; without, binary values are inline.
pub fn instance_json(
    doc: &ImageSetMetadata,
    series: &str,
    inst: &Instance,
    bulkdata: Option<&str>,
) -> DicomJson {
    let converter = Converter {
        vrs: &inst.dicom_vrs,
        bulkdata,
        inline_limit: INLINE_LIMIT,
        for_file: false,
    };
    let mut out = merged(&converter, doc, series, inst);
    // The syntax frames are served in as stored.
    out.insert(
        tag_key(0x0008_3002),
        serde_json::json!({"vr": "UI", "Value": [inst.transfer_syntax()]}),
    );
    let frames = inst.image_frames.len();
    if frames > 1 || out.contains_key(&tag_key(0x0028_0008)) {
        out.insert(
            tag_key(0x0028_0008),
            serde_json::json!({"vr": "IS", "Value": [frames]}),
        );
    }
    if let (Some(base), true) = (bulkdata, frames > 0) {
        // PS3.5 §8.2: encapsulated pixel data and 8-bit samples are OB, wider samples OW.
        let bits = inst
            .dicom
            .get("BitsAllocated")
            .and_then(Value::as_u64)
            .unwrap_or(8);
        let vr = if inst.transfer_syntax() == EXPLICIT_VR_LE && bits > 8 {
            "OW"
        } else {
            "OB"
        };
        out.insert(
            tag_key(PIXEL_DATA),
            serde_json::json!({"vr": vr, "BulkDataURI": format!("{base}/{}", tag_key(PIXEL_DATA))}),
        );
    }
    out
}

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// One instance's data set as DICOM JSON for rebuilding its file: every level's attributes,
/// binary values inline, IS and DS as stored text, and neither File Meta Information nor
/// Pixel Data (the file's writer adds them).
pub fn instance_dataset(doc: &ImageSetMetadata, series: &str, inst: &Instance) -> DicomJson {
    let converter = Converter {
        vrs: &inst.dicom_vrs,
        bulkdata: None,
        inline_limit: usize::MAX,
        for_file: true,
    };
    let mut out = merged(&converter, doc, series, inst);
    let frames = inst.image_frames.len();
    if frames > 1 || out.contains_key(&tag_key(0x0028_0008)) {
        out.insert(
            tag_key(0x0028_0008),
            serde_json::json!({"vr": "IS", "Value": [frames.to_string()]}),
        );
    }
    out
}

/// The patient, study, series and instance levels merged in that order, without File Meta
/// Information, which describes a file rather than the data set (PS3.10 §7.1).
fn merged(
    converter: &Converter,
    doc: &ImageSetMetadata,
    series: &str,
    inst: &Instance,
) -> DicomJson {
    let mut out = DicomJson::new();
    converter.convert(&doc.patient.dicom, &mut out);
    converter.convert(&doc.study.dicom, &mut out);
    if let Some(s) = doc.study.series.get(series) {
        converter.convert(&s.dicom, &mut out);
    }
    converter.convert(&inst.dicom, &mut out);
    out.retain(|tag, _| !tag.starts_with("0002"));
    out
}

/// The URL the viewer-request function names for this deployment
/// ([`edge::lambda_edge::PUBLIC_URL_HEADER`]), when it is a valid one.
pub(crate) fn forwarded_public_url(req: &Parts) -> Option<String> {
    req.headers
        .get(edge::lambda_edge::PUBLIC_URL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(edge::lambda_edge::public_url)
}

/// The URL clients reach this deployment by: the configured one, else the one the
/// viewer-request function names ([`edge::lambda_edge::PUBLIC_URL_HEADER`]; the translator
/// is reachable only through the distribution), else `http://{Host}`.
fn public_origin(tr: &Translator, req: &Parts) -> String {
    if let Some(url) = &tr.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    if let Some(url) = forwarded_public_url(req) {
        return url;
    }
    let host = req
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Answers a metadata request.
pub async fn retrieve(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    scope: Scope,
    image_set: Option<ImageSetId>,
) -> Result<Response<Body>, EdgeError> {
    crate::plan::json(accept_value(req.uri.query(), &req.headers).as_deref())?;
    let origin = public_origin(tr, req);
    let study = scope.study();
    let mut instances: Vec<Value> = Vec::new();
    for c in covered(tr, &datastore, &scope, image_set).await? {
        let (series, sop) = (&c.series, &c.sop);
        let Some(inst) = c.doc.metadata.instance(series, sop) else {
            continue;
        };
        let bulkdata = format!(
            "{origin}/datastore/{datastore}/studies/{study}/series/{series}/instances/{sop}/bulkdata"
        );
        let json: BTreeMap<String, Value> =
            instance_json(&c.doc.metadata, series, inst, Some(&bulkdata));
        instances.push(Value::Object(json.into_iter().collect()));
    }
    Ok(json_answer(tr, req, &instances))
}

/// One instance a study, series or instance request covers, and the document it is in.
pub struct Covered {
    pub doc: Arc<Document>,
    pub image_set: ImageSetId,
    pub series: String,
    pub sop: String,
}

/// The instances `scope` covers, in the study's image sets (or in `image_set` when the
/// request names one): each from the first image set holding it in the resolver's
/// preference order (primary first), in series and SOP instance UID order within each. 404
/// when there are none.
pub async fn covered(
    tr: &Translator,
    datastore: &DatastoreId,
    scope: &Scope,
    image_set: Option<ImageSetId>,
) -> Result<Vec<Covered>, EdgeError> {
    let study = scope.study();
    let image_sets: Vec<ImageSetId> = match image_set {
        Some(is) => vec![is],
        None => tr.resolver.image_sets_of(datastore, study).await?.to_vec(),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for is in &image_sets {
        let doc = tr.resolver.document(datastore, is).await?;
        if doc.metadata.study_instance_uid() != Some(study.as_str()) {
            if image_sets.len() == 1 {
                return Err(EdgeError::NotFound(format!(
                    "image set {is} does not hold study {study}"
                )));
            }
            continue;
        }
        for (series, sop, _) in doc.metadata.instances() {
            if scope.covers(series, sop) && seen.insert(sop.to_owned()) {
                out.push(Covered {
                    doc: doc.clone(),
                    image_set: is.clone(),
                    series: series.to_owned(),
                    sop: sop.to_owned(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(scope.not_found());
    }
    Ok(out)
}

/// A DICOM JSON answer (metadata and search): strong ETag over the JSON, `If-None-Match` →
/// 304, the metadata max-age, gzip when accepted.
pub fn json_answer(tr: &Translator, req: &Parts, items: &[Value]) -> Response<Body> {
    // Serialising `Value`s cannot fail.
    let json = serde_json::to_vec(items).unwrap_or_default();
    json_bytes_answer(
        req,
        "application/dicom+json",
        json,
        tr.config.metadata_max_age_seconds,
    )
}

/// A JSON document as [`json_answer`] answers it, of type `content_type`, fresh for
/// `max_age` seconds.
pub(crate) fn json_bytes_answer(
    req: &Parts,
    content_type: &'static str,
    json: Vec<u8>,
    max_age: u64,
) -> Response<Body> {
    let etag = edge::http_rules::Identity::of(&[&json]).etag;
    let mut headers = vec![
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age}"))
                .unwrap_or(HeaderValue::from_static("no-store")),
        ),
        (
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        ),
    ];
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.push((header::ETAG, v));
    }
    let (status, body) = if if_none_match(&req.headers, &etag) {
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else if accepts_gzip(&req.headers) {
        headers.push((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
        (StatusCode::OK, gzip(&json))
    } else {
        (StatusCode::OK, json)
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().extend(headers);
    r
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
