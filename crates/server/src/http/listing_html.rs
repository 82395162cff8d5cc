//! The HTML listing a browser gets: breadcrumbs, one table row per entry
//! with its size (KiB, MiB… with the exact count on hover) and its
//! modification time in ISO 8601 in the server's local time zone, column
//! headings that sort, and a parent link.
//!
//! Every href is relative (`../`, `name`, `?sort=…`), so the page works
//! behind a proxy that mounts putfs under a path, and is built from
//! percent-encoded segments (`url_path`); every text is HTML-escaped.
//! rclone's `http` backend reads the same page: it takes only links to
//! direct children and skips `../`, `./` and links with a query.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use humansize::{BINARY, format_size};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::browser::STYLE;
use super::listing_sort::{self, Order, SortKey};
use super::url_path;
use crate::store::Entry;

/// `1.5 KiB`, `3.0 MiB`, `100 B`.
fn human(size: u64) -> String {
    if size < 1024 {
        return format!("{size} B");
    }
    format_size(size, BINARY.decimal_places(1).decimal_zeroes(1))
}

/// How the entries of a page come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    Sorted(Order),
    /// Too many to sort (`listing_sort`): in the order walked.
    Unsorted,
}

/// One listing page being written.
pub struct Page {
    /// `""` or `a/b/`.
    prefix: String,
    /// The request's query parameters other than the sort, kept by the sort
    /// links.
    kept: Vec<(String, String)>,
    tz: TimeZone,
    count: u64,
}

