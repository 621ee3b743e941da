//! Server-side verification of AWS Signature Version 4 (header form), as AWS checks it:
//! the canonical request is rebuilt from what the client says it signed, then compared in
//! constant time. Key derivation and the final HMAC come from `aws-sigv4`; rebuilding the
//! canonical request is ours because no maintained crate verifies signatures server-side.
//! Rules: "Create a canonical request for Signature Version 4" and "Signature Version 4
//! signing process" in the AWS General Reference (non-S3: the path is URI-encoded twice,
//! the payload hash is SHA-256 of the body unless `x-amz-content-sha256` says otherwise).

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::api::{AhiError, ErrorKind};

/// One key pair the emulator accepts, with the session token that must accompany it.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What a request must satisfy: credentials, region, service name, allowed clock skew.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub credentials: Vec<Credentials>,
    pub region: String,
    pub service: String,
    /// AWS allows 5 minutes between the request's `x-amz-date` and the server clock.
    pub max_skew: Duration,
}

/// The parts of a received request that take part in the signature.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub raw_path: &'a str,
    /// The query string exactly as received, without `?`.
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// RFC 3986 unreserved characters are left alone; everything else is percent-encoded.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

struct AuthorizationHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(msg: &str) -> AhiError {
    AhiError::new(ErrorKind::IncompleteSignature, msg)
}

