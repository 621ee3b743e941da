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
mod caching;
mod cors;
mod decoded;
mod errors;
mod frames;
mod multipart_syntax;
mod native;
mod negotiation;
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
}

impl Group {
    pub const ALL: [Group; 10] = [
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

/// One check: an identifier (`group.name`), what it tests, and where the rule comes from.
pub struct Check {
    pub id: &'static str,
    pub group: Group,
    pub title: &'static str,
    pub cite: &'static str,
    run: Run,
}

macro_rules! check {
    ($id:literal, $group:ident, $title:literal, $cite:expr, $f:path) => {{
        fn run(ctx: &Ctx) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
            Box::pin($f(ctx))
        }
        Check {
            id: $id,
            group: Group::$group,
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
            "one frame answers 200 with one part",
            "PS3.18 §10.4",
            frames::single
        ),
        check!(
            "frames.order",
            Frames,
            "a non-sorted frame list answers parts in request order",
            "docs/clients.md, \"Frames on the wire\"",
            frames::order
        ),
        check!(
            "frames.last",
            Frames,
            "the last frame answers 200",
            FRAMES,
            frames::last
        ),
        check!(
            "frames.zero",
            Frames,
            "frame 0 answers 400",
            FRAMES,
            frames::zero
        ),
        check!(
            "frames.negative",
            Frames,
            "a negative frame number answers 400",
            FRAMES,
            frames::negative
        ),
        check!(
            "frames.non-numeric",
            Frames,
            "a non-numeric frame number answers 400",
            FRAMES,
            frames::non_numeric
        ),
        check!(
            "frames.duplicate",
            Frames,
            "a frame listed twice answers 400",
            FRAMES,
            frames::duplicate
        ),
        check!(
            "frames.beyond-end",
            Frames,
            "a frame past NumberOfFrames answers 400",
            FRAMES,
            frames::beyond_end
        ),
        check!(
            "multipart.boundary",
            Multipart,
            "the boundary is in the header and not in any payload",
            PARTS,
            multipart_syntax::boundary
        ),
        check!(
            "multipart.start",
            Multipart,
            "the body begins with --boundary",
            "docs/clients.md, \"Frames on the wire\" (Cornerstone3D reads the first line)",
            multipart_syntax::start
        ),
        check!(
            "multipart.crlf",
            Multipart,
            "delimiters and part headers use CRLF",
            PARTS,
            multipart_syntax::crlf
        ),
        check!(
            "multipart.close",
            Multipart,
            "the body ends with the close delimiter --boundary--",
            PARTS,
            multipart_syntax::close
        ),
        check!(
            "multipart.part-type",
            Multipart,
            "each part has Content-Type: <type>; transfer-syntax=<UID>",
            "PS3.18 §8.7.3.5, §8.7.8.2; docs/clients.md (Cornerstone3D matches `Content-Type:` exactly)",
            multipart_syntax::part_type
        ),
        check!(
            "multipart.part-location",
            Multipart,
            "each part has a Content-Location",
            "docs/clients.md, \"Frames on the wire\"",
            multipart_syntax::part_location
        ),
        check!(
            "negotiation.quoted",
            Negotiation,
            "OHIF's default Accept (quoted parameters)",
            "PS3.18 §8.7.3.5; docs/clients.md, \"What real clients send\"",
            negotiation::quoted
        ),
        check!(
            "negotiation.unquoted",
            Negotiation,
            "unquoted parameters (OHIF omitQuotationForMultipartRequest, Cornerstone3D)",
            "PS3.18 §8.7.3.5 (quoted and unquoted values are equivalent)",
            negotiation::unquoted
        ),
        check!(
            "negotiation.any-syntax",
            Negotiation,
            "transfer-syntax=* answers the stored syntax",
            "PS3.18 §8.7.3.7, §8.7.8.2",
            negotiation::any_syntax
        ),
        check!(
            "negotiation.explicit",
            Negotiation,
            "an explicit supported syntax answers that syntax",
            "PS3.18 §8.7.8.2",
            negotiation::explicit
        ),
        check!(
            "negotiation.unsupported",
            Negotiation,
            "an unsupported media type and syntax answers 406",
            "PS3.18 §8.7.5, §9.4.2.4",
            negotiation::unsupported
        ),
        check!(
            "negotiation.accept-query",
            Negotiation,
            "?accept= works without an Accept header",
            "PS3.18 §8.3.3.1",
            negotiation::accept_query
        ),
        check!(
            "negotiation.accept-list",
            Negotiation,
            "a comma-joined Accept list selects the multipart entry",
            "PS3.18 §8.7.5; docs/clients.md (older OHIF builds)",
            negotiation::accept_list
        ),
        check!(
            "negotiation.ohif-requested-syntax",
            Negotiation,
            "OHIF's duplicate transfer-syntax parameter takes the first",
            "docs/clients.md, \"What real clients send\" (requestTransferSyntaxUID)",
            negotiation::ohif_requested
        ),
        check!(
            "negotiation.dicomweb-client",
            Negotiation,
            "dicomweb-client's Accept answers Explicit VR LE or 406",
            "PS3.18 §8.7.3 (default syntax); docs/clients.md",
            negotiation::dicomweb_client
        ),
        check!(
            "errors.malformed-uid",
            Errors,
            "malformed study, series and instance UIDs answer 400",
            "PS3.18 §10.4 (400 Bad Request); PS3.5 §9.1 (UID syntax)",
            errors::malformed_uid
        ),
        check!(
            "errors.unknown-study",
            Errors,
            "an unknown study answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_study
        ),
        check!(
            "errors.unknown-series",
            Errors,
            "an unknown series answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_series
        ),
        check!(
            "errors.unknown-instance",
            Errors,
            "an unknown instance answers 404",
            "PS3.18 §10.4 (404 Not Found)",
            errors::unknown_instance
        ),
        check!(
            "errors.short-body",
            Errors,
            "error bodies are short text without internals",
            "README: error answers; PS3.18 §8.5 (may include a payload describing the error)",
            errors::short_body
        ),
        check!(
            "errors.cors",
            Errors,
            "error answers carry CORS headers",
            "docs/clients.md, \"What real clients send\" (CORS)",
            errors::cors
        ),
        check!(
            "cors.preflight",
            Cors,
            "a preflight from an allowed origin allows Authorization and Accept",
            "Fetch Standard §3.2 (CORS protocol); docs/clients.md",
            cors::preflight
        ),
        check!(
            "cors.expose",
            Cors,
            "frame answers expose Content-Length, Content-Range and ETag",
            "Fetch Standard §3.2.3; docs/clients.md (Cornerstone3D reads Content-Range)",
            cors::expose
        ),
        check!(
            "auth.no-token",
            Auth,
            "no token answers 401 with WWW-Authenticate: Bearer",
            "RFC 6750 §3",
            auth::no_token
        ),
        check!(
            "auth.bad-token",
            Auth,
            "a malformed token answers 401",
            "RFC 6750 §3.1 (invalid_token)",
            auth::bad_token
        ),
        check!(
            "auth.tampered-token",
            Auth,
            "the token with its signature altered answers 401",
            "RFC 7515 §5.2 (JWS validation)",
            auth::tampered_token
        ),
        check!(
            "auth.with-token",
            Auth,
            "the token answers 200",
            "RFC 6750 §2.1",
            auth::with_token
        ),
        check!(
            "caching.etag",
            Caching,
            "frame answers carry an ETag",
            "RFC 9110 §8.8.3; docs/architecture.md, \"Caching\"",
            caching::etag
        ),
        check!(
            "caching.cache-control",
            Caching,
            "frame answers are publicly cacheable",
            "RFC 9111 §5.2.2; docs/architecture.md, \"Caching\" (frames are immutable)",
            caching::cache_control
        ),
        check!(
            "caching.if-none-match",
            Caching,
            "If-None-Match with the ETag answers 304",
            "RFC 9110 §13.1.2",
            caching::if_none_match
        ),
        check!(
            "native.post",
            Native,
            "POST …/getImageFrame answers the DICOMweb frame's bytes",
            "AWS HealthImaging API: GetImageFrame; docs/architecture.md, \"URL space\"",
            native::post
        ),
        check!(
            "native.get",
            Native,
            "GET …/getImageFrame?imageFrameId= answers the same bytes",
            "docs/architecture.md, \"URL space\" (native, cacheable)",
            native::get
        ),
        check!(
            "decoded.length",
            Decoded,
            "an uncompressed frame is Rows × Columns × SamplesPerPixel × BitsAllocated/8 bytes",
            "PS3.5 §8.1.1; PS3.18 §8.7.3 (Explicit VR LE payload)",
            decoded::length
        ),
        check!(
            "decoded.default",
            Decoded,
            "application/octet-stream without a transfer syntax answers Explicit VR Little Endian",
            "PS3.18 §8.7.3.5.2 (the default syntax of application/octet-stream), §8.7.3.3.2",
            decoded::default_syntax
        ),
        check!(
            "retrieve.instance",
            Retrieve,
            "an instance as application/dicom is a Part 10 file in Explicit VR Little Endian",
            "PS3.18 §10.4.1.1.1, §8.7.3.5.2 (the default syntax of application/dicom); PS3.10 §7",
            retrieve::instance_default
        ),
        check!(
            "retrieve.any-syntax",
            Retrieve,
            "transfer-syntax=* answers a Part 10 file",
            "PS3.18 §8.7.3.5.2 (\"*\": any syntax); PS3.10 §7",
            retrieve::instance_any
        ),
        check!(
            "retrieve.series",
            Retrieve,
            "a series is one Part 10 file per instance, in the requested (default) syntax",
            "PS3.18 §10.4.1.1.1, §8.7.3.5.2",
            retrieve::series
        ),
        check!(
            "retrieve.unavailable",
            Retrieve,
            "a syntax the server cannot produce is 406",
            "PS3.18 §8.7.3.5 (406 when no acceptable representation)",
            retrieve::unavailable
        ),
    ]
}

/// A check's identity and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub group: Group,
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
            title: check.title,
            cite: check.cite,
            outcome,
        });
    }
    findings
}

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

    /// `GET …/frames/{list}` with `accept`, fetched once per run.
    pub async fn frames(&self, list: &str, accept: &str) -> Exchange {
        let key = (list.to_owned(), accept.to_owned());
        if let Some(ex) = self.memo.lock().await.get(&key) {
            return ex.clone();
        }
        let ex = self
            .send(Request::get(self.target.frames_url(list)).accept(accept))
            .await;
        self.memo.lock().await.insert(key, ex.clone());
        ex
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

/// Judges an answer that must be exactly `status`.
pub fn expect_status(ex: &Exchange, status: u16) -> Outcome {
    Outcome::judge(
        ex.status == status,
        ex.sent.clone(),
        status.to_string(),
        ex.summary(),
    )
}
