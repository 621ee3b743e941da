//! The signer core on CloudFront origin-request events: its signature is accepted by the
//! emulator's SigV4 check (in process and over HTTP, where the frame comes back), matches a
//! reviewed snapshot at a fixed time and key, fails once the body is tampered with, and
//! anything but a well-formed native POST is refused rather than forwarded unsigned. The
//! cacheable native GET goes to the translator's Function URL, signed for `lambda`; ranged
//! single-part requests (frames, bulk data, the native GET) go to its buffered `ranges` URL.

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine;
use edge::cloudfront::CustomOrigin;
use edge::cloudfront::{HeaderEntry, Request, RequestBody, RequestResult};
use edge::signer::{
    BUFFERED, LAMBDA_SERVICE, RANGES_URL_HEADER, RESPONSE_MODE_HEADER, SERVICE, SignerConfig,
    TRANSLATOR_URL_HEADER, origin_request,
};
use healthimaging::emulator::Verifier;
use healthimaging::emulator::sigv4::SignedRequest;
use http::HeaderMap;

const AK: &str = "AKIDSIGNERTEST";
const SK: &str = "signer-test-secret-key";
const TOKEN: &str = "signer-test-session-token";
const FRAME: &str = "00112233445566778899aabbccddeeff";
/// A request ID as CloudFront gives one in `config.requestId` (from AWS's event examples).
const CF_ID: &str = "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==";

fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

fn creds() -> Credentials {
    Credentials::new(AK, SK, Some(TOKEN.into()), None, "test")
}

fn native_post(ds: &str, is: &str, body: &[u8], encoding: &str) -> Request {
    let data = match encoding {
        "base64" => base64::engine::general_purpose::STANDARD.encode(body),
        _ => String::from_utf8(body.to_vec()).unwrap(),
    };
    let mut r = Request {
        client_ip: "203.0.113.178".into(),
        method: "POST".into(),
        uri: format!("/datastore/{ds}/imageSet/{is}/getImageFrame"),
        body: Some(RequestBody {
            input_truncated: false,
            action: "read-only".into(),
            encoding: encoding.into(),
            data,
        }),
        ..Request::default()
    };
    for (n, v) in [
        ("Host", "d111111abcdef8.cloudfront.net"),
        ("Content-Type", "application/json"),
        ("User-Agent", "Amazon CloudFront"),
        ("X-Forwarded-For", "203.0.113.178"),
    ] {
        r.headers.insert(
            n.to_ascii_lowercase(),
            vec![HeaderEntry {
                key: Some(n.into()),
                value: v.into(),
            }],
        );
    }
    r
}

fn header_map(r: &Request) -> HeaderMap {
    edge::cloudfront::to_header_map(&r.headers)
}

fn verifier(region: &str) -> Verifier {
    Verifier {
        credentials: vec![healthimaging::emulator::Credentials {
            access_key_id: AK.into(),
            secret_access_key: SK.into(),
            session_token: Some(TOKEN.into()),
        }],
        region: region.into(),
        service: SERVICE.into(),
        max_skew: Duration::from_secs(300),
    }
}

fn forwarded(r: RequestResult) -> Request {
    match r {
        RequestResult::Forward(r) => *r,
        RequestResult::Respond(r) => panic!("refused: {} {:?}", r.status, r.body),
    }
}

