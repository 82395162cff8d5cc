//! Every S3 answer names its request (`x-amz-request-id`, also in the
//! access log and in an error's XML `RequestId`, which SDKs show), and two
//! touches to s3s's XML that clients check: an error body gets its
//! `RequestId`, and GetObjectAttributes gives its ETag without quotes, as
//! AWS does (s3s's writer always quotes ETags).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::response::Response;

/// Bodies rewritten here are small XML documents; larger ones pass as
/// they are.
const MAX_REWRITE: usize = 1 << 20;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A request ID unique within this process's life: a random start, then
/// a counter, as 16 hex digits.
pub fn next() -> String {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let mut raw = [0u8; 8];
        let _ = getrandom::fill(&mut raw);
        u64::from_le_bytes(raw)
    });
    format!(
        "{:016X}",
        start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
    )
}

/// Is this GET a GetObjectAttributes (`?attributes`)?
pub fn asks_attributes(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "attributes" || p.starts_with("attributes="))
    })
}

/// Add the request ID to the answer, and to its body where it belongs.
pub async fn stamp(resp: Response, id: &str, attributes: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    if let Ok(v) = http::HeaderValue::from_str(id) {
        parts.headers.insert("x-amz-request-id", v);
    }
    let xml = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/xml"));
    let error = parts.status.is_client_error() || parts.status.is_server_error();
    if !xml || !(error || (attributes && parts.status.is_success())) {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITE).await else {
        // Too large or broken: nothing sensible to send on.
        parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let text = if error {
        with_request_id(text, id)
    } else {
        unquoted_etag(text)
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// `<Error>…</Error>` with `<RequestId>` added when it has none.
fn with_request_id(xml: &str, id: &str) -> String {
    match xml.rfind("</Error>") {
        Some(i) if !xml.contains("<RequestId>") => {
            format!("{}<RequestId>{id}</RequestId>{}", &xml[..i], &xml[i..])
        }
        _ => xml.to_owned(),
    }
}

/// The document's first `<ETag>` without the quotes s3s put around it.
fn unquoted_etag(xml: &str) -> String {
    let Some(start) = xml.find("<ETag>").map(|i| i + "<ETag>".len()) else {
        return xml.to_owned();
    };
    let Some(len) = xml[start..].find("</ETag>") else {
        return xml.to_owned();
    };
    let inner = &xml[start..start + len];
    let bare = inner
        .strip_prefix("&quot;")
        .and_then(|v| v.strip_suffix("&quot;"))
        .or_else(|| inner.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .unwrap_or(inner);
    format!("{}{bare}{}", &xml[..start], &xml[start + len..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_gets_its_request_id_once() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>";
        assert_eq!(
            with_request_id(xml, "AB"),
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><RequestId>AB</RequestId></Error>"
        );
        let had = with_request_id(xml, "AB");
        assert_eq!(with_request_id(&had, "CD"), had);
    }

    #[test]
    fn attributes_etag_loses_its_quotes() {
        for quoted in ["&quot;abc-2&quot;", "\"abc-2\""] {
            let xml = format!(
                "<GetObjectAttributesResponse><ETag>{quoted}</ETag><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>"
            );
            assert_eq!(
                unquoted_etag(&xml),
                "<GetObjectAttributesResponse><ETag>abc-2</ETag><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>"
            );
        }
    }

    #[test]
    fn ids_differ() {
        assert_ne!(next(), next());
    }
}
