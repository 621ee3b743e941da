//! Accept negotiation for frame resources (PS3.18 §8.7): which media type and transfer syntax
//! to answer with, given the client's Accept (or `?accept=`) and the stored syntax. The edge
//! does not transcode, so the only rendition on offer is the stored one (native data as
//! Explicit VR Little Endian).
//!
//! Rules: RFC 9110 Accept syntax (comma-separated ranges, parameters quoted or not, names
//! case-insensitive, `q` weights, `q=0` refuses); within `multipart/related` the `type`
//! parameter names the part media type and `transfer-syntax` the syntax, the first one
//! counting when a client repeats it (OHIF sends `…; transfer-syntax="X"; transfer-syntax="*"`);
//! `transfer-syntax=*` accepts the stored syntax whatever the named type (what OHIF's default
//! `type="application/octet-stream"; transfer-syntax=*` means in practice), and an explicit
//! syntax under `type="application/octet-stream"` asks for that syntax's bytes (OHIF's
//! `requestTransferSyntaxUID` form); without
//! `transfer-syntax` the media type's default syntax is meant (image/jphc has none: stored).
//! Single-part media types are honoured only for a single frame. Ranges the frame resource
//! cannot satisfy (e.g. `application/dicom+json`) are passed over.

use crate::transfer_syntax::{OCTET_STREAM, TransferSyntax};

/// One element of an Accept header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, lowercased.
    pub media_type: String,
    /// Parameters other than `q`, names lowercased, values unquoted, in order.
    pub params: Vec<(String, String)>,
    pub q: f32,
}

impl MediaRange {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A syntax error in an Accept value (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Accept: {0}")]
pub struct MalformedAccept(pub String);

fn split_outside_quotes(s: &str, sep: char) -> Result<Vec<&str>, MalformedAccept> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return Err(MalformedAccept("unterminated quoted string".into()));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses an Accept value. Empty list elements are ignored (RFC 9110 §5.6.1).
/// Media types that clients send for a standard one: `image/jhc` for HTJ2K's `image/jphc`
/// (dicomweb-client's table and Cornerstone3D's documented `accept=image/jhc`). Read as the
/// standard type, as a media range and as a `type` parameter, so it negotiates, and shares a
/// cache key, as `image/jphc` does.
fn standard_media_type(media_type: String) -> String {
    match media_type.as_str() {
        "image/jhc" => "image/jphc".to_owned(),
        _ => media_type,
    }
}

pub fn parse_accept(value: &str) -> Result<Vec<MediaRange>, MalformedAccept> {
    let mut ranges = Vec::new();
    for element in split_outside_quotes(value, ',')? {
        let element = element.trim();
        if element.is_empty() {
            continue;
        }
        let mut parts = split_outside_quotes(element, ';')?.into_iter();
        let media_type =
            standard_media_type(parts.next().unwrap_or_default().trim().to_ascii_lowercase());
        let valid_type = media_type
            .split_once('/')
            .is_some_and(|(t, s)| is_token(t) && is_token(s) && (t != "*" || s == "*"));
        if !valid_type {
            return Err(MalformedAccept(format!(
                "{media_type:?} is not a media range"
            )));
        }
        let mut range = MediaRange {
            media_type,
            params: Vec::new(),
            q: 1.0,
        };
        for p in parts {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (name, value) = p
                .split_once('=')
                .ok_or_else(|| MalformedAccept(format!("parameter {p:?} has no value")))?;
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(v) => v
                    .strip_suffix('"')
                    .unwrap_or(v)
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\"),
                None => value.to_owned(),
            };
            if !is_token(&name) {
                return Err(MalformedAccept(format!("bad parameter name {name:?}")));
            }
            if name == "q" {
                range.q = value
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q) && value.len() <= 5)
                    .ok_or_else(|| {
                        MalformedAccept(format!("q={value} is not a weight between 0 and 1"))
                    })?;
            } else if name == "type" {
                range
                    .params
                    .push((name, standard_media_type(value.to_ascii_lowercase())));
            } else {
                range.params.push((name, value));
            }
        }
        ranges.push(range);
    }
    Ok(ranges)
}

