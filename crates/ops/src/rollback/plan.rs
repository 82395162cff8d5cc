//! What the rollback shows before it asks: what `zfs rollback -r`
//! destroys (snapshots, bookmarks, gap objects), the holds it releases or
//! that block it, and the records it relies on (which transfer, where, and
//! when; what became of the deletes), so the operator can see that the
//! record is the one they meant.

use crate::context::Ctx;
use crate::gap::Kind;
use crate::gap_report::GapReport;
use crate::holds::HoldPlan;
use crate::state::Transfer;

pub struct Plan<'a> {
    pub ds: &'a str,
    pub snapshot: &'a str,
    pub later: &'a [String],
    pub bookmarks: &'a [String],
    pub report: &'a GapReport,
    pub holds: &'a HoldPlan,
    /// The newest transfer of this snapshot's gap, whatever its state.
    pub transfer: Option<&'a Transfer>,
    /// The transfer check passed.
    pub transfer_ok: bool,
    /// What became of the deletes (`Err`: the refusal).
    pub deletes: &'a Result<Option<String>, String>,
}

pub fn show(ctx: &Ctx, p: &Plan<'_>) {
    let (ds, snapshot, report) = (p.ds, p.snapshot, p.report);
    let gap: Vec<&str> = report.of_kind(Kind::Gap).map(|c| c.key.as_str()).collect();
    let changed: Vec<&str> = report
        .of_kind(Kind::Conflict)
        .map(|c| c.key.as_str())
        .collect();
    let deleted: Vec<&str> = report
        .of_kind(Kind::Deleted)
        .map(|c| c.key.as_str())
        .collect();
    if ctx.common.json {
        let transfer = p.transfer.map(|t| {
            serde_json::json!({
                "destination": t.destination,
                "at": t.at,
                "objects": t.objects,
                "verified": t.verified,
            })
        });
        let plan = serde_json::json!({"plan": {
            "command": ["zfs", "rollback", "-r", format!("{ds}@{snapshot}")],
            "destroys_snapshots": p.later,
            "destroys_bookmarks": p.bookmarks,
            "releases_zrepl_holds": p.holds.release,
            "blocked_by_holds": p.holds.blocking,
            "destroys_objects": gap,
            "reverts_objects": changed,
            "restores_deleted": deleted,
            "deletes": match p.deletes {
                Ok(how) => serde_json::json!({ "applied": how }),
                Err(why) => serde_json::json!({ "not_applied": why }),
            },
            "transfer": transfer,
            "transfer_verified": p.transfer_ok,
        }});
        println!("{plan}");
        return;
    }
    eprintln!("plan: zfs rollback -r {ds}@{snapshot}");
    eprintln!(
        "  destroys {} later snapshot(s): {}",
        p.later.len(),
        p.later.join(", ")
    );
    if !p.bookmarks.is_empty() {
        eprintln!(
            "  destroys {} later bookmark(s): {}",
            p.bookmarks.len(),
            p.bookmarks.join(", ")
        );
    }
    for (tag, snap) in &p.holds.release {
        eprintln!(
            "  releases zrepl's hold {tag} on {snap} first (it guards a replication step from \
             this node that will never resume; the snapshot goes anyway)"
        );
    }
    for h in &p.holds.blocking {
        eprintln!(
            "  BLOCKED: {} is held ({} hold(s){})",
            h.snapshot,
            h.count,
            h.tags
                .as_ref()
                .map(|t| format!(": {}", t.join(", ")))
                .unwrap_or_default()
        );
    }
    eprintln!(
        "  destroys {} gap object(s) ({} bytes):",
        gap.len(),
        report.summary.gap_bytes
    );
    for k in gap.iter().take(50) {
        eprintln!("    {k}");
    }
    if gap.len() > 50 {
        eprintln!("    … and {} more (--json lists all)", gap.len() - 50);
    }
    match p.transfer {
        Some(t) => eprintln!(
            "  relies on the transfer of {} object(s) to {} at {} ({})",
            t.objects,
            t.destination,
            t.at,
            if p.transfer_ok {
                "verified, and it is this gap"
            } else {
                "NOT a verified transfer of this gap"
            }
        ),
        None => eprintln!("  no transfer of this snapshot's gap is recorded"),
    }
    if !changed.is_empty() {
        eprintln!(
            "  reverts {} object(s) changed since the snapshot",
            changed.len()
        );
    }
    eprintln!(
        "  brings back {} object(s) deleted since the snapshot{}",
        deleted.len(),
        match p.deletes {
            Ok(Some(how)) => format!(": the deletes are {how}"),
            Ok(None) => String::new(),
            Err(_) => ": the deletes are NOT applied at the new primary".to_owned(),
        }
    );
}
