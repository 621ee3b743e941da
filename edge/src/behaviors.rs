//! CloudFront's behaviors for this product, as data: which path pattern goes to which
//! origin through which functions, and what its cache key holds. The local server keys its
//! cache with these, and `tests/tests/template.rs` fails on any difference between this table
//! and `deploy/template.yaml` (path patterns, origins, functions, cache-key headers and query
//! strings, TTL bounds, CORS lists), so the two stacks cannot drift.
//!
//! CloudFront evaluates the path patterns in order and falls back to the default behavior
//! (CloudFront developer guide, "Cache behavior settings": `*` matches any characters, `?`
//! one, case-sensitively).

use dicomweb::query::raw_pairs;

/// The origins of the distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The translator's Function URL (Origin Access Control).
    Translator,
    /// HealthImaging's runtime endpoint (the native POST, signed at origin-request).
    HealthImaging,
}

impl Origin {
    /// The origin's `Id` in the template.
    pub fn id(self) -> &'static str {
        match self {
            Origin::Translator => "translator",
            Origin::HealthImaging => "healthimaging",
        }
    }
}

/// Which query parameters a cache key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKey {
    /// Only these (CloudFront `whitelist`).
    Only(&'static [&'static str]),
    /// All but these (CloudFront `allExcept`).
    AllExcept(&'static [&'static str]),
}

/// A cache policy: its TTL bounds and what its key holds beside the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// The suffix of its name in the template (`${AWS::StackName}-{name}`).
    pub name: &'static str,
    /// Request headers in the key (the authorizer normalises `Accept` first).
    pub headers: &'static [&'static str],
    pub query: QueryKey,
    /// Whether "the client takes gzip" is part of the key (`EnableAcceptEncodingGzip`).
    pub gzip: bool,
    /// `MaxTTL` in seconds, `None` where the template sets it from a parameter.
    pub max_ttl: Option<u64>,
}

/// Frames, bulk data and the native GET: immutable, keyed on the three parameters that
/// change the answer. Whatever else the query holds does not reach the cache key.
pub const FRAMES: CachePolicy = CachePolicy {
    name: "frames",
    headers: &["Accept"],
    query: QueryKey::Only(&["imageSetId", "accept", "imageFrameId"]),
    gzip: false,
    max_ttl: None,
};

/// Rendered images and thumbnails: keyed on what changes the picture (the window, the
/// viewport, the quality, the media type) beside the image set. Instance and frame images are
/// as immutable as their frames; study and series thumbnails say a shorter `max-age` of
/// their own, which the policy's TTL bounds allow.
pub const RENDERED: CachePolicy = CachePolicy {
    name: "rendered",
    headers: &["Accept"],
    // `annotation` and `iccprofile` too, so that the origin sees them and refuses them by name.
    query: QueryKey::Only(&[
        "imageSetId",
        "accept",
        "window",
        "viewport",
        "quality",
        "annotation",
        "iccprofile",
    ]),
    gzip: false,
    max_ttl: None,
};

/// Metadata and QIDO-RS: keyed on every parameter but `token` (which the authorizer has
/// removed already), and on gzip, since metadata is gzip-encoded for clients that take it.
pub const METADATA: CachePolicy = CachePolicy {
    name: "metadata",
    headers: &["Accept"],
    query: QueryKey::AllExcept(&["token"]),
    gzip: true,
    max_ttl: Some(86_400),
};

/// One behavior.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behavior {
    /// `None` for the default behavior.
    pub path_pattern: Option<&'static str>,
    pub origin: Origin,
    pub cache: CachePolicy,
    /// Whether the signer runs at origin-request (with the body) and, to answer
    /// HealthImaging's refusals from the error table, at origin-response.
    pub signer: bool,
    /// Whether the origin-request function (the signer's, without the body) runs to move
    /// ranged single-part requests to the translator's buffered URL (`edge::signer`). The
    /// local server has one translator answering both ways and skips it.
    pub ranges: bool,
}

