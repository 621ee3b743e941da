//! The product's URL space (docs/architecture.md), parsed once into typed routes. Paths are relative to
//! the deployment's base URL and mirror AHI's own, so viewers need only a new base URL:
//!
//! ```text
//! POST /datastore/{ds}/imageSet/{is}/getImageFrame                 native, signed pass-through
//! GET  /datastore/{ds}/imageSet/{is}/getImageFrame?imageFrameId=   native, cacheable
//! GET  /datastore/{ds}/studies/{st}/series/{se}/instances/{sop}/frames/{list}   WADO-RS frames
//! GET  /datastore/{ds}/studies[/{st}/series[/{se}/instances]]      QIDO-RS
//! GET  /datastore/{ds}/{series,instances}, …/studies/{st}/instances QIDO-RS across levels
//! GET  /datastore/{ds}/studies/{st}[/series/{se}[/instances/{sop}]]            WADO-RS retrieve
//! GET  /datastore/{ds}/studies/{st}[/series/{se}[/instances/{sop}]]/metadata   WADO-RS metadata
//! GET  /datastore/{ds}/studies/{st}/series/{se}/instances/{sop}/bulkdata/{tag}  bulk data
//! GET  /datastore/{ds}/studies/{st}[/series/{se}[/instances/{sop}[/frames/{list}]]]/rendered
//! GET  /datastore/{ds}/studies/{st}[/series/{se}[/instances/{sop}[/frames/{list}]]]/thumbnail
//! GET  /datastore/{ds}/wado?requestType=WADO&studyUID=&seriesUID=&objectUID=   WADO-URI
//! ```
//!
//! Query parameters the edge understands: `imageSetId` (skip the study lookup), `accept`
//! (overrides the Accept header, PS3.18 §8.3.3.1), `imageFrameId` (native GET), and on
//! rendered and thumbnail paths `window`, `viewport`, `quality` ([`dicomweb::rendered`]).
//! Others are left to the handler (QIDO-RS matching keys).

use healthimaging::{DatastoreId, ImageFrameId, ImageSetId};

use dicomweb::query::QueryParams;
use dicomweb::rendered::RenderParams;
use dicomweb::{FrameList, InvalidFrameList, InvalidUid, Uid};

/// A request the edge serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `POST …/getImageFrame`: the body names the frame.
    NativeFramePost {
        datastore: DatastoreId,
        image_set: ImageSetId,
    },
    /// `GET …/getImageFrame?imageFrameId=`.
    NativeFrameGet {
        datastore: DatastoreId,
        image_set: ImageSetId,
        frame: ImageFrameId,
    },
    /// WADO-RS frame retrieval.
    Frames {
        datastore: DatastoreId,
        target: Instance,
        frames: FrameList,
        image_set: Option<ImageSetId>,
    },
    /// QIDO-RS.
    SearchStudies {
        datastore: DatastoreId,
    },
    SearchSeries {
        datastore: DatastoreId,
        study: Uid,
    },
    SearchInstances {
        datastore: DatastoreId,
        study: Uid,
        series: Uid,
    },
    /// QIDO-RS series of every study (PS3.18 §10.6.1: `{root}/series`).
    SearchAllSeries {
        datastore: DatastoreId,
    },
    /// QIDO-RS instances of every study, or of one study's every series.
    SearchAllInstances {
        datastore: DatastoreId,
        study: Option<Uid>,
    },
    /// WADO-RS retrieve of whole instances (PS3.18 §10.4.1.1.1): a study, a series of it,
    /// or one instance, as DICOM Part 10 files.
    Retrieve {
        datastore: DatastoreId,
        study: Uid,
        series: Option<Uid>,
        sop: Option<Uid>,
        image_set: Option<ImageSetId>,
    },
    /// WADO-RS metadata.
    StudyMetadata {
        datastore: DatastoreId,
        study: Uid,
        image_set: Option<ImageSetId>,
    },
    SeriesMetadata {
        datastore: DatastoreId,
        study: Uid,
        series: Uid,
        image_set: Option<ImageSetId>,
    },
    InstanceMetadata {
        datastore: DatastoreId,
        target: Instance,
        image_set: Option<ImageSetId>,
    },
    /// The value of a top-level attribute (`GGGGEEEE`) that metadata gave as a BulkDataURI
    /// (PS3.18 §10.4.1.1.5); Pixel Data (7FE00010) is every frame.
    Bulkdata {
        datastore: DatastoreId,
        target: Instance,
        tag: u32,
        image_set: Option<ImageSetId>,
    },
    /// A rendered image (PS3.18 §10.4.1.1.3) or a thumbnail (§10.4.1.1.4) of a study,
    /// series, instance or frames.
    Rendered {
        datastore: DatastoreId,
        target: RenderTarget,
        params: RenderParams,
        thumbnail: bool,
        image_set: Option<ImageSetId>,
    },
    /// WADO-URI (PS3.18 §9): the instance or rendered image it names, answered as `route`
    /// with `accept` standing for the request's Accept.
    WadoUri {
        route: Box<Route>,
        accept: String,
    },
    /// Internal ([`crate::internal`]): the image sets holding a study, as SearchImageSets
    /// lists them.
    ResolveStudy {
        datastore: DatastoreId,
        study: Uid,
    },
    /// Internal: one image set's metadata document (its current version).
    ResolveImageSet {
        datastore: DatastoreId,
        image_set: ImageSetId,
    },
}

