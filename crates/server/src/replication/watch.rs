//! Follow what replication brings to a read-only node: file notifications
//! (`inotify_watch`, which reads do not wake) for immediacy, and a poll that
//! catches what notifications cannot see (zfs receive, NFS and FUSE mounts,
//! a watch limit reached, a queue overflowed).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::inotify_watch::Watch;
use super::replica::Replica;
use crate::store::heartbeat;

pub fn spawn(replica: Arc<Replica>, root: PathBuf, poll: Duration) {
    let heartbeat_path =
        std::path::absolute(heartbeat::path(&root)).unwrap_or_else(|_| heartbeat::path(&root));
    let r = replica.clone();
    // Its own thread, not the runtime's blocking pool: it never returns,
    // and the runtime waits for blocking tasks at shutdown.
    let watcher = std::thread::Builder::new().name("putfs-watch".into());
    let started = watcher.spawn(move || {
        let watch = match Watch::new(&root) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "no file notifications; polling only");
                return;
            }
        };
        let e = watch.run(|path| {
            if *path == heartbeat_path {
                r.reload();
            } else {
                r.arrivals.note(path);
            }
        });
        tracing::warn!(error = %e, "file notifications stopped; polling only");
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no file notifications; polling only");
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        loop {
            tick.tick().await;
            let r = replica.clone();
            let _ = tokio::task::spawn_blocking(move || {
                r.reload();
                r.arrivals.settle();
            })
            .await;
        }
    });
}
