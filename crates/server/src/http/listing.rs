//! Listings: upstream's `QUERY /prefix/` and `GET /prefix/` with query
//! parameters and content negotiation; `listing_stream` walks and writes.

use std::sync::LazyLock;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::BodyExt;
use regex::bytes::Regex;

use super::App;
use super::error::ApiError;
use super::listing_filter::Filter;
use super::listing_format::{Format, Writer};
use super::listing_html::Page;
use super::listing_sort::{Order, SortKey};
use super::listing_stream::{Walk, stream};
use super::negotiate::{self, Media};
use crate::store::{ListOptions, Listing, Prefix, StoreError};

/// Upstream's cap on a QUERY body.
const MAX_QUERY_BODY: usize = 64;

/// Upstream's grammar: `<depth> [dirs] [stat]`, surrounding whitespace trimmed.
static QUERY_BODY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([+-]?[0-9]+)(?:[ \t\r\n]+(dirs))?(?:[ \t\r\n]+(stat))?$").expect("valid regex")
});

/// `QUERY /prefix/`, exactly as upstream.
pub async fn query(
    app: &App,
    prefix: Prefix,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !media_type.is_empty() && media_type != "text/plain" {
        return Err(ApiError::UnsupportedMediaType(media_type));
    }
    let raw = http_body_util::Limited::new(body, MAX_QUERY_BODY)
        .collect()
        .await
        .map_err(|_| {
            ApiError::BadRequest(format!("QUERY body is longer than {MAX_QUERY_BODY} bytes"))
        })?
        .to_bytes();
    let mut opts = ListOptions::default();
    if !raw.is_empty() {
        if media_type.is_empty() {
            return Err(ApiError::UnsupportedMediaType(
                "a QUERY body needs Content-Type: text/plain".into(),
            ));
        }
        let caps = QUERY_BODY.captures(raw.trim_ascii()).ok_or_else(|| {
            ApiError::BadRequest("QUERY body must be `<depth> [dirs] [stat]`".into())
        })?;
        opts.depth = Some(parse_depth(&caps[1]));
        opts.dirs = caps.get(2).is_some();
        opts.stat = caps.get(3).is_some();
    }
    let format = Format::Lines { stat: opts.stat };
    let writer = Writer::Lines { stat: opts.stat };
    // Upstream lists a missing prefix as empty, and so does the primary:
    // a client may list where it has not written yet. A read-only node
    // cannot tell "nothing there" from "not replicated yet", so it says
    // 404 and a balancer asks another node.
    let listing = open(app, prefix.clone()).await?;
    if listing.is_none() && app.store.read_only() {
        return Err(missing_on_replica(&prefix));
    }
    let walk = Walk {
        opts,
        filter: Filter::default(),
        order: None,
    };
    Ok(stream(
        app,
        listing,
        &prefix,
        walk,
        writer,
        format.content_type(true),
    ))
}

/// A depth out of range saturates, as upstream's ports do.
fn parse_depth(digits: &[u8]) -> i64 {
    let text = std::str::from_utf8(digits).unwrap_or("0");
    text.parse::<i64>().unwrap_or(if text.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// `GET /prefix/?depth=&glob=&exclude_prefix=&stat&dirs&format=&sort=&order=`.
pub async fn get(
    app: &App,
    prefix: Prefix,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let mut opts = ListOptions::default();
    let mut filter = Filter::default();
    let mut format_param = None;
    let (mut depth_given, mut dirs_given) = (false, false);
    let (mut sort, mut order) = (None, None);
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "depth" => {
                opts.depth = Some(v.parse().map_err(|_| {
                    ApiError::BadRequest(format!("depth must be an integer, got {v:?}"))
                })?);
                depth_given = true;
            }
            "glob" => {
                filter.glob = Some(crate::store::policy::glob(&v).map_err(ApiError::BadRequest)?);
            }
            "exclude_prefix" => filter.exclude_prefix = Some(v.into_owned()),
            "stat" => opts.stat = flag(&v)?,
            "dirs" => {
                opts.dirs = flag(&v)?;
                dirs_given = true;
            }
            "format" => format_param = Some(v.into_owned()),
            "sort" => sort = Some(v.into_owned()),
            "order" => order = Some(v.into_owned()),
            _ => {}
        }
    }
    let sort_asked = sort.is_some() || order.is_some();
    let order = Order::parse(sort.as_deref(), order.as_deref()).map_err(ApiError::BadRequest)?;
    let format = match format_param.as_deref() {
        Some("text") => Format::Lines { stat: opts.stat },
        Some("json") => Format::Json,
        Some("html") => Format::Html,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format must be text, json or html, got {other:?}"
            )));
        }
        None => negotiate(headers, opts.stat),
    };
    match format {
        Format::Json => opts.stat = true,
        Format::Html => {
            // A page per directory, as browsers and rclone walk it.
            opts.stat = true;
            if !depth_given {
                opts.depth = Some(1);
            }
            if !dirs_given {
                opts.dirs = true;
            }
        }
        Format::Lines { .. } => {}
    }
    let listing = open(app, prefix.clone()).await?.ok_or_else(|| {
        if app.store.read_only() {
            missing_on_replica(&prefix)
        } else {
            ApiError::NotFound(format!("no such prefix: /{}", prefix.as_str()))
        }
    })?;
    let content_type = format.content_type(false);
    let mut resp = if method == Method::HEAD {
        let mut resp = Response::new(Body::empty());
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        resp
    } else {
        // Text keeps the filesystem's order (and its speed) unless asked.
        let sorted = format != (Format::Lines { stat: opts.stat }) || sort_asked;
        // Sizes and dates to sort by, even where the text does not show them.
        let mut opts = opts;
        opts.stat |= sorted && order.key != SortKey::Name;
        let walk = Walk {
            opts,
            filter,
            order: sorted.then_some(order),
        };
        let writer = Writer::new(format, || {
            Page::new(prefix.as_str(), query, jiff::tz::TimeZone::system())
        });
        stream(app, Some(listing), &prefix, walk, writer, content_type)
    };
    // The format depends on Accept, and on User-Agent when there is none
    // (rclone): a cache must not hand one client's listing to another.
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept, User-Agent"));
    if format == Format::Html {
        super::browser::page(resp.headers_mut());
    }
    Ok(resp)
}

