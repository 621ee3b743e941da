//! The authorizer core on CloudFront viewer-request events: every token an attacker or a
//! misconfigured client might send is refused with 401 and nothing is forwarded; a good
//! token is forwarded with its query copy removed.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use dicomweb_edge::dev_issuer::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer};
use edge::authorizer::{AuthConfig, AuthMode, Authorizer, Decision, Refusal};
use edge::cloudfront::{HeaderEntry, Request, RequestResult};
use jsonwebtoken::jwk::JwkSet;
use serde_json::json;

const NOW: u64 = 1_800_000_000;
const DS: &str = "fe979d40487394a75b813ff62a2f7451";

fn issuer() -> &'static DevIssuer {
    static K: OnceLock<DevIssuer> = OnceLock::new();
    K.get_or_init(|| DevIssuer::generate().unwrap().0)
}

/// Another key that claims the same `kid`.
fn impostor() -> &'static DevIssuer {
    static K: OnceLock<DevIssuer> = OnceLock::new();
    K.get_or_init(|| DevIssuer::generate().unwrap().0)
}

fn oidc() -> AuthConfig {
    AuthConfig::new(AuthMode::Oidc {
        issuer: DEV_ISSUER.into(),
        audiences: vec![DEV_AUDIENCE.into()],
        jwks_uri: None,
    })
}

fn claims() -> serde_json::Value {
    json!({"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "u", "iat": NOW - 10, "exp": NOW + 600})
}

fn request(uri: &str, query: &str, headers: &[(&str, &str)]) -> Request {
    let mut r = Request {
        client_ip: "203.0.113.178".into(),
        method: "GET".into(),
        uri: uri.into(),
        querystring: query.into(),
        ..Request::default()
    };
    for (n, v) in headers {
        r.headers
            .entry(n.to_ascii_lowercase())
            .or_default()
            .push(HeaderEntry {
                key: Some((*n).into()),
                value: (*v).into(),
            });
    }
    r
}

fn frames_uri() -> String {
    format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/1")
}

fn decide(a: &Authorizer, token: &str) -> Decision {
    let bearer = format!("Bearer {token}");
    a.viewer_request(
        request(&frames_uri(), "", &[("Authorization", &bearer)]),
        &issuer().jwks(),
        NOW,
    )
}

fn assert_401(d: &Decision, why: Refusal, what: &str) {
    assert_eq!(d.refusal, Some(why), "{what}");
    let RequestResult::Respond(r) = &d.result else {
        panic!("{what}: forwarded")
    };
    assert_eq!(r.status, "401", "{what}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "{what}"
    );
    assert_eq!(r.body.as_deref(), Some("unauthorized\n"));
    assert!(r.header("access-control-allow-origin").is_some());
}

fn unsigned(header: serde_json::Value, claims: &serde_json::Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(sig)
    )
}

#[test]
fn a_valid_token_is_forwarded_without_its_query_copy() {
    let a = Authorizer::new(oidc());
    let token = issuer().sign(&claims()).unwrap();
    let d = a.viewer_request(
        request(
            &frames_uri(),
            &format!("a=1&token={token}&b=2"),
            &[(
                "Accept",
                r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#,
            )],
        ),
        &issuer().jwks(),
        NOW,
    );
    assert_eq!(d.refusal, None);
    let RequestResult::Forward(r) = d.result else {
        panic!("refused")
    };
    assert_eq!(r.querystring, "a=1&b=2");
    assert_eq!(
        r.header("accept"),
        Some("multipart/related;transfer-syntax=*;type=application/octet-stream")
    );
    // The Authorization header and the token header work too.
    assert_eq!(decide(&a, &token).refusal, None);
    let d = a.viewer_request(
        request(&frames_uri(), "", &[("token", &token)]),
        &issuer().jwks(),
        NOW,
    );
    assert_eq!(d.refusal, None);
}

#[test]
fn every_bad_token_is_refused() {
    let a = Authorizer::new(oidc());
    let good = issuer().sign(&claims()).unwrap();
    let kid = issuer().kid().to_owned();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims();
        f(&mut c);
        issuer().sign(&c).unwrap()
    };
    let (h, p, s) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let tampered_payload = {
        let mut c = claims();
        c["sub"] = "admin".into();
        format!("{h}.{}.{s}", B64.encode(c.to_string()))
    };
    let mut sig = B64.decode(&s).unwrap();
    sig[10] ^= 1;
    let tampered_signature = format!("{h}.{p}.{}", B64.encode(&sig));
    // HS256 "signed" with the RSA public key as the secret.
    let public_n = serde_json::to_string(&issuer().jwks()).unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(public_n.as_bytes()),
    )
    .unwrap();
    let other_key_same_kid = impostor().sign_as(&kid, &claims()).unwrap();
    let cases: Vec<(String, Refusal, &str)> = vec![
        (
            unsigned(json!({"alg": "none", "typ": "JWT"}), &claims(), b""),
            Refusal::MalformedToken,
            "alg none",
        ),
        (hs256, Refusal::MalformedToken, "HS256 with the public key"),
        (
            with(&|c| c["exp"] = (NOW - 120).into()),
            Refusal::Expired,
            "expired",
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Refusal::Expired,
            "no exp",
        ),
        (
            with(&|c| c["nbf"] = (NOW + 600).into()),
            Refusal::NotYetValid,
            "nbf in the future",
        ),
        (
            with(&|c| c["iat"] = (NOW + 600).into()),
            Refusal::NotYetValid,
            "iat in the future",
        ),
        (
            with(&|c| c["iss"] = "https://evil.example".into()),
            Refusal::WrongIssuer,
            "wrong issuer",
        ),
        (
            with(&|c| c["aud"] = "someone-else".into()),
            Refusal::WrongAudience,
            "wrong audience",
        ),
        (tampered_payload, Refusal::BadSignature, "tampered payload"),
        (
            tampered_signature,
            Refusal::BadSignature,
            "tampered signature",
        ),
        (
            issuer().sign_as("no-such-kid", &claims()).unwrap(),
            Refusal::UnknownKey,
            "unknown kid",
        ),
        (
            with(&|c| c["pad"] = "x".repeat(9000).into()),
            Refusal::OversizedToken,
            "oversized",
        ),
        ("not-a-jwt".into(), Refusal::MalformedToken, "not a JWT"),
        ("a.b.c".into(), Refusal::MalformedToken, "bad base64"),
        (
            format!("{}.{}.{s}", B64.encode("{not json"), p),
            Refusal::MalformedToken,
            "bad JSON header",
        ),
        (
            other_key_same_kid,
            Refusal::BadSignature,
            "another key, same kid",
        ),
    ];
    for (token, why, what) in cases {
        assert_401(&decide(&a, &token), why, what);
    }
    // No token at all: a bare challenge.
    let d = a.viewer_request(request(&frames_uri(), "", &[]), &issuer().jwks(), NOW);
    assert_eq!(d.refusal, Some(Refusal::MissingToken));
    let RequestResult::Respond(r) = d.result else {
        panic!()
    };
    assert_eq!(
        (r.status.as_str(), r.header("www-authenticate")),
        ("401", Some("Bearer"))
    );
    // The good token still passes.
    assert_eq!(decide(&a, &good).refusal, None);
}

