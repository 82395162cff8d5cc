//! RFC 9110 §13.2.2: evaluating preconditions, in the order the RFC gives.

use std::time::SystemTime;

use headers::{ETag, HeaderMapExt, IfMatch, IfModifiedSince, IfNoneMatch, IfUnmodifiedSince};
use http::HeaderMap;

use crate::store::Condition;

/// The conditions of a PUT or DELETE on the object's current state, for the
/// store to check atomically with the change (RFC 9110 §13.1, §13.2.2):
/// `If-Match` (strong comparison; `*` means "exists"), else
/// `If-Unmodified-Since`; then `If-None-Match` (weak comparison; `*` means
/// "does not exist"). A missing object fails `If-Match` and passes the
/// others. `None` when the request has none of them. An `If-Match` or
/// `If-None-Match` that cannot be parsed is an error: on a write, ignoring
/// a condition the client meant is worse than refusing the request.
pub fn write_condition(headers: &HeaderMap) -> Result<Option<Condition>, String> {
    let if_match = typed_or_error::<IfMatch>(headers, "If-Match")?;
    let if_unmodified = if if_match.is_some() {
        None
    } else {
        headers.typed_get::<IfUnmodifiedSince>()
    };
    let if_none_match = typed_or_error::<IfNoneMatch>(headers, "If-None-Match")?;
    if if_match.is_none() && if_unmodified.is_none() && if_none_match.is_none() {
        return Ok(None);
    }
    Ok(Some(Condition::new(move |current| {
        let Some(meta) = current else {
            return if_match.is_none();
        };
        let etag: Option<ETag> = meta.etag().parse().ok();
        let matches = |passes: &dyn Fn(&ETag) -> bool| etag.as_ref().is_some_and(passes);
        if let Some(im) = &if_match
            && !matches(&|e| im.precondition_passes(e))
        {
            return false;
        }
        if let Some(ius) = &if_unmodified
            && !ius.precondition_passes(meta.modified())
        {
            return false;
        }
        if let Some(inm) = &if_none_match
            && !matches(&|e| inm.precondition_passes(e))
        {
            return false;
        }
        true
    })))
}

/// The header if present and well formed: `*`, or a list of entity tags
/// each of which parses (the `headers` crate skips bad list items silently).
fn typed_or_error<H: headers::Header>(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<H>, String> {
    if !headers.contains_key(H::name()) {
        return Ok(None);
    }
    let bad = || format!("malformed {name} header: expected * or a list of entity tags");
    for value in headers.get_all(H::name()) {
        let text = value.to_str().map_err(|_| bad())?.trim();
        let well_formed = text == "*" || text.split(',').all(|t| t.trim().parse::<ETag>().is_ok());
        if !well_formed {
            return Err(bad());
        }
    }
    headers.typed_get::<H>().map(Some).ok_or_else(bad)
}

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
    use crate::store::ObjectMeta;
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

    fn holds(pairs: &[(&'static str, &str)], current: Option<&ObjectMeta>) -> Option<bool> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        write_condition(&h).unwrap().map(|c| c.holds(current))
    }

    #[test]
    fn write_conditions() {
        let meta = ObjectMeta {
            size: 1,
            mtime_ns: 1_700_000_000_000_000_000,
            sha256: Some([0xab; 32]),
        };
        let cur = Some(&meta);
        let tag = meta.etag();
        let date =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let past =
            httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        assert_eq!(holds(&[], cur), None);
        assert_eq!(holds(&[("if-none-match", "*")], cur), Some(false));
        assert_eq!(holds(&[("if-none-match", "*")], None), Some(true));
        assert_eq!(holds(&[("if-match", &tag)], cur), Some(true));
        assert_eq!(holds(&[("if-match", "\"x\", \"y\"")], cur), Some(false));
        assert_eq!(holds(&[("if-match", "*")], cur), Some(true));
        assert_eq!(holds(&[("if-match", "*")], None), Some(false));
        assert_eq!(holds(&[("if-match", &tag)], None), Some(false));
        // Strong comparison for If-Match: a weak tag never matches.
        let weak = format!("W/{tag}");
        assert_eq!(holds(&[("if-match", &weak)], cur), Some(false));
        assert_eq!(holds(&[("if-none-match", &weak)], cur), Some(false));
        assert_eq!(holds(&[("if-none-match", "\"x\"")], cur), Some(true));
        assert_eq!(holds(&[("if-none-match", &tag)], None), Some(true));
        assert_eq!(holds(&[("if-unmodified-since", &past)], cur), Some(false));
        assert_eq!(holds(&[("if-unmodified-since", &date)], cur), Some(true));
        for (name, value) in [
            ("if-match", "not-quoted"),
            ("if-none-match", "*, \"x\""),
            ("if-match", "\"a\", b"),
        ] {
            let mut bad = HeaderMap::new();
            bad.insert(name, value.parse().unwrap());
            assert!(write_condition(&bad).is_err(), "{name}: {value}");
        }
        // Out of HTTP date range (a file touched to 1960): no panic.
        let old = ObjectMeta {
            mtime_ns: -300_000_000_000_000_000,
            ..meta
        };
        assert_eq!(
            holds(&[("if-unmodified-since", &past)], Some(&old)),
            Some(true)
        );
        // If-Match present: If-Unmodified-Since is not evaluated.
        assert_eq!(
            holds(&[("if-match", &tag), ("if-unmodified-since", &past)], cur),
            Some(true)
        );
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
