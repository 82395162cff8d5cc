//! Unknown `PUTFS_*` variables. A misspelt one (`PUTFS_MAX_DEPTH` for
//! `PUTFS_MAX_PATH_DEPTH`) would otherwise be ignored without a word, and
//! putfs would run with a setting its operator believes changed; so each
//! gets a warning line naming the variable that was most likely meant.
//!
//! The known set is every variable a flag reads, taken from the clap
//! definitions (a new flag is known at once), plus [`OTHERS`]: variables
//! that are not a flag's but belong in putfs's environment all the same.

use std::collections::BTreeMap;
use std::ffi::OsString;

/// `PUTFS_*` variables read elsewhere on purpose: none of them may warn.
const OTHERS: &[&str] = &[
    // The store's fault switches (test builds; crates/store/src/fault.rs).
    "PUTFS_FAULT",
    // ops/systemd: the replica unit's --max-lag, the rsync replication
    // unit's settings (one environment file may serve every unit).
    "PUTFS_REPLICA_MAX_LAG",
    "PUTFS_REPLICATE_SOURCE",
    "PUTFS_REPLICATE_OPTIONS",
    // Upstream PutFS's server setting that has no meaning here (putfs
    // streams), and its client's settings.
    "PUTFS_CHUNK_SIZE",
    "PUTFS_ENDPOINT_URL",
    "PUTFS_API_KEY",
    "PUTFS_API_SECRET",
    "PUTFS_HTTPS",
    "PUTFS_HTTP_TIMEOUT_TOTAL",
    "PUTFS_HTTP_TIMEOUT_CONNECT",
    "PUTFS_HTTP_TIMEOUT_SOCK_READ",
    "PUTFS_SYNC_RETRIES",
    "PUTFS_SYNC_RETRY_BACKOFF",
    // scripts/ and the tests.
    "PUTFS_ADDR",
    "PUTFS_BIN",
    "PUTFS_CLIENT_REQ",
    "PUTFS_CLIENT_VERSION",
    "PUTFS_E2E_FILTER",
    "PUTFS_E2E_TIMEOUT",
    "PUTFS_LOG_DIR",
    "PUTFS_PID",
    "PUTFS_PYENV",
    "PUTFS_REQUIRE_TOOLS",
    "PUTFS_REQUIRE_ZFS",
    "PUTFS_START_TIMEOUT",
    "PUTFS_TEST_BIG_MB",
    "PUTFS_URL",
];

/// Names people reach for that spelling distance would not lead to the
/// right variable (`PORT` is closer to `ROOT` than to `LISTEN`).
const SYNONYMS: &[(&str, &str)] = &[
    ("PUTFS_PORT", "PUTFS_LISTEN"),
    ("PUTFS_HOST", "PUTFS_LISTEN"),
    ("PUTFS_BIND", "PUTFS_LISTEN"),
    ("PUTFS_ADDRESS", "PUTFS_LISTEN"),
    ("PUTFS_DIR", "PUTFS_ROOT"),
    ("PUTFS_DATA", "PUTFS_ROOT"),
    ("PUTFS_DATA_DIR", "PUTFS_ROOT"),
    ("PUTFS_ROOT_DIR", "PUTFS_ROOT"),
];

/// How alike (0 to 1, after `PUTFS_`) a name must be to be suggested.
const ALIKE: f64 = 0.6;

/// The variables putfs knows: each with the flag that reads it, if any.
fn known(cmd: &clap::Command) -> BTreeMap<String, Option<String>> {
    fn walk(cmd: &clap::Command, known: &mut BTreeMap<String, Option<String>>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env().and_then(|e| e.to_str()) {
                let flag = arg.get_long().map(|l| format!("--{l}"));
                known.insert(env.to_owned(), flag);
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, known);
        }
    }
    let mut known: BTreeMap<_, _> = OTHERS.iter().map(|v| (v.to_string(), None)).collect();
    walk(cmd, &mut known);
    known
}

