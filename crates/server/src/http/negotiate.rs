//! Content negotiation: which of putfs's representations a client prefers,
//! from its `Accept` header, with q-values and the most specific range
//! winning (RFC 9110 §12.5.1, parsed by `headers-accept`).

use headers::HeaderMapExt;
use headers_accept::Accept;
use http::HeaderMap;
use mediatype::MediaType;
use mediatype::names::{APPLICATION, HTML, JSON, PLAIN, TEXT, XHTML, XML};

/// What a listing or an error page can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Text,
    Json,
    Html,
}

const TEXT_PLAIN: MediaType<'static> = MediaType::new(TEXT, PLAIN);
const APPLICATION_JSON: MediaType<'static> = MediaType::new(APPLICATION, JSON);
const TEXT_HTML: MediaType<'static> = MediaType::new(TEXT, HTML);
const APPLICATION_XHTML: MediaType<'static> =
    MediaType::from_parts(APPLICATION, XHTML, Some(XML), &[]);

/// Ours, in the order putfs picks among types the client ranks alike: text
/// first, so `*/*` (curl, wget, HTTP libraries, upstream's client) keeps
/// getting what it always got. XHTML is answered with the HTML page.
static AVAILABLE: [(MediaType<'static>, Media); 4] = [
    (TEXT_PLAIN, Media::Text),
    (APPLICATION_JSON, Media::Json),
    (TEXT_HTML, Media::Html),
    (APPLICATION_XHTML, Media::Html),
];

/// The client's choice; `None` without an `Accept` header, with one that
/// does not parse, or when it accepts none of ours.
pub fn preferred(headers: &HeaderMap) -> Option<Media> {
    let accept: Accept = headers.typed_get()?;
    let chosen = accept.negotiate(AVAILABLE.iter().map(|(t, _)| t))?;
    AVAILABLE
        .iter()
        .find(|(t, _)| t == chosen)
        .map(|(_, media)| *media)
}

/// A browser: it ranks HTML above plain text.
pub fn wants_html(headers: &HeaderMap) -> bool {
    preferred(headers) == Some(Media::Html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::ACCEPT;

    fn pick(accept: &str) -> Option<Media> {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, accept.parse().unwrap());
        preferred(&h)
    }

    #[test]
    fn quality_and_specificity_decide() {
        use Media::*;
        assert_eq!(preferred(&HeaderMap::new()), None);
        assert_eq!(pick("*/*"), Some(Text));
        assert_eq!(pick("text/*"), Some(Text));
        assert_eq!(pick("application/json"), Some(Json));
        assert_eq!(pick("text/html;q=0.5, application/json"), Some(Json));
        assert_eq!(pick("application/json;q=0.9, text/plain"), Some(Text));
        assert_eq!(pick("text/*;q=0.2, text/html"), Some(Html));
        assert_eq!(pick("text/html;q=0, application/json"), Some(Json));
        assert_eq!(pick("application/xhtml+xml"), Some(Html));
        assert_eq!(pick("TEXT/HTML"), Some(Html));
        assert_eq!(
            pick("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Some(Html)
        );
        // Chrome's, with its signed-exchange parameter.
        assert_eq!(
            pick(
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                 image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
            ),
            Some(Html)
        );
        assert_eq!(pick("image/png"), None);
        assert_eq!(pick("not a media type"), None);
    }
}
