//! The local edge server: plays CloudFront's part in one process, driving the same edge
//! functions the deployed distribution runs. Each request goes through CloudFront's phases,
//! in order:
//!
//! 1. viewer-request: `edge::lambda_edge::ViewerRequestFunction`, the state machine the
//!    Lambda@Edge host drives, on every request, cache hits included (CORS preflight, route
//!    and datastore allowlists, the bearer token; key fetches when it asks for them);
//! 2. cache lookup (GET, HEAD): a fresh shared entry answers without reaching the origin,
//!    keyed as the behavior for the path keys (`edge::behaviors`);
//! 3. origin-request, for the behavior that has it (the native `getImageFrame` path):
//!    `edge::lambda_edge::OriginRequestFunction` signs the POST for HealthImaging, or moves
//!    the GET to the translator's URL signed for `lambda`; then CloudFront's `X-Amz-Cf-Id`
//!    is added, as CloudFront adds it;
//! 4. origin: HealthImaging (the emulator checks the signature), or the translator in
//!    process (after checking the `lambda` signature, as a Function URL with `AWS_IAM` auth
//!    does, when the request came through the signer);
//! 5. viewer-response: CORS headers on every answer, `X-Cache`, and one access-log line
//!    that never holds `Authorization` or a `token` value.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use axum::body::Body;
use base64::Engine;
use edge::EdgeError;
use edge::cors::CorsPolicy;
use edge::lambda_edge::{OriginRequestFunction, Step, ViewerRequestFunction};
use edge::signer::{CLOUDFRONT_ID_HEADER, LAMBDA_SERVICE, TRANSLATOR_URL_HEADER};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use tokio::sync::Mutex;

use crate::cache::{CacheStatus, EdgeCache, Flight};
use crate::keys::Keys;
use edge::cloudfront::{self, CustomOrigin, HeaderEntry, Origin, RequestBody, RequestResult};
use translator::Translator;
use translator::body::Ending;

/// CloudFront's request ID header ([`CLOUDFRONT_ID_HEADER`]) as a header name.
const CF_ID: HeaderName = HeaderName::from_static("x-amz-cf-id");

/// Largest native POST body read (CloudFront passes at most 1 MB to origin-request).
pub const MAX_BODY: usize = 1 << 20;

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to send a request's head: from connecting, and on a kept-alive connection from
    /// the end of the previous answer (so it is also the idle timeout). Then the connection
    /// is closed.
    pub header_read: Duration,
    /// Time to send a POST body once its head has arrived (then 408).
    pub body_read: Duration,
    /// Time a client may leave an answer unread: once a write to it has waited this long,
    /// the connection is closed, the answer cut short and what it held freed (one client
    /// reading 1 KB of forty 8 MiB frames held 146 MB for as long as it liked).
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            send: Duration::from_secs(30),
        }
    }
}

/// A connection's socket, noting since when a write has been waiting for the client to read
/// (hyper has no write timeout; [`serve`] closes a connection whose writes wait too long).
struct WriteWatch<T> {
    inner: T,
    /// Milliseconds since `epoch` when the current wait began; 0 while writes go through.
    blocked_since: Arc<std::sync::atomic::AtomicU64>,
    epoch: Instant,
}

