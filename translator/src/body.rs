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
