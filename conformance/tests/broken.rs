//! The checks can fail: the suite runs against the local stack through a proxy that breaks
//! one rule at a time, and the checks for that rule, and only plausible others, fail.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use conformance::checks::{self, Ctx, Group, Verdict};
use conformance::multipart;
use conformance::{Credentials, Finding, Given, Session, target};
use dicomweb_edge::stack::{self, RunningStack, StackOptions};
use healthimaging::emulator::demo_data_dir;
use serde_json::Value;

/// One way to break a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Part headers lose `; transfer-syntax=…`.
    DropTransferSyntax,
    /// Parts come back in reverse order.
    ReverseParts,
    /// Frame 0 gets a 500 instead of a 400.
    Frame0Is500,
    /// Multipart line endings are bare LF.
    BareLf,
    /// No CORS headers, and OPTIONS is forwarded like any request.
    NoCors,
    /// QIDO-RS ignores attribute matching.
    QidoNoFilters,
    /// QIDO-RS records lose PatientID, SeriesNumber and Rows.
    QidoDropAttributes,
    /// QIDO-RS ignores limit and offset.
    QidoIgnorePaging,
    /// QIDO-RS ignores includefield.
    QidoIgnoreIncludefield,
    /// NumberOfStudyRelatedSeries is one too many.
    QidoCountsOff,
    /// `{base}/series`, `{base}/instances` and `…/studies/{study}/instances` are 404.
    QidoNoLevels,
    /// fuzzymatching is refused with 400.
    FuzzyRefused,
    /// Searches that match nothing answer 404, bad searches 200 `[]`, unknown metadata 200 `[]`.
    WrongStatuses,
    /// DICOM JSON is labelled `application/json`.
    JsonAsPlain,
    /// Metadata writes person names as plain strings.
    MetadataBadJson,
    /// Instance-level metadata has another InstanceNumber than QIDO-RS and the series' metadata.
    MetadataDrift,
    /// Series and study metadata lose their last object.
    MetadataMissingObject,
    /// Accept-Encoding is dropped on the way to the server.
    NoGzip,
    /// Answers lose their ETag.
    NoValidators,
    /// Bulk data is 404.
    BulkdataMissing,
    /// Each bulk data part loses its last byte.
    BulkdataTruncated,
    /// Instances asked for in a named syntax come in the default one.
    RetrieveIgnoresSyntax,
    /// `Range` and `If-Range` are dropped on the way (answers still say Accept-Ranges).
    RangeIgnored,
    /// Rendered requests lose their query (window, viewport, quality).
    RenderedIgnoresParameters,
    /// Rendered and thumbnail resources are 404.
    RenderedMissing,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    /// The proxy's own URL, which BulkDataURIs are rewritten to.
    own: Arc<std::sync::OnceLock<String>>,
    fault: Fault,
    client: reqwest::Client,
}

/// Whether a path is a QIDO-RS search.
fn is_search(path: &str) -> bool {
    ["/studies", "/series", "/instances"]
        .iter()
        .any(|end| path.ends_with(end))
}

/// Whether a search spans levels: `{base}/series`, `{base}/instances` or
/// `{base}/studies/{study}/instances`.
fn is_cross_level(path: &str) -> bool {
    let root =
        (path.ends_with("/series") || path.ends_with("/instances")) && !path.contains("/studies/");
    let study_instances =
        path.ends_with("/instances") && path.contains("/studies/") && !path.contains("/series/");
    root || study_instances
}

