//! WADO-RS retrieve of studies, series and instances (PS3.18 §10.4.1.1.1): DICOM Part 10
//! files ([`crate::part10`]) in `multipart/related; type="application/dicom"`, or one
//! `application/dicom` body for one instance.
//!
//! Cost: the study's image sets are found once (SearchImageSets, cached), each image set's
//! metadata is read once (GetImageSetMetadata, cached), and each frame once (GetImageFrame).
//! The frames of all the instances, in order, are one stream fetched (and decoded) with the
//! frames resource's concurrency, so a series of single-frame instances keeps as many calls
//! in flight as a multi-frame instance; each instance's file is written once its frames are
//! in (two files are written at a time). Memory is bounded by three instances plus the
//! frames in flight, whatever the size of the study. As with frames, the first instance is built before the status line (a request
//! that cannot be served gets its error status), and a later failure aborts the response
//! without the closing delimiter.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use dicomweb::multipart::MultipartWriter;
use edge::EdgeError;
use edge::http_rules::{Identity, accept_value, if_none_match};
use futures_util::{StreamExt, stream};
use healthimaging::{DatastoreId, ImageSetId};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};

use super::Translator;
use super::answer::{respond, revalidated, streamed_multipart};
use crate::integrity::{self, WholeFrame};
use crate::metadata::{self, Covered, Scope};
use crate::part10::{self, Decoded, Pixels};
use crate::plan::{self, DICOM, InstanceDescription, InstancePlan, Transform};
use crate::read_ahead::Reserved;

