//! Which entries of a listing are kept: the `glob` and `exclude_prefix`
//! query parameters of a GET listing.

/// Which entries a listing shows beyond depth: glob and excluded prefix.
#[derive(Default)]
pub struct Filter {
    /// Matched against the key relative to the prefix, with the same
    /// semantics as every other glob in putfs (`*` stays in a segment).
    pub glob: Option<globset::GlobMatcher>,
    pub exclude_prefix: Option<String>,
}

impl Filter {
    pub fn keeps(&self, rel: &str, is_dir: bool) -> bool {
        if self
            .exclude_prefix
            .as_deref()
            .is_some_and(|p| rel.starts_with(p))
        {
            return false;
        }
        match &self.glob {
            Some(g) if !is_dir => g.is_match(rel),
            _ => true,
        }
    }
}
