//! Feeding an async byte stream into blocking file I/O.
//!
//! A request body arrives on the async runtime; writing and hashing it are
//! blocking work. A `Pump` runs the sink on one blocking thread and hands it
//! chunks over a small bounded channel, so the runtime never blocks, the
//! sink sees back-pressure, and memory stays at a few chunks whatever the
//! object size. Dropping the `Pump` without `finish` (client gone, server
//! shutting down) drops the sink on its thread, which aborts it.

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::digest::{Digests, Expected, Hashers};
use super::error::{Result, StoreError};
use super::read::Object;
use super::write::{PutOutcome, Upload};

/// Something that consumes a body chunk by chunk on a blocking thread.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn write(&mut self, chunk: &[u8]) -> Result<()>;
    fn finish(self) -> Result<Self::Output>;
}

enum Msg {
    Data(Bytes),
    Finish,
}

/// A sink running on a blocking thread.
pub struct Pump<T> {
    tx: mpsc::Sender<Msg>,
    task: JoinHandle<Result<T>>,
}

const DEPTH: usize = 4;

impl<T: Send + 'static> Pump<T> {
    pub fn spawn<S: Sink<Output = T>>(mut sink: S) -> Pump<T> {
        let (tx, mut rx) = mpsc::channel::<Msg>(DEPTH);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    Msg::Data(chunk) => sink.write(&chunk)?,
                    Msg::Finish => return sink.finish(),
                }
            }
            Err(StoreError::Aborted("the body stream was abandoned".into()))
        });
        Pump { tx, task }
    }

    /// Hand over one chunk. An error means the sink failed; `finish` then
    /// returns its error.
    pub async fn send(&mut self, chunk: Bytes) -> std::result::Result<(), ()> {
        self.tx.send(Msg::Data(chunk)).await.map_err(|_| ())
    }

    /// End of body: let the sink finish and return its result.
    pub async fn finish(self) -> Result<T> {
        let _ = self.tx.send(Msg::Finish).await;
        self.join().await
    }

    /// The sink's result after it stopped on its own (an error).
    pub async fn join(self) -> Result<T> {
        let Pump { tx, task } = self;
        drop(tx);
        match task.await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

impl Sink for Upload {
    type Output = PutOutcome;
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        Upload::write(self, chunk)
    }
    fn finish(self) -> Result<PutOutcome> {
        self.commit()
    }
}

/// Hashes a body that is not going to be stored, to compare it with an
/// existing object (PUT of an existing key, policy `verify`).
pub struct Compare {
    store: std::sync::Arc<super::Store>,
    key: super::key::Key,
    existing: Object,
    hashers: Hashers,
    expected: Vec<Expected>,
    len: u64,
}

impl Compare {
    pub fn new(
        store: std::sync::Arc<super::Store>,
        key: super::key::Key,
        existing: Object,
        expected: Vec<Expected>,
    ) -> Compare {
        Compare {
            store,
            key,
            existing,
            hashers: Hashers::new(&expected),
            expected,
            len: 0,
        }
    }
}

impl Sink for Compare {
    /// `Identical` when the body equals the existing object (and meets every
    /// digest sent with it), else a conflict.
    type Output = PutOutcome;
    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hashers.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }
    fn finish(mut self) -> Result<PutOutcome> {
        let ours: Digests = self.hashers.finish();
        ours.check(&self.expected)
            .map_err(StoreError::DigestMismatch)?;
        self.store
            .compare_existing(&self.key, &mut self.existing, &ours.sha256, self.len)
    }
}
