//! `serve --metrics-listen`: the metrics parse with Prometheus' own client's OpenMetrics
//! parser (Python `prometheus_client`), count what was asked for and answered (hits and
//! misses apart), and count exactly the HealthImaging calls the emulator received; they are
//! served on their own listener, not on the edge's URL space.

use std::collections::BTreeMap;

use e2e::{Process, python, python_modules_available};
use serde_json::Value;

const DS: &str = "fe979d40487394a75b813ff62a2f7451";
const STUDY: &str = "2.25.43013641727009647318637766896963722706";
const SERIES: &str = "2.25.97577518872392793667912589543933998242";
const SOP: &str = "2.25.24313568106297450919800784512881278861";

/// Every sample of an OpenMetrics text, as the parser reads it.
fn samples(text: &str) -> Vec<Value> {
    let code = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.argv[1]):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name,
                    "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    serde_json::from_str(&python(code, &[text])).expect("the parser's JSON")
}

fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

#[test]
fn metrics_count_requests_and_healthimaging_calls_and_parse_as_openmetrics() {
    if !python_modules_available("prometheus_client") {
        return;
    }
    let p = Process::start(
        &[
            "serve",
            "--auth",
            "none",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-viewer",
        ],
        &[],
    );
    let metrics = p
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("metrics "))
        .expect("a metrics line")
        .to_owned();
    let http = reqwest::blocking::Client::new();
    let root = format!("{}/datastore/{DS}", p.url);
    let frame = format!("{root}/studies/{STUDY}/series/{SERIES}/instances/{SOP}/frames/1");
    let get = |url: &str, accept: Option<&str>| {
        let mut r = http.get(url);
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        let len = r.bytes().unwrap().len();
        (status, len)
    };
    assert_eq!(get(&format!("{root}/studies"), None).0, 200);
    let (status, frame_len) = get(&frame, Some("image/jphc"));
    assert_eq!(status, 200);
    assert_eq!(get(&frame, Some("image/jphc")), (200, frame_len));
    assert_eq!(get(&format!("{root}/studies/1.2.3/metadata"), None).0, 404);

    // The metrics are not on the edge's URL space, nor the edge on theirs.
    assert_eq!(get(&format!("{}/metrics", p.url), None).0, 404);
    let base = metrics.trim_end_matches("/metrics");
    assert_eq!(get(&format!("{base}/datastore/{DS}/studies"), None).0, 404);

    let r = http.get(&metrics).send().unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().unwrap();
    let s = samples(&text);
    let requests = "dicomweb_requests_total";
    let frames_miss = [("action", "frames"), ("status", "200"), ("cache", "Miss")];
    let frames_hit = [("action", "frames"), ("status", "200"), ("cache", "Hit")];
    assert_eq!(value(&s, requests, &frames_miss), 1.0, "{text}");
    assert_eq!(value(&s, requests, &frames_hit), 1.0, "{text}");
    assert_eq!(
        value(&s, requests, &[("action", "search"), ("status", "200")]),
        1.0
    );
    assert_eq!(
        value(&s, requests, &[("action", "metadata"), ("status", "404")]),
        1.0
    );
    assert_eq!(
        value(&s, "dicomweb_response_bytes_total", &[("action", "frames")]),
        2.0 * frame_len as f64
    );
    // HealthImaging calls: exactly what the emulator counted, each with its time.
    let counted: BTreeMap<String, u64> = http
        .get(format!("{}/_emulator/calls", p.upstream_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    for op in ["SearchImageSets", "GetImageSetMetadata", "GetImageFrame"] {
        let calls = value(&s, "healthimaging_calls_total", &[("operation", op)]);
        assert_eq!(calls, counted[op] as f64, "{op}: {text}");
        assert!(calls >= 1.0, "{op}");
        assert_eq!(
            value(
                &s,
                "healthimaging_call_duration_seconds_count",
                &[("operation", op)]
            ),
            calls,
            "{op}"
        );
        assert_eq!(
            value(
                &s,
                "healthimaging_calls_total",
                &[("operation", op), ("outcome", "ok")]
            ),
            calls
        );
    }
    assert_eq!(
        value(&s, "healthimaging_frame_bytes_total", &[]),
        frame_len as f64,
        "one frame fetched once, then a cache hit"
    );
    let histogram = s
        .iter()
        .find(|x| x["family"] == "healthimaging_call_duration_seconds")
        .unwrap();
    assert_eq!(histogram["type"], "histogram");
}
