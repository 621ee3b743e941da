//! The local edge server: plays CloudFront's part in one process. Each request goes through
//! the phases a CloudFront distribution of this product runs, in order:
//!
//! 1. viewer-request: CORS preflight answered here (the authorizer joins this phase);
//! 2. cache lookup: a fresh shared entry answers without reaching the origin;
//! 3. origin: the translator;
//! 4. viewer-response: CORS headers on every answer, `X-Cache`, and one access-log line
//!    that never holds `Authorization` or a `token` value.

pub mod cache;
pub mod stack;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};

use crate::cors::CorsPolicy;
use crate::translator::Translator;
use cache::{CacheStatus, EdgeCache};

/// The local stand-in for the CloudFront distribution.
pub struct LocalEdge {
    translator: Arc<Translator>,
    cache: Option<EdgeCache>,
    cors: CorsPolicy,
}

impl LocalEdge {
    /// `cache: None` sends every request to the translator.
    pub fn new(translator: Arc<Translator>, cache: Option<EdgeCache>, cors: CorsPolicy) -> Self {
        Self {
            translator,
            cache,
            cors,
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
        let (parts, _body) = req.into_parts();
        let header = |name: HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let origin = header(header::ORIGIN);

        // viewer-request
        let preflight = self.cors.preflight(
            parts.method.as_str(),
            origin,
            header(header::ACCESS_CONTROL_REQUEST_METHOD),
        );
        if let Some(p) = preflight {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
            append(&mut r, p.headers);
            log_access(&parts, &r, None, started);
            return r;
        }
        let (mut resp, cache_status) = {
            match (&self.cache, EdgeCache::key(&parts)) {
                (Some(cache), Some(key)) => match cache.lookup(&key, &parts) {
                    Some(hit) => (hit, Some(CacheStatus::Hit)),
                    None => {
                        // origin
                        let r = self.translator.handle(&parts).await;
                        (cache.store(key, r), Some(CacheStatus::Miss))
                    }
                },
                _ => (self.translator.handle(&parts).await, None),
            }
        };

        // viewer-response
        append(&mut resp, self.cors.response_headers(origin));
        if let Some(s) = cache_status {
            resp.headers_mut()
                .insert("x-cache", HeaderValue::from_static(s.as_str()));
        }
        log_access(&parts, &resp, cache_status, started);
        resp
    }
}

/// One line per request: method, path (token redacted), status, cache status, time to the
/// response head.
fn log_access(
    req: &http::request::Parts,
    resp: &Response<Body>,
    cache: Option<CacheStatus>,
    started: Instant,
) {
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

fn append(r: &mut Response<Body>, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers_mut().append(name, v);
        }
    }
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
