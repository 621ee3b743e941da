//! Frame retrieval: WADO-RS `…/frames/{list}` (PS3.18 §8.3.5.1, §8.7.3.3) and the native
//! cacheable `GET …/getImageFrame?imageFrameId=`, both from AHI `GetImageFrame`.
//!
//! Frames are fetched with bounded concurrency and written in request order as they are
//! ready (`buffered`), so a response holds at most `frame_concurrency` frames in memory
//! whatever the length of the list. The first frame is awaited before the status line is
//! sent, so a request that cannot be served at all gets its proper error status; a frame
//! that fails later aborts the response (the connection is closed without the closing
//! delimiter), so neither the client nor a cache mistakes it for a complete answer.

use std::io;

use axum::body::Body;
use bytes::Bytes;
use dicomweb::FrameList;
use dicomweb::accept::Rendition;
use dicomweb::multipart::MultipartWriter;
use edge::http_rules::accept_value;
use edge::routes::Instance;
use futures_util::{StreamExt, stream};
use healthimaging::{DatastoreId, ImageFrameId, ImageSetId};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};

use super::Translator;
use super::answer::{header_value, ranged, respond, streamed_multipart};
use super::body::Buffers;
use crate::integrity::{self, WholeFrame};
use crate::plan::{self, FramesPlan, Transform};
use edge::EdgeError;
use edge::http_rules::{Identity, if_none_match, if_none_match_any, immutable};

/// Headers shared by a 200 and the 304 that stands for it, for immutable answers.
pub(crate) fn validators(
    identity: &Identity,
    max_age: u64,
    vary_accept: bool,
) -> Vec<(header::HeaderName, HeaderValue)> {
    let mut h = vec![
        (
            header::ETAG,
            HeaderValue::from_str(&identity.etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_str(&immutable(max_age))
                .unwrap_or(HeaderValue::from_static("no-store")),
        ),
    ];
    if vary_accept {
        h.push((header::VARY, HeaderValue::from_static("Accept")));
    }
    h
}

/// WADO-RS frames of one instance.
pub async fn retrieve(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    target: Instance,
    frames: FrameList,
    image_set: Option<ImageSetId>,
) -> Result<Response<Body>, EdgeError> {
    let located = tr
        .resolver
        .locate(&datastore, &target, image_set.as_ref())
        .await?;
    let accept = accept_value(req.uri.query(), &req.headers);
    let plan = plan::frames(
        accept.as_deref(),
        &located.instance,
        &frames,
        tr.config.max_decoded_frame_bytes,
    )?;
    let transfer_syntax = plan.transfer_syntax().to_string();
    let FramesPlan {
        rendition,
        frames: ids,
        transform,
    } = plan;

    // The frames resource of each part, also when the request was for the Pixel Data bulk
    // data (PS3.18 §10.4.1.1.5).
    let location = format!(
        "/datastore/{datastore}/studies/{}/series/{}/instances/{}/frames",
        target.study, target.series, target.sop
    );
    let path = req.uri.path();
    let mut identity_parts: Vec<&[u8]> = vec![
        b"wado-rs frames",
        datastore.as_str().as_bytes(),
        located.image_set.as_str().as_bytes(),
        path.as_bytes(),
        if rendition.multipart {
            b"multipart"
        } else {
            b"single"
        },
        rendition.media_type.as_bytes(),
        transfer_syntax.as_bytes(),
    ];
    identity_parts.extend(ids.iter().map(|(_, id)| id.as_str().as_bytes()));
    let identity = Identity::of(&identity_parts);
    let mut headers = validators(&identity, tr.config.frames_max_age_seconds, true);
    if if_none_match(&req.headers, &identity.etag) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }

    let upstream = tr.upstream.clone();
    let image_set = located.image_set;
    let bound = tr.config.max_decoded_frame_bytes;
    let whole = WholeFrame::of_instance(
        located.instance.transfer_syntax.as_ref(),
        located.instance.pixel.as_ref(),
    );
    let (read_ahead, reservation) = (
        tr.config.read_ahead.clone(),
        located.instance.frame_reservation(),
    );
    let mut fetches = Box::pin(
        stream::iter(ids)
            .map(move |(n, id)| {
                let (upstream, ds, is) = (upstream.clone(), datastore.clone(), image_set.clone());
                let (transform, whole) = (transform.clone(), whole.clone());
                let read_ahead = read_ahead.clone();
                async move {
                    let reserved = read_ahead.reserve(reservation).await;
                    let fetched =
                        integrity::fetch(&*upstream, (&ds, &is, &id), &whole, move || {
                            format!("frame {n}")
                        })
                        .await;
                    let frame = match fetched {
                        Ok(f) => transformed(&transform, n, f.segments, bound).await,
                        Err(e) => Err(e),
                    };
                    (n, frame, reserved)
                }
            })
            .buffered(tr.frame_concurrency(req)),
    );
    // Each frame's reservation is given back as its part leaves this stream for the server.
    let Some((first_n, first, _)) = fetches.next().await else {
        return Err(EdgeError::NotFound("no frames requested".into()));
    };
    let first = first?;

    let Rendition {
        multipart,
        media_type,
        ..
    } = rendition;
    if !multipart {
        headers.push((
            header::CONTENT_TYPE,
            header_value(&format!("{media_type}; transfer-syntax={transfer_syntax}"))?,
        ));
        return Ok(ranged(&req.headers, headers.into_iter().collect(), first));
    }

    let writer = MultipartWriter::with_boundary(identity.boundary);
    headers.push((
        header::CONTENT_TYPE,
        header_value(&writer.content_type(media_type))?,
    ));
    let close = writer.close();
    let part = move |n: u32, segments: Vec<Bytes>| -> Vec<Bytes> {
        let mut p = Vec::with_capacity(segments.len() + 2);
        p.push(writer.part_head(
            media_type,
            Some(&transfer_syntax),
            &format!("{location}/{n}"),
        ));
        p.extend(segments);
        p.push(writer.part_tail());
        p
    };
    let first_part = part(first_n, first);

    if frames.len() == 1 {
        let body = Buffers::new(first_part.into_iter().chain([close]));
        headers.push((header::CONTENT_LENGTH, HeaderValue::from(body.len())));
        return Ok(respond(StatusCode::OK, headers, Body::new(body)));
    }

    let rest = fetches.map(move |(n, r, _reserved)| match r {
        Ok(segments) => Ok(part(n, segments)),
        Err(e) => {
            tracing::warn!(frame = n, error = %e, "frame fetch failed mid-response; aborting it");
            Err(io::Error::other(format!("frame {n}: {e}")))
        }
    });
    let body = streamed_multipart(first_part, rest, close);
    Ok(respond(StatusCode::OK, headers, body))
}

