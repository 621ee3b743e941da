//! Rendered resources (PS3.18 §10.4.1.1.3) and thumbnails (§10.4.1.1.4): one frame fetched
//! (GetImageFrame), decoded where stored compressed ([`crate::transcode`]), and rendered to
//! JPEG or PNG ([`crate::render`]).
//!
//! Which frame:
//! - `…/frames/{n}/rendered`: frame n; a list of several frames is refused (406), since
//!   JPEG and PNG hold one image;
//! - `…/instances/{sop}/rendered`: the first frame of a multi-frame instance, as Orthanc,
//!   Google's and Azure's DICOM services answer it;
//! - a thumbnail is of a representative frame: the middle frame of an instance (or the first
//!   of a frame list); for a series, the middle instance in Instance Number order; for a
//!   study, that of its first series (in Series Number order) that holds images;
//! - study and series rendered resources are refused (406): a single image cannot hold them.
//!
//! Instance and frame images are immutable (the frames' `max-age`); study and series
//! thumbnails revalidate with the metadata's, since a new instance can change their choice.

use axum::body::Body;
use bytes::Bytes;
use dicomweb::accept::{Forms, Offer, negotiate};
use dicomweb::rendered::RenderParams;
use edge::EdgeError;
use edge::http_rules::{Identity, accept_value, if_none_match};
use edge::routes::{Instance, RenderTarget};
use healthimaging::{DatastoreId, ImageSetId};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

use super::Translator;
use super::answer::{respond, revalidated};
use crate::integrity::{self, WholeFrame};
use crate::metadata::{self, Scope};
use crate::plan::InstanceDescription;
use crate::render::{self, Format, MEDIA_TYPES, RenderError};

/// One rendered or thumbnail request.
pub struct Rendering {
    pub datastore: DatastoreId,
    pub target: RenderTarget,
    pub params: RenderParams,
    pub thumbnail: bool,
    pub image_set: Option<ImageSetId>,
}

/// The frame chosen to render.
struct Chosen {
    image_set: ImageSetId,
    series: String,
    sop: String,
    number: u32,
    doc: std::sync::Arc<crate::resolve::Document>,
    instance: std::sync::Arc<InstanceDescription>,
}

pub async fn retrieve(
    tr: &Translator,
    req: &Parts,
    r: Rendering,
) -> Result<Response<Body>, EdgeError> {
    let accept = accept_value(req.uri.query(), &req.headers);
    let offers = MEDIA_TYPES.map(Offer::media);
    let format =
        Format::from_media_type(negotiate(accept.as_deref(), &offers, Forms::SINGLE)?.media_type);
    let whole_scope = matches!(r.target, RenderTarget::Study(_) | RenderTarget::Series(..));
    if whole_scope && !r.thumbnail {
        return Err(EdgeError::NotAcceptable {
            available: "an instance's or a frame's rendered image, or this resource's thumbnail \
                        (image/jpeg and image/png hold one image)"
                .into(),
        });
    }
    let chosen = choose(tr, &r).await?;
    let pixel = chosen
        .instance
        .pixel
        .clone()
        .ok_or_else(|| EdgeError::NotAcceptable {
            available: "none: the instance has no pixel data to render".into(),
        })?;
    let stored = chosen.instance.transfer_syntax.clone().ok_or_else(|| {
        EdgeError::from(healthimaging::ClientError::InvalidResponse(
            "the image set's StoredTransferSyntaxUID is not a UID".into(),
        ))
    })?;
    let bound = tr.config.max_decoded_frame_bytes;
    if !(stored.is_native() || crate::transcode::can_decode_module(&stored, &pixel))
        || pixel.native_frame_len() > bound
    {
        return Err(EdgeError::NotAcceptable {
            available: format!(
                "none: frames stored as {stored} with this pixel module are not decoded here"
            ),
        });
    }
    let frame_id = chosen
        .instance
        .frames
        .get(chosen.number as usize - 1)
        .cloned()
        .ok_or_else(|| EdgeError::NotFound("the instance has no frames".into()))?;

    let identity = Identity::of(&[
        b"rendered",
        r.datastore.as_str().as_bytes(),
        chosen.image_set.as_str().as_bytes(),
        req.uri.path().as_bytes(),
        frame_id.as_str().as_bytes(),
        format.media_type().as_bytes(),
        format!("{:?}", r.params).as_bytes(),
    ]);
    let mut headers = if whole_scope {
        let mut h = revalidated(&identity.etag, tr.config.metadata_max_age_seconds);
        h.push((header::VARY, HeaderValue::from_static("Accept")));
        h
    } else {
        crate::frames::validators(&identity, tr.config.frames_max_age_seconds, true)
    };
    if if_none_match(&req.headers, &identity.etag) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }

    let inst = chosen
        .doc
        .metadata
        .instance(&chosen.series, &chosen.sop)
        .ok_or_else(|| EdgeError::NotFound("no such instance".into()))?;
    let dataset = metadata::instance_dataset(&chosen.doc.metadata, &chosen.series, inst);
    let fetched = integrity::fetch(
        &*tr.upstream,
        (&r.datastore, &chosen.image_set, &frame_id),
        &WholeFrame::of_instance(Some(&stored), Some(&pixel)),
        move || format!("frame {}", chosen.number),
    )
    .await?;
    let request = render::Request {
        params: r.params,
        format,
        thumbnail: r.thumbnail,
        max_pixels: tr.config.max_rendered_pixels,
    };
    let number = chosen.number;
    let image = tokio::task::spawn_blocking(move || {
        let codestream = Bytes::from(fetched.segments.concat());
        let decoded = (!stored.is_native())
            .then(|| pixel.decoded_photometric_interpretation(&stored).to_owned());
        let frame = match &decoded {
            None => codestream,
            Some(_) => Bytes::from(
                crate::transcode::decode_frame(&stored, &pixel, &codestream, bound)
                    .map_err(|e| EdgeError::Undecodable(format!("frame {number}: {e}")))?,
            ),
        };
        render::render(dataset, &pixel, decoded.as_deref(), frame, number, &request).map_err(|e| {
            match e {
                RenderError::Failed(_) => EdgeError::Undecodable(e.to_string()),
                RenderError::Unsupported(_) => EdgeError::NotAcceptable {
                    available: format!("none: {e}"),
                },
                _ => EdgeError::BadRequest(e.to_string()),
            }
        })
    })
    .await
    .map_err(crate::stopped("the renderer"))??;
    headers.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.media_type()),
    ));
    headers.push((header::CONTENT_LENGTH, HeaderValue::from(image.len())));
    Ok(respond(StatusCode::OK, headers, Body::from(image)))
}