/// The behaviors in CloudFront's order of evaluation; the default comes last. Every
/// behavior runs the authorizer at viewer-request.
pub const BEHAVIORS: &[Behavior] = &[
    // Before frames: `…/frames/{list}/rendered` is a rendered resource.
    Behavior {
        path_pattern: Some("/datastore/*/rendered"),
        origin: Origin::Translator,
        cache: RENDERED,
        ranges: false,
        signer: false,
    },
    Behavior {
        path_pattern: Some("/datastore/*/thumbnail"),
        origin: Origin::Translator,
        cache: RENDERED,
        ranges: false,
        signer: false,
    },
    Behavior {
        path_pattern: Some("/datastore/*/frames/*"),
        origin: Origin::Translator,
        cache: FRAMES,
        ranges: true,
        signer: false,
    },
    Behavior {
        path_pattern: Some("/datastore/*/bulkdata/*"),
        origin: Origin::Translator,
        cache: FRAMES,
        ranges: true,
        signer: false,
    },
    Behavior {
        path_pattern: Some("/datastore/*/imageSet/*/getImageFrame"),
        origin: Origin::HealthImaging,
        cache: FRAMES,
        ranges: false,
        signer: true,
    },
    // Metadata, QIDO-RS and any other DICOMweb path. Without the viewer the default behavior
    // is the same; with it the default serves the viewer's files (not the edge's: no
    // authorizer, not in this table).
    Behavior {
        path_pattern: Some("/datastore/*"),
        origin: Origin::Translator,
        cache: METADATA,
        ranges: false,
        signer: false,
    },
    Behavior {
        path_pattern: None,
        origin: Origin::Translator,
        cache: METADATA,
        ranges: false,
        signer: false,
    },
];

/// CORS as the distribution's response headers policy sets it (the local server adds
/// `X-Cache` to the exposed headers, a header only it sends).
pub const CORS_ALLOW_HEADERS: &[&str] = &[
    "Authorization",
    "Accept",
    "Content-Type",
    "token",
    "Range",
    "If-None-Match",
];
pub const CORS_ALLOW_METHODS: &[&str] = &["GET", "HEAD", "POST", "OPTIONS"];
pub const CORS_EXPOSE_HEADERS: &[&str] =
    &["Content-Length", "Content-Range", "ETag", "Content-Type"];

/// The distribution's error caching (`CustomErrorResponses`: status → Error Caching Minimum
/// TTL). CloudFront caches 400, 403, 404, 405, 414, 416, 500, 501, 502, 503 and 504 answers
/// to GET for 10 s by default, and honours `Cache-Control: no-store` only on 404, 410, 414
/// and 501 (CloudFront developer guide, "Control how long CloudFront caches errors"). So
/// every status the error table gives that CloudFront would otherwise keep is set to 0: a
/// throttled or failed upstream call, or one viewer's refusal, is never replayed to others.
/// A 404 still lives the table's `max-age=5` (the larger of the two counts).
pub const ERROR_CACHING_MIN_TTL: &[(u16, u64)] = &[
    (400, 0),
    (403, 0),
    (404, 0),
    (405, 0),
    (500, 0),
    (502, 0),
    (503, 0),
    (504, 0),
];

/// The behavior CloudFront picks for `path`.
pub fn for_path(path: &str) -> &'static Behavior {
    BEHAVIORS
        .iter()
        .find(|b| {
            b.path_pattern
                .is_none_or(|p| dicomweb::wildcard::matches(p.as_bytes(), path.as_bytes()))
        })
        .unwrap_or(&BEHAVIORS[BEHAVIORS.len() - 1])
}

impl CachePolicy {
    /// Whether the key holds the query parameter `name` (decoded).
    pub fn keeps(&self, name: &str) -> bool {
        match self.query {
            QueryKey::Only(keep) => keep.contains(&name),
            QueryKey::AllExcept(drop) => !drop.contains(&name),
        }
    }

