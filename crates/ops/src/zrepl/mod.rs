//! zrepl configuration toolkit: validate configs, generate the putfs
//! push/sink pair, and reverse replication after a failover.
//!
//! zrepl cannot run everywhere putfs does (it is not packaged here and
//! needs ZFS bookmarks, which zfs-fuse lacks), so its config rules are
//! re-implemented from zrepl v0.7's `internal/config` and checked before a
//! config is installed. A bad config found during a failover is found too
//! late.
//!
//! # Why reversal needs a rename
//!
//! A sink stores what a client pushes at
//! `<root_fs>/<client identity>/<source path>`, the full source path
//! included. Before the failure, node A pushed `tankA/putfs` and node B
//! received it as `tankB/sink/node-a/tankA/putfs`; after failover B serves
//! that dataset. Swapping the roles in the configs alone makes A's new
//! sink look for B's data at
//! `tankA/sink/node-b/tankB/sink/node-a/tankA/putfs`, which does not exist,
//! so zrepl would start a full resend of everything.
//!
//! A's old `tankA/putfs` still holds the last snapshot both sides share.
//! Rolled back to it (zrepl never rolls back a diverged receiver) and
//! renamed to exactly the path the new sink computes, it becomes a
//! receiver that already has the common snapshot, and zrepl sends only
//! what B wrote since. Flipping back is the same move in reverse: B's copy
//! already sits where the original sink expects it, so only A's copy is
//! renamed back to `tankA/putfs`.
//!
//! Job names stay with their role (`putfs-push` always pushes,
//! `putfs-sink` always receives) because zrepl names its holds and
//! bookmarks after the job; the plans release the old role's ones.
//!
//! # Layout
//! - [`model`]: the config as serde types, with [`values`] for the few
//!   values read in a way of their own.
//! - [`validate()`] and [`validate_file()`]: zrepl's verdict, every problem
//!   with its path and line. `yaml` reads a file as zrepl's YAML library
//!   does (go-yaml v2 with yaml-config's strict rules), `read` one file,
//!   `include` what `include:` names, and `rules` checks value syntaxes and
//!   what zrepl checks when it builds the jobs; risks are warnings.
//! - [`generate`]: the push/sink pair for a new putfs deployment.
//! - [`mod@reverse`], [`layout`] and [`plan`]: reversed configs, where the
//!   dataset goes, and the operator steps.
//! - [`names`], [`syntax`]: ZFS names and zrepl value syntaxes.

mod emit;
pub mod error;
pub mod generate;
mod include;
mod input;
pub mod layout;
pub mod model;
pub mod names;
pub mod plan;
mod read;
pub mod reverse;
mod rules;
pub mod syntax;
pub mod validate;
pub mod values;
mod yaml;

pub use emit::to_yaml;
pub use error::{ConfigError, ConfigWarning, Finding, ZreplError};
pub use generate::{Pair, PairInput, generate_pair};
pub use input::ReverseInput;
pub use layout::{Layout, sink_path};
pub use model::Config;
pub use plan::{Action, Node, Step};
pub use reverse::{Reversal, reverse};
pub use validate::{Validated, validate, validate_config, validate_file};