/// The frame the request renders (module documentation).
async fn choose(tr: &Translator, r: &Rendering) -> Result<Chosen, EdgeError> {
    let (scope, frame) = match &r.target {
        RenderTarget::Frames(inst, list) => {
            if list.len() > 1 && !r.thumbnail {
                return Err(EdgeError::NotAcceptable {
                    available: "one frame per rendered request (image/jpeg and image/png \
                                hold one image)"
                        .into(),
                });
            }
            (instance_scope(inst), list.numbers().next())
        }
        RenderTarget::Instance(inst) => (instance_scope(inst), (!r.thumbnail).then_some(1)),
        RenderTarget::Series(st, se) => (Scope::Series(st.clone(), se.clone()), None),
        RenderTarget::Study(st) => (Scope::Study(st.clone()), None),
    };
    let covered = metadata::covered(tr, &r.datastore, &scope, r.image_set.clone()).await?;
    let mut candidates = Vec::with_capacity(covered.len());
    for c in covered {
        let index = tr.resolver.index(&r.datastore, &c.image_set).await?;
        let Some(d) = index.instance(&c.series, &c.sop).cloned() else {
            continue;
        };
        if d.pixel.is_none() || d.frames.is_empty() {
            continue;
        }
        let numbers = |attrs: Option<&serde_json::Map<String, Value>>, key: &str| {
            attrs.and_then(|a| a.get(key)).and_then(integer)
        };
        let series_attrs = c.doc.metadata.study.series.get(&c.series).map(|s| &s.dicom);
        let instance_attrs = c.doc.metadata.instance(&c.series, &c.sop).map(|i| &i.dicom);
        let order = (
            numbers(series_attrs, "SeriesNumber").unwrap_or(i64::MAX),
            c.series.clone(),
            numbers(instance_attrs, "InstanceNumber").unwrap_or(i64::MAX),
            c.sop.clone(),
        );
        candidates.push((order, c, d));
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    // The first series with images, then its middle instance.
    let Some(first_series) = candidates.first().map(|(o, _, _)| o.1.clone()) else {
        return Err(EdgeError::NotAcceptable {
            available: "none: no instance here has pixel data to render".into(),
        });
    };
    candidates.retain(|(o, _, _)| o.1 == first_series);
    let middle = (candidates.len() - 1) / 2;
    let (_, c, d) = candidates.swap_remove(middle);
    let count = u32::try_from(d.frames.len()).unwrap_or(u32::MAX);
    let number = match frame {
        Some(n) => {
            if n > count {
                return Err(EdgeError::Frames(dicomweb::InvalidFrameList::OutOfRange {
                    requested: n,
                    available: count,
                }));
            }
            n
        }
        None => count.div_ceil(2),
    };
    Ok(Chosen {
        image_set: c.image_set,
        series: c.series,
        sop: c.sop,
        number,
        doc: c.doc,
        instance: d,
    })
}

fn instance_scope(i: &Instance) -> Scope {
    Scope::Instance(i.study.clone(), i.series.clone(), i.sop.clone())
}

/// An IS value as HealthImaging files it (a number, a string, or a one-value array).
fn integer(v: &Value) -> Option<i64> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}
