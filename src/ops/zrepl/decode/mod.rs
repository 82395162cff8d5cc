//! Read a parsed YAML tree into the model while collecting every problem.
//!
//! serde stops at the first error, but an operator fixing a config during
//! a failover wants the whole list at once. So we walk the tree by hand:
//! each decoder records findings and carries on with its siblings, and the
//! typed value is only used when nothing was recorded.

mod global;
mod job;
mod options;
mod policy;
mod transport;

use serde_yaml_ng::{Mapping, Value};

use super::error::Finding;
use super::model::Config;
use super::syntax;

pub(crate) use job::decode_jobs;

/// Findings collected during one walk.
#[derive(Default)]
pub(crate) struct Decoder {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Name of the job being decoded, repeated in every message.
    job: Option<String>,
}

impl Decoder {
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let f = self.finding(path, message.into());
        self.errors.push(f);
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        let f = self.finding(path, message.into());
        self.warnings.push(f);
    }

    fn finding(&self, path: &str, message: String) -> Finding {
        Finding {
            path: path.to_string(),
            job: self.job.clone(),
            message,
        }
    }

    pub fn set_job(&mut self, name: Option<String>) {
        self.job = name;
    }

    /// Open a mapping whose keys must come from `allowed`; unknown keys are
    /// reported here, once, because zrepl refuses them.
    pub fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        what: &str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'v>> {
        let Value::Mapping(map) = v else {
            self.error(path, format!("{what} must be a mapping, found {}", kind(v)));
            return None;
        };
        for k in map.keys() {
            match k {
                Value::String(s) if allowed.contains(&s.as_str()) => {}
                Value::String(s) => self.error(
                    &join(path, s),
                    format!(
                        "unknown field {s:?} in {what} (expected one of: {})",
                        allowed.join(", ")
                    ),
                ),
                other => self.error(path, format!("{what} has a non-text key {}", kind(other))),
            }
        }
        Some(Fields {
            path: path.to_string(),
            map,
        })
    }

    /// A required text field; zrepl also refuses it empty.
    pub fn req_str(&mut self, f: &Fields<'_>, key: &str) -> String {
        match f.get(key) {
            None => {
                self.error(&f.at(key), format!("missing required field {key}"));
                String::new()
            }
            Some(v) => self.nonempty_str(v, &f.at(key), key),
        }
    }

    /// An optional text field; present means non-empty.
    pub fn opt_str(&mut self, f: &Fields<'_>, key: &str) -> Option<String> {
        f.get(key).map(|v| self.nonempty_str(v, &f.at(key), key))
    }

    pub fn nonempty_str(&mut self, v: &Value, path: &str, key: &str) -> String {
        match text(v) {
            Some(s) if !s.is_empty() => s,
            Some(_) => {
                self.error(path, format!("field {key} must not be empty"));
                String::new()
            }
            None if v.is_null() => {
                self.error(path, format!("field {key} has no value"));
                String::new()
            }
            None => {
                self.error(path, format!("field {key} must be text, found {}", kind(v)));
                String::new()
            }
        }
    }

    pub fn opt_bool(&mut self, f: &Fields<'_>, key: &str) -> Option<bool> {
        let v = f.get(key)?;
        let b = self.bool(v, &f.at(key), key);
        Some(b)
    }

    pub fn bool(&mut self, v: &Value, path: &str, key: &str) -> bool {
        match v {
            Value::Bool(b) => *b,
            Value::String(s) => syntax::yaml11_bool(s).unwrap_or_else(|| {
                self.error(path, format!("{key} must be true or false, found {s:?}"));
                false
            }),
            other => {
                self.error(
                    path,
                    format!("{key} must be true or false, found {}", kind(other)),
                );
                false
            }
        }
    }

    /// A whole number that zrepl requires to be at least 1.
    pub fn positive_int(&mut self, v: &Value, path: &str, key: &str) -> u64 {
        match v.as_u64() {
            Some(n) if n > 0 => n,
            _ => {
                self.error(path, format!("{key} must be a whole number of at least 1"));
                1
            }
        }
    }

    /// A non-empty list of non-empty strings.
    pub fn str_list(&mut self, v: &Value, path: &str, key: &str) -> Vec<String> {
        let Value::Sequence(items) = v else {
            self.error(path, format!("{key} must be a list, found {}", kind(v)));
            return Vec::new();
        };
        if items.is_empty() {
            self.error(path, format!("{key} must not be empty"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.nonempty_str(item, &format!("{path}[{i}]"), key))
            .collect()
    }

    /// A required Go duration (`10s`); `min_nanos` is 0 or 1.
    pub fn opt_go_duration(
        &mut self,
        f: &Fields<'_>,
        key: &str,
        min_nanos: i128,
    ) -> Option<String> {
        let s = self.opt_str(f, key)?;
        match syntax::go_duration(&s) {
            Ok(n) if n >= min_nanos => {}
            Ok(_) if min_nanos > 0 => self.error(&f.at(key), format!("{key} must be positive")),
            Ok(_) => self.error(&f.at(key), format!("{key} must not be negative")),
            Err(e) => self.error(&f.at(key), format!("{key}: {e}")),
        }
        Some(s)
    }

    /// A required address; `need_host` for addresses we dial.
    pub fn hostport(&mut self, f: &Fields<'_>, key: &str, need_host: bool) -> String {
        let s = self.req_str(f, key);
        if !s.is_empty()
            && let Err(e) = syntax::check_hostport(&s, need_host)
        {
            self.error(&f.at(key), format!("{key}: {e}"));
        }
        s
    }

    /// Value of `type`, needed before the rest of an enum can be read.
    pub fn type_tag(
        &mut self,
        v: &Value,
        path: &str,
        what: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let Value::Mapping(m) = v else {
            self.error(path, format!("{what} must be a mapping, found {}", kind(v)));
            return None;
        };
        let t = match m.get("type") {
            None => {
                self.error(
                    &join(path, "type"),
                    format!("{what} is missing required field type"),
                );
                return None;
            }
            Some(t) => self.nonempty_str(t, &join(path, "type"), "type"),
        };
        if t.is_empty() {
            return None;
        }
        if !allowed.contains(&t.as_str()) {
            self.error(
                &join(path, "type"),
                format!(
                    "unknown {what} type {t:?} (expected one of: {})",
                    allowed.join(", ")
                ),
            );
            return None;
        }
        Some(t)
    }
}

/// The entries of one mapping, with its path for messages.
pub(crate) struct Fields<'v> {
    path: String,
    map: &'v Mapping,
}

