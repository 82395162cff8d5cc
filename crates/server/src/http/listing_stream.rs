//! Streaming a listing: the walk runs on a blocking thread and sends its
//! output through a small channel, so memory is bounded by a few buffers,
//! plus, for a sorted listing, the entries held to sort them (at most
//! `listing_sort`'s cap).

use std::ops::ControlFlow;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use tokio::sync::mpsc;

use super::App;
use super::listing_filter::Filter;
use super::listing_format::Writer;
use super::listing_html::Arrangement;
use super::listing_sort::{Held, Order};
use crate::store::{Entry, ListOptions, Listing, Prefix};

/// Flush the output buffer to the client at this size.
const FLUSH_AT: usize = 64 * 1024;

/// What a listing walks and in which order it is written.
pub struct Walk {
    pub opts: ListOptions,
    pub filter: Filter,
    /// `None`: the filesystem's order, streamed as walked.
    pub order: Option<Order>,
}

/// Start the walk on a blocking thread and stream its output. Passing the
/// key cap or failing mid-walk aborts the body: the client sees a broken
/// response, never a complete-looking truncated one.
pub fn stream(
    app: &App,
    listing: Option<Listing>,
    prefix: &Prefix,
    walk: Walk,
    writer: Writer,
    content_type: &'static str,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let max_keys = app.cfg.max_list_keys;
    let prefix_text = prefix.as_str().to_owned();
    let metrics = app.metrics.clone();
    tokio::task::spawn_blocking(move || {
        let Walk {
            opts,
            filter,
            order,
        } = walk;
        let mut out = Out {
            writer,
            buf: String::with_capacity(FLUSH_AT * 2),
            tx,
            metrics,
        };
        // Entries held to be sorted; `None` once written as walked.
        let mut held = order.map(|_| Held::default());
        if held.is_none() {
            out.writer.begin(&mut out.buf, Arrangement::Unsorted);
        }
        let mut count: u64 = 0;
        let mut failure: Option<String> = None;
        let mut gone = false;
        if let Some(listing) = listing {
            let mut seen: u64 = 0;
            let walked = listing.walk(opts, &mut |e| {
                // A selective filter may go long without output: notice a
                // client that left without waiting for a flush.
                seen += 1;
                if seen.is_multiple_of(1024) && out.tx.is_closed() {
                    gone = true;
                    return ControlFlow::Break(());
                }
                if !filter.keeps(e.rel, e.is_dir) {
                    return ControlFlow::Continue(());
                }
                if max_keys.is_some_and(|m| count >= m) {
                    failure = Some(format!("listing exceeds the limit of {} keys", count));
                    return ControlFlow::Break(());
                }
                count += 1;
                if let Some(h) = held.as_mut() {
                    if h.push(e) {
                        return ControlFlow::Continue(());
                    }
                    // Too many to sort: what was held, in the order walked,
                    // then the rest as it comes.
                    out.writer.begin(&mut out.buf, Arrangement::Unsorted);
                    for held_entry in h.entries() {
                        if out.entry(&held_entry).is_break() {
                            gone = true;
                            return ControlFlow::Break(());
                        }
                    }
                    held = None;
                }
                if out.entry(e).is_break() {
                    gone = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = walked {
                failure = Some(format!("listing failed: {e}"));
            }
        }
        if gone {
            return;
        }
        if let Some(msg) = failure {
            tracing::warn!(prefix = %prefix_text, "{msg}; aborting the response");
            let _ = out.tx.blocking_send(Err(std::io::Error::other(msg)));
            return;
        }
        if let (Some(mut h), Some(order)) = (held, order) {
            h.sort(order);
            out.writer.begin(&mut out.buf, Arrangement::Sorted(order));
            for e in h.entries() {
                if out.entry(&e).is_break() {
                    return;
                }
            }
        }
        out.writer.end(&mut out.buf);
        out.flush();
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The listing's output: the writer, its buffer, and the channel to the
/// response body.
struct Out {
    writer: Writer,
    buf: String,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Out {
    /// Write an entry, sending the buffer once it is full; `Break` when the
    /// client has gone.
    fn entry(&mut self, e: &Entry<'_>) -> ControlFlow<()> {
        self.writer.entry(&mut self.buf, e);
        if self.buf.len() >= FLUSH_AT && !self.flush() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Send the buffer; false when the client has gone.
    fn flush(&mut self) -> bool {
        let chunk = std::mem::replace(&mut self.buf, String::with_capacity(FLUSH_AT * 2));
        self.metrics.bytes_out.inc_by(chunk.len() as u64);
        self.tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()
    }
}
