//! Write a config as YAML that zrepl reads back exactly.
//!
//! zrepl parses with go-yaml v2, a YAML 1.1 reader: a bare `yes`, `on`,
//! `y` or `no` is a boolean there. serde_yaml_ng writes YAML 1.2 and leaves
//! those strings unquoted, so an identity or prefix spelled `on` would
//! change meaning on the way into zrepl. Hence this small emitter: every
//! string value is double-quoted, keys are quoted unless they are plain
//! field names. A `None` field is left out: written as `null` it would
//! be the field's zero value to zrepl, not its default.

use serde_yaml_ng::Value;

use super::model::Config;

/// Render `config` as YAML text for `/etc/zrepl/zrepl.yml`.
pub fn to_yaml(config: &Config) -> String {
    // Serializing our own plain-data types into a Value cannot fail: they
    // contain only strings, numbers, bools, lists and string-keyed maps.
    let value = serde_yaml_ng::to_value(config).unwrap_or(Value::Null);
    let mut out = String::new();
    match &value {
        Value::Mapping(m) if entries(m).next().is_some() => mapping(m, 0, &mut out),
        _ => out.push_str("{}\n"),
    }
    out
}

/// The entries that say something: `None` fields serialize as null.
fn entries(m: &serde_yaml_ng::Mapping) -> impl Iterator<Item = (&Value, &Value)> {
    m.iter().filter(|(_, v)| !v.is_null())
}

fn mapping(m: &serde_yaml_ng::Mapping, indent: usize, out: &mut String) {
    for (k, v) in entries(m) {
        pad(indent, out);
        out.push_str(&key(k));
        out.push(':');
        value_after_key(v, indent, out);
    }
}

fn value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if entries(m).next().is_some() => {
            out.push('\n');
            mapping(m, indent + 2, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            sequence(s, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn sequence(s: &[Value], indent: usize, out: &mut String) {
    for item in s {
        pad(indent, out);
        out.push_str("- ");
        match item {
            Value::Mapping(m) if entries(m).next().is_some() => {
                // First entry on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, v) in entries(m) {
                    if !first {
                        pad(indent + 2, out);
                    }
                    first = false;
                    out.push_str(&key(k));
                    out.push(':');
                    value_after_key(v, indent + 2, out);
                }
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(inner, indent + 2, out);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn key(k: &Value) -> String {
    match k {
        Value::String(s) if is_plain_key(s) => s.clone(),
        other => scalar(other),
    }
}

fn is_plain_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && crate::zrepl::syntax::yaml11_bool(s).is_none()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Mapping(_) => "{}".into(),
        Value::Sequence(_) => "[]".into(),
        Value::Tagged(t) => scalar(&t.value),
    }
}

/// YAML double-quoted scalar; its escapes are a superset of JSON's.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zrepl::model::*;

    #[test]
    fn quotes_strings_that_yaml11_reads_as_booleans() {
        let config = Config {
            jobs: vec![Job::Sink(SinkJob {
                name: "on".into(),
                serve: Serve::Tcp(TcpServe {
                    listen: ":8888".into(),
                    listen_freebind: None,
                    clients: [("10.0.0.1".to_string(), "yes".to_string())].into(),
                }),
                root_fs: "tank/sink".into(),
                recv: None,
            })],
            ..Config::default()
        };
        let text = to_yaml(&config);
        assert!(text.contains("name: \"on\""), "{text}");
        assert!(text.contains("\"10.0.0.1\": \"yes\""), "{text}");
        let back = crate::zrepl::validate(&text).expect("reparse").config;
        assert_eq!(back, config);
    }

    #[test]
    fn escapes() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
