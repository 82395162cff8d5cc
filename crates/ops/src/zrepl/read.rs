//! One file: YAML text to the model, and what the reader refused.
//!
//! The jobs are read one by one, so a job the reader has to give up on
//! does not hide what is wrong with the others.

use super::error::Finding;
use super::model::{Config, Job};
use super::yaml::{self, Kind, Node};

/// A file as far as it could be read.
pub(crate) struct Parsed {
    /// Its config; without the jobs that could not be read.
    pub config: Config,
    /// Where each job of `config.jobs` stands in the file's `jobs`.
    pub indices: Vec<usize>,
    pub tree: Node,
    /// How findings name the file; `None` for the file being checked.
    pub file: Option<String>,
    /// What the reader refused.
    pub errors: Vec<Finding>,
}

/// Read `text`; `Err` if it is not YAML at all.
pub(crate) fn read(text: &str, file: Option<&str>) -> Result<Parsed, Vec<Finding>> {
    let file = file.map(str::to_string);
    let tree = yaml::parse(text).map_err(|e| {
        vec![Finding {
            message: format!("not valid YAML: {e}"),
            line: e.location().map(|l| l.line()),
            file: file.clone(),
            ..Finding::default()
        }]
    })?;
    let (top, jobs) = split_jobs(&tree);
    let (config, mut problems) = yaml::read::<Config>(&top, "");
    let mut config = config.unwrap_or_default();
    let mut indices: Vec<usize> = (0..config.jobs.len()).collect();
    for (i, node) in jobs.iter().enumerate() {
        let (job, more) = yaml::read::<Job>(node, &format!("jobs[{i}]"));
        problems.extend(more);
        if let Some(job) = job {
            config.jobs.push(job);
            indices.push(i);
        }
    }
    let errors = (problems.into_iter())
        .map(|e| {
            let path = e.path.unwrap_or_default();
            let job = yaml::job_name(&tree, &path);
            let (message, line, file) = (e.message, e.line, file.clone());
            Finding {
                path,
                job,
                message,
                line,
                file,
            }
        })
        .collect();
    Ok(Parsed {
        config,
        indices,
        tree,
        file,
        errors,
    })
}

/// The document without its list of jobs, and the jobs. A `jobs` that is
/// not one list stays in, for the reader to refuse.
fn split_jobs(tree: &Node) -> (Node, &[Node]) {
    let Kind::Map(entries) = &tree.kind else {
        return (tree.clone(), &[]);
    };
    let is_jobs = |(k, _): &&(Node, Node)| k.text().as_deref() == Some("jobs");
    match entries.iter().filter(is_jobs).collect::<Vec<_>>()[..] {
        [
            (
                _,
                Node {
                    kind: Kind::Seq(jobs),
                    ..
                },
            ),
        ] => {
            let rest = entries.iter().filter(|e| !is_jobs(e)).cloned().collect();
            let top = Node {
                kind: Kind::Map(rest),
                line: tree.line,
            };
            (top, jobs)
        }
        _ => (tree.clone(), &[]),
    }
}