/// Answers `…/studies/{st}`, `…/series/{se}` and `…/instances/{sop}`.
pub async fn retrieve(
    tr: &Translator,
    req: &Parts,
    datastore: DatastoreId,
    scope: Scope,
    image_set: Option<ImageSetId>,
) -> Result<Response<Body>, EdgeError> {
    let accept = accept_value(req.uri.query(), &req.headers);
    let mut items: Vec<(Covered, Arc<InstanceDescription>)> = Vec::new();
    for c in metadata::covered(tr, &datastore, &scope, image_set).await? {
        let index = tr.resolver.index(&datastore, &c.image_set).await?;
        if let Some(d) = index.instance(&c.series, &c.sop) {
            let d = d.clone();
            items.push((c, d));
        }
    }
    let descriptions: Vec<&InstanceDescription> = items.iter().map(|(_, d)| &**d).collect();
    let (multipart, plans) = plan::instances(
        accept.as_deref(),
        &descriptions,
        tr.config.max_decoded_frame_bytes,
    )?;

    // The answer's identity: what each file is made of (its attributes, its frames and the
    // syntax it is written in), so a changed image set gets a new ETag.
    let mut identity_parts: Vec<Vec<u8>> = vec![
        b"wado-rs retrieve".to_vec(),
        req.uri.path().as_bytes().to_vec(),
        vec![u8::from(multipart)],
    ];
    for ((c, d), p) in items.iter().zip(&plans) {
        if let Some(inst) = c.doc.metadata.instance(&c.series, &c.sop) {
            identity_parts.push(serde_json::to_vec(&inst.dicom).unwrap_or_default());
        }
        identity_parts.push(c.image_set.as_str().as_bytes().to_vec());
        identity_parts.push(p.transfer_syntax.as_str().as_bytes().to_vec());
        identity_parts.extend(d.frames.iter().map(|f| f.as_str().as_bytes().to_vec()));
    }
    let refs: Vec<&[u8]> = identity_parts.iter().map(Vec::as_slice).collect();
    let identity = Identity::of(&refs);
    let mut headers = revalidated(&identity.etag, tr.config.metadata_max_age_seconds);
    if if_none_match(&req.headers, &identity.etag) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }

    let upstream = tr.upstream.clone();
    let bound = tr.config.max_decoded_frame_bytes;
    let concurrency = tr.frame_concurrency(req);
    let instances: Vec<(Covered, Arc<InstanceDescription>, InstancePlan)> = items
        .into_iter()
        .zip(plans)
        .map(|((c, d), p)| (c, d, p))
        .collect();
    // Every frame of every instance, in order, fetched and transformed `concurrency` at a
    // time.
    let jobs: Vec<_> = instances
        .iter()
        .flat_map(|(c, d, p)| {
            let whole = WholeFrame::of_instance(d.transfer_syntax.as_ref(), d.pixel.as_ref());
            let reservation = d.frame_reservation();
            d.frames.iter().enumerate().map(move |(i, id)| {
                (
                    c.image_set.clone(),
                    id.clone(),
                    u32::try_from(i + 1).unwrap_or(u32::MAX),
                    p.transform.clone(),
                    (whole.clone(), c.sop.clone(), reservation),
                )
            })
        })
        .collect();
    let ds = datastore.clone();
    let read_ahead = tr.config.read_ahead.clone();
    let frames = stream::iter(jobs)
        .map(move |(is, id, n, transform, (whole, sop, reservation))| {
            let (upstream, ds, read_ahead) = (upstream.clone(), ds.clone(), read_ahead.clone());
            async move {
                // Given back once the frame is in its instance's file.
                let reserved = read_ahead.reserve(reservation).await;
                let what = move || format!("frame {n} of instance {sop}");
                let f = integrity::fetch(&*upstream, (&ds, &is, &id), &whole, what).await?;
                let segments = crate::frames::transformed(&transform, n, f.segments, bound).await?;
                Ok::<_, EdgeError>((Bytes::from(segments.concat()), reserved))
            }
        })
        .buffered(concurrency);
    // Boxed as a `dyn Stream + Send`: the combinators' closures otherwise make the request
    // future's `Send` bound one the compiler cannot prove for every lifetime.
    let frames: FrameStream = Box::pin(frames);
    // Each instance takes its frames off that stream and becomes a file.
    let ds = datastore.clone();
    let files = stream::unfold(
        (frames, instances.into_iter(), false),
        move |(mut frames, mut rest, failed)| {
            let ds = ds.clone();
            async move {
                if failed {
                    return None;
                }
                let (c, d, p) = rest.next()?;
                let location = format!(
                    "/datastore/{ds}/studies/{}/series/{}/instances/{}",
                    c.doc.metadata.study_instance_uid().unwrap_or_default(),
                    c.series,
                    c.sop
                );
                let ts = p.transfer_syntax.to_string();
                let mut own = Vec::with_capacity(d.frames.len());
                let mut reserved = Vec::with_capacity(d.frames.len());
                let mut error = None;
                for _ in 0..d.frames.len() {
                    match frames.next().await {
                        Some(Ok((f, r))) => {
                            own.push(f);
                            reserved.push(r);
                        }
                        Some(Err(e)) => {
                            error = Some(e);
                            break;
                        }
                        None => break,
                    }
                }
                let failed = error.is_some();
                let gathered = match error {
                    Some(e) => Err(e),
                    None => Ok((c, d, p, own, reserved)),
                };
                Some(((location, ts, gathered), (frames, rest, failed)))
            }
        },
    );
    // Files are written on blocking threads, two at a time, while the next instance's
    // frames come in (one for HEAD, which needs only the first).
    let files = files
        .map(|g| tokio::spawn(write_file(g)))
        .buffered(concurrency.min(2))
        .map(|joined| {
            joined.unwrap_or_else(|e| {
                let stopped = crate::stopped("the file writer")(e);
                (String::new(), String::new(), Err(stopped))
            })
        });
    let mut files: FileStream = Box::pin(files);
    let Some((first_location, first_ts, first)) = files.next().await else {
        return Err(scope_not_found());
    };
    let first = first?;

    if !multipart {
        if let Ok(v) = HeaderValue::from_str(&format!("{DICOM}; transfer-syntax={first_ts}")) {
            headers.push((header::CONTENT_TYPE, v));
        }
        headers.push((header::CONTENT_LENGTH, HeaderValue::from(first.len())));
        return Ok(respond(StatusCode::OK, headers, Body::from(first)));
    }
    let writer = MultipartWriter::with_boundary(identity.boundary);
    if let Ok(v) = HeaderValue::from_str(&writer.content_type(DICOM)) {
        headers.push((header::CONTENT_TYPE, v));
    }
    let close = writer.close();
    let part = move |location: &str, ts: &str, file: Vec<u8>| -> Vec<Bytes> {
        vec![
            writer.part_head(DICOM, Some(ts), location),
            Bytes::from(file),
            writer.part_tail(),
        ]
    };
    let first_part = part(&first_location, &first_ts, first);
    let rest = files.map(move |(location, ts, file)| match file {
        Ok(f) => Ok(part(&location, &ts, f)),
        Err(e) => {
            tracing::warn!(%location, error = %e, "instance failed mid-response; aborting it");
            Err(io::Error::other(format!("{location}: {e}")))
        }
    });
    let body = streamed_multipart(first_part, rest, close);
    Ok(respond(StatusCode::OK, headers, body))
}

