//! The OHIF viewer beside the edge: the prebuilt viewer (npm `@ohif/app`'s `dist/`, which
//! `scripts/viewer.sh` fetches into `.cache/ohif`) served at the root of `serve`, with an
//! `app-config.js` generated for this edge, so that one URL opens the study list. The viewer
//! owns every path but the edge's own (`/datastore/…` and the published keys), as a
//! distribution's default behavior would; its files hold no patient data and need no token.
//!
//! Files come from `tower-http`'s `ServeDir` (paths confined to the folder, conditional and
//! range requests). Unknown paths a browser navigates to get `index.html`, since the viewer
//! routes in the page (`/viewer?StudyInstanceUIDs=…`); other unknown paths are 404.

use std::path::{Path, PathBuf};

use axum::body::Body;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

pub use edge::viewer::*;

/// The viewer's files where `scripts/viewer.sh` puts them, looked for under the working
/// directory and under the workspace this binary was built from.
pub fn default_dist() -> Option<PathBuf> {
    let rel = Path::new(".cache/ohif")
        .join(OHIF_VERSION)
        .join("package/dist");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    [PathBuf::from("."), workspace]
        .into_iter()
        .map(|root| root.join(&rel))
        .find(|d| d.join("index.html").is_file())
}

/// Whether a path is the viewer's rather than the edge's.
pub fn serves(path: &str) -> bool {
    !path.starts_with("/datastore/") && path != crate::keys::JWKS_PATH
}

/// The OHIF viewer: its folder and its generated configuration.
pub struct OhifViewer {
    dist: PathBuf,
    app_config: String,
    csp: HeaderValue,
}

impl OhifViewer {
    /// A viewer from `dist` (a folder with OHIF's `index.html`), whose sign-in talks to
    /// `sign_in` ([`edge::config::ViewerSignIn::origins`]; none without a sign-in).
    pub fn new(dist: PathBuf, app_config: String, sign_in: &[&str]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            dist.join("index.html").is_file(),
            "{} holds no viewer (no index.html); scripts/viewer.sh fetches OHIF {OHIF_VERSION}",
            dist.display()
        );
        let index = std::fs::read_to_string(dist.join("index.html"))?;
        let csp = HeaderValue::from_str(&content_security_policy(&index, sign_in))?;
        Ok(Self {
            dist,
            app_config,
            csp,
        })
    }

    /// Answers a GET or HEAD for one of the viewer's paths.
    pub async fn answer(&self, parts: &Parts) -> Response<Body> {
        if parts.method != http::Method::GET && parts.method != http::Method::HEAD {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "the viewer's files take GET",
            );
        }
        if normalised(parts.uri.path()) == "/app-config.js" {
            let mut r = Response::new(Body::from(self.app_config.clone()));
            set(
                &mut r,
                header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            );
            set(&mut r, header::CACHE_CONTROL, "no-cache");
            self.isolate(&mut r);
            return r;
        }
        let mut r = file(ServeDir::new(&self.dist), parts).await;
        let navigation = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        let is_index = parts.uri.path() == "/" || parts.uri.path().ends_with("/index.html");
        if r.status() == StatusCode::NOT_FOUND && navigation {
            r = file(ServeFile::new(self.dist.join("index.html")), parts).await;
            set(&mut r, header::CACHE_CONTROL, "no-cache");
        } else if r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED {
            let cache = if is_index {
                "no-cache"
            } else if is_hashed(parts.uri.path()) {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=3600"
            };
            set(&mut r, header::CACHE_CONTROL, cache);
        }
        self.isolate(&mut r);
        r
    }

    /// Cross-origin isolation, which OHIF's decoders need for SharedArrayBuffer (the edge is
    /// the same origin, so its answers need no CORP of their own), and the CSP.
    fn isolate(&self, r: &mut Response<Body>) {
        set(r, "cross-origin-opener-policy", "same-origin");
        set(r, "cross-origin-embedder-policy", "require-corp");
        set(r, "cross-origin-resource-policy", "same-origin");
        set(r, "x-content-type-options", "nosniff");
        r.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
    }
}

/// A viewer path as the file service resolves it: percent-decoded, empty and dot segments
/// resolved (`//app-config.js`, `/app-config.js/`, `/%61pp-config.js` and `/app-config%2ejs` all
/// name `/app-config.js`), so that every spelling of the generated file gets it and none
/// reaches the stock one in the folder.
fn normalised(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut segments: Vec<&str> = Vec::new();
    for s in decoded.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Sends the request's method, path and conditional headers to a file service.
async fn file<S>(svc: S, parts: &Parts) -> Response<Body>
where
    S: tower::Service<
            Request<Body>,
            Response = Response<tower_http::services::fs::ServeFileSystemResponseBody>,
            Error = std::convert::Infallible,
        >,
{
    let mut req = Request::new(Body::empty());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.headers_mut() = parts.headers.clone();
    match svc.oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    }
}

/// Webpack's content-hashed names (`1180.bundle.762993518ea30ae3.js`, `0ddf166f7a343eda.wasm`):
/// the content never changes under them.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    name.split('.')
        .any(|part| part.len() == 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set<K: header::IntoHeaderName>(r: &mut Response<Body>, name: K, value: &'static str) {
    r.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    set(&mut r, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(is_hashed("/1180.bundle.762993518ea30ae3.js"));
        assert!(is_hashed("/0ddf166f7a343eda.wasm"));
        assert!(!is_hashed("/app-config.js"));
        assert!(!is_hashed("/assets/favicon.ico"));
    }

    /// Every spelling of the generated configuration's path gets it, not the stock file
    /// beside the viewer's other files (which names a data source of its own).
    #[tokio::test]
    async fn every_spelling_of_the_configuration_gets_the_generated_one() {
        let dist = std::env::temp_dir().join(format!("ohif-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("index.html"), "<html></html>").unwrap();
        std::fs::write(dist.join("app-config.js"), "stock").unwrap();
        let viewer = OhifViewer::new(dist.clone(), "generated".into(), &[]).unwrap();
        for path in [
            "/app-config.js",
            "/app-config.js/",
            "//app-config.js",
            "/%61pp-config.js",
            "/app-config%2ejs",
            "/./app-config.js",
            "/assets/../app-config.js",
        ] {
            let (parts, ()) = Request::get(path).body(()).unwrap().into_parts();
            let r = viewer.answer(&parts).await;
            let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            assert_eq!(&body[..], b"generated", "{path}");
        }
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[test]
    fn the_edge_keeps_its_paths() {
        assert!(!serves(
            "/datastore/fe979d40487394a75b813ff62a2f7451/studies"
        ));
        assert!(!serves(crate::keys::JWKS_PATH));
        assert!(serves("/"));
        assert!(serves("/viewer"));
        assert!(serves("/app.bundle.0f6159c501addfe9.js"));
    }

    #[test]
    fn the_configuration_names_every_root_and_defaults_to_the_first() {
        let js = app_config(
            &[
                data_source("http://127.0.0.1:8080/datastore/a", "demo"),
                data_source("http://127.0.0.1:8080/datastore/b", "other"),
            ],
            None,
        );
        let v = window_config(&js).unwrap();
        assert_eq!(v["defaultDataSourceName"], "demo");
        assert!(v.get("oidc").is_none());
        assert_eq!(
            v["dataSources"][1]["configuration"]["wadoRoot"],
            "http://127.0.0.1:8080/datastore/b"
        );
    }
}
