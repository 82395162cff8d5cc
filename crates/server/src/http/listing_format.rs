//! How listing entries are written: upstream's lines, a JSON array, or the
//! HTML page (`listing_html`) browsers and rclone's `http` backend read.

use jiff::Timestamp;

use super::listing_html::{Arrangement, Page};
use crate::store::Entry;

/// The representation a listing request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One key per line; with `stat`, `<size> <mtime_ns> <key>`.
    Lines {
        stat: bool,
    },
    Json,
    Html,
}

impl Format {
    pub fn content_type(self, query: bool) -> &'static str {
        match self {
            Format::Lines { .. } if query => "application/octet-stream",
            Format::Lines { .. } => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// Writes one listing in its format.
pub enum Writer {
    Lines { stat: bool },
    Json { first: bool },
    Html(Box<Page>),
}

impl Writer {
    /// `page` is what an HTML listing needs; the other formats ignore it.
    pub fn new(format: Format, page: impl FnOnce() -> Page) -> Writer {
        match format {
            Format::Lines { stat } => Writer::Lines { stat },
            Format::Json => Writer::Json { first: true },
            Format::Html => Writer::Html(Box::new(page())),
        }
    }

    pub fn begin(&mut self, out: &mut String, arrangement: Arrangement) {
        match self {
            Writer::Lines { .. } => {}
            Writer::Json { .. } => out.push('['),
            Writer::Html(page) => page.begin(out, arrangement),
        }
    }

    pub fn entry(&mut self, out: &mut String, e: &Entry<'_>) {
        match self {
            Writer::Lines { stat: false } => {
                out.push_str(e.rel);
                out.push('\n');
            }
            Writer::Lines { stat: true } => {
                out.push_str(&format!("{} {} {}\n", e.size, e.mtime_ns, e.rel));
            }
            Writer::Json { first } => {
                if !*first {
                    out.push(',');
                }
                *first = false;
                out.push('\n');
                out.push_str(&json_entry(e).to_string());
            }
            Writer::Html(page) => page.entry(out, e),
        }
    }

    pub fn end(&mut self, out: &mut String) {
        match self {
            Writer::Lines { .. } => {}
            Writer::Json { .. } => out.push_str("\n]\n"),
            Writer::Html(page) => page.end(out),
        }
    }
}

/// `key` (relative to the prefix, a directory's with its `/`), `name` (its
/// last segment), `dir`, `size`, `mtime_ns`, and `mtime` in RFC 3339, UTC.
fn json_entry(e: &Entry<'_>) -> serde_json::Value {
    let name = e.rel.trim_end_matches('/');
    let name = name.rsplit('/').next().unwrap_or(name);
    let mtime = Timestamp::from_nanosecond(e.mtime_ns)
        .ok()
        .map(|t| t.to_string());
    serde_json::json!({
        "key": e.rel,
        "name": name,
        "dir": e.is_dir,
        "size": e.size,
        "mtime_ns": e.mtime_ns,
        "mtime": mtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: Format, entries: &[Entry<'_>]) -> String {
        let mut w = Writer::new(f, || Page::new("p/", None, jiff::tz::TimeZone::UTC));
        let mut out = String::new();
        w.begin(&mut out, Arrangement::Unsorted);
        for e in entries {
            w.entry(&mut out, e);
        }
        w.end(&mut out);
        out
    }

    const ENTRIES: [Entry<'static>; 2] = [
        Entry {
            rel: "a b/<x>:y.txt",
            is_dir: false,
            size: 3,
            mtime_ns: 1_704_164_645_123_456_789,
        },
        Entry {
            rel: "sub/",
            is_dir: true,
            size: 0,
            mtime_ns: 0,
        },
    ];

    #[test]
    fn lines_and_json() {
        assert_eq!(
            render(Format::Lines { stat: false }, &ENTRIES),
            "a b/<x>:y.txt\nsub/\n"
        );
        assert_eq!(
            render(Format::Lines { stat: true }, &ENTRIES[..1]),
            "3 1704164645123456789 a b/<x>:y.txt\n"
        );
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json, &ENTRIES)).unwrap();
        assert_eq!(v[0]["key"], "a b/<x>:y.txt");
        assert_eq!(v[0]["name"], "<x>:y.txt");
        assert_eq!(v[0]["mtime"], "2024-01-02T03:04:05.123456789Z");
        assert_eq!(v[1]["dir"], true);
        assert_eq!(v[1]["name"], "sub");
        assert_eq!(v[1]["mtime"], "1970-01-01T00:00:00Z");
        let empty: serde_json::Value = serde_json::from_str(&render(Format::Json, &[])).unwrap();
        assert_eq!(empty, serde_json::json!([]));
    }

    #[test]
    fn html_escapes_and_encodes() {
        let page = render(Format::Html, &ENTRIES);
        assert!(page.contains("<a href=\"a%20b/%3Cx%3E%3Ay.txt\">a b/&lt;x&gt;:y.txt</a>"));
        assert!(page.contains("<a href=\"sub/\">sub/</a>"));
        assert!(page.contains("<a href=\"../\">"));
    }
}
