//! A response body made of buffers that are already in memory, of known total length: the
//! frame segments as the AHI client received them plus the multipart delimiters around them,
//! written out without first copying them into one buffer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Buffers sent one after the other; the length is exact, so servers send `Content-Length`.
#[derive(Debug, Default)]
pub struct Buffers {
    queue: VecDeque<Bytes>,
    remaining: u64,
}

impl Buffers {
    pub fn new(buffers: impl IntoIterator<Item = Bytes>) -> Self {
        let queue: VecDeque<Bytes> = buffers.into_iter().filter(|b| !b.is_empty()).collect();
        let remaining = queue.iter().map(|b| b.len() as u64).sum();
        Self { queue, remaining }
    }

    pub fn len(&self) -> u64 {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl Body for Buffers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.queue.pop_front().map(|b| {
            self.remaining -= b.len() as u64;
            Ok(Frame::data(b))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.queue.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn yields_the_buffers_in_order_with_an_exact_length() {
        let b = Buffers::new([
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(b.size_hint().exact(), Some(5));
        assert_eq!(&b.collect().await.unwrap().to_bytes()[..], b"abcde");
    }
}

/// How a watched body ended.
#[derive(Debug)]
pub enum Ending {
    /// Sent to its end.
    Complete,
    /// Its source failed part way (the client got a truncated answer).
    Failed(String),
    /// Dropped before its end: the client went away.
    Dropped,
}

/// A response body that tells `on_end` once, with the bytes sent and how it ended, when it
/// ends, fails or is dropped: the shells write their access log, audit line and metrics of
/// a request then, when what was really sent is known.
pub struct Watched<F: FnOnce(u64, Ending) + Send> {
    inner: axum::body::Body,
    bytes: u64,
    on_end: Option<F>,
}

impl<F: FnOnce(u64, Ending) + Send> Watched<F> {
    pub fn new(inner: axum::body::Body, on_end: F) -> Self {
        Self {
            inner,
            bytes: 0,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self, ending: Ending) {
        if let Some(f) = self.on_end.take() {
            f(self.bytes, ending);
        }
    }
}

impl<F: FnOnce(u64, Ending) + Send + Unpin> Body for Watched<F> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => this.end(Ending::Failed(e.to_string())),
            Poll::Ready(None) => this.end(Ending::Complete),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<F: FnOnce(u64, Ending) + Send> Drop for Watched<F> {
    fn drop(&mut self) {
        let ending = if self.inner.is_end_stream() {
            Ending::Complete
        } else {
            Ending::Dropped
        };
        self.end(ending);
    }
}
