//! What one connection has in flight, and so what a graceful shutdown
//! still owes it.
//!
//! On SIGTERM the server stops accepting (with an inherited socket, the
//! connections still queued stay in it for the next server) and asks each
//! connection to finish. hyper's own graceful shutdown answers a request
//! in progress, but closes at once a connection that looks idle to it,
//! and two of those have a request that already reached this server:
//! - a keep-alive connection whose next request head has partly arrived
//!   (hyper has read it into its buffer and waits for the rest);
//! - a connection whose bytes wait in the socket, unread: a new
//!   connection (hyper-util's auto builder drops one it has not yet read
//!   the protocol of), or a keep-alive one whose request arrived as the
//!   shutdown began.
//!
//! Closed, such a connection loses a request the client had every reason
//! to think was delivered, and on a new connection (after a promotion that
//! passed the socket on) no client retries it. So [`Activity`] records the
//! bytes read since the last request started, [`Io`] lets the shutdown
//! peek at the socket, and a connection that owes an answer
//! ([`Activity::owes_answer`]) is closed only after its request has
//! started, answered with `Connection: close`. A new connection gets
//! [`FIRST_REQUEST_GRACE`] to send its first request.
//!
//! What remains is the race no server can close: a request that leaves
//! the client as its idle keep-alive connection is being closed gets no
//! byte of an answer and was never read. Clients retry exactly that case
//! for idempotent requests (RFC 9112, section 9.3.1; nginx does for a
//! cached upstream connection).

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::zero_copy::{self, Pieces};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a connection accepted before the shutdown, that has sent
/// nothing yet, may take to send its first request: it was opened to send
/// one, and a client does not retry a request on a connection that was
/// new.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// The first bytes of an HTTP/2 connection with prior knowledge.
const H2_PREFACE_START: &[u8] = b"PRI ";

/// Whether a connection has requests in progress, since when it has had
/// none, and whether a request has reached it that has not started yet.
pub struct Activity {
    busy: AtomicUsize,
    idle_since: Mutex<Instant>,
    accepted: Instant,
    /// Requests started so far.
    started: AtomicU64,
    /// Bytes other than line ends were read while no request was in
    /// progress: the head of the next request, in hyper's buffer.
    head_started: AtomicBool,
    /// HTTP/2: its own shutdown (GOAWAY) tells the client what was not
    /// processed, so nothing here applies.
    h2: AtomicBool,
    /// Woken when a request starts.
    started_notify: Notify,
}

impl Activity {
    pub fn new() -> Activity {
        let now = Instant::now();
        Activity {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(now),
            accepted: now,
            started: AtomicU64::new(0),
            head_started: AtomicBool::new(false),
            h2: AtomicBool::new(false),
            started_notify: Notify::new(),
        }
    }

    /// When the connection will have been idle for `idle`; `None` while a
    /// request is in progress.
    pub fn idle_until(&self, idle: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        Some(since + idle)
    }

    /// Resolves when a request starts (or has started since the last
    /// call).
    pub async fn request_started(&self) {
        self.started_notify.notified().await;
    }

    /// Whether closing the connection now would drop a request that has
    /// reached this server; `io` is peeked at for bytes not read yet.
    /// Before [`FIRST_REQUEST_GRACE`] has passed, a new connection that
    /// has sent nothing owes its first answer too; after it, `Some` tells
    /// when to ask again.
    pub fn owes_answer(&self, io: &Shared) -> Owed {
        if self.busy.load(Ordering::Acquire) > 0 || self.h2.load(Ordering::Acquire) {
            // hyper finishes what is in progress; HTTP/2 has GOAWAY.
            return Owed::Nothing;
        }
        if self.head_started.load(Ordering::Acquire) || io.has_unread_bytes() {
            return Owed::Answer;
        }
        let grace_ends = self.accepted + FIRST_REQUEST_GRACE;
        if self.started.load(Ordering::Acquire) == 0 && Instant::now() < grace_ends {
            return Owed::FirstRequest(grace_ends);
        }
        Owed::Nothing
    }

    /// Bytes arrived on the connection (from [`Io`]).
    fn read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.started.load(Ordering::Acquire) == 0
            && !self.head_started.load(Ordering::Acquire)
            && bytes.starts_with(H2_PREFACE_START)
        {
            self.h2.store(true, Ordering::Release);
        }
        // Body bytes arrive while busy; CRLF between requests is no head.
        if self.busy.load(Ordering::Acquire) == 0 && bytes.iter().any(|b| !b"\r\n".contains(b)) {
            self.head_started.store(true, Ordering::Release);
        }
    }
}

/// What closing a connection now would lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    /// Nothing: close it (gracefully).
    Nothing,
    /// A request has reached the server: close it once that has started.
    Answer,
    /// A new connection: wait for its first request until this instant.
    FirstRequest(Instant),
}

/// Held by a request from its head until its response body is done.
pub struct Busy(Arc<Activity>);

