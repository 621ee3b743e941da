//! Everything the product answers with an error, and the one table that maps it to HTTP:
//! status, headers and a one-line plain-text body. Every refusal comes from here, whoever
//! gives it: the authorizer and the signer (as CloudFront responses), the translator and the
//! local server (as HTTP responses), the Lambda@Edge wrappers.
//!
//! Upstream messages are logged by the shells, never relayed: HealthImaging's texts can name
//! accounts, roles and ARNs. Error responses are not cached (`no-store`), except 404 for a
//! few seconds, so a burst of requests for a missing study does not reach HealthImaging each
//! time (docs/architecture.md, "Caching").

use std::sync::Arc;

use dicomweb::InvalidFrameList;
use dicomweb::accept::{MalformedAccept, NegotiationError};
use dicomweb::query::QueryError;
use healthimaging::{ClientError, ErrorKind};

use crate::cloudfront;
use crate::routes::RouteError;

/// Seconds a client should wait after HealthImaging throttled us (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// `max-age` of a 404: long enough to absorb a burst, short enough that a study imported a
/// moment later is found.
pub const NOT_FOUND_MAX_AGE_SECONDS: u32 = 5;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EdgeError {
    /// The path, method or a path part is not one the edge serves.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A frame number beyond the instance's frames.
    #[error(transparent)]
    Frames(#[from] InvalidFrameList),
    #[error(transparent)]
    MalformedAccept(#[from] MalformedAccept),
    /// A query parameter with a malformed value, or one that names no attribute.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A request the edge cannot take as sent (a native POST body, a header); the reason.
    #[error("{0}")]
    BadRequest(String),
    /// A request body over the limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The request body did not arrive in time.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// Nothing the client accepts can be served; `available` is an Accept value that works.
    #[error("the requested media type or transfer syntax is not available; available: {available}")]
    NotAcceptable { available: String },
    /// No valid token (RFC 6750 §3.1); `token_sent` chooses the challenge.
    #[error("unauthorized")]
    Unauthorized { token_sent: bool },
    /// The datastore is not allowlisted.
    #[error("this datastore is not served here")]
    ForbiddenDatastore,
    /// An internal resource ([`crate::internal`]) without a valid internal signature.
    #[error("this resource is for the edge's own use")]
    InternalOnly,
    /// A CORS preflight from an origin that is not allowed.
    #[error("this origin is not allowed")]
    OriginNotAllowed,
    /// A path that reached a function that does not serve it (a misassociated behavior).
    #[error("not a signed route")]
    NotSignedRoute,
    /// The study, series, instance or image set does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A route the edge knows but this deployment does not serve.
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// The deployment is incomplete (a missing URL, credentials, a key); the reason is for the
    /// log and names no secret.
    #[error("{0}")]
    Misconfigured(&'static str),
    /// CloudFront handed an edge function something it cannot use.
    #[error("{0}")]
    BadEvent(&'static str),
    /// HealthImaging failed or refused.
    #[error("{0}")]
    Upstream(Arc<ClientError>),
    /// A stored frame could not be made into the representation asked for (a corrupt
    /// codestream, or a frame that is not what its instance says); the reason names the frame
    /// and syntax. 406: the request was sound and nothing upstream failed, but nothing the
    /// client accepts can be made of these stored bytes (they are still served as stored).
    /// Logged as a warning all the same, since the datastore holds a faulty object.
    #[error("{0}")]
    Undecodable(String),
    /// HealthImaging answered a frame that is not whole (cut short, or not the size its
    /// instance says); the reason names the frame. Never served or cached.
    #[error("HealthImaging sent an incomplete frame; {0}")]
    IncompleteFrame(String),
    /// A task of the edge's own stopped before it answered (a decoder or writer that
    /// panicked); names the task, the log holds the cause.
    #[error("{0} stopped unexpectedly")]
    Internal(&'static str),
    /// A whole answer over what one buffered Lambda response carries (the translator's
    /// `ranges` URL, which serves byte ranges); the limit in bytes.
    #[error(
        "the answer is larger than the {0} bytes a buffered answer carries; ask for it without Range"
    )]
    TooLargeToBuffer(usize),
}

impl From<ClientError> for EdgeError {
    fn from(e: ClientError) -> Self {
        EdgeError::Upstream(Arc::new(e))
    }
}

impl From<Arc<ClientError>> for EdgeError {
    fn from(e: Arc<ClientError>) -> Self {
        EdgeError::Upstream(e)
    }
}

impl From<NegotiationError> for EdgeError {
    fn from(e: NegotiationError) -> Self {
        match e {
            NegotiationError::Malformed(m) => EdgeError::MalformedAccept(m),
            NegotiationError::NotAcceptable { available } => EdgeError::NotAcceptable { available },
        }
    }
}

/// How one error is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAnswer {
    pub status: u16,
    /// The response body: one line, with its newline.
    pub body: String,
    /// Every header of the answer (`Content-Type` and `Cache-Control` included), in order.
    pub headers: Vec<(&'static str, String)>,
    /// Whether the log should warn (the edge, HealthImaging or the stored data failed)
    /// rather than note a refusal of the client's request.
    pub is_failure: bool,
}

impl ErrorAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The answer as a response generated by an edge function.
    pub fn to_cloudfront(&self) -> cloudfront::Response {
        let mut r = cloudfront::Response::text(self.status, &self.body);
        for (n, v) in &self.headers {
            cloudfront::set_header(&mut r.headers, n, v.clone());
        }
        r
    }
}

impl EdgeError {
    /// The table.
    pub fn answer(&self) -> ErrorAnswer {
        // Bodies can echo input (a path part, a parameter): never let a browser sniff them.
        let mut headers = vec![
            ("Content-Type", "text/plain; charset=utf-8".to_owned()),
            ("X-Content-Type-Options", "nosniff".to_owned()),
        ];
        let (status, message) = match self {
            EdgeError::Route(RouteError::NotFound) => (404, self.to_string()),
            EdgeError::Route(RouteError::MethodNotAllowed { allow }) => {
                headers.push(("Allow", (*allow).to_owned()));
                (405, self.to_string())
            }
            EdgeError::Route(RouteError::Invalid { .. })
            | EdgeError::Frames(_)
            | EdgeError::MalformedAccept(_)
            | EdgeError::Query(_)
            | EdgeError::BadRequest(_) => (400, self.to_string()),
            EdgeError::PayloadTooLarge => (413, self.to_string()),
            EdgeError::RequestTimeout => (408, self.to_string()),
            EdgeError::NotAcceptable { .. } => (406, self.to_string()),
            EdgeError::Unauthorized { token_sent } => {
                let challenge = if *token_sent {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                headers.push(("WWW-Authenticate", challenge.to_owned()));
                (401, self.to_string())
            }
            EdgeError::ForbiddenDatastore
            | EdgeError::InternalOnly
            | EdgeError::OriginNotAllowed
            | EdgeError::NotSignedRoute => (403, self.to_string()),
            EdgeError::NotFound(_) => (404, self.to_string()),
            EdgeError::NotImplemented(_) => (501, self.to_string()),
            EdgeError::Misconfigured(_) | EdgeError::Internal(_) => (500, self.to_string()),
            EdgeError::Undecodable(_) => (406, self.to_string()),
            EdgeError::BadEvent(_)
            | EdgeError::TooLargeToBuffer(_)
            | EdgeError::IncompleteFrame(_) => (502, self.to_string()),
            EdgeError::Upstream(e) => upstream(e),
        };
        headers.push((
            "Cache-Control",
            if status == 404 {
                format!("public, max-age={NOT_FOUND_MAX_AGE_SECONDS}")
            } else {
                "no-store".to_owned()
            },
        ));
        if status == 503 {
            headers.push(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
        }
        ErrorAnswer {
            status,
            body: format!("{message}\n"),
            headers,
            is_failure: status >= 500 || matches!(self, EdgeError::Undecodable(_)),
        }
    }
}

/// HealthImaging's failures: never its text, and never a 5xx of its own passed through as if
/// the edge had failed in the same way.
fn upstream(e: &ClientError) -> (u16, String) {
    let (status, message) = match e {
        ClientError::Service(err) => match err.kind {
            ErrorKind::ResourceNotFound => (404, "HealthImaging has no such resource"),
            ErrorKind::Validation => (400, "HealthImaging rejected the request"),
            ErrorKind::AccessDenied => {
                (403, "HealthImaging denied the edge access to this resource")
            }
            ErrorKind::Throttling | ErrorKind::ServiceQuotaExceeded => {
                (503, "HealthImaging is throttling requests; retry shortly")
            }
            ErrorKind::Conflict => (
                503,
                "the image set is being changed in HealthImaging; retry shortly",
            ),
            ErrorKind::MissingAuthenticationToken
            | ErrorKind::InvalidSignature
            | ErrorKind::UnrecognizedClient
            | ErrorKind::IncompleteSignature => {
                (502, "HealthImaging rejected the edge's credentials")
            }
            ErrorKind::InternalServer | ErrorKind::UnknownOperation => {
                (502, "HealthImaging failed")
            }
        },
        ClientError::Timeout => (504, "HealthImaging did not answer in time"),
        ClientError::Unreachable(_) => (502, "HealthImaging is unreachable"),
        ClientError::InvalidResponse(_) => (502, "HealthImaging sent an unexpected response"),
    };
    (status, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthimaging::AhiError;

    fn upstream_answer(kind: ErrorKind) -> ErrorAnswer {
        EdgeError::from(ClientError::Service(AhiError::new(
            kind,
            "User: arn:aws:sts::123456789012:assumed-role/x is not authorized",
        )))
        .answer()
    }

    #[test]
    fn upstream_errors_map_per_the_table_and_hide_upstream_text() {
        let rows = [
            (ErrorKind::ResourceNotFound, 404),
            (ErrorKind::Validation, 400),
            (ErrorKind::AccessDenied, 403),
            (ErrorKind::Throttling, 503),
            (ErrorKind::ServiceQuotaExceeded, 503),
            (ErrorKind::Conflict, 503),
            (ErrorKind::InvalidSignature, 502),
            (ErrorKind::UnrecognizedClient, 502),
            (ErrorKind::InternalServer, 502),
        ];
        for (kind, status) in rows {
            let a = upstream_answer(kind);
            assert_eq!(a.status, status, "{kind:?}");
            assert!(!a.body.contains("arn:aws"), "{kind:?}: {}", a.body);
            assert_eq!(a.header("Retry-After").is_some(), status == 503, "{kind:?}");
        }
        assert_eq!(EdgeError::from(ClientError::Timeout).answer().status, 504);
        assert_eq!(
            EdgeError::from(ClientError::Unreachable("connection refused".into()))
                .answer()
                .status,
            502
        );
    }

    #[test]
    fn request_errors_are_4xx_with_the_reason() {
        let a = EdgeError::Frames(InvalidFrameList::OutOfRange {
            requested: 9,
            available: 8,
        })
        .answer();
        assert_eq!(a.status, 400);
        assert_eq!(
            a.body,
            "frame 9 does not exist: the instance has 8 frame(s)\n"
        );
        let a = EdgeError::Route(RouteError::MethodNotAllowed { allow: "GET, HEAD" }).answer();
        assert_eq!((a.status, a.header("allow")), (405, Some("GET, HEAD")));
        let a = EdgeError::NotFound("study 1.2 not found".into()).answer();
        assert_eq!(a.header("Cache-Control"), Some("public, max-age=5"));
        let a = EdgeError::from(ClientError::Service(AhiError::new(
            ErrorKind::Throttling,
            "",
        )))
        .answer();
        assert_eq!(a.header("Retry-After"), Some("1"));
        assert_eq!(a.header("Cache-Control"), Some("no-store"));
    }

    #[test]
    fn refusals_of_the_edge_functions() {
        let a = EdgeError::Unauthorized { token_sent: true }.answer();
        assert_eq!(
            (a.status, a.header("www-authenticate"), a.body.as_str()),
            (
                401,
                Some("Bearer error=\"invalid_token\""),
                "unauthorized\n"
            )
        );
        let a = EdgeError::Unauthorized { token_sent: false }.answer();
        assert_eq!(a.header("WWW-Authenticate"), Some("Bearer"));
        assert_eq!(EdgeError::ForbiddenDatastore.answer().status, 403);
        assert_eq!(EdgeError::BadEvent("x").answer().status, 502);
        let a = EdgeError::Undecodable("x".into()).answer();
        assert_eq!((a.status, a.is_failure), (406, true));
        let a = EdgeError::Internal("the decoder").answer();
        assert_eq!(
            (a.status, a.body.as_str(), a.is_failure),
            (500, "the decoder stopped unexpectedly\n", true)
        );
        assert_eq!(EdgeError::Misconfigured("x").answer().status, 500);
        let cf = EdgeError::PayloadTooLarge.answer().to_cloudfront();
        assert_eq!(cf.status, "413");
        assert_eq!(cf.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(cf.header("cache-control"), Some("no-store"));
        assert_eq!(cf.header("x-content-type-options"), Some("nosniff"));
    }
}
