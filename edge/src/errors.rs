//! Everything the edge answers with an error, and the one table that maps it to HTTP.
//!
//! Bodies are one short plain-text line saying what was wrong. Upstream messages are logged,
//! never relayed: AHI's texts can name accounts, roles and ARNs. Error responses are not
//! cached, except 404 for a few seconds (DESIGN.md, caching rules), so a burst of requests
//! for a missing study does not reach AHI each time.

use std::sync::Arc;

use axum::body::Body;
use dicomweb::accept::MalformedAccept;
use dicomweb::{InvalidFrameList, RouteError};
use healthimaging::ErrorKind;
use healthimaging::client::ClientError;
use http::{HeaderValue, Response, StatusCode, header};

/// Seconds a client should wait after AHI throttled us (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EdgeError {
    /// The path, method or a query parameter is not one the edge serves.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A frame number beyond the instance's frames.
    #[error(transparent)]
    Frames(#[from] InvalidFrameList),
    #[error(transparent)]
    MalformedAccept(#[from] MalformedAccept),
    /// A QIDO-RS parameter that names no attribute or has a malformed value.
    #[error(transparent)]
    Query(#[from] dicomweb::qido::QueryError),
    /// Nothing the client accepts can be served; `available` is an Accept value that works.
    #[error("the requested media type or transfer syntax is not available; available: {available}")]
    NotAcceptable { available: String },
    /// The study, series, instance or image set does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A route the edge knows but this deployment does not serve yet.
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// AHI failed or refused.
    #[error("{0}")]
    Upstream(Arc<ClientError>),
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

/// How one error is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorAnswer {
    pub status: StatusCode,
    /// The response body (one line).
    pub message: String,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u32>,
    /// `Allow`, for 405.
    pub allow: Option<&'static str>,
}

impl EdgeError {
    /// The mapping table.
    pub fn answer(&self) -> ErrorAnswer {
        use StatusCode as S;
        let plain = |status, message: String| ErrorAnswer {
            status,
            message,
            retry_after: None,
            allow: None,
        };
        match self {
            EdgeError::Route(RouteError::NotFound) => plain(S::NOT_FOUND, self.to_string()),
            EdgeError::Route(RouteError::MethodNotAllowed { allow }) => ErrorAnswer {
                allow: Some(allow),
                ..plain(S::METHOD_NOT_ALLOWED, self.to_string())
            },
            EdgeError::Route(RouteError::Invalid { .. })
            | EdgeError::Frames(_)
            | EdgeError::MalformedAccept(_)
            | EdgeError::Query(_) => plain(S::BAD_REQUEST, self.to_string()),
            EdgeError::NotAcceptable { .. } => plain(S::NOT_ACCEPTABLE, self.to_string()),
            EdgeError::NotFound(_) => plain(S::NOT_FOUND, self.to_string()),
            EdgeError::NotImplemented(_) => plain(S::NOT_IMPLEMENTED, self.to_string()),
            EdgeError::Upstream(e) => upstream_answer(e),
        }
    }

    /// The response: status, one-line body, and the headers the table gives. CORS headers
    /// are added by the shell's viewer-response phase, as for every other response.
    pub fn into_response(self) -> Response<Body> {
        let a = self.answer();
        if a.status.is_server_error() {
            tracing::warn!(status = a.status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = a.status.as_u16(), error = %self, "request refused");
        }
        let mut r = Response::new(Body::from(format!("{}\n", a.message)));
        *r.status_mut() = a.status;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if a.status == StatusCode::NOT_FOUND {
                "public, max-age=5"
            } else {
                "no-store"
            }),
        );
        if let Some(s) = a.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(allow) = a.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        r
    }
}

fn upstream_answer(e: &ClientError) -> ErrorAnswer {
    use StatusCode as S;
    let (status, message) = match e {
        ClientError::Service(err) => match err.kind {
            ErrorKind::ResourceNotFound => (S::NOT_FOUND, "HealthImaging has no such resource"),
            ErrorKind::Validation => (S::BAD_REQUEST, "HealthImaging rejected the request"),
            ErrorKind::AccessDenied => (
                S::FORBIDDEN,
                "HealthImaging denied the edge access to this resource",
            ),
            ErrorKind::Throttling | ErrorKind::ServiceQuotaExceeded => (
                S::SERVICE_UNAVAILABLE,
                "HealthImaging is throttling requests; retry shortly",
            ),
            ErrorKind::Conflict => (
                S::SERVICE_UNAVAILABLE,
                "the image set is being changed in HealthImaging; retry shortly",
            ),
            ErrorKind::MissingAuthenticationToken
            | ErrorKind::InvalidSignature
            | ErrorKind::UnrecognizedClient
            | ErrorKind::IncompleteSignature => (
                S::BAD_GATEWAY,
                "HealthImaging rejected the edge's credentials",
            ),
            ErrorKind::InternalServer | ErrorKind::UnknownOperation => {
                (S::BAD_GATEWAY, "HealthImaging failed")
            }
        },
        ClientError::Timeout => (S::GATEWAY_TIMEOUT, "HealthImaging did not answer in time"),
        ClientError::Unreachable(_) => (S::BAD_GATEWAY, "HealthImaging is unreachable"),
        ClientError::InvalidResponse(_) => {
            (S::BAD_GATEWAY, "HealthImaging sent an unexpected response")
        }
    };
    ErrorAnswer {
        status,
        message: message.to_owned(),
        retry_after: (status == S::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECONDS),
        allow: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthimaging::AhiError;

    fn upstream(kind: ErrorKind) -> ErrorAnswer {
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
            let a = upstream(kind);
            assert_eq!(a.status.as_u16(), status, "{kind:?}");
            assert!(!a.message.contains("arn:aws"), "{kind:?}: {}", a.message);
            assert_eq!(a.retry_after.is_some(), status == 503, "{kind:?}");
        }
        assert_eq!(
            EdgeError::from(ClientError::Timeout).answer().status,
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            EdgeError::from(ClientError::Unreachable("connection refused".into()))
                .answer()
                .status,
            StatusCode::BAD_GATEWAY
        );
    }

    #[test]
    fn request_errors_are_4xx_with_the_reason() {
        let a = EdgeError::Frames(InvalidFrameList::OutOfRange {
            requested: 9,
            available: 8,
        })
        .answer();
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            a.message,
            "frame 9 does not exist: the instance has 8 frame(s)"
        );
        let a = EdgeError::Route(RouteError::MethodNotAllowed { allow: "GET, HEAD" }).answer();
        assert_eq!(
            (a.status, a.allow),
            (StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD"))
        );
        let r = EdgeError::NotFound("study 1.2 not found".into()).into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=5");
        let r = EdgeError::from(ClientError::Service(AhiError::new(
            ErrorKind::Throttling,
            "",
        )))
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }
}
