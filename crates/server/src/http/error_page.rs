//! What a client is told when its request fails.
//!
//! Programs get `ApiError`'s one-line plain text, as always; a browser (it
//! ranks HTML above plain text) gets a page that says in plain words what
//! happened and what to do, under the same strict policy as the listing.
//! Both carry the same status and machine-readable headers (`Allow`,
//! `Retry-After`, `WWW-Authenticate`, `Content-Range`), set in `error.rs`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use html_escape::encode_text as text;
use http::{HeaderMap, HeaderValue, Method, header};

use super::browser::{self, STYLE};
use super::error::ApiError;
use super::negotiate;
use crate::store::StoreError;

/// The response for a failed request. `path` is the request's, percent-
/// decoded; `accept` holds its `Accept` headers.
pub fn respond(e: ApiError, method: &Method, path: &str, accept: &HeaderMap) -> Response {
    // "no such object" alone does not say which.
    let e = match e {
        ApiError::Store(StoreError::NotFound) => {
            ApiError::NotFound(format!("no object or directory at {path}"))
        }
        e => e,
    };
    let page = negotiate::wants_html(accept).then(|| render(&e, method, path));
    let mut resp = e.into_response();
    if let Some(page) = page {
        *resp.body_mut() = Body::from(page);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        browser::page(resp.headers_mut());
    }
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn render(e: &ApiError, method: &Method, path: &str) -> String {
    let status = e.status();
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let (what, todo) = explain(e, method, path);
    let up = match parent(path) {
        Some(parent) if status.as_u16() == 404 => format!(
            "<p><a href=\"{}\">Go to the listing of {}</a></p>\n",
            if path.ends_with('/') { "../" } else { "./" },
            text(parent)
        ),
        _ => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\n\
         <body><h1>{title}</h1>\n<p>{}</p>\n<p>{}</p>\n{up}</body></html>\n",
        text(&what),
        text(&todo)
    )
}

/// What happened and what to do, in plain words.
fn explain(e: &ApiError, method: &Method, path: &str) -> (String, String) {
    let status = e.status().as_u16();
    let todo = |s: &str| s.to_owned();
    match (e, status) {
        (ApiError::DirectoryKey { listing, .. }, _) => (
            format!("{path} is a directory, not an object."),
            format!("Its listing is at {listing}."),
        ),
        (ApiError::Behind { .. }, _) => (
            sentence(&e.to_string()),
            todo(
                "Reload in a moment: replication will bring it here, or the balancer will ask another node.",
            ),
        ),
        (_, 404) if path.starts_with("/.putfs/") => (
            sentence(&e.to_string()),
            todo("This is one of putfs's own endpoints; see the README's list of them."),
        ),
        (_, 404) if path.ends_with('/') => (
            format!("No directory at {path}."),
            todo("Nothing is stored under this prefix. Check the address, or go up a level."),
        ),
        (_, 404) => (
            format!("No object or directory at {path}."),
            todo(
                "Check the address for typos (keys are case-sensitive), or look in the listing of its directory.",
            ),
        ),
        (_, 400) => (
            format!("The server cannot use this request: {e}."),
            todo("Correct the address or the request and send it again."),
        ),
        (_, 401) => (
            todo("This request needs a token, which this server requires for it."),
            todo(
                "Send it as an `Authorization: Bearer TOKEN` header; a browser cannot, so use curl or a client that can.",
            ),
        ),
        (ApiError::Store(StoreError::ReadOnly), _) => (
            sentence(&e.to_string()),
            todo("Nothing was changed. Send writes to the primary."),
        ),
        (ApiError::Store(StoreError::Retained), _) => (
            format!("{path} is kept by a retention rule (--retain) and cannot be deleted."),
            todo("Nothing was deleted."),
        ),
        (ApiError::MethodNotAllowed(allow), _) => (
            format!("{method} is not allowed at {path}."),
            format!(
                "Allowed here: {allow}. A path ending in / is a listing (GET, HEAD, QUERY); \
                 any other path is an object."
            ),
        ),
        (ApiError::Store(StoreError::IsDirectory), _) => (
            format!("{path} is a directory, so no object can be stored at that key."),
            todo("Choose another key."),
        ),
        (_, 409) => (
            format!("Nothing was stored at {path}: {e}."),
            todo(
                "Objects are written once: store this under a new key, or delete the object first to replace it.",
            ),
        ),
        (_, 412) => (
            format!("A condition of the request does not hold for {path}."),
            todo("Fetch the object again and retry with its current ETag."),
        ),
        (_, 416) => (
            sentence(&e.to_string()),
            todo("Ask for a range within the object's size, or for the whole object."),
        ),
        (_, 422) => (
            format!("Nothing was stored: {e}."),
            todo("Send it again; if it fails again, check how the client computes the digest."),
        ),
        (_, 502) | (_, 503) => (sentence(&e.to_string()), todo("Try again in a moment.")),
        (_, 507) => (
            todo("The server's disk is full: nothing was stored."),
            todo("Tell the server's operator: the data root needs space."),
        ),
        (_, 500..) => (
            format!("The server could not complete the request: {e}."),
            todo(
                "This is not a problem with the request. The server's log has the details: tell its operator.",
            ),
        ),
        _ => (
            sentence(&e.to_string()),
            todo("Correct the request and send it again."),
        ),
    }
}

/// `no such thing` → `No such thing.`
fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The directory a path is in: `/a/b.txt` → `/a/`, `/a/b/` → `/a/`; none
/// for `/` and putfs's own paths.
fn parent(path: &str) -> Option<&str> {
    if path == "/" || path.starts_with("/.putfs/") {
        return None;
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    trimmed.rfind('/').map(|i| &path[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn browser() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        h
    }

    async fn body(resp: Response) -> String {
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn plain_text_for_programs_html_for_browsers() {
        let get = Method::GET;
        let plain = respond(
            StoreError::NotFound.into(),
            &get,
            "/a/x.txt",
            &HeaderMap::new(),
        );
        assert_eq!(plain.status(), StatusCode::NOT_FOUND);
        assert_eq!(plain.headers()[header::VARY], "Accept");
        assert_eq!(body(plain).await, "no object or directory at /a/x.txt\n");

        let page = respond(StoreError::NotFound.into(), &get, "/a/<x>.txt", &browser());
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let html = body(page).await;
        assert!(
            html.contains("No object or directory at /a/&lt;x&gt;.txt."),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"./\">Go to the listing of /a/</a>"),
            "{html}"
        );
        assert!(!html.contains("<x>"), "{html}");
    }

    #[tokio::test]
    async fn machine_readable_headers_stay() {
        let put = Method::PUT;
        let r = respond(
            ApiError::MethodNotAllowed("GET, HEAD, QUERY"),
            &put,
            "/d/",
            &browser(),
        );
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD, QUERY");
        assert!(body(r).await.contains("PUT is not allowed at /d/."));
        let r = respond(ApiError::Overloaded("uploads"), &put, "/k", &browser());
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = respond(ApiError::Unauthorized, &put, "/k", &browser());
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn every_status_is_explained() {
        let errors = [
            ApiError::BadRequest("depth must be an integer".into()),
            ApiError::Unauthorized,
            StoreError::ReadOnly.into(),
            StoreError::Retained.into(),
            ApiError::MethodNotAllowed("GET"),
            ApiError::BodyTimeout,
            StoreError::Conflict.into(),
            StoreError::IsDirectory.into(),
            ApiError::PreconditionFailed,
            ApiError::UnsupportedMediaType("application/json".into()),
            ApiError::RangeNotSatisfiable(10),
            StoreError::DigestMismatch("sha-256".into()).into(),
            ApiError::Internal("worker task failed".into()),
            ApiError::BadGateway("connection refused".into()),
            ApiError::Overloaded("requests"),
            StoreError::NoSpace.into(),
        ];
        for e in &errors {
            let (what, todo) = explain(e, &Method::PUT, "/k");
            assert!(
                what.ends_with('.') && todo.ends_with('.'),
                "{e:?}: {what} / {todo}"
            );
            let first = what.chars().next().unwrap();
            assert!(first.is_uppercase() || first == '/', "{e:?}: {what}");
        }
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/a/b.txt"), Some("/a/"));
        assert_eq!(parent("/a/b/"), Some("/a/"));
        assert_eq!(parent("/b.txt"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/.putfs/x"), None);
    }
}