impl<T> WriteWatch<T> {
    fn note(&self, ready: bool) {
        use std::sync::atomic::Ordering;
        if ready {
            self.blocked_since.store(0, Ordering::Relaxed);
        } else if self.blocked_since.load(Ordering::Relaxed) == 0 {
            let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.blocked_since.store(now.max(1), Ordering::Relaxed);
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteWatch<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteWatch<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(r.is_ready());
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(r.is_ready());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.note(r.is_ready());
        r
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` over HTTP/1.1, one task per connection, closing a
/// connection whose request head takes longer than `timeouts.header_read` (`axum::serve`
/// has no such limit, so idle and trickling connections stayed open for as long as a
/// client liked) or whose writes wait on the client longer than `timeouts.send`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let epoch = Instant::now();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let blocked_since = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let watched = WriteWatch {
            inner: stream,
            blocked_since: blocked_since.clone(),
            epoch,
        };
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read)
                .serve_connection(TokioIo::new(watched), service);
            // Checked four times per timeout, so a stalled client is dropped within
            // 1.25 × `send`.
            let stalled = async {
                let mut tick =
                    tokio::time::interval((timeouts.send / 4).max(Duration::from_millis(10)));
                loop {
                    tick.tick().await;
                    let since = blocked_since.load(std::sync::atomic::Ordering::Relaxed);
                    let waited = epoch.elapsed().saturating_sub(Duration::from_millis(since));
                    if since != 0 && waited >= timeouts.send {
                        return;
                    }
                }
            };
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended");
                },
                () = stalled => tracing::info!(
                    send_timeout_s = timeouts.send.as_secs(),
                    "closed a connection whose client stopped reading"
                ),
            }
        });
    }
}

/// A native POST body: at most [`MAX_BODY`] bytes, refused before reading when
/// `Content-Length` says it is larger (so `Expect: 100-continue` gets 413, not `100
/// Continue`), within `timeout`; a malformed body (a bad chunk size) is 400.
async fn read_body(
    parts: &Parts,
    body: Body,
    timeout: Duration,
) -> Result<bytes::Bytes, EdgeError> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(EdgeError::PayloadTooLarge);
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => Err(EdgeError::RequestTimeout),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(EdgeError::PayloadTooLarge);
                }
                source = s.source();
            }
            Err(EdgeError::BadRequest(
                "the request body is malformed".into(),
            ))
        }
    }
}

/// The translator's URL as the local origin-request function is told it (the deployed one
/// is told the Function URL). Nothing listens there: the server answers such requests with
/// the translator in process. `.invalid` is reserved (RFC 2606).
pub const LOCAL_TRANSLATOR_URL: &str = "http://translator.invalid";
const LOCAL_TRANSLATOR_HOST: &str = "translator.invalid";

/// The distribution domain name the local server reports to the viewer-request function.
const LOCAL_DISTRIBUTION: &str = "localhost";

/// Where origin requests go once signed.
pub struct NativeOrigin {
    pub function: OriginRequestFunction,
    /// The region the signer signs for (the translator's `lambda` signature is checked with
    /// it).
    pub region: String,
    pub credentials: SharedCredentialsProvider,
    pub client: reqwest::Client,
}

impl NativeOrigin {
    /// The client of the signed native POST, with the AHI client's limits
    /// (`healthimaging::client`): idle connections closed after 20 s and at most 64 kept, a
    /// connection within `options.connect_timeout` and the whole answer, body included,
    /// within `options.attempt_timeout` (a stall mid-body is then 504, not a hung client).
    pub fn http_client(options: &healthimaging::client::ClientOptions) -> reqwest::Client {
        reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(64)
            .connect_timeout(options.connect_timeout)
            .timeout(options.attempt_timeout)
            .build()
            .unwrap_or_default()
    }
}