fn parse_authorization(value: &str) -> Result<AuthorizationHeader<'_>, AhiError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        incomplete("Unsupported or missing signing algorithm; expected AWS4-HMAC-SHA256.")
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (credential, signed, signature) = match (credential, signed, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => {
            return Err(incomplete(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
            ));
        }
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request.",
        ));
    };
    if terminator != "aws4_request" {
        return Err(incomplete(
            "Credential should be scoped with a valid terminator: 'aws4_request'.",
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal characters."));
    }
    Ok(AuthorizationHeader {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn invalid(msg: impl Into<String>) -> AhiError {
    AhiError::new(ErrorKind::InvalidSignature, msg)
}

fn unrecognized() -> AhiError {
    AhiError::new(
        ErrorKind::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

fn amz_format(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

/// `/a b/c%2F` → `/a%2520b/c%252F`: each segment of the received (encoded) path is encoded
/// again, after removing `.` and `..` segments.
fn canonical_path(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw_path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.extend(utf8_percent_encode(seg, SIGV4_ENCODE));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn canonical_query(raw_query: Option<&str>) -> String {
    let Some(q) = raw_query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let enc = |s: &str| {
        let decoded = percent_decode_str(&s.replace('+', "%20"))
            .decode_utf8_lossy()
            .into_owned();
        utf8_percent_encode(&decoded, SIGV4_ENCODE).to_string()
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (enc(k), enc(v)),
            None => (enc(p), String::new()),
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

impl Verifier {
    /// Checks the request's signature at time `now`; `Ok` means AWS would accept it.
    pub fn verify(&self, req: &SignedRequest<'_>, now: SystemTime) -> Result<(), AhiError> {
        let Some(auth) = req.headers.get(http::header::AUTHORIZATION) else {
            if req
                .raw_query
                .is_some_and(|q| q.contains("X-Amz-Signature="))
            {
                return Err(invalid(
                    "Query-string (presigned) authentication is not supported by this API.",
                ));
            }
            return Err(AhiError::new(
                ErrorKind::MissingAuthenticationToken,
                "Missing Authentication Token",
            ));
        };
        let auth = auth
            .to_str()
            .map_err(|_| incomplete("Authorization header is not valid ASCII."))?;
        let auth = parse_authorization(auth)?;

        let creds = self
            .credentials
            .iter()
            .find(|c| c.access_key_id == auth.access_key_id)
            .ok_or_else(unrecognized)?;
        let token = req
            .headers
            .get("x-amz-security-token")
            .map(|v| v.as_bytes());
        let token_ok = match (&creds.session_token, token) {
            (None, None) => true,
            (Some(expected), Some(got)) => bool::from(expected.as_bytes().ct_eq(got)),
            _ => false,
        };
        if !token_ok {
            return Err(unrecognized());
        }

        if auth.service != self.service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            )));
        }
        if auth.region != self.region {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                auth.region
            )));
        }

        let mut signed: Vec<&str> = auth.signed_headers.clone();
        signed.sort_unstable();
        if signed != auth.signed_headers
            || signed
                .iter()
                .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(incomplete(
                "SignedHeaders must be lowercase, sorted and not empty.",
            ));
        }
        if !signed.contains(&"host") {
            return Err(invalid("'Host' must be a signed header."));
        }
        // Every `x-amz-*` header present must be signed, as AWS's SigV4 verifiers require
        // (the reason CloudFront's `X-Amz-Cf-Id`, added after origin-request, must be signed
        // by the origin-request function with the value CloudFront will send).
        let mut unsigned: Vec<&str> = req
            .headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| n.starts_with("x-amz-") && !signed.contains(n))
            .collect();
        if !unsigned.is_empty() {
            unsigned.sort_unstable();
            unsigned.dedup();
            return Err(invalid(format!(
                "There were headers present in the request which were not signed: {}",
                unsigned.join(", ")
            )));
        }
        let amz_date = req
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."))?;
        let signed_at = time::PrimitiveDateTime::parse(
            amz_date,
            format_description!("[year][month][day]T[hour][minute][second]Z"),
        )
        .map_err(|_| incomplete("X-Amz-Date must have the form YYYYMMDDTHHMMSSZ."))?
        .assume_utc();
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                auth.date,
                &amz_date[..8],
                amz_date
            )));
        }
        let now_odt = OffsetDateTime::from(now);
        let skew = time::Duration::try_from(self.max_skew).unwrap_or(time::Duration::minutes(5));
        if signed_at < now_odt - skew {
            return Err(invalid(format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                amz_date,
                amz_format(now_odt - skew),
                amz_format(now_odt)
            )));
        }
        if signed_at > now_odt + skew {
            return Err(invalid(format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                amz_date,
                amz_format(now_odt + skew),
                amz_format(now_odt)
            )));
        }

        let mut canonical = String::with_capacity(512);
        canonical.push_str(req.method);
        canonical.push('\n');
        canonical.push_str(&canonical_path(req.raw_path));
        canonical.push('\n');
        canonical.push_str(&canonical_query(req.raw_query));
        canonical.push('\n');
        for name in &signed {
            let value = canonical_header_value(req.headers, name).ok_or_else(|| {
                invalid("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
            })?;
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(&value);
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(&signed.join(";"));
        canonical.push('\n');
        match req
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some(declared) if declared == "UNSIGNED-PAYLOAD" => canonical.push_str(declared),
            Some(declared) => {
                let actual = hex::encode(Sha256::digest(req.body));
                if declared != actual {
                    return Err(AhiError::new(
                        ErrorKind::InvalidSignature,
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    ));
                }
                canonical.push_str(declared);
            }
            None => canonical.push_str(&hex::encode(Sha256::digest(req.body))),
        }

        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = aws_sigv4::sign::v4::generate_signing_key(
            &creds.secret_access_key,
            SystemTime::from(signed_at),
            auth.region,
            auth.service,
        );
        let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
        if bool::from(
            expected
                .as_bytes()
                .ct_eq(auth.signature.to_ascii_lowercase().as_bytes()),
        ) {
            Ok(())
        } else {
            Err(invalid(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials as AwsCreds;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4::SigningParams;
    use http::HeaderValue;

    const AK: &str = "AKIDEXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn verifier(token: Option<&str>) -> Verifier {
        Verifier {
            credentials: vec![Credentials {
                access_key_id: AK.into(),
                secret_access_key: SK.into(),
                session_token: token.map(Into::into),
            }],
            region: "us-east-1".into(),
            service: "medical-imaging".into(),
            max_skew: Duration::from_secs(300),
        }
    }

    /// Signs like the AWS SDKs do, with `aws-sigv4`'s own signer (an independent
    /// implementation of the signing side).
    fn signed(
        uri: &str,
        body: &[u8],
        at: SystemTime,
        region: &str,
        service: &str,
        token: Option<&str>,
        secret: &str,
    ) -> http::Request<Vec<u8>> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("host", "runtime-medical-imaging.us-east-1.amazonaws.com")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .unwrap();
        let identity = AwsCreds::new(AK, secret, token.map(Into::into), None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            uri.to_string(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req
    }

    fn check(v: &Verifier, req: &http::Request<Vec<u8>>, now: SystemTime) -> Result<(), AhiError> {
        let uri = req.uri();
        v.verify(
            &SignedRequest {
                method: req.method().as_str(),
                raw_path: uri.path(),
                raw_query: uri.query(),
                headers: req.headers(),
                body: req.body(),
            },
            now,
        )
    }

    const URI: &str = "https://runtime-medical-imaging.us-east-1.amazonaws.com/datastore/0123456789abcdef0123456789abcdef/searchImageSets?maxResults=2&nextToken=a%2Bb%3D";

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    #[test]
    fn accepts_what_aws_sigv4_signs() {
        let req = signed(URI, b"{}", now(), "us-east-1", "medical-imaging", None, SK);
        check(&verifier(None), &req, now()).unwrap();
        // Within the allowed skew either side.
        check(&verifier(None), &req, now() + Duration::from_secs(299)).unwrap();
        check(&verifier(None), &req, now() - Duration::from_secs(299)).unwrap();
        let with_token = signed(
            URI,
            b"{}",
            now(),
            "us-east-1",
            "medical-imaging",
            Some("tok"),
            SK,
        );
        check(&verifier(Some("tok")), &with_token, now()).unwrap();
    }

    #[test]
    fn rejects_like_aws() {
        let v = verifier(None);
        let good = signed(URI, b"{}", now(), "us-east-1", "medical-imaging", None, SK);
        let kind = |r: Result<(), AhiError>| r.unwrap_err().kind;

        let mut unsigned = good.clone();
        unsigned.headers_mut().remove("authorization");
        assert_eq!(
            kind(check(&v, &unsigned, now())),
            ErrorKind::MissingAuthenticationToken
        );

        let mut tampered = good.clone();
        *tampered.body_mut() = b"{ }".to_vec();
        assert_eq!(
            kind(check(&v, &tampered, now())),
            ErrorKind::InvalidSignature
        );

        let mut header_changed = good.clone();
        header_changed
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(
            kind(check(&v, &header_changed, now())),
            ErrorKind::InvalidSignature
        );

        let wrong_secret = signed(
            URI,
            b"{}",
            now(),
            "us-east-1",
            "medical-imaging",
            None,
            "other",
        );
        assert_eq!(
            kind(check(&v, &wrong_secret, now())),
            ErrorKind::InvalidSignature
        );

        let err = check(&v, &good, now() + Duration::from_secs(301)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidSignature);
        assert!(
            err.message.starts_with("Signature expired"),
            "{}",
            err.message
        );
        let err = check(&v, &good, now() - Duration::from_secs(301)).unwrap_err();
        assert!(
            err.message.starts_with("Signature not yet current"),
            "{}",
            err.message
        );

        let wrong_service = signed(URI, b"{}", now(), "us-east-1", "s3", None, SK);
        let err = check(&v, &wrong_service, now()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidSignature);
        assert!(err.message.contains("'medical-imaging'"));

        let wrong_region = signed(URI, b"{}", now(), "eu-west-1", "medical-imaging", None, SK);
        assert_eq!(
            kind(check(&v, &wrong_region, now())),
            ErrorKind::InvalidSignature
        );

        let with_token = signed(
            URI,
            b"{}",
            now(),
            "us-east-1",
            "medical-imaging",
            Some("tok"),
            SK,
        );
        assert_eq!(
            kind(check(&verifier(Some("other")), &with_token, now())),
            ErrorKind::UnrecognizedClient
        );
        assert_eq!(
            kind(check(&verifier(Some("tok")), &good, now())),
            ErrorKind::UnrecognizedClient
        );

        let mut unknown_key = good.clone();
        let a = unknown_key.headers()["authorization"]
            .to_str()
            .unwrap()
            .replace(AK, "AKIDOTHER");
        unknown_key
            .headers_mut()
            .insert("authorization", a.parse().unwrap());
        assert_eq!(
            kind(check(&v, &unknown_key, now())),
            ErrorKind::UnrecognizedClient
        );

        for junk in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 Credential=x",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz",
        ] {
            let mut r = good.clone();
            r.headers_mut()
                .insert("authorization", junk.parse().unwrap());
            assert_eq!(
                kind(check(&v, &r, now())),
                ErrorKind::IncompleteSignature,
                "{junk}"
            );
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_path("/a b/./c/../d%2F"), "/a%20b/d%252F");
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_query(Some("b=2&a=1&a=0&c")), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query(Some("t=a%2Bb%3D")), "t=a%2Bb%3D");
    }
}
