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
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The OHIF release `scripts/viewer.sh` fetches (and the end-to-end tests drive).
pub const OHIF_VERSION: &str = "3.13.2";

/// The OHIF data source for one DICOMweb root of this edge.
pub fn data_source(root: &str, name: &str) -> Value {
    json!({
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": name,
        "configuration": {
            "friendlyName": name,
            "name": name,
            "wadoUriRoot": format!("{root}/wado"),
            "qidoRoot": root,
            "wadoRoot": root,
            "qidoSupportsIncludeField": true,
            "imageRendering": "wadors",
            // The study browser's thumbnails from `…/thumbnail`, fetched with the
            // Authorization header (OHIF's `fetch` strategy; `thumbnailDirect` would load
            // them as plain <img> URLs, without the token).
            "thumbnailRendering": "thumbnail",
            "thumbnailRequestStrategy": "fetch",
            "enableStudyLazyLoad": true,
            "supportsFuzzyMatching": false,
            "supportsWildcard": true,
        }
    })
}

/// Bytes of each displayed frame the served viewer asks for first. Cornerstone3D decodes an
/// HTJ2K RPCL frame from such a prefix at a reduced resolution and draws it, then asks for
/// the rest: the demo CT's 256 × 256 frames (10–24 KB) hold their 64 × 64 image in their
/// first ~3.3 KB; a 512 × 512 CT frame of ~250 KB its 64 × 64 or 128 × 128 one.
pub const PROGRESSIVE_FIRST_BYTES: u32 = 8 * 1024;

/// `source` with Cornerstone3D's progressive loading of stacks (OHIF's
/// `stackRetrieveOptions`; Cornerstone3D's "Progressive Loading" guide): a first stage that
/// asks for the first [`PROGRESSIVE_FIRST_BYTES`] of each frame with `Range` and decodes
/// what arrived at up to 3 levels below full resolution, then a final stage that asks for
/// the rest. Prefetched images of the stack (Cornerstone3D takes the `default` options for
/// them) are fetched whole with one open range, so that scrolling meets full images. The
/// frames are asked for as one part in their stored syntax
/// (`accept=application/octet-stream; transfer-syntax=*` in the query, which overrides the
/// multipart Accept header the loader sends), since multipart answers ignore `Range`; HTJ2K
/// RPCL frames then come with their syntax in the Content-Type and decode progressively,
/// other syntaxes are decoded once whole. These requests carry no Authorization header, so
/// [`app_config`] adds the page's `?token=` to their query.
pub fn with_progressive_loading(mut source: Value) -> Value {
    let single_part = "accept=application%2Foctet-stream%3B%20transfer-syntax%3D*";
    source["configuration"]["stackRetrieveOptions"] = json!({
        "stages": [
            {"id": "lowerResolution", "retrieveType": "singleFast"},
            {"id": "fullResolution", "retrieveType": "singleFinal"},
        ],
        "retrieveOptions": {
            "singleFast": {
                "rangeIndex": 0,
                "chunkSize": PROGRESSIVE_FIRST_BYTES,
                "decodeLevel": 3,
                "urlArguments": single_part,
            },
            "singleFinal": {"rangeIndex": -1, "urlArguments": single_part},
            "default": {"rangeIndex": -1, "urlArguments": single_part},
        },
    });
    source
}

/// Puts the page's `?token=` (OHIF reads it from the viewer URL, then removes it from the
/// address bar; this runs first) into the query of the progressive stages' requests, which
/// `fetch` without OHIF's Authorization header. The edge's authorizer takes the token from
/// the query and removes it before the cache key and the origin; logs redact it.
const TOKEN_FOR_RANGE_REQUESTS: &str = r#"(function () {
  var token = new URLSearchParams(window.location.search).get('token');
  if (!token) return;
  window.config.dataSources.forEach(function (s) {
    var stages = s.configuration.stackRetrieveOptions;
    if (!stages) return;
    Object.values(stages.retrieveOptions).forEach(function (o) {
      o.urlArguments += '&token=' + encodeURIComponent(token);
    });
  });
})();
"#;

/// OHIF's `oidc` entry for `sign_in`: the authorization code flow with PKCE
/// (`response_type: code`, OHIF's `oidc-client-ts` client), back to `/callback`, signed out
/// to `/`. OHIF then sends the access token as `Authorization: Bearer` on every DICOMweb
/// request.
pub fn oidc_client(sign_in: &edge::config::ViewerSignIn) -> Value {
    json!({
        "authority": sign_in.authority,
        "client_id": sign_in.client_id,
        "redirect_uri": "/callback",
        "post_logout_redirect_uri": "/",
        "response_type": "code",
        "scope": sign_in.scope,
    })
}

