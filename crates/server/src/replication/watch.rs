//! Follow what replication brings to a read-only node: file notifications
//! (inotify via `notify`) for immediacy, and a poll that catches what
//! notifications cannot see (zfs receive, NFS and FUSE mounts, a watch
//! limit reached).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::replica::Replica;
use crate::store::heartbeat;

pub fn spawn(replica: Arc<Replica>, root: PathBuf, poll: Duration) {
    let heartbeat_path =
        std::path::absolute(heartbeat::path(&root)).unwrap_or_else(|_| heartbeat::path(&root));
    let r = replica.clone();
    tokio::task::spawn_blocking(move || {
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else {
                return;
            };
            if !matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_)) {
                return;
            }
            for path in &event.paths {
                if *path == heartbeat_path {
                    r.reload();
                } else {
                    r.arrivals.note(path);
                }
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(mut w) => match w.watch(&root, RecursiveMode::Recursive) {
                // The watcher lives as long as the process.
                Ok(()) => std::mem::forget(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no file notifications under the root; polling only")
                }
            },
            Err(e) => tracing::warn!(error = %e, "no file notifications; polling only"),
        }
    });
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
