//! RFC 9110 §13.2.2: evaluating preconditions, in the order the RFC gives.

use std::time::SystemTime;

use headers::{ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfUnmodifiedSince};
use http::HeaderMap;

#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

/// Evaluate the conditional headers of a GET/HEAD against the object's
/// current validators. Malformed headers are ignored, as the RFC asks.
pub fn evaluate(headers: &HeaderMap, etag: &ETag, modified: SystemTime) -> Precondition {
    if let Some(im) = headers.typed_get::<IfMatch>() {
        if !im.precondition_passes(etag) {
            return Precondition::Failed;
        }
    } else if let Some(ius) = headers.typed_get::<IfUnmodifiedSince>()
        && !ius.precondition_passes(modified)
    {
        return Precondition::Failed;
    }
    if let Some(inm) = headers.typed_get::<IfNoneMatch>() {
        if !inm.precondition_passes(etag) {
            return Precondition::NotModified;
        }
    } else if let Some(ims) = headers.typed_get::<IfModifiedSince>()
        && !ims.is_modified(modified)
    {
        return Precondition::NotModified;
    }
    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn eval(pairs: &[(&'static str, &str)]) -> Precondition {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        let etag: ETag = "\"abc\"".parse().unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        evaluate(&h, &etag, t)
    }

    #[test]
    fn order_and_outcomes() {
        let date =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let past =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        assert_eq!(eval(&[]), Precondition::Proceed);
        assert_eq!(eval(&[("if-match", "\"abc\"")]), Precondition::Proceed);
        assert_eq!(eval(&[("if-match", "\"x\"")]), Precondition::Failed);
        assert_eq!(eval(&[("if-match", "*")]), Precondition::Proceed);
        assert_eq!(
            eval(&[("if-none-match", "\"abc\"")]),
            Precondition::NotModified
        );
        assert_eq!(
            eval(&[("if-none-match", "W/\"abc\"")]),
            Precondition::NotModified
        );
        assert_eq!(eval(&[("if-none-match", "\"x\"")]), Precondition::Proceed);
        assert_eq!(
            eval(&[("if-modified-since", &date)]),
            Precondition::NotModified
        );
        assert_eq!(eval(&[("if-modified-since", &past)]), Precondition::Proceed);
        assert_eq!(
            eval(&[("if-unmodified-since", &past)]),
            Precondition::Failed
        );
        assert_eq!(
            eval(&[("if-unmodified-since", &date)]),
            Precondition::Proceed
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            eval(&[("if-none-match", "\"x\""), ("if-modified-since", &date)]),
            Precondition::Proceed
        );
    }
}
