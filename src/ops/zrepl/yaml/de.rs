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
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};

use super::node::{Kind, Node};
use crate::ops::zrepl::syntax::yaml11_bool;

/// A problem found while reading, at a path such as `jobs[0].connect`.
#[derive(Debug)]
pub(crate) struct Error {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
    located: bool,
    /// The message names its key, so it needs no `key: ` in front.
    keyed: bool,
    /// For an unknown key: the keys its struct takes.
    expected: Option<&'static [&'static str]>,
}

impl Error {
    fn new(message: String) -> Error {
        Error {
            path: String::new(),
            line: None,
            message,
            located: false,
            keyed: false,
            expected: None,
        }
    }

    fn keyed(message: String) -> Error {
        Error {
            keyed: true,
            ..Error::new(message)
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
        Error::new(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Error {
        Error {
            expected: Some(expected),
            ..Error::keyed(format!("unknown field {field:?}"))
        }
    }

    fn missing_field(field: &'static str) -> Error {
        Error::keyed(format!("missing required field {field}"))
    }

    fn duplicate_field(field: &'static str) -> Error {
        Error::keyed(format!("key {field:?} is given twice"))
    }
}

/// Read `root`, found at `path`, as a `T`: the value and the problems the
/// reader read past, or, when it had to stop, every problem found.
pub(crate) fn read<T: DeserializeOwned>(root: &Node, path: &str) -> (Option<T>, Vec<Error>) {
    let log = RefCell::new(Vec::new());
    let read = {
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
        T::deserialize(de.clone()).map_err(|e| de.locate(e))
    };
    let mut errors = log.into_inner();
    match read {
        Ok(value) => (Some(value), errors),
        Err(e) => {
            errors.push(e);
            (None, errors)
        }
    }
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

impl<'a> De<'a> {
    fn kind(&self) -> Option<&'a Kind> {
        self.node.map(|n| &n.kind)
    }

    fn child(&self, node: Option<&'a Node>, path: String, line: Option<usize>) -> De<'a> {
        De {
            line: node.and_then(|n| n.line).or(line).or(self.line),
            node,
            path,
            key: None,
            required: false,
            skip_type: false,
            ..self.clone()
        }
    }

    /// Give `e` this value's path and line, unless it has them.
    fn locate(&self, mut e: Error) -> Error {
        if !e.located {
            if let (false, Some(key)) = (e.keyed, &self.key) {
                e.message = format!("{key}: {}", e.message);
            }
            e.path = self.path.clone();
            e.line = self.line;
            e.located = true;
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
        self.locate(Error::keyed(match (self.node, numeric) {
            (None, _) => format!("missing required field {key}"),
            (Some(_), true) => format!("{key} must not be 0"),
            (Some(_), false) => format!("{key} must not be empty"),
        }))
    }

    /// Null, or a field the document leaves out: go-yaml keeps the zero
    /// value, which zrepl refuses for a required field.
    fn zero<T>(&self, read: Result<T, Error>) -> Result<T, Error> {
        if !self.required {
            return read.map_err(|e| self.locate(e));
        }
        let refusal = self.refusal(false);
        match read {
            Ok(value) => {
                self.note(refusal);
                Ok(value)
            }
            Err(_) => Err(refusal),
        }
    }

    /// A value that was read; a required field's zero value is refused.
    fn given<T>(&self, read: Result<T, Error>, zero: bool, numeric: bool) -> Result<T, Error> {
        let value = read.map_err(|e| self.locate(e))?;
        if zero && self.required {
            self.note(self.refusal(numeric));
        }
        Ok(value)
    }

    /// A value of the wrong kind: reported, and read on as the zero value.
    fn wrong<T>(&self, want: &str, zero: Result<T, Error>) -> Result<T, Error> {
        let e = self.locate(Error::new(format!(
            "expected {want}, found {}",
            describe(self.node)
        )));
        match zero {
            Ok(value) => {
                self.note(e);
                Ok(value)
            }
            Err(_) => Err(e),
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
        let mut out: Vec<Entry<'a>> = given
            .iter()
            .map(|(k, v)| Entry {
                key: k.text().unwrap_or_default(),
                line: k.line,
                value: Some(v),
            })
            .filter(|e| !(self.skip_type && e.key == "type"))
            .collect();
        for field in fields {
            if !out.iter().any(|e| e.key == *field) {
                out.push(Entry::absent(field));
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
                                self.locate(Error::new("a << merge takes mappings only".into())),
                            ),
                        }
                    }
                }
                _ if out.iter().any(|e| e.key == key) => {
                    let e = Error::keyed(format!("key {key:?} is given twice"));
                    self.note(
                        self.child(Some(v), map_path(&self.path, &key), k.line)
                            .locate(e),
                    );
                }
                _ => out.push(Entry {
                    key,
                    line: k.line,
                    value: Some(v),
                }),
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

fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn map_path(path: &str, key: &str) -> String {
    format!("{path}[{key:?}]")
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
                None | Some(Kind::Null) => return self.zero(v.$visit(0)),
                Some(Kind::Int(i)) => Some(*i),
                // go-yaml truncates a float put into an integer.
                Some(Kind::Float(f)) if f.is_finite() => Some(f.trunc() as i128),
                _ => None,
            };
            match n.and_then(|n| <$t>::try_from(n).ok()) {
                Some(n) => self.given(v.$visit(n), n == 0, true),
                None => self.wrong(concat!("a whole number (", stringify!($t), ")"), v.$visit(0)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let read = match self.kind() {
            None | Some(Kind::Null) => return self.zero(v.visit_unit()),
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
        match self.kind() {
            None | Some(Kind::Null) => self.zero(v.visit_bool(false)),
            Some(Kind::Bool(b)) => self.given(v.visit_bool(*b), false, false),
            // YAML 1.1, which go-yaml v2 follows: plain yes/no/on/off/y/n.
            Some(Kind::Str { text, plain: true }) if yaml11_bool(text).is_some() => {
                self.given(v.visit_bool(yaml11_bool(text) == Some(true)), false, false)
            }
            _ => self.wrong("true or false", v.visit_bool(false)),
        }
    }

    integers! {
        deserialize_i8(visit_i8, i8), deserialize_i16(visit_i16, i16),
        deserialize_i32(visit_i32, i32), deserialize_i64(visit_i64, i64),
        deserialize_u8(visit_u8, u8), deserialize_u16(visit_u16, u16),
        deserialize_u32(visit_u32, u32), deserialize_u64(visit_u64, u64),
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.kind() {
            None | Some(Kind::Null) => self.zero(v.visit_str("")),
            Some(Kind::Seq(_) | Kind::Map(_)) => self.wrong("text", v.visit_str("")),
            _ => {
                let text = self.node.and_then(Node::text).unwrap_or_default();
                self.given(v.visit_str(&text), text.is_empty(), false)
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
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

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.kind() {
            None | Some(Kind::Null) => v.visit_unit(),
            _ => self.wrong("nothing", v.visit_unit()),
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
        match self.kind() {
            None | Some(Kind::Null) => self.zero(v.visit_seq(self.items(&[]))),
            Some(Kind::Seq(items)) => {
                self.given(v.visit_seq(self.items(items)), items.is_empty(), false)
            }
            _ => self.wrong("a list", v.visit_seq(self.items(&[]))),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.kind() {
            None | Some(Kind::Null) => self.zero(v.visit_map(self.entries(Vec::new(), None))),
            Some(Kind::Map(given)) => {
                let mut entries = Vec::new();
                self.map_entries(given, &mut entries);
                let read = v.visit_map(self.entries(entries, None));
                self.given(read, given.is_empty(), false)
            }
            _ => self.wrong("a mapping", v.visit_map(self.entries(Vec::new(), None))),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let zero = || {
            let quiet = De {
                quiet: true,
                ..self.clone()
            };
            quiet.entries(
                fields.iter().map(|f| Entry::absent(f)).collect(),
                Some(name),
            )
        };
        match self.kind() {
            None | Some(Kind::Null) => self.zero(v.visit_map(zero())),
            Some(Kind::Map(given)) => {
                let entries = self.entries(self.fields(given, fields), Some(name));
                v.visit_map(entries).map_err(|e| self.locate(e))
            }
            _ => self.wrong("a mapping", v.visit_map(zero())),
        }
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
                let found = describe(self.node);
                let e = format!("expected a {what} (a mapping with a type), found {found}");
                return Err(self.locate(Error::new(e)));
            }
        };
        let tag = given
            .iter()
            .find(|(k, _)| k.text().as_deref() == Some("type"));
        let at = |line| self.child(None, field_path(&self.path, "type"), line);
        let (line, tag) = match tag {
            Some((k, t)) => (t.line.or(k.line), t.text().unwrap_or_default()),
            None => (None, String::new()),
        };
        if tag.is_empty() {
            return Err(at(line).locate(Error::keyed("missing required field type".into())));
        }
        if !variants.contains(&tag.as_str()) {
            let e = format!(
                "unknown {what} type {tag:?} (expected one of: {})",
                variants.join(", ")
            );
            return Err(at(line).locate(Error::keyed(e)));
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
        i128 u128 f32 f64 bytes byte_buf unit_struct tuple tuple_struct
    }
}

/// One entry of a mapping, or a struct field the document leaves out.
struct Entry<'a> {
    key: String,
    line: Option<usize>,
    value: Option<&'a Node>,
}

impl Entry<'_> {
    fn absent(field: &str) -> Self {
        Entry {
            key: field.to_string(),
            line: None,
            value: None,
        }
    }
}

struct Entries<'a> {
    de: De<'a>,
    entries: Vec<Entry<'a>>,
    next: usize,
    /// The struct's name; `None` for a map.
    what: Option<&'static str>,
}

impl Entries<'_> {
    fn path(&self, key: &str) -> String {
        match self.what {
            Some(_) => field_path(&self.de.path, key),
            None => map_path(&self.de.path, key),
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let key: StringDeserializer<Error> = entry.key.clone().into_deserializer();
        seed.deserialize(key).map(Some).map_err(|mut e| {
            if let (Some(expected), Some(what)) = (e.expected.take(), self.what) {
                e.message = match expected {
                    [] => format!("{} in {}, which takes no keys", e.message, human(what)),
                    _ => format!(
                        "{} in {} (expected one of: {})",
                        e.message,
                        human(what),
                        expected.join(", ")
                    ),
                };
            }
            let at = self
                .de
                .child(entry.value, self.path(&entry.key), entry.line);
            at.locate(e)
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some(entry) = self.entries.get(self.next) else {
            return Err(self.de.locate(Error::new("a value without a key".into())));
        };
        self.next += 1;
        let mut child = self
            .de
            .child(entry.value, self.path(&entry.key), entry.line);
        if self.what.is_some() {
            child.key = Some(entry.key.clone());
            child.required = true;
        }
        seed.deserialize(child.clone()).map_err(|e| child.locate(e))
    }
}

struct Items<'a> {
    de: De<'a>,
    items: &'a [Node],
    next: usize,
}

impl<'de> SeqAccess<'de> for Items<'_> {
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

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = De<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, De<'a>), Error> {
        let tag: StringDeserializer<Error> = self.tag.into_deserializer();
        Ok((seed.deserialize(tag)?, self.de))
    }
}

impl<'de> VariantAccess<'de> for De<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(self.locate(Error::new("not a zrepl value".into())))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(self.locate(Error::new("not a zrepl value".into())))
    }
}
