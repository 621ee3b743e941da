//! The OHIF viewer's configuration, as `serve` serves it and `cargo xtask package` writes
//! it: data sources for this edge's DICOMweb roots, Cornerstone3D's progressive loading,
//! the OpenID Connect sign-in, and the Content-Security-Policy OHIF runs under. Pure
//! functions of their inputs, here so that packaging need not build the local server.

use serde_json::{Value, json};

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

/// One data source per `(root, name)`, the first the default, loading progressively unless
/// the viewer signs in: a signed-in viewer holds its token where only OHIF's own requests
/// send it (the `Authorization` header), and the range requests could carry it only in their
/// URL, where it must never be.
pub fn data_sources<'a>(
    roots: impl IntoIterator<Item = (String, &'a str)>,
    signs_in: bool,
) -> Vec<Value> {
    roots
        .into_iter()
        .map(|(root, name)| {
            let source = data_source(&root, name);
            if signs_in {
                source
            } else {
                with_progressive_loading(source)
            }
        })
        .collect()
}

/// Where the identity provider returns after signing out: a route of its own, since OHIF
/// answers it with its sign-out callback (it cannot be the study list's `/`).
pub const SIGNED_OUT_PATH: &str = "/signed-out";

/// OHIF's `oidc` entry for `sign_in`: the authorization code flow with PKCE
/// (`response_type: code`, OHIF's `oidc-client-ts` client), back to `/callback`, signed out
/// to [`SIGNED_OUT_PATH`]. OHIF then sends the access token as `Authorization: Bearer` on every
/// DICOMweb request.
pub fn oidc_client(sign_in: &crate::config::ViewerSignIn) -> Value {
    json!({
        "authority": sign_in.authority,
        "client_id": sign_in.client_id,
        "redirect_uri": "/callback",
        "post_logout_redirect_uri": SIGNED_OUT_PATH,
        "response_type": "code",
        "scope": sign_in.scope,
    })
}

/// OHIF's `window.config` with `sources` (the first is the default), signing in with
/// `sign_in` where there is one.
pub fn app_config(sources: &[Value], sign_in: Option<&crate::config::ViewerSignIn>) -> String {
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
        let sign_in = crate::config::ViewerSignIn {
            authority: "https://id.example.org".into(),
            client_id: "viewer".into(),
            scope: "openid".into(),
            other_origins: Vec::new(),
        };
        let js = app_config(&[data_source("/datastore/a", "a")], Some(&sign_in));
        let v = window_config(&js).unwrap();
        assert_eq!(v["oidc"][0]["response_type"], "code");
        assert_eq!(v["oidc"][0]["client_id"], "viewer");
        assert_eq!(v["oidc"][0]["redirect_uri"], "/callback");
    }
}
