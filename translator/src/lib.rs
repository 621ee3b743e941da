//! The translator: the origin CloudFront sends DICOMweb GETs to. It answers WADO-RS requests
//! from AHI's image-set API (SearchImageSets, GetImageSetMetadata, GetImageFrame) and the
//! native cacheable `GET …/getImageFrame`, WADO-RS metadata and QIDO-RS search.
//!
//! One entry point, [`Translator::handle`], takes the request head and returns a streaming
//! response, so the same code serves the local server and the Lambda bootstrap. Each
//! handler runs the same steps (docs/architecture.md): route (parsed by the edge's
//! [`edge::routes`]) → locate (the [`resolve`] caches in front of the [`source`]) → plan
//! ([`plan`]: representation and errors, no I/O) → fetch, transform, encode and stream.

pub mod answer;
pub mod body;
pub mod bulkdata;
pub mod dicom_json;
pub mod emf;
pub mod frames;
pub mod integrity;
pub mod metadata;
pub mod observe;
pub mod part10;
pub mod plan;
pub mod read_ahead;
pub mod render;
pub mod rendered;
pub mod resolve;
pub mod retrieve;
pub mod search;
pub mod shared;
pub mod source;
pub mod transcode;

use std::sync::Arc;

use axum::body::Body;
use edge::{EdgeError, Route};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use metadata::Scope;
use resolve::{Resolver, ResolverConfig};
use source::Upstream;

/// Tuning of the translator.
#[derive(Debug, Clone)]
pub struct TranslatorConfig {
    /// GetImageFrame calls in flight per request.
    pub frame_concurrency: usize,
    /// `max-age` of frame responses (they are immutable under their URL).
    pub frames_max_age_seconds: u64,
    /// `max-age` of metadata responses (they change when image sets do).
    pub metadata_max_age_seconds: u64,
    /// The URL viewers reach this deployment by (`scheme://host[:port]`), for the
    /// BulkDataURIs in metadata. Without it the request's `Host` is used, which a shared
    /// cache does not key on, so deployments behind a cache must set it.
    pub public_url: Option<String>,
    /// The largest decoded frame the translator produces (bytes); larger frames are only
    /// offered as stored, so a decode never allocates more than this per frame.
    pub max_decoded_frame_bytes: u64,
    /// The most pixels (width × height) a rendered image or thumbnail may have.
    pub max_rendered_pixels: u64,
    pub resolver: ResolverConfig,
    /// How long a HealthImaging call may wait out throttling ([`source::Patient`]); zero
    /// answers the first refusal with 503.
    pub throttle_patience: std::time::Duration,
    /// With the edge's internal key, instances share what they resolve through the
    /// distribution ([`shared`]); without it each resolves alone.
    pub internal_key: Option<edge::internal::InternalKey>,
    /// The bound on frames held ahead of the clients reading them, shared by every
    /// translator built from clones of this configuration ([`read_ahead`]).
    pub read_ahead: read_ahead::ReadAhead,
    /// Who hears of each HealthImaging call attempt ([`observe`]; by default nobody).
    pub observer: observe::SharedObserver,
}

impl Default for TranslatorConfig {
    fn default() -> Self {
        Self {
            frame_concurrency: 16,
            frames_max_age_seconds: 365 * 24 * 3600,
            metadata_max_age_seconds: 60,
            public_url: None,
            max_decoded_frame_bytes: 256 << 20,
            max_rendered_pixels: 64 << 20,
            resolver: ResolverConfig::default(),
            internal_key: None,
            throttle_patience: std::time::Duration::from_secs(20),
            read_ahead: read_ahead::ReadAhead::default(),
            observer: observe::SharedObserver::default(),
        }
    }
}

/// The translator's state: where data comes from and the resolution caches.
pub struct Translator {
    upstream: Arc<dyn Upstream>,
    shared: Option<Arc<shared::SharedUpstream>>,
    resolver: Resolver,
    config: TranslatorConfig,
}

impl Translator {
    /// A translator over `upstream` (HealthImaging's client, or a [`source::MemorySource`]).
    pub fn new(upstream: Arc<dyn Upstream>, config: TranslatorConfig) -> Self {
        let upstream: Arc<dyn Upstream> = Arc::new(observe::Observed {
            inner: upstream,
            observer: config.observer.0.clone(),
        });
        let upstream: Arc<dyn Upstream> = if config.throttle_patience.is_zero() {
            upstream
        } else {
            Arc::new(source::Patient::new(upstream, config.throttle_patience))
        };
        let shared = config.internal_key.clone().map(|key| {
            Arc::new(shared::SharedUpstream::new(
                upstream.clone(),
                key,
                config.public_url.clone(),
            ))
        });
        let resolving: Arc<dyn Upstream> = match &shared {
            Some(s) => s.clone(),
            None => upstream.clone(),
        };
        Self {
            resolver: Resolver::new(resolving, &config.resolver),
            upstream,
            shared,
            config,
        }
    }

    /// The origin phase: answers one request (errors included, from the edge's one table,
    /// [`edge::errors`]).
    pub async fn handle(&self, req: &Parts) -> Response<Body> {
        if let Some(s) = &self.shared
            && self.config.public_url.is_none()
            && let Some(url) = metadata::forwarded_public_url(req)
        {
            s.learn_base(&url);
        }
        // Every line logged while the answer is decided names the request as CloudFront does
        // (`X-Amz-Cf-Id`, the access and audit logs' ID).
        let id = req
            .headers
            .get("x-amz-cf-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let span = tracing::info_span!("request", id);
        let r = match tracing::Instrument::instrument(self.dispatch(req), span).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        };
        if req.method == http::Method::HEAD {
            // The head as a GET would have it, its status decided (the first part fetched),
            // and the body dropped here: frames fetched ahead stop, and a shell that pumps
            // the body (Lambda's streaming) does not fetch the rest to throw it away.
            return r.map(|_| Body::empty());
        }
        r
    }

