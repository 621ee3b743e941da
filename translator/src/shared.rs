//! Resolution shared between translator instances through the CDN ([`edge::internal`]).
//!
//! Deployed, every Lambda instance starts with empty caches, and SearchImageSets (25/s) and
//! GetImageSetMetadata (50/s) are HealthImaging's scarcest quotas. So an instance that misses
//! its own cache asks the distribution for the study's image sets or the image set's
//! metadata ([`SharedUpstream`]); CloudFront collapses the simultaneous requests into one,
//! whichever instance receives it calls HealthImaging ([`answer_study`],
//! [`answer_image_set`]), and the answer is cached for the instances that come later.
//!
//! HealthImaging's refusals travel back as HealthImaging sends them (status,
//! `x-amzn-ErrorType`, `{"message"}`, never cached), so a throttled or missing resource is
//! the same error on every instance. When the distribution cannot be used (unreachable,
//! refusing the signature, answering something else) the instance calls HealthImaging
//! itself and logs why.

use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::Bytes;
use dicomweb::Uid;
use edge::EdgeError;
use edge::internal::{HEADER, InternalKey};
use edge::routes::{resolve_image_set_path, resolve_study_path};
use futures_util::future::BoxFuture;
use healthimaging::api::{
    AhiError, ImageSetSummary, Operator, SearchCriteria, SearchFilter, SearchValue,
};
use healthimaging::client::FrameSegments;
use healthimaging::{
    ClientError, DatastoreId, ErrorKind, ImageFrameId, ImageSetId, ImageSetMetadata,
};
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};

use crate::Translator;
use crate::source::Upstream;

/// The time an internal request may take (a metadata document can be 50 MB).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The translator's upstream when instances share resolution: searches for one study and
/// metadata through the distribution, everything else (frames, other searches) directly.
pub struct SharedUpstream {
    direct: Arc<dyn Upstream>,
    key: InternalKey,
    /// `scheme://host` of the distribution: configured, or learnt from the requests the
    /// viewer-request function forwards ([`edge::lambda_edge::PUBLIC_URL_HEADER`]).
    base: RwLock<Option<Arc<str>>>,
    http: reqwest::Client,
}

/// What a fetch through the distribution gave.
enum Fetched {
    Body(Bytes),
    /// HealthImaging's own refusal, relayed by the instance that called it.
    Refused(ClientError),
    /// The distribution could not answer; the reason is for the log.
    Unavailable(String),
}

impl SharedUpstream {
    pub fn new(direct: Arc<dyn Upstream>, key: InternalKey, base: Option<String>) -> Self {
        Self {
            direct,
            key,
            base: RwLock::new(base.map(Arc::from)),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Notes where the distribution is (from a forwarded request).
    pub fn learn_base(&self, url: &str) {
        let known = self.base.read().ok().and_then(|b| b.clone());
        if known.as_deref() != Some(url)
            && let Ok(mut b) = self.base.write()
        {
            *b = Some(Arc::from(url));
        }
    }

    fn base(&self) -> Option<Arc<str>> {
        self.base.read().ok().and_then(|b| b.clone())
    }

    async fn fetch(&self, base: &str, path: &str) -> Fetched {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let resp = match self
            .http
            .get(format!("{base}{path}"))
            .header(HEADER, self.key.sign(path, now))
            .header(header::ACCEPT, "application/json")
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Fetched::Unavailable(format!("{e}")),
        };
        let status = resp.status();
        let error_type = resp
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorKind::from_type_name);
        let gzipped = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Fetched::Unavailable(format!("{e}")),
        };
        if let Some(kind) = error_type.filter(|_| !status.is_success()) {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Fetched::Refused(ClientError::Service(AhiError::new(kind, message)));
        }
        if status != StatusCode::OK {
            return Fetched::Unavailable(format!("the distribution answered {status}"));
        }
        if !gzipped {
            return Fetched::Body(body);
        }
        let mut json = Vec::with_capacity(body.len() * 8);
        match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut json) {
            Ok(_) => Fetched::Body(json.into()),
            Err(e) => Fetched::Unavailable(format!("the answer is not valid gzip: {e}")),
        }
    }

    /// `path` through the distribution, read as `T`; HealthImaging's refusals as errors;
    /// `None` when the distribution could not be used.
    async fn through_cdn<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Option<Result<T, ClientError>> {
        // Before the first forwarded request (only a request sent to the origin directly),
        // there is no distribution to ask.
        let base = self.base()?;
        let why = match self.fetch(&base, path).await {
            Fetched::Body(b) => match serde_json::from_slice(&b) {
                Ok(v) => return Some(Ok(v)),
                Err(e) => format!("the answer does not parse: {e}"),
            },
            Fetched::Refused(e) => return Some(Err(e)),
            Fetched::Unavailable(why) => why,
        };
        tracing::warn!(path, reason = %why, "shared resolution unavailable; calling HealthImaging directly");
        None
    }
}

