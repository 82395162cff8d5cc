//! How listing entries are written: upstream's lines, a JSON array, or an
//! HTML index page (browsers, rclone's `http` backend).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::store::Entry;

/// Everything but RFC 3986's unreserved characters is escaped in a path
/// segment of an href (`:` too, so `a:b` never reads as a URL scheme).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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

    pub fn begin(self, out: &mut Vec<u8>, prefix: &str) {
        match self {
            Format::Lines { .. } => {}
            Format::Json => out.push(b'['),
            Format::Html => {
                let title = html_escape::encode_text(prefix);
                out.extend_from_slice(
                    format!(
                        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
                         <title>Index of /{title}</title></head>\n\
                         <body><h1>Index of /{title}</h1>\n<pre>\n"
                    )
                    .as_bytes(),
                );
                if !prefix.is_empty() {
                    out.extend_from_slice(b"<a href=\"../\">../</a>\n");
                }
            }
        }
    }

    /// `first` tells the JSON writer whether a comma is needed.
    pub fn entry(self, out: &mut Vec<u8>, e: &Entry<'_>, first: bool) {
        match self {
            Format::Lines { stat: false } => {
                out.extend_from_slice(e.rel.as_bytes());
                out.push(b'\n');
            }
            Format::Lines { stat: true } => {
                out.extend_from_slice(format!("{} {} {}\n", e.size, e.mtime_ns, e.rel).as_bytes());
            }
            Format::Json => {
                if !first {
                    out.push(b',');
                }
                out.push(b'\n');
                let v = serde_json::json!({
                    "key": e.rel,
                    "dir": e.is_dir,
                    "size": e.size,
                    "mtime_ns": e.mtime_ns,
                });
                // Writing JSON into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &v);
            }
            Format::Html => {
                let href: String = e
                    .rel
                    .split('/')
                    .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
                    .collect::<Vec<_>>()
                    .join("/");
                let text = html_escape::encode_text(e.rel);
                let when = httpdate::fmt_http_date(crate::store::system_time(e.mtime_ns));
                let size = if e.is_dir {
                    "-".to_owned()
                } else {
                    e.size.to_string()
                };
                out.extend_from_slice(
                    format!("<a href=\"{href}\">{text}</a>  {when}  {size}\n").as_bytes(),
                );
            }
        }
    }

    pub fn end(self, out: &mut Vec<u8>) {
        match self {
            Format::Lines { .. } => {}
            Format::Json => out.extend_from_slice(b"\n]\n"),
            Format::Html => out.extend_from_slice(b"</pre></body></html>\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: Format, entries: &[Entry<'_>]) -> String {
        let mut out = Vec::new();
        f.begin(&mut out, "p/");
        for (i, e) in entries.iter().enumerate() {
            f.entry(&mut out, e, i == 0);
        }
        f.end(&mut out);
        String::from_utf8(out).unwrap()
    }

    const ENTRIES: [Entry<'static>; 2] = [
        Entry {
            rel: "a b/<x>:y.txt",
            is_dir: false,
            size: 3,
            mtime_ns: 5,
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
            "3 5 a b/<x>:y.txt\n"
        );
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json, &ENTRIES)).unwrap();
        assert_eq!(v[0]["key"], "a b/<x>:y.txt");
        assert_eq!(v[1]["dir"], true);
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

    #[test]
    fn html_hostile_names_stay_text() {
        let hostile = Entry {
            rel: "\"><script>alert('&amp;')</script>",
            is_dir: false,
            size: 1,
            mtime_ns: 0,
        };
        let mut out = Vec::new();
        Format::Html.begin(&mut out, "<script>p/");
        Format::Html.entry(&mut out, &hostile, true);
        let page = String::from_utf8(out).unwrap();
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
