//! The checks. Each one sends its requests through the shared `Ctx`, compares the answers
//! with what its citation requires, and says what it sent, expected and got.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::http::{Exchange, Request, Session};
use crate::multipart::{self, Multipart};
use crate::target::Target;

mod auth;
mod bulkdata;
mod caching;
mod cors;
mod decoded;
mod errors;
mod frames;
mod metadata;
mod multipart_syntax;
mod native;
mod negotiation;
mod qido;
mod range;
mod rendered;
mod retrieve;

/// OHIF v3's default frame Accept (docs/clients.md, "What real clients send").
pub const ANY_SYNTAX: &str =
    r#"multipart/related; type="application/octet-stream"; transfer-syntax="*""#;

/// Groups, selectable with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Frames,
    Multipart,
    Negotiation,
    Errors,
    Cors,
    Auth,
    Caching,
    Native,
    Decoded,
    Retrieve,
    Qido,
    Metadata,
    Bulkdata,
    Range,
    Rendered,
}

impl Group {
    pub const ALL: [Group; 15] = [
        Group::Frames,
        Group::Multipart,
        Group::Negotiation,
        Group::Errors,
        Group::Cors,
        Group::Auth,
        Group::Caching,
        Group::Native,
        Group::Decoded,
        Group::Retrieve,
        Group::Qido,
        Group::Metadata,
        Group::Bulkdata,
        Group::Range,
        Group::Rendered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Frames => "frames",
            Group::Multipart => "multipart",
            Group::Negotiation => "negotiation",
            Group::Errors => "errors",
            Group::Cors => "cors",
            Group::Auth => "auth",
            Group::Caching => "caching",
            Group::Native => "native",
            Group::Decoded => "decoded",
            Group::Retrieve => "retrieve",
            Group::Qido => "qido",
            Group::Metadata => "metadata",
            Group::Bulkdata => "bulkdata",
            Group::Range => "range",
            Group::Rendered => "rendered",
        }
    }

    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == s)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotApplicable,
    /// Failed, as the chosen server profile documents (`profiles`).
    KnownDeviation,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The requests, one per line; tokens appear as labels.
    pub sent: String,
    pub expected: String,
    pub got: String,
}

impl Outcome {
    pub fn judge(
        ok: bool,
        sent: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Self {
            verdict: if ok { Verdict::Pass } else { Verdict::Fail },
            sent: sent.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// Passes when nothing is `wrong`; `fine` describes a pass, the list of what is wrong a
    /// failure.
    pub fn listing(
        sent: impl Into<String>,
        expected: impl Into<String>,
        wrong: &[String],
        fine: impl Into<String>,
    ) -> Self {
        let got = if wrong.is_empty() {
            fine.into()
        } else {
            wrong.join("; ")
        };
        Self::judge(wrong.is_empty(), sent, expected, got)
    }

    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::NotApplicable,
            sent: String::new(),
            expected: String::new(),
            got: reason.into(),
        }
    }
}

type Run = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Whether a check states a requirement of the standard (PS3.18, or the RFC it relies on),
/// or a rule of this product (its CDN caching, its native path, what real viewers need
/// beyond the standard), so that another server's deviation from the latter is not taken
/// for a defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Standard,
    Product,
}

/// One check: an identifier (`group.name`), what it tests, and where the rule comes from.
pub struct Check {
    pub id: &'static str,
    pub group: Group,
    pub basis: Basis,
    pub title: &'static str,
    pub cite: &'static str,
    run: Run,
}

macro_rules! check {
    ($id:literal, $group:ident, $basis:ident, $title:literal, $cite:expr, $f:path) => {{
        fn run(ctx: &Ctx) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
            Box::pin($f(ctx))
        }
        Check {
            id: $id,
            group: Group::$group,
            basis: Basis::$basis,
            title: $title,
            cite: $cite,
            run,
        }
    }};
}

