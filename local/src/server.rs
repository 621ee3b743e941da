//! The local edge server: plays CloudFront's part in one process. Each request goes through
//! the phases a CloudFront distribution of this product runs, in order:
//!
//! 1. viewer-request: the authorizer, on every request, cache hits included (CORS
//!    preflight, route and datastore allowlists, the bearer token);
//! 2. cache lookup (GET): a fresh shared entry answers without reaching the origin;
//! 3. origin-request and origin: the native POST is signed by the signer and forwarded to
//!    HealthImaging; everything else goes to the translator;
//! 4. viewer-response: CORS headers on every answer, `X-Cache`, and one access-log line
//!    that never holds `Authorization` or a `token` value.





use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use axum::body::Body;
use base64::Engine;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};

use edge::authorizer::{Authorizer, Refusal};
use edge::cloudfront::{self, HeaderEntry, RequestBody, RequestResult};
use edge::signer::SignerConfig;
use translator::Translator;
use crate::cache::{CacheStatus, EdgeCache};
use crate::keys::Keys;

/// Largest native POST body read (CloudFront passes at most 1 MB to origin-request).
const MAX_BODY: usize = 1 << 20;

/// Where the native POST goes once signed.
pub struct NativeOrigin {
    pub signer: SignerConfig,
    pub credentials: SharedCredentialsProvider,
    pub client: reqwest::Client,
}

/// The local stand-in for the CloudFront distribution.
pub struct LocalEdge {
    translator: Arc<Translator>,
    cache: Option<EdgeCache>,
    authorizer: Authorizer,
    keys: Keys,
    native: Option<NativeOrigin>,
}

impl LocalEdge {
    /// `cache: None` sends every request to the translator.
    pub fn new(
        translator: Arc<Translator>,
        cache: Option<EdgeCache>,
        authorizer: Authorizer,
        keys: Keys,
        native: Option<NativeOrigin>,
    ) -> Self {
        Self {
            translator,
            cache,
            authorizer,
            keys,
            native,
        }
    }

    pub fn cache(&self) -> Option<&EdgeCache> {
        self.cache.as_ref()
    }

    /// An axum router sending every request through [`LocalEdge::handle`].
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(move |req: Request<Body>| {
            let edge = self.clone();
            async move { edge.handle(req).await }
        })
    }

    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let started = Instant::now();
        let (mut parts, body) = req.into_parts();
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(r) = self.keys.published(&parts) {
            log_access(&parts, &r, None, started);
            return r;
        }
        let native_post = parts.method == http::Method::POST;
        let body = if native_post {
            match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => Some(b),
                Err(_) => {
                    let r = plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
                    log_access(&parts, &r, None, started);
                    return r;
                }
            }
        } else {
            None
        };

        // viewer-request
        let viewer = to_cloudfront(&parts, body.as_deref());
        let decision = self.authorize(viewer).await;
        let forwarded = match decision.result {
            RequestResult::Respond(r) => {
                if let Some(why) = decision.refusal {
                    tracing::debug!(?why, "refused at viewer-request");
                }
                let r = from_cloudfront(r);
                log_access(&parts, &r, None, started);
                return r;
            }
            RequestResult::Forward(f) => f,
        };
        apply(&mut parts, &forwarded);

        let (mut resp, cache_status) = if native_post {
            // origin-request + origin
            (self.native_post(*forwarded).await, None)
        } else {
            match (&self.cache, EdgeCache::key(&parts)) {
                (Some(cache), Some(key)) => match cache.lookup(&key, &parts) {
                    Some(hit) => (hit, Some(CacheStatus::Hit)),
                    None => {
                        let r = self.translator.handle(&parts).await;
                        (cache.store(key, r), Some(CacheStatus::Miss))
                    }
                },
                _ => (self.translator.handle(&parts).await, None),
            }
        };

        // viewer-response
        for (name, value) in self
            .authorizer
            .config()
            .cors
            .response_headers(origin.as_deref())
        {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
        if let Some(s) = cache_status {
            resp.headers_mut()
                .insert("x-cache", HeaderValue::from_static(s.as_str()));
        }
        log_access(&parts, &resp, cache_status, started);
        resp
    }

    /// The authorizer, with one JWKS refresh when the token names a key not seen yet.
    async fn authorize(&self, req: cloudfront::Request) -> edge::authorizer::Decision {
        let now = unix_now();
        let jwks = self.keys.current().await;
        let d = self
            .authorizer
            .viewer_request(req.clone(), jwks.as_ref(), now);
        if d.refusal == Some(Refusal::UnknownKey)
            && let Some(fresh) = self.keys.refresh().await
        {
            return self.authorizer.viewer_request(req, fresh.as_ref(), now);
        }
        d
    }

    /// The native POST: signed at origin-request, then sent to HealthImaging.
    async fn native_post(&self, req: cloudfront::Request) -> Response<Body> {
        let Some(native) = &self.native else {
            return plain(StatusCode::NOT_IMPLEMENTED, "no native origin configured\n");
        };
        let creds = match native.credentials.provide_credentials().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no AWS credentials for signing");
                return plain(StatusCode::BAD_GATEWAY, "the edge has no AWS credentials\n");
            }
        };
        // As CloudFront: the origin-request function gets a request ID, and the same value
        // is sent as `X-Amz-Cf-Id` after the function has run.
        let request_id = request_id();
        let signed = match edge::signer::origin_request(
            &native.signer,
            req,
            Some(&request_id),
            &creds,
            SystemTime::now(),
        ) {
            RequestResult::Respond(r) => return from_cloudfront(r),
            RequestResult::Forward(r) => r,
        };
        let body = signed
            .body
            .as_ref()
            .and_then(|b| match b.encoding.as_str() {
                "base64" => base64::engine::general_purpose::STANDARD
                    .decode(&b.data)
                    .ok(),
                _ => Some(b.data.clone().into_bytes()),
            })
            .unwrap_or_default();
        let url = format!(
            "{}://{}{}",
            native.signer.protocol,
            native.signer.authority(),
            signed.uri
        );
        let mut out = native
            .client
            .post(url)
            .body(body)
            .header(edge::signer::CLOUDFRONT_ID_HEADER, &request_id);
        for (name, entries) in &signed.headers {
            if matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection" | "x-amz-cf-id"
            ) {
                continue;
            }
            for e in entries {
                out = out.header(name, &e.value);
            }
        }
        match out.send().await {
            Ok(r) => {
                let mut resp = Response::builder().status(r.status().as_u16());
                for name in [
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-amzn-errortype"),
                ] {
                    if let Some(v) = r.headers().get(&name) {
                        resp = resp.header(name, v);
                    }
                }
                resp.header(header::CACHE_CONTROL, "no-store")
                    .body(Body::from_stream(r.bytes_stream()))
                    .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "bad upstream answer\n"))
            }
            Err(e) if e.is_timeout() => plain(
                StatusCode::GATEWAY_TIMEOUT,
                "HealthImaging did not answer in time\n",
            ),
            Err(_) => plain(StatusCode::BAD_GATEWAY, "HealthImaging is unreachable\n"),
        }
    }
}