/// The query without the parameters `drop` selects.
fn filtered_query(query: &str, drop: impl Fn(&str) -> bool) -> String {
    query
        .split('&')
        .filter(|pair| !drop(pair.split('=').next().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("&")
}

/// Rewrites a DICOM JSON answer as the fault says.
fn rewrite_json(fault: Fault, path: &str, items: &mut Vec<Value>) {
    let remove = |items: &mut Vec<Value>, tag: &str| {
        for o in items.iter_mut().filter_map(Value::as_object_mut) {
            o.remove(tag);
        }
    };
    let search = is_search(path);
    match fault {
        Fault::QidoDropAttributes if search => {
            for tag in ["00100020", "00200011", "00280010"] {
                remove(items, tag);
            }
        }
        Fault::QidoCountsOff if path.ends_with("/studies") => {
            for o in items.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(n) = o
                    .get_mut("00201206")
                    .and_then(|a| a.get_mut("Value"))
                    .and_then(|v| v.get_mut(0))
                {
                    *n = Value::from(n.as_u64().unwrap_or(0) + 1);
                }
            }
        }
        Fault::MetadataBadJson if path.ends_with("/metadata") => {
            for o in items.iter_mut().filter_map(Value::as_object_mut) {
                for attr in o.values_mut() {
                    if attr["vr"] == "PN"
                        && let Some(v) = attr.get_mut("Value").and_then(Value::as_array_mut)
                    {
                        for name in v.iter_mut() {
                            *name = name["Alphabetic"].clone();
                        }
                    }
                }
            }
        }
        Fault::MetadataDrift if path.ends_with("/metadata") && path.contains("/instances/") => {
            for o in items.iter_mut().filter_map(Value::as_object_mut) {
                o.insert(
                    "00200013".into(),
                    serde_json::json!({"vr": "IS", "Value": [1000]}),
                );
            }
        }
        Fault::MetadataMissingObject
            if path.ends_with("/metadata") && !path.contains("/instances/") =>
        {
            items.pop();
        }
        _ => {}
    }
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path_only = parts.uri.path().to_owned();
    let mut query = parts.uri.query().unwrap_or_default().to_owned();
    if p.fault == Fault::Frame0Is500 && path_only.ends_with("/frames/0") {
        return plain(500, "internal error");
    }
    if is_search(&path_only) {
        match p.fault {
            Fault::QidoNoFilters => {
                query = filtered_query(&query, |name| {
                    !matches!(name, "limit" | "offset" | "includefield" | "fuzzymatching")
                })
            }
            Fault::QidoIgnorePaging => {
                query = filtered_query(&query, |name| matches!(name, "limit" | "offset"))
            }
            Fault::QidoIgnoreIncludefield => {
                query = filtered_query(&query, |name| name == "includefield")
            }
            Fault::QidoNoLevels if is_cross_level(&path_only) => {
                return plain(404, "not found");
            }
            Fault::FuzzyRefused if query.contains("fuzzymatching") => {
                return plain(400, "fuzzymatching is not supported");
            }
            _ => {}
        }
    }
    if p.fault == Fault::BulkdataMissing && path_only.contains("/bulkdata/") {
        return plain(404, "not found");
    }
    let rendering = path_only.ends_with("/rendered") || path_only.ends_with("/thumbnail");
    if p.fault == Fault::RenderedMissing && rendering {
        return plain(404, "not found");
    }
    if p.fault == Fault::RenderedIgnoresParameters && rendering {
        query.clear();
    }
    let path = if query.is_empty() {
        path_only.clone()
    } else {
        format!("{path_only}?{query}")
    };
    let mut upstream = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        let dropped = p.fault == Fault::NoGzip && name == http::header::ACCEPT_ENCODING
            || p.fault == Fault::RangeIgnored
                && (name == http::header::RANGE || name == http::header::IF_RANGE);
        if p.fault == Fault::RetrieveIgnoresSyntax && name == http::header::ACCEPT {
            let accept = value.to_str().unwrap_or_default();
            if let Some(i) = accept.find(r#"type="application/dicom"; transfer-syntax=1."#) {
                let kept = &accept[..i + r#"type="application/dicom""#.len()];
                upstream = upstream.header(name, kept);
                continue;
            }
        }
        if name != http::header::HOST && !dropped {
            upstream = upstream.header(name, value);
        }
    }
    if p.fault == Fault::NoCors {
        upstream = upstream.header("origin", "http://not-this-one.invalid");
    }
    let resp = match upstream.send().await {
        Ok(r) => r,
        Err(_) => return plain(502, "upstream unreachable"),
    };
    let status = resp.status();
    let mut headers = resp.headers().clone();
    let mut body = resp.bytes().await.unwrap_or_default();
    // The body is re-sent whole: hop-by-hop framing is the proxy's own.
    for name in ["transfer-encoding", "connection", "content-length"] {
        headers.remove(name);
    }
    if p.fault == Fault::NoCors {
        let cors: Vec<_> = headers
            .keys()
            .filter(|n| n.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
        if parts.method == http::Method::OPTIONS {
            return plain(404, "not found");
        }
    }
    if p.fault == Fault::NoValidators {
        headers.remove(http::header::ETAG);
    }
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let own = p.own.get().cloned().unwrap_or_default();
    let gzipped = headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    if ct.starts_with("application/dicom+json") {
        let mut raw = Vec::new();
        if gzipped {
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut raw);
        } else {
            raw = body.to_vec();
        }
        let text = String::from_utf8_lossy(&raw).replace(&p.upstream, &own);
        if let Ok(Value::Array(mut items)) = serde_json::from_str::<Value>(&text) {
            let was_empty = items.is_empty();
            rewrite_json(p.fault, &path_only, &mut items);
            if p.fault == Fault::WrongStatuses && was_empty && is_search(&path_only) {
                return plain(404, "no match");
            }
            let json = serde_json::to_vec(&items).unwrap_or_default();
            body = if gzipped {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let _ = gz.write_all(&json);
                gz.finish().unwrap_or_default().into()
            } else {
                json.into()
            };
        }
        if p.fault == Fault::JsonAsPlain {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
    }
    if p.fault == Fault::WrongStatuses
        && (status == 400 && is_search(&path_only)
            || status == 404 && path_only.ends_with("/metadata"))
    {
        let mut out = Response::new(Body::from("[]"));
        out.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/dicom+json"),
        );
        return out;
    }
    if let Ok(m) = multipart::parse(&ct, &body) {
        let mut parts: Vec<(Vec<(String, String)>, Bytes)> = m
            .parts
            .into_iter()
            .map(|p| (p.headers, p.payload))
            .collect();
        let mut eol = "\r\n";
        match p.fault {
            Fault::DropTransferSyntax => {
                for (headers, _) in &mut parts {
                    for (_, value) in headers.iter_mut() {
                        if let Some(i) = value.find("; transfer-syntax=") {
                            value.truncate(i);
                        }
                    }
                }
            }
            Fault::ReverseParts => parts.reverse(),
            Fault::BareLf => eol = "\n",
            Fault::BulkdataTruncated if path_only.contains("/bulkdata/") => {
                for (_, payload) in &mut parts {
                    *payload = payload.slice(..payload.len().saturating_sub(1));
                }
            }
            _ => {}
        }
        body = rebuild(&m.boundary, &parts, eol);
    }
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn rebuild(boundary: &str, parts: &[(Vec<(String, String)>, Bytes)], eol: &str) -> Bytes {
    let mut out = Vec::new();
    for (headers, payload) in parts {
        out.extend_from_slice(format!("--{boundary}{eol}").as_bytes());
        for (n, v) in headers {
            out.extend_from_slice(format!("{n}: {v}{eol}").as_bytes());
        }
        out.extend_from_slice(eol.as_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(eol.as_bytes());
    }
    out.extend_from_slice(format!("--{boundary}--").as_bytes());
    out.into()
}

fn plain(status: u16, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    r
}

async fn proxy(upstream: &str, fault: Fault) -> String {
    let state = Proxy {
        upstream: upstream.to_owned(),
        own: Arc::default(),
        fault,
        client: reqwest::Client::new(),
    };
    let own = state.own.clone();
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let _ = own.set(url.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The demo's 36-frame cine: (datastore, study, series, instance, image set, frame 1's ID).
fn cine(s: &RunningStack) -> [String; 6] {
    let em = &s.emulator.as_ref().expect("embedded emulator").emulator;
    for ds in em.datastores() {
        for set in ds.image_sets.values() {
            let meta = set.latest().metadata();
            for (se_uid, se) in &meta.study.series {
                for (sop, inst) in &se.instances {
                    if inst.image_frames.len() == 36 {
                        return [
                            ds.id.to_string(),
                            meta.study_instance_uid().unwrap_or_default().to_owned(),
                            se_uid.clone(),
                            sop.clone(),
                            set.id.to_string(),
                            inst.image_frames[0].id.to_string(),
                        ];
                    }
                }
            }
        }
    }
    panic!("the demo has no 36-frame instance");
}

async fn run(base: &str, ids: &[String; 6], groups: &[Group]) -> Vec<Finding> {
    let session = Session::new(Credentials::None, Duration::from_secs(30)).expect("client");
    let [ds, study, series, instance, image_set, frame_id] = ids.clone();
    let given = Given {
        study: Some(study),
        series: Some(series),
        instance: Some(instance),
        frames: Some(36),
        image_set: Some(image_set),
        image_frame_id: Some(frame_id),
        native_frame: Some(1),
        origin: Some("http://localhost:3000".into()),
        pixel: None,
    };
    let target = target::discover(&session, &format!("{base}/datastore/{ds}"), given)
        .await
        .expect("target");
    checks::run(&Ctx::new(session, target), groups).await
}

fn failed(findings: &[Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .filter(|f| f.outcome.verdict == Verdict::Fail)
        .map(|f| f.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_rule_fails_its_checks() {
    let stack = stack::start(StackOptions::emulator(vec![demo_data_dir()]))
        .await
        .expect("stack");
    let ids = cine(&stack);

    // The honest proxy changes nothing a check can see.
    let clean = run(&proxy(&stack.base_url, Fault::None).await, &ids, &[]).await;
    assert_eq!(failed(&clean), Vec::<&str>::new(), "{clean:#?}");
    // Without a token the auth checks do not apply.
    let not_applicable: Vec<_> = clean
        .iter()
        .filter(|f| f.outcome.verdict == Verdict::NotApplicable)
        .map(|f| f.id)
        .collect();
    assert_eq!(
        not_applicable,
        [
            "auth.no-token",
            "auth.bad-token",
            "auth.tampered-token",
            "auth.with-token",
            "auth.sigv4-unsigned",
            "auth.sigv4-tampered",
            "auth.sigv4-signed",
        ]
    );

    // (fault, checks that must fail, checks that may also fail)
    let cases: [(Fault, &[&str], &[&str]); 6] = [
        (
            Fault::DropTransferSyntax,
            &["multipart.part-type", "negotiation.any-syntax"],
            &["negotiation.explicit", "negotiation.ohif-requested-syntax"],
        ),
        (Fault::ReverseParts, &["frames.order"], &[]),
        (Fault::Frame0Is500, &["frames.zero"], &["errors.short-body"]),
        (
            Fault::BareLf,
            &["multipart.crlf"],
            // Every multipart answer is unreadable, decoded frames and files included.
            &[
                "multipart.start",
                "multipart.close",
                "decoded.length",
                "decoded.default",
                "retrieve.instance",
                "retrieve.explicit",
                "retrieve.any-syntax",
                "retrieve.series",
            ],
        ),
        (
            Fault::NoCors,
            &["cors.preflight", "cors.expose", "errors.cors"],
            &[],
        ),
        // MPEG-2 is dropped too, so the unavailable syntax is answered.
        (
            Fault::RetrieveIgnoresSyntax,
            &["retrieve.explicit"],
            &["retrieve.unavailable"],
        ),
    ];
    for (fault, must, may) in cases {
        let findings = run(&proxy(&stack.base_url, fault).await, &ids, &[]).await;
        expect_failures(fault, &findings, must, may);
    }

    // The Studies Service's search, metadata, bulk data and ranges, each broken alone (the
    // other groups are left out: these faults do not touch multipart frames).
    let groups = [
        Group::Qido,
        Group::Metadata,
        Group::Bulkdata,
        Group::Caching,
        Group::Range,
        Group::Rendered,
    ];
    let cases: [(Fault, &[&str], &[&str]); 19] = [
        (
            Fault::QidoNoFilters,
            &[
                "qido.uid-match",
                "qido.uid-list",
                "qido.exact",
                "qido.wildcard",
                "qido.date-range",
            ],
            &[
                "qido.universal",
                "qido.no-match",
                "qido.bad-parameter",
                "qido.levels",
                "qido.counts",
                "qido.study-attributes",
                "qido.includefield",
                "qido.includefield-all",
                "metadata.qido-consistent",
                "metadata.study",
            ],
        ),
        (
            Fault::QidoDropAttributes,
            &[
                "qido.study-attributes",
                "qido.series-attributes",
                "qido.instance-attributes",
            ],
            &["qido.exact"],
        ),
        // `limit=many` is dropped with the other paging parameters.
        (
            Fault::QidoIgnorePaging,
            &["qido.paging"],
            &["qido.bad-parameter"],
        ),
        (
            Fault::QidoIgnoreIncludefield,
            &["qido.includefield", "qido.includefield-all"],
            &[],
        ),
        (Fault::QidoCountsOff, &["qido.counts"], &[]),
        (Fault::QidoNoLevels, &["qido.levels"], &[]),
        (Fault::FuzzyRefused, &["qido.fuzzymatching"], &[]),
        (
            Fault::WrongStatuses,
            &["qido.no-match", "qido.bad-parameter", "metadata.unknown"],
            &["qido.date-range"],
        ),
        (
            Fault::JsonAsPlain,
            &["qido.studies", "metadata.instance"],
            &[],
        ),
        (
            Fault::MetadataBadJson,
            &["metadata.instance", "metadata.series", "metadata.study"],
            &[],
        ),
        (
            Fault::MetadataDrift,
            &[
                "metadata.series",
                "metadata.qido-consistent",
                "qido.instance-attributes",
            ],
            &[],
        ),
        (
            Fault::MetadataMissingObject,
            &["metadata.series", "metadata.study"],
            &[],
        ),
        (Fault::NoGzip, &["metadata.gzip"], &[]),
        (
            Fault::NoValidators,
            &["metadata.validators", "caching.etag"],
            &[],
        ),
        (
            Fault::BulkdataMissing,
            &["bulkdata.uris", "bulkdata.pixel-data"],
            &[],
        ),
        (Fault::BulkdataTruncated, &["bulkdata.pixel-data"], &[]),
        (
            Fault::RangeIgnored,
            &[
                "range.first-bytes",
                "range.suffix",
                "range.unsatisfiable",
                "range.if-range",
            ],
            &[],
        ),
        (
            Fault::RenderedIgnoresParameters,
            &[
                "rendered.viewport",
                "rendered.window",
                "rendered.bad-parameter",
            ],
            &[],
        ),
        (
            Fault::RenderedMissing,
            &[
                "rendered.jpeg",
                "rendered.png",
                "rendered.viewport",
                "rendered.window",
                "rendered.bad-parameter",
                "rendered.thumbnail",
            ],
            &[],
        ),
    ];
    for (fault, must, may) in cases {
        let findings = run(&proxy(&stack.base_url, fault).await, &ids, &groups).await;
        expect_failures(fault, &findings, must, may);
    }
}

/// Every check in `must` failed, and nothing failed outside `must` and `may`.
fn expect_failures(fault: Fault, findings: &[Finding], must: &[&str], may: &[&str]) {
    let failed = failed(findings);
    for id in must {
        assert!(
            failed.contains(id),
            "{fault:?}: {id} did not fail; failed: {failed:?}"
        );
    }
    for id in &failed {
        assert!(
            must.contains(id) || may.contains(id),
            "{fault:?}: {id} failed too: {:#?}",
            findings.iter().find(|f| f.id == *id)
        );
    }
}