impl Route {
    /// Whether only the translator may fetch it ([`crate::internal`]).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Route::ResolveStudy { .. } | Route::ResolveImageSet { .. }
        )
    }

    /// The datastore the request is for.
    pub fn datastore(&self) -> &DatastoreId {
        match self {
            Route::WadoUri { route, .. } => route.datastore(),
            Route::NativeFramePost { datastore, .. }
            | Route::NativeFrameGet { datastore, .. }
            | Route::Frames { datastore, .. }
            | Route::SearchStudies { datastore }
            | Route::SearchSeries { datastore, .. }
            | Route::SearchInstances { datastore, .. }
            | Route::SearchAllSeries { datastore }
            | Route::SearchAllInstances { datastore, .. }
            | Route::Retrieve { datastore, .. }
            | Route::StudyMetadata { datastore, .. }
            | Route::SeriesMetadata { datastore, .. }
            | Route::InstanceMetadata { datastore, .. }
            | Route::Bulkdata { datastore, .. }
            | Route::Rendered { datastore, .. }
            | Route::ResolveStudy { datastore, .. }
            | Route::ResolveImageSet { datastore, .. } => datastore,
        }
    }
}

impl Route {
    /// The query parameters the origin reads for this route; `None` where it reads any
    /// (QIDO-RS matching keys). `token` is the authorizer's and never reaches the origin.
    fn reads(&self) -> Option<&'static [&'static str]> {
        const WADO_RS: &[&str] = &["imageSetId", "accept", "charset"];
        Some(match self {
            Route::SearchStudies { .. }
            | Route::SearchSeries { .. }
            | Route::SearchInstances { .. }
            | Route::SearchAllSeries { .. }
            | Route::SearchAllInstances { .. } => return None,
            Route::NativeFramePost { .. } => &[],
            Route::NativeFrameGet { .. } => &["imageFrameId"],
            Route::Frames { .. }
            | Route::Bulkdata { .. }
            | Route::Retrieve { .. }
            | Route::StudyMetadata { .. }
            | Route::SeriesMetadata { .. }
            | Route::InstanceMetadata { .. } => WADO_RS,
            Route::Rendered { .. } => RENDERED_PARAMETERS,
            Route::WadoUri { .. } => WADO_URI_PARAMETERS,
            Route::ResolveStudy { .. } | Route::ResolveImageSet { .. } => &[],
        })
    }
}

/// The query parameters of rendered resources; `annotation` and `iccprofile` are read to be
/// refused by name.
pub const RENDERED_PARAMETERS: &[&str] = &[
    "imageSetId",
    "accept",
    "charset",
    "window",
    "viewport",
    "quality",
    "annotation",
    "iccprofile",
];