/// Carries out the plan's transform on one fetched frame. Decoding runs on a blocking
/// thread (milliseconds of CPU per frame), so frames fetched concurrently decode in
/// parallel without stalling the server's other requests.
pub(crate) async fn transformed(
    transform: &Transform,
    n: u32,
    segments: Vec<Bytes>,
    bound: u64,
) -> Result<Vec<Bytes>, EdgeError> {
    let Transform::Decode { from, pixel } = transform else {
        return Ok(segments);
    };
    let (from, pixel) = (from.clone(), pixel.clone());
    let decoded = tokio::task::spawn_blocking(move || {
        let codestream = segments.concat();
        crate::transcode::decode_frame(&from, &pixel, &codestream, bound)
    })
    .await
    .map_err(crate::stopped("the decoder"))?
    .map_err(|e| EdgeError::Undecodable(format!("frame {n}: {e}")))?;
    Ok(vec![Bytes::from(decoded)])
}

/// The native GET variant: AHI's bytes and content type, cacheable (the POST form is not).
pub async fn native_get(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    image_set: ImageSetId,
    frame: ImageFrameId,
) -> Result<Response<Body>, EdgeError> {
    let identity = Identity::of(&[
        b"native frame",
        datastore.as_str().as_bytes(),
        image_set.as_str().as_bytes(),
        frame.as_str().as_bytes(),
    ]);
    let mut headers = validators(&identity, tr.config.frames_max_age_seconds, false);
    let not_modified = if_none_match(&req.headers, &identity.etag);
    // The frame's ETag names it, so a matching one needs no upstream call; `*` does, to
    // know the frame exists (a 304 for an unknown frame would be wrong).
    if not_modified && !if_none_match_any(&req.headers) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }
    let f = integrity::fetch(
        &*tr.upstream,
        (&datastore, &image_set, &frame),
        &WholeFrame::AsLabelled,
        || format!("frame {frame}"),
    )
    .await?;
    if not_modified {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }
    headers.push((header::CONTENT_TYPE, header_value(&f.content_type)?));
    Ok(ranged(
        &req.headers,
        headers.into_iter().collect(),
        f.segments,
    ))
}