impl<'v> Fields<'v> {
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Scalars zrepl would accept into a text field (go-yaml v2 hands string
/// fields the raw text of numbers and booleans too).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Report `value` unless it is one of `allowed` (enumerated settings).
pub(crate) fn one_of(
    d: &mut Decoder,
    f: &Fields<'_>,
    key: &str,
    value: Option<&str>,
    allowed: &[&str],
) {
    if let Some(v) = value
        && !v.is_empty()
        && !allowed.contains(&v)
    {
        d.error(
            &f.at(key),
            format!("{key} {v:?} is not one of: {}", allowed.join(", ")),
        );
    }
}

/// Decode the whole document.
pub(crate) fn decode_config(d: &mut Decoder, root: &Value) -> Option<Config> {
    if root.is_null() {
        // An empty file is a valid (empty) zrepl config.
        return Some(Config::default());
    }
    let f = d.object(root, "", "the config file", &["global", "jobs", "include"])?;
    let global = f
        .get("global")
        .map(|v| global::decode_global(d, v, "global"));
    let jobs = match f.get("jobs") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => decode_jobs(d, v, "jobs"),
    };
    let include = match f.get("include") {
        None => Vec::new(),
        Some(v) => {
            d.warn(
                "include",
                "included files are not read by this check; validate each of them as well",
            );
            d.str_list(v, "include", "include")
        }
    };
    Some(Config {
        global: global.flatten(),
        jobs,
        include,
    })
}
