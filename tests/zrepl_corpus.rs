//! `putfs ops zrepl-check` against zrepl's own verdicts.
//!
//! `tests/data/zrepl-corpus` holds configs zrepl accepts (`accept/`) and
//! refuses (`reject/`), taken from zrepl's samples and tests or derived from
//! its source; `INDEX.md` there says where each comes from, at which stage
//! zrepl refuses it, and which key, value or file the report must name.
//! The checker must agree on every case.
//!
//! A case is `NAME.yml` or a directory with `main.yml` (include cases). It is
//! checked from the directory holding the config, with a relative path:
//! zrepl resolves relative includes against the config's directory only when
//! the config path is relative, so that is the one setting where both readings
//! of an include agree.
//!
//! Exit status 0 means accepted, 1 rejected; anything else is reported as an
//! error of the checker.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zrepl-corpus");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Reject,
}

impl Verdict {
    fn parse(s: &str) -> Option<Verdict> {
        match s {
            "accept" => Some(Verdict::Accept),
            "reject" => Some(Verdict::Reject),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
        }
    }
}

/// One row of INDEX.md.
#[derive(Debug)]
struct Case {
    /// `accept/NAME.yml` or `reject/NAME/`, relative to the corpus.
    id: String,
    expect: Verdict,
    /// `-` for accepts, `parse` or `build` for rejects.
    stage: String,
    /// What a rejection report must contain, if anything.
    names: Option<String>,
}

impl Case {
    /// Directory to run in and the config path to pass, relative to it.
    fn invocation(&self) -> (PathBuf, String) {
        let path = Path::new(CORPUS).join(self.id.trim_end_matches('/'));
        if self.id.ends_with('/') {
            return (path, "main.yml".to_string());
        }
        let dir = path.parent().expect("case has a parent").to_path_buf();
        let file = path.file_name().expect("case has a file name");
        (dir, file.to_string_lossy().into_owned())
    }
}

/// Split a Markdown table row into cells; `\|` is a literal bar.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

fn unquote(cell: &str) -> &str {
    cell.trim_matches('`')
}

fn read_index() -> Vec<Case> {
    let path = Path::new(CORPUS).join("INDEX.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if !(line.starts_with("| `accept/") || line.starts_with("| `reject/")) {
            continue;
        }
        let c = cells(line);
        assert!(
            c.len() >= 7,
            "INDEX.md line {}: expected 7 cells, found {}: {line}",
            n + 1,
            c.len()
        );
        let id = unquote(&c[0]).to_string();
        let expect = Verdict::parse(&c[1])
            .unwrap_or_else(|| panic!("INDEX.md line {}: bad expect {:?}", n + 1, c[1]));
        let names = match c[3].as_str() {
            "-" => None,
            s => Some(unquote(s).to_string()),
        };
        cases.push(Case {
            id,
            expect,
            stage: c[2].clone(),
            names,
        });
    }
    cases
}

/// Cases as they are on disk: `DIR/NAME.yml` files and `DIR/NAME/` directories.
fn cases_on_disk() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for dir in ["accept", "reject"] {
        let base = Path::new(CORPUS).join(dir);
        let entries =
            std::fs::read_dir(&base).unwrap_or_else(|e| panic!("reading {}: {e}", base.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                found.insert(format!("{dir}/{name}/"));
            } else {
                found.insert(format!("{dir}/{name}"));
            }
        }
    }
    found
}

