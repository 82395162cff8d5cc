//! serde over a [`Node`] tree, reading values as zrepl's YAML library
//! (go-yaml v2 with zrepl's yaml-config changes) reads them, so that the
//! serde model needs no reading rules of its own:
//!
//! - a struct field outside an `Option` is required: missing, null or its
//!   zero value (`""`, `0`, `[]`, `{}`) is refused, as yaml-config's strict
//!   mode refuses it;
//! - a plain `yes`, `on` or `y` is a boolean; quoted text is not;
//! - a float in an integer field is truncated (`count: 1.5` is 1); quoted
//!   digits stay text and are refused;
//! - a text field takes the text of any scalar (`name: 2024`);
//! - null is the zero value of its type;
//! - the `type` key of a mapping picks the variant of an enum;
//! - a key given twice is refused; `<<` merges mappings into a map.
//!
//! Like go-yaml, it records missing and zero fields, scalars of the wrong
//! kind and repeated map keys, and reads on with the zero value, so one
//! pass lists them all; anything else (an unknown key, an unknown `type`)
//! stops the reading.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

use super::node::{Kind, Node};
use crate::zrepl::syntax::yaml11_bool;

/// A problem found while reading, at a path such as `jobs[0].connect`.
#[derive(Debug)]
pub(crate) struct Error {
    /// `None` until the reader knows where it happened.
    pub path: Option<String>,
    pub line: Option<usize>,
    pub message: String,
    /// The message names its key, so it needs no `key: ` in front.
    keyed: bool,
    /// For an unknown key: the keys its struct takes.
    expected: Option<&'static [&'static str]>,
}

impl Error {
    fn new(message: String, keyed: bool) -> Error {
        let (path, line, expected) = (None, None, None);
        Error {
            path,
            line,
            message,
            keyed,
            expected,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::new(msg.to_string(), false)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Error {
        let expected = Some(expected);
        Error {
            expected,
            ..Error::new(format!("unknown field {field:?}"), true)
        }
    }

    fn duplicate_field(field: &'static str) -> Error {
        Error::new(format!("key {field:?} is given twice"), true)
    }
}

/// Read `root`, found at `path`, as a `T`: the value and the problems the
/// reader read past, or, when it had to stop, every problem found.
pub(crate) fn read<T: DeserializeOwned>(root: &Node, path: &str) -> (Option<T>, Vec<Error>) {
    let log = RefCell::new(Vec::new());
    let de = De {
        node: Some(root),
        path: path.to_string(),
        line: root.line,
        key: None,
        required: false,
        quiet: false,
        skip_type: false,
        log: &log,
    };
    let read = T::deserialize(de.clone()).map_err(|e| de.locate(e));
    let mut errors = log.take();
    (read.map_err(|e| errors.push(e)).ok(), errors)
}

/// Reads one value of the tree.
#[derive(Clone)]
struct De<'a> {
    /// `None`: a struct field the document leaves out.
    node: Option<&'a Node>,
    path: String,
    line: Option<usize>,
    /// The struct field this is the value of, named in messages.
    key: Option<String>,
    /// zrepl's rule for required fields applies (a field outside an Option).
    required: bool,
    /// Reading the zero struct of a null: its own fields are not reported.
    quiet: bool,
    /// Pass over the `type` key: it picked this enum variant.
    skip_type: bool,
    log: &'a RefCell<Vec<Error>>,
}

/// What a read found, before the visitor is called.
enum Got<T> {
    Is(T, bool),
    /// Missing, or null: the zero value, which a required field refuses.
    Zero,
    /// Of the wrong kind: reported, and read as the zero value.
    Wrong(String),
}

impl<'a> De<'a> {
    fn kind(&self) -> Option<&'a Kind> {
        self.node.map(|n| &n.kind)
    }

