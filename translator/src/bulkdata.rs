//! Bulk data (PS3.18 §10.4.1.1.5) for the BulkDataURIs metadata answers carry: Pixel Data
//! (7FE00010) is every frame of the instance, as the frames resource answers them; any other
//! attribute is its value from the metadata document, one `application/octet-stream` part.

use axum::body::Body;
use base64::Engine;
use dicomweb::FrameList;
use dicomweb::json::PIXEL_DATA;
use dicomweb::multipart::MultipartWriter;
use edge::routes::Instance;
use healthimaging::{DatastoreId, ImageSetId};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

use super::Translator;
use super::answer::revalidated;
use super::frames;
use edge::EdgeError;
use edge::http_rules::accept_value;
use edge::http_rules::{Identity, if_none_match};

/// Answers `…/instances/{sop}/bulkdata/{tag}`.
pub async fn retrieve(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    target: Instance,
    tag: u32,
    image_set: Option<ImageSetId>,
) -> Result<Response<Body>, EdgeError> {
    if tag == PIXEL_DATA {
        let located = tr
            .resolver
            .locate(&datastore, &target, image_set.as_ref())
            .await?;
        let count = u32::try_from(located.instance.frames.len()).unwrap_or(u32::MAX);
        let all = FrameList::all(count).map_err(|_| {
            EdgeError::NotFound(format!("instance {} has no pixel data", target.sop))
        })?;
        return frames::retrieve(tr, req, datastore, target, all, image_set).await;
    }
    crate::plan::bulkdata(accept_value(req.uri.query(), &req.headers).as_deref())?;
    let located = tr
        .resolver
        .locate(&datastore, &target, image_set.as_ref())
        .await?;
    let doc = tr.resolver.document(&datastore, &located.image_set).await?;
    let metadata = &doc.metadata;
    let series = &target.series;
    let key = crate::dicom_json::ahi_key(tag);
    let instance = metadata.instance(series.as_str(), target.sop.as_str());
    let no_vrs = std::collections::BTreeMap::new();
    let vrs = instance.map_or(&no_vrs, |i| &i.dicom_vrs);
    let value = [
        instance.map(|i| &i.dicom),
        metadata.study.series.get(series.as_str()).map(|s| &s.dicom),
        Some(&metadata.study.dicom),
        Some(&metadata.patient.dicom),
    ]
    .into_iter()
    .flatten()
    .find_map(|level| level.get(&key))
    .filter(|_| crate::dicom_json::is_binary(&key, vrs));
    let bytes = match value {
        Some(Value::String(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| {
                EdgeError::from(healthimaging::client::ClientError::InvalidResponse(
                    format!("attribute {key} is not base64"),
                ))
            })?,
        _ => {
            return Err(EdgeError::NotFound(format!(
                "instance {} has no bulk data {tag:08X}",
                target.sop
            )));
        }
    };
    let path = req.uri.path();
    let identity = Identity::of(&[b"bulkdata", path.as_bytes(), &bytes]);
    let writer = MultipartWriter::with_boundary(identity.boundary.clone());
    let mut headers = revalidated(&identity.etag, tr.config.metadata_max_age_seconds);
    let (status, body) = if if_none_match(&req.headers, &identity.etag) {
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else {
        if let Ok(v) = HeaderValue::from_str(&writer.content_type("application/octet-stream")) {
            headers.push((header::CONTENT_TYPE, v));
        }
        let mut body = Vec::with_capacity(bytes.len() + 256);
        body.extend_from_slice(&writer.part_head("application/octet-stream", None, path));
        body.extend_from_slice(&bytes);
        body.extend_from_slice(&writer.part_tail());
        body.extend_from_slice(&writer.close());
        (StatusCode::OK, body)
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().extend(headers);
    Ok(r)
}