/// Every check, in the order they run and are reported.
pub fn all() -> Vec<Check> {
    const FRAMES: &str = "PS3.18 §10.4 (frames resource); docs/clients.md, \"Frames on the wire\"";
    const PARTS: &str = "PS3.18 §8.7.3; RFC 2046 §5.1.1; RFC 2387";
    vec![
        check!(
            "frames.single",
            Frames,
            Standard,
            "one frame answers 200 with one part",
            "PS3.18 §10.4",
            frames::single
        ),
        check!(
            "frames.order",
            Frames,
            Product,
            "a non-sorted frame list answers parts in request order",
            "docs/clients.md, \"Frames on the wire\"",
            frames::order
        ),
        check!(
            "frames.last",
            Frames,
            Standard,
            "the last frame answers 200",
            FRAMES,
            frames::last
        ),
        check!(
            "frames.zero",
            Frames,
            Standard,
            "frame 0 answers 400",
            FRAMES,
            frames::zero
        ),
        check!(
            "frames.negative",
            Frames,
            Standard,
            "a negative frame number answers 400",
            FRAMES,
            frames::negative
        ),
        check!(
            "frames.non-numeric",
            Frames,
            Standard,
            "a non-numeric frame number answers 400",
            FRAMES,
            frames::non_numeric
        ),
        check!(
            "frames.duplicate",
            Frames,
            Standard,
            "a frame listed twice answers 400",
            FRAMES,
            frames::duplicate
        ),
        check!(
            "frames.beyond-end",
            Frames,
            Standard,
            "a frame past NumberOfFrames answers 400",
            FRAMES,
            frames::beyond_end
        ),
        check!(
            "multipart.boundary",
            Multipart,
            Standard,
            "the boundary is in the header and not in any payload",
            PARTS,
            multipart_syntax::boundary
        ),
        check!(
            "multipart.start",
            Multipart,
            Product,
            "the body begins with --boundary",
            "docs/clients.md, \"Frames on the wire\" (Cornerstone3D reads the first line)",
            multipart_syntax::start
        ),
        check!(
            "multipart.crlf",
            Multipart,
            Standard,
            "delimiters and part headers use CRLF",
            PARTS,
            multipart_syntax::crlf
        ),
        check!(
            "multipart.close",
            Multipart,
            Standard,
            "the body ends with the close delimiter --boundary--",
            PARTS,
            multipart_syntax::close
        ),
        check!(
            "multipart.part-type",
            Multipart,
            Standard,
            "each part has Content-Type: <type>; transfer-syntax=<UID>",
            "PS3.18 §8.7.3.5, §8.7.8.2; docs/clients.md (Cornerstone3D matches `Content-Type:` exactly)",
            multipart_syntax::part_type
        ),
        check!(
            "multipart.part-location",
            Multipart,
            Product,
            "each part has a Content-Location",
            "docs/clients.md, \"Frames on the wire\"",
            multipart_syntax::part_location
        ),
        check!(
            "negotiation.quoted",
            Negotiation,
            Standard,
            "OHIF's default Accept (quoted parameters)",
            "PS3.18 §8.7.3.5; docs/clients.md, \"What real clients send\"",
            negotiation::quoted
        ),
        check!(
            "negotiation.unquoted",
            Negotiation,
            Standard,
            "unquoted parameters (OHIF omitQuotationForMultipartRequest, Cornerstone3D)",
            "PS3.18 §8.7.3.5 (quoted and unquoted values are equivalent)",
            negotiation::unquoted
        ),
        check!(
            "negotiation.any-syntax",
            Negotiation,
            Standard,
            "transfer-syntax=* answers the stored syntax",
            "PS3.18 §8.7.3.7, §8.7.8.2",
            negotiation::any_syntax
        ),
        check!(
            "negotiation.explicit",
            Negotiation,
            Standard,
            "an explicit supported syntax answers that syntax",
            "PS3.18 §8.7.8.2",
            negotiation::explicit
        ),
        check!(
            "negotiation.unsupported",
            Negotiation,
            Standard,
            "an unsupported media type and syntax answers 406",
            "PS3.18 §8.7.5, §9.4.2.4",
            negotiation::unsupported
        ),
        check!(
            "negotiation.accept-query",
            Negotiation,
            Standard,
            "?accept= works without an Accept header",
            "PS3.18 §8.3.3.1",
            negotiation::accept_query
        ),
        check!(
            "negotiation.accept-list",
            Negotiation,
            Standard,
            "a comma-joined Accept list selects the multipart entry",
            "PS3.18 §8.7.5; docs/clients.md (older OHIF builds)",
            negotiation::accept_list
        ),
        check!(
            "negotiation.ohif-requested-syntax",
            Negotiation,
            Product,
            "OHIF's duplicate transfer-syntax parameter takes the first",
            "docs/clients.md, \"What real clients send\" (requestTransferSyntaxUID)",
            negotiation::ohif_requested
        ),
        check!(
            "negotiation.dicomweb-client",
            Negotiation,
            Standard,
            "dicomweb-client's Accept answers Explicit VR LE or 406",
            "PS3.18 §8.7.3 (default syntax); docs/clients.md",
            negotiation::dicomweb_client
        ),
        check!(
            "errors.malformed-uid",
            Errors,
            Standard,
            "malformed study, series and instance UIDs answer 400",
            "PS3.18 §10.4 (400 Bad Request); PS3.5 §9.1 (UID syntax)",
            errors::malformed_uid
        ),
        check!(
            "errors.unknown-study",
            Errors,
            Standard,
            "an unknown study answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_study
        ),
        check!(
            "errors.unknown-series",
            Errors,
            Standard,
            "an unknown series answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_series
        ),
        check!(
            "errors.unknown-instance",
            Errors,
            Standard,
            "an unknown instance answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_instance
        ),
        check!(
            "errors.short-body",
            Errors,
            Product,
            "error bodies are short text without internals",
            "docs/dicomweb.md, \"Errors\"; PS3.18 §8.5 (may include a payload describing the error)",
            errors::short_body
        ),
        check!(
            "errors.cors",
            Errors,
            Product,
            "error answers carry CORS headers",
            "docs/clients.md, \"What real clients send\" (CORS)",
            errors::cors
        ),
        check!(
            "cors.preflight",
            Cors,
            Product,
            "a preflight from an allowed origin allows Authorization and Accept",
            "Fetch Standard §3.2 (CORS protocol); docs/clients.md",
            cors::preflight
        ),
        check!(
            "cors.expose",
            Cors,
            Product,
            "frame answers expose Content-Length, Content-Range and ETag",
            "Fetch Standard §3.2.3; docs/clients.md (Cornerstone3D reads Content-Range)",
            cors::expose
        ),
        check!(
            "auth.no-token",
            Auth,
            Standard,
            "no token answers 401 with WWW-Authenticate: Bearer",
            "RFC 6750 §3",
            auth::no_token
        ),
        check!(
            "auth.bad-token",
            Auth,
            Standard,
            "a malformed token answers 401",
            "RFC 6750 §3.1 (invalid_token)",
            auth::bad_token
        ),
        check!(
            "auth.tampered-token",
            Auth,
            Standard,
            "the token with its signature altered answers 401",
            "RFC 7515 §5.2 (JWS validation)",
            auth::tampered_token
        ),
        check!(
            "auth.with-token",
            Auth,
            Standard,
            "the token answers 200",
            "RFC 6750 §2.1",
            auth::with_token
        ),
        check!(
            "auth.sigv4-unsigned",
            Auth,
            Standard,
            "with --sigv4, a request without a signature is refused",
            "AWS General Reference: Signature Version 4 (unsigned requests are refused)",
            auth::sigv4_unsigned
        ),
        check!(
            "auth.sigv4-tampered",
            Auth,
            Standard,
            "with --sigv4, a request whose signature was altered is refused",
            "AWS General Reference: Signature Version 4 (SignatureDoesNotMatch)",
            auth::sigv4_tampered
        ),
        check!(
            "auth.sigv4-signed",
            Auth,
            Standard,
            "with --sigv4, the signed request answers 200",
            "AWS General Reference: Signature Version 4 (Authorization header)",
            auth::sigv4_signed
        ),
        check!(
            "caching.etag",
            Caching,
            Product,
            "frame answers carry an ETag",
            "RFC 9110 §8.8.3; docs/architecture.md, \"Caching\"",
            caching::etag
        ),
        check!(
            "caching.cache-control",
            Caching,
            Product,
            "frame answers are publicly cacheable",
            "RFC 9111 §5.2.2; docs/architecture.md, \"Caching\" (frames are immutable)",
            caching::cache_control
        ),
        check!(
            "caching.if-none-match",
            Caching,
            Standard,
            "If-None-Match with the ETag answers 304",
            "RFC 9110 §13.1.2",
            caching::if_none_match
        ),
        check!(
            "native.post",
            Native,
            Product,
            "POST …/getImageFrame answers the DICOMweb frame's bytes",
            "AWS HealthImaging API: GetImageFrame; docs/architecture.md, \"URL space\"",
            native::post
        ),
        check!(
            "native.get",
            Native,
            Product,
            "GET …/getImageFrame?imageFrameId= answers the same bytes",
            "docs/architecture.md, \"URL space\" (native, cacheable)",
            native::get
        ),
        check!(
            "decoded.length",
            Decoded,
            Standard,
            "an uncompressed frame is Rows × Columns × SamplesPerPixel × BitsAllocated/8 bytes",
            "PS3.5 §8.1.1; PS3.18 §8.7.3 (Explicit VR LE payload)",
            decoded::length
        ),
        check!(
            "decoded.default",
            Decoded,
            Standard,
            "application/octet-stream without a transfer syntax answers Explicit VR Little Endian",
            "PS3.18 §8.7.3.5.2 (the default syntax of application/octet-stream), §8.7.3.3.2",
            decoded::default_syntax
        ),
        check!(
            "retrieve.instance",
            Retrieve,
            Standard,
            "an instance as application/dicom is a Part 10 file in Explicit VR Little Endian",
            "PS3.18 §10.4.1.1.1, §8.7.3.5.2 (the default syntax of application/dicom); PS3.10 §7",
            retrieve::instance_default
        ),
        check!(
            "retrieve.explicit",
            Retrieve,
            Standard,
            "the stored syntax asked for by name answers a Part 10 file in that syntax",
            "PS3.18 §8.7.3.5.2 (the transfer-syntax parameter); PS3.10 §7",
            retrieve::instance_explicit
        ),
        check!(
            "retrieve.any-syntax",
            Retrieve,
            Standard,
            "transfer-syntax=* answers a Part 10 file",
            "PS3.18 §8.7.3.5.2 (\"*\": any syntax); PS3.10 §7",
            retrieve::instance_any
        ),
        check!(
            "retrieve.series",
            Retrieve,
            Standard,
            "a series is one Part 10 file per instance, in the requested (default) syntax",
            "PS3.18 §10.4.1.1.1, §8.7.3.5.2",
            retrieve::series
        ),
        check!(
            "retrieve.unavailable",
            Retrieve,
            Standard,
            "a syntax the server cannot produce is 406",
            "PS3.18 §8.7.3.5 (406 when no acceptable representation)",
            retrieve::unavailable
        ),
        check!(
            "qido.studies",
            Qido,
            Standard,
            "{base}/studies answers application/dicom+json: valid DICOM JSON with StudyInstanceUIDs",
            "PS3.18 §10.6 (Search), §8.7.3.2 (application/dicom+json); PS3.18 Annex F",
            qido::studies
        ),
        check!(
            "qido.study-attributes",
            Qido,
            Standard,
            "a study's record carries the default study attributes with the instances' values",
            "PS3.18 Table 10.6.3-3",
            qido::study_attributes
        ),
        check!(
            "qido.series-attributes",
            Qido,
            Standard,
            "a series' record carries the default series attributes with the instances' values",
            "PS3.18 Table 10.6.3-4",
            qido::series_attributes
        ),
        check!(
            "qido.instance-attributes",
            Qido,
            Standard,
            "an instance's record carries the default instance attributes with its metadata's values",
            "PS3.18 Table 10.6.3-5",
            qido::instance_attributes
        ),
        check!(
            "qido.counts",
            Qido,
            Standard,
            "the study and series counts agree with the series and instances found",
            "PS3.18 Tables 10.6.3-3, 10.6.3-4 (Number of Study/Series Related Series/Instances)",
            qido::counts
        ),
        check!(
            "qido.uid-match",
            Qido,
            Standard,
            "StudyInstanceUID and SeriesInstanceUID match exactly one",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.1 (single value matching)",
            qido::uid_match
        ),
        check!(
            "qido.uid-list",
            Qido,
            Standard,
            "a comma-separated UID list matches each listed study",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.2 (list of UID matching)",
            qido::uid_list
        ),
        check!(
            "qido.exact",
            Qido,
            Standard,
            "PatientID matches the studies with that ID, and only those",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.1 (single value matching)",
            qido::exact
        ),
        check!(
            "qido.wildcard",
            Qido,
            Standard,
            "PatientName with * and ? matches as a wildcard",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.4 (wild card matching)",
            qido::wildcard
        ),
        check!(
            "qido.date-range",
            Qido,
            Standard,
            "StudyDate ranges (closed, open at either end) match, and a range outside does not",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.5 (range matching)",
            qido::date_range
        ),
        check!(
            "qido.universal",
            Qido,
            Standard,
            "an empty value matches any value",
            "PS3.18 §8.3.4; PS3.4 §C.2.2.2.3 (universal matching)",
            qido::universal
        ),
        check!(
            "qido.includefield",
            Qido,
            Standard,
            "includefield={tag} adds that attribute",
            "PS3.18 §8.3.4 (includefield)",
            qido::includefield_tag
        ),
        check!(
            "qido.includefield-all",
            Qido,
            Standard,
            "includefield=all adds the instance's other attributes",
            "PS3.18 §8.3.4 (includefield=all)",
            qido::includefield_all
        ),
        check!(
            "qido.paging",
            Qido,
            Standard,
            "limit and offset page through the studies without repeats",
            "PS3.18 §8.3.4 (limit, offset)",
            qido::paging
        ),
        check!(
            "qido.fuzzymatching",
            Qido,
            Standard,
            "fuzzymatching=true is accepted, and an exact name still matches",
            "PS3.18 §8.3.4 (fuzzymatching)",
            qido::fuzzymatching
        ),
        check!(
            "qido.no-match",
            Qido,
            Standard,
            "a search that matches nothing answers 200 with [] (or 204)",
            "PS3.18 §8.3.4.4.1 (204); DICOM CP-2473 (200 with an empty array)",
            qido::no_match
        ),
        check!(
            "qido.bad-parameter",
            Qido,
            Standard,
            "a malformed limit, a malformed date and an unknown attribute answer 400",
            "PS3.18 §8.3.4, §10.6.1 (400 Bad Request)",
            qido::bad_parameter
        ),
        check!(
            "qido.levels",
            Qido,
            Standard,
            "{base}/series, {base}/instances and {base}/studies/{study}/instances search across levels",
            "PS3.18 §10.6.1 (Table 10.6.1-2, the Search resources)",
            qido::levels
        ),
        check!(
            "metadata.instance",
            Metadata,
            Standard,
            "an instance's metadata is one valid DICOM JSON object of that instance",
            "PS3.18 §10.4.1.1.2 (metadata), Annex F (DICOM JSON: keys, VRs, value types, PN objects, InlineBinary and BulkDataURI)",
            metadata::instance
        ),
        check!(
            "metadata.series",
            Metadata,
            Standard,
            "a series' metadata holds each of its instances once, as QIDO-RS counts them, equal to their instance metadata",
            "PS3.18 §10.4.1.1.2, Table 10.6.3-4",
            metadata::series
        ),
        check!(
            "metadata.study",
            Metadata,
            Standard,
            "a study's metadata covers QIDO-RS's series of the study and its instance count",
            "PS3.18 §10.4.1.1.2, Table 10.6.3-3",
            metadata::study
        ),
        check!(
            "metadata.qido-consistent",
            Metadata,
            Standard,
            "QIDO-RS and metadata give an instance the same values",
            "PS3.18 §10.4.1.1.2, §10.6.3 (both describe the same stored instance)",
            metadata::qido_consistent
        ),
        check!(
            "metadata.gzip",
            Metadata,
            Product,
            "Accept-Encoding: gzip compresses metadata, and only then",
            "RFC 9110 §8.4, §12.5.3",
            metadata::gzip
        ),
        check!(
            "metadata.validators",
            Metadata,
            Product,
            "metadata carries an ETag and If-None-Match answers 304",
            "RFC 9110 §8.8.3, §13.1.2; docs/architecture.md, \"Caching\"",
            metadata::validators
        ),
        check!(
            "metadata.unknown",
            Metadata,
            Standard,
            "the metadata of an unknown instance answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            metadata::unknown
        ),
        check!(
            "bulkdata.uris",
            Bulkdata,
            Standard,
            "every BulkDataURI in the instance's metadata answers its bulk data",
            "PS3.18 §F.2.7 (BulkDataURI), §10.4.1.1.5 (bulk data)",
            bulkdata::uris_resolve
        ),
        check!(
            "bulkdata.pixel-data",
            Bulkdata,
            Standard,
            "Pixel Data's bulk data holds the instance's frames, byte for byte",
            "PS3.18 §10.4.1.1.5, §10.4 (frames); PS3.5 §A.4 (encapsulated pixel data: fragments per frame)",
            bulkdata::pixel_data
        ),
        check!(
            "range.first-bytes",
            Range,
            Standard,
            "Range: bytes=0-99 of a single-part frame answers 206 with those bytes",
            "RFC 9110 §14.2, §14.4, §15.3.7 (where the answer says Accept-Ranges: bytes)",
            range::first_bytes
        ),
        check!(
            "range.suffix",
            Range,
            Standard,
            "Range: bytes=-64 answers the last 64 bytes",
            "RFC 9110 §14.1.2 (suffix range)",
            range::suffix
        ),
        check!(
            "range.unsatisfiable",
            Range,
            Standard,
            "a range starting past the end answers 416 with Content-Range: bytes */length",
            "RFC 9110 §14.4, §15.5.17",
            range::unsatisfiable
        ),
        check!(
            "range.if-range",
            Range,
            Standard,
            "If-Range with the ETag answers the range; with another entity tag the whole frame",
            "RFC 9110 §13.1.5",
            range::if_range
        ),
        check!(
            "rendered.jpeg",
            Rendered,
            Standard,
            "the rendered instance as image/jpeg has the frame's size",
            "PS3.18 §10.4.1.1.3 (rendered resources), §8.7.4 (rendered media types)",
            rendered::jpeg
        ),
        check!(
            "rendered.png",
            Rendered,
            Standard,
            "the rendered instance as image/png has the frame's size",
            "PS3.18 §10.4.1.1.3, §8.7.4",
            rendered::png
        ),
        check!(
            "rendered.viewport",
            Rendered,
            Standard,
            "viewport=64,64 fits the image into 64x64 keeping its aspect ratio",
            "PS3.18 §8.3.5.1.3 (viewport)",
            rendered::viewport
        ),
        check!(
            "rendered.window",
            Rendered,
            Standard,
            "the window parameter changes the rendered image",
            "PS3.18 §8.3.5.1.4 (window); PS3.3 C.11.2.1.2 (VOI LUT function)",
            rendered::window
        ),
        check!(
            "rendered.bad-parameter",
            Rendered,
            Standard,
            "quality=0 answers 400",
            "PS3.18 §8.3.5.1.2 (quality is 1 to 100), §10.4 (400 Bad Request)",
            rendered::bad_parameter
        ),
        check!(
            "rendered.thumbnail",
            Rendered,
            Standard,
            "the instance's thumbnail is an image/jpeg image",
            "PS3.18 §10.4.1.1.4 (thumbnail resources)",
            rendered::thumbnail
        ),
    ]
}

