//! HTTP rules every phase shares: validators and conditional requests (RFC 9110 §8.8,
//! §13.1.2), byte ranges (RFC 9110 §14), cache directives (RFC 9111 §5.2), content coding
//! (RFC 9110 §12.5.3) and the Accept value that governs a request (PS3.18 §8.3.3.1).
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
    list(headers, http::header::IF_NONE_MATCH).any(|t| t.trim() == "*" || bare(t) == want)
}

/// The members of a comma-separated header list, every field line of it (RFC 9110 §5.6.1).
fn list(headers: &HeaderMap, name: http::HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
}

/// Whether `If-None-Match` is `*`, which matches only a resource that exists (RFC 9110
/// §13.1.2): where existence is known only from upstream, it is checked before the 304.
pub fn if_none_match_any(headers: &HeaderMap) -> bool {
    list(headers, http::header::IF_NONE_MATCH).any(|t| t.trim() == "*")
}

/// A request method as the access log writes it: at most 16 characters (a server takes
/// any token as a method, and one of 70,000 characters was written to the log whole).
pub fn loggable_method(method: &str) -> std::borrow::Cow<'_, str> {
    match method.char_indices().nth(16) {
        Some((at, _)) => format!("{}…", &method[..at]).into(),
        None => method.into(),
    }
}

/// What a request's `Range` makes of a single-part answer of `len` bytes whose strong
/// validator is `etag` (RFC 9110 §14.2, §13.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole answer, 200: no `Range`, one the server ignores (another unit, a malformed
    /// value, which RFC 9110 §14.2 says to ignore, or several ranges, which this product
    /// answers whole rather than as `multipart/byteranges`), or an `If-Range` that does not
    /// match the strong ETag (a date never does: these answers carry no Last-Modified).
    Whole,
    /// 206 with bytes `first..=last` and `Content-Range: bytes first-last/len`.
    Part { first: u64, last: u64 },
    /// 416 with `Content-Range: bytes */len`: the one range starts past the end.
    Unsatisfiable,
}

impl ByteRange {
    /// The `Content-Range` value of a 206 or 416 answer of `len` bytes.
    pub fn content_range(&self, len: u64) -> Option<String> {
        match self {
            ByteRange::Whole => None,
            ByteRange::Part { first, last } => Some(format!("bytes {first}-{last}/{len}")),
            ByteRange::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

/// Reads `Range` and `If-Range` for an answer of `len` bytes with strong ETag `etag`.
pub fn byte_range(headers: &HeaderMap, len: u64, etag: Option<&str>) -> ByteRange {
    let Some(range) = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return ByteRange::Whole;
    };
    if let Some(if_range) = headers.get(http::header::IF_RANGE) {
        // A strong comparison (RFC 9110 §8.8.3.2): weak tags and dates never match.
        let matches = if_range
            .to_str()
            .ok()
            .map(str::trim)
            .is_some_and(|t| t.starts_with('"') && Some(t) == etag.map(str::trim));
        if !matches {
            return ByteRange::Whole;
        }
    }
    let Some((unit, set)) = range.split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(s.parse().unwrap_or(u64::MAX))
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    first: len.saturating_sub(n),
                    last: len - 1,
                }
            }
        }
        (false, Some(a), b) if last.trim().is_empty() || b.is_some() => {
            if b.is_some_and(|b| b < a) {
                ByteRange::Whole
            } else if a >= len {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    first: a,
                    last: b.map_or(len - 1, |b| b.min(len - 1)),
                }
            }
        }
        _ => ByteRange::Whole,
    }
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
            crate::routes::RENDERED_PARAMETERS,
            crate::routes::WADO_URI_PARAMETERS,
            STUDY_DEFAULTS,
            SERIES_DEFAULTS,
            INSTANCE_DEFAULTS,
        ]
        .iter()
        .any(|list| list.contains(&name))
}

/// A request's path and query as every log line of the product writes it: known names
/// ([`PRODUCT_PARAMETERS`], the rendered and WADO-URI parameters, default QIDO-RS attributes
/// and 8-hex-digit tags, decoded by the one query parser), and values only
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
    list(headers, http::header::ACCEPT_ENCODING).any(|coding| {
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
    fn long_methods_are_shortened_in_the_log() {
        assert_eq!(loggable_method("GET"), "GET");
        assert_eq!(loggable_method(&"X".repeat(16)), "X".repeat(16));
        assert_eq!(
            loggable_method(&"X".repeat(70_000)),
            format!("{}…", "X".repeat(16))
        );
    }

    fn range(range: &str, if_range: Option<&str>) -> ByteRange {
        let mut h = HeaderMap::new();
        h.insert(http::header::RANGE, range.parse().unwrap());
        if let Some(t) = if_range {
            h.insert(http::header::IF_RANGE, t.parse().unwrap());
        }
        byte_range(&h, 100, Some("\"abc\""))
    }

    #[test]
    fn byte_ranges_follow_rfc_9110() {
        let part = |first, last| ByteRange::Part { first, last };
        assert_eq!(byte_range(&HeaderMap::new(), 100, None), ByteRange::Whole);
        assert_eq!(range("bytes=0-9", None), part(0, 9));
        assert_eq!(range("bytes=90-", None), part(90, 99));
        assert_eq!(range("bytes=90-500", None), part(90, 99));
        assert_eq!(range("bytes=-10", None), part(90, 99));
        assert_eq!(range("bytes=-500", None), part(0, 99));
        assert_eq!(range("BYTES = 5-5", None), part(5, 5));
        assert_eq!(
            range("bytes=99999999999999999999999-", None),
            ByteRange::Unsatisfiable
        );
        assert_eq!(range("bytes=0-99999999999999999999999", None), part(0, 99));
        assert_eq!(range("bytes=100-", None), ByteRange::Unsatisfiable);
        assert_eq!(range("bytes=-0", None), ByteRange::Unsatisfiable);
        // Ignored: malformed, another unit, several ranges.
        for ignored in [
            "bytes=9-0",
            "bytes=a-b",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,5-6",
            "0-1",
        ] {
            assert_eq!(range(ignored, None), ByteRange::Whole, "{ignored}");
        }
        // If-Range: only the strong ETag itself.
        assert_eq!(range("bytes=0-9", Some("\"abc\"")), part(0, 9));
        assert_eq!(range("bytes=0-9", Some("\"other\"")), ByteRange::Whole);
        assert_eq!(range("bytes=0-9", Some("W/\"abc\"")), ByteRange::Whole);
        assert_eq!(
            range("bytes=0-9", Some("Tue, 01 Dec 2026 00:00:00 GMT")),
            ByteRange::Whole
        );
        assert_eq!(
            part(0, 9).content_range(100).as_deref(),
            Some("bytes 0-9/100")
        );
        assert_eq!(
            ByteRange::Unsatisfiable.content_range(100).as_deref(),
            Some("bytes */100")
        );
    }

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