/// OHIF's `window.config` with `sources` (the first is the default), signing in with
/// `sign_in` where there is one.
pub fn app_config(sources: &[Value], sign_in: Option<&edge::config::ViewerSignIn>) -> String {
    let default = sources
        .first()
        .and_then(|s| s["sourceName"].as_str())
        .unwrap_or_default();
    let config = json!({
        "routerBasename": "/",
        "extensions": [],
        "modes": [],
        "showStudyList": true,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": false,
        "showCPUFallbackMessage": false,
        "strictZSpacingForVolumeViewport": false,
        "defaultDataSourceName": default,
        "dataSources": sources,
    });
    let mut config = config;
    if let Some(s) = sign_in {
        config["oidc"] = json!([oidc_client(s)]);
    }
    format!("window.config = {config};\n{TOKEN_FOR_RANGE_REQUESTS}")
}

/// The Content-Security-Policy the viewer runs under, for OHIF's `index.html` (whose inline
/// scripts it allows by their SHA-256, CSP Level 2 §4.2.4), signing in at `sign_in` (URLs:
/// the issuer, and any other origin its sign-in talks to, such as Cognito's hosted UI
/// domain; their origins may be fetched, framed for silent renewal and posted to). OHIF needs
/// `wasm-unsafe-eval` and `unsafe-eval` (its decoders and some of its libraries), inline
/// styles, `blob:` workers and `data:`/`blob:` images. `serve` sends it with the viewer's
/// files, so the browser tests run OHIF under it, and packaging gives the same value to the
/// template's viewer behavior.
pub fn content_security_policy(index_html: &str, sign_in: &[&str]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut scripts = String::new();
    let mut rest = index_html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start + "<script".len()..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !attributes.contains("src=") {
            let digest = sha2::Sha256::digest(&body.as_bytes()[..close]);
            scripts.push_str(&format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &body[close..];
    }
    let mut idp = String::new();
    for url in sign_in {
        if let Some((scheme, rest)) = url.split_once("://")
            && let Some(host) = rest.split('/').next()
        {
            let origin = format!(" {scheme}://{host}");
            if !idp.contains(&origin) {
                idp.push_str(&origin);
            }
        }
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'{scripts}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
         connect-src 'self'{idp}; worker-src 'self' blob:; frame-src 'self'{idp}; \
         form-action 'self'{idp}; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )
}

/// The `window.config` an [`app_config`] script sets, read back (for tests of what was
/// packaged or served).
pub fn window_config(script: &str) -> Option<Value> {
    let (json, _) = script.strip_prefix("window.config = ")?.split_once(";\n")?;
    serde_json::from_str(json).ok()
}

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
    /// A viewer from `dist` (a folder with OHIF's `index.html`), signing in with
    /// `authority` where there is one.
    pub fn new(dist: PathBuf, app_config: String, authority: Option<&str>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            dist.join("index.html").is_file(),
            "{} holds no viewer (no index.html); scripts/viewer.sh fetches OHIF {OHIF_VERSION}",
            dist.display()
        );
        let index = std::fs::read_to_string(dist.join("index.html"))?;
        let sign_in: Vec<&str> = authority.into_iter().collect();
        let csp = HeaderValue::from_str(&content_security_policy(&index, &sign_in))?;
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
        if parts.uri.path() == "/app-config.js" {
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

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_the_issuer_by_origin() {
        let html =
            r#"<head><script>window.PUBLIC_URL="/"</script><script src="/app.js"></script></head>"#;
        let csp = content_security_policy(
            html,
            &[
                "https://id.example.org/realms/x",
                "https://login.example.org/",
                "https://id.example.org",
            ],
        );
        // printf 'window.PUBLIC_URL="/"' | openssl dgst -sha256 -binary | base64
        assert!(
            csp.contains("'sha256-iDPt/Ua3DNNwIdzDqulCGYDYPv58ixnA75eez8NxOJg='"),
            "{csp}"
        );
        assert_eq!(csp.matches("'sha256-").count(), 1);
        assert!(
            csp.contains("connect-src 'self' https://id.example.org https://login.example.org;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        let local = content_security_policy(html, &[]);
        assert!(local.contains("connect-src 'self';"), "{local}");
    }

    #[test]
    fn the_sign_in_is_the_authorization_code_flow() {
        let sign_in = edge::config::ViewerSignIn {
            authority: "https://id.example.org".into(),
            client_id: "viewer".into(),
            scope: "openid".into(),
        };
        let js = app_config(&[data_source("/datastore/a", "a")], Some(&sign_in));
        let v = window_config(&js).unwrap();
        assert_eq!(v["oidc"][0]["response_type"], "code");
        assert_eq!(v["oidc"][0]["client_id"], "viewer");
        assert_eq!(v["oidc"][0]["redirect_uri"], "/callback");
    }
}