/// A check's identity and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub group: Group,
    pub basis: Basis,
    pub title: &'static str,
    pub cite: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Runs the checks of `groups` (all when empty) in order.
pub async fn run(ctx: &Ctx, groups: &[Group]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for check in all() {
        if !groups.is_empty() && !groups.contains(&check.group) {
            continue;
        }
        let outcome = (check.run)(ctx).await;
        findings.push(Finding {
            id: check.id,
            group: check.group,
            basis: check.basis,
            title: check.title,
            cite: check.cite,
            outcome,
        });
    }
    findings
}

/// The media type of QIDO-RS and metadata answers (PS3.18 §8.7.3.2).
pub const DICOM_JSON: &str = "application/dicom+json";

/// What checks share: the session, the target, and the answers already fetched.
pub struct Ctx {
    pub session: Session,
    pub target: Target,
    memo: Mutex<HashMap<(String, String), Exchange>>,
}

impl Ctx {
    pub fn new(session: Session, target: Target) -> Self {
        Self {
            session,
            target,
            memo: Mutex::new(HashMap::new()),
        }
    }

    pub async fn send(&self, req: Request) -> Exchange {
        self.session.send(req).await
    }

    /// `GET url` with `accept`, fetched once per run.
    pub async fn get(&self, url: String, accept: &str) -> Exchange {
        let key = (url, accept.to_owned());
        if let Some(ex) = self.memo.lock().await.get(&key) {
            return ex.clone();
        }
        let ex = self.send(Request::get(&key.0).accept(accept)).await;
        self.memo.lock().await.insert(key, ex.clone());
        ex
    }

