//! Headers that keep browsers from treating what putfs serves as part of
//! this origin's own pages. Anyone who may PUT can store an HTML or SVG
//! file; opened in a browser, its script must not run with the origin's
//! authority (its cookies, its other objects, its listings). And no
//! response may be sniffed into a type the server did not choose.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

/// Documents that can run script are rendered in a unique origin, without
/// script, forms, popups or plugins. Only those get it: Chrome's PDF viewer
/// refuses to render in a sandboxed document, and CSP means nothing to
/// images or downloads.
const SANDBOX: &str = "sandbox";

/// The one stylesheet putfs's own pages (listings, error pages) carry, in a
/// `<style>` element. The policy allows exactly these bytes, by their hash:
/// a key shown in a page can never add style, let alone script.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em;word-break:break-all}\
table{border-collapse:collapse}\
th,td{padding:.2em .8em;text-align:left;vertical-align:top}\
th{border-bottom:1px solid #ccc}\
tbody tr:nth-child(even){background:#f3f3f3}\
.size,.date{white-space:nowrap;font-variant-numeric:tabular-nums}\
.size{text-align:right}\
a{text-decoration:none}\
a:hover{text-decoration:underline}\
.note{color:#555}";

/// putfs's pages are links and text: no script, image, frame or form, only
/// `STYLE`, and sandboxed like a stored page.
static PAGE: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = B64.encode(Sha256::digest(STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'; sandbox"
    );
    HeaderValue::from_str(&policy).expect("a policy is visible ASCII")
});

/// An object's response (200, 206 or 304), by the Content-Type putfs picked
/// for it.
pub fn object(h: &mut HeaderMap, content_type: &str) {
    nosniff(h);
    if runs_script(content_type) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX),
        );
    }
}

/// putfs's own HTML pages: the listing (GET and HEAD) and error pages.
pub fn page(h: &mut HeaderMap) {
    nosniff(h);
    h.insert(header::CONTENT_SECURITY_POLICY, PAGE.clone());
}

/// Every other response (errors, listings in other formats, `/.putfs/`,
/// forwarded answers): nosniff, and the sandbox for any script-capable
/// document that does not already carry a policy.
pub fn any(h: &mut HeaderMap) {
    nosniff(h);
    let active = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(runs_script);
    if active && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX),
        );
    }
}

fn nosniff(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// HTML, XHTML, SVG and XML (which can hold XHTML and its script): the
/// types a browser renders as a document able to run script.
fn runs_script(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html" | "application/xhtml+xml" | "image/svg+xml" | "text/xml" | "application/xml"
    ) || essence.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_allow_their_stylesheet_and_nothing_else() {
        let policy = PAGE.to_str().unwrap();
        let hash = B64.encode(Sha256::digest(STYLE.as_bytes()));
        assert!(policy.contains(&format!("style-src 'sha256-{hash}'")));
        assert!(policy.starts_with("default-src 'none';"));
        assert!(!policy.contains("unsafe") && !policy.contains("script-src"));
        assert!(
            !STYLE.contains('<'),
            "the stylesheet cannot close its element"
        );
    }

    fn csp(h: &HeaderMap) -> Option<&str> {
        h.get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
    }

    #[test]
    fn script_capable_types() {
        for t in [
            "text/html",
            "Text/HTML; charset=utf-8",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/rss+xml",
        ] {
            assert!(runs_script(t), "{t}");
        }
        for t in [
            "text/plain",
            "application/octet-stream",
            "application/pdf",
            "image/png",
            "application/json",
            "text/javascript",
            "",
        ] {
            assert!(!runs_script(t), "{t}");
        }
    }

    #[test]
    fn objects_get_nosniff_and_sandbox_by_type() {
        let mut h = HeaderMap::new();
        object(&mut h, "text/html");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(csp(&h), Some("sandbox"));
        let mut h = HeaderMap::new();
        object(&mut h, "image/png");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(csp(&h), None);
    }

    #[test]
    fn any_keeps_an_existing_policy() {
        let mut h = HeaderMap::new();
        page(&mut h);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        any(&mut h);
        assert_eq!(csp(&h), PAGE.to_str().ok());
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        );
        any(&mut h);
        assert_eq!(csp(&h), Some(SANDBOX));
    }
}