    async fn dispatch(&self, req: &Parts) -> Result<Response<Body>, EdgeError> {
        let route = edge::routes::parse(req.method.as_str(), req.uri.path(), req.uri.query())?;
        if let Route::WadoUri { route, accept } = route {
            // The WADO-RS answer, with the WADO-URI contentType as its Accept.
            let mut head = http::Request::builder()
                .method(req.method.clone())
                .uri(req.uri.clone())
                .body(())
                .map_err(|e| EdgeError::BadRequest(e.to_string()))?
                .into_parts()
                .0;
            head.headers = req.headers.clone();
            head.headers.insert(
                http::header::ACCEPT,
                HeaderValue::from_str(&accept).map_err(|_| {
                    EdgeError::BadRequest("contentType is not a header value".into())
                })?,
            );
            return self.answer(*route, &head).await;
        }
        self.answer(route, req).await
    }

    async fn answer(&self, route: Route, req: &Parts) -> Result<Response<Body>, EdgeError> {
        match route {
            Route::Frames {
                datastore,
                target,
                frames,
                image_set,
            } => frames::retrieve(self, req, datastore, target, frames, image_set).await,
            Route::NativeFrameGet {
                datastore,
                image_set,
                frame,
            } => frames::native_get(self, req, datastore, image_set, frame).await,
            Route::NativeFramePost { .. } => Err(EdgeError::NotImplemented(
                "the native POST getImageFrame path",
            )),
            Route::SearchStudies { datastore } => search::studies(self, req, datastore).await,
            Route::SearchSeries { datastore, study } => {
                search::series(self, req, datastore, study).await
            }
            Route::SearchInstances {
                datastore,
                study,
                series,
            } => search::instances(self, req, datastore, study, series).await,
            Route::SearchAllSeries { datastore } => {
                search::across(self, req, datastore, None, search::Level::Series).await
            }
            Route::SearchAllInstances { datastore, study } => {
                search::across(self, req, datastore, study, search::Level::Instances).await
            }
            Route::Retrieve {
                datastore,
                study,
                series,
                sop,
                image_set,
            } => {
                let scope = match (series, sop) {
                    (Some(se), Some(sop)) => Scope::Instance(study, se, sop),
                    (Some(se), None) => Scope::Series(study, se),
                    _ => Scope::Study(study),
                };
                retrieve::retrieve(self, req, datastore, scope, image_set).await
            }
            Route::StudyMetadata {
                datastore,
                study,
                image_set,
            } => metadata::retrieve(self, req, datastore, Scope::Study(study), image_set).await,
            Route::SeriesMetadata {
                datastore,
                study,
                series,
                image_set,
            } => {
                let scope = Scope::Series(study, series);
                metadata::retrieve(self, req, datastore, scope, image_set).await
            }
            Route::Bulkdata {
                datastore,
                target,
                tag,
                image_set,
            } => bulkdata::retrieve(self, req, datastore, target, tag, image_set).await,
            Route::InstanceMetadata {
                datastore,
                target,
                image_set,
            } => {
                let scope = Scope::Instance(target.study, target.series, target.sop);
                metadata::retrieve(self, req, datastore, scope, image_set).await
            }
            Route::Rendered {
                datastore,
                target,
                params,
                thumbnail,
                image_set,
            } => {
                let r = rendered::Rendering {
                    datastore,
                    target,
                    params,
                    thumbnail,
                    image_set,
                };
                rendered::retrieve(self, req, r).await
            }
            Route::WadoUri { .. } => {
                Err(EdgeError::NotImplemented("a WADO-URI request inside one"))
            }
            Route::ResolveStudy { datastore, study } => {
                Ok(shared::answer_study(self, req, &datastore, &study).await)
            }
            Route::ResolveImageSet {
                datastore,
                image_set,
            } => Ok(shared::answer_image_set(self, req, &datastore, &image_set).await),
        }
    }
}

impl Translator {
    /// How many frames an answer fetches at once: one for HEAD, which needs only what decides
    /// its status (the first part), so it costs no more upstream calls than that part.
    pub(crate) fn frame_concurrency(&self, req: &Parts) -> usize {
        if req.method == http::Method::HEAD {
            1
        } else {
            self.config.frame_concurrency.max(1)
        }
    }
}

/// The error for a blocking task of the translator's (`task` names it) that stopped before
/// answering, a panic in a decoder or writer: 500, with the cause in the log only.
pub(crate) fn stopped(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> EdgeError {
    move |e| {
        tracing::error!(task, error = %e, "task stopped");
        EdgeError::Internal(task)
    }
}

/// The error table's answer as an HTTP response, logged: failures as warnings (with the
/// upstream detail, which the body never holds), refusals at debug level. CORS headers are
/// added by the shell's viewer-response phase, as for every other response.
pub fn error_response(e: &EdgeError) -> Response<Body> {
    let a = e.answer();
    if a.is_failure {
        tracing::warn!(status = a.status, error = %e, "request failed");
    } else {
        tracing::debug!(status = a.status, error = %e, "request refused");
    }
    let mut r = Response::new(Body::from(a.body.clone()));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &a.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(*name), HeaderValue::from_str(value)) {
            r.headers_mut().append(n, v);
        }
    }
    r
}