    /// `GET …/frames/{list}` with `accept`, fetched once per run.
    pub async fn frames(&self, list: &str, accept: &str) -> Exchange {
        self.get(self.target.frames_url(list), accept).await
    }

    /// `GET {base}{path}` as DICOM JSON (QIDO-RS or metadata), fetched once per run.
    pub async fn json(&self, path: &str) -> Exchange {
        self.get(format!("{}{path}", self.target.base_url), DICOM_JSON)
            .await
    }

    /// The target instance's WADO-RS metadata object, which the QIDO-RS and metadata checks
    /// compare answers with; `Err` is the outcome of a check that needs it.
    pub async fn instance_metadata(
        &self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Outcome> {
        let url = format!("{}/metadata", self.target.instance_url());
        let ex = self.get(url, DICOM_JSON).await;
        match crate::dicom_json::objects(&ex) {
            Ok(mut objects) if objects.len() == 1 => Ok(objects.remove(0)),
            Ok(objects) => Err(Outcome::judge(
                false,
                ex.sent.clone(),
                "the instance's metadata: one DICOM JSON object",
                format!("{} objects", objects.len()),
            )),
            Err(got) => Err(Outcome::not_applicable(format!(
                "the instance's WADO-RS metadata is not available ({got})"
            ))),
        }
    }

    /// The frame list the multipart checks read: two frames when the instance has them.
    pub fn sample_list(&self) -> &'static str {
        if self.target.frames.unwrap_or(1) >= 2 {
            "1,2"
        } else {
            "1"
        }
    }
}

