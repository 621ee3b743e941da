//! The fuzz targets' bodies: one function per parser that reads input from outside the
//! process, each checking what must hold for every input (no panic, and where a rule is
//! symmetric, the rule). The coverage-guided runs (`fuzz/`, cargo-fuzz with libFuzzer) and
//! the test suite's bounded replay of the committed corpora (`tests/corpus.rs`) both call
//! these, so what a long run found stays tested.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use edge::config::DeployConfig;
use edge::lambda_edge::{OriginRequestFunction, ViewerRequestFunction};

/// A target's body: checks one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder (`fuzz/corpus/{name}`) and cargo-fuzz
/// binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("route", route),
    ("frame_list", frame_list),
    ("accept", accept),
    ("multipart", multipart),
    ("cloudfront_event", cloudfront_event),
    ("jwt", jwt),
    ("dicom_json", dicom_json),
    ("qido", qido),
    ("sigv4", sigv4),
    ("dicom_import", dicom_import),
    ("byte_range", byte_range),
];

const DS: &str = "0123456789abcdef0123456789abcdef";

/// The instant the corpora's tokens are valid at.
pub const NOW: u64 = 1_800_000_000;

/// The public key of the corpus tokens (ES256, kid `fuzz`).
pub const JWKS: &str = r#"{"keys":[{"kty":"EC","x":"jip4kcg7IABihsYVztEK3e5p8rj1OXmFEG9QITLAXN0","y":"dWCHU3tf7t9fX-6Oil_wiYj_ZbwL7U-ZrthzR2uI4-Y","crv":"P-256","kid":"fuzz","alg":"ES256","use":"sig"}]}"#;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Splits `data` at the first `sep`.
fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Routes, query strings, cache keys and log lines: `METHOD path?query`.
pub fn route(data: &[u8]) {
    let s = text(data);
    let (method, target) = s.split_once(' ').unwrap_or(("GET", &s));
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let parsed = edge::routes::parse(method, path, query);
    let kept = edge::behaviors::for_path(path)
        .cache
        .query_key(query.unwrap_or(""));
    assert!(
        dicomweb::query::raw_pairs(&kept).all(|(name, _)| name != "token"),
        "a token in the cache key: {kept}"
    );
    let key = edge::behaviors::cache_key(path, query.unwrap_or(""), "", false);
    assert!(key.starts_with(path) && key.contains(&kept));
    let logged = edge::http_rules::loggable_target(path, query);
    // No value reaches a log line but identifiers and counts.
    for pair in logged.split_once('?').map_or("", |(_, q)| q).split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            assert!(
                value == "…" || matches!(name, "imageSetId" | "imageFrameId" | "limit" | "offset"),
                "{logged}"
            );
        }
    }
    if let Ok(route) = parsed {
        // A route names a datastore that is itself a valid ID.
        assert!(
            route
                .datastore()
                .as_str()
                .parse::<healthimaging::DatastoreId>()
                .is_ok()
        );
    }
}

/// WADO-RS frame lists (`frames/{list}`).
pub fn frame_list(data: &[u8]) {
    if let Ok(list) = dicomweb::FrameList::parse(&text(data)) {
        let n: Vec<u32> = list.numbers().collect();
        assert!(!n.is_empty() && n.len() <= dicomweb::frames::MAX_FRAMES_PER_REQUEST);
        assert!(n.iter().all(|f| *f >= 1));
    }
}

