//! Where the putfs dataset is and where it must go when replication is
//! reversed: the one formula zrepl uses for a sink's target path, and the
//! names derived from the configs and inputs.

use super::error::ZreplError;
use super::input::ReverseInput;
use super::model::*;
use super::names;

/// Where a sink puts a client's dataset: `root_fs/identity/source_path`.
/// zrepl's receiver (`internal/endpoint/endpoint.go`, `clientRoot` and
/// `subroot.MapToLocal`) joins exactly these, keeping the full source path.
pub fn sink_path(root_fs: &str, identity: &str, source_path: &str) -> String {
    format!("{root_fs}/{identity}/{source_path}")
}

/// Datasets and names the plans refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Dataset on the recovered node before the rename, e.g. `tankA/putfs`.
    pub original: String,
    /// Where the new primary serves from: `<old root_fs>/<old identity>/<original>`.
    pub new_primary_dataset: String,
    /// Where the recovered node's sink will look:
    /// `<recovered root_fs>/<new identity>/<new_primary_dataset>`.
    pub rename_target: String,
    pub recovered_root_fs: String,
    pub new_primary_identity: String,
    pub shared_snapshot: String,
    pub flip_back_snapshot: String,
    pub push_job: String,
    pub sink_job: String,
    /// Where putfs serves the recovered node's copy from, before and after
    /// the rename (the plans mount it there and check it).
    pub mountpoint: String,
}

pub(crate) fn input_err(msg: impl Into<String>) -> ZreplError {
    ZreplError::Input(msg.into())
}

/// The dataset to move: given, or the single dataset the filter includes.
pub(crate) fn dataset(input: &ReverseInput, push: &PushJob) -> Result<String, ZreplError> {
    let ds = match &input.dataset {
        Some(d) => d.clone(),
        None => {
            let included: Vec<&String> = push
                .filesystems
                .iter()
                .filter(|(_, pass)| **pass)
                .map(|(p, _)| p)
                .collect();
            match included.as_slice() {
                [one] if one.as_str() != "<" => one.trim_end_matches('<').to_string(),
                _ => {
                    return Err(input_err(format!(
                        "push job {:?} includes {included:?}; name the dataset putfs serves",
                        push.name
                    )));
                }
            }
        }
    };
    names::check_dataset(&ds).map_err(|e| input_err(format!("dataset {ds:?}: {e}")))?;
    if !ds.contains('/') {
        return Err(input_err(format!(
            "{ds:?} is a pool's root dataset, which zfs cannot rename"
        )));
    }
    if !names::filter_passes(&push.filesystems, &ds) {
        return Err(input_err(format!(
            "push job {:?} does not replicate {ds:?}",
            push.name
        )));
    }
    Ok(ds)
}

pub(crate) fn old_identity(
    input: &ReverseInput,
    serve: &TcpServe,
    sink: &str,
) -> Result<String, ZreplError> {
    let fixed: Vec<&String> = serve
        .clients
        .values()
        .filter(|id| !id.contains('*'))
        .collect();
    match &input.old_primary_identity {
        Some(id) if fixed.contains(&id) || serve.clients.values().any(|v| v.contains('*')) => {
            Ok(id.clone())
        }
        Some(id) => Err(input_err(format!(
            "sink job {sink:?} gives no client the identity {id:?} (its clients map: {:?})",
            serve.clients
        ))),
        None => match fixed.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(input_err(format!(
                "sink job {sink:?} has identities {fixed:?}; name the old primary's identity"
            ))),
        },
    }
}

pub(crate) fn layout(
    input: &ReverseInput,
    push: &PushJob,
    sink: &SinkJob,
    original: &str,
    old_id: &str,
) -> Result<Layout, ZreplError> {
    let root = &input.recovered_root_fs;
    names::check_dataset(root)
        .map_err(|e| input_err(format!("recovered root_fs {root:?}: {e}")))?;
    names::check_identity(&input.new_primary_identity).map_err(input_err)?;
    names::check_component(&input.shared_snapshot).map_err(|e| {
        input_err(format!(
            "shared snapshot name {:?} {e}",
            input.shared_snapshot
        ))
    })?;
    if names::pool(root) != names::pool(original) {
        return Err(input_err(format!(
            "recovered root_fs {root:?} must be in pool {:?}: the plan renames {original:?} into it and zfs rename cannot cross pools",
            names::pool(original)
        )));
    }
    if names::is_within(root, original) {
        return Err(input_err(format!(
            "recovered root_fs {root:?} lies inside {original:?}, which is moved into it"
        )));
    }
    let new_primary_dataset = sink_path(&sink.root_fs, old_id, original);
    let rename_target = sink_path(root, &input.new_primary_identity, &new_primary_dataset);
    names::check_dataset(&rename_target)
        .map_err(|e| input_err(format!("rename target {rename_target:?}: {e}")))?;
    let flip_back_snapshot = match &input.flip_back_snapshot {
        Some(s) => s.clone(),
        // Unique per failover, and under the prefix so pruning treats it
        // like zrepl's own snapshots.
        None => format!(
            "{}flipback_{}",
            snapshot_prefix(push),
            input.shared_snapshot
        ),
    };
    names::check_component(&flip_back_snapshot).map_err(|e| {
        input_err(format!(
            "flip-back snapshot name {flip_back_snapshot:?} {e}"
        ))
    })?;
    let mountpoint = mountpoint(input)?;
    Ok(Layout {
        original: original.into(),
        new_primary_dataset,
        rename_target,
        recovered_root_fs: root.clone(),
        new_primary_identity: input.new_primary_identity.clone(),
        shared_snapshot: input.shared_snapshot.clone(),
        flip_back_snapshot,
        push_job: push.name.clone(),
        sink_job: sink.name.clone(),
        mountpoint,
    })
}

/// The plans leave the dataset mounted where putfs serves it: after the
/// rename under the new sink's root it would otherwise inherit no
/// mountpoint at all and stay unmounted.
fn mountpoint(input: &ReverseInput) -> Result<String, ZreplError> {
    match &input.recovered_mountpoint {
        Some(mp) if mp.starts_with('/') && !mp.contains(['\n', '\t']) => Ok(mp.clone()),
        Some(mp) => Err(input_err(format!(
            "recovered mountpoint {mp:?} must be an absolute path (where putfs serves the data, \
             e.g. /srv/putfs)"
        ))),
        None => Err(input_err(
            "name the recovered node's mountpoint (where its putfs serves the data, e.g. \
             /srv/putfs): the plans mount the renamed dataset there",
        )),
    }
}

fn snapshot_prefix(push: &PushJob) -> &str {
    match &push.snapshotting {
        Snapshotting::Periodic(p) => &p.prefix,
        Snapshotting::Cron(c) => &c.prefix,
        Snapshotting::Manual(_) => "",
    }
}