/// The local stand-in for the CloudFront distribution.
pub struct LocalEdge {
    /// The translator instances; each origin request goes to one at random, as Lambda
    /// gives a request to whichever instance is free.
    translators: Vec<Arc<Translator>>,
    cache: Option<EdgeCache>,
    /// One viewer-request function, as in one Lambda@Edge container: requests pass through
    /// it one at a time, key fetches included.
    viewer: Mutex<ViewerRequestFunction>,
    cors: CorsPolicy,
    keys: Keys,
    native: Option<NativeOrigin>,
    body_read_timeout: Duration,
    /// The OHIF viewer on every path that is not the edge's ([`crate::ohif`]).
    ohif: Option<Arc<crate::ohif::OhifViewer>>,
    /// Where each request's audit event goes, completed with its answer (`--audit-log`).
    audit: Option<Arc<crate::audit_log::AuditLog>>,
    /// Where each answered request is counted (`--metrics-listen`).
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl LocalEdge {
    /// `cache: None` sends every request to the origin.
    pub fn new(
        translator: Arc<Translator>,
        cache: Option<EdgeCache>,
        viewer: ViewerRequestFunction,
        keys: Keys,
        native: Option<NativeOrigin>,
    ) -> Self {
        Self {
            translators: vec![translator],
            cache,
            cors: viewer.authorizer().config().cors.clone(),
            viewer: Mutex::new(viewer),
            keys,
            native,
            body_read_timeout: Timeouts::default().body_read,
            ohif: None,
            audit: None,
            metrics: None,
        }
    }

    /// Counts each answered request in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<Arc<crate::metrics::Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Writes each request's audit event to `log` once it is answered.
    pub fn with_audit_log(mut self, log: Option<Arc<crate::audit_log::AuditLog>>) -> Self {
        self.audit = log;
        self
    }

    /// Serves the OHIF viewer beside the edge, as a distribution's default behavior would.
    pub fn with_ohif(mut self, ohif: Option<Arc<crate::ohif::OhifViewer>>) -> Self {
        self.ohif = ohif;
        self
    }

    /// Spreads origin requests over `instances` (each with its own caches and client)
    /// instead of the one translator given to [`LocalEdge::new`].
    pub fn with_translators(mut self, instances: Vec<Arc<Translator>>) -> Self {
        if !instances.is_empty() {
            self.translators = instances;
        }
        self
    }

    /// The instance that takes the next origin request.
    fn translator(&self) -> &Translator {
        let i = rand::random_range(0..self.translators.len());
        &self.translators[i]
    }

    /// The time a client has to send a POST body ([`Timeouts::body_read`]).
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    pub fn cache(&self) -> Option<&EdgeCache> {
        self.cache.as_ref()
    }

    /// Fetches the issuer's keys before the first request, as the Node host does during the
    /// container's init.
    pub async fn prefetch_keys(&self) {
        let mut viewer = self.viewer.lock().await;
        if let Some(url) = viewer.keys_to_prefetch() {
            self.fetch_keys(&mut viewer, &url).await;
        }
    }

    async fn fetch_keys(&self, viewer: &mut ViewerRequestFunction, url: &str) {
        let now = unix_now();
        match self.keys.fetch(url).await {
            Ok(body) => match viewer.keys_fetched(&body, now) {
                Ok(n) => tracing::info!(url, keys = n, "fetched the issuer's keys"),
                Err(e) => tracing::warn!(url, error = %e, "cannot use the issuer's keys"),
            },
            Err(e) => {
                tracing::warn!(url, error = %e, "cannot fetch the issuer's keys");
                viewer.keys_unavailable(now);
            }
        }
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
        // As CloudFront: one ID per request, given to the functions, sent to the origin as
        // `X-Amz-Cf-Id` and to the viewer in the same header.
        let request_id = request_id();
        let (mut parts, body) = req.into_parts();
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(r) = self.keys.published(&parts) {
            return log_access(&parts, r, None, started, self.report(&request_id, None));
        }
        if let Some(ohif) = &self.ohif
            && crate::ohif::serves(parts.uri.path())
        {
            let r = ohif.answer(&parts).await;
            return log_access(&parts, r, None, started, self.report(&request_id, None));
        }
        let body = if parts.method == http::Method::POST {
            match read_body(&parts, body, self.body_read_timeout).await {
                Ok(b) => Some(b),
                Err(e) => {
                    let r = self.with_cors(translator::error_response(&e), origin.as_deref());
                    return log_access(&parts, r, None, started, self.report(&request_id, None));
                }
            }
        } else {
            None
        };

        // viewer-request
        let (result, audit) = self
            .viewer_request_audited(to_cloudfront(&parts, body.as_deref()), &request_id)
            .await;
        let report = self.report(&request_id, audit);
        let forwarded = match result {
            RequestResult::Respond(r) => {
                let r = with_request_id(from_cloudfront(r), &request_id);
                return log_access(&parts, r, None, started, report);
            }
            RequestResult::Forward(f) => f,
        };
        apply(&mut parts, &forwarded);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            parts.headers.insert(CF_ID, v);
        }

        // cache lookup, then origin-request and origin on a miss
        let (resp, cache_status) = match (&self.cache, EdgeCache::key(&parts)) {
            (Some(cache), Some(key)) => match cache.lookup(&key, &parts) {
                Some(hit) => (hit, Some(CacheStatus::Hit)),
                // An answer to HEAD has no body to store or share.
                None if parts.method == http::Method::HEAD => (
                    self.origin(&parts, *forwarded, &request_id).await,
                    Some(CacheStatus::Miss),
                ),
                None => match cache.collapse(&key, &parts).await {
                    Flight::Hit(hit) => (hit, Some(CacheStatus::Hit)),
                    flight => {
                        let guard = match flight {
                            Flight::Leader(g) => Some(g),
                            _ => None,
                        };
                        let r = self.origin(&parts, *forwarded, &request_id).await;
                        (cache.store(key, r, guard), Some(CacheStatus::Miss))
                    }
                },
            },
            _ => (self.origin(&parts, *forwarded, &request_id).await, None),
        };

        // viewer-response
        let mut resp = self.with_cors(resp, origin.as_deref());
        if let Some(s) = cache_status {
            resp.headers_mut()
                .insert("x-cache", HeaderValue::from_static(s.as_str()));
        }
        let resp = with_request_id(resp, &request_id);
        log_access(&parts, resp, cache_status, started, report)
    }