/// The canonical form of an Accept value, so that equivalent headers share one cache key:
/// media types, parameter names and `type` values lowercased, values unquoted where no
/// delimiter needs quotes, a repeated parameter reduced to its first occurrence (the one that counts),
/// parameters sorted by name, `q` written only when below 1, ranges in their original order.
/// A malformed value is returned trimmed, unchanged (it is answered with 400 anyway).
pub fn normalize_accept(value: &str) -> String {
    let Ok(ranges) = parse_accept(value) else {
        return value.trim().to_owned();
    };
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let mut params: Vec<(String, String)> = Vec::new();
        for (n, v) in r.params {
            if params.iter().all(|(m, _)| *m != n) {
                let v = if n == "type" {
                    v.to_ascii_lowercase()
                } else {
                    v
                };
                params.push((n, v));
            }
        }
        params.sort();
        let mut s = r.media_type;
        for (n, v) in params {
            // Unquoted unless the value holds a delimiter, whitespace or a control
            // character, which a bare value would lose when read again (`/` in `type` stays
            // bare, as viewers send it).
            let bare = !v.is_empty()
                && !v.contains([',', ';', '"', '\\', '='])
                && !v.chars().any(|c| c.is_whitespace() || c.is_control());
            let v = if bare {
                v
            } else {
                format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
            };
            s.push_str(&format!(";{n}={v}"));
        }
        if r.q < 1.0 {
            s.push_str(&format!(";q={}", r.q));
        }
        out.push(s);
    }
    out.join(",")
}

/// One representation a resource can be answered in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The media type of the payload (a part's type in `multipart/related`).
    pub media_type: &'static str,
    /// The transfer syntax of pixel data; `None` for non-pixel resources (DICOM JSON).
    pub transfer_syntax: Option<TransferSyntax>,
    /// The representation as stored: what `transfer-syntax=*` asks for (PS3.18 §8.7.3.5.2).
    pub stored: bool,
}

impl Offer {
    /// Pixel data as stored (native data as Explicit VR LE, its served form).
    pub fn stored(stored: &TransferSyntax) -> Self {
        let ts = stored.as_served();
        Self {
            media_type: ts.media_type(),
            transfer_syntax: Some(ts),
            stored: true,
        }
    }

    /// Pixel data converted to `ts`.
    pub fn converted(ts: TransferSyntax) -> Self {
        Self {
            media_type: ts.media_type(),
            transfer_syntax: Some(ts),
            stored: false,
        }
    }

    /// A resource of one media type without a transfer syntax.
    pub fn media(media_type: &'static str) -> Self {
        Self {
            media_type,
            transfer_syntax: None,
            stored: true,
        }
    }

    /// This offer as an Accept value that would select it.
    fn as_accept(&self, multipart: bool) -> String {
        match (&self.transfer_syntax, multipart) {
            (Some(ts), true) => format!(
                "multipart/related; type=\"{}\"; transfer-syntax={ts}",
                self.media_type
            ),
            (Some(ts), false) => format!("{}; transfer-syntax={ts}", self.media_type),
            (None, true) => format!("multipart/related; type=\"{}\"", self.media_type),
            (None, false) => self.media_type.to_owned(),
        }
    }
}

/// Which envelopes a resource can be answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forms {
    /// `multipart/related` with the offer's media type as `type`.
    pub multipart: bool,
    /// A single-part body of the offer's media type (only for one item, PS3.18 §8.7.3.5).
    pub single: bool,
}

impl Forms {
    pub const MULTIPART: Self = Self {
        multipart: true,
        single: false,
    };
    pub const BOTH: Self = Self {
        multipart: true,
        single: true,
    };
    pub const SINGLE: Self = Self {
        multipart: false,
        single: true,
    };
}

/// What negotiation chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `multipart/related` (else a single-part body of `media_type`).
    pub multipart: bool,
    /// Index of the chosen offer.
    pub offer: usize,
    pub media_type: &'static str,
    pub transfer_syntax: Option<TransferSyntax>,
}

/// Why no offer fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    #[error(transparent)]
    Malformed(#[from] MalformedAccept),
    /// 406; `available` lists Accept values that would succeed.
    #[error("not acceptable; available: {available}")]
    NotAcceptable { available: String },
}

