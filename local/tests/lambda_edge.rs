//! The Lambda@Edge functions as the Node host drives them (`edge::lambda_edge`): when keys
//! are fetched (first request, unknown `kid` at most once per cooldown), that a failed fetch
//! fails closed, the public-URL header, and the answers to unusable events and missing
//! credentials.

use std::sync::OnceLock;

use dicomweb_edge::dev_issuer::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};
use edge::cloudfront::RequestResult;
use edge::config::DeployConfig;
use edge::lambda_edge::{OriginRequestFunction, PUBLIC_URL_HEADER, Step, ViewerRequestFunction};
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const DS: &str = "fe979d40487394a75b813ff62a2f7451";

fn issuer() -> &'static DevIssuer {
    static K: OnceLock<DevIssuer> = OnceLock::new();
    K.get_or_init(|| DevIssuer::generate().unwrap().0)
}

fn config(domain: Option<&str>) -> DeployConfig {
    let mut c: DeployConfig = serde_json::from_value(json!({
        "auth": {"mode": "oidc", "issuer": DEV_ISSUER, "audiences": [DEV_AUDIENCE],
                 "jwks_refetch_cooldown_seconds": 60},
        "healthimaging": {"region": "us-east-1", "datastores": [DS]},
        "cors": {"origins": ["https://viewer.example"]}
    }))
    .unwrap();
    c.distribution.domain_name = domain.map(str::to_owned);
    c
}

fn token(kid: Option<&str>) -> String {
    let claims = json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "u",
                        "iat": NOW - 10, "exp": NOW + 600});
    match kid {
        None => issuer().sign(&claims).unwrap(),
        Some(k) => issuer().sign_as(k, &claims).unwrap(),
    }
}

fn event(kind: &str, query: &str, headers: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                   "distributionId": "EDFDVBD6EXAMPLE", "eventType": kind},
        "request": {"clientIp": "203.0.113.1", "method": "GET", "headers": headers,
                    "querystring": query,
                    "uri": format!("/datastore/{DS}/studies")}}}]}))
    .unwrap()
}

fn jwks() -> Vec<u8> {
    serde_json::to_vec(&issuer().jwks()).unwrap()
}

fn done(step: Step) -> (RequestResult, Option<String>) {
    match step {
        Step::Done { result, log, .. } => (*result, log.and_then(|l| l.refusal)),
        Step::FetchKeys(url) => panic!("asked to fetch {url}"),
    }
}

#[test]
fn keys_are_fetched_first_and_a_good_token_is_forwarded_rewritten() {
    let mut f = ViewerRequestFunction::new(&config(None)).unwrap();
    let url = format!("{DEV_ISSUER}/.well-known/jwks.json");
    assert_eq!(f.keys_to_prefetch(), Some(url.clone()));
    let ev = event(
        "viewer-request",
        &format!("token={}&imageSetId=x", token(None)),
        json!({"accept": [{"key": "Accept",
                 "value": "multipart/related; transfer-syntax=*; type=\"application/octet-stream\""}],
               "x-dicomweb-public-url": [{"key": "X-Dicomweb-Public-Url", "value": "https://evil.example"}]}),
    );
    assert_eq!(f.handle(&ev, NOW), Step::FetchKeys(url));
    assert_eq!(f.keys_fetched(&jwks(), NOW), Ok(1));
    assert_eq!(f.keys_to_prefetch(), None);
    let (result, refusal) = done(f.handle(&ev, NOW));
    assert_eq!(refusal, None);
    let RequestResult::Forward(req) = result else {
        panic!("refused: {result:?}")
    };
    assert_eq!(req.querystring, "imageSetId=x");
    // Parameters sorted, quotes dropped: OHIF's quoted and unquoted forms share a key.
    assert_eq!(
        req.header("accept"),
        Some("multipart/related;transfer-syntax=*;type=application/octet-stream")
    );
    assert_eq!(
        req.header(PUBLIC_URL_HEADER),
        Some("https://d111111abcdef8.cloudfront.net")
    );

    // With a custom domain, that is the URL viewers use.
    let mut f = ViewerRequestFunction::new(&config(Some("dicomweb.example.org"))).unwrap();
    f.keys_fetched(&jwks(), NOW).unwrap();
    let (RequestResult::Forward(req), _) = done(f.handle(&ev, NOW)) else {
        panic!("refused")
    };
    assert_eq!(
        req.header(PUBLIC_URL_HEADER),
        Some("https://dicomweb.example.org")
    );
}

#[test]
fn an_unknown_kid_refetches_at_most_once_per_cooldown() {
    let mut f = ViewerRequestFunction::new(&config(None)).unwrap();
    f.keys_fetched(&jwks(), NOW).unwrap();
    let auth = |t: &str| json!({"authorization": [{"key": "Authorization", "value": format!("Bearer {t}")}]});
    let rotated = event("viewer-request", "", auth(&token(Some("rotated"))));
    // Within the cooldown of the first fetch: refused without asking for keys.
    let (r, refusal) = done(f.handle(&rotated, NOW + 59));
    assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
    assert_eq!(refusal.as_deref(), Some("UnknownKey"));
    // After it: one fetch; the keys still lack the kid, so 401, and no second fetch.
    assert!(matches!(f.handle(&rotated, NOW + 60), Step::FetchKeys(_)));
    f.keys_fetched(&jwks(), NOW + 60).unwrap();
    let (r, _) = done(f.handle(&rotated, NOW + 60));
    assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
    let (r, _) = done(f.handle(&rotated, NOW + 119));
    assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
    // Even with no cooldown, the call after a report does not ask again (one fetch per
    // request at most).
    let mut c = config(None);
    c.auth.jwks_refetch_cooldown_seconds = 0;
    let mut g = ViewerRequestFunction::new(&c).unwrap();
    g.keys_fetched(&jwks(), NOW).unwrap();
    for _ in 0..2 {
        // The call after a report answers without asking; the next one may ask again.
        let (r, _) = done(g.handle(&rotated, NOW));
        assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
        assert!(matches!(g.handle(&rotated, NOW), Step::FetchKeys(_)));
        g.keys_fetched(&jwks(), NOW).unwrap();
    }
    // A known kid is still accepted meanwhile.
    let (r, _) = done(f.handle(&event("viewer-request", "", auth(&token(None))), NOW + 61));
    assert!(matches!(r, RequestResult::Forward(_)));
}

