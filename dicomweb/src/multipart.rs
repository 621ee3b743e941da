//! `multipart/related` for WADO-RS (PS3.18 §8.7.3.3, RFC 2387 / RFC 2046 §5.1).
//!
//! The writer produces the pieces of a body so that a shell can stream parts as they become
//! ready: `--B\r\n` + part headers + `\r\n` + payload + `\r\n`, repeated, then `--B--`. Part
//! headers are written exactly as `Content-Type: <media type>; transfer-syntax=<UID>` and
//! `Content-Location: <url>` (Cornerstone matches `Content-Type:` case-sensitively and reads
//! the transfer syntax from the part). The caller chooses the boundary: the translator derives
//! 128 bits from a hash of what determines the response, so every answer to the same request
//! is byte-identical (see `edge::http_rules::Identity`).

use bytes::{BufMut, Bytes, BytesMut};

/// Writes one multipart/related body.
#[derive(Debug, Clone)]
pub struct MultipartWriter {
    boundary: String,
}

impl MultipartWriter {
    /// A writer whose parts are delimited by `--boundary` (RFC 2046 §5.1.1: at most 70
    /// characters that the payloads do not contain).
    pub fn with_boundary(boundary: impl Into<String>) -> Self {
        Self {
            boundary: boundary.into(),
        }
    }

    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The response's `Content-Type` header value.
    pub fn content_type(&self, media_type: &str) -> String {
        format!(
            "multipart/related; type=\"{media_type}\"; boundary={}",
            self.boundary
        )
    }

    /// Everything that precedes a part's payload.
    pub fn part_head(
        &self,
        media_type: &str,
        transfer_syntax: Option<&str>,
        location: &str,
    ) -> Bytes {
        let mut b = BytesMut::with_capacity(128 + location.len());
        b.put_slice(b"--");
        b.put_slice(self.boundary.as_bytes());
        b.put_slice(b"\r\nContent-Type: ");
        b.put_slice(media_type.as_bytes());
        if let Some(ts) = transfer_syntax {
            b.put_slice(b"; transfer-syntax=");
            b.put_slice(ts.as_bytes());
        }
        b.put_slice(b"\r\nContent-Location: ");
        b.put_slice(location.as_bytes());
        b.put_slice(b"\r\n\r\n");
        b.freeze()
    }

    /// What follows a part's payload.
    pub fn part_tail(&self) -> Bytes {
        Bytes::from_static(b"\r\n")
    }

    /// The closing delimiter.
    pub fn close(&self) -> Bytes {
        Bytes::from(format!("--{}--", self.boundary))
    }

    /// The exact length of a body with payloads of `sizes` bytes, for `Content-Length`.
    pub fn body_len<'a>(
        &self,
        parts: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str, usize)>,
    ) -> usize {
        parts
            .into_iter()
            .map(|(mt, ts, loc, size)| self.part_head(mt, ts, loc).len() + size + 2)
            .sum::<usize>()
            + self.boundary.len()
            + 4
    }
}

/// One parsed part: its headers (names lowercased) and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("Content-Type has no boundary parameter")]
    NoBoundary,
    #[error("body does not start with the boundary delimiter")]
    NoOpeningDelimiter,
    #[error("part {0} has no blank line after its headers")]
    NoHeaderEnd(usize),
    #[error("body has no closing delimiter")]
    NoClosingDelimiter,
}

/// The `boundary` parameter of a multipart `Content-Type` value (quoted or not).
pub fn boundary_of(content_type: &str) -> Result<String, MultipartError> {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty())
        .ok_or(MultipartError::NoBoundary)
}

/// Parses a complete multipart body strictly (RFC 2046 delimiters with CRLF), for tests and
/// the conformance suite.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let open = format!("--{boundary}\r\n");
    let delim = format!("\r\n--{boundary}");
    if !body.starts_with(open.as_bytes()) {
        return Err(MultipartError::NoOpeningDelimiter);
    }
    let mut parts = Vec::new();
    let mut pos = open.len();
    loop {
        let rest = &body[pos..];
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError::NoHeaderEnd(parts.len()))?;
        let headers = String::from_utf8_lossy(&rest[..head_end])
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let payload_start = head_end + 4;
        let end = find(&rest[payload_start..], delim.as_bytes())
            .ok_or(MultipartError::NoClosingDelimiter)?;
        parts.push(Part {
            headers,
            body: Bytes::copy_from_slice(&rest[payload_start..payload_start + end]),
        });
        let after = &rest[payload_start + end + delim.len()..];
        if after.starts_with(b"--") {
            return Ok(parts);
        }
        if !after.starts_with(b"\r\n") {
            return Err(MultipartError::NoClosingDelimiter);
        }
        pos += payload_start + end + delim.len() + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(w: &MultipartWriter, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (loc, payload) in parts {
            out.extend_from_slice(&w.part_head(
                "application/octet-stream",
                Some("1.2.840.10008.1.2.1"),
                loc,
            ));
            out.extend_from_slice(payload);
            out.extend_from_slice(&w.part_tail());
        }
        out.extend_from_slice(&w.close());
        out
    }

    #[test]
    fn exact_bytes_for_two_parts() {
        let w = MultipartWriter::with_boundary("B0");
        let b = body(&w, &[("/f/2", b"\x01\x02"), ("/f/1", b"")]);
        assert_eq!(
            b,
            b"--B0\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: /f/2\r\n\r\n\x01\x02\r\n\
--B0\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: /f/1\r\n\r\n\r\n--B0--"
        );
        assert_eq!(
            w.content_type("application/octet-stream"),
            "multipart/related; type=\"application/octet-stream\"; boundary=B0"
        );
        let len = w.body_len([
            (
                "application/octet-stream",
                Some("1.2.840.10008.1.2.1"),
                "/f/2",
                2,
            ),
            (
                "application/octet-stream",
                Some("1.2.840.10008.1.2.1"),
                "/f/1",
                0,
            ),
        ]);
        assert_eq!(len, b.len());
    }

    #[test]
    fn round_trips_through_the_parser() {
        let w = MultipartWriter::with_boundary("5f0c0a4e6a1b4c3d9e8f7a6b5c4d3e2f");
        let payload: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let b = body(
            &w,
            &[("/a", &payload), ("/b", b"\r\n--not-the-boundary\r\n")],
        );
        let ct = w.content_type("application/octet-stream");
        let parts = parse(&b, &boundary_of(&ct).unwrap()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body.as_ref(), &payload[..]);
        assert_eq!(parts[1].body.as_ref(), b"\r\n--not-the-boundary\r\n");
        assert_eq!(parts[0].header("content-location"), Some("/a"));
        assert_eq!(
            parts[1].header("Content-Type"),
            Some("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1")
        );
    }

    #[test]
    fn parser_rejects_broken_bodies() {
        assert_eq!(
            boundary_of("multipart/related; type=\"x\""),
            Err(MultipartError::NoBoundary)
        );
        assert_eq!(
            boundary_of("multipart/related; boundary=\"q\"").unwrap(),
            "q"
        );
        assert_eq!(parse(b"junk", "B"), Err(MultipartError::NoOpeningDelimiter));
        assert_eq!(
            parse(b"--B\r\nContent-Type: x\r\n", "B"),
            Err(MultipartError::NoHeaderEnd(0))
        );
        assert_eq!(
            parse(b"--B\r\nContent-Type: x\r\n\r\nabc", "B"),
            Err(MultipartError::NoClosingDelimiter)
        );
    }
}