#[test]
fn signature_is_accepted_and_stable_and_covers_the_body() {
    let ds = "fe979d40487394a75b813ff62a2f7451";
    let is = "0123456789abcdef0123456789abcdef";
    let body = format!(r#"{{"imageFrameId":"{FRAME}"}}"#);
    let config = SignerConfig::aws("us-west-2");
    let signed = forwarded(origin_request(
        &config,
        native_post(ds, is, body.as_bytes(), "base64"),
        Some(CF_ID),
        &creds(),
        fixed_time(),
    ));
    let origin = signed.origin.as_ref().unwrap().custom.as_ref().unwrap();
    assert_eq!(
        origin.domain_name,
        "runtime-medical-imaging.us-west-2.amazonaws.com"
    );
    assert_eq!((origin.protocol.as_str(), origin.port), ("https", 443));
    let shown: Vec<String> = signed
        .headers
        .values()
        .flatten()
        .map(|e| format!("{}: {}", e.key.as_deref().unwrap_or(""), e.value))
        .collect();
    insta::assert_snapshot!("signed_native_post", shown.join("\n"));

    // The emulator's independent SigV4 check accepts exactly what CloudFront will send.
    let headers = header_map(&signed);
    let req = SignedRequest {
        method: "POST",
        raw_path: &signed.uri,
        raw_query: None,
        headers: &headers,
        body: body.as_bytes(),
    };
    verifier("us-west-2").verify(&req, fixed_time()).unwrap();
    // A body changed after signing, or another region, is refused.
    let tampered = body.replace("0011", "0012");
    let req = SignedRequest {
        body: tampered.as_bytes(),
        ..req
    };
    let err = verifier("us-west-2")
        .verify(&req, fixed_time())
        .unwrap_err();
    assert_eq!(err.kind.type_name(), "InvalidSignatureException");

    // A text-encoded body signs the same bytes.
    let text = forwarded(origin_request(
        &config,
        native_post(ds, is, body.as_bytes(), "text"),
        Some(CF_ID),
        &creds(),
        fixed_time(),
    ));
    assert_eq!(text.header("authorization"), signed.header("authorization"));
}

#[test]
fn anything_else_is_refused_not_forwarded() {
    let ds = "fe979d40487394a75b813ff62a2f7451";
    let is = "0123456789abcdef0123456789abcdef";
    let config = SignerConfig::aws("us-east-1");
    let refused = |r: Request| match origin_request(&config, r, None, &creds(), fixed_time()) {
        RequestResult::Respond(resp) => (resp.status, resp.body.unwrap_or_default()),
        RequestResult::Forward(_) => panic!("forwarded"),
    };
    let good = format!(r#"{{"imageFrameId":"{FRAME}"}}"#);
    // The GET without the template's origin header cannot know where the translator is.
    let mut get = native_post(ds, is, good.as_bytes(), "base64");
    get.method = "GET".into();
    get.querystring = format!("imageFrameId={FRAME}");
    assert_eq!(
        refused(get),
        (
            "500".into(),
            "the translator's URL is not configured\n".into()
        )
    );
    let mut put = native_post(ds, is, good.as_bytes(), "base64");
    put.method = "PUT".into();
    assert_eq!(refused(put).0, "405");
    let mut other = native_post(ds, is, good.as_bytes(), "base64");
    other.uri = "/elsewhere".into();
    assert_eq!(refused(other).0, "403");
    let mut none = native_post(ds, is, b"", "base64");
    none.body = None;
    assert_eq!(refused(none).0, "400");
    let mut truncated = native_post(ds, is, good.as_bytes(), "base64");
    truncated.body.as_mut().unwrap().input_truncated = true;
    assert_eq!(refused(truncated).0, "413");
    for bad in [
        "not json".to_owned(),
        r#"{"imageFrameId": 5}"#.to_owned(),
        format!(r#"{{"imageFrameId":"{FRAME}","extra":1}}"#),
        r#"{"imageFrameId":"XYZ"}"#.to_owned(),
    ] {
        let (status, body) = refused(native_post(ds, is, bad.as_bytes(), "base64"));
        assert_eq!(status, "400", "{bad}");
        assert!(!body.contains(SK));
    }
    let mut bad64 = native_post(ds, is, good.as_bytes(), "base64");
    bad64.body.as_mut().unwrap().data = "***".into();
    assert_eq!(refused(bad64).0, "400");
}

/// The native GET is moved to the translator's URL (named by the origin custom header, which
/// is not passed on) and signed for `lambda`; the emulator's SigV4 check, set to the `lambda`
/// service, accepts it, and the HealthImaging one does not.
#[test]
fn the_native_get_goes_to_the_translator_signed_for_lambda() {
    let ds = "fe979d40487394a75b813ff62a2f7451";
    let is = "0123456789abcdef0123456789abcdef";
    let url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-west-2.on.aws/";
    let mut get = native_post(ds, is, b"", "base64");
    get.method = "GET".into();
    get.body = None;
    get.querystring = format!("imageFrameId={FRAME}");
    let mut custom_headers = edge::cloudfront::Headers::new();
    custom_headers.insert(
        TRANSLATOR_URL_HEADER.into(),
        vec![HeaderEntry {
            key: Some("X-Dicomweb-Translator-Url".into()),
            value: url.into(),
        }],
    );
    get.origin = Some(
        CustomOrigin::new(
            "https",
            "runtime-medical-imaging.us-west-2.amazonaws.com",
            443,
            custom_headers,
        )
        .into(),
    );
    let signed = forwarded(origin_request(
        &SignerConfig::aws("us-west-2"),
        get,
        None,
        &creds(),
        fixed_time(),
    ));
    let origin = signed.origin.as_ref().unwrap().custom.as_ref().unwrap();
    let host = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-west-2.on.aws";
    assert_eq!(origin.domain_name, host);
    assert_eq!((origin.protocol.as_str(), origin.port), ("https", 443));
    assert!(origin.custom_headers.is_empty());
    assert_eq!(signed.header("host"), Some(host));
    assert_eq!(signed.method, "GET");
    assert!(signed.body.is_none());
    let auth = signed.header("authorization").unwrap();
    assert!(auth.contains("/us-west-2/lambda/aws4_request"), "{auth}");

    let headers = header_map(&signed);
    let query = format!("imageFrameId={FRAME}");
    let req = SignedRequest {
        method: "GET",
        raw_path: &signed.uri,
        raw_query: Some(&query),
        headers: &headers,
        body: b"",
    };
    let lambda = Verifier {
        service: LAMBDA_SERVICE.into(),
        ..verifier("us-west-2")
    };
    lambda.verify(&req, fixed_time()).unwrap();
    assert!(verifier("us-west-2").verify(&req, fixed_time()).is_err());
}

/// Over HTTP: the signed request, sent as CloudFront would, gets the frame from the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_serves_the_signed_request() {
    the_emulator_answers(Some(CF_ID), 200, None).await;
}

/// Why the signer signs `X-Amz-Cf-Id`: CloudFront adds it after origin-request has run, and
/// a SigV4 verifier refuses a request whose `x-amz-*` headers are not all signed. Signed
/// without it and then sent as CloudFront sends it, the request is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_without_cloudfronts_id_is_refused() {
    the_emulator_answers(
        None,
        403,
        Some("There were headers present in the request which were not signed: x-amz-cf-id"),
    )
    .await;
}

/// Signs a native POST with `request_id`, sends it as CloudFront would (with `X-Amz-Cf-Id`
/// added after signing), and checks the emulator's status and error message.
async fn the_emulator_answers(request_id: Option<&str>, status: u16, message: Option<&str>) {
    let s = common::start_demo(|_| {}).await;
    let inst = &common::demo_series(&s, "Axial 3mm HTJ2K")[0];
    let em = s.emulator.as_ref().unwrap();
    let port: u16 = em.url.rsplit(':').next().unwrap().parse().unwrap();
    let config = SignerConfig {
        region: em.region.clone(),
        host: "127.0.0.1".into(),
        protocol: "http".into(),
        port,
    };
    let c = dicomweb_edge::stack::emulator_credentials();
    let creds = Credentials::new(c.access_key_id, c.secret_access_key, None, None, "test");
    let body = format!(r#"{{"imageFrameId":"{}"}}"#, inst.frames[0]);
    let signed = forwarded(origin_request(
        &config,
        native_post(
            inst.datastore.as_str(),
            inst.image_set.as_str(),
            body.as_bytes(),
            "base64",
        ),
        request_id,
        &creds,
        SystemTime::now(),
    ));
    let mut req = common::http()
        .post(format!("{}{}", em.url, signed.uri))
        .body(body.clone());
    for (name, entries) in &signed.headers {
        if name == "x-amz-cf-id" {
            continue;
        }
        for e in entries {
            req = req.header(name, &e.value);
        }
    }
    let r = req.header("X-Amz-Cf-Id", CF_ID).send().await.unwrap();
    assert_eq!(r.status(), status);
    if let Some(message) = message {
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["message"], message);
        return;
    }
    assert_eq!(common::header(r.headers(), "content-type"), "image/jph");
    let bytes = r.bytes().await.unwrap();
    let direct = common::direct_client(&s)
        .get_image_frame(&inst.datastore, &inst.image_set, &inst.frames[0])
        .await
        .unwrap();
    assert_eq!(bytes, direct.bytes);
}

fn with_header(mut r: Request, name: &str, value: &str) -> Request {
    r.set_header(name, value);
    r
}

/// An origin with the template's custom headers naming the two translator URLs.
fn translator_origin(domain: &str) -> edge::cloudfront::Origin {
    let mut custom_headers = edge::cloudfront::Headers::new();
    for (name, url) in [
        (
            TRANSLATOR_URL_HEADER,
            "https://streamingurl0123456789.lambda-url.us-west-2.on.aws/",
        ),
        (
            RANGES_URL_HEADER,
            "https://bufferedurl01234567890.lambda-url.us-west-2.on.aws/",
        ),
    ] {
        custom_headers.insert(
            name.into(),
            vec![HeaderEntry {
                key: Some(name.into()),
                value: url.into(),
            }],
        );
    }
    CustomOrigin::new("https", domain, 443, custom_headers).into()
}

/// Frames and bulk data asked for as one part with `Range` (the `accept` query parameter
/// counts as the Accept header) go to the buffered URL, marked and signed for `lambda`; the
/// same without `Range`, or asked for as multipart, go on unchanged (Origin Access Control
/// signs them for the streaming URL), the custom header removed. The native GET with `Range`
/// goes to the buffered URL too.
#[test]
fn ranged_single_part_requests_go_to_the_buffered_url() {
    let ds = "fe979d40487394a75b813ff62a2f7451";
    let streaming_host = "streamingurl0123456789.lambda-url.us-west-2.on.aws";
    let buffered_host = "bufferedurl01234567890.lambda-url.us-west-2.on.aws";
    let frames = |accept: Option<&str>, query: &str, range: Option<&str>| {
        let mut r = native_post(ds, "0123456789abcdef0123456789abcdef", b"", "base64");
        r.method = "GET".into();
        r.body = None;
        r.uri = format!("/datastore/{ds}/studies/1.2.3/series/4.5.6/instances/7.8.9/frames/1");
        r.querystring = query.into();
        r.origin = Some(translator_origin(streaming_host));
        if let Some(a) = accept {
            r = with_header(r, "Accept", a);
        }
        if let Some(v) = range {
            r = with_header(r, "Range", v);
        }
        r
    };
    let run = |r: Request| {
        forwarded(origin_request(
            &SignerConfig::aws("us-west-2"),
            r,
            Some(CF_ID),
            &creds(),
            fixed_time(),
        ))
    };
    let single = "application/octet-stream; transfer-syntax=*";
    let multipart = r#"multipart/related; type="application/octet-stream"; transfer-syntax=*"#;
    let moved = run(frames(Some(single), "", Some("bytes=0-99")));
    let origin = moved.origin.as_ref().unwrap().custom.as_ref().unwrap();
    assert_eq!(origin.domain_name, buffered_host);
    assert!(origin.custom_headers.is_empty());
    assert_eq!(moved.header(RESPONSE_MODE_HEADER), Some(BUFFERED));
    assert_eq!(moved.header("range"), Some("bytes=0-99"));
    assert_eq!(moved.header("host"), Some(buffered_host));
    let auth = moved.header("authorization").unwrap();
    assert!(auth.contains("/us-west-2/lambda/aws4_request"), "{auth}");
    let headers = header_map(&moved);
    let lambda = Verifier {
        service: LAMBDA_SERVICE.into(),
        ..verifier("us-west-2")
    };
    lambda
        .verify(
            &SignedRequest {
                method: "GET",
                raw_path: &moved.uri,
                raw_query: None,
                headers: &headers,
                body: b"",
            },
            fixed_time(),
        )
        .unwrap();

    let query_single = "accept=application%2Foctet-stream%3B%20transfer-syntax%3D*";
    let via_query = run(frames(Some(multipart), query_single, Some("bytes=-64")));
    assert_eq!(
        via_query.origin.unwrap().custom.unwrap().domain_name,
        buffered_host
    );
    for unchanged in [
        frames(Some(single), "", None),
        frames(Some(multipart), "", Some("bytes=0-99")),
        frames(None, "", Some("bytes=0-99")),
    ] {
        let out = run(unchanged);
        let origin = out.origin.as_ref().unwrap().custom.as_ref().unwrap();
        assert_eq!(origin.domain_name, streaming_host);
        assert!(!origin.custom_headers.contains_key(RANGES_URL_HEADER));
        assert!(out.header("authorization").is_none());
        assert!(out.header(RESPONSE_MODE_HEADER).is_none());
    }

    let mut native = frames(None, &format!("imageFrameId={FRAME}"), Some("bytes=0-99"));
    native.uri = format!("/datastore/{ds}/imageSet/0123456789abcdef0123456789abcdef/getImageFrame");
    let native = run(native);
    assert_eq!(
        native
            .origin
            .as_ref()
            .unwrap()
            .custom
            .as_ref()
            .unwrap()
            .domain_name,
        buffered_host
    );
    assert_eq!(native.header(RESPONSE_MODE_HEADER), Some(BUFFERED));
    let mut plain = frames(None, &format!("imageFrameId={FRAME}"), None);
    plain.uri = format!("/datastore/{ds}/imageSet/0123456789abcdef0123456789abcdef/getImageFrame");
    let plain = run(plain);
    assert_eq!(
        plain.origin.unwrap().custom.unwrap().domain_name,
        streaming_host
    );
}