/// `Range` and `If-Range` values (the input's first two lines) against an answer whose
/// length is the input's own: a part lies within the answer, a 416 names the length, and an
/// absent or ignored header gives the whole answer.
pub fn byte_range(data: &[u8]) {
    use edge::http_rules::{ByteRange, byte_range};
    let s = text(data);
    let mut lines = s.split('\n');
    let mut headers = http::HeaderMap::new();
    if let Some(v) = lines
        .next()
        .and_then(|l| http::HeaderValue::from_str(l).ok())
    {
        headers.insert(http::header::RANGE, v);
    }
    if let Some(v) = lines
        .next()
        .and_then(|l| http::HeaderValue::from_str(l).ok())
    {
        headers.insert(http::header::IF_RANGE, v);
    }
    let len = data.len() as u64 * 37 % 5000;
    let etag = "\"fuzz\"";
    match byte_range(&headers, len, Some(etag)) {
        ByteRange::Whole => {}
        ByteRange::Part { first, last } => {
            assert!(
                first <= last && last < len,
                "{s:?}: {first}-{last} of {len}"
            );
        }
        r @ ByteRange::Unsatisfiable => {
            assert_eq!(r.content_range(len), Some(format!("bytes */{len}")));
        }
    }
    if !headers.contains_key(http::header::RANGE) {
        assert_eq!(byte_range(&headers, len, Some(etag)), ByteRange::Whole);
    }
}

/// Accept values: parsing, normalising (idempotent, and the same negotiation) and
/// negotiation against the offers of a compressed frame.
pub fn accept(data: &[u8]) {
    use dicomweb::accept::{Forms, Offer, negotiate, normalize_accept, parse_accept};
    use dicomweb::transfer_syntax::TransferSyntax;
    let s = text(data);
    let _ = parse_accept(&s);
    let normalized = normalize_accept(&s);
    assert_eq!(normalize_accept(&normalized), normalized, "{s:?}");
    let offers = [
        Offer::stored(&TransferSyntax::HTJ2K_RPCL_LOSSLESS),
        Offer::converted(TransferSyntax::EXPLICIT_VR_LE),
    ];
    let a = negotiate(Some(&s), &offers, Forms::BOTH);
    let b = negotiate(Some(&normalized), &offers, Forms::BOTH);
    assert_eq!(a.is_ok(), b.is_ok(), "{s:?} / {normalized:?}");
    if let (Ok(a), Ok(b)) = (a, b) {
        assert_eq!(a, b, "{s:?} / {normalized:?}");
    }
}

/// Both multipart readers: the product's (`dicomweb::multipart`, boundary before the first
/// newline) and the conformance suite's (a Content-Type before the first newline).
pub fn multipart(data: &[u8]) {
    let (head, body) = split(data, b'\n');
    let head = text(head);
    if let Ok(parts) = dicomweb::multipart::parse(body, &head) {
        let total: usize = parts.iter().map(|p| p.body.len()).sum();
        assert!(total <= body.len());
    }
    let _ = conformance::multipart::parse(&head, body);
    let _ = conformance::multipart::parse_media_type(&head);
}

fn deploy_config() -> &'static DeployConfig {
    static C: OnceLock<DeployConfig> = OnceLock::new();
    C.get_or_init(|| {
        serde_json::from_value(serde_json::json!({
            "auth": {"mode": "oidc", "issuer": "https://issuer.example", "audiences": ["fuzz"]},
            "healthimaging": {"region": "us-east-1", "datastores": [DS]},
            "cors": {"origins": ["https://viewer.example"]},
            "internal_key": "07".repeat(32)
        }))
        .expect("config")
    })
}

fn viewer() -> ViewerRequestFunction {
    let mut f = ViewerRequestFunction::new(deploy_config()).expect("viewer function");
    f.keys_fetched(JWKS.as_bytes(), NOW).expect("keys");
    f
}

/// CloudFront events, as the Lambda@Edge functions receive them: viewer-request,
/// origin-request and origin-response.
pub fn cloudfront_event(data: &[u8]) {
    let mut v = viewer();
    let _ = v.handle(data, NOW);
    let origin = OriginRequestFunction::new(deploy_config()).expect("origin function");
    let creds = br#"{"accessKeyId":"AKID","secretAccessKey":"secret","sessionToken":""}"#;
    let _ = origin.handle(data, creds, NOW * 1000);
    let _ = origin.handle_response(data);
}