/// The parameters of PS3.18 Table 9.1-1 (WADO-URI), some read to be refused by name.
pub const WADO_URI_PARAMETERS: &[&str] = &[
    "requestType",
    "studyUID",
    "seriesUID",
    "objectUID",
    "contentType",
    "charset",
    "transferSyntax",
    "frameNumber",
    "windowCenter",
    "windowWidth",
    "rows",
    "columns",
    "imageQuality",
    "region",
    "annotation",
    "anonymize",
    "presentationUID",
    "presentationSeriesUID",
];

/// A study, series and SOP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub study: Uid,
    pub series: Uid,
    pub sop: Uid,
}

/// What a rendered or thumbnail resource shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderTarget {
    Study(Uid),
    Series(Uid, Uid),
    Instance(Instance),
    Frames(Instance, FrameList),
}

/// Why a request has no route. Each maps to one HTTP status in the edge's error table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No such resource path (404).
    #[error("no such resource")]
    NotFound,
    /// Known path, wrong method (405); `allow` lists the methods it takes.
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// Known path with a malformed part (400).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

/// The instance named by three path segments.
fn instance(study: &str, series: &str, sop: &str) -> Result<Instance, RouteError> {
    Ok(Instance {
        study: uid("study UID", study)?,
        series: uid("series UID", series)?,
        sop: uid("SOP instance UID", sop)?,
    })
}

fn invalid(what: &'static str, reason: impl ToString) -> RouteError {
    RouteError::Invalid {
        what,
        reason: reason.to_string(),
    }
}

fn frame_list(s: &str) -> Result<FrameList, RouteError> {
    FrameList::parse(s).map_err(|e: InvalidFrameList| invalid("frame list", e))
}

fn uid(what: &'static str, s: &str) -> Result<Uid, RouteError> {
    s.parse().map_err(|e: InvalidUid| invalid(what, e))
}

/// The first value of a query parameter, decoded by the one query parser.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    QueryParams::parse(query).first(name).map(str::to_owned)
}

fn image_set_param(query: Option<&str>) -> Result<Option<ImageSetId>, RouteError> {
    query_param(query, "imageSetId")
        .map(|v| {
            v.parse()
                .map_err(|e: healthimaging::InvalidId| invalid("imageSetId", e))
        })
        .transpose()
}

/// Parses `method` + `path` (relative to the base URL) + raw `query`.
///
/// One rule keeps the cache key and what the origin reads in step: what the key holds the
/// origin reads, or the request is refused.
/// - A parameter that the path's cache key holds ([`crate::behaviors`]) but the route does
///   not read is refused (`?x=1`, `?x=2`… would each be a miss that costs every frame of a
///   study); parameters outside the key are never read, as CloudFront never forwards them.
/// - A parameter the key holds that is named twice is refused, rather than read by
///   position: then no normalisation of the key (a CDN may keep or sort a repeated
///   parameter's values) can make two requests that read differently share one answer.
///
/// `token` is the authorizer's, which removes every one before the origin reads the query.
pub fn parse(method: &str, path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    let route = parse_path(method, path, query)?;
    let policy = crate::behaviors::for_path(path).cache;
    let params = QueryParams::parse(query);
    let keyed = |n: &str| n != "token" && policy.keeps(n);
    if let Some(reads) = route.reads()
        && let Some((name, _)) = params.iter().find(|(n, _)| keyed(n) && !reads.contains(n))
    {
        return Err(invalid(
            "query",
            format!("the parameter {name:?} is not one this resource takes; ask without it"),
        ));
    }
    match params.repeated(keyed) {
        Some(name) => Err(invalid(
            "query",
            format!("the parameter {name:?} is repeated; send it once"),
        )),
        None => Ok(route),
    }
}

