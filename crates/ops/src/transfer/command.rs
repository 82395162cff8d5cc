//! The command line that applies the deletes: this very invocation with
//! `--apply-deletes` added, `--dry-run` dropped, and the write token left
//! out (a token on a printed line ends up in logs and terminals).

/// This command line with `--apply-deletes`, ready to paste.
pub fn apply_deletes() -> String {
    build(std::env::args().collect(), None)
}

/// The same, sending the deletes to `to` instead of this run's `--to`.
pub fn apply_deletes_via(to: &str) -> String {
    build(std::env::args().collect(), Some(to))
}

/// Whether this command line carries `--token`.
pub fn had_token() -> bool {
    std::env::args().any(|a| a == "--token" || a.starts_with("--token="))
}

fn build(argv: Vec<String>, to: Option<&str>) -> String {
    let mut out = Vec::with_capacity(argv.len() + 1);
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dry-run" | "--apply-deletes" => {}
            "--token" => {
                it.next();
            }
            "--to" if to.is_some() => {
                it.next();
                out.push(a);
                out.push(to.unwrap_or_default().to_owned());
            }
            s if s.starts_with("--token=") => {}
            s if s.starts_with("--to=") && to.is_some() => {
                out.push(format!("--to={}", to.unwrap_or_default()));
            }
            _ => out.push(a),
        }
    }
    out.push("--apply-deletes".to_owned());
    shell_words::join(out)
}

#[cfg(test)]
mod tests {
    use super::build;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn adds_the_flag_and_drops_dry_run_and_token() {
        assert_eq!(
            build(
                argv(
                    "putfs ops transfer-gap --root /a b --dry-run --token s3cret --to http://b:8000"
                ),
                None
            ),
            "putfs ops transfer-gap --root /a b --to http://b:8000 --apply-deletes"
        );
        assert_eq!(
            build(
                argv("putfs ops transfer-gap --token=x --to=/srv/b"),
                Some("http://h:1")
            ),
            "putfs ops transfer-gap '--to=http://h:1' --apply-deletes"
        );
    }

    #[test]
    fn quotes_for_the_shell() {
        let a = vec!["putfs".into(), "--root".into(), "/data/a b".into()];
        assert_eq!(build(a, None), "putfs --root '/data/a b' --apply-deletes");
    }
}
