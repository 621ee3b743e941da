//! What the translator reports about its work, for the shell to turn into metrics: each
//! HealthImaging call attempt with its operation, outcome and time. The translator does not
//! format metrics; `serve` exports them in Prometheus' format (`local::metrics`), and an
//! [`Observer`] that does nothing is the default.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use healthimaging::api::{ImageSetSummary, SearchCriteria};
use healthimaging::client::FrameSegments;
use healthimaging::{
    ClientError, DatastoreId, ErrorKind, ImageFrameId, ImageSetId, ImageSetMetadata,
};

use crate::source::Upstream;

/// The HealthImaging operations the translator calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    SearchImageSets,
    GetImageSetMetadata,
    GetImageFrame,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::SearchImageSets => "SearchImageSets",
            Operation::GetImageSetMetadata => "GetImageSetMetadata",
            Operation::GetImageFrame => "GetImageFrame",
        }
    }
}

/// How a call attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    /// Refused for a quota (`ThrottlingException`, `ServiceQuotaExceededException`).
    Throttled,
    /// The ID named nothing (`ResourceNotFoundException`).
    NotFound,
    /// Refused for access (`AccessDeniedException`, a signature HealthImaging refused).
    Denied,
    /// No answer in time.
    Timeout,
    /// Anything else: HealthImaging's 5xx, a broken or unreadable answer, unreachable.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::NotFound => "not_found",
            Outcome::Denied => "denied",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }

    fn of<T>(result: &Result<T, ClientError>) -> Self {
        let e = match result {
            Ok(_) => return Outcome::Ok,
            Err(e) => e,
        };
        if matches!(e, ClientError::Timeout) {
            return Outcome::Timeout;
        }
        match e.kind() {
            Some(ErrorKind::Throttling | ErrorKind::ServiceQuotaExceeded) => Outcome::Throttled,
            Some(ErrorKind::ResourceNotFound) => Outcome::NotFound,
            Some(
                ErrorKind::AccessDenied
                | ErrorKind::InvalidSignature
                | ErrorKind::UnrecognizedClient
                | ErrorKind::MissingAuthenticationToken,
            ) => Outcome::Denied,
            _ => Outcome::Error,
        }
    }
}

/// Receives the translator's reports; implementations must be cheap (they run on every
/// call) and must not block.
pub trait Observer: Send + Sync {
    /// One HealthImaging call attempt, `bytes` long when it answered a frame.
    fn upstream_call(&self, operation: Operation, outcome: Outcome, elapsed: Duration, bytes: u64);
}

/// The default: reports go nowhere.
pub struct Nobody;

impl Observer for Nobody {
    fn upstream_call(&self, _: Operation, _: Outcome, _: Duration, _: u64) {}
}

/// The observer of a [`crate::TranslatorConfig`].
#[derive(Clone)]
pub struct SharedObserver(pub Arc<dyn Observer>);

impl Default for SharedObserver {
    fn default() -> Self {
        Self(Arc::new(Nobody))
    }
}

impl std::fmt::Debug for SharedObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedObserver")
    }
}

/// An upstream whose every call attempt is reported: it sits under the waiting out of
/// throttling ([`crate::source::Patient`]), so each throttled attempt counts.
pub struct Observed {
    pub inner: Arc<dyn Upstream>,
    pub observer: Arc<dyn Observer>,
}

impl Observed {
    async fn timed<T>(
        &self,
        operation: Operation,
        call: BoxFuture<'_, Result<T, ClientError>>,
        size: impl Fn(&T) -> u64,
    ) -> Result<T, ClientError> {
        let started = Instant::now();
        let result = call.await;
        let bytes = result.as_ref().map(&size).unwrap_or(0);
        self.observer
            .upstream_call(operation, Outcome::of(&result), started.elapsed(), bytes);
        result
    }
}

impl Upstream for Observed {
    fn search<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        criteria: &'a SearchCriteria,
    ) -> BoxFuture<'a, Result<Vec<ImageSetSummary>, ClientError>> {
        Box::pin(self.timed(
            Operation::SearchImageSets,
            self.inner.search(datastore, criteria),
            |_| 0,
        ))
    }

    fn metadata<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
    ) -> BoxFuture<'a, Result<ImageSetMetadata, ClientError>> {
        Box::pin(self.timed(
            Operation::GetImageSetMetadata,
            self.inner.metadata(datastore, image_set),
            |_| 0,
        ))
    }

    fn frame<'a>(
        &'a self,
        datastore: &'a DatastoreId,
        image_set: &'a ImageSetId,
        frame: &'a ImageFrameId,
    ) -> BoxFuture<'a, Result<FrameSegments, ClientError>> {
        Box::pin(self.timed(
            Operation::GetImageFrame,
            self.inner.frame(datastore, image_set, frame),
            |f| f.len() as u64,
        ))
    }
}