fn parse_path(method: &str, path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let ["datastore", ds, rest @ ..] = segs.as_slice() else {
        return Err(RouteError::NotFound);
    };
    if rest.is_empty() {
        return Err(RouteError::NotFound);
    }
    let datastore: DatastoreId = ds
        .parse()
        .map_err(|e: healthimaging::InvalidId| invalid("datastore id", e))?;
    let get_only = |r: Route| {
        if method == "GET" || method == "HEAD" {
            Ok(r)
        } else {
            Err(RouteError::MethodNotAllowed { allow: "GET, HEAD" })
        }
    };
    if let [head @ .., last @ ("rendered" | "thumbnail")] = rest {
        let target = match head {
            ["studies", st] => RenderTarget::Study(uid("study UID", st)?),
            ["studies", st, "series", se] => {
                RenderTarget::Series(uid("study UID", st)?, uid("series UID", se)?)
            }
            ["studies", st, "series", se, "instances", sop] => {
                RenderTarget::Instance(instance(st, se, sop)?)
            }
            [
                "studies",
                st,
                "series",
                se,
                "instances",
                sop,
                "frames",
                list,
            ] => RenderTarget::Frames(instance(st, se, sop)?, frame_list(list)?),
            _ => return Err(RouteError::NotFound),
        };
        let thumbnail = *last == "thumbnail";
        let params = RenderParams::parse(&QueryParams::parse(query), thumbnail)
            .map_err(|e| invalid("query parameter", format!("{}: {}", e.name, e.reason)))?;
        return get_only(Route::Rendered {
            datastore,
            target,
            params,
            thumbnail,
            image_set: image_set_param(query)?,
        });
    }
    if let ["wado"] = rest {
        return get_only(wado_uri(datastore, &QueryParams::parse(query))?);
    }
    match rest {
        ["imageSet", is, "getImageFrame"] => {
            let image_set: ImageSetId = is
                .parse()
                .map_err(|e: healthimaging::InvalidId| invalid("image set id", e))?;
            match method {
                "POST" => Ok(Route::NativeFramePost {
                    datastore,
                    image_set,
                }),
                "GET" | "HEAD" => {
                    let frame = query_param(query, "imageFrameId")
                        .ok_or_else(|| {
                            invalid(
                                "imageFrameId",
                                "the query parameter imageFrameId is required",
                            )
                        })?
                        .parse()
                        .map_err(|e: healthimaging::InvalidId| invalid("imageFrameId", e))?;
                    Ok(Route::NativeFrameGet {
                        datastore,
                        image_set,
                        frame,
                    })
                }
                _ => Err(RouteError::MethodNotAllowed {
                    allow: "GET, HEAD, POST",
                }),
            }
        }
        ["studies"] => get_only(Route::SearchStudies { datastore }),
        ["series"] => get_only(Route::SearchAllSeries { datastore }),
        ["instances"] => get_only(Route::SearchAllInstances {
            datastore,
            study: None,
        }),
        ["studies", st, "instances"] => get_only(Route::SearchAllInstances {
            datastore,
            study: Some(uid("study UID", st)?),
        }),
        ["studies", st] => get_only(Route::Retrieve {
            datastore,
            study: uid("study UID", st)?,
            series: None,
            sop: None,
            image_set: image_set_param(query)?,
        }),
        ["studies", st, "series", se] => get_only(Route::Retrieve {
            datastore,
            study: uid("study UID", st)?,
            series: Some(uid("series UID", se)?),
            sop: None,
            image_set: image_set_param(query)?,
        }),
        ["studies", st, "series", se, "instances", sop] => get_only(Route::Retrieve {
            datastore,
            study: uid("study UID", st)?,
            series: Some(uid("series UID", se)?),
            sop: Some(uid("SOP instance UID", sop)?),
            image_set: image_set_param(query)?,
        }),
        ["studies", st, "series"] => get_only(Route::SearchSeries {
            datastore,
            study: uid("study UID", st)?,
        }),
        ["studies", st, "series", se, "instances"] => get_only(Route::SearchInstances {
            datastore,
            study: uid("study UID", st)?,
            series: uid("series UID", se)?,
        }),
        ["studies", st, "metadata"] => get_only(Route::StudyMetadata {
            datastore,
            study: uid("study UID", st)?,
            image_set: image_set_param(query)?,
        }),
        ["studies", st, "series", se, "metadata"] => get_only(Route::SeriesMetadata {
            datastore,
            study: uid("study UID", st)?,
            series: uid("series UID", se)?,
            image_set: image_set_param(query)?,
        }),
        ["studies", st, "series", se, "instances", sop, "metadata"] => {
            get_only(Route::InstanceMetadata {
                datastore,
                target: instance(st, se, sop)?,
                image_set: image_set_param(query)?,
            })
        }
        [
            "studies",
            st,
            "series",
            se,
            "instances",
            sop,
            "bulkdata",
            tag,
        ] => get_only(Route::Bulkdata {
            datastore,
            target: instance(st, se, sop)?,
            tag: (tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u32::from_str_radix(tag, 16).ok())
                .flatten()
                .ok_or_else(|| invalid("bulk data tag", "expected 8 hex digits"))?,
            image_set: image_set_param(query)?,
        }),
        [
            "studies",
            st,
            "series",
            se,
            "instances",
            sop,
            "frames",
            list,
        ] => get_only(Route::Frames {
            datastore,
            target: instance(st, se, sop)?,
            frames: frame_list(list)?,
            image_set: image_set_param(query)?,
        }),
        ["internal", "studies", st] => get_only(Route::ResolveStudy {
            datastore,
            study: uid("study UID", st)?,
        }),
        ["internal", "image-sets", is] => get_only(Route::ResolveImageSet {
            datastore,
            image_set: is
                .parse()
                .map_err(|e: healthimaging::InvalidId| invalid("image set id", e))?,
        }),
        _ => Err(RouteError::NotFound),
    }
}

