//! The checks can fail: the suite runs against the local stack through a proxy that breaks
//! one rule at a time, and the checks for that rule, and only plausible others, fail.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use conformance::checks::{self, Ctx, Verdict};
use conformance::multipart;
use conformance::{Finding, Given, Session, target};
use dicomweb_edge::stack::{self, RunningStack, StackOptions};
use healthimaging::emulator::demo_data_dir;

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
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    fault: Fault,
    client: reqwest::Client,
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if p.fault == Fault::Frame0Is500 && parts.uri.path().ends_with("/frames/0") {
        return plain(500, "internal error");
    }
    let mut upstream = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST {
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
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
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
        fault,
        client: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
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

async fn run(base: &str, ids: &[String; 6]) -> Vec<Finding> {
    let session = Session::new(None, Duration::from_secs(30)).expect("client");
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
    checks::run(&Ctx::new(session, target), &[]).await
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
    let clean = run(&proxy(&stack.base_url, Fault::None).await, &ids).await;
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
        ]
    );

    // (fault, checks that must fail, checks that may also fail)
    let cases: [(Fault, &[&str], &[&str]); 5] = [
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
                "retrieve.any-syntax",
                "retrieve.series",
            ],
        ),
        (
            Fault::NoCors,
            &["cors.preflight", "cors.expose", "errors.cors"],
            &[],
        ),
    ];
    for (fault, must, may) in cases {
        let findings = run(&proxy(&stack.base_url, fault).await, &ids).await;
        let failed = failed(&findings);
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
}
