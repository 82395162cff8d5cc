//! GET or HEAD of a key that is a directory on disk: `/albums` when
//! `/albums/` is the listing.
//!
//! A browser is sent to the listing, as nginx and every file server do.
//! Every other client keeps the 404 it always got, told where the listing
//! is: upstream's fsspec client tells a directory from an object by that
//! 404, and since it follows redirects, it would take the listing it
//! landed on for a file.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::ApiError;
use super::{App, negotiate, url_path};
use crate::store::{Key, StoreError, Target};

/// `301 Moved Permanently`, not `308`: both keep GET and HEAD as they are,
/// the only methods redirected; 301 is what nginx, Apache and other file
/// servers answer, and what every client and cache knows.
const REDIRECT: StatusCode = StatusCode::MOVED_PERMANENTLY;

/// `key` opened as a directory (`StoreError::IsDirectory`).
pub fn answer(
    app: &App,
    key: &Key,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    // Built from the key's segments, each percent-encoded: a path on this
    // server whatever the key holds (`\`, `@`, `?`, `#`, `%`), never `//host`.
    let listing = format!("/{}/", url_path::encode(key.as_str()));
    if !negotiate::wants_html(headers) {
        return Err(ApiError::DirectoryKey {
            key: key.as_str().to_owned(),
            listing,
        });
    }
    // Only where the listing itself opens: a redirect always leads to a page.
    let prefix = match Target::parse(&format!("{key}/"), app.store.limits()) {
        Ok(Target::Listing(prefix)) => prefix,
        _ => return Err(StoreError::NotFound.into()),
    };
    app.store.open_listing(&prefix)?;
    let location = query
        .and_then(|q| HeaderValue::from_str(&format!("{listing}?{q}")).ok())
        .or_else(|| HeaderValue::from_str(&listing).ok())
        .ok_or_else(|| ApiError::Internal("unencodable Location".into()))?;
    Response::builder()
        .status(REDIRECT)
        .header(header::LOCATION, location)
        // The answer depends on Accept; and the directory goes when its
        // last object is deleted, after which the key may be an object:
        // browsers keep a 301 forever unless told to ask again.
        .header(header::VARY, "Accept")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::empty())
        .map_err(|e| ApiError::Internal(e.to_string()))
}
