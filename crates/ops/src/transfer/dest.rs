//! Where the gap goes (`--to`), and the checks that it is really another
//! node's data root, made before anything is copied or recorded.
//!
//! A transfer to the wrong place can look perfect: every object "already
//! there", "verified", and the rollback that trusts the record destroys
//! the only copy of the gap. So:
//! - a directory must exist and hold `.putfs/` (nothing here ever creates
//!   one: a missing directory is a mount that is missing, or a typo, and
//!   creating it would put the gap on this node's own disk);
//! - it must not be this node's own data root, by any path (same device
//!   and inode);
//! - it must not be on a network filesystem (`remote_fs.rs`);
//! - a putfs node must not be this node: its `/.putfs/identity` (which
//!   directory on which booted machine it serves, `store::identity`) must
//!   differ from this root's. Nothing replication copies can tell the two
//!   apart: the heartbeat's node name and every object travel to the
//!   replica with the data.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::deletes::{self, Backend};
use super::node::Node;
use super::peer_root::require_marked;
use super::{remote_fs, rsync};
use crate::error::OpsError;
use crate::store::identity;

/// Where the gap goes.
pub enum Destination {
    Node(Node),
    Dir(PathBuf),
}

impl Destination {
    /// `to`, checked against this node's live data root `live`.
    pub fn open(to: &str, token: Option<String>, live: &Path) -> Result<Destination, OpsError> {
        if to.starts_with("http://") || to.starts_with("https://") {
            let node = Node::new(to, token)?;
            check_node(&node, live)?;
            Ok(Destination::Node(node))
        } else if rsync::is_local(to) {
            let dir = PathBuf::from(to);
            check_dir(&dir, live)?;
            Ok(Destination::Dir(dir))
        } else {
            Err(OpsError::Usage(format!(
                "--to {to} is a remote rsync destination: transfer-gap must place every object \
                 there without replacing anything, and fsync it and its directories before it \
                 records the transfer, which it can do only on a path it reaches itself. Use \
                 the new primary's putfs (--to http://HOST:PORT; it verifies and fsyncs every \
                 object it accepts), or run with a local path to its data root"
            )))
        }
    }

    /// How deletes reach it; at a directory, holding its locks from here
    /// on (refused while a writable putfs serves it).
    pub fn delete_backend(&self, dry_run: bool) -> Result<Box<dyn Backend + '_>, OpsError> {
        Ok(match self {
            Destination::Node(n) => Box::new(deletes::http::HttpBackend(n)),
            Destination::Dir(p) => Box::new(deletes::dir::DirBackend::open(p, dry_run)?),
        })
    }
}

/// Refuse a directory that is not another node's data root, here.
fn check_dir(dir: &Path, live: &Path) -> Result<(), OpsError> {
    let shown = dir.display();
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpsError::Refused(format!(
                "the destination {shown} does not exist, and transfer-gap never creates one: \
                 is the new primary's data root mounted there (a network mount, a disk or a \
                 pool that is not mounted or imported), and is the path right? Nothing was \
                 copied"
            )));
        }
        Err(e) => return Err(OpsError::io(format!("inspecting {shown}"))(e)),
    };
    if !meta.is_dir() {
        return Err(OpsError::Refused(format!(
            "the destination {shown} is not a directory. Nothing was copied"
        )));
    }
    require_marked(dir)?;
    let ours = std::fs::metadata(live).map_err(OpsError::io(format!(
        "inspecting this node's data root {}",
        live.display()
    )))?;
    if (meta.dev(), meta.ino()) == (ours.dev(), ours.ino()) {
        return Err(OpsError::Refused(format!(
            "--to {shown} is this node's own data root ({}): every object would be found \
             \"already there\" and the transfer recorded as verified, and the rollback would \
             then destroy the gap. Give the new primary's data root or address. Nothing was \
             copied",
            live.display()
        )));
    }
    if let Some(t) = remote_fs::fs_type(dir).filter(|t| remote_fs::is_remote(t)) {
        return Err(OpsError::Refused(format!(
            "the destination {shown} is on a {t} filesystem: a lock taken here does not keep \
             the new primary's putfs out, and an fsync there promises only what the far side \
             chooses, so the transfer could be recorded as durable while it is not. Transfer \
             through the new primary's putfs instead (--to http://ITS-ADDRESS: it locks, \
             verifies and fsyncs on its own disk). Nothing was copied"
        )));
    }
    Ok(())
}

/// Refuse a putfs node that serves this very data root.
fn check_node(node: &Node, live: &Path) -> Result<(), OpsError> {
    let ours = identity::of_root(live).map_err(OpsError::io(format!(
        "the identity of this node's data root {}",
        live.display()
    )))?;
    match node.block_on(node.identity())? {
        Ok(theirs) if theirs == ours => Err(OpsError::Refused(format!(
            "--to {} is this node: the putfs there serves this very data root ({}), so every \
             object would be found \"already there\" and the transfer recorded as verified, \
             and the rollback would then destroy the gap. Give the new primary's address. \
             Nothing was copied",
            node.base,
            live.display()
        ))),
        Ok(_) => Ok(()),
        Err(why) => {
            eprintln!(
                "warning: {} does not say which data root it serves ({why}: a putfs older than \
                 this one?); make sure it is the new primary and not this node",
                node.base
            );
            Ok(())
        }
    }
}
