//! The signer: CloudFront's origin-request function on the native
//! `/datastore/{ds}/imageSet/{is}/getImageFrame` path (body included). A pure function of
//! (configuration, request, credentials, now), like the authorizer.
//!
//! CloudFront picks a behavior by path alone, so one behavior carries both methods of that
//! path: the `POST` goes to HealthImaging, the cacheable `GET …?imageFrameId=` to the
//! translator. For the `GET`, the signer moves the request to the translator's Function URL,
//! named by the origin custom header [`TRANSLATOR_URL_HEADER`] (set in the template; a
//! package cannot know the URL), and signs it for the `lambda` service, since the URL uses
//! `AuthType: AWS_IAM`.
//!
//! For the `POST`, the body must be exactly
//! `{"imageFrameId": "<32 hex>"}` and arrive whole (CloudFront passes up to 1 MB to
//! origin-request). It points the origin at AHI's runtime endpoint for the configured region
//! and signs with `aws-sigv4` (service `medical-imaging`): `host`, `content-type`, every
//! `x-amz-*` header on the request, and the ones signing adds (`x-amz-date`,
//! `x-amz-content-sha256`, `x-amz-security-token`). Other headers are left unsigned, since
//! CloudFront may still change them on the way to the origin. Anything else is answered here
//! from the error table (400, 403, 405, 500) and never forwarded unsigned.
//!
//! **Byte ranges.** The translator's Function URL streams (`RESPONSE_STREAM`), so its answers
//! arrive chunked, and CloudFront answers a `Range` request with the *entire object* when the
//! origin's answer is chunked (CloudFront developer guide, "How CloudFront processes partial
//! requests for an object (range GETs)"). The template therefore gives the translator a
//! second URL, on its `ranges` alias, in `BUFFERED` mode: answers there carry a
//! `Content-Length` (up to 6 MB per Lambda response). On the frames, bulk data and native
//! behaviors this function moves a request that carries `Range` and asks for one part to that
//! URL (named by the origin custom header [`RANGES_URL_HEADER`]), marks it with
//! [`RESPONSE_MODE_HEADER`] so the translator answers in the buffered format, and signs it
//! for `lambda` like the native GET. Every other request goes on as it came (Origin Access
//! Control signs it for the streaming URL). Without the header (a split deployment that
//! named no ranges URL) ranged requests stay on the streaming URL and get whole answers.
//!
//! CloudFront adds `X-Amz-Cf-Id` (the event's `config.requestId`) to the origin request
//! *after* origin-request runs, and AWS's SigV4 verifiers refuse a request with an unsigned
//! `x-amz-*` header. So the signer sets that header itself, to the value CloudFront will
//! send, and signs it, on both paths (CloudFront developer guide, "Adding custom headers to
//! origin requests"; AWS's own Lambda@Edge SigV4 sample does the same).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use base64::Engine;
use healthimaging::{AhiError, ClientError, ErrorKind, ImageFrameId};
use serde::Deserialize;

use crate::cloudfront::{CustomOrigin, Request, RequestResult, Response};
use crate::errors::EdgeError;
use crate::routes::{self, Route, RouteError};

/// The SigV4 signing name of AWS HealthImaging.
pub const SERVICE: &str = "medical-imaging";
/// The SigV4 signing name of Lambda Function URLs.
pub const LAMBDA_SERVICE: &str = "lambda";
/// The origin custom header that names the translator's Function URL.
pub const TRANSLATOR_URL_HEADER: &str = "x-dicomweb-translator-url";
/// The origin custom header that names the translator's buffered (`ranges`) Function URL.
pub const RANGES_URL_HEADER: &str = "x-dicomweb-ranges-url";
/// Set (to [`BUFFERED`]) on requests moved to the buffered URL: the translator answers them
/// as one buffered Lambda response instead of a stream.
pub const RESPONSE_MODE_HEADER: &str = "x-dicomweb-response-mode";
pub const BUFFERED: &str = "buffered";

/// Where signed requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerConfig {
    pub region: String,
    /// The origin host; by default `runtime-medical-imaging.{region}.amazonaws.com`.
    pub host: String,
    /// `https` (AWS) or `http` (a local emulator).
    pub protocol: String,
    pub port: u16,
}

impl SignerConfig {
    /// AHI's runtime endpoint in `region`.
    pub fn aws(region: &str) -> Self {
        Self {
            region: region.to_owned(),
            host: format!("runtime-medical-imaging.{region}.amazonaws.com"),
            protocol: "https".into(),
            port: 443,
        }
    }