/// How specifically a media range names an offer (higher wins at equal `q`).
fn specificity(media: &str, syntax: Option<&str>, offer: &Offer) -> Option<u8> {
    let same_type = media.eq_ignore_ascii_case(offer.media_type);
    let type_wildcard = media == "*/*"
        || media
            .strip_suffix("/*")
            .is_some_and(|t| offer.media_type.split('/').next() == Some(t));
    match (syntax, &offer.transfer_syntax) {
        // `*`: any syntax, the stored one first, whatever the named type (OHIF's default
        // `type="application/octet-stream"; transfer-syntax=*` means "as stored").
        (Some("*"), Some(_)) if offer.stored => Some(3),
        (Some("*"), Some(_)) => (same_type || type_wildcard).then_some(2),
        // An explicit syntax under its own type, a wildcard, or `application/octet-stream`
        // (OHIF's `requestTransferSyntaxUID` form) asks for exactly that syntax.
        (Some(s), Some(ts)) => (s == ts.as_str()
            && (same_type || type_wildcard || media.eq_ignore_ascii_case(OCTET_STREAM)))
        .then_some(4),
        // Non-pixel data (bulk data of other attributes) has no syntax to choose.
        (Some(_), None) => (same_type || type_wildcard).then_some(2),
        // No syntax: the media type's default; a type without one (image/jphc) takes any.
        (None, Some(ts)) if same_type => match TransferSyntax::default_for(media) {
            Some(d) => (d == *ts).then_some(4),
            None => Some(3),
        },
        (None, None) if same_type => Some(4),
        (None, _) if type_wildcard => Some(if media == "*/*" { 0 } else { 1 }),
        (None, _) => None,
    }
}

