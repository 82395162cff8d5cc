//! Feeding an async byte stream into a blocking sink.
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

use crate::store::{Result, Sink, StoreError};

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
