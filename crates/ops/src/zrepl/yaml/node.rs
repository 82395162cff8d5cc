//! The first YAML document as a tree that keeps what serde_yaml_ng's
//! values forget: whether a scalar was quoted, and the line it stands on.
//!
//! go-yaml v2 reads a plain `yes` as a boolean but a quoted `"yes"` as
//! text; serde_yaml_ng hands both over as the same string. Both arrive
//! borrowed from the input, though, so where the slice starts tells them
//! apart (a quoted scalar starts right after its quote) and gives its line.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One value of the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    /// 1-based; a mapping or list has the line of its first entry.
    pub line: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// `plain`: written without quotes (and not a block scalar).
    Str {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn new(kind: Kind) -> Node {
        Node { kind, line: None }
    }

    /// The text a Go string field gets from this scalar.
    pub fn text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str { text, .. } => Some(text.clone()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Null => Some(String::new()),
            Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parse the first document of `text`; an empty stream is null, as zrepl
/// reads a file without a document as the empty config.
pub(crate) fn parse(text: &str) -> Result<Node, serde_yaml_ng::Error> {
    match serde_yaml_ng::Deserializer::from_str(text).next() {
        None => Ok(Node::new(Kind::Null)),
        Some(document) => Source(text).deserialize(document),
    }
}

/// Reads one value, knowing the input its borrowed strings point into.
#[derive(Clone, Copy)]
struct Source<'s>(&'s str);

impl Source<'_> {
    fn scalar(&self, s: &str) -> Node {
        let offset = (s.as_ptr() as usize).wrapping_sub(self.0.as_ptr() as usize);
        let Some(before) = self.0.as_bytes().get(..offset) else {
            return Node::new(Kind::Str {
                text: s.to_string(),
                plain: false,
            });
        };
        Node {
            kind: Kind::Str {
                text: s.to_string(),
                plain: !matches!(before.last(), Some(b'"' | b'\'')),
            },
            line: Some(1 + before.iter().filter(|b| **b == b'\n').count()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Source<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Source<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::new(Kind::Bool(b)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node, E> {
        Ok(Node::new(Kind::Int(i.into())))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node, E> {
        Ok(Node::new(Kind::Int(u.into())))
    }

    fn visit_i128<E>(self, i: i128) -> Result<Node, E> {
        Ok(Node::new(Kind::Int(i)))
    }

    fn visit_u128<E>(self, u: u128) -> Result<Node, E> {
        Ok(Node::new(match i128::try_from(u) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::Float(u as f64),
        }))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Node, E> {
        Ok(Node::new(Kind::Float(f)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node, E> {
        Ok(self.scalar(s))
    }

    /// Not borrowed: escaped (so quoted) or a block scalar; text either way.
    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::new(Kind::Str {
            text: s.to_string(),
            plain: false,
        }))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::new(Kind::Null))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::new(Kind::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        let line = items.first().and_then(|n| n.line);
        Ok(Node {
            kind: Kind::Seq(items),
            line,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(self)? {
            entries.push((key, map.next_value_seed(self)?));
        }
        let line = entries.first().and_then(|(k, _)| k.line);
        Ok(Node {
            kind: Kind::Map(entries),
            line,
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Node, A::Error> {
        Err(de::Error::custom("YAML tags are not supported here"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_lines_survive() {
        let doc = parse("a: yes\nb: \"yes\"\nc:\n  - 'on'\n  - 10\n").expect("parses");
        let plain = |key: &str| match &doc.get(key).map(|n| &n.kind) {
            Some(Kind::Str { plain, .. }) => *plain,
            other => panic!("{key}: {other:?}"),
        };
        assert!(plain("a"));
        assert!(!plain("b"));
        let Some(Kind::Seq(items)) = doc.get("c").map(|n| &n.kind) else {
            panic!("c is a list")
        };
        assert!(matches!(&items[0].kind, Kind::Str { plain: false, .. }));
        assert_eq!(items[0].line, Some(4));
        assert_eq!(items[1].kind, Kind::Int(10));
        assert_eq!(doc.get("b").and_then(|n| n.line), Some(2));
        assert_eq!(
            parse("# only a comment\n").ok().map(|n| n.kind),
            Some(Kind::Null)
        );
    }
}