/// Bearer tokens through the authorizer: header and claims parsing and signature checks.
/// An input is a token, or `token\nquery` to put it in the query too.
pub fn jwt(data: &[u8]) {
    let (token, query) = split(data, b'\n');
    let token = text(token);
    let query = text(query);
    let event = serde_json::json!({"Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                   "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request"},
        "request": {"clientIp": "203.0.113.1", "method": "GET",
                    "headers": {"authorization": [{"key": "Authorization",
                                                    "value": format!("Bearer {token}")}]},
                    "querystring": query,
                    "uri": format!("/datastore/{DS}/studies")}}}]});
    let step = viewer().handle(&serde_json::to_vec(&event).unwrap_or_default(), NOW);
    // The token is never in an answer or a log line (whatever it is, it could be a real
    // one); a forwarded request keeps it for the origin. Text that every refusal holds
    // (`www-authenticate`, …) does not count.
    let fixed = "www-authenticate bearer error=\"invalid_token\" x-content-type-options nosniff \
                 cache-control no-store content-type text/plain; charset=utf-8 unauthorized";
    if let edge::lambda_edge::Step::Done { result, log, audit } = &step
        && token.len() >= 16
        && !fixed.contains(&token.to_ascii_lowercase())
    {
        let log = serde_json::to_string(log).unwrap_or_default();
        assert!(!log.contains(&token), "the token is logged: {log}");
        let audit = serde_json::to_string(audit).unwrap_or_default();
        assert!(!audit.contains(&token), "the token is audited: {audit}");
        if let edge::cloudfront::RequestResult::Respond(r) = result.as_ref() {
            let answer = serde_json::to_string(r).unwrap_or_default();
            assert!(!answer.contains(&token), "the token is echoed: {answer}");
        }
    }
}

/// AHI's JSON attributes to DICOM JSON (metadata answers and Part 10 rebuilding).
pub fn dicom_json(data: &[u8]) {
    let Ok(serde_json::Value::Object(attrs)) = serde_json::from_slice(data) else {
        return;
    };
    let mut vrs = BTreeMap::new();
    for (k, _) in attrs.iter().take(4) {
        vrs.insert(k.clone(), "OB".to_owned());
    }
    for for_file in [false, true] {
        let converter = translator::dicom_json::Converter {
            vrs: &vrs,
            bulkdata: Some("/bulk"),
            inline_limit: 16,
            for_file,
        };
        let mut out = Default::default();
        converter.convert(&attrs, &mut out);
        assert!(serde_json::to_vec(&out).is_ok());
    }
}

/// QIDO-RS query strings, then matching a study record with the parsed query.
pub fn qido(data: &[u8]) {
    let s = text(data);
    if let Ok(q) = dicomweb::qido::parse(Some(&s)) {
        let record = serde_json::json!({
            "PatientName": "Doe^Jane", "PatientID": "12", "StudyDate": "20240102",
            "StudyInstanceUID": "1.2.3", "ModalitiesInStudy": ["CT", "SR"]
        });
        if let serde_json::Value::Object(m) = record {
            let _ = q.matches(&m);
            let _ = q.page(vec![1, 2, 3]);
        }
    }
}

/// The emulator's SigV4 verifier, over a request whose headers (`name: value` lines, then
/// an empty line and the body) come from the input.
pub fn sigv4(data: &[u8]) {
    use healthimaging::emulator::sigv4::SignedRequest;
    use healthimaging::emulator::{Credentials, Verifier};
    let s = text(data);
    let (head, body) = s.split_once("\n\n").unwrap_or((&s, ""));
    let mut lines = head.lines();
    let target = lines.next().unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((n, v)) = line.split_once(':')
            && let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(n.trim().as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(n, v);
        }
    }
    let verifier = Verifier {
        credentials: vec![Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }],
        region: "us-east-1".into(),
        service: "medical-imaging".into(),
        max_skew: Duration::from_secs(300),
    };
    let req = SignedRequest {
        method: "POST",
        raw_path: path,
        raw_query: query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let _ = verifier.verify(&req, now);
}

/// DICOM Part 10 files as the emulator imports them (`--data`).
pub fn dicom_import(data: &[u8]) {
    let _ = healthimaging::emulator::parse_instance(Path::new("fuzz.dcm"), data);
}
