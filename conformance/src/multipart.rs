//! A lenient reader for `multipart/related` bodies that records every deviation from the
//! syntax instead of stopping at the first (RFC 2046 §5.1.1, RFC 2387, PS3.18 §8.7.3), so
//! that each syntax rule can be reported by its own check. Kept apart from the product's
//! strict reader on purpose: the suite must judge servers independently of the code it tests.

use bytes::Bytes;

/// A media type's type/subtype (lowercase) and parameters (names lowercase, values unquoted),
/// in order.
pub fn parse_media_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = split_params(value).into_iter();
    let media_type = pieces
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let params = pieces
        .filter_map(|p| {
            let (name, value) = p.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim().to_ascii_lowercase(), value.to_owned()))
        })
        .collect();
    (media_type, params)
}

/// The first value of parameter `name` in a media type.
pub fn param(value: &str, name: &str) -> Option<String> {
    parse_media_type(value)
        .1
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Splits on `;` outside quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            ';' if !quoted => out.push(std::mem::take(&mut current)),
            _ => {
                if c == '"' {
                    quoted = !quoted;
                }
                current.push(c);
            }
        }
    }
    out.push(current);
    out
}

/// One body part.
#[derive(Debug, Clone)]
pub struct Part {
    /// Header names as written, values trimmed.
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Part {
    /// A header's value, name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `transfer-syntax` parameter of the part's `Content-Type`.
    pub fn transfer_syntax(&self) -> Option<String> {
        param(self.header("content-type")?, "transfer-syntax")
    }

    /// The part's media type (lowercase), without parameters.
    pub fn media_type(&self) -> Option<String> {
        Some(parse_media_type(self.header("content-type")?).0)
    }
}

/// A body read as far as it could be, with what was wrong with it.
#[derive(Debug, Clone)]
pub struct Multipart {
    pub boundary: String,
    pub parts: Vec<Part>,
    /// The body begins with `--boundary` (no preamble).
    pub starts_with_delimiter: bool,
    /// The close delimiter `--boundary--` was found.
    pub closed: bool,
    /// Line endings that are not CRLF where RFC 2046 requires CRLF.
    pub crlf_violations: Vec<String>,
}

/// Reads `body` as the multipart described by the response's `content_type`. Errors only
/// when no part can be found at all.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Multipart, String> {
    let (media_type, _) = parse_media_type(content_type);
    if media_type != "multipart/related" {
        return Err(format!(
            "Content-Type is {media_type:?}, not multipart/related"
        ));
    }
    let boundary = param(content_type, "boundary")
        .filter(|b| !b.is_empty())
        .ok_or("Content-Type has no boundary parameter")?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut m = Multipart {
        boundary,
        parts: Vec::new(),
        starts_with_delimiter: body.starts_with(&delimiter),
        closed: false,
        crlf_violations: Vec::new(),
    };
    let mut pos = if m.starts_with_delimiter {
        0
    } else {
        find(body, &delimiter).ok_or("the boundary never appears in the body")?
    };
    loop {
        pos += delimiter.len();
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            m.closed = true;
            break;
        }
        let line_end = rest
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(rest.len());
        let rest_after = &rest[line_end..];
        if rest_after.starts_with(b"\r\n") {
            pos += line_end + 2;
        } else if rest_after.starts_with(b"\n") {
            m.crlf_violations
                .push("a delimiter line ends in LF without CR".into());
            pos += line_end + 1;
        } else if rest_after.is_empty() {
            break;
        } else {
            return Err("text follows a delimiter on its line".into());
        }
        let crlf_end = find(&body[pos..], b"\r\n\r\n");
        let lf_end = find(&body[pos..], b"\n\n");
        let (headers_end, payload_start) = if body[pos..].starts_with(b"\r\n") {
            (pos, pos + 2)
        } else {
            match (crlf_end, lf_end) {
                (Some(c), l) if l.is_none_or(|l| c < l) => (pos + c, pos + c + 4),
                (_, Some(l)) => {
                    m.crlf_violations
                        .push("part headers end in LF LF instead of CRLF CRLF".into());
                    (pos + l, pos + l + 2)
                }
                _ => return Err("a part's headers never end".into()),
            }
        };
        let head = &body[pos..headers_end];
        if head
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
        {
            m.crlf_violations
                .push("a part header line ends in LF without CR".into());
        }
        let headers = String::from_utf8_lossy(head)
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((n.to_owned(), v.trim().to_owned()))
            })
            .collect();
        let mut crlf_delimiter = b"\r\n".to_vec();
        crlf_delimiter.extend_from_slice(&delimiter);
        let mut lf_delimiter = b"\n".to_vec();
        lf_delimiter.extend_from_slice(&delimiter);
        let (payload_end, next) = match find(&body[payload_start..], &crlf_delimiter) {
            Some(i) => (payload_start + i, payload_start + i + 2),
            None => match find(&body[payload_start..], &lf_delimiter) {
                Some(i) => {
                    m.crlf_violations
                        .push("a delimiter is preceded by LF without CR".into());
                    (payload_start + i, payload_start + i + 1)
                }
                None => {
                    m.parts.push(Part {
                        headers,
                        payload: Bytes::copy_from_slice(&body[payload_start..]),
                    });
                    break;
                }
            },
        };
        m.parts.push(Part {
            headers,
            payload: Bytes::copy_from_slice(&body[payload_start..payload_end]),
        });
        pos = next;
    }
    Ok(m)
}

/// The first index of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/related; type=\"application/octet-stream\"; boundary=XyZ";

    #[test]
    fn reads_a_well_formed_body() {
        let body = b"--XyZ\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1\r\nContent-Location: /f/1\r\n\r\n\x00\x01\r\n--XyZ\r\nContent-Type: application/octet-stream\r\n\r\nab\r\n--XyZ--\r\n";
        let m = parse(CT, body).unwrap();
        assert!(m.starts_with_delimiter && m.closed);
        assert!(m.crlf_violations.is_empty());
        assert_eq!(m.parts.len(), 2);
        assert_eq!(&m.parts[0].payload[..], b"\x00\x01");
        assert_eq!(
            m.parts[0].transfer_syntax().as_deref(),
            Some("1.2.840.10008.1.2.1")
        );
        assert_eq!(m.parts[0].header("content-location"), Some("/f/1"));
        assert_eq!(m.parts[1].transfer_syntax(), None);
        assert_eq!(&m.parts[1].payload[..], b"ab");
    }

    #[test]
    fn records_each_deviation() {
        let body = b"preamble\r\n--XyZ\nContent-Type: a/b\n\nab\n--XyZ\r\n\r\ncd";
        let m = parse(CT, body).unwrap();
        assert!(!m.starts_with_delimiter);
        assert!(!m.closed);
        assert_eq!(m.crlf_violations.len(), 3, "{:?}", m.crlf_violations);
        assert_eq!(m.parts.len(), 2);
        assert_eq!(&m.parts[1].payload[..], b"cd");
    }

    #[test]
    fn refuses_what_is_not_multipart() {
        assert!(parse("application/octet-stream", b"--XyZ").is_err());
        assert!(parse("multipart/related; type=\"a/b\"", b"--XyZ").is_err());
        assert!(parse(CT, b"no delimiter here").is_err());
    }

    #[test]
    fn media_type_parameters_quoted_or_not() {
        let (t, p) = parse_media_type("Multipart/Related; TYPE=\"a/b; c\"; boundary=q");
        assert_eq!(t, "multipart/related");
        assert_eq!(
            p,
            vec![
                ("type".into(), "a/b; c".into()),
                ("boundary".into(), "q".into())
            ]
        );
    }
}
