//! Headers that keep browsers from treating what putfs serves as part of
//! this origin's own pages. Anyone who may PUT can store an HTML or SVG
//! file; opened in a browser, its script must not run with the origin's
//! authority (its cookies, its other objects, its listings). And no
//! response may be sniffed into a type the server did not choose.

use http::{HeaderMap, HeaderValue, header};

/// Documents that can run script are rendered in a unique origin, without
/// script, forms, popups or plugins. Only those get it: Chrome's PDF viewer
/// refuses to render in a sandboxed document, and CSP means nothing to
/// images or downloads.
const SANDBOX: &str = "sandbox";

/// The HTML listing is links and text: it needs no script, style, image,
/// frame or form, and is sandboxed like a stored page.
const LISTING: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox";

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

/// The HTML listing page (GET and HEAD).
pub fn listing_page(h: &mut HeaderMap) {
    nosniff(h);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(LISTING),
    );
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
        listing_page(&mut h);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        any(&mut h);
        assert_eq!(csp(&h), Some(LISTING));
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        );
        any(&mut h);
        assert_eq!(csp(&h), Some(SANDBOX));
    }
}
