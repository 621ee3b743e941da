//! The translator's metrics as CloudWatch Embedded Metric Format documents (CloudWatch user
//! guide, "Specification: Embedded metric format"): JSON log lines from which CloudWatch
//! Logs extracts metrics, so the Lambda function needs no API call to publish them. The
//! Lambda shell prints one document per answered request, and one per HealthImaging
//! operation and outcome seen since the previous print (a Lambda instance serves one
//! request at a time, so those are the request's calls). Building the documents needs no
//! I/O; printing them is the shell's.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::observe::{Observer, Operation, Outcome};

/// The CloudWatch namespace of the metrics, unless `METRICS_NAMESPACE` names another.
pub const DEFAULT_NAMESPACE: &str = "DicomwebEdge";

/// At most this many values in one metric's array (the specification's limit).
const MAX_VALUES: usize = 100;

/// Collects HealthImaging call attempts between prints.
#[derive(Default)]
pub struct EmfRecorder {
    calls: Mutex<BTreeMap<(&'static str, &'static str), Vec<f64>>>,
}

impl Observer for EmfRecorder {
    fn upstream_call(&self, operation: Operation, outcome: Outcome, elapsed: Duration, _: u64) {
        if let Ok(mut calls) = self.calls.lock() {
            calls
                .entry((operation.as_str(), outcome.as_str()))
                .or_default()
                .push(elapsed.as_secs_f64() * 1000.0);
        }
    }
}

impl EmfRecorder {
    /// The documents of the calls collected since the last time, at `now_ms` (milliseconds
    /// since the epoch): one per operation and outcome, and per hundred calls.
    pub fn take_documents(&self, namespace: &str, now_ms: u64) -> Vec<String> {
        let calls = match self.calls.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(_) => return Vec::new(),
        };
        let mut out = Vec::new();
        for ((operation, outcome), times) in calls {
            for chunk in times.chunks(MAX_VALUES) {
                let count = chunk.len();
                out.push(document(
                    namespace,
                    now_ms,
                    &[("Operation", operation), ("Outcome", outcome)],
                    &[
                        ("HealthImagingCalls", "Count", json!(count)),
                        ("HealthImagingCallTime", "Milliseconds", json!(chunk)),
                    ],
                    None,
                ));
            }
        }
        out
    }
}

/// The document of one answered request: its action (the audit trail's name), status, time
/// from the request to the answer's end and body bytes, with its CloudFront request ID as a property (not a
/// dimension: one metric per ID would cost a metric each).
pub fn request_document(
    namespace: &str,
    now_ms: u64,
    action: &str,
    status: u16,
    elapsed: Duration,
    bytes: u64,
    request_id: Option<&str>,
) -> String {
    let status = status.to_string();
    document(
        namespace,
        now_ms,
        &[("Action", action), ("Status", &status)],
        &[
            ("Requests", "Count", json!(1)),
            (
                "ResponseTime",
                "Milliseconds",
                json!(elapsed.as_secs_f64() * 1000.0),
            ),
            ("ResponseBytes", "Bytes", json!(bytes)),
        ],
        request_id,
    )
}

/// One EMF document: the dimensions' values and the metrics' values as top-level members,
/// described by `_aws.CloudWatchMetrics`.
fn document(
    namespace: &str,
    now_ms: u64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, Value)],
    request_id: Option<&str>,
) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), json!(v));
    }
    for (name, _, value) in metrics {
        doc.insert((*name).into(), value.clone());
    }
    if let Some(id) = request_id {
        doc.insert("requestId".into(), json!(id));
    }
    Value::Object(doc).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the specification requires of a document: `_aws` with a millisecond
    /// `Timestamp` and `CloudWatchMetrics` directives, each naming a namespace, dimension
    /// sets of at most 30 keys that are top-level strings, and at most 100 metrics whose
    /// names are top-level numbers or arrays of at most 100 numbers, with a valid unit.
    fn conforms(text: &str) -> Value {
        let doc: Value = serde_json::from_str(text).unwrap();
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].as_u64().unwrap() > 1_000_000_000_000);
        for directive in aws["CloudWatchMetrics"].as_array().unwrap() {
            assert!(!directive["Namespace"].as_str().unwrap().is_empty());
            for set in directive["Dimensions"].as_array().unwrap() {
                let set = set.as_array().unwrap();
                assert!(set.len() <= 30);
                for key in set {
                    assert!(doc[key.as_str().unwrap()].is_string(), "{key}");
                }
            }
            let metrics = directive["Metrics"].as_array().unwrap();
            assert!(metrics.len() <= 100);
            for m in metrics {
                let value = &doc[m["Name"].as_str().unwrap()];
                match value {
                    Value::Number(_) => {}
                    Value::Array(values) => {
                        assert!(values.len() <= MAX_VALUES && values.iter().all(Value::is_number));
                    }
                    other => panic!("{other}"),
                }
                assert!(["Count", "Milliseconds", "Bytes"].contains(&m["Unit"].as_str().unwrap()));
            }
        }
        doc
    }

    #[test]
    fn a_request_is_one_document() {
        let text = request_document(
            DEFAULT_NAMESPACE,
            1_800_000_000_000,
            "frames",
            200,
            Duration::from_millis(12),
            20_326,
            Some("4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="),
        );
        let doc = conforms(&text);
        assert_eq!(
            (&doc["Action"], &doc["Status"], &doc["Requests"]),
            (&json!("frames"), &json!("200"), &json!(1))
        );
        assert_eq!(doc["ResponseBytes"], 20_326);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Action", "Status"]])
        );
    }

    #[test]
    fn calls_are_grouped_by_operation_and_outcome_a_hundred_at_most() {
        let r = EmfRecorder::default();
        for _ in 0..150 {
            r.upstream_call(
                Operation::GetImageFrame,
                Outcome::Ok,
                Duration::from_millis(3),
                10,
            );
        }
        r.upstream_call(
            Operation::GetImageFrame,
            Outcome::Throttled,
            Duration::from_millis(1),
            0,
        );
        let docs: Vec<Value> = r
            .take_documents(DEFAULT_NAMESPACE, 1_800_000_000_000)
            .iter()
            .map(|d| conforms(d))
            .collect();
        let count = |outcome: &str| -> u64 {
            docs.iter()
                .filter(|d| d["Outcome"] == outcome)
                .map(|d| d["HealthImagingCalls"].as_u64().unwrap())
                .sum()
        };
        assert_eq!((docs.len(), count("ok"), count("throttled")), (3, 150, 1));
        assert!(
            r.take_documents(DEFAULT_NAMESPACE, 0).is_empty(),
            "taken once"
        );
    }
}
