//! Where the translator's data comes from: the seam in front of HealthImaging. The
//! translator asks for three things, searches, image-set metadata and frames; HealthImaging's
//! image-set API answers them in production ([`HealthImagingClient`]), and an in-memory
//! source answers them in unit tests, so every plan and answer can be checked without
//! sockets, SigV4 or the emulator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use healthimaging::api::{ImageSetSummary, SearchCriteria, SearchValue};
use healthimaging::client::{FrameSegments, HealthImagingClient};
use healthimaging::{
    ClientError, DatastoreId, ErrorKind, ImageFrameId, ImageSetId, ImageSetMetadata,
};

/// The calls the translator makes upstream.
pub trait Upstream: Send + Sync {
    /// Every image set matching `criteria` (all pages).
    fn search<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>>;

    /// The current version of one image set's metadata.
    fn metadata<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>>;

    /// One frame as stored, with the content type HealthImaging gives it.
    fn frame<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>>;
}

impl Upstream for HealthImagingClient {
    fn search<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        Box::pin(self.search_all(datastore, criteria))
    }

    fn metadata<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        Box::pin(self.get_image_set_metadata(datastore, image_set, None))
    }

    fn frame<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>> {
        Box::pin(self.get_image_frame_segments(datastore, image_set, frame))
    }
}

/// HealthImaging's throttling waited out: a call refused with `ThrottlingException` is made
/// again after an exponential backoff with full jitter (a random wait up to a ceiling that
/// doubles from 100 ms to 5 s; AWS Architecture Blog, "Exponential Backoff And Jitter"),
/// until `patience` has passed since the first attempt; then the refusal stands (503 with
/// `Retry-After`). Over a quota, viewers so get their frames later rather than not at all.
/// The SDK's own retries (three attempts, from a small shared budget) run inside each call.
pub struct Patient {
    inner: Arc<dyn Upstream>,
    patience: Duration,
}

impl Patient {
    pub fn new(inner: Arc<dyn Upstream>, patience: Duration) -> Self {
        Self { inner, patience }
    }

    async fn call<T, Fut>(&self, mut attempt: impl FnMut() -> Fut) -> Result<T, ClientError>
    where
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let started = tokio::time::Instant::now();
        let mut ceiling = Duration::from_millis(100);
        loop {
            match attempt().await {
                Err(e) if e.kind() == Some(ErrorKind::Throttling) => {
                    let left = self.patience.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(e);
                    }
                    tokio::time::sleep(ceiling.mul_f64(rand::random::<f64>()).min(left)).await;
                    ceiling = (ceiling * 2).min(Duration::from_secs(5));
                }
                r => return r,
            }
        }
    }
}

impl Upstream for Patient {
    fn search<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        Box::pin(self.call(move || self.inner.search(datastore, criteria)))
    }

    fn metadata<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        Box::pin(self.call(move || self.inner.metadata(datastore, image_set)))
    }

    fn frame<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>> {
        Box::pin(self.call(move || self.inner.frame(datastore, image_set, frame)))
    }
}

/// Image sets and frames held in memory, counting the calls made to it. Searches match
/// `DICOMStudyInstanceUID` equality filters (what the translator pushes down) and return
/// every image set otherwise.
#[derive(Default)]
pub struct MemorySource {
    image_sets: Vec<(ImageSetSummary, ImageSetMetadata)>,
    frames: HashMap<ImageFrameId, (String, Bytes)>,
    failing: Mutex<HashMap<ImageFrameId, Failing>>,
    pub calls: Calls,
}

/// A frame that fails with this error instead of being served: the next `n` calls, or all
/// when `None`.
type Failing = (fn() -> ClientError, Option<usize>);

/// Calls made to a [`MemorySource`], per operation.
#[derive(Default, Debug)]
pub struct Calls {
    pub search: AtomicUsize,
    pub metadata: AtomicUsize,
    pub frame: AtomicUsize,
}

impl Calls {
    /// (searches, metadata reads, frames) so far.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.search.load(Ordering::Relaxed),
            self.metadata.load(Ordering::Relaxed),
            self.frame.load(Ordering::Relaxed),
        )
    }
}

impl MemorySource {
    /// Adds an image set: its search summary and its metadata document.
    pub fn with_image_set(mut self, summary: ImageSetSummary, metadata: ImageSetMetadata) -> Self {
        self.image_sets.push((summary, metadata));
        self
    }

    /// Adds a frame's bytes with HealthImaging's content type for them.
    pub fn with_frame(mut self, id: ImageFrameId, content_type: &str, bytes: &[u8]) -> Self {
        self.frames
            .insert(id, (content_type.to_owned(), Bytes::copy_from_slice(bytes)));
        self
    }

    /// Makes a frame fail with `error` from now on.
    pub fn fail_frame(&self, id: ImageFrameId, error: fn() -> ClientError) {
        if let Ok(mut f) = self.failing.lock() {
            f.insert(id, (error, None));
        }
    }

    /// Makes the next `times` calls for a frame fail with `error`.
    pub fn fail_frame_times(&self, id: ImageFrameId, times: usize, error: fn() -> ClientError) {
        if let Ok(mut f) = self.failing.lock() {
            f.insert(id, (error, Some(times)));
        }
    }
}

fn not_found(what: &str) -> ClientError {
    ClientError::Service(healthimaging::AhiError::new(
        healthimaging::ErrorKind::ResourceNotFound,
        format!("{what} not found"),
    ))
}

impl Upstream for MemorySource {
    fn search<'a>(
        &'a self,
        _datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        self.calls.search.fetch_add(1, Ordering::Relaxed);
        let study = criteria
            .filters
            .iter()
            .flat_map(|f| &f.values)
            .find_map(|v| match v {
                SearchValue::StudyInstanceUid(s) => Some(s.clone()),
                _ => None,
            });
        let found = self
            .image_sets
            .iter()
            .filter(|(_, m)| {
                study
                    .as_deref()
                    .is_none_or(|s| m.study_instance_uid() == Some(s))
            })
            .map(|(s, _)| s.clone())
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn metadata<'a>(
        &'a self,
        _datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        self.calls.metadata.fetch_add(1, Ordering::Relaxed);
        let found = self
            .image_sets
            .iter()
            .find(|(_, m)| m.image_set_id == *image_set)
            .map(|(_, m)| m.clone())
            .ok_or_else(|| not_found("image set"));
        Box::pin(async move { found })
    }

    fn frame<'a>(
        &'a self,
        _datastore: &'a DatastoreId,
        _image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>> {
        self.calls.frame.fetch_add(1, Ordering::Relaxed);
        let failing = self.failing.lock().ok().and_then(|mut f| {
            let (error, left) = f.get_mut(frame)?;
            match left {
                Some(0) => None,
                Some(n) => {
                    *n -= 1;
                    Some(*error)
                }
                None => Some(*error),
            }
        });
        let found = match failing {
            Some(error) => Err(error()),
            None => self
                .frames
                .get(frame)
                .map(|(ct, b)| FrameSegments {
                    content_type: ct.clone(),
                    segments: vec![b.clone()],
                })
                .ok_or_else(|| not_found("image frame")),
        };
        Box::pin(async move { found })
    }
}