    /// The query part of the cache key: the pairs the policy keeps, as sent and in request
    /// order (so two requests that differ only in the order of a repeated parameter do not
    /// share an entry), names compared decoded.
    pub fn query_key(&self, raw_query: &str) -> String {
        raw_pairs(raw_query)
            .filter(|(name, _)| self.keeps(name))
            .map(|(_, pair)| pair)
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The whole cache key of a GET or HEAD: path, kept query, normalised Accept, and gzip or not
/// where the policy counts it.
pub fn cache_key(path: &str, raw_query: &str, accept: &str, gzip: bool) -> String {
    let policy = for_path(path).cache;
    let encoding = if policy.gzip && gzip {
        "gzip"
    } else {
        "identity"
    };
    format!(
        "{path}?{}\n{}\n{encoding}",
        policy.query_key(raw_query),
        dicomweb::accept::normalize_accept(accept)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DS: &str = "fe979d40487394a75b813ff62a2f7451";

    #[test]
    fn paths_pick_behaviors_as_cloudfront_does() {
        let frames = format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/1,2");
        assert_eq!(for_path(&frames).cache, FRAMES);
        let bulk =
            format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/bulkdata/7FE00010");
        assert_eq!(for_path(&bulk).cache, FRAMES);
        let rendered = format!("{frames}/rendered");
        assert_eq!(for_path(&rendered).cache, RENDERED);
        let thumbnail = format!("/datastore/{DS}/studies/1.2/thumbnail");
        assert_eq!(for_path(&thumbnail).cache, RENDERED);
        let native = format!("/datastore/{DS}/imageSet/{DS}/getImageFrame");
        assert!(for_path(&native).signer);
        assert_eq!(for_path(&native).origin, Origin::HealthImaging);
        let meta = format!("/datastore/{DS}/studies/1.2/metadata");
        assert_eq!(for_path(&meta).path_pattern, Some("/datastore/*"));
        assert_eq!(for_path(&meta).cache, METADATA);
        assert_eq!(for_path("/elsewhere").path_pattern, None);
        assert_eq!(for_path("/elsewhere").cache, METADATA);
        let glob = dicomweb::wildcard::matches;
        assert!(glob(b"/a/?/c", b"/a/b/c") && !glob(b"/a/?/c", b"/a/bb/c"));
    }

    #[test]
    fn cache_keys_follow_the_policies() {
        let frames = format!("/datastore/{DS}/studies/1.2/series/1.3/instances/1.4/frames/1");
        // Frames: only the three parameters that change the answer, in request order.
        let k = cache_key(&frames, "x=1&imageSetId=a&accept=b&y=2", "", true);
        assert!(
            k.starts_with(&format!("{frames}?imageSetId=a&accept=b\n")),
            "{k}"
        );
        assert!(k.ends_with("identity"), "frames do not key on gzip: {k}");
        assert_ne!(
            cache_key(&frames, "imageSetId=a&imageSetId=b", "", false),
            cache_key(&frames, "imageSetId=b&imageSetId=a", "", false)
        );
        // Metadata and search: everything but the token (even spelt %74oken), and gzip.
        let search = format!("/datastore/{DS}/studies");
        let k = cache_key(&search, "PatientID=1&%74oken=secret&limit=2", "", true);
        assert_eq!(k, format!("{search}?PatientID=1&limit=2\n\ngzip"));
        // Equivalent Accept values share a key.
        assert_eq!(
            cache_key(
                &frames,
                "",
                r#"multipart/related; type="application/octet-stream""#,
                false
            ),
            cache_key(
                &frames,
                "",
                "multipart/related;type=application/octet-stream",
                false
            )
        );
    }

    #[test]
    fn every_error_cloudfront_would_keep_is_not_kept() {
        use crate::errors::EdgeError;
        use crate::routes::RouteError;
        use healthimaging::{AhiError, ClientError, ErrorKind};
        // CloudFront caches these statuses; of them it honours `no-store` on 414 and 501.
        let kept_by_cloudfront = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
        let upstream = |k| EdgeError::from(ClientError::Service(AhiError::new(k, "")));
        let errors = [
            EdgeError::Route(RouteError::NotFound),
            EdgeError::Route(RouteError::MethodNotAllowed { allow: "GET" }),
            EdgeError::BadRequest(String::new()),
            EdgeError::PayloadTooLarge,
            EdgeError::RequestTimeout,
            EdgeError::NotAcceptable {
                available: String::new(),
            },
            EdgeError::Unauthorized { token_sent: true },
            EdgeError::ForbiddenDatastore,
            EdgeError::NotImplemented(""),
            EdgeError::Misconfigured(""),
            EdgeError::BadEvent(""),
            EdgeError::Undecodable(String::new()),
            EdgeError::Internal(""),
            upstream(ErrorKind::Throttling),
            upstream(ErrorKind::AccessDenied),
            upstream(ErrorKind::InternalServer),
            EdgeError::from(ClientError::Timeout),
        ];
        for e in errors {
            let a = e.answer();
            let honoured = a.status == 501 && a.header("Cache-Control") == Some("no-store");
            if kept_by_cloudfront.contains(&a.status) && !honoured {
                assert!(
                    ERROR_CACHING_MIN_TTL.contains(&(a.status, 0)),
                    "{} ({e}) would be cached for 10 s",
                    a.status
                );
            }
        }
    }

    #[test]
    fn cors_lists_agree_with_the_cors_policy() {
        let split = |s: &str| s.split(", ").map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(split(crate::cors::ALLOWED_HEADERS), CORS_ALLOW_HEADERS);
        assert_eq!(split(crate::cors::ALLOWED_METHODS), CORS_ALLOW_METHODS);
        let mut exposed = split(crate::cors::EXPOSED_HEADERS);
        exposed.retain(|h| h != "X-Cache");
        assert_eq!(exposed, CORS_EXPOSE_HEADERS);
    }
}
