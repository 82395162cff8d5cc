//! What `reverse` turns around: the two configs as they were before the
//! failure and how the new direction is wired.

use super::error::ZreplError;
use super::model::Config;
use super::validate::validate;

/// What to reverse and how the new direction is wired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReverseInput {
    /// Old primary's config (holds the push job); it becomes the sink.
    pub old_primary: Config,
    /// Old secondary's config (holds the sink job); it becomes the pusher.
    pub old_secondary: Config,
    /// Push job to reverse; `None` = the only push job.
    pub push_job: Option<String>,
    /// Sink job to reverse; `None` = the only sink job.
    pub sink_job: Option<String>,
    /// Dataset putfs served on the old primary; `None` = the one dataset
    /// the push job's filter includes.
    pub dataset: Option<String>,
    /// Identity the old sink gave the old primary; `None` = the only
    /// identity in its `clients` map.
    pub old_primary_identity: Option<String>,
    /// Identity the recovered node's sink will give the new primary.
    pub new_primary_identity: String,
    /// IP (or CIDR) the recovered node sees the new primary connect from.
    pub new_primary_ip: String,
    /// `host:port` the new primary dials to reach the recovered node.
    pub recovered_address: String,
    /// Address the recovered node's sink listens on.
    pub recovered_listen: String,
    /// Root of the recovered node's sink, e.g. `tankA/sink`. Must be in the
    /// dataset's pool: `zfs rename` cannot cross pools.
    pub recovered_root_fs: String,
    /// Last snapshot both sides have, e.g. `zrepl_20250101_120000_000`.
    pub shared_snapshot: String,
    /// Name of the flip-back's final snapshot; `None` =
    /// `<prefix>flipback_<shared snapshot>`.
    pub flip_back_snapshot: Option<String>,
    /// Mountpoint to keep for the dataset after the rename, if any.
    pub recovered_mountpoint: Option<String>,
}

impl ReverseInput {
    /// Start from the two config files' text; set the other fields after.
    pub fn from_yaml(old_primary_yaml: &str, old_secondary_yaml: &str) -> Result<Self, ZreplError> {
        let read = |what: &str, text: &str| {
            validate(text)
                .map(|v| v.config)
                .map_err(|findings| ZreplError::Invalid {
                    what: what.into(),
                    findings,
                })
        };
        Ok(ReverseInput {
            old_primary: read("old primary's config", old_primary_yaml)?,
            old_secondary: read("old secondary's config", old_secondary_yaml)?,
            ..ReverseInput::default()
        })
    }
}
