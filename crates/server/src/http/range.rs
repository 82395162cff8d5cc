//! Range requests: one range is served as 206, several (rare, and a way to
//! amplify work) as the whole object, syntax errors are ignored, and a
//! single unsatisfiable range is 416.

use std::time::SystemTime;

use headers::{ETag, HeaderMapExt, IfRange, LastModified};
use http::{HeaderMap, header};

#[derive(Debug, PartialEq, Eq)]
pub enum RangeDecision {
    Full,
    /// Inclusive byte range.
    Partial(u64, u64),
    Unsatisfiable,
}

pub fn decide(headers: &HeaderMap, etag: &ETag, modified: SystemTime, size: u64) -> RangeDecision {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeDecision::Full;
    };
    if let Some(if_range) = headers.typed_get::<IfRange>()
        && if_range.is_modified(Some(etag), Some(&LastModified::from(modified)))
    {
        return RangeDecision::Full;
    }
    let Ok(parsed) = http_range_header::parse_range_header(raw) else {
        return RangeDecision::Full;
    };
    if parsed.ranges.len() != 1 {
        return RangeDecision::Full;
    }
    match parsed.validate(size) {
        Ok(r) if size > 0 => {
            let r = &r[0];
            RangeDecision::Partial(*r.start(), *r.end())
        }
        _ => RangeDecision::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(range: &str, if_range: Option<&str>, size: u64) -> RangeDecision {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, range.parse().unwrap());
        if let Some(v) = if_range {
            h.insert(header::IF_RANGE, v.parse().unwrap());
        }
        let etag: ETag = "\"abc\"".parse().unwrap();
        decide(&h, &etag, SystemTime::UNIX_EPOCH, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(d("bytes=0-3", None, 10), RangeDecision::Partial(0, 3));
        assert_eq!(d("bytes=-2", None, 10), RangeDecision::Partial(8, 9));
        assert_eq!(d("bytes=5-", None, 10), RangeDecision::Partial(5, 9));
        assert_eq!(d("bytes=5-100", None, 10), RangeDecision::Partial(5, 9));
        assert_eq!(d("bytes=100-", None, 10), RangeDecision::Unsatisfiable);
        assert_eq!(d("bytes=0-0", None, 0), RangeDecision::Unsatisfiable);
        assert_eq!(d("bytes=0-1,4-5", None, 10), RangeDecision::Full);
        assert_eq!(d("lines=1-2", None, 10), RangeDecision::Full);
        assert_eq!(
            d("bytes=0-3", Some("\"abc\""), 10),
            RangeDecision::Partial(0, 3)
        );
        assert_eq!(d("bytes=0-3", Some("\"zzz\""), 10), RangeDecision::Full);
    }
}
