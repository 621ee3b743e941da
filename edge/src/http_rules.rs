//! HTTP rules every phase shares: validators and conditional requests (RFC 9110 §8.8,
//! §13.1.2), cache directives (RFC 9111 §5.2), content coding (RFC 9110 §12.5.3) and the
//! Accept value that governs a request (PS3.18 §8.3.3.1).
//!
//! A frame response is identified by what determines its bytes: the datastore, image set,
//! frame IDs in request order, the rendition and the request path (it appears in each part's
//! `Content-Location`). Its strong `ETag` and its multipart boundary both come from one
//! SHA-256 over those, so every answer to the same request is byte-identical: different
//! origins and retries agree, and byte ranges taken from two answers fit together, which a
//! strong validator promises. The boundary still has 128 bits that a payload cannot
//! anticipate (AHI assigns frame IDs after the pixel data exists).

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// A response's strong entity tag (quoted) and the multipart boundary that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub etag: String,
    pub boundary: String,
}

impl Identity {
    /// Hashes length-prefixed `parts`, so that no two different lists collide by
    /// concatenation.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        let d = h.finalize();
        Self {
            etag: format!("\"{}\"", hex::encode(&d[..16])),
            boundary: hex::encode(&d[16..]),
        }
    }
}

/// Whether `If-None-Match` matches `etag` (weak comparison, `*` matches anything), so the
/// answer is 304 Not Modified.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = bare(etag);
    headers
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == want)
}

/// Query parameter names a log line writes as they are: this product's own, and the
/// attributes QIDO-RS answers carry by default ([`dicomweb::attributes`]), which are the ones
/// viewers search on. Any other name is written `?`, since a name can be a secret too (a
/// token sent as `?eyJ…`).
const PRODUCT_PARAMETERS: &[&str] = &[
    "imageSetId",
    "imageFrameId",
    "accept",
    "token",
    "limit",
    "offset",
    "fuzzymatching",
    "includefield",
];

fn logged_name(name: &str) -> bool {
    use dicomweb::attributes::{INSTANCE_DEFAULTS, SERIES_DEFAULTS, STUDY_DEFAULTS};
    let is_tag = name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit());
    is_tag
        || [
            PRODUCT_PARAMETERS,
            STUDY_DEFAULTS,
            SERIES_DEFAULTS,
            INSTANCE_DEFAULTS,
        ]
        .iter()
        .any(|list| list.contains(&name))
}

/// A request's path and query as every log line of the product writes it: known names
/// ([`PRODUCT_PARAMETERS`], default QIDO-RS attributes and 8-hex-digit tags, decoded by the
/// one query parser), and values only
/// where they are identifiers or counts (`imageSetId`, `imageFrameId`: 32 hex digits;
/// `limit`, `offset`: up to 9 digits). Every other value is written `…`, so no spelling of
/// a token (`token`, `Token`, `%74oken`, a token under any other name or as a bare name)
/// and no search term (patient names, IDs) reaches a log.
pub fn loggable_target(path: &str, query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let pairs: Vec<String> = dicomweb::query::QueryParams::parse(Some(query))
        .iter()
        .map(|(name, value)| {
            let name = if logged_name(name) { name } else { "?" };
            let shown = match name {
                "imageSetId" | "imageFrameId" => {
                    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
                }
                "limit" | "offset" => {
                    (1..=9).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            };
            if shown {
                format!("{name}={value}")
            } else {
                format!("{name}=…")
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// The Accept value that governs the request: `?accept=` overrides the header
/// (PS3.18 §8.3.3.1); several Accept header lines form one list (RFC 9110 §5.3).
pub fn accept_value(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    dicomweb::query::QueryParams::parse(query)
        .first("accept")
        .map(str::to_owned)
        .or_else(|| accept_header(headers))
}

/// All `Accept` header lines as one list, `None` without any.
pub fn accept_header(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Whether the client takes gzip (RFC 9110 §12.5.3; `q=0` refuses it).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `Cache-Control` for content that never changes under its URL.
pub fn immutable(max_age_seconds: u64) -> String {
    format!("public, max-age={max_age_seconds}, immutable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_and_separates_parts() {
        let a = Identity::of(&[b"ab", b"c"]);
        assert_eq!(a, Identity::of(&[b"ab", b"c"]));
        assert_ne!(a, Identity::of(&[b"a", b"bc"]));
        assert_eq!(a.etag.len(), 34);
        assert_eq!(a.boundary.len(), 32);
        assert!(!a.etag.contains(&a.boundary));
    }

    #[test]
    fn conditional_matching() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "\"x\""));
        h.insert("if-none-match", "\"y\", W/\"x\"".parse().unwrap());
        assert!(if_none_match(&h, "\"x\""));
        assert!(!if_none_match(&h, "\"z\""));
        h.insert("if-none-match", "*".parse().unwrap());
        assert!(if_none_match(&h, "\"z\""));
    }
}