    /// What is written and counted of the request `request_id` once it is answered.
    fn report(&self, request_id: &str, audit: Option<edge::audit::AuditEvent>) -> Report {
        Report {
            request_id: request_id.to_owned(),
            action: audit.as_ref().map_or("other", |a| a.action.as_str()),
            audit: audit.zip(self.audit.clone()),
            metrics: self.metrics.clone(),
        }
    }

    fn with_cors(&self, mut resp: Response<Body>, origin: Option<&str>) -> Response<Body> {
        for (name, value) in self.cors.response_headers(origin) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
        resp
    }

    /// The viewer-request phase: the function, with the key fetches it asks for.
    pub async fn viewer_request(&self, req: cloudfront::Request) -> RequestResult {
        self.viewer_request_audited(req, &request_id()).await.0
    }

    /// [`Self::viewer_request`] for CloudFront's request `request_id`, with the request's
    /// audit event.
    async fn viewer_request_audited(
        &self,
        req: cloudfront::Request,
        request_id: &str,
    ) -> (RequestResult, Option<edge::audit::AuditEvent>) {
        let mut viewer = self.viewer.lock().await;
        loop {
            match viewer.handle_request(req.clone(), LOCAL_DISTRIBUTION, request_id, unix_now()) {
                Step::FetchKeys(url) => self.fetch_keys(&mut viewer, &url).await,
                Step::Done { result, log, audit } => {
                    log_function(log);
                    return (*result, audit.map(|a| *a));
                }
            }
        }
    }

    /// The origin phase: through the origin-request function where the behavior has one.
    /// `request_id` is CloudFront's ID of the request: the origin-request function gets it,
    /// and the same value is sent as `X-Amz-Cf-Id` once the function has run.
    async fn origin(
        &self,
        parts: &Parts,
        forwarded: cloudfront::Request,
        request_id: &str,
    ) -> Response<Body> {
        if !edge::behaviors::for_path(parts.uri.path()).signer {
            return self.translator().handle(parts).await;
        }
        let native = match self.native() {
            Ok(n) => n,
            Err(e) => return translator::error_response(&e),
        };
        let (signed, creds) = match self.origin_request(forwarded, request_id).await {
            Ok((RequestResult::Forward(r), creds)) => (*r, creds),
            Ok((RequestResult::Respond(r), _)) => return from_cloudfront(r),
            Err(e) => return translator::error_response(&e),
        };
        let Some(target) = signed.origin.as_ref().and_then(|o| o.custom.as_ref()) else {
            return translator::error_response(&EdgeError::Misconfigured(
                "the signer named no origin",
            ));
        };
        if target.domain_name == LOCAL_TRANSLATOR_HOST {
            return self
                .signed_to_translator(native, &creds, &signed, request_id)
                .await;
        }
        let url = target.url(&signed.uri, &signed.querystring);
        send_signed(native, url, &signed, request_id).await
    }

    fn native(&self) -> Result<&NativeOrigin, EdgeError> {
        self.native.as_ref().ok_or(EdgeError::NotImplemented(
            "the native getImageFrame path without credentials",
        ))
    }