/// A WADO-URI request (PS3.18 §9.1: `requestType=WADO`, `studyUID`, `seriesUID`,
/// `objectUID`) as the WADO-RS route that answers it:
/// - `contentType` `application/dicom` (with `transferSyntax`: a UID, or `*` for the stored
///   syntax; default Explicit VR Little Endian): the instance's Part 10 file, as WADO-RS
///   retrieve answers it;
/// - `image/jpeg` (the default) or `image/png`: the rendered frame `frameNumber` (default the
///   first), with `windowCenter` and `windowWidth` (both or neither) as `window`, `rows`
///   and `columns` as the viewport, `imageQuality` as `quality`;
/// - `region`, `annotation`, `anonymize` and presentation states are refused by name (400).
fn wado_uri(datastore: DatastoreId, q: &QueryParams) -> Result<Route, RouteError> {
    use dicomweb::rendered::{MAX_VIEWPORT_SIDE, Viewport, Window};
    let bad = |what: &'static str, reason: &str| invalid(what, reason);
    if q.first("requestType") != Some("WADO") {
        return Err(bad("requestType", "WADO-URI requests say requestType=WADO"));
    }
    let required = |name: &'static str| -> Result<Uid, RouteError> {
        uid(
            name,
            q.first(name)
                .ok_or_else(|| invalid(name, format!("the parameter {name} is required")))?,
        )
    };
    let target = Instance {
        study: required("studyUID")?,
        series: required("seriesUID")?,
        sop: required("objectUID")?,
    };
    for name in [
        "region",
        "annotation",
        "anonymize",
        "presentationUID",
        "presentationSeriesUID",
    ] {
        if q.first(name).is_some() {
            return Err(bad(name, "is not supported; ask without it"));
        }
    }
    // The first listed type served here; `*/*` and no contentType mean image/jpeg. A list
    // with none of them goes to rendering as it is, whose negotiation answers 406.
    let listed = q.first("contentType").unwrap_or("image/jpeg");
    let content_type = listed
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .find(|t| {
            matches!(
                t.as_str(),
                "application/dicom" | "image/jpeg" | "image/png" | "*/*"
            )
        })
        .unwrap_or_else(|| listed.to_owned());
    if content_type == "application/dicom" {
        let accept = match q.first("transferSyntax") {
            // `*` (what dicomweb-client sends): the stored syntax.
            Some("*") => "application/dicom; transfer-syntax=*".to_owned(),
            Some(ts) => format!(
                "application/dicom; transfer-syntax={}",
                uid("transferSyntax", ts)?
            ),
            None => "application/dicom".to_owned(),
        };
        let route = Route::Retrieve {
            datastore,
            study: target.study,
            series: Some(target.series),
            sop: Some(target.sop),
            image_set: None,
        };
        return Ok(Route::WadoUri {
            route: Box::new(route),
            accept,
        });
    }
    let number = |name: &'static str| -> Result<Option<f64>, RouteError> {
        q.first(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| invalid(name, format!("{v:?} is not a number")))
            })
            .transpose()
    };
    let side = |name: &'static str| -> Result<Option<u32>, RouteError> {
        q.first(name)
            .map(|v| dicomweb::rendered::viewport_side(v).map_err(|r| invalid(name, r)))
            .transpose()
    };
    let window = match (number("windowCenter")?, number("windowWidth")?) {
        (Some(center), Some(width)) if width >= 1.0 => Some(Window {
            center,
            width,
            function: None,
        }),
        (Some(_), Some(_)) => return Err(bad("windowWidth", "is at least 1")),
        (None, None) => None,
        _ => {
            return Err(bad(
                "windowCenter",
                "windowCenter and windowWidth go together",
            ));
        }
    };
    let viewport = match (side("columns")?, side("rows")?) {
        (None, None) => None,
        (w, h) => Some(Viewport {
            width: w.unwrap_or(MAX_VIEWPORT_SIDE),
            height: h.unwrap_or(MAX_VIEWPORT_SIDE),
            region: None,
        }),
    };
    let quality = q
        .first("imageQuality")
        .map(|v| dicomweb::rendered::quality(v).map_err(|r| invalid("imageQuality", r)))
        .transpose()?;
    let render = match q.first("frameNumber") {
        Some(n) => RenderTarget::Frames(target, frame_list(n)?),
        None => RenderTarget::Instance(target),
    };
    let accept = match content_type.as_str() {
        "*/*" => "image/jpeg",
        other => other,
    };
    Ok(Route::WadoUri {
        route: Box::new(Route::Rendered {
            datastore,
            target: render,
            params: RenderParams {
                window,
                viewport,
                quality,
            },
            thumbnail: false,
            image_set: None,
        }),
        accept: accept.to_owned(),
    })
}