#[test]
fn unavailable_keys_fail_closed() {
    let mut f = ViewerRequestFunction::new(&config(None)).unwrap();
    f.keys_unavailable(NOW);
    let ev = event(
        "viewer-request",
        &format!("token={}", token(None)),
        json!({}),
    );
    // The fetch failed just now: no new fetch, and the token cannot be verified.
    let (r, refusal) = done(f.handle(&ev, NOW + 1));
    assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
    assert_eq!(refusal.as_deref(), Some("UnknownKey"));
    // A body that is not a JWKS counts as unavailable.
    assert!(f.keys_fetched(b"<html>", NOW + 400).is_err());
    let (r, _) = done(f.handle(&ev, NOW + 401));
    assert!(matches!(r, RequestResult::Respond(ref x) if x.status == "401"));
}

#[test]
fn unusable_events_and_missing_credentials_get_clear_answers() {
    let mut f = ViewerRequestFunction::new(&config(None)).unwrap();
    let status = |s: Step| match done(s).0 {
        RequestResult::Respond(r) => (r.status, r.body.unwrap_or_default()),
        RequestResult::Forward(_) => panic!("forwarded"),
    };
    assert_eq!(
        status(f.handle(b"not json", NOW)),
        (
            "502".into(),
            "the edge function cannot read the event\n".into()
        )
    );
    assert_eq!(
        status(f.handle(&event("origin-request", "", json!({})), NOW)).1,
        "the edge function is associated with the wrong event\n"
    );

    let o = OriginRequestFunction::new(&config(None)).unwrap();
    let mut ev: serde_json::Value =
        serde_json::from_slice(&event("origin-request", "", json!({}))).unwrap();
    ev["Records"][0]["cf"]["request"]["method"] = json!("POST");
    ev["Records"][0]["cf"]["request"]["uri"] = json!(format!(
        "/datastore/{DS}/imageSet/0123456789abcdef0123456789abcdef/getImageFrame"
    ));
    ev["Records"][0]["cf"]["request"]["body"] = json!({"inputTruncated": false,
        "action": "read-only", "encoding": "text",
        "data": "{\"imageFrameId\":\"00112233445566778899aabbccddeeff\"}"});
    let ev = serde_json::to_vec(&ev).unwrap();
    assert_eq!(
        status(o.handle(
            &ev,
            br#"{"accessKeyId":"","secretAccessKey":""}"#,
            NOW * 1000
        )),
        ("500".into(), "the signer has no credentials\n".into())
    );
    let creds = br#"{"accessKeyId":"AKID","secretAccessKey":"secret","sessionToken":"tok"}"#;
    let (RequestResult::Forward(req), _) = done(o.handle(&ev, creds, NOW * 1000)) else {
        panic!("refused")
    };
    assert!(
        req.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKID/")
    );
    assert_eq!(req.header("x-amz-security-token"), Some("tok"));
}

#[test]
fn configs_that_cannot_work_are_refused() {
    let mut c = config(None);
    c.auth.mode = "oidc".into();
    c.auth.audiences.clear();
    assert!(ViewerRequestFunction::new(&c).is_err());
    let mut c = config(None);
    c.healthimaging.datastores = vec!["not-a-datastore".into()];
    assert!(ViewerRequestFunction::new(&c).is_err());
    let mut c = config(None);
    c.auth.algorithms = vec!["HS256".into()];
    assert!(ViewerRequestFunction::new(&c).is_err());
}

/// The audit event of a CloudFront event: its request ID and the viewer's address, the
/// verified user, and it is part of the step the Node host prints (`done.audit`).
#[test]
fn the_viewer_request_function_audits_with_cloudfronts_request_id() {
    let mut f = ViewerRequestFunction::new(&config(None)).unwrap();
    f.keys_fetched(&jwks(), NOW).unwrap();
    let mut ev: serde_json::Value = serde_json::from_slice(&event(
        "viewer-request",
        "",
        json!({"authorization": [{"key": "Authorization",
                                  "value": format!("Bearer {}", token(None))}]}),
    ))
    .unwrap();
    ev["Records"][0]["cf"]["config"]["requestId"] =
        json!("4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==");
    let step = f.handle(&serde_json::to_vec(&ev).unwrap(), NOW);
    let printed = serde_json::to_value(&step).unwrap();
    let audit = &printed["done"]["audit"];
    assert_eq!(
        audit["requestId"],
        "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
    );
    assert_eq!(audit["clientIp"], "203.0.113.1");
    assert_eq!(audit["time"], "2027-01-15T08:00:00Z");
    assert_eq!(audit["action"], "search");
    assert_eq!(audit["decision"], "allowed");
    assert_eq!(audit["user"], json!({"sub": "u", "iss": DEV_ISSUER}));
    assert_eq!(
        audit["status"],
        serde_json::Value::Null,
        "the function does not know it"
    );
    let text = audit.to_string();
    assert!(!text.contains(token(None).rsplit('.').next().unwrap()));
}