    /// The origin-request phase of the native path: the function, with the edge's
    /// credentials and the origin the distribution configures, for the CloudFront request ID
    /// `request_id`. Also the credentials it signed with.
    pub async fn origin_request(
        &self,
        mut req: cloudfront::Request,
        request_id: &str,
    ) -> Result<(RequestResult, aws_credential_types::Credentials), EdgeError> {
        let native = self.native()?;
        let creds = native
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "no AWS credentials for signing");
                EdgeError::Misconfigured("the edge has no AWS credentials")
            })?;
        req.origin = Some(healthimaging_origin());
        match native
            .function
            .handle_request(req, Some(request_id), &creds, SystemTime::now())
        {
            Step::Done { result, log, .. } => {
                log_function(log);
                Ok((*result, creds))
            }
            Step::FetchKeys(_) => Err(EdgeError::Misconfigured(
                "the origin-request function asked for keys",
            )),
        }
    }

    /// The native GET as the translator's Function URL receives it: the `lambda` signature
    /// must hold (AWS_IAM auth), then the translator answers.
    async fn signed_to_translator(
        &self,
        native: &NativeOrigin,
        creds: &aws_credential_types::Credentials,
        signed: &cloudfront::Request,
        request_id: &str,
    ) -> Response<Body> {
        let mut headers = cloudfront::to_header_map(&signed.headers);
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(HeaderName::from_static("x-amz-cf-id"), v);
        }
        let verifier = healthimaging::emulator::Verifier {
            credentials: vec![healthimaging::emulator::Credentials {
                access_key_id: creds.access_key_id().to_owned(),
                secret_access_key: creds.secret_access_key().to_owned(),
                session_token: creds.session_token().map(str::to_owned),
            }],
            region: native.region.clone(),
            service: LAMBDA_SERVICE.into(),
            max_skew: Duration::from_secs(300),
        };
        let check = healthimaging::emulator::sigv4::SignedRequest {
            method: &signed.method,
            raw_path: &signed.uri,
            raw_query: (!signed.querystring.is_empty()).then_some(signed.querystring.as_str()),
            headers: &headers,
            body: &[],
        };
        if let Err(e) = verifier.verify(&check, SystemTime::now()) {
            tracing::warn!(error = %e, "the translator refused the signer's request");
            return translator::error_response(&EdgeError::Misconfigured(
                "the translator refused the signer's signature",
            ));
        }
        let pq = if signed.querystring.is_empty() {
            signed.uri.clone()
        } else {
            format!("{}?{}", signed.uri, signed.querystring)
        };
        let mut req = Request::builder().method(signed.method.as_str());
        if let Ok(uri) = pq.parse::<http::Uri>() {
            req = req.uri(uri);
        }
        let Ok(req) = req.body(()) else {
            return translator::error_response(&EdgeError::BadRequest(
                "the request cannot be forwarded".into(),
            ));
        };
        let (mut parts, ()) = req.into_parts();
        parts.headers = headers;
        self.translator().handle(&parts).await
    }
}

/// The healthimaging origin as the distribution configures it, with the translator's URL
/// in the custom header the signer reads for the native GET.
fn healthimaging_origin() -> Origin {
    let mut custom_headers = cloudfront::Headers::new();
    cloudfront::set_header(
        &mut custom_headers,
        TRANSLATOR_URL_HEADER,
        LOCAL_TRANSLATOR_URL,
    );
    CustomOrigin::new("https", "", 443, custom_headers).into()
}

/// The signed native POST, sent to HealthImaging with CloudFront's `X-Amz-Cf-Id`. A
/// successful answer keeps its bytes and content type; a refusal is answered from the
/// error table by the origin-response function (HealthImaging's text is logged at debug
/// level, never relayed).
async fn send_signed(
    native: &NativeOrigin,
    url: String,
    signed: &cloudfront::Request,
    request_id: &str,
) -> Response<Body> {
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
    let mut out = native
        .client
        .post(url)
        .body(body)
        .header(CLOUDFRONT_ID_HEADER, request_id);
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
        Ok(r) if r.status().as_u16() >= 400 => {
            // The origin-response phase: the same function as deployed.
            let mut received = cloudfront::Response {
                status: r.status().as_u16().to_string(),
                ..Default::default()
            };
            if let Some(t) = r
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
            {
                cloudfront::set_header(&mut received.headers, "x-amzn-ErrorType", t);
            }
            let status = r.status();
            let message = r.text().await.unwrap_or_default();
            tracing::debug!(%status, message = message.trim(), "HealthImaging refused the POST");
            from_cloudfront(edge::signer::origin_response(signed, received))
        }
        Ok(r) => {
            let mut resp = Response::builder().status(r.status().as_u16());
            if let Some(v) = r.headers().get(header::CONTENT_TYPE) {
                resp = resp.header(header::CONTENT_TYPE, v);
            }
            // The whole frame before the status line, as the translator reads frames: an
            // answer that breaks off or stalls after its head is then a 502 or 504 the client
            // sees, not a 200 cut short or an empty reply.
            let body = match r.bytes().await {
                Ok(b) => b,
                Err(e) => return upstream_failed(&e),
            };
            resp.header(header::CACHE_CONTROL, "no-store")
                .body(Body::from(body))
                .unwrap_or_else(|_| {
                    translator::error_response(&EdgeError::from(
                        healthimaging::ClientError::InvalidResponse("bad upstream answer".into()),
                    ))
                })
        }
        Err(e) => upstream_failed(&e),
    }
}