/// A request ID in the form CloudFront's have (56 URL-safe base64 characters).
fn request_id() -> String {
    let mut bytes = [0u8; 42];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The request as CloudFront hands it to a viewer-request function.
fn to_cloudfront(parts: &Parts, body: Option<&[u8]>) -> cloudfront::Request {
    let mut headers = cloudfront::Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(HeaderEntry {
                    key: Some(name.as_str().to_owned()),
                    value: v.to_owned(),
                });
        }
    }
    cloudfront::Request {
        client_ip: "127.0.0.1".into(),
        headers,
        method: parts.method.as_str().to_owned(),
        querystring: parts.uri.query().unwrap_or("").to_owned(),
        uri: parts.uri.path().to_owned(),
        body: body.map(|b| RequestBody {
            input_truncated: false,
            action: "read-only".into(),
            encoding: "base64".into(),
            data: base64::engine::general_purpose::STANDARD.encode(b),
        }),
        origin: None,
        extra: Default::default(),
    }
}

/// Carries what the viewer-request function changed (query, headers) into the request.
fn apply(parts: &mut Parts, cf: &cloudfront::Request) {
    let pq = if cf.querystring.is_empty() {
        cf.uri.clone()
    } else {
        format!("{}?{}", cf.uri, cf.querystring)
    };
    if let Ok(uri) = pq.parse() {
        parts.uri = uri;
    }
    let mut headers = http::HeaderMap::new();
    for (name, entries) in &cf.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for e in entries {
            if let Ok(v) = HeaderValue::from_str(&e.value) {
                headers.append(name.clone(), v);
            }
        }
    }
    parts.headers = headers;
}

/// A response generated by an edge function.
fn from_cloudfront(r: cloudfront::Response) -> Response<Body> {
    let status = r
        .status
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match (r.body, r.body_encoding.as_deref()) {
        (Some(b), Some("base64")) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_default()
            .into(),
        (Some(b), _) => Body::from(b),
        (None, _) => Body::empty(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    for (name, entries) in &r.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for e in entries {
            if let Ok(v) = HeaderValue::from_str(&e.value) {
                resp.headers_mut().append(name.clone(), v);
            }
        }
    }
    resp
}

/// One line per request: method, path (token redacted), status, cache status, time to the
/// response head.
fn log_access(req: &Parts, resp: &Response<Body>, cache: Option<CacheStatus>, started: Instant) {
    tracing::info!(
        target: "access",
        "{} {} {} {} {}ms",
        req.method,
        redacted_path(&req.uri),
        resp.status().as_u16(),
        cache.map_or("-", CacheStatus::as_str),
        started.elapsed().as_millis()
    );
}

/// The path and query for the access log, with any `token` value replaced.
pub fn redacted_path(uri: &http::Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None => path.to_owned(),
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some(("token", _)) => "token=REDACTED".to_owned(),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_path_hides_tokens() {
        let uri: http::Uri = "/datastore/x/studies?token=eyJ.secret&limit=1"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_path(&uri),
            "/datastore/x/studies?token=REDACTED&limit=1"
        );
    }
}
