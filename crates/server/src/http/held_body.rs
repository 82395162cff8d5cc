//! A response body that keeps something alive until it has been sent (or
//! dropped): a request's slot, a connection's "busy" mark. A streamed GET or
//! listing holds its file descriptors and its blocking thread until the last
//! byte is written, not only while the handler runs, so that is how long
//! its slot must be held too.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

pub struct Held<B, G> {
    body: B,
    _guard: G,
}

impl<B, G> Held<B, G> {
    pub fn new(body: B, guard: G) -> Held<B, G> {
        Held {
            body,
            _guard: guard,
        }
    }
}

impl<B: HttpBody + Unpin, G: Unpin> HttpBody for Held<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// `resp` with `guard` dropped only when its body is.
pub fn hold<G: Send + Unpin + 'static>(resp: Response, guard: G) -> Response {
    resp.map(|body| Body::new(Held::new(body, guard)))
}