fn missing_on_replica(prefix: &Prefix) -> ApiError {
    ApiError::NotFound(format!(
        "no such prefix on this read-only node: /{} (it may not have been replicated here \
         yet; the primary has the truth)",
        prefix.as_str()
    ))
}

fn flag(v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "expected a boolean, got {v:?}"
        ))),
    }
}

/// The format the client prefers by its `Accept` header; text when it
/// accepts none of ours. rclone's `http` backend sends no `Accept` but only
/// reads HTML, so it gets HTML.
fn negotiate(headers: &HeaderMap, stat: bool) -> Format {
    if !headers.contains_key(header::ACCEPT) {
        let rclone = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("rclone/"));
        if rclone {
            return Format::Html;
        }
    }
    match negotiate::preferred(headers) {
        Some(Media::Json) => Format::Json,
        Some(Media::Html) => Format::Html,
        Some(Media::Text) | None => Format::Lines { stat },
    }
}

/// Open the prefix's directory; `None` when it does not exist.
async fn open(app: &App, prefix: Prefix) -> Result<Option<Listing>, ApiError> {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || store.open_listing(&prefix)).await? {
        Ok(l) => Ok(Some(l)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: Option<&str>, ua: Option<&str>) -> Format {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(header::ACCEPT, v.parse().unwrap());
        }
        if let Some(ua) = ua {
            h.insert(header::USER_AGENT, ua.parse().unwrap());
        }
        negotiate(&h, false)
    }

    #[test]
    fn negotiation() {
        let text = Format::Lines { stat: false };
        assert_eq!(accept(None, None), text);
        assert_eq!(accept(Some("*/*"), None), text);
        assert_eq!(accept(Some("application/json"), None), Format::Json);
        assert_eq!(
            accept(Some("text/html,application/xhtml+xml,*/*;q=0.8"), None),
            Format::Html
        );
        assert_eq!(
            accept(Some("text/html;q=0, application/json"), None),
            Format::Json
        );
        assert_eq!(
            accept(Some("text/html;q=0.5, application/json"), None),
            Format::Json
        );
        assert_eq!(accept(Some("image/png"), None), text);
        assert_eq!(accept(None, Some("rclone/v1.60.1")), Format::Html);
        assert_eq!(accept(Some("*/*"), Some("rclone/v1.60.1")), text);
    }

    #[test]
    fn query_grammar() {
        let ok = |s: &str| QUERY_BODY.captures(s.as_bytes()).is_some();
        assert!(ok("1"));
        assert!(ok("-1"));
        assert!(ok("2 dirs"));
        assert!(ok("2 stat"));
        assert!(ok("2\tdirs stat"));
        assert!(!ok("2 stat dirs"));
        assert!(!ok("abc"));
        assert!(!ok("1_0"));
        assert_eq!(parse_depth(b"99999999999999999999"), i64::MAX);
    }

    #[test]
    fn filters() {
        let f = Filter {
            glob: Some(crate::store::policy::glob("**/*.pdf").unwrap()),
            exclude_prefix: Some("skip/".into()),
        };
        assert!(f.keeps("a/b.pdf", false));
        assert!(f.keeps("b.pdf", false));
        assert!(!f.keeps("a/b.txt", false));
        assert!(f.keeps("a/", true));
        assert!(!f.keeps("skip/x.pdf", false));
    }
}