/// Reads a 200 multipart answer with `parts` non-empty parts, or says what was wrong.
pub fn frames_answer(ex: &Exchange, parts: usize) -> Result<Multipart, String> {
    if ex.status != 200 {
        return Err(ex.summary());
    }
    let ct = ex.header("content-type").unwrap_or_default();
    let m = multipart::parse(ct, &ex.body).map_err(|e| format!("{}: {e}", ex.summary()))?;
    if m.parts.len() != parts {
        return Err(format!(
            "{}: {} parts, expected {parts}",
            ex.summary(),
            m.parts.len()
        ));
    }
    if let Some(i) = m.parts.iter().position(|p| p.payload.is_empty()) {
        return Err(format!("{}: part {} is empty", ex.summary(), i + 1));
    }
    Ok(m)
}

/// Describes a multipart answer's parts: media type, syntax and size of each.
pub fn describe(ex: &Exchange, m: &Multipart) -> String {
    let parts: Vec<String> = m
        .parts
        .iter()
        .map(|p| {
            format!(
                "{} {} ({} bytes)",
                p.media_type().unwrap_or_else(|| "no type".into()),
                p.transfer_syntax()
                    .unwrap_or_else(|| "no transfer-syntax".into()),
                p.payload.len()
            )
        })
        .collect();
    format!("{}, parts: [{}]", ex.status, parts.join(", "))
}