fn scope_not_found() -> EdgeError {
    EdgeError::NotFound("no instances".into())
}

type FrameStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<(Bytes, Reserved), EdgeError>> + Send>,
>;
type FileStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = (String, String, Result<Vec<u8>, EdgeError>)> + Send>,
>;

/// An instance with its frames gathered (or the failure that stopped the gathering).
type Gathered = (
    String,
    String,
    Result<
        (
            Covered,
            Arc<InstanceDescription>,
            InstancePlan,
            Vec<Bytes>,
            Vec<Reserved>,
        ),
        EdgeError,
    >,
);

/// Writes a gathered instance's file: (Content-Location, transfer syntax, the file).
async fn write_file(
    (location, ts, gathered): Gathered,
) -> (String, String, Result<Vec<u8>, EdgeError>) {
    let file = match gathered {
        // The frames' reservations are given back once they are in the file.
        Ok((c, d, p, frames, _reserved)) => instance_file(c, d, p, frames).await,
        Err(e) => Err(e),
    };
    (location, ts, file)
}

/// One instance's Part 10 file from its frames (fetched and transformed as planned).
async fn instance_file(
    c: Covered,
    d: Arc<InstanceDescription>,
    plan: InstancePlan,
    frames: Vec<Bytes>,
) -> Result<Vec<u8>, EdgeError> {
    let inst = c
        .doc
        .metadata
        .instance(&c.series, &c.sop)
        .ok_or_else(scope_not_found)?;
    let dataset = metadata::instance_dataset(&c.doc.metadata, &c.series, inst);
    let words = d.pixel.as_ref().is_some_and(|p| p.bits_allocated > 8);
    let frame_bits =
        d.pixel.as_ref().filter(|p| p.bits_allocated == 1).map(|p| {
            u64::from(p.rows) * u64::from(p.columns) * u64::from(p.samples_per_pixel.max(1))
        });
    let pixels = if frames.is_empty() {
        Pixels::None
    } else if plan.transfer_syntax.is_native() {
        Pixels::Native {
            frames,
            words,
            frame_bits,
        }
    } else {
        Pixels::Encapsulated(frames)
    };
    let decoded = match &plan.transform {
        Transform::Decode { from, pixel } => Some(Decoded {
            photometric_interpretation: pixel.decoded_photometric_interpretation(from).to_owned(),
            colour: pixel.samples_per_pixel > 1,
            lossy_method: part10::lossy_method(from),
        }),
        Transform::AsStored => None,
    };
    let ts = plan.transfer_syntax;
    tokio::task::spawn_blocking(move || part10::write(dataset, &ts, pixels, decoded))
        .await
        .map_err(crate::stopped("the file writer"))?
}
