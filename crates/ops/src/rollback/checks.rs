//! What the rollback needs recorded before it may destroy anything: the
//! gap transferred and verified (exactly this gap), and the deletes
//! acknowledged after the snapshot applied where the gap went, because
//! after the rollback nothing lists them any more (the snapshot and the
//! live tree are then the same, and `find-gap` sees no delete).

use std::collections::BTreeSet;
use std::path::Path;

use crate::gap::Kind;
use crate::gap_report::GapReport;
use crate::state::{State, Transfer};

/// A finished rollback to this snapshot, with nothing changed since and
/// no later snapshot: when it happened.
pub fn already_done(
    st: &State,
    ds: &str,
    snapshot: &str,
    later: &[String],
    report: &GapReport,
) -> Option<String> {
    let s = &report.summary;
    if !later.is_empty() || s.gap + s.deleted + s.conflicts > 0 {
        return None;
    }
    st.rollbacks
        .iter()
        .rev()
        .find(|r| r.dataset == ds && r.snapshot == snapshot)
        .map(|r| r.at.clone())
}

/// The verified transfer of exactly the gap the rollback destroys; `None`
/// when it destroys no object at all (nothing to transfer).
pub fn transfer<'s>(
    st: &'s State,
    ds: &str,
    snapshot: &str,
    state_path: &Path,
    report: &GapReport,
) -> Result<Option<&'s Transfer>, String> {
    let s = &report.summary;
    let latest = st.latest_transfer(snapshot);
    if s.gap + s.conflicts == 0 {
        return Ok(latest.filter(|t| t.verified && t.fingerprint == report.fingerprint()));
    }
    match latest {
        None => Err(format!(
            "no transfer of the gap of {ds}@{snapshot} is recorded in {}: run \
             `putfs ops transfer-gap --dataset {ds} --snapshot {snapshot} --to NEW_PRIMARY` first",
            state_path.display(),
        )),
        Some(t) if !t.verified => Err(format!(
            "the last transfer of this gap (to {} at {}) was not verified: {}; resolve that \
             and transfer again",
            t.destination,
            t.at,
            t.conflicts.join("; ")
        )),
        Some(t) if t.fingerprint != report.fingerprint() => Err(format!(
            "what this rollback would destroy is not what was transferred to {} at {} ({} gap \
             object(s) then, {} now; a fingerprint over every object written, changed or \
             deleted since @{snapshot} differs): transfer it again",
            t.destination, t.at, t.objects, s.gap
        )),
        Some(t) => Ok(Some(t)),
    }
}

/// The deletes acknowledged after the snapshot, each covered by a delete
/// run to the destination of the latest transfer (deleted there, already
/// gone, or kept because a newer version is there): where they were
/// applied, `None` when there are none.
pub fn deletes(
    st: &State,
    ds: &str,
    snapshot: &str,
    report: &GapReport,
) -> Result<Option<String>, String> {
    let deleted: Vec<&str> = report
        .of_kind(Kind::Deleted)
        .map(|c| c.key.as_str())
        .collect();
    if deleted.is_empty() {
        return Ok(None);
    }
    let apply = |to: &str| {
        format!(
            "putfs ops transfer-gap --dataset {ds} --snapshot {snapshot} --to {to} \
             --apply-deletes"
        )
    };
    let Some(t) = st.latest_transfer(snapshot) else {
        return Err(format!(
            "{} object(s) were deleted on this node after @{snapshot} and no transfer (nor any \
             delete run) is recorded: apply them at the new primary first (`{}`), or add \
             --keep-deleted to leave them undone there on purpose (the list is saved in the \
             state file, and `putfs ops apply-deletes` applies it later)",
            deleted.len(),
            apply("NEW_PRIMARY")
        ));
    };
    let covered: BTreeSet<&str> = st
        .deletes
        .iter()
        .filter(|r| r.snapshot == snapshot && r.destination == t.destination)
        .flat_map(|r| {
            let kept = r.kept.iter().map(|k| k.key.as_str());
            r.deleted
                .iter()
                .chain(&r.absent)
                .map(String::as_str)
                .chain(kept)
        })
        .collect();
    let missing: Vec<&str> = deleted
        .into_iter()
        .filter(|k| !covered.contains(k))
        .collect();
    if missing.is_empty() {
        return Ok(Some(format!(
            "applied at {} (transfer-gap --apply-deletes)",
            t.destination
        )));
    }
    let shown: Vec<&str> = missing.iter().take(20).copied().collect();
    let more = if missing.len() > shown.len() {
        format!(" and {} more", missing.len() - shown.len())
    } else {
        String::new()
    };
    Err(format!(
        "{} object(s) deleted on this node after @{snapshot} (acknowledged to their clients) \
         are not deleted at {} (no delete run there covers them): {}{more}. After the rollback \
         nothing lists them any more, and the recovery brings them back. Apply them there \
         first (`{}`: it deletes only the snapshot's own copies), or add --keep-deleted to \
         leave them undone there on purpose (the list is saved in the state file, and \
         `putfs ops apply-deletes` applies it later)",
        missing.len(),
        t.destination,
        shown.join(", "),
        apply(&t.destination)
    ))
}