/// Judges answers that must each be exactly `status`.
pub fn expect_each_status(answers: &[Exchange], status: u16) -> Outcome {
    let sent: Vec<&str> = answers.iter().map(|ex| ex.sent.as_str()).collect();
    let got: Vec<String> = answers.iter().map(Exchange::summary).collect();
    Outcome::judge(
        answers.iter().all(|ex| ex.status == status),
        sent.join("\n"),
        format!("{status} for each"),
        got.join("\n"),
    )
}

/// A syntactically valid UID (2.25 form, PS3.5 §B.2) that no server holds.
pub const UNKNOWN_UID: &str = "2.25.329800735698586629295641978511506172918";

/// Judges an answer that must be exactly `status`.
pub fn expect_status(ex: &Exchange, status: u16) -> Outcome {
    Outcome::judge(
        ex.status == status,
        ex.sent.clone(),
        status.to_string(),
        ex.summary(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user of the suite has the repository, so a check may cite the standards and the
    /// repository's own documents, and nothing else.
    #[test]
    fn checks_cite_only_standards_and_files_in_the_repository() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for c in all() {
            for word in c
                .cite
                .split(|ch: char| ch.is_whitespace() || ",;()\"".contains(ch))
            {
                let word = word.trim_end_matches(':');
                if word.ends_with(".md") || word.starts_with("docs/") {
                    assert!(root.join(word).is_file(), "{}: cites {word}", c.id);
                }
                if word == "README" {
                    assert!(root.join("README.md").is_file());
                }
                assert!(
                    !word.contains("REFERENCE") && !word.contains("DESIGN"),
                    "{}: cites {word}",
                    c.id
                );
            }
            let cites_standard = ["PS3.", "RFC ", "Fetch Standard", "AWS ", "CP-"]
                .iter()
                .any(|s| c.cite.contains(s));
            let cites_repository = c.cite.contains("docs/") || c.cite.contains("README");
            assert!(cites_standard || cites_repository, "{}: {}", c.id, c.cite);
        }
    }

    #[test]
    fn identifiers_are_unique_and_name_their_group() {
        let checks = all();
        let mut ids: Vec<_> = checks.iter().map(|c| c.id).collect();
        for c in &checks {
            assert!(c.id.starts_with(&format!("{}.", c.group)), "{}", c.id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), checks.len());
    }
}