/// The corpus itself is consistent: every case is indexed, every index row
/// exists, and each row fits its directory. Independent of the checker.
#[test]
fn corpus_index_matches_files() {
    let cases = read_index();
    assert!(
        cases.len() > 105,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut problems = Vec::new();
    let mut indexed = BTreeSet::new();
    for c in &cases {
        if !indexed.insert(c.id.clone()) {
            problems.push(format!("{}: indexed twice", c.id));
        }
        let dir = c.id.split('/').next().unwrap_or_default();
        if dir != c.expect.as_str() {
            problems.push(format!(
                "{}: expect {} but lives in {dir}/",
                c.id,
                c.expect.as_str()
            ));
        }
        match (c.expect, c.stage.as_str()) {
            (Verdict::Accept, "-") | (Verdict::Reject, "parse" | "build") => {}
            (_, stage) => problems.push(format!("{}: stage {stage:?} does not fit", c.id)),
        }
        if c.expect == Verdict::Accept && c.names.is_some() {
            problems.push(format!("{}: an accept case names nothing", c.id));
        }
        if c.id.ends_with('/') {
            let main = Path::new(CORPUS).join(&c.id).join("main.yml");
            if !main.is_file() {
                problems.push(format!("{}: no main.yml", c.id));
            }
        } else if !c.id.ends_with(".yml") {
            problems.push(format!("{}: not a .yml file", c.id));
        }
    }
    let on_disk = cases_on_disk();
    for id in on_disk.difference(&indexed) {
        problems.push(format!("{id}: on disk but not in INDEX.md"));
    }
    for id in indexed.difference(&on_disk) {
        problems.push(format!("{id}: in INDEX.md but not on disk"));
    }
    assert!(
        problems.is_empty(),
        "zrepl corpus is inconsistent:\n  {}",
        problems.join("\n  ")
    );
}

/// What the checker did with one case.
struct Outcome {
    /// Accepted or rejected; `None` for any other exit.
    got: Option<Verdict>,
    status: String,
    report: String,
}

fn run_checker(case: &Case) -> Outcome {
    let (dir, arg) = case.invocation();
    let out = Command::new(env!("CARGO_BIN_EXE_putfs"))
        .args(["ops", "zrepl-check", &arg])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running putfs for {}: {e}", case.id));
    let got = match out.status.code() {
        Some(0) => Some(Verdict::Accept),
        Some(1) => Some(Verdict::Reject),
        _ => None,
    };
    Outcome {
        got,
        status: out.status.to_string(),
        report: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Why a case disagrees, or `None` when it agrees.
fn disagreement(case: &Case, o: &Outcome) -> Option<String> {
    match (case.expect, o.got) {
        (_, None) => Some(format!("checker failed ({})", o.status)),
        (Verdict::Accept, Some(Verdict::Accept)) => None,
        (Verdict::Reject, Some(Verdict::Reject)) => match &case.names {
            Some(token) if !names(&o.report, token) => {
                Some(format!("rejected, but the report does not name `{token}`"))
            }
            _ => None,
        },
        (Verdict::Accept, Some(Verdict::Reject)) => Some("zrepl accepts it".to_string()),
        (Verdict::Reject, Some(Verdict::Accept)) => {
            Some(format!("zrepl rejects it ({} stage)", case.stage))
        }
    }
}

/// Whether `report` mentions `token` as a whole word, so that `ca` is not
/// found in `cannot` nor `name` in `rename`.
fn names(report: &str, token: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    report.match_indices(token).any(|(at, _)| {
        let before = report[..at].chars().next_back();
        let after = report[at + token.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

fn first_lines(report: &str, n: usize) -> String {
    report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| format!("      | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn zrepl_check_agrees_with_zrepl() {
    let cases = read_index();
    assert!(!cases.is_empty(), "no cases in INDEX.md");
    let width = cases.iter().map(|c| c.id.len()).max().unwrap_or(4);

    let mut table = format!(
        "{:<width$}  {:<6}  {:<8}  {:<8}  verdict\n",
        "case", "stage", "expected", "got"
    );
    let mut wrong = Vec::new();
    let mut outcome_agree = 0;
    // (agreeing, total) per expected group.
    let mut groups = [
        ("accept", 0, 0),
        ("reject/parse", 0, 0),
        ("reject/build", 0, 0),
    ];
    for case in &cases {
        let o = run_checker(case);
        let why = disagreement(case, &o);
        if o.got == Some(case.expect) {
            outcome_agree += 1;
        }
        let group = match (case.expect, case.stage.as_str()) {
            (Verdict::Accept, _) => 0,
            (Verdict::Reject, "build") => 2,
            (Verdict::Reject, _) => 1,
        };
        groups[group].2 += 1;
        if why.is_none() {
            groups[group].1 += 1;
        }
        table.push_str(&format!(
            "{:<width$}  {:<6}  {:<8}  {:<8}  {}\n",
            case.id,
            case.stage,
            case.expect.as_str(),
            o.got.map_or("error", Verdict::as_str),
            why.as_deref()
                .map_or("ok".to_string(), |w| format!("DISAGREE: {w}"))
        ));
        if let Some(why) = why {
            wrong.push(format!(
                "  {} (expected {}): {why}\n{}",
                case.id,
                case.expect.as_str(),
                first_lines(&o.report, 3)
            ));
        }
    }
    let agree = cases.len() - wrong.len();
    let summary = format!(
        "agreement: {agree} of {} cases ({}); same accept/reject outcome ignoring names: {outcome_agree} of {}",
        cases.len(),
        groups
            .iter()
            .map(|(g, a, t)| format!("{g} {a}/{t}"))
            .collect::<Vec<_>>()
            .join(", "),
        cases.len()
    );
    println!("{table}\n{summary}");
    assert!(
        wrong.is_empty(),
        "zrepl-check disagrees with zrepl on {} of {} cases:\n{}\n{summary}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn names_matches_whole_words() {
    assert!(names(
        "missing required field ca (at jobs[0].connect.ca)",
        "ca"
    ));
    assert!(!names("cannot parse the local address", "ca"));
    assert!(names(r#"unknown job type "Push""#, "Push"));
    assert!(names("duplicate key tank/data< in filter", "tank/data<"));
    assert!(!names("field root_fs_x", "root_fs"));
}
