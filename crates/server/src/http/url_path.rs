//! Keys written as URL paths (hrefs, `Location`): each segment
//! percent-encoded, the `/` between segments kept.
//!
//! Everything but RFC 3986's unreserved characters is escaped, `:` too (so
//! `a:b` never reads as a scheme), `\` (which browsers take for `/`, so
//! `\evil.com` cannot turn into `//evil.com`), `?`, `#` and `%`. A path
//! built from a key's segments therefore always means that key and nothing
//! else, on this server.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `a b/<c>` → `a%20b/%3Cc%3E`; a trailing `/` (a directory) stays.
pub fn encode(key: &str) -> String {
    key.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_slashes_kept() {
        assert_eq!(encode("a b/<x>:y.txt"), "a%20b/%3Cx%3E%3Ay.txt");
        assert_eq!(encode("sub/"), "sub/");
        assert_eq!(encode("\\evil.com"), "%5Cevil.com");
        assert_eq!(encode("ü?#%"), "%C3%BC%3F%23%25");
        assert_eq!(encode("-._~"), "-._~");
    }
}
