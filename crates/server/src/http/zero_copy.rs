//! Object bodies sent with `sendfile(2)` (objects above 16 KiB that the
//! read cache does not hold, `object_get`): the bytes go from the page
//! cache to the socket without being copied through the server.
//!
//! hyper writes bodies itself and knows nothing of files, so the body hands
//! hyper *stand-ins*: slices of one static, never-written block of zeros
//! (`BLANK`), as long as the piece of file they stand for, and records the
//! piece (file, offset, length) in the connection's [`Pieces`]. hyper
//! queues body buffers as they are and passes them to the connection's
//! writer as `writev` slices (its queue strategy, used because the writer
//! is vectored; hyper never reads them). When the writer ([`super::in_flight::Io`])
//! meets a slice inside `BLANK`, it sends the recorded piece with
//! `sendfile` instead. Pieces are sent in the order they were made, and a
//! slice that is not where the next piece expects it (its offset into
//! `BLANK` is how much of the piece was sent) ends the connection with an
//! error: a mismatch can never send zeros for data.
//!
//! Only HTTP/1.1 bodies go this way (HTTP/2 frames copy their data, so
//! they would copy the zeros): the connection's [`Pieces`] reach a request
//! only on HTTP/1.x. `tests/zero_copy.rs`
//! reads whole objects and ranges back byte for byte.
//!
//! `sendfile` reads the file where it runs, on the connection's event-loop
//! thread, so only pieces the page cache holds go that way ([`FileBody`]):
//! the body asks the kernel to read the whole range ahead when it begins,
//! and a piece whose first or last page is not there yet is read on a
//! blocking thread and handed to hyper as bytes. A page evicted between
//! that check and the `sendfile` is read on the event loop (nginx without
//! `aio` reads every page there).

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::task::JoinHandle;

/// The longest piece one stand-in stands for.
pub const PIECE: usize = 1024 * 1024;

/// What stand-ins point into. Static and never written: it lives in the
/// zero page and costs no memory.
static BLANK: [u8; PIECE] = [0; PIECE];

/// The pieces of file a connection owes, in the order hyper will write
/// their stand-ins.
#[derive(Clone, Default)]
pub struct Pieces(Arc<Mutex<VecDeque<Piece>>>);

struct Piece {
    file: Arc<File>,
    offset: u64,
    len: usize,
    /// Bytes of it already sent.
    sent: usize,
}

impl Pieces {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Piece>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send (part of) the stand-in `slice`, which must be the first unsent
    /// byte of the oldest piece, with `send(file, offset, len)`.
    pub fn send(
        &self,
        slice: &[u8],
        send: impl FnOnce(&File, u64, usize) -> Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        let at = slice.as_ptr() as usize - BLANK.as_ptr() as usize;
        let mut pieces = self.lock();
        let Some(piece) = pieces.front_mut() else {
            return Poll::Ready(Err(mismatch()));
        };
        if at != piece.sent || slice.len() > piece.len - piece.sent {
            return Poll::Ready(Err(mismatch()));
        }
        let n = match send(&piece.file, piece.offset + at as u64, slice.len()) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(shrank())),
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        piece.sent += n;
        if piece.sent == piece.len {
            pieces.pop_front();
        }
        Poll::Ready(Ok(n))
    }
}

fn mismatch() -> std::io::Error {
    std::io::Error::other("a file body's stand-in is out of order")
}

/// Whether `slice` is a stand-in.
pub fn is_stand_in(slice: &[u8]) -> bool {
    let start = BLANK.as_ptr() as usize;
    let p = slice.as_ptr() as usize;
    !slice.is_empty() && p >= start && p < start + PIECE
}

/// How many of `bufs` come before the first stand-in.
pub fn plain_prefix(bufs: &[IoSlice<'_>]) -> usize {
    bufs.iter().take_while(|b| !is_stand_in(b)).count()
}

/// A body of `len` bytes of `file` from `offset`, sent by the connection.
///
/// A piece goes as a stand-in only if the page cache holds its first and
/// last page (read ahead in order since the body began: `fadvise`); else
/// it is read on a blocking thread and handed over as bytes, so the event
/// loop does not wait on the disk.
pub struct FileBody {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    pieces: Pieces,
    /// A piece being read on a blocking thread.
    reading: Option<JoinHandle<std::io::Result<Vec<u8>>>>,
}

impl FileBody {
    pub fn new(file: File, offset: u64, len: u64, pieces: Pieces) -> FileBody {
        let _ = rustix::fs::fadvise(
            &file,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::WillNeed,
        );
        FileBody {
            file: Arc::new(file),
            offset,
            remaining: len,
            pieces,
            reading: None,
        }
    }

    fn advance(&mut self, n: usize) {
        self.offset += n as u64;
        self.remaining -= n as u64;
    }
}

/// Whether the page holding byte `at` of `file` is in the page cache.
fn cached(file: &File, at: u64) -> bool {
    let mut one = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut one)];
    matches!(
        rustix::io::preadv2(file, &mut iov, at, rustix::io::ReadWriteFlags::NOWAIT),
        Ok(1)
    )
}

fn read_piece(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

fn shrank() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the object shrank while it was being sent",
    )
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(reading) = self.reading.as_mut() {
            let read = std::task::ready!(Pin::new(reading).poll(cx));
            self.reading = None;
            let data = read.map_err(std::io::Error::other)??;
            if data.is_empty() {
                return Poll::Ready(Some(Err(shrank())));
            }
            self.advance(data.len());
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(data)))));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = self.remaining.min(PIECE as u64) as usize;
        let (offset, last) = (self.offset, self.offset + len as u64 - 1);
        if !(cached(&self.file, offset) && cached(&self.file, last)) {
            let file = self.file.clone();
            self.reading = Some(tokio::task::spawn_blocking(move || {
                read_piece(&file, offset, len)
            }));
            return self.poll_frame(cx);
        }
        let piece = Piece {
            file: self.file.clone(),
            offset,
            len,
            sent: 0,
        };
        self.pieces.lock().push_back(piece);
        self.advance(len);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&BLANK[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