/// The path of a study's internal resource.
pub fn resolve_study_path(datastore: &DatastoreId, study: &Uid) -> String {
    format!("/datastore/{datastore}/internal/studies/{study}")
}

/// The path of an image set's internal resource.
pub fn resolve_image_set_path(datastore: &DatastoreId, image_set: &ImageSetId) -> String {
    format!("/datastore/{datastore}/internal/image-sets/{image_set}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DS: &str = "0123456789abcdef0123456789abcdef";
    const IS: &str = "fedcba9876543210fedcba9876543210";

    /// What the cache key holds the origin reads: a parameter a path's key holds but its
    /// route does not read is refused, so it cannot make one answer many cache entries.
    #[test]
    fn a_keyed_parameter_the_route_does_not_read_is_refused() {
        let study = format!("/datastore/{DS}/studies/1.2");
        let native = format!("/datastore/{DS}/imageSet/{IS}/getImageFrame");
        let frame = "00112233445566778899aabbccddeeff";
        for (path, query) in [
            (study.clone(), "x=1".to_owned()),
            (format!("{study}/metadata"), "includefield=all".to_owned()),
            (
                format!("{study}/series/1.3/instances/1.4/frames/1"),
                "imageFrameId=1".to_owned(),
            ),
            (
                native.clone(),
                format!("imageFrameId={frame}&accept=image/jpeg"),
            ),
            (
                format!("/datastore/{DS}/wado"),
                "requestType=WADO&studyUID=1&seriesUID=2&objectUID=3&x=1".to_owned(),
            ),
        ] {
            let e = parse("GET", &path, Some(&query)).unwrap_err();
            assert!(
                matches!(&e, RouteError::Invalid { what: "query", reason } if reason.contains("not one this resource takes")),
                "{path}?{query}: {e:?}"
            );
        }
        for (path, query) in [
            (
                study.clone(),
                format!("imageSetId={IS}&accept=application/dicom&token=t"),
            ),
            (
                format!("/datastore/{DS}/studies"),
                "PatientID=a&limit=2&x_unknown=1".to_owned(),
            ),
            // Outside the frames key: never forwarded, never read, harmless.
            (
                format!("{study}/series/1.3/instances/1.4/frames/1"),
                "_=123".to_owned(),
            ),
            (
                format!("{study}/rendered"),
                "window=1,2,linear&_=123".to_owned(),
            ),
        ] {
            assert!(parse("GET", &path, Some(&query)).is_ok(), "{path}?{query}");
        }
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        let native = format!("/datastore/{DS}/imageSet/{IS}/getImageFrame");
        let frame = "00112233445566778899aabbccddeeff";
        for (path, query) in [
            (
                native.as_str(),
                format!("imageFrameId={frame}&imageFrameId={frame}"),
            ),
            (
                &format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/1"),
                "%61ccept=a&accept=b".to_owned(),
            ),
            (
                &format!("/datastore/{DS}/studies/1.2/metadata"),
                format!("imageSetId={IS}&imageSetId={IS}"),
            ),
            (
                &format!("/datastore/{DS}/studies"),
                "limit=1&limit=2".to_owned(),
            ),
            (
                &format!("/datastore/{DS}/studies"),
                "PatientID=a&PatientID=b".to_owned(),
            ),
        ] {
            let e = parse("GET", path, Some(&query)).unwrap_err();
            assert!(
                matches!(&e, RouteError::Invalid { what: "query", reason } if reason.contains("repeated")),
                "{path}?{query}: {e:?}"
            );
        }
        // includefield may repeat; token is the authorizer's; a parameter a frames key does
        // not hold is never read; paths and methods come first.
        let frames = format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/1");
        assert!(parse("GET", &frames, Some("limit=1&limit=2")).is_ok());
        assert!(parse("GET", &frames, Some("accept=a&accept=b")).is_err());
        let studies = format!("/datastore/{DS}/studies");
        assert!(parse("GET", &studies, Some("includefield=a&includefield=b")).is_ok());
        assert!(parse("GET", &studies, Some("token=a&token=b")).is_ok());
        assert_eq!(
            parse("GET", &format!("/datastore/{DS}/nothing"), Some("a&a")),
            Err(RouteError::NotFound)
        );
        assert!(matches!(
            parse("DELETE", &studies, Some("a&a")),
            Err(RouteError::MethodNotAllowed { .. })
        ));
    }

    #[test]
    fn parses_every_route() {
        let frames = parse(
            "GET",
            &format!("/datastore/{DS}/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/2%2C1"),
            Some(&format!("imageSetId={IS}&accept=x")),
        )
        .unwrap();
        let Route::Frames {
            target,
            frames,
            image_set,
            ..
        } = frames
        else {
            panic!("{frames:?}")
        };
        assert_eq!(target.sop.as_str(), "1.2.3.4");
        assert_eq!(frames.numbers().collect::<Vec<_>>(), [2, 1]);
        assert_eq!(image_set.unwrap().as_str(), IS);

        assert!(matches!(
            parse(
                "POST",
                &format!("/datastore/{DS}/imageSet/{IS}/getImageFrame"),
                None
            ),
            Ok(Route::NativeFramePost { .. })
        ));
        let frame = "00112233445566778899aabbccddeeff";
        let Ok(Route::NativeFrameGet { frame: f, .. }) = parse(
            "GET",
            &format!("/datastore/{DS}/imageSet/{IS}/getImageFrame"),
            Some(&format!("imageFrameId={frame}")),
        ) else {
            panic!()
        };
        assert_eq!(f.as_str(), frame);
        assert!(matches!(
            parse(
                "GET",
                &format!("/datastore/{DS}/studies"),
                Some("PatientID=x")
            ),
            Ok(Route::SearchStudies { .. })
        ));
        assert!(matches!(
            parse("GET", &format!("/datastore/{DS}/studies/1.2/series"), None),
            Ok(Route::SearchSeries { .. })
        ));
        assert!(matches!(
            parse(
                "GET",
                &format!("/datastore/{DS}/studies/1.2/series/1.3/instances"),
                None
            ),
            Ok(Route::SearchInstances { .. })
        ));
        assert!(matches!(
            parse(
                "GET",
                &format!("/datastore/{DS}/studies/1.2/metadata"),
                None
            ),
            Ok(Route::StudyMetadata { .. })
        ));
        assert!(matches!(
            parse(
                "HEAD",
                &format!("/datastore/{DS}/studies/1.2/series/1.3/metadata"),
                None
            ),
            Ok(Route::SeriesMetadata { .. })
        ));
        assert!(matches!(
            parse(
                "GET",
                &format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/metadata"),
                None
            ),
            Ok(Route::InstanceMetadata { .. })
        ));
        let r = |path: &str| parse("GET", &format!("/datastore/{DS}{path}"), None).unwrap();
        assert!(matches!(r("/series"), Route::SearchAllSeries { .. }));
        assert!(matches!(
            r("/instances"),
            Route::SearchAllInstances { study: None, .. }
        ));
        assert!(matches!(
            r("/studies/1.2/instances"),
            Route::SearchAllInstances { study: Some(_), .. }
        ));
        assert!(matches!(
            r("/studies/1.2"),
            Route::Retrieve {
                series: None,
                sop: None,
                ..
            }
        ));
        assert!(matches!(
            r("/studies/1.2/series/1.3"),
            Route::Retrieve {
                series: Some(_),
                sop: None,
                ..
            }
        ));
        let Route::Retrieve {
            sop: Some(sop),
            image_set: Some(_),
            ..
        } = parse(
            "GET",
            &format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4"),
            Some(&format!("imageSetId={IS}")),
        )
        .unwrap()
        else {
            panic!("not a retrieve")
        };
        assert_eq!(sop.as_str(), "1.4");
        assert_eq!(
            parse("POST", &format!("/datastore/{DS}/studies/1.2"), None),
            Err(RouteError::MethodNotAllowed { allow: "GET, HEAD" })
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let p = |m: &str, path: String, q: Option<&str>| parse(m, &path, q).unwrap_err();
        assert_eq!(p("GET", "/".into(), None), RouteError::NotFound);
        assert_eq!(
            p("GET", format!("/datastore/{DS}"), None),
            RouteError::NotFound
        );
        assert_eq!(
            p("GET", format!("/datastore/{DS}/studies/1.2/bogus"), None),
            RouteError::NotFound
        );
        assert_eq!(
            p(
                "GET",
                format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames"),
                None
            ),
            RouteError::NotFound
        );
        assert!(matches!(
            p("GET", "/datastore/XYZ/studies".into(), None),
            RouteError::Invalid {
                what: "datastore id",
                ..
            }
        ));
        assert!(matches!(
            p("GET", format!("/datastore/{DS}/studies/1..2/series"), None),
            RouteError::Invalid {
                what: "study UID",
                ..
            }
        ));
        assert!(matches!(
            p(
                "GET",
                format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/0"),
                None
            ),
            RouteError::Invalid {
                what: "frame list",
                ..
            }
        ));
        assert!(matches!(
            p(
                "GET",
                format!("/datastore/{DS}/studies/1.2/metadata"),
                Some("imageSetId=nope")
            ),
            RouteError::Invalid {
                what: "imageSetId",
                ..
            }
        ));
        assert!(matches!(
            p(
                "GET",
                format!("/datastore/{DS}/imageSet/{IS}/getImageFrame"),
                None
            ),
            RouteError::Invalid {
                what: "imageFrameId",
                ..
            }
        ));
        assert_eq!(
            p("DELETE", format!("/datastore/{DS}/studies"), None),
            RouteError::MethodNotAllowed { allow: "GET, HEAD" }
        );
        assert_eq!(
            p(
                "PUT",
                format!("/datastore/{DS}/imageSet/{IS}/getImageFrame"),
                None
            ),
            RouteError::MethodNotAllowed {
                allow: "GET, HEAD, POST"
            }
        );
    }
}
