//! The local server's part in key handling, which is I/O only: the viewer-request function
//! (`edge::lambda_edge::ViewerRequestFunction`, the same state machine the Lambda@Edge host
//! drives) decides when to fetch an issuer's keys and what a failed fetch means; this module
//! fetches a URL when asked, and publishes the development issuer's keys at
//! [`JWKS_PATH`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::request::Parts;
use http::{Response, header};
use jsonwebtoken::jwk::JwkSet;

/// The path the development issuer's keys are published at.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Time limit of one key fetch (the Node host uses the same).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches issuer keys and publishes the development issuer's.
pub struct Keys {
    client: reqwest::Client,
    /// The development issuer's set, served at [`JWKS_PATH`].
    published: Option<Arc<JwkSet>>,
}

impl Keys {
    /// `published`: a set to serve at [`JWKS_PATH`] (the development issuer's).
    pub fn new(published: Option<Arc<JwkSet>>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { client, published }
    }

    /// No keys to publish.
    pub fn none() -> Self {
        Self::new(None)
    }

    /// The body at `url`, or why there is none (logged by the caller, which reports it to
    /// the viewer-request function as unavailable).
    pub async fn fetch(&self, url: &str) -> Result<bytes::Bytes, String> {
        let r = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("status {}", r.status()));
        }
        r.bytes().await.map_err(|e| e.to_string())
    }

    /// The answer to `GET` or `HEAD /.well-known/jwks.json` when this edge publishes its keys.
    pub fn published(&self, req: &Parts) -> Option<Response<Body>> {
        let jwks = self.published.as_ref()?;
        let read = req.method == http::Method::GET || req.method == http::Method::HEAD;
        if !read || req.uri.path() != JWKS_PATH {
            return None;
        }
        let body = serde_json::to_vec(jwks.as_ref()).ok()?;
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "public, max-age=300")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .body(Body::from(body))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published keys answer GET and HEAD alike (the headers a GET would have); other
    /// methods and paths are not theirs.
    #[test]
    fn published_keys_answer_get_and_head() {
        let keys = Keys::new(Some(Arc::new(JwkSet { keys: Vec::new() })));
        let req = |method: &str, path: &str| {
            http::Request::builder()
                .method(method)
                .uri(path)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        for method in ["GET", "HEAD"] {
            let r = keys.published(&req(method, JWKS_PATH)).expect(method);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        }
        assert!(keys.published(&req("POST", JWKS_PATH)).is_none());
        assert!(keys.published(&req("GET", "/.well-known/other")).is_none());
        assert!(Keys::none().published(&req("GET", JWKS_PATH)).is_none());
    }
}
