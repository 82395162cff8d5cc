//! Reading zrepl's YAML as zrepl reads it: [`node`] keeps what the YAML
//! library sees (quoting, lines), [`de`] applies go-yaml v2's and
//! yaml-config's reading rules while serde fills in the model.

mod de;
mod node;

pub(crate) use de::read;
pub(crate) use node::{Kind, Node, parse};

/// Name of the job that a path like `jobs[2].connect` lies in.
pub(crate) fn job_name(root: &Node, path: &str) -> Option<String> {
    let index: usize = path
        .strip_prefix("jobs[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let Kind::Seq(jobs) = &root.get("jobs")?.kind else {
        return None;
    };
    jobs.get(index)?
        .get("name")?
        .text()
        .filter(|n| !n.is_empty())
}

/// Line of the value at `path` (as the reader and the rules write paths:
/// `jobs[0].filesystems["tank<"]`), or of the deepest part of it found.
pub(crate) fn line_at(root: &Node, path: &str) -> Option<usize> {
    let (mut node, mut line, mut rest) = (root, root.line, path);
    while let Some(step) = rest.chars().next() {
        let (key, after) = match step {
            '.' => {
                rest = &rest[1..];
                continue;
            }
            '[' if rest.starts_with("[\"") => rest[2..].split_once("\"]")?,
            '[' => rest[1..].split_once(']')?,
            _ => rest.split_at(rest.find(['.', '[']).unwrap_or(rest.len())),
        };
        let next = match (&node.kind, key.parse::<usize>()) {
            (Kind::Seq(items), Ok(i)) if step == '[' => items.get(i),
            (Kind::Map(entries), _) => entries
                .iter()
                .find(|(k, _)| k.text().as_deref() == Some(key))
                .map(|(k, v)| {
                    line = k.line.or(line);
                    v
                }),
            _ => None,
        };
        let Some(next) = next else { break };
        node = next;
        line = node.line.or(line);
        rest = after;
    }
    line
}
