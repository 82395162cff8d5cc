//! Sorting a listing by name, size or date, directories first.
//!
//! The walk streams entries in the filesystem's order with bounded memory;
//! sorting needs all of them at once. So entries are held only up to
//! `MAX_ENTRIES` (and `MAX_KEY_BYTES` of keys: a deep listing's keys can be
//! long): a listing that fits is written sorted, a larger one is written in
//! the order walked, complete, and the HTML page says it is not sorted.
//! Held entries share one string for their keys, so an entry costs its key
//! plus a few dozen bytes: under 3 MiB per listing at the cap.

use std::cmp::Ordering;

use crate::store::Entry;

/// Most entries a listing sorts.
pub const MAX_ENTRIES: usize = 10_000;

/// Most bytes of keys a listing sorts.
pub const MAX_KEY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Size,
    Date,
}

impl SortKey {
    pub const ALL: [SortKey; 3] = [SortKey::Name, SortKey::Size, SortKey::Date];

    /// Its value in `?sort=`.
    pub fn param(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Date => "date",
        }
    }
}

/// How a listing is sorted: `?sort=name|size|date&order=asc|desc`, name
/// ascending by default. Directories always come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub key: SortKey,
    pub desc: bool,
}

impl Default for Order {
    fn default() -> Self {
        Order {
            key: SortKey::Name,
            desc: false,
        }
    }
}

impl Order {
    /// From the query parameters; `Err` is the one-line reason for a 400.
    pub fn parse(sort: Option<&str>, order: Option<&str>) -> Result<Order, String> {
        let key = match sort {
            None => SortKey::Name,
            Some(s) => *SortKey::ALL
                .iter()
                .find(|k| k.param() == s)
                .ok_or_else(|| format!("sort must be name, size or date, got {s:?}"))?,
        };
        let desc = match order {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(o) => return Err(format!("order must be asc or desc, got {o:?}")),
        };
        Ok(Order { key, desc })
    }

    pub fn order_param(self) -> &'static str {
        if self.desc { "desc" } else { "asc" }
    }
}

/// One held entry; its key is `keys[start..end]`.
struct Row {
    start: usize,
    end: usize,
    is_dir: bool,
    size: u64,
    mtime_ns: i128,
}

/// Entries held until the walk ends, to be sorted.
#[derive(Default)]
pub struct Held {
    keys: String,
    rows: Vec<Row>,
}

impl Held {
    /// Hold the entry; `false` (and nothing held) when it would pass the cap.
    pub fn push(&mut self, e: &Entry<'_>) -> bool {
        if self.rows.len() >= MAX_ENTRIES || self.keys.len() + e.rel.len() > MAX_KEY_BYTES {
            return false;
        }
        let start = self.keys.len();
        self.keys.push_str(e.rel);
        self.rows.push(Row {
            start,
            end: self.keys.len(),
            is_dir: e.is_dir,
            size: e.size,
            mtime_ns: e.mtime_ns,
        });
        true
    }

    pub fn sort(&mut self, order: Order) {
        let keys = &self.keys;
        self.rows.sort_by(|a, b| {
            let name = |r: &Row| &keys[r.start..r.end];
            let primary = match order.key {
                SortKey::Name => Ordering::Equal,
                // A directory's own size says nothing of its content.
                SortKey::Size if a.is_dir || b.is_dir => Ordering::Equal,
                SortKey::Size => a.size.cmp(&b.size),
                SortKey::Date => a.mtime_ns.cmp(&b.mtime_ns),
            }
            .then_with(|| name(a).cmp(name(b)));
            let primary = if order.desc {
                primary.reverse()
            } else {
                primary
            };
            b.is_dir.cmp(&a.is_dir).then(primary)
        });
    }

    /// The held entries, in the order held or sorted.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.rows.iter().map(|r| Entry {
            rel: &self.keys[r.start..r.end],
            is_dir: r.is_dir,
            size: r.size,
            mtime_ns: r.mtime_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rel: &str, size: u64, mtime_ns: i128) -> Entry<'_> {
        Entry {
            rel,
            is_dir: rel.ends_with('/'),
            size,
            mtime_ns,
        }
    }

    fn sorted(order: Order) -> Vec<String> {
        let mut held = Held::default();
        for e in [
            entry("b.txt", 300, 3),
            entry("zdir/", 4096, 1),
            entry("a.txt", 10, 2),
            entry("c.txt", 2000, 2),
            entry("adir/", 4096, 9),
        ] {
            assert!(held.push(&e));
        }
        held.sort(order);
        held.entries().map(|e| e.rel.to_owned()).collect()
    }

    #[test]
    fn directories_first_then_the_key() {
        let o = |sort, order| Order::parse(sort, order).unwrap();
        assert_eq!(
            sorted(o(None, None)),
            ["adir/", "zdir/", "a.txt", "b.txt", "c.txt"]
        );
        assert_eq!(
            sorted(o(Some("name"), Some("desc"))),
            ["zdir/", "adir/", "c.txt", "b.txt", "a.txt"]
        );
        assert_eq!(
            sorted(o(Some("size"), None)),
            ["adir/", "zdir/", "a.txt", "b.txt", "c.txt"]
        );
        assert_eq!(
            sorted(o(Some("size"), Some("desc"))),
            ["zdir/", "adir/", "c.txt", "b.txt", "a.txt"]
        );
        // Equal dates fall back to the name.
        assert_eq!(
            sorted(o(Some("date"), None)),
            ["zdir/", "adir/", "a.txt", "c.txt", "b.txt"]
        );
        assert!(Order::parse(Some("colour"), None).is_err());
        assert!(Order::parse(None, Some("up")).is_err());
    }

    #[test]
    fn holding_stops_at_the_cap() {
        let mut held = Held::default();
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("f{i}")).collect();
        for n in &names[..MAX_ENTRIES] {
            assert!(held.push(&entry(n, 0, 0)));
        }
        assert!(!held.push(&entry(&names[MAX_ENTRIES], 0, 0)));
        assert_eq!(held.entries().count(), MAX_ENTRIES);

        let mut held = Held::default();
        let long = "k".repeat(1024);
        let fit = MAX_KEY_BYTES / long.len();
        for _ in 0..fit {
            assert!(held.push(&entry(&long, 0, 0)));
        }
        assert!(!held.push(&entry(&long, 0, 0)));
    }
}