    fn child(&self, node: Option<&'a Node>, path: String, line: Option<usize>) -> De<'a> {
        let line = node.and_then(|n| n.line).or(line).or(self.line);
        let (key, required, skip_type) = (None, false, false);
        De {
            node,
            path,
            line,
            key,
            required,
            skip_type,
            ..self.clone()
        }
    }

    /// Give `e` this value's path and line, unless it has them.
    fn locate(&self, mut e: Error) -> Error {
        if e.path.is_none() {
            if let (false, Some(key)) = (e.keyed, &self.key) {
                e.message = format!("{key}: {}", e.message);
            }
            (e.path, e.line) = (Some(self.path.clone()), self.line);
        }
        e
    }

    fn note(&self, e: Error) {
        if !self.quiet {
            self.log.borrow_mut().push(e);
        }
    }

    /// The refusal of a required field that is missing or zero.
    fn refusal(&self, numeric: bool) -> Error {
        let key = self.key.as_deref().unwrap_or("value");
        self.locate(Error::new(
            match (self.node, numeric) {
                (None, _) => format!("missing required field {key}"),
                (Some(_), true) => format!("{key} must not be 0"),
                (Some(_), false) => format!("{key} must not be empty"),
            },
            true,
        ))
    }

    /// Null or missing is the zero value; `None` for anything else.
    fn blank<T>(&self) -> Option<Got<T>> {
        matches!(self.kind(), None | Some(Kind::Null)).then_some(Got::Zero)
    }

    fn wrong<T>(&self, want: &str) -> Got<T> {
        Got::Wrong(format!("expected {want}, found {}", describe(self.node)))
    }

    /// Visit what was found, or the zero value and record why; when the
    /// visitor refuses the zero value too, the reason is the error.
    fn take<T: Default, R>(
        &self,
        got: Got<T>,
        numeric: bool,
        visit: impl FnOnce(T) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (value, problem, given) = match got {
            Got::Is(value, zero) => (
                value,
                (zero && self.required).then(|| self.refusal(numeric)),
                true,
            ),
            Got::Zero => (
                T::default(),
                self.required.then(|| self.refusal(false)),
                false,
            ),
            Got::Wrong(e) => (T::default(), Some(self.locate(Error::new(e, false))), false),
        };
        match (visit(value).map_err(|e| self.locate(e)), problem) {
            (Ok(value), problem) => {
                if let Some(p) = problem {
                    self.note(p);
                }
                Ok(value)
            }
            (Err(_), Some(p)) if !given => Err(p),
            (Err(e), _) => Err(e),
        }
    }

    fn items(&self, items: &'a [Node]) -> Items<'a> {
        Items {
            de: self.clone(),
            items,
            next: 0,
        }
    }

    fn entries(&self, entries: Vec<Entry<'a>>, what: Option<&'static str>) -> Entries<'a> {
        Entries {
            de: self.clone(),
            entries,
            next: 0,
            what,
        }
    }

    /// A struct's entries: the keys given, then the fields left out.
    fn fields(&self, given: &'a [(Node, Node)], fields: &[&str]) -> Vec<Entry<'a>> {
        let mut out: Vec<Entry<'a>> = (given.iter())
            .map(|(k, v)| Entry(k.text().unwrap_or_default(), k.line, Some(v)))
            .filter(|e| !(self.skip_type && e.0 == "type"))
            .collect();
        for field in fields {
            if !out.iter().any(|e| e.0 == *field) {
                out.push(Entry(field.to_string(), None, None));
            }
        }
        out
    }

    /// A map's entries, with `<<` merges expanded and repeated keys refused.
    fn map_entries(&self, given: &'a [(Node, Node)], out: &mut Vec<Entry<'a>>) {
        for (k, v) in given {
            let key = k.text().unwrap_or_default();
            let merge = key == "<<" && matches!(k.kind, Kind::Str { plain: true, .. });
            match &v.kind {
                Kind::Map(more) if merge => self.map_entries(more, out),
                Kind::Seq(list) if merge => {
                    for item in list {
                        match &item.kind {
                            Kind::Map(more) => self.map_entries(more, out),
                            _ => self.note(
                                self.locate(Error::new("<< merges mappings only".into(), false)),
                            ),
                        }
                    }
                }
                _ if out.iter().any(|e| e.0 == key) => {
                    let e = Error::new(format!("key {key:?} is given twice"), true);
                    self.note(
                        self.child(Some(v), format!("{}[{key:?}]", self.path), k.line)
                            .locate(e),
                    );
                }
                _ => out.push(Entry(key, k.line, Some(v))),
            }
        }
    }
}

fn describe(node: Option<&Node>) -> String {
    match node.map(|n| &n.kind) {
        None => "nothing".into(),
        Some(Kind::Null) => "null".into(),
        Some(Kind::Bool(b)) => format!("the boolean {b}"),
        Some(Kind::Int(i)) => format!("the number {i}"),
        Some(Kind::Float(f)) => format!("the number {f}"),
        Some(Kind::Str { text, plain: true }) => format!("text {text:?}"),
        Some(Kind::Str { text, .. }) => format!("quoted text {text:?}"),
        Some(Kind::Seq(_)) => "a list".into(),
        Some(Kind::Map(_)) => "a mapping".into(),
    }
}

/// `SinkJob` → `sink job`, for messages.
fn human(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

macro_rules! integers {
    ($($method:ident($visit:ident, $t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            let n = match self.kind() {
                Some(Kind::Int(i)) => Some(*i),
                // go-yaml truncates a float put into an integer.
                Some(Kind::Float(f)) if f.is_finite() => Some(f.trunc() as i128),
                _ => None,
            };
            let got = match n.map(<$t>::try_from) {
                Some(Ok(n)) => Got::Is(n, n == 0),
                _ => self.blank().unwrap_or_else(|| self.wrong(concat!("a whole number (", stringify!($t), ")"))),
            };
            self.take(got, true, |n| v.$visit(n))
        }
    )*};
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let read = match self.kind() {
            None | Some(Kind::Null) => return self.take(Got::Zero, false, |()| v.visit_unit()),
            Some(Kind::Bool(b)) => v.visit_bool(*b),
            Some(Kind::Int(i)) => match (u64::try_from(*i), i64::try_from(*i)) {
                (Ok(u), _) => v.visit_u64(u),
                (_, Ok(s)) => v.visit_i64(s),
                _ => v.visit_f64(*i as f64),
            },
            Some(Kind::Float(f)) => v.visit_f64(*f),
            Some(Kind::Str { text, .. }) => v.visit_str(text),
            Some(Kind::Seq(items)) => v.visit_seq(self.items(items)),
            Some(Kind::Map(given)) => {
                let mut entries = Vec::new();
                self.map_entries(given, &mut entries);
                v.visit_map(self.entries(entries, None))
            }
        };
        read.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let got = match self.kind() {
            Some(Kind::Bool(b)) => Got::Is(*b, false),
            // YAML 1.1, which go-yaml v2 follows: plain yes/no/on/off/y/n.
            Some(Kind::Str { text, plain: true }) if yaml11_bool(text).is_some() => {
                Got::Is(yaml11_bool(text) == Some(true), false)
            }
            _ => self.blank().unwrap_or_else(|| self.wrong("true or false")),
        };
        self.take(got, false, |b| v.visit_bool(b))
    }

    integers! {
        deserialize_i8(visit_i8, i8), deserialize_i16(visit_i16, i16),
        deserialize_i32(visit_i32, i32), deserialize_i64(visit_i64, i64),
        deserialize_u8(visit_u8, u8), deserialize_u16(visit_u16, u16),
        deserialize_u32(visit_u32, u32), deserialize_u64(visit_u64, u64),
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let got = match self.node.filter(|n| n.kind != Kind::Null).map(Node::text) {
            Some(Some(text)) => {
                let empty = text.is_empty();
                Got::Is(text, empty)
            }
            Some(None) => self.wrong("text"),
            None => Got::Zero,
        };
        self.take(got, false, |text: String| v.visit_str(&text))
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.node {
            None => v.visit_none(),
            Some(_) => v.visit_some(De {
                required: false,
                ..self
            }),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let got = match self.kind() {
            Some(Kind::Seq(items)) => Got::Is(&items[..], items.is_empty()),
            _ => self.blank().unwrap_or_else(|| self.wrong("a list")),
        };
        self.take(got, false, |items| v.visit_seq(self.items(items)))
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let got = match self.kind() {
            Some(Kind::Map(given)) => {
                let mut entries = Vec::new();
                self.map_entries(given, &mut entries);
                Got::Is(entries, given.is_empty())
            }
            _ => self.blank().unwrap_or_else(|| self.wrong("a mapping")),
        };
        self.take(got, false, |entries| {
            v.visit_map(self.entries(entries, None))
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        // The zero struct (for null or a value of the wrong kind) has every
        // field left out, and those are not reported.
        let quiet = De {
            quiet: true,
            ..self.clone()
        };
        let (reader, got) = match self.kind() {
            Some(Kind::Map(given)) => (&self, Got::Is(self.fields(given, fields), false)),
            _ => (
                &quiet,
                self.blank().unwrap_or_else(|| self.wrong("a mapping")),
            ),
        };
        self.take(got, false, |given: Vec<Entry>| {
            let entries = if given.is_empty() {
                reader.fields(&[], fields)
            } else {
                given
            };
            v.visit_map(reader.entries(entries, Some(name)))
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let what = human(name);
        let given = match self.kind() {
            Some(Kind::Map(given)) => given,
            None | Some(Kind::Null) if self.required => return Err(self.refusal(false)),
            _ => {
                let e = format!(
                    "expected a {what} (a mapping with a type), found {}",
                    describe(self.node)
                );
                return Err(self.locate(Error::new(e, false)));
            }
        };
        let tag = given
            .iter()
            .find(|(k, _)| k.text().as_deref() == Some("type"));
        let line = tag.and_then(|(k, t)| t.line.or(k.line));
        let tag = tag.and_then(|(_, t)| t.text()).unwrap_or_default();
        let at = self.child(None, format!("{}.type", self.path), line);
        if tag.is_empty() {
            return Err(at.locate(Error::new("missing required field type".into(), true)));
        }
        if !variants.contains(&tag.as_str()) {
            let e = format!(
                "unknown {what} type {tag:?} (expected one of: {})",
                variants.join(", ")
            );
            return Err(at.locate(Error::new(e, true)));
        }
        let de = De {
            skip_type: true,
            required: false,
            ..self.clone()
        };
        v.visit_enum(Variant { de, tag })
            .map_err(|e| self.locate(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

/// One entry of a mapping: key, its line, value (`None`: a struct field
/// the document leaves out).
struct Entry<'a>(String, Option<usize>, Option<&'a Node>);

struct Entries<'a> {
    de: De<'a>,
    entries: Vec<Entry<'a>>,
    next: usize,
    /// The struct's name; `None` for a map.
    what: Option<&'static str>,
}

impl Entries<'_> {
    fn path(&self, key: &str) -> String {
        match (self.what, self.de.path.as_str()) {
            (Some(_), "") => key.to_string(),
            (Some(_), path) => format!("{path}.{key}"),
            (None, path) => format!("{path}[{key:?}]"),
        }
    }
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(Entry(key, line, value)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let text: StringDeserializer<Error> = key.clone().into_deserializer();
        seed.deserialize(text).map(Some).map_err(|mut e| {
            if let (Some(expected), Some(what)) = (e.expected.take(), self.what) {
                let (what, list) = (human(what), expected.join(", "));
                e.message = match expected {
                    [] => format!("{} in {what}, which takes no keys", e.message),
                    _ => format!("{} in {what} (expected one of: {list})", e.message),
                };
            }
            self.de.child(*value, self.path(key), *line).locate(e)
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(Entry(key, line, value)) = self.entries.get(self.next) else {
            return Err(self.de.locate(de::Error::custom("a value without a key")));
        };
        self.next += 1;
        let mut child = self.de.child(*value, self.path(key), *line);
        if self.what.is_some() {
            (child.key, child.required) = (Some(key.clone()), true);
        }
        seed.deserialize(child.clone()).map_err(|e| child.locate(e))
    }
}

struct Items<'a> {
    de: De<'a>,
    items: &'a [Node],
    next: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.items.get(self.next) else {
            return Ok(None);
        };
        let child = self
            .de
            .child(Some(item), format!("{}[{}]", self.de.path, self.next), None);
        self.next += 1;
        seed.deserialize(child.clone())
            .map(Some)
            .map_err(|e| child.locate(e))
    }
}

/// An enum mapping whose `type` names the variant.
struct Variant<'a> {
    de: De<'a>,
    tag: String,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = De<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, De<'a>), Error> {
        let tag: StringDeserializer<Error> = self.tag.into_deserializer();
        Ok((seed.deserialize(tag)?, self.de))
    }
}

impl<'de> de::VariantAccess<'de> for De<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        self.deserialize_any(v)
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &[&str], v: V) -> Result<V::Value, Error> {
        self.deserialize_any(v)
    }
}