/// The study a search is for, when it is the translator's one-study search.
fn one_study(criteria: &SearchCriteria) -> Option<Uid> {
    match (&criteria.filters[..], &criteria.sort) {
        ([f], None) if f.operator == Operator::Equal => match &f.values[..] {
            [SearchValue::StudyInstanceUid(uid)] => uid.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The translator's search for the image sets of `study`.
pub fn study_criteria(study: &Uid) -> SearchCriteria {
    SearchCriteria {
        filters: vec![SearchFilter {
            operator: Operator::Equal,
            values: vec![SearchValue::StudyInstanceUid(study.as_str().to_owned())],
        }],
        sort: None,
    }
}

impl Upstream for SharedUpstream {
    fn search<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        Box::pin(async move {
            if let Some(study) = one_study(criteria)
                && let Some(r) = self
                    .through_cdn(&resolve_study_path(datastore, &study))
                    .await
            {
                return r;
            }
            self.direct.search(datastore, criteria).await
        })
    }

    fn metadata<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        Box::pin(async move {
            match self
                .through_cdn(&resolve_image_set_path(datastore, image_set))
                .await
            {
                Some(r) => r,
                None => self.direct.metadata(datastore, image_set).await,
            }
        })
    }

    fn frame<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>> {
        self.direct.frame(datastore, image_set, frame)
    }
}

/// Answers `…/internal/studies/{study}`: the study's image sets, from HealthImaging itself
/// (never from this instance's caches, which may be older).
pub async fn answer_study(
    tr: &Translator,
    req: &Parts,
    datastore: &DatastoreId,
    study: &Uid,
) -> Response<Body> {
    match tr.upstream.search(datastore, &study_criteria(study)).await {
        Ok(found) => {
            let ttl = if found.is_empty() {
                tr.config.resolver.negative_ttl
            } else {
                tr.config.resolver.search_ttl
            };
            json(req, serde_json::to_vec(&found), ttl)
        }
        Err(e) => failure(e),
    }
}

/// Answers `…/internal/image-sets/{id}`: the image set's metadata, from HealthImaging itself.
pub async fn answer_image_set(
    tr: &Translator,
    req: &Parts,
    datastore: &DatastoreId,
    image_set: &ImageSetId,
) -> Response<Body> {
    match tr.upstream.metadata(datastore, image_set).await {
        Ok(doc) => {
            let ttl = Duration::from_secs(tr.config.metadata_max_age_seconds);
            json(req, serde_json::to_vec(&doc), ttl)
        }
        Err(e) => failure(e),
    }
}

fn json(req: &Parts, json: serde_json::Result<Vec<u8>>, ttl: Duration) -> Response<Body> {
    match json {
        Ok(j) => crate::metadata::json_bytes_answer(req, "application/json", j, ttl.as_secs()),
        Err(_) => crate::error_response(&EdgeError::Misconfigured(
            "cannot serialise HealthImaging's answer",
        )),
    }
}

/// HealthImaging's refusals as it sends them; the edge's own failures (timeouts,
/// unreachable) from the error table.
fn failure(e: ClientError) -> Response<Body> {
    match e {
        ClientError::Service(e) => refusal(&e),
        e => crate::error_response(&EdgeError::from(e)),
    }
}

/// HealthImaging's refusal as HealthImaging sends it, never cached.
fn refusal(e: &AhiError) -> Response<Body> {
    tracing::warn!(error = %e, "HealthImaging refused an internal request");
    let mut r = Response::new(Body::from(e.body()));
    *r.status_mut() =
        StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static(e.kind.type_name()),
    );
    r
}