impl Busy {
    pub fn new(a: Arc<Activity>) -> Busy {
        a.busy.fetch_add(1, Ordering::AcqRel);
        a.head_started.store(false, Ordering::Release);
        a.started.fetch_add(1, Ordering::AcqRel);
        a.started_notify.notify_one();
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's socket, shared by hyper (through [`Io`]) and the
/// shutdown, which peeks at it. Both run in the connection's one task,
/// so the lock is never contended.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<TcpStream>>);

impl Shared {
    pub fn new(tcp: TcpStream) -> Shared {
        Shared(Arc::new(Mutex::new(tcp)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TcpStream> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes wait in the socket that no one has read: a peek, which the
    /// non-blocking socket answers at once (WouldBlock when there are none).
    fn has_unread_bytes(&self) -> bool {
        let tcp = self.lock();
        let mut one = [MaybeUninit::<u8>::uninit(); 1];
        matches!(SockRef::from(&*tcp).peek(&mut one), Ok(n) if n > 0)
    }
}

/// What hyper reads and writes through: the shared socket, with every
/// read reported to the connection's [`Activity`], and file bodies' stand-ins
/// sent from their files ([`zero_copy`]).
pub struct Io {
    tcp: Shared,
    activity: Arc<Activity>,
    pieces: Pieces,
}

impl Io {
    pub fn new(tcp: Shared, activity: Arc<Activity>, pieces: Pieces) -> Io {
        Io {
            tcp,
            activity,
            pieces,
        }
    }

    /// Send the stand-in `slice` from its file.
    fn poll_send_file(&self, cx: &mut Context<'_>, slice: &[u8]) -> Poll<std::io::Result<usize>> {
        let tcp = self.tcp.lock();
        self.pieces.send(slice, |file, offset, len| {
            loop {
                std::task::ready!(tcp.poll_write_ready(cx))?;
                let sent = tcp.try_io(Interest::WRITABLE, || {
                    let mut at = offset;
                    rustix::fs::sendfile(&*tcp, file, Some(&mut at), len).map_err(Into::into)
                });
                match sent {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return Poll::Ready(r),
                }
            }
        })
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut *self.tcp.lock()).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.activity.read(&buf.filled()[before..]);
        }
        r
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if zero_copy::is_stand_in(buf) {
            return self.poll_send_file(cx, buf);
        }
        Pin::new(&mut *self.tcp.lock()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match (zero_copy::plain_prefix(bufs), bufs.first()) {
            (0, Some(first)) => self.poll_send_file(cx, first),
            // A response head followed by a file: held back (`MSG_MORE`)
            // to leave in one segment with the file's first bytes, not
            // alone (where Nagle's algorithm would hold a short body until
            // the client's delayed ACK of the head, 40 ms).
            (plain, _) if plain < bufs.len() => {
                let tcp = self.tcp.lock();
                loop {
                    std::task::ready!(tcp.poll_write_ready(cx))?;
                    let sent = tcp.try_io(Interest::WRITABLE, || {
                        let mut control = SendAncillaryBuffer::default();
                        sendmsg(&*tcp, &bufs[..plain], &mut control, SendFlags::MORE)
                            .map_err(Into::into)
                    });
                    match sent {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        r => return Poll::Ready(r),
                    }
                }
            }
            (plain, _) => Pin::new(&mut *self.tcp.lock()).poll_write_vectored(cx, &bufs[..plain]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.lock().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.tcp.lock()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.tcp.lock()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_is_measured_from_the_last_response() {
        let idle = Duration::from_secs(10);
        let a = Arc::new(Activity::new());
        let after_creation = Instant::now();
        assert!(
            a.idle_until(idle)
                .is_some_and(|t| t <= after_creation + idle)
        );
        let busy = Busy::new(a.clone());
        let busy2 = Busy::new(a.clone());
        assert_eq!(a.idle_until(idle), None);
        drop(busy);
        assert_eq!(a.idle_until(idle), None, "one request still in progress");
        let before_last = Instant::now();
        drop(busy2);
        assert!(a.idle_until(idle).is_some_and(|t| t >= before_last + idle));
    }

    #[test]
    fn a_head_read_between_requests_is_owed_an_answer() {
        let a = Activity::new();
        a.read(b"GET /x HTTP/1.1\r\nHo");
        assert!(a.head_started.load(Ordering::Acquire));
        let a = Arc::new(a);
        let busy = Busy::new(a.clone());
        assert!(
            !a.head_started.load(Ordering::Acquire),
            "the request started"
        );
        a.read(b"body bytes");
        assert!(!a.head_started.load(Ordering::Acquire), "a body is no head");
        drop(busy);
        a.read(b"\r\n");
        assert!(
            !a.head_started.load(Ordering::Acquire),
            "a line end is no head"
        );
        a.read(b"G");
        assert!(a.head_started.load(Ordering::Acquire));
        assert!(!a.h2.load(Ordering::Acquire));
    }

    #[test]
    fn http2_is_told_by_its_preface() {
        let a = Activity::new();
        a.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(a.h2.load(Ordering::Acquire));
        let b = Activity::new();
        b.read(b"PUT /PRI HTTP/1.1\r\n");
        assert!(!b.h2.load(Ordering::Acquire));
    }
}
