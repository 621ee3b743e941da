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

/// How many more bytes of a streaming frame Cornerstone3D waits for before it decodes what
/// has arrived again: an HTJ2K RPCL frame is drawn at a reduced resolution from its first
/// few kilobytes (the demo CT's 256 × 256 frames, 10–24 KB, hold their 64 × 64 image in
/// their first ~3.3 KB), then sharper as the rest arrives.
pub const PROGRESSIVE_CHUNK_BYTES: u32 = 8 * 1024;

/// `source` with Cornerstone3D's progressive loading of stacks (OHIF's
/// `stackRetrieveOptions`; Cornerstone3D's "Progressive Loading" guide): each displayed
/// frame is asked for once, as OHIF asks for frames (its multipart Accept, the stored
/// syntax, its Authorization header), and read as it streams in. Cornerstone3D decodes what
/// has arrived only where the part's transfer syntax is one whose prefix decodes
/// (`streamableTransferSyntaxes`: HTJ2K RPCL and HTJ2K, the rows of
/// [`dicomweb::transfer_syntax::SYNTAXES`] marked progressive) and waits for the whole part
/// otherwise, so a JPEG, JPEG 2000, RLE or uncompressed frame is decoded once, whole. With
/// no `Range`, the answer is the same cacheable object for every viewer (a byte range of a
/// frame that cannot be decoded from a prefix would give a viewer nothing it can draw, and a
/// CDN serves ranges of whatever it has cached). Prefetched frames of the stack (the
/// `default` options) are fetched as OHIF fetches them.
pub fn with_progressive_loading(mut source: Value) -> Value {
    source["configuration"]["stackRetrieveOptions"] = json!({
        "stages": [
            {"id": "streaming", "retrieveType": "streaming"},
        ],
        "retrieveOptions": {
            "streaming": {
                "streaming": true,
                "minChunkSize": PROGRESSIVE_CHUNK_BYTES,
            },
            "default": {},
        },
    });
    source
}

/// One data source per `(root, name)`, the first the default, each loading progressively.
pub fn data_sources<'a>(roots: impl IntoIterator<Item = (String, &'a str)>) -> Vec<Value> {
    roots
        .into_iter()
        .map(|(root, name)| with_progressive_loading(data_source(&root, name)))
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
    format!("window.config = {config};\n")
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
