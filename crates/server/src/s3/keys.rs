//! `--s3-keys FILE`: the access keys the S3 listener accepts, one
//! `ACCESS_KEY_ID SECRET_ACCESS_KEY` pair per line, `#` comments and blank
//! lines allowed.

use std::collections::HashSet;
use std::path::Path;

use s3s::auth::{SecretKey, SimpleAuth};

/// Parse the keys file's text; `Err` names the line and what is wrong.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, secret] = fields[..] else {
            return Err(format!(
                "line {n}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY`, found {} field(s)",
                fields.len()
            ));
        };
        if !id.bytes().all(|b| b.is_ascii_graphic())
            || !secret.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!("line {n}: keys are printable ASCII without spaces"));
        }
        if !seen.insert(id.to_owned()) {
            return Err(format!("line {n}: access key {id} is listed twice"));
        }
        pairs.push((id.to_owned(), secret.to_owned()));
    }
    if pairs.is_empty() {
        return Err("no access key in it (one `ACCESS_KEY_ID SECRET_ACCESS_KEY` per line)".into());
    }
    Ok(pairs)
}

/// Read `path` into the listener's authenticator.
pub fn load(path: &Path) -> Result<SimpleAuth, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--s3-keys {}: {e}", path.display()))?;
    let pairs = parse(&text).map_err(|e| format!("--s3-keys {}: {e}", path.display()))?;
    let mut auth = SimpleAuth::new();
    for (id, secret) in pairs {
        auth.register(id, SecretKey::from(secret));
    }
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_comments_and_blank_lines() {
        let text = "# team keys\n\nAKIA1 s3cr3t/+x\n  AKIA2\tother  # not a comment here\n";
        let err = parse(text).unwrap_err();
        assert!(err.starts_with("line 4:"), "{err}");
        let ok = parse("# team keys\n\nAKIA1 s3cr3t/+x\n  AKIA2\tother\n").unwrap();
        assert_eq!(
            ok,
            vec![
                ("AKIA1".to_string(), "s3cr3t/+x".to_string()),
                ("AKIA2".to_string(), "other".to_string())
            ]
        );
    }

    #[test]
    fn mistakes_are_named_by_line() {
        assert!(parse("").unwrap_err().contains("no access key"));
        assert!(parse("# only\n").unwrap_err().contains("no access key"));
        assert!(parse("A\n").unwrap_err().starts_with("line 1:"));
        assert!(parse("A b\nA c\n").unwrap_err().contains("listed twice"));
    }
}
