//! Values of the model whose reading differs from plain text: a Go
//! duration counts nanoseconds when given as a number, and a null data
//! size or syslog facility is zero or zrepl's default. Each keeps what its
//! author wrote and says how to parse it; the rules parse them (as they
//! parse the text fields with a syntax: intervals, grids, cron lines), so
//! that one bad value does not stop the check before the other problems
//! are found.

use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::syntax;

/// A scalar as a Go field gets it.
enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
}

impl Scalar {
    /// What a Go string field holds: the text of any scalar; null is none.
    fn text(self) -> Option<String> {
        match self {
            Scalar::Null => None,
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Float(f) => Some(f.to_string()),
            Scalar::Text(t) => Some(t),
        }
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a single value")
    }

    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(i.into()))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Scalar, E> {
        Ok(Scalar::Int(u.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(s.to_string()))
    }
}

/// A newtype over a value's text; `$null` is what a null stands for.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, null: $null:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = d.deserialize_any(ScalarVisitor)?.text();
                Ok($name(text.unwrap_or_else(|| $null.into())))
            }
        }
    };
}

text_value!(
    /// A data size as zrepl reads it (`23.5 MiB`, `-1 B`); null is zero.
    DataSize, null: "0 B"
);
text_value!(
    /// A syslog facility; null is zrepl's default.
    Facility, null: "local0"
);

impl DataSize {
    /// Bytes; zrepl counts in bits, so this may be a fraction.
    pub fn bytes(&self) -> Result<f64, String> {
        syntax::check_datasize(&self.0).map(|bits| bits / 8.0)
    }
}

impl Facility {
    pub fn parse(&self) -> Result<(), String> {
        syntax::facility(&self.0)
    }
}

/// A Go `time.Duration` field: `1m30s`, or a bare number of nanoseconds,
/// which is how go-yaml reads an integer there (`dial_timeout: 10` is
/// 10ns). Null is zero: a `default=` does not apply to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoDuration {
    Text(String),
    Nanos(i64),
}

impl GoDuration {
    pub fn nanos(&self) -> Result<i128, String> {
        match self {
            GoDuration::Text(t) => syntax::go_duration(t),
            GoDuration::Nanos(n) => Ok((*n).into()),
        }
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::Null => GoDuration::Nanos(0),
            Scalar::Int(n) => GoDuration::Nanos(n as i64),
            // go-yaml truncates a float put into an integer.
            Scalar::Float(f) => GoDuration::Nanos(f as i64),
            other => GoDuration::Text(other.text().unwrap_or_default()),
        })
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GoDuration::Text(t) => s.serialize_str(t),
            GoDuration::Nanos(n) => s.serialize_i64(*n),
        }
    }
}

/// A field zrepl lets one leave out that the model keeps as a plain `Vec`:
/// missing and null are empty.
pub(super) fn optional<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