impl Page {
    pub fn new(prefix: &str, query: Option<&str>, tz: TimeZone) -> Page {
        let kept = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(k, _)| k != "sort" && k != "order")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Page {
            prefix: prefix.to_owned(),
            kept,
            tz,
            count: 0,
        }
    }

    pub fn begin(&self, out: &mut String, arrangement: Arrangement) {
        let title = text(&self.prefix);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Index of /{title}</title><style>{STYLE}</style></head>\n\
             <body><h1>Index of {}</h1>\n",
            self.breadcrumbs()
        );
        if arrangement == Arrangement::Unsorted {
            let _ = writeln!(
                out,
                "<p class=\"note\">This directory holds more than {} entries (or {} MiB \
                 of names), too many to sort: they are listed in the order the \
                 filesystem returns them, not sorted.</p>",
                listing_sort::MAX_ENTRIES,
                listing_sort::MAX_KEY_BYTES >> 20,
            );
        }
        out.push_str("<table>\n<thead><tr>");
        for (key, label, class) in [
            (SortKey::Name, "Name", ""),
            (SortKey::Size, "Size", " class=\"size\""),
            (SortKey::Date, "Modified", " class=\"date\""),
        ] {
            self.heading(out, arrangement, key, label, class);
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        if !self.prefix.is_empty() {
            out.push_str(
                "<tr><td><a href=\"../\">../</a> (parent directory)</td>\
                 <td class=\"size\"></td><td class=\"date\"></td></tr>\n",
            );
        }
    }

    pub fn entry(&mut self, out: &mut String, e: &Entry<'_>) {
        self.count += 1;
        let href = url_path::encode(e.rel);
        let name = text(e.rel);
        let size = if e.is_dir {
            "<td class=\"size\">-</td>".to_owned()
        } else {
            let unit = if e.size == 1 { "byte" } else { "bytes" };
            format!(
                "<td class=\"size\" title=\"{} {unit}\">{}</td>",
                e.size,
                human(e.size)
            )
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{href}\">{name}</a></td>{size}<td class=\"date\">{}</td></tr>",
            self.local_time(e.mtime_ns)
        );
    }

    pub fn end(&self, out: &mut String) {
        let entries = if self.count == 1 { "entry" } else { "entries" };
        let offset = Timestamp::now()
            .to_zoned_datetime(self.tz.clone())
            .strftime("%:z")
            .to_string();
        let zone = match self.tz.iana_name() {
            Some(name) => format!("{} (UTC{offset} now)", text(name)),
            None => format!("UTC{offset}"),
        };
        let _ = write!(
            out,
            "</tbody></table>\n<p class=\"note\">{} {entries}. Times are the server's \
             local time, {zone}.</p>\n</body></html>\n",
            self.count
        );
    }

    /// `/` then each segment, each a link to its own listing.
    fn breadcrumbs(&self) -> String {
        let segments: Vec<&str> = self.prefix.split('/').filter(|s| !s.is_empty()).collect();
        let up = |levels: usize| {
            if levels == 0 {
                "./".to_owned()
            } else {
                "../".repeat(levels)
            }
        };
        let mut out = format!("<a href=\"{}\">/</a>", up(segments.len()));
        for (i, segment) in segments.iter().enumerate() {
            let _ = write!(
                out,
                "<a href=\"{}\">{}</a>/",
                up(segments.len() - 1 - i),
                text(segment)
            );
        }
        out
    }

    /// A column heading: a link that sorts by it (the current column's
    /// link reverses the order), plain text when the page is not sorted.
    fn heading(
        &self,
        out: &mut String,
        arrangement: Arrangement,
        key: SortKey,
        label: &str,
        class: &str,
    ) {
        let Arrangement::Sorted(current) = arrangement else {
            let _ = write!(out, "<th{class}>{label}</th>");
            return;
        };
        let (next, aria, arrow) = if current.key == key {
            let (aria, arrow) = if current.desc {
                ("descending", " \u{2193}")
            } else {
                ("ascending", " \u{2191}")
            };
            let next = Order {
                key,
                desc: !current.desc,
            };
            (next, format!(" aria-sort=\"{aria}\""), arrow)
        } else {
            (Order { key, desc: false }, String::new(), "")
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.kept {
            query.append_pair(k, v);
        }
        query.append_pair("sort", key.param());
        query.append_pair("order", next.order_param());
        let _ = write!(
            out,
            "<th{class}{aria}><a href=\"?{}\">{label}</a>{arrow}</th>",
            attr(&query.finish())
        );
    }

    /// `2024-01-02T08:34:05+05:30`: local, with the offset of that moment
    /// (which daylight saving time changes).
    fn local_time(&self, mtime_ns: i128) -> String {
        match Timestamp::from_nanosecond(mtime_ns) {
            Ok(t) => t
                .to_zoned_datetime(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => "-".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> TimeZone {
        TimeZone::fixed(jiff::tz::offset(5))
    }

    fn render(
        prefix: &str,
        query: Option<&str>,
        arrangement: Arrangement,
        entries: &[Entry<'_>],
    ) -> String {
        let mut page = Page::new(prefix, query, tz());
        let mut out = String::new();
        page.begin(&mut out, arrangement);
        for e in entries {
            page.entry(&mut out, e);
        }
        page.end(&mut out);
        out
    }

    const SORTED: Arrangement = Arrangement::Sorted(Order {
        key: SortKey::Name,
        desc: false,
    });

    #[test]
    fn rows_show_human_sizes_exact_counts_and_local_times() {
        let entries = [
            Entry {
                rel: "a b/<x>:y.txt",
                is_dir: false,
                size: 1536,
                mtime_ns: 1_704_164_645_000_000_000,
            },
            Entry {
                rel: "sub/",
                is_dir: true,
                size: 4096,
                mtime_ns: 0,
            },
            Entry {
                rel: "one",
                is_dir: false,
                size: 1,
                mtime_ns: 0,
            },
        ];
        let page = render("p/", None, SORTED, &entries);
        assert!(
            page.contains(
                "<tr><td><a href=\"a%20b/%3Cx%3E%3Ay.txt\">a b/&lt;x&gt;:y.txt</a></td>\
                 <td class=\"size\" title=\"1536 bytes\">1.5 KiB</td>\
                 <td class=\"date\">2024-01-02T08:04:05+05:00</td></tr>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<a href=\"sub/\">sub/</a></td><td class=\"size\">-</td>"),
            "{page}"
        );
        assert!(page.contains("title=\"1 byte\">1 B</td>"), "{page}");
        assert!(
            page.contains("3 entries. Times are the server's local time, UTC+05:00."),
            "{page}"
        );
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human(100), "100 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
    }

    #[test]
    fn breadcrumbs_and_parent() {
        let page = render("a/<b>/", None, SORTED, &[]);
        assert!(
            page.contains(
                "<h1>Index of <a href=\"../../\">/</a><a href=\"../\">a</a>/\
                 <a href=\"./\">&lt;b&gt;</a>/</h1>"
            ),
            "{page}"
        );
        assert!(page.contains("<a href=\"../\">../</a>"), "{page}");
        let root = render("", None, SORTED, &[]);
        assert!(
            root.contains("<h1>Index of <a href=\"./\">/</a></h1>"),
            "{root}"
        );
        assert!(!root.contains("href=\"../"), "{root}");
    }

    #[test]
    fn headings_sort_and_keep_other_parameters() {
        let by_size = Arrangement::Sorted(Order {
            key: SortKey::Size,
            desc: true,
        });
        let page = render(
            "",
            Some("depth=1&glob=*.jpg&sort=size&order=desc"),
            by_size,
            &[],
        );
        assert!(
            page.contains(
                "<th><a href=\"?depth=1&amp;glob=*.jpg&amp;sort=name&amp;order=asc\">Name</a></th>"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "<th class=\"size\" aria-sort=\"descending\"><a \
                 href=\"?depth=1&amp;glob=*.jpg&amp;sort=size&amp;order=asc\">Size</a> \u{2193}</th>"
            ),
            "{page}"
        );
        let unsorted = render("", None, Arrangement::Unsorted, &[]);
        assert!(unsorted.contains("not sorted"), "{unsorted}");
        assert!(unsorted.contains("<th>Name</th>"), "{unsorted}");
    }

    #[test]
    fn hostile_names_stay_text() {
        let hostile = Entry {
            rel: "\"><script>alert('&amp;')</script>",
            is_dir: false,
            size: 1,
            mtime_ns: 0,
        };
        let page = render("<script>p/", Some("x=\"><script>"), SORTED, &[hostile]);
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("<title>Index of /&lt;script&gt;p/</title>"),
            "{page}"
        );
        assert!(
            page.contains(
                "<a href=\"%22%3E%3Cscript%3Ealert%28%27%26amp%3B%27%29%3C/script%3E\">\
                 \"&gt;&lt;script&gt;alert('&amp;amp;')&lt;/script&gt;</a>"
            ),
            "{page}"
        );
    }
}