#[test]
fn cognito_mode_wants_access_tokens_of_listed_clients() {
    let a = Authorizer::new(AuthConfig::new(AuthMode::Cognito {
        region: "us-east-1".into(),
        user_pool_id: "us-east-1_EXAMPLE".into(),
        client_ids: vec!["client-a".into()],
    }));
    let iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE";
    let token = |use_: &str, client: &str| {
        issuer()
            .sign(&json!({"iss": iss, "token_use": use_, "client_id": client, "exp": NOW + 60, "iat": NOW}))
            .unwrap()
    };
    assert_eq!(decide(&a, &token("access", "client-a")).refusal, None);
    assert_401(
        &decide(&a, &token("id", "client-a")),
        Refusal::WrongTokenUse,
        "ID token",
    );
    assert_401(
        &decide(&a, &token("access", "client-b")),
        Refusal::WrongAudience,
        "other client",
    );
}

#[test]
fn scopes_datastores_routes_and_preflight() {
    let mut config = oidc();
    config.required_scopes = vec!["dicom.read".into()];
    config.datastores = vec!["0123456789abcdef0123456789abcdef".parse().unwrap()];
    let a = Authorizer::new(config);
    let scoped = issuer()
        .sign(&{
            let mut c = claims();
            c["scope"] = "openid dicom.read".into();
            c
        })
        .unwrap();
    let unscoped = issuer().sign(&claims()).unwrap();
    assert_401(
        &decide(&a, &unscoped),
        Refusal::MissingScope,
        "missing scope",
    );
    // Authenticated, but the datastore is not allowlisted.
    let d = decide(&a, &scoped);
    assert_eq!(d.refusal, Some(Refusal::ForbiddenDatastore));
    let RequestResult::Respond(r) = d.result else {
        panic!()
    };
    assert_eq!(r.status, "403");
    // Paths outside the URL space: 404 before any token is looked at.
    let d = a.viewer_request(request("/admin", "", &[]), &JwkSet { keys: vec![] }, NOW);
    assert_eq!(d.refusal, Some(Refusal::NoSuchRoute));
    // Preflight needs no token.
    let mut pre = request(
        &frames_uri(),
        "",
        &[
            ("Origin", "https://viewer.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    pre.method = "OPTIONS".into();
    let d = a.viewer_request(pre, &JwkSet { keys: vec![] }, NOW);
    let RequestResult::Respond(r) = d.result else {
        panic!()
    };
    assert_eq!(r.status, "204");
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization")
    );
}

#[test]
fn verified_tokens_are_remembered_until_they_expire() {
    let a = Authorizer::new(oidc());
    let token = issuer().sign(&claims()).unwrap();
    assert_eq!(decide(&a, &token).refusal, None);
    // With no keys at all, the remembered token still passes: no verification happened.
    let empty = JwkSet { keys: vec![] };
    let bearer = format!("Bearer {token}");
    let d = a.viewer_request(
        request(&frames_uri(), "", &[("Authorization", &bearer)]),
        &empty,
        NOW + 1,
    );
    assert_eq!(d.refusal, None);
    // After exp the entry is not used, and verification fails.
    let d = a.viewer_request(
        request(&frames_uri(), "", &[("Authorization", &bearer)]),
        &issuer().jwks(),
        NOW + 601 + 30,
    );
    assert_eq!(d.refusal, Some(Refusal::Expired));
}

/// Internal resources take the internal signature, never a user's token; the signature is
/// checked against the path and time, and removed from whatever is forwarded.
#[test]
fn internal_resources_need_the_internal_signature() {
    use edge::internal::{HEADER, InternalKey};
    let key = InternalKey::new([9; 32]);
    let mut config = oidc();
    config.internal_key = Some(key.clone());
    let a = Authorizer::new(config);
    let jwks = issuer().jwks();
    let path = format!("/datastore/{DS}/internal/studies/1.2.3");
    let token = format!("Bearer {}", issuer().sign(&claims()).unwrap());
    let refused = |d: &Decision, what: &str| {
        assert_eq!(d.refusal, Some(Refusal::NotInternal), "{what}");
        let RequestResult::Respond(r) = &d.result else {
            panic!("{what}: forwarded")
        };
        assert_eq!(r.status, "403", "{what}");
    };
    let signed = key.sign(&path, NOW);
    let d = a.viewer_request(request(&path, "", &[(HEADER, &signed)]), &jwks, NOW);
    let RequestResult::Forward(f) = &d.result else {
        panic!("a signed internal request was refused: {:?}", d.refusal)
    };
    assert_eq!(f.header(HEADER), None, "the signature goes no further");
    // A user's valid token is not enough; nor a signature for another path, time or key.
    refused(
        &a.viewer_request(request(&path, "", &[("Authorization", &token)]), &jwks, NOW),
        "a user's token",
    );
    let other = format!("/datastore/{DS}/internal/studies/1.2.4");
    for (what, header) in [
        ("another path", key.sign(&other, NOW)),
        ("expired", key.sign(&path, NOW - 400)),
        ("another key", InternalKey::new([1; 32]).sign(&path, NOW)),
        ("garbage", "x".into()),
    ] {
        refused(
            &a.viewer_request(request(&path, "", &[(HEADER, &header)]), &jwks, NOW),
            what,
        );
    }
    // Without a configured key, nothing opens them.
    let plain = Authorizer::new(oidc());
    refused(
        &plain.viewer_request(request(&path, "", &[(HEADER, &signed)]), &jwks, NOW),
        "no key configured",
    );
    // On a viewer's path the header is dropped, and the token still decides.
    let d = a.viewer_request(
        request(
            &frames_uri(),
            "",
            &[("Authorization", &token), (HEADER, &signed)],
        ),
        &jwks,
        NOW,
    );
    let RequestResult::Forward(f) = &d.result else {
        panic!("refused: {:?}", d.refusal)
    };
    assert_eq!(f.header(HEADER), None);
    let d = a.viewer_request(request(&frames_uri(), "", &[(HEADER, &signed)]), &jwks, NOW);
    assert_eq!(d.refusal, Some(Refusal::MissingToken));
}
