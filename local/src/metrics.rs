//! `serve --metrics-listen ADDR`: the edge's and the translator's metrics in Prometheus'
//! text format (OpenMetrics, by the `prometheus-client` crate), at `/metrics` on a listener
//! of its own, outside the DICOMweb URL space and its authorizer.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use translator::observe::{Observer, Operation, Outcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: String,
    status: u16,
    cache: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// The metrics of one `serve` process.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    response_bytes: Family<ActionLabels, Counter>,
    upstream_calls: Family<CallLabels, Counter>,
    upstream_seconds: Family<OperationLabels, Histogram>,
    upstream_frame_bytes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "dicomweb_requests",
            "Answered requests by action (the audit trail's), status and edge cache result (Hit, Miss, or - when not cacheable)",
            requests.clone(),
        );
        let response_bytes = Family::<ActionLabels, Counter>::default();
        registry.register(
            "dicomweb_response_bytes",
            "Body bytes sent to viewers, by action",
            response_bytes.clone(),
        );
        let upstream_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "healthimaging_calls",
            "HealthImaging call attempts by operation and outcome (ok, throttled, not_found, denied, timeout, error)",
            upstream_calls.clone(),
        );
        // 1 ms to about 16 s.
        let upstream_seconds = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "healthimaging_call_duration_seconds",
            "Time of each HealthImaging call attempt, by operation",
            upstream_seconds.clone(),
        );
        let upstream_frame_bytes = Counter::default();
        registry.register(
            "healthimaging_frame_bytes",
            "Bytes of frames received from HealthImaging",
            upstream_frame_bytes.clone(),
        );
        Self {
            registry,
            requests,
            response_bytes,
            upstream_calls,
            upstream_seconds,
            upstream_frame_bytes,
        }
    }

    /// One answered request: `action` as the audit trail names it (`other` for the viewer's
    /// files and keys), its status, the cache's result, the body bytes sent.
    pub fn request(&self, action: &str, status: u16, cache: Option<&str>, bytes: u64) {
        self.requests
            .get_or_create(&RequestLabels {
                action: action.to_owned(),
                status,
                cache: cache.unwrap_or("-").to_owned(),
            })
            .inc();
        self.response_bytes
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc_by(bytes);
    }

    /// The text `/metrics` answers.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// A router answering `GET /metrics`, for a listener of its own.
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = self.clone();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        )
    }
}

impl Observer for Metrics {
    fn upstream_call(&self, operation: Operation, outcome: Outcome, elapsed: Duration, bytes: u64) {
        self.upstream_calls
            .get_or_create(&CallLabels {
                operation: operation.as_str(),
                outcome: outcome.as_str(),
            })
            .inc();
        self.upstream_seconds
            .get_or_create(&OperationLabels {
                operation: operation.as_str(),
            })
            .observe(elapsed.as_secs_f64());
        self.upstream_frame_bytes.inc_by(bytes);
    }
}
