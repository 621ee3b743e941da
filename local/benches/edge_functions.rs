//! Per-request cost of the edge functions, natively: the authorizer verifying a fresh RS256
//! token (2048-bit key from the JWKS, no verified-token cache hit), the authorizer on a token
//! it has already verified, the audit event it adds to each request, and the signer on a
//! native POST.
//!
//! `cargo bench -p dicomweb-edge --bench edge_functions` (option: `-- --iterations N`).

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine;
use dicomweb_edge::dev_issuer::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};
use edge::authorizer::{AuthConfig, AuthMode, Authorizer};
use edge::cloudfront::{HeaderEntry, Request, RequestBody};
use edge::signer::{SignerConfig, origin_request};

const NOW: u64 = 1_800_000_000;

fn request(uri: &str, headers: &[(&str, String)]) -> Request {
    let mut r = Request {
        client_ip: "203.0.113.178".into(),
        method: "GET".into(),
        uri: uri.into(),
        ..Request::default()
    };
    for (n, v) in headers {
        r.headers.insert(
            n.to_ascii_lowercase(),
            vec![HeaderEntry {
                key: Some((*n).into()),
                value: v.clone(),
            }],
        );
    }
    r
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

fn report(label: &str, samples: Vec<Duration>) {
    let (p50, p99) = median(samples);
    println!(
        "{label:<48} median {:>8.1} µs   p99 {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (issuer, _) = DevIssuer::generate().expect("key");
    let jwks = issuer.jwks();
    let tokens: Vec<String> = (0..n)
        .map(|i| {
            issuer
                .sign(
                    &serde_json::json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "u",
                    "jti": i, "iat": NOW, "exp": NOW + 3600}),
                )
                .expect("sign")
        })
        .collect();
    let uri =
        "/datastore/fe979d40487394a75b813ff62a2f7451/studies/1.2/series/1.3/instances/1.4/frames/1";
    let accept = r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;
    let authorizer = Authorizer::new(AuthConfig::new(AuthMode::Oidc {
        issuer: DEV_ISSUER.into(),
        audiences: vec![DEV_AUDIENCE.into()],
        jwks_uri: None,
    }));
    let reqs: Vec<Request> = tokens
        .iter()
        .map(|t| {
            request(
                uri,
                &[
                    ("Authorization", format!("Bearer {t}")),
                    ("Accept", accept.into()),
                ],
            )
        })
        .collect();

    let mut fresh = Vec::with_capacity(n);
    for r in reqs.iter().cloned() {
        let t = Instant::now();
        let d = authorizer.viewer_request(r, &jwks, NOW);
        fresh.push(t.elapsed());
        assert_eq!(d.refusal, None);
    }
    let mut cached = Vec::with_capacity(n);
    for r in reqs.iter().cloned() {
        let t = Instant::now();
        let d = authorizer.viewer_request(r, &jwks, NOW);
        cached.push(t.elapsed());
        assert_eq!(d.refusal, None);
    }

    // The audit event the viewer-request function adds to each of those requests: built
    // from the decision's route and user, and written as its JSON line.
    let decided = authorizer.viewer_request(reqs[0].clone(), &jwks, NOW);
    let target = edge::http_rules::loggable_target(uri, None);
    let mut auditing = Vec::with_capacity(n);
    let mut line_bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let context = edge::audit::Context {
            request_id: "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
            client_ip: "203.0.113.178",
            method: "GET",
            now: NOW,
        };
        let mut event =
            edge::audit::AuditEvent::new(context, target.clone(), decided.route.as_ref());
        event.user = decided.user.clone();
        line_bytes = std::hint::black_box(event.to_line()).len();
        auditing.push(t.elapsed());
    }
    let ratio = (median(cached.clone()).0 + median(auditing.clone()).0).as_secs_f64()
        / median(cached.clone()).0.as_secs_f64();

    let config = SignerConfig::aws("us-east-1");
    let creds = Credentials::new("AKIDBENCH", "bench-secret", Some("token".into()), None, "b");
    let body = br#"{"imageFrameId":"00112233445566778899aabbccddeeff"}"#;
    let mut post = request(
        "/datastore/fe979d40487394a75b813ff62a2f7451/imageSet/0123456789abcdef0123456789abcdef/getImageFrame",
        &[("Content-Type", "application/json".into())],
    );
    post.method = "POST".into();
    post.body = Some(RequestBody {
        input_truncated: false,
        action: "read-only".into(),
        encoding: "base64".into(),
        data: base64::engine::general_purpose::STANDARD.encode(body),
    });
    let now = SystemTime::now();
    let mut signing = Vec::with_capacity(n);
    for _ in 0..n {
        let r = post.clone();
        let t = Instant::now();
        let out = origin_request(&config, r, Some("bench"), &creds, now);
        signing.push(t.elapsed());
        assert!(matches!(out, edge::cloudfront::RequestResult::Forward(_)));
    }
    println!("{n} iterations each; RS256 with a 2048-bit key");
    report("authorize, new token (signature verified)", fresh);
    report("authorize, token verified before (cache hit)", cached);
    report(&format!("audit event ({line_bytes}-byte line)"), auditing);
    println!("authorize with its audit event / without, at the median: {ratio:.2}x");
    report("sign native POST getImageFrame", signing);
}
