//! ListObjects (V1 and V2) over the directory tree, in S3's byte order,
//! one directory in memory at a time: a directory's entries are read,
//! sorted (a directory as its name with `/`, which is where its keys fall
//! among its siblings' in byte order) and walked depth first. Subtrees
//! wholly at or before the start point are skipped without being read;
//! with the delimiter `/`, a directory beyond the prefix is one common
//! prefix and is not read at all.

use std::ops::ControlFlow;
use std::time::SystemTime;

use putfs_store::{ListOptions, Result, Store, StoreError, Target};

/// One page of a listing. Keys and prefixes are relative to the bucket.
#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix of the page: where the next starts.
    pub last: Option<String>,
}

#[derive(Debug)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

pub struct Query<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// List only what sorts after this.
    pub after: &'a str,
    pub max: usize,
}

/// The entries of one directory (relative to the bucket, ending in `/`, or
/// the bucket itself: ""), sorted; a directory's name ends in `/`.
fn sorted_entries(store: &Store, bucket: &str, dir: &str) -> Result<Vec<(String, u64, i128)>> {
    let prefix = match Target::parse(&format!("{bucket}/{dir}"), store.limits()) {
        Ok(Target::Listing(p)) => p,
        // No key lives under a path that is not one.
        _ => return Ok(Vec::new()),
    };
    let listing = match store.open_listing(&prefix) {
        Ok(l) => l,
        Err(StoreError::NotFound) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    let opts = ListOptions {
        depth: Some(1),
        dirs: true,
        stat: true,
    };
    listing.walk(opts, &mut |e| {
        entries.push((e.rel.to_owned(), e.size, e.mtime_ns));
        ControlFlow::Continue(())
    })?;
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// The common prefix `key` rolls up to under `prefix` and `delimiter`.
fn rolled_up<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// A directory being walked: its path and its remaining sorted entries.
type Level = (String, std::vec::IntoIter<(String, u64, i128)>);

/// Adds entries to a page until it is full.
struct Filler<'q> {
    page: Page,
    max: usize,
    after: &'q str,
    last_prefix: Option<String>,
}

impl Filler<'_> {
    /// `Break` once the page is full and another entry was waiting.
    fn prefix(&mut self, cp: &str) -> ControlFlow<()> {
        if cp <= self.after || self.last_prefix.as_deref() == Some(cp) {
            return ControlFlow::Continue(());
        }
        self.room()?;
        self.last_prefix = Some(cp.to_owned());
        self.page.prefixes.push(cp.to_owned());
        self.page.last = Some(cp.to_owned());
        ControlFlow::Continue(())
    }

    fn object(&mut self, key: String, size: u64, mtime_ns: i128) -> ControlFlow<()> {
        self.room()?;
        self.page.last = Some(key.clone());
        self.page.objects.push(Listed {
            key,
            size,
            modified: putfs_store::system_time(mtime_ns),
        });
        ControlFlow::Continue(())
    }

    fn room(&mut self) -> ControlFlow<()> {
        if self.page.objects.len() + self.page.prefixes.len() == self.max {
            self.page.truncated = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

pub fn list(store: &Store, q: &Query<'_>) -> Result<Page> {
    if q.max == 0 {
        return Ok(Page::default());
    }
    // The directory the prefix's keys live under.
    let start_dir = match q.prefix.rfind('/') {
        Some(i) => &q.prefix[..=i],
        None => "",
    };
    let mut stack: Vec<Level> = vec![(
        start_dir.to_owned(),
        sorted_entries(store, q.bucket, start_dir)?.into_iter(),
    )];
    let mut fill = Filler {
        page: Page::default(),
        max: q.max,
        after: q.after,
        last_prefix: None,
    };
    while let Some((dir, entries)) = stack.last_mut() {
        let Some((rel, size, mtime_ns)) = entries.next() else {
            stack.pop();
            continue;
        };
        let full = format!("{dir}{rel}");
        let flow = if full.ends_with('/') {
            // A directory: its keys all start with `full`.
            let relevant = full.starts_with(q.prefix) || q.prefix.starts_with(&full);
            let all_before = *full <= *q.after && !q.after.starts_with(&full);
            if !relevant || all_before {
                continue;
            }
            // With `/` as the delimiter, a directory past the prefix is one
            // common prefix: no need to read it.
            let beyond = q.delimiter == Some("/") && full.len() > q.prefix.len();
            match rolled_up(&full, q.prefix, q.delimiter).filter(|_| beyond) {
                Some(cp) => fill.prefix(cp),
                None => {
                    let entries = sorted_entries(store, q.bucket, &full)?;
                    stack.push((full, entries.into_iter()));
                    continue;
                }
            }
        } else if !full.starts_with(q.prefix) || *full <= *q.after {
            continue;
        } else {
            match rolled_up(&full, q.prefix, q.delimiter) {
                Some(cp) => fill.prefix(cp),
                None => fill.object(full, size, mtime_ns),
            }
        };
        if flow.is_break() {
            break;
        }
    }
    Ok(fill.page)
}