/// The answer to a native POST whose upstream call failed: 504 when it took too long, 502
/// when it could not be made or broke off.
fn upstream_failed(e: &reqwest::Error) -> Response<Body> {
    let error = if e.is_timeout() {
        healthimaging::ClientError::Timeout
    } else {
        healthimaging::ClientError::Unreachable(e.to_string())
    };
    translator::error_response(&EdgeError::from(error))
}

/// An edge function's own log line (never a token, query string or signature), at debug
/// level: the access log already has one line per request.
fn log_function(line: Option<edge::lambda_edge::LogLine>) {
    if let Some(line) = line {
        tracing::debug!(target: "edge", "{}", serde_json::to_string(&line).unwrap_or_default());
    }
}

/// `resp` with CloudFront's `X-Amz-Cf-Id` answer header: the ID the audit and access logs
/// and the origin know the request by.
fn with_request_id(mut resp: Response<Body>, request_id: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert(CF_ID, v);
    }
    resp
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
    let headers = cloudfront::to_header_map(&cf.headers);
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
    *resp.headers_mut() = cloudfront::to_header_map(&r.headers);
    resp
}

/// One access-log line per request, written when its body has ended, so it says what was
/// really sent: `METHOD target status cache head-ms id=ID outcome`, where the target is
/// written by [`edge::http_rules::loggable_target`], head-ms is the time to the status line,
/// ID is the request's (`X-Amz-Cf-Id`, the audit line's `requestId`), and the outcome is `{n}B` (complete), `aborted after {n}B` (the origin failed mid-body, so the
/// client got a truncated answer) or `closed by the client after {n}B`.
fn log_access(
    req: &Parts,
    resp: Response<Body>,
    cache: Option<CacheStatus>,
    started: Instant,
    mut report: Report,
) -> Response<Body> {
    let status = resp.status().as_u16();
    if let Some((event, _)) = report.audit.as_mut() {
        event.status = Some(status);
        event.cache = cache.map(|c| c.as_str().to_owned());
    }
    let request_id = std::mem::take(&mut report.request_id);
    let line = AccessLine {
        head: format!(
            "{} {} {} {} {}ms id={request_id}",
            edge::http_rules::loggable_method(req.method.as_str()),
            edge::http_rules::loggable_target(req.uri.path(), req.uri.query()),
            status,
            cache.map_or("-", CacheStatus::as_str),
            started.elapsed().as_millis()
        ),
        status,
        cache: cache.map(CacheStatus::as_str),
        report,
    };
    resp.map(|body| {
        Body::new(translator::body::Watched::new(body, move |n, ending| {
            let outcome = match ending {
                Ending::Complete => format!("{n}B"),
                Ending::Failed(e) => format!("aborted after {n}B: {e}"),
                Ending::Dropped => format!("closed by the client after {n}B"),
            };
            line.write(&outcome, n);
        }))
    })
}

/// What is written and counted of a request besides its access line, once it is answered.
struct Report {
    request_id: String,
    /// The audit trail's name of its action; `other` for the viewer's files and keys.
    action: &'static str,
    /// Its audit event and where it goes.
    audit: Option<(edge::audit::AuditEvent, Arc<crate::audit_log::AuditLog>)>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

struct AccessLine {
    head: String,
    status: u16,
    cache: Option<&'static str>,
    report: Report,
}

impl AccessLine {
    /// Writes the line with how the answer ended, `bytes` of body sent, and the request's
    /// audit event and metrics.
    fn write(mut self, outcome: &str, bytes: u64) {
        tracing::info!(target: "access", "{} {outcome}", self.head);
        if let Some((event, log)) = self.report.audit.take() {
            log.write(&event);
        }
        if let Some(m) = &self.report.metrics {
            m.request(self.report.action, self.status, self.cache, bytes);
        }
    }
}
