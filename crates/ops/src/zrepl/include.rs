//! `include:` as zrepl's `ParseConfig` reads it: every path must exist; a
//! directory stands for the `*.yml` files directly in it, a file must end
//! in `.yml`; each is parsed as strictly as the main file, may not include
//! again, and only its jobs are used (its `global` is checked, then
//! dropped). Job names are checked once all jobs are merged.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::Finding;
use super::read::{Parsed, read};

/// The main file followed by every file it includes, in zrepl's order.
pub(crate) fn expand(config_path: &Path, main: Parsed) -> Result<Vec<Parsed>, Vec<Finding>> {
    let fail = |message: String| {
        vec![Finding {
            path: "include".into(),
            message,
            ..Finding::default()
        }]
    };
    let mut paths = Vec::new();
    for include in &main.config.include {
        let path = resolve(config_path, include);
        let shown = path.display();
        let meta = fs::metadata(&path).map_err(|e| fail(format!("stat path \"{shown}\": {e}")))?;
        if meta.is_dir() {
            paths.extend(yml_files(&path).map_err(|e| fail(format!("reading {shown}: {e}")))?);
        } else if !meta.is_file() {
            return Err(fail(format!("not a file or directory: {shown}")));
        } else if path.to_string_lossy().ends_with(".yml") {
            paths.push(path);
        } else {
            return Err(fail(format!(
                "include config files must end with `.yml`: {shown}"
            )));
        }
    }
    let mut files = vec![main];
    for path in paths {
        let shown = path.display().to_string();
        let text =
            fs::read_to_string(&path).map_err(|e| fail(format!("read file \"{shown}\": {e}")))?;
        let parsed = read(&text, Some(&shown))?;
        if !parsed.config.include.is_empty() {
            let e = format!("included configuration files must not include other files: {shown}");
            return Err(fail(e));
        }
        files.push(parsed);
    }
    Ok(files)
}

/// zrepl joins an include to the config's directory only when the config's
/// own path is relative, and then even an absolute include (Go's
/// `path.Join`); with an absolute config path it is taken as written, so a
/// relative one is relative to the working directory.
fn resolve(config: &Path, include: &str) -> PathBuf {
    if config.is_absolute() {
        return PathBuf::from(include);
    }
    let include = include.trim_start_matches('/');
    match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(include),
        _ => PathBuf::from(include),
    }
}

/// `filepath.Glob(dir + "/*.yml")`: every name ending in `.yml`, sorted.
fn yml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if name.to_string_lossy().ends_with(".yml") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}