/// One warning line for each `PUTFS_*` name in `names` that putfs does
/// not read.
pub fn warnings(cmd: &clap::Command, names: impl Iterator<Item = OsString>) -> Vec<String> {
    let known = known(cmd);
    // What each spelling stands for: the variables themselves, the names
    // their flags suggest (`--max-depth` → PUTFS_MAX_DEPTH) and synonyms.
    let mut spellings: Vec<(String, &str)> = known.keys().map(|k| (k.clone(), &k[..])).collect();
    for (var, flag) in &known {
        if let Some(flag) = flag {
            let from_flag = format!("PUTFS_{}", flag[2..].to_uppercase().replace('-', "_"));
            spellings.push((from_flag, var));
        }
    }
    spellings.extend(SYNONYMS.iter().map(|(s, v)| (s.to_string(), *v)));
    let mut out = Vec::new();
    for name in names {
        let name = name.to_string_lossy();
        if !name.starts_with("PUTFS_") || known.contains_key(&*name) {
            continue;
        }
        let alike = |s: &str| strsim::normalized_damerau_levenshtein(&name[6..], &s[6..]);
        let best = spellings
            .iter()
            .map(|(s, var)| (alike(s), *var))
            .filter(|(score, _)| *score >= ALIKE)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        out.push(match best {
            Some((_, var)) => {
                let flag = known.get(var).cloned().flatten();
                let flag = flag.map(|f| format!(" ({f})")).unwrap_or_default();
                format!(
                    "warning: {name} is not a putfs variable and is ignored; did you mean {var}{flag}?"
                )
            }
            None => format!(
                "warning: {name} is not a putfs variable and is ignored \
                 (`putfs serve --help` lists them)"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn check(names: &[&str]) -> Vec<String> {
        let cmd = crate::cli::Cli::command();
        warnings(&cmd, names.iter().map(OsString::from))
    }

    #[test]
    fn a_misspelt_variable_names_the_one_meant() {
        let w = check(&[
            "PUTFS_MAX_DEPTH",
            "PUTFS_LISTN",
            "PUTFS_READONLY",
            "PUTFS_PORT",
        ]);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("did you mean PUTFS_MAX_PATH_DEPTH (--max-depth)?"));
        assert!(w[1].contains("did you mean PUTFS_LISTEN (--listen)?"));
        assert!(w[2].contains("did you mean PUTFS_READ_ONLY (--read-only)?"));
        assert!(w[3].contains("did you mean PUTFS_LISTEN"));
        let w = check(&["PUTFS_FOO"]);
        assert!(w[0].contains("PUTFS_FOO") && !w[0].contains("did you mean"));
    }

    #[test]
    fn known_and_foreign_variables_are_silent() {
        let w = check(&[
            "PUTFS_ROOT",
            "PUTFS_MAX_PATH_DEPTH",
            "PUTFS_WORM_GLOBS",
            "PUTFS_OPS_STATE",
            "PUTFS_FAULT",
            "HOME",
            "PUTFSX",
        ]);
        assert!(w.is_empty(), "{w:?}");
    }

    /// Every `PUTFS_*` name the project itself uses (scripts, units,
    /// sources, tests) is known, so none of them warns.
    #[test]
    fn every_variable_the_project_uses_is_known() {
        let top = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let known = known(&crate::cli::Cli::command());
        let re = regex::Regex::new(r"PUTFS_[A-Z0-9_]*[A-Z0-9]").unwrap();
        let mut unknown = std::collections::BTreeSet::new();
        let mut dirs: Vec<_> = [
            "src", "crates", "scripts", "ops", "tests", "haproxy", "nginx",
        ]
        .iter()
        .map(|d| top.join(d))
        .collect();
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                // This file and the tests of misspellings name unknown ones.
                let name = path.file_name().unwrap_or_default();
                if name == "env_check.rs" || name == "first_hour.rs" || name == "target" {
                    continue;
                }
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    for m in re.find_iter(&text) {
                        if !known.contains_key(m.as_str()) {
                            unknown.insert((m.as_str().to_owned(), path.clone()));
                        }
                    }
                }
            }
        }
        assert!(unknown.is_empty(), "add these to OTHERS: {unknown:?}");
    }
}