    /// An endpoint given as `scheme://host[:port][/]` (no region: the caller sets it).
    pub fn from_url(url: &str) -> Option<Self> {
        let (protocol, rest) = url.split_once("://")?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') || authority.contains('@') {
            return None;
        }
        let default_port = match protocol {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default_port),
        };
        Some(Self {
            region: String::new(),
            host: host.to_owned(),
            protocol: protocol.to_owned(),
            port,
        })
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        crate::cloudfront::authority(&self.protocol, &self.host, self.port)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FrameBody {
    image_frame_id: String,
}

fn refuse(error: EdgeError) -> RequestResult {
    RequestResult::Respond(error.answer().to_cloudfront())
}

fn bad_request(reason: &str) -> RequestResult {
    refuse(EdgeError::BadRequest(reason.to_owned()))
}

/// The header CloudFront adds to every origin request, after origin-request has run.
pub const CLOUDFRONT_ID_HEADER: &str = "X-Amz-Cf-Id";

/// Signs one origin request at `now`. `request_id` is the event's `config.requestId`, which
/// CloudFront sends as `X-Amz-Cf-Id` (`None` where no CloudFront adds one).
pub fn origin_request(
    config: &SignerConfig,
    mut req: Request,
    request_id: Option<&str>,
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        req.set_header(CLOUDFRONT_ID_HEADER, id);
    }
    match routes::parse(&req.method, &req.uri, Some(&req.querystring)) {
        Ok(Route::NativeFramePost { .. }) => {}
        Ok(Route::NativeFrameGet { .. }) => return to_translator(config, req, credentials, now),
        Ok(Route::Frames { .. } | Route::Bulkdata { .. }) => {
            return ranges(config, req, credentials, now);
        }
        Err(e @ (RouteError::Invalid { .. } | RouteError::MethodNotAllowed { .. })) => {
            return refuse(EdgeError::Route(e));
        }
        Ok(_) | Err(RouteError::NotFound) => return refuse(EdgeError::NotSignedRoute),
    }
    // HealthImaging's GetImageFrame takes no query parameters; one would be signed and sent,
    // and refused by HealthImaging as a signature mismatch (403) or an unknown parameter.
    if !req.querystring.is_empty() {
        return bad_request("the native getImageFrame POST takes no query parameters");
    }
    let Some(body) = &req.body else {
        return bad_request("the request has no body");
    };
    if body.input_truncated {
        return refuse(EdgeError::PayloadTooLarge);
    }
    let bytes = match body.encoding.as_str() {
        "base64" => match base64::engine::general_purpose::STANDARD.decode(&body.data) {
            Ok(b) => b,
            Err(_) => return bad_request("the request body is not valid base64"),
        },
        _ => body.data.clone().into_bytes(),
    };
    let frame: FrameBody = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(_) => {
            return bad_request(
                "the body must be {\"imageFrameId\": \"<32 hexadecimal characters>\"}",
            );
        }
    };
    if frame.image_frame_id.parse::<ImageFrameId>().is_err() {
        return bad_request("imageFrameId must be 32 lowercase hexadecimal characters");
    }

    sign_to(
        config,
        &config.region,
        SERVICE,
        req,
        &bytes,
        credentials,
        now,
    )
}

/// Whether `req` asks for a byte range of a single-part answer: a `Range` header, and an
/// Accept (the `accept` query parameter overrides the header, PS3.18 §8.3.3.1) that names a
/// type and no multipart one. Without one, or with only `*/*`, frames and bulk data are
/// multipart (PS3.18 §8.7.3), and multipart answers ignore `Range`.
fn wants_a_range(req: &Request) -> bool {
    if req.header("range").is_none() {
        return false;
    }
    let query = dicomweb::query::QueryParams::parse(Some(&req.querystring));
    let accept = query.first("accept").or_else(|| req.header("accept"));
    accept.is_some_and(|a| {
        let a = a.to_ascii_lowercase();
        !a.contains("multipart/") && a.split(',').any(|m| !m.trim().starts_with("*/*"))
    })
}

/// Removes the origin custom header `name` (never passed on to the origin); its value.
fn take_origin_header(req: &mut Request, name: &str) -> Option<String> {
    req.origin
        .as_mut()
        .and_then(|o| o.custom.as_mut())
        .and_then(|c| c.custom_headers.remove(name))
        .and_then(|v| v.into_iter().next())
        .map(|h| h.value)
}

