//! What the handlers' answers are assembled from: the response itself, the headers of
//! answers that a shared cache keeps and revalidates, and the streamed `multipart/related`
//! body whose later failure aborts the response (no closing delimiter, so neither a client
//! nor a cache takes it for complete).

use std::io;

use axum::body::Body;
use bytes::Bytes;
use edge::EdgeError;
use edge::http_rules::{ByteRange, byte_range};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use healthimaging::ClientError;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};

use crate::body::Buffers;

/// A response of `status` with `headers` and `body`.
pub fn respond(
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Body,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().extend(headers);
    r
}

/// A whole single-part answer of `body` with `headers`, or the part of it the request's
/// `Range` asks for (RFC 9110 §14): 206 with `Content-Range`, or 416 with `Content-Range:
/// bytes */len`. Every such answer says `Accept-Ranges: bytes`. The rule is
/// [`edge::http_rules::byte_range`]; the origin and the local edge cache (for a stored whole
/// answer) both answer with this. A 416 says `no-store`: a cache key holds no `Range`, so a
/// cache must not give it to the next request.
pub fn ranged(request: &HeaderMap, mut headers: HeaderMap, body: Vec<Bytes>) -> Response<Body> {
    let len: u64 = body.iter().map(|b| b.len() as u64).sum();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let range = byte_range(request, len, etag.as_deref());
    if let Some(v) = range
        .content_range(len)
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    let (status, body) = match range {
        ByteRange::Whole => (StatusCode::OK, Buffers::new(body)),
        ByteRange::Part { first, last } => {
            let joined = Bytes::from(body.concat());
            let part = joined.slice(first as usize..=last as usize);
            (StatusCode::PARTIAL_CONTENT, Buffers::new([part]))
        }
        ByteRange::Unsatisfiable => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            (StatusCode::RANGE_NOT_SATISFIABLE, Buffers::default())
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut r = Response::new(Body::new(body));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// Fits a collected answer into one buffered Lambda response of at most `max` body bytes
/// (the translator's `ranges` Function URL, `BUFFERED` mode, 6 MB per response including the
/// base64 encoding of the body). A part (206) longer than that is shortened to its first `max`
/// bytes, with `Content-Range` and `Content-Length` saying what was sent: RFC 9110 §14.4
/// lets a client (and CloudFront, which caches what it gets) take the rest with a later
/// range. A whole answer longer than that is refused with 502, never cut.
pub fn fit_buffered(
    head: &mut http::response::Parts,
    body: Bytes,
    max: usize,
) -> Result<Bytes, EdgeError> {
    if body.len() <= max {
        return Ok(body);
    }
    let range = (head.status == StatusCode::PARTIAL_CONTENT)
        .then(|| head.headers.get(header::CONTENT_RANGE)?.to_str().ok())
        .flatten()
        .and_then(|v| {
            let (span, total) = v.strip_prefix("bytes ")?.split_once('/')?;
            let first: u64 = span.split_once('-')?.0.parse().ok()?;
            Some((first, total.to_owned()))
        });
    let Some((first, total)) = range else {
        return Err(EdgeError::TooLargeToBuffer(max));
    };
    let last = first + max as u64 - 1;
    let content_range = HeaderValue::from_str(&format!("bytes {first}-{last}/{total}"))
        .map_err(|_| EdgeError::TooLargeToBuffer(max))?;
    head.headers.insert(header::CONTENT_RANGE, content_range);
    head.headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(max));
    Ok(body.slice(..max))
}

/// A header value from text the answer is built of (a media type with an upstream syntax
/// UID): 502 if it is not visible ASCII.
pub fn header_value(s: &str) -> Result<HeaderValue, EdgeError> {
    HeaderValue::from_str(s).map_err(|_| {
        EdgeError::from(ClientError::InvalidResponse(
            "a header value is not visible ASCII".into(),
        ))
    })
}

/// The headers of an answer that changes when its image set does: a strong `ETag`,
/// `Cache-Control: public, max-age` and `Vary: Accept` (shared by the 200 and its 304).
pub fn revalidated(etag: &str, max_age: u64) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age}"))
                .unwrap_or(HeaderValue::from_static("no-store")),
        ),
        (header::VARY, HeaderValue::from_static("Accept")),
    ];
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.push((header::ETAG, v));
    }
    headers
}

/// A multipart body: the first part (already built, so the status line could be chosen),
/// then each later part as it is ready, then the closing delimiter; an error in `rest`
/// ends the body there.
///
/// The body yields once after the first part, before it polls `rest`: an HTTP/1 server
/// writes the status line and what it has buffered when the body is not ready, whereas a
/// body error before that write closes the connection with nothing sent (a client sees an
/// empty reply, not the 200 and the truncated body that tell it what happened).
pub fn streamed_multipart(
    first: Vec<Bytes>,
    rest: impl Stream<Item = io::Result<Vec<Bytes>>> + Send + 'static,
    close: Bytes,
) -> Body {
    let flush = stream::once(tokio::task::yield_now()).filter_map(|()| async { None });
    let body = stream::iter([Ok(first)])
        .chain(flush)
        .chain(rest)
        .map_ok(|p| stream::iter(p.into_iter().map(Ok::<_, io::Error>)))
        .try_flatten()
        .chain(stream::once(async move { Ok(close) }));
    Body::from_stream(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, content_range: Option<&str>) -> http::response::Parts {
        let mut r = Response::builder().status(status);
        if let Some(c) = content_range {
            r = r.header(header::CONTENT_RANGE, c);
        }
        r.body(()).unwrap().into_parts().0
    }

    #[test]
    fn small_answers_pass_long_parts_are_shortened_long_wholes_refused() {
        let body = Bytes::from((0..100u8).collect::<Vec<_>>());
        let mut h = head(200, None);
        assert_eq!(fit_buffered(&mut h, body.clone(), 100).unwrap(), body);

        let mut h = head(206, Some("bytes 20-119/500"));
        let part = fit_buffered(&mut h, body.clone(), 30).unwrap();
        assert_eq!(&part[..], &body[..30]);
        assert_eq!(h.headers[header::CONTENT_RANGE], "bytes 20-49/500");
        assert_eq!(h.headers[header::CONTENT_LENGTH], "30");

        let mut h = head(200, None);
        let e = fit_buffered(&mut h, body.clone(), 30).unwrap_err();
        assert_eq!(e.answer().status, 502);
        let mut h = head(206, Some("garbage"));
        assert!(fit_buffered(&mut h, body, 30).is_err());
    }
}
