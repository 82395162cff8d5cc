//! The ZFS commands `putfs ops` needs, through the runner, written to work on
//! OpenZFS and on zfs-fuse alike (no `-p` on `zfs list` there, no `zfs diff`,
//! no `.zfs` directory: `zfs get -Hp` and capability probes instead).

use std::path::PathBuf;
use std::time::Duration;

use super::error::OpsError;
use super::runner::Runner;

/// One snapshot of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The part after `@`.
    pub name: String,
    pub guid: String,
    /// Seconds since the epoch.
    pub creation: i64,
    /// Transaction group that created it, where the platform reports it:
    /// orders snapshots taken within the same second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub createtxg: Option<u64>,
}

pub struct Zfs<'r> {
    pub runner: &'r Runner,
}

impl<'r> Zfs<'r> {
    pub fn new(runner: &'r Runner) -> Zfs<'r> {
        Zfs { runner }
    }

    /// Does this dataset (or snapshot) exist?
    pub fn exists(&self, name: &str) -> Result<bool, OpsError> {
        Ok(self
            .runner
            .probe(&["zfs", "get", "-H", "-o", "value", "type", name])?
            .is_some())
    }

    /// A property's value (`zfs get -Hp`).
    pub fn get(&self, name: &str, property: &str) -> Result<String, OpsError> {
        let out = self
            .runner
            .query(&["zfs", "get", "-Hp", "-o", "value", property, name])?;
        Ok(out.trim_end_matches('\n').to_owned())
    }

    pub fn set(&self, name: &str, assignment: &str) -> Result<(), OpsError> {
        self.runner
            .change(&["zfs", "set", assignment, name])
            .map(drop)
    }

    /// Where the dataset is mounted.
    pub fn mountpoint(&self, dataset: &str) -> Result<PathBuf, OpsError> {
        let mp = self.get(dataset, "mountpoint")?;
        if !mp.starts_with('/') {
            return Err(OpsError::Other(format!(
                "dataset {dataset} is not mounted at a path (mountpoint={mp}); pass --root"
            )));
        }
        Ok(PathBuf::from(mp))
    }

    /// The dataset's own snapshots, oldest first.
    pub fn snapshots(&self, dataset: &str) -> Result<Vec<Snapshot>, OpsError> {
        if !self.exists(dataset)? {
            return Err(OpsError::NotFound(format!(
                "dataset {dataset} does not exist"
            )));
        }
        let out = self.runner.query(&[
            "zfs",
            "get",
            "-rHp",
            "-o",
            "name,property,value",
            "creation,guid,createtxg",
            dataset,
        ])?;
        Ok(parse_snapshots(dataset, &out))
    }

    /// A snapshot by name, or a clear error listing what exists.
    pub fn snapshot(&self, dataset: &str, name: &str) -> Result<Snapshot, OpsError> {
        let snaps = self.snapshots(dataset)?;
        snaps
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = snaps.iter().map(|s| s.name.as_str()).collect();
                OpsError::NotFound(format!(
                    "snapshot {dataset}@{name} does not exist (snapshots of {dataset}: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    /// Does this platform have `zfs diff`? Asked by running it without
    /// arguments: OpenZFS answers with its usage, zfs-fuse with
    /// "unrecognized command".
    pub fn has_diff(&self) -> bool {
        match self.runner.query(&["zfs", "diff"]) {
            Ok(_) => true,
            Err(OpsError::Command { stderr, .. }) => !stderr.contains("unrecognized command"),
            Err(_) => false,
        }
    }

    pub fn mount(&self, dataset: &str) -> Result<(), OpsError> {
        self.runner.change(&["zfs", "mount", dataset]).map(drop)
    }

    pub fn rollback(&self, dataset: &str, snapshot: &str) -> Result<(), OpsError> {
        self.runner
            .change(&["zfs", "rollback", "-r", &format!("{dataset}@{snapshot}")])
            .map(drop)
    }

    /// A read-only clone of a snapshot, mounted at `mountpoint`.
    pub fn clone_readonly(
        &self,
        snapshot: &str,
        target: &str,
        mountpoint: &str,
    ) -> Result<(), OpsError> {
        self.runner
            .query(&[
                "zfs",
                "clone",
                "-o",
                "readonly=on",
                "-o",
                &format!("mountpoint={mountpoint}"),
                snapshot,
                target,
            ])
            .map(drop)
    }

    /// Destroy a dataset, retrying while ZFS still calls it busy (a clone
    /// just read from, on zfs-fuse, for a second or so).
    pub fn destroy_retrying(&self, dataset: &str) -> Result<(), OpsError> {
        let mut last = None;
        for attempt in 0..20 {
            match self.runner.query(&["zfs", "destroy", dataset]) {
                Ok(_) => return Ok(()),
                Err(e @ OpsError::Command { .. }) if e.to_string().contains("busy") => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(250 * (attempt + 1).min(4)));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| OpsError::Other(format!("could not destroy {dataset}"))))
    }

    /// The pool a dataset lives in.
    pub fn pool(dataset: &str) -> &str {
        dataset.split('/').next().unwrap_or(dataset)
    }
}

/// Parse `zfs get -rHp -o name,property,value creation,guid,createtxg DS`
/// into DS's own snapshots (not those of child datasets), oldest first.
fn parse_snapshots(dataset: &str, out: &str) -> Vec<Snapshot> {
    let prefix = format!("{dataset}@");
    let mut snaps: Vec<Snapshot> = Vec::new();
    for line in out.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(name), Some(prop), Some(value)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(short) = name.strip_prefix(&prefix) else {
            continue;
        };
        let i = match snaps.iter().position(|s| s.name == short) {
            Some(i) => i,
            None => {
                snaps.push(Snapshot {
                    name: short.to_owned(),
                    guid: String::new(),
                    creation: 0,
                    createtxg: None,
                });
                snaps.len() - 1
            }
        };
        match prop {
            "creation" => snaps[i].creation = value.trim().parse().unwrap_or(0),
            "guid" => snaps[i].guid = value.trim().to_owned(),
            "createtxg" => snaps[i].createtxg = value.trim().parse().ok(),
            _ => {}
        }
    }
    // Stable: keeps `zfs get`'s own (creation) order for equal keys.
    snaps.sort_by_key(|s| (s.creation, s.createtxg.unwrap_or(0)));
    snaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snapshots_of_this_dataset_only() {
        let out = "tank/a\tcreation\t100\ntank/a\tguid\t1\n\
                   tank/a@s2\tcreation\t300\ntank/a@s2\tguid\t22\n\
                   tank/a@s1\tcreation\t200\ntank/a@s1\tguid\t11\ntank/a@s1\tcreatetxg\t5\n\
                   tank/a/child@s9\tcreation\t50\ntank/a/child@s9\tguid\t99\n";
        let s = parse_snapshots("tank/a", out);
        assert_eq!(
            s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["s1", "s2"]
        );
        assert_eq!(s[0].guid, "11");
        assert_eq!(s[0].createtxg, Some(5));
        assert_eq!(s[1].creation, 300);
    }
}