/// Chooses among `offers` (in the server's order of preference) for `accept` (the `?accept=`
/// value if present, else the header; `None` or empty: anything, the first offer). The
/// highest `q` wins, then the most specific range, then the server's order; `q=0` refuses.
/// `*/*` and `multipart/*` take the first offer in `multipart/related` where that form is
/// possible.
pub fn negotiate(
    accept: Option<&str>,
    offers: &[Offer],
    forms: Forms,
) -> Result<Rendition, NegotiationError> {
    let chosen = |i: usize, multipart: bool| {
        let o: &Offer = &offers[i];
        Rendition {
            multipart,
            offer: i,
            media_type: o.media_type,
            transfer_syntax: o.transfer_syntax.clone(),
        }
    };
    let not_acceptable = || NegotiationError::NotAcceptable {
        available: offers
            .iter()
            .map(|o| o.as_accept(forms.multipart))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if offers.is_empty() {
        return Err(not_acceptable());
    }
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(chosen(0, forms.multipart));
    };
    let ranges = parse_accept(accept)?;
    // Only empty elements (`Accept: ,`): no preference, as without the header; the
    // normalised value is empty too, so both share a cache key.
    if ranges.is_empty() {
        return Ok(chosen(0, forms.multipart));
    }
    // (q, specificity, -index) of the best pair so far.
    let mut best: Option<((f32, u8, usize), usize, bool)> = None;
    let mut consider = |q: f32, spec: u8, i: usize, multipart: bool| {
        let better = best.is_none_or(|((bq, bs, bi), _, _)| {
            q > bq || (q == bq && (spec > bs || (spec == bs && i < bi)))
        });
        if better {
            best = Some(((q, spec, i), i, multipart));
        }
    };
    for r in ranges.iter().filter(|r| r.q > 0.0) {
        let syntax = r.param("transfer-syntax");
        for (i, offer) in offers.iter().enumerate() {
            match r.media_type.as_str() {
                "*/*" | "multipart/*" if forms.multipart => consider(r.q, 0, i, true),
                "*/*" if forms.single => consider(r.q, 0, i, false),
                "multipart/related" if forms.multipart => {
                    let inner = r.param("type").unwrap_or(OCTET_STREAM).to_ascii_lowercase();
                    if let Some(s) = specificity(&inner, syntax, offer) {
                        consider(r.q, s, i, true);
                    }
                }
                "multipart/related" | "multipart/*" => {}
                single if forms.single => {
                    if let Some(s) = specificity(single, syntax, offer) {
                        consider(r.q, s, i, false);
                    }
                }
                _ => {}
            }
        }
    }
    best.map(|(_, i, multipart)| chosen(i, multipart))
        .ok_or_else(not_acceptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTJ2K: &str = "1.2.840.10008.1.2.4.202";
    const ELE: &str = "1.2.840.10008.1.2.1";
    const JPEG: &str = "1.2.840.10008.1.2.4.50";

    /// Frames stored in `stored`, offered as stored only (what the edge serves today).
    fn negotiate_frames(
        accept: Option<&str>,
        stored: &str,
        single: bool,
    ) -> Result<Rendition, NegotiationError> {
        let forms = if single {
            Forms::BOTH
        } else {
            Forms::MULTIPART
        };
        negotiate(accept, &[Offer::stored(&stored.parse().unwrap())], forms)
    }

    fn ok(accept: Option<&str>, stored: &str, single: bool) -> (bool, &'static str, String) {
        let r = negotiate_frames(accept, stored, single)
            .unwrap_or_else(|e| panic!("{accept:?} / {stored}: {e}"));
        (
            r.multipart,
            r.media_type,
            r.transfer_syntax.unwrap().to_string(),
        )
    }

    fn refused(accept: &str, stored: &str) -> NegotiationError {
        negotiate_frames(Some(accept), stored, false).unwrap_err()
    }

    #[test]
    fn what_real_clients_send() {
        // OHIF v3 default, quoted and unquoted: whatever is stored.
        for a in [
            r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#,
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
        ] {
            assert_eq!(
                ok(Some(a), HTJ2K, false),
                (true, "image/jphc", HTJ2K.into())
            );
            assert_eq!(
                ok(Some(a), ELE, false),
                (true, "application/octet-stream", ELE.into())
            );
        }
        // OHIF with requestTransferSyntaxUID: the first transfer-syntax counts.
        let dup = r#"multipart/related; type="application/octet-stream"; transfer-syntax="1.2.840.10008.1.2.4.90"; transfer-syntax="*""#;
        assert_eq!(
            ok(Some(dup), "1.2.840.10008.1.2.4.90", false),
            (true, "image/jp2", "1.2.840.10008.1.2.4.90".into())
        );
        assert!(matches!(
            refused(dup, HTJ2K),
            NegotiationError::NotAcceptable { .. }
        ));
        // Older OHIF builds joined two ranges.
        let joined = r#"application/dicom+json, multipart/related; type="application/octet-stream"; transfer-syntax=*"#;
        assert_eq!(
            ok(Some(joined), JPEG, false),
            (true, "image/jpeg", JPEG.into())
        );
        // dicomweb-client's default: no transfer syntax, so Explicit VR LE.
        let dwc = r#"multipart/related; type="application/octet-stream""#;
        assert_eq!(
            ok(Some(dwc), ELE, false),
            (true, "application/octet-stream", ELE.into())
        );
        assert_eq!(
            ok(Some(dwc), "1.2.840.10008.1.2", false).2,
            ELE,
            "implicit VR data is served as explicit"
        );
        let NegotiationError::NotAcceptable { available } = refused(dwc, HTJ2K) else {
            panic!()
        };
        assert_eq!(
            available,
            "multipart/related; type=\"image/jphc\"; transfer-syntax=1.2.840.10008.1.2.4.202"
        );
    }

    #[test]
    fn explicit_types_and_syntaxes() {
        assert!(ok(Some("multipart/related; type=image/jphc"), HTJ2K, false).0);
        assert!(
            ok(
                Some(&format!(
                    "multipart/related; type=\"image/jphc\"; transfer-syntax={HTJ2K}"
                )),
                HTJ2K,
                false
            )
            .0
        );
        assert!(matches!(
            refused(
                "multipart/related; type=image/jphc; transfer-syntax=1.2.840.10008.1.2.4.203",
                HTJ2K
            ),
            NegotiationError::NotAcceptable { .. }
        ));
        // image/jpeg without a syntax means JPEG lossless (.70), not baseline.
        assert!(matches!(
            refused("multipart/related; type=image/jpeg", JPEG),
            NegotiationError::NotAcceptable { .. }
        ));
        assert_eq!(
            ok(
                Some(&format!(
                    "multipart/related; type=image/jpeg; transfer-syntax={JPEG}"
                )),
                JPEG,
                false
            )
            .1,
            "image/jpeg"
        );
        // Case-insensitive names, q ordering, q=0 refusal.
        assert!(
            ok(
                Some("Multipart/Related; TYPE=\"Application/Octet-Stream\"; Transfer-Syntax=*"),
                ELE,
                false
            )
            .0
        );
        assert_eq!(
            ok(
                Some("multipart/related; type=image/jpeg; q=0.2, image/jphc; q=0.9"),
                HTJ2K,
                true
            ),
            (false, "image/jphc", HTJ2K.into())
        );
        assert!(matches!(
            refused("*/*; q=0", ELE),
            NegotiationError::NotAcceptable { .. }
        ));
        // Wildcards and no preference.
        assert!(ok(Some("*/*"), HTJ2K, false).0);
        assert_eq!(ok(None, HTJ2K, false), (true, "image/jphc", HTJ2K.into()));
        assert!(ok(Some("  "), ELE, false).0);
    }

    #[test]
    fn single_part_only_for_one_frame() {
        assert_eq!(
            ok(Some("application/octet-stream"), ELE, true),
            (false, "application/octet-stream", ELE.into())
        );
        assert!(matches!(
            negotiate_frames(Some("application/octet-stream"), ELE, false),
            Err(NegotiationError::NotAcceptable { .. })
        ));
    }

    #[test]
    fn equivalent_accept_values_normalise_alike() {
        let forms = [
            r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#,
            "multipart/related;type=application/octet-stream;transfer-syntax=*",
            r#"Multipart/Related; Transfer-Syntax=*; TYPE="Application/Octet-Stream""#,
            r#"multipart/related; type=application/octet-stream; transfer-syntax=*; transfer-syntax="1.2.840.10008.1.2.4.90"; q=1"#,
        ];
        for f in forms {
            assert_eq!(
                normalize_accept(f),
                "multipart/related;transfer-syntax=*;type=application/octet-stream",
                "{f}"
            );
        }
        assert_eq!(
            normalize_accept(r#"image/jpeg;q=0.5 , application/dicom+json"#),
            "image/jpeg;q=0.5,application/dicom+json"
        );
        // The first of duplicated parameters is the one negotiation uses, so it is kept.
        assert_ne!(
            normalize_accept(r#"multipart/related; transfer-syntax=1.2; transfer-syntax=*"#),
            normalize_accept(r#"multipart/related; transfer-syntax=*; transfer-syntax=1.2"#)
        );
        assert_eq!(normalize_accept(" bogus "), "bogus");
    }

    #[test]
    fn malformed_values_are_400() {
        for bad in [
            "multipart/related; type=\"unterminated",
            "nonsense",
            "*/jpeg",
            "multipart/related; q=2",
            "multipart/related; q=abc",
            "multipart/related; type",
            "multi part/related",
        ] {
            assert!(
                matches!(
                    negotiate_frames(Some(bad), ELE, false),
                    Err(NegotiationError::Malformed(_))
                ),
                "{bad}"
            );
        }
        // Empty elements are allowed.
        assert_eq!(parse_accept(", ,image/jpeg,").unwrap().len(), 1);
        let r = &parse_accept(r#"multipart/related; type="a/b"; transfer-syntax="*"; q=0.5"#)
            .unwrap()[0];
        assert_eq!(
            (r.param("type"), r.param("transfer-syntax"), r.q),
            (Some("a/b"), Some("*"), 0.5)
        );
    }

    /// HTJ2K as stored, and Explicit VR LE decoded from it (what transcoding will offer).
    fn two_offers() -> Vec<Offer> {
        vec![
            Offer::stored(&TransferSyntax::HTJ2K_RPCL_LOSSLESS),
            Offer::converted(TransferSyntax::EXPLICIT_VR_LE),
        ]
    }

    fn pick(accept: &str, forms: Forms) -> (bool, String) {
        let r = negotiate(Some(accept), &two_offers(), forms)
            .unwrap_or_else(|e| panic!("{accept}: {e}"));
        (r.multipart, r.transfer_syntax.unwrap().to_string())
    }

    #[test]
    fn several_offers_real_clients() {
        let m = Forms::MULTIPART;
        // OHIF's default: as stored.
        assert_eq!(
            pick(
                r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#,
                m
            ),
            (true, HTJ2K.into())
        );
        // dicomweb-client's default (no syntax): octet-stream's default, Explicit VR LE.
        assert_eq!(
            pick(r#"multipart/related; type="application/octet-stream""#, m),
            (true, ELE.into())
        );
        // OHIF's requestTransferSyntaxUID form names the syntax under octet-stream.
        assert_eq!(
            pick(
                &format!(
                    r#"multipart/related; type="application/octet-stream"; transfer-syntax="{ELE}"; transfer-syntax="*""#
                ),
                m
            ),
            (true, ELE.into())
        );
        // Cornerstone's HTJ2K request.
        assert_eq!(
            pick("multipart/related; type=image/jphc", m),
            (true, HTJ2K.into())
        );
        // No Accept, */*: the server's first offer.
        assert_eq!(pick("*/*", m), (true, HTJ2K.into()));
        let r = negotiate(None, &two_offers(), m).unwrap();
        assert_eq!((r.offer, r.multipart), (0, true));
    }

    #[test]
    fn q_values_then_specificity_then_server_order() {
        let m = Forms::MULTIPART;
        // The higher q wins even when the lower one is listed first.
        assert_eq!(
            pick(
                &format!(
                    "multipart/related; type=image/jphc; q=0.3, multipart/related; type=application/octet-stream; transfer-syntax={ELE}; q=0.8"
                ),
                m
            ),
            (true, ELE.into())
        );
        assert_eq!(
            pick(
                &format!(
                    "multipart/related; type=image/jphc; q=0.9, multipart/related; type=application/octet-stream; transfer-syntax={ELE}; q=0.8"
                ),
                m
            ),
            (true, HTJ2K.into())
        );
        // At equal q, an exact syntax beats a wildcard range.
        assert_eq!(
            pick(
                &format!(
                    "*/*, multipart/related; type=application/octet-stream; transfer-syntax={ELE}"
                ),
                m
            ),
            (true, ELE.into())
        );
        // q=0 refuses one offer; the other is still chosen.
        assert_eq!(
            pick(
                &format!(
                    "multipart/related; type=image/jphc; q=0, multipart/related; type=application/octet-stream; transfer-syntax={ELE}; q=0.1"
                ),
                m
            ),
            (true, ELE.into())
        );
        // Single-part only for one item, and only when asked for.
        assert_eq!(
            pick("application/octet-stream", Forms::BOTH),
            (false, ELE.into())
        );
        assert_eq!(pick("image/jphc", Forms::BOTH), (false, HTJ2K.into()));
        // Cornerstone's and dicomweb-client's name for it.
        assert_eq!(pick("image/jhc", Forms::BOTH), (false, HTJ2K.into()));
        assert_eq!(
            pick("multipart/related; type=\"image/jhc\"", Forms::BOTH),
            (true, HTJ2K.into())
        );
        assert_eq!(
            normalize_accept("image/jhc"),
            normalize_accept("image/jphc")
        );
        let NegotiationError::NotAcceptable { available } =
            negotiate(Some("image/jpeg"), &two_offers(), m).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(
            available,
            format!(
                "multipart/related; type=\"image/jphc\"; transfer-syntax={HTJ2K}, multipart/related; type=\"application/octet-stream\"; transfer-syntax={ELE}"
            )
        );
    }

    #[test]
    fn non_pixel_resources() {
        let json = [
            Offer::media("application/dicom+json"),
            Offer::media("application/json"),
        ];
        let f = Forms::SINGLE;
        for a in [
            "application/dicom+json",
            "application/json, text/plain;q=0.5",
            "application/*",
            "*/*",
        ] {
            assert!(negotiate(Some(a), &json, f).is_ok(), "{a}");
        }
        for a in [
            "text/html",
            "multipart/related; type=application/dicom+json",
            "application/dicom+json; q=0",
        ] {
            assert!(
                matches!(
                    negotiate(Some(a), &json, f),
                    Err(NegotiationError::NotAcceptable { .. })
                ),
                "{a}"
            );
        }
        let bulk = [Offer::media(OCTET_STREAM)];
        for a in [
            "multipart/related",
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
            "*/*",
        ] {
            assert!(negotiate(Some(a), &bulk, Forms::MULTIPART).is_ok(), "{a}");
        }
        assert!(
            negotiate(
                Some("multipart/related; type=image/jpeg"),
                &bulk,
                Forms::MULTIPART
            )
            .is_err()
        );
    }
}
