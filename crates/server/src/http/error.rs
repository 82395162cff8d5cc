//! The one place where errors become HTTP status codes.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::store::StoreError;

/// Seconds an overloaded server asks clients to wait before retrying.
const RETRY_AFTER_SECS: &str = "1";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// Refused whoever asks (a forwarded write's signature is wrong).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("method not allowed here; allowed: {0}")]
    MethodNotAllowed(&'static str),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    #[error("the client sent no body data for too long")]
    BodyTimeout,
    #[error("{0}")]
    NotFound(String),
    /// GET or HEAD of a key that is a directory, from a client that is not
    /// a browser (browsers are redirected to `listing`).
    #[error("/{key} is a directory, not an object: its listing is at {listing}")]
    DirectoryKey { key: String, listing: String },
    /// A read-only node has not replicated as far as the read asks
    /// (`PutFS-Min-Position`): 404, so a balancer asks another node.
    #[error(
        "this node is behind: it has replicated up to position {have}, the request needs \
         {need}; another node or the primary has it"
    )]
    Behind { have: u64, need: u64 },
    #[error("the primary could not be reached: {0}")]
    BadGateway(String),
    /// A limit (`--max-connections`, `--max-requests`, `--max-uploads`) is
    /// reached; the label names which.
    #[error("overloaded (too many {0} in flight); retry later")]
    Overloaded(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Store(e) => store_status(e),
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) | ApiError::DirectoryKey { .. } | ApiError::Behind { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::InvalidKey(_) | StoreError::ParentNotDir | StoreError::Escape => {
            StatusCode::BAD_REQUEST
        }
        StoreError::Aborted(_) => StatusCode::BAD_REQUEST,
        StoreError::NotFound => StatusCode::NOT_FOUND,
        StoreError::IsDirectory | StoreError::Conflict => StatusCode::CONFLICT,
        StoreError::Exists | StoreError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        StoreError::DigestMismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        StoreError::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        StoreError::Retained | StoreError::ReadOnly => StatusCode::FORBIDDEN,
        StoreError::PermissionDenied(_)
        | StoreError::ReadOnlyFilesystem
        | StoreError::RootChanged
        | StoreError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::Internal(format!("worker task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Server errors are logged, with the request, by `http::handle`.
        let mut resp = (status, format!("{self}\n")).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match &self {
            ApiError::MethodNotAllowed(allow) => {
                h.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Unauthorized => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Overloaded(_) => {
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            ApiError::Behind { have, .. } => {
                h.insert(super::position_headers::BEHIND, HeaderValue::from(*have));
            }
            ApiError::RangeNotSatisfiable(size) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    h.insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::from(StoreError::NoSpace).status(), 507);
        assert_eq!(ApiError::from(StoreError::Conflict).status(), 409);
        assert_eq!(ApiError::from(StoreError::Exists).status(), 412);
        assert_eq!(
            ApiError::from(StoreError::DigestMismatch("x".into())).status(),
            422
        );
        assert_eq!(ApiError::from(StoreError::ReadOnly).status(), 403);
        let denied = StoreError::from(rustix::io::Errno::ACCESS);
        assert_eq!(ApiError::from(denied).status(), 500);
        let r = ApiError::MethodNotAllowed("QUERY").into_response();
        assert_eq!(r.headers()[header::ALLOW], "QUERY");
        let r = ApiError::Overloaded("uploads").into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
    }
}