/// Frames and bulk data: a ranged single-part request to the buffered URL, signed for
/// `lambda`; anything else unchanged.
fn ranges(
    config: &SignerConfig,
    mut req: Request,
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    let url = take_origin_header(&mut req, RANGES_URL_HEADER);
    match url.as_deref().and_then(SignerConfig::from_url) {
        Some(target) if wants_a_range(&req) => {
            to_buffered_url(config, target, req, credentials, now)
        }
        _ => RequestResult::Forward(Box::new(req)),
    }
}

/// `req` without its body to the Function URL `target`, signed for `lambda`.
fn to_lambda_url(
    config: &SignerConfig,
    mut target: SignerConfig,
    mut req: Request,
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    target.region = config.region.clone();
    req.body = None;
    sign_to(
        &target,
        &config.region,
        LAMBDA_SERVICE,
        req,
        &[],
        credentials,
        now,
    )
}

/// `req` to the translator's buffered URL `target`, marked to be answered buffered.
fn to_buffered_url(
    config: &SignerConfig,
    target: SignerConfig,
    mut req: Request,
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    req.set_header(RESPONSE_MODE_HEADER, BUFFERED);
    to_lambda_url(config, target, req, credentials, now)
}

/// The cacheable native GET: to the translator's Function URL, signed for `lambda` (its
/// buffered URL when it asks for a range).
fn to_translator(
    config: &SignerConfig,
    mut req: Request,
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    let ranges = take_origin_header(&mut req, RANGES_URL_HEADER);
    let url = take_origin_header(&mut req, TRANSLATOR_URL_HEADER);
    if req.header("range").is_some()
        && let Some(target) = ranges.as_deref().and_then(SignerConfig::from_url)
    {
        return to_buffered_url(config, target, req, credentials, now);
    }
    let Some(translator) = url.as_deref().and_then(SignerConfig::from_url) else {
        return refuse(EdgeError::Misconfigured(
            "the translator's URL is not configured",
        ));
    };
    to_lambda_url(config, translator, req, credentials, now)
}

/// The origin-response phase, on the native behavior: HealthImaging's refusal of the
/// signed POST is answered from the error table (AHI 5xx → 502, throttling → 503, …), with
/// the table's message, never AHI's (which can name the account, role or resource). A
/// success keeps its bytes and content type, and the GET's answer (the translator's, from
/// the same table already) passes unchanged.
pub fn origin_response(request: &Request, response: Response) -> Response {
    let status: u16 = response.status.parse().unwrap_or(502);
    if request.method != "POST" || status < 400 {
        return response;
    }
    let kind = ErrorKind::of_answer(status, response.header("x-amzn-errortype"));
    EdgeError::from(ClientError::Service(AhiError::new(kind, "")))
        .answer()
        .to_cloudfront()
}

/// Points the request at `origin` and signs it with SigV4 for `service` in `region`.
fn sign_to(
    origin: &SignerConfig,
    region: &str,
    service: &str,
    mut req: Request,
    body: &[u8],
    credentials: &Credentials,
    now: SystemTime,
) -> RequestResult {
    let target = CustomOrigin::new(
        &origin.protocol,
        &origin.host,
        origin.port,
        Default::default(),
    );
    let url = target.url(&req.uri, &req.querystring);
    req.origin = Some(target.into());
    req.set_header("Host", origin.authority());
    if req.method == "POST" && req.header("content-type").is_none() {
        req.set_header("Content-Type", "application/json");
    }
    let signed: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(name, _)| {
            *name == "host" || *name == "content-type" || name.starts_with("x-amz-")
        })
        .filter_map(|(name, v)| Some((name.clone(), v.first()?.value.clone())))
        .collect();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let identity = credentials.clone().into();
    let params = match SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()
    {
        Ok(p) => p.into(),
        Err(_) => return refuse(EdgeError::Misconfigured("the signer is misconfigured")),
    };
    let signable = match SignableRequest::new(
        &req.method,
        &url,
        signed.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    ) {
        Ok(s) => s,
        Err(_) => return bad_request("the request cannot be signed"),
    };
    let instructions = match sign(signable, &params) {
        Ok(out) => out.into_parts().0,
        Err(_) => return refuse(EdgeError::Misconfigured("the request cannot be signed")),
    };
    for (name, value) in instructions.headers() {
        req.set_header(&canonical_name(name), value);
    }
    RequestResult::Forward(Box::new(req))
}

/// `x-amz-date` → `X-Amz-Date`, for the `key` CloudFront forwards.
fn canonical_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}
