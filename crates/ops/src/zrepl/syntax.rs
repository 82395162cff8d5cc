//! Value syntaxes of zrepl's config: its two duration dialects, grid specs,
//! host:port, client maps, data sizes, cron lines.
//!
//! zrepl has two duration parsers and uses them in different places:
//! `interval` and grid lengths go through its own `parseDuration`
//! (`internal/config/config_duration.go`: an integer and one of
//! `s m h d w`), while timeouts are Go `time.Duration` fields read with
//! `time.ParseDuration` (`10s`, `1m30s`, `500ms`). Mixing them up is the
//! classic config mistake (`interval: 1m30s` is refused), hence two
//! functions here.
//!
//! These are plain functions over text; the config check runs them on the
//! values as written, with the path of each.

use std::net::IpAddr;
use std::time::Duration;

use regex::Regex;

use super::names;

/// Parse a zrepl duration (`10m`, `1 h`, `2d`, `3w`); must be positive.
pub fn zrepl_duration(s: &str) -> Result<Duration, String> {
    const HOW: &str =
        "expected a positive whole number followed by one of s, m, h, d, w (e.g. \"10m\")";
    let t = s.trim();
    let digits_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '+' || c == '-'))))
        .map_or(t.len(), |(i, _)| i);
    let (num, unit) = t.split_at(digits_end);
    let unit = unit.trim_start();
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a zrepl duration: {HOW}"))?;
    let secs: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "" if n == 0 => 0,
        "" => return Err(format!("{s:?} has no time unit: {HOW}")),
        other => return Err(format!("{s:?} has unknown time unit {other:?}: {HOW}")),
    };
    if n <= 0 {
        return Err(format!("{s:?} must be positive: {HOW}"));
    }
    n.checked_mul(secs)
        .and_then(|v| u64::try_from(v).ok())
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// A pull job's interval: a zrepl duration, or `manual`.
pub fn pull_interval(s: &str) -> Result<Duration, String> {
    match s {
        "manual" => Ok(Duration::ZERO),
        "" => Err("must not be empty".into()),
        _ => zrepl_duration(s).map_err(|e| format!("{e}, or \"manual\"")),
    }
}

/// Write a duration in zrepl's syntax, in the largest exact unit.
pub fn format_zrepl_duration(d: Duration) -> Result<String, String> {
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        return Err(format!(
            "{d:?} cannot be written as a zrepl duration (whole seconds, at least 1s)"
        ));
    }
    let s = d.as_secs();
    let (n, unit) = [
        (604_800, "w"),
        (86_400, "d"),
        (3600, "h"),
        (60, "m"),
        (1, "s"),
    ]
    .into_iter()
    .find(|(f, _)| s.is_multiple_of(*f))
    .map_or((s, "s"), |(f, u)| (s / f, u));
    Ok(format!("{n}{unit}"))
}

/// Parse a Go `time.Duration` string (`10s`, `1m30s`, `1.5h`, `0`);
/// returns nanoseconds, which may be negative.
pub fn go_duration(s: &str) -> Result<i128, String> {
    let err = || format!("{s:?} is not a duration like \"10s\", \"1m30s\" or \"500ms\"");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += value * nanos;
        rest = next;
    }
    if total > i64::MAX as f64 {
        return Err(format!("{s:?} is too long"));
    }
    let n = total as i128;
    Ok(if neg { -n } else { n })
}

/// Go's `net.SplitHostPort`, which zrepl's `hostport` tag runs: an empty
/// or named port passes, a missing one or unbracketed IPv6 does not.
pub fn split_host_port(s: &str) -> Result<(&str, &str), String> {
    let err = |why: &str| Err(format!("{s:?}: {why}"));
    let Some(colon) = s.rfind(':') else {
        return err("missing port in address");
    };
    let (host, inner) = if s.starts_with('[') {
        let Some(end) = s.find(']') else {
            return err("missing ']' in address");
        };
        if end + 1 == s.len() {
            return err("missing port in address");
        }
        if end + 1 != colon {
            return err(if s.as_bytes().get(end + 1) == Some(&b':') {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        (&s[1..end], (1, end + 1))
    } else {
        if s[..colon].contains(':') {
            return err("too many colons in address");
        }
        (&s[..colon], (0, 0))
    };
    if s[inner.0..].contains('[') {
        return err("unexpected '[' in address");
    }
    if s[inner.1..].contains(']') {
        return err("unexpected ']' in address");
    }
    Ok((host, &s[colon + 1..]))
}

/// Check `host:port` as Go's `net.SplitHostPort` does, plus a numeric
/// port (zrepl would only fail later, when it dials or listens).
/// `need_host` is for addresses we dial: an empty host there is a typo.
pub fn check_hostport(s: &str, need_host: bool) -> Result<(), String> {
    let (host, port) = split_host_port(s)?;
    if need_host && host.is_empty() {
        return Err(format!("{s:?}: missing host (expected host:port)"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "{s:?}: port {port:?} is not a number from 1 to 65535"
        )),
    }
}

/// Check one entry of a tcp `serve.clients` map, as zrepl's
/// `serve_tcp_ipmap.go` does: an IP maps to a fixed identity, a CIDR to an
/// identity with exactly one `*` that zrepl replaces by the client's IP.
pub fn check_client_entry(addr: &str, identity: &str) -> Result<(), String> {
    let ip_part = addr.split_once('%').map_or(addr, |(ip, _zone)| ip);
    if let Some((ip, bits)) = ip_part.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address or CIDR"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match bits.parse::<u8>() {
            Ok(b) if b <= max => {}
            _ => return Err(format!("{addr:?} has an invalid prefix length")),
        }
        if identity.matches('*').count() != 1 {
            return Err(format!(
                "identity {identity:?} for CIDR {addr:?} needs exactly one '*' (replaced by the client's IP)"
            ));
        }
        // zrepl checks the longest expansion: a full IPv6 address and zone.
        let longest = identity.replacen(
            '*',
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff-iiiiiiiiiiiiiiii",
            1,
        );
        return names::check_identity(&longest)
            .map_err(|_| format!("identity {identity:?} for CIDR {addr:?} would not be a valid dataset component once '*' is expanded"));
    }
    ip_part
        .parse::<IpAddr>()
        .map_err(|_| format!("{addr:?} is not an IP address or CIDR"))?;
    if identity.contains('*') {
        return Err(format!(
            "identity {identity:?} for single address {addr:?} must not contain '*'"
        ));
    }
    names::check_identity(identity)
}

/// Check a grid spec like `1x1h(keep=all) | 24x1h | 14x1d`, as zrepl's
/// `retentiongrid.go` and `keep_grid.go` do.
pub fn check_grid(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split('|').collect();
    let mut last_len = Duration::ZERO;
    let mut all_before_keep_all = true;
    for (i, part) in parts.iter().enumerate() {
        let (length, keep) = grid_interval(part).map_err(|e| {
            format!(
                "interval {} of {} ({:?}): {e}",
                i + 1,
                parts.len(),
                part.trim()
            )
        })?;
        if length < last_len && !all_before_keep_all {
            return Err(format!(
                "interval {} ({:?}) is shorter than the one before; lengths must not decrease",
                i + 1,
                part.trim()
            ));
        }
        all_before_keep_all &= keep.is_none();
        last_len = length;
    }
    Ok(())
}

/// `NxDURATION(keep=K)` → (DURATION, Some(K), or None for keep=all).
fn grid_interval(part: &str) -> Result<(Duration, Option<i64>), String> {
    let re = grid_regex();
    let caps = re
        .captures(part)
        .ok_or("expected COUNTxDURATION with an optional (keep=N|all), e.g. 24x1h")?;
    let times: usize = caps[1].parse().map_err(|_| "count is not a number")?;
    if times == 0 {
        return Err("count must be at least 1".into());
    }
    let length = zrepl_duration(&caps[2])?;
    let keep = match caps.get(4).map(|p| p.as_str().trim_start()) {
        None => Some(1),
        // zrepl matches `^\s*keep=(.+)\s*$`: blanks after the value stay in it.
        Some(param) => match param.strip_prefix("keep=") {
            Some("all" | "-1") => None,
            Some(n) => Some(
                n.parse::<i64>()
                    .map_err(|_| format!("keep={n} is not a number or 'all'"))?,
            ),
            None => return Err("the only parameter is keep=N or keep=all".into()),
        },
    };
    Ok((length, keep))
}

fn grid_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        // Same shape as zrepl's retentionStringIntervalRegex.
        Regex::new(r"^\s*(\d+)\s*x\s*([^(]+)\s*(\((.*)\))?\s*$").expect("constant regex compiles")
    })
}

/// Compile a regex. zrepl uses Go's RE2 syntax; Rust's `regex` crate
/// implements the same family (no look-around, no back-references).
pub fn check_regex(re: &str) -> Result<(), String> {
    Regex::new(re).map(|_| ()).map_err(|e| {
        // The crate's message draws a caret over several lines; keep the
        // last line so each finding stays on one line.
        let text = e.to_string();
        let why = text
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim_start_matches("error: ");
        format!("regex {re:?} does not compile: {why}")
    })
}

/// A data size as zrepl's `datasizeunit` reads it (`23.5 MiB`, `100 KB`,
/// `-1 B`; the SI prefix is a capital K), in bits. A number of bits must
/// be whole.
pub fn check_datasize(s: &str) -> Result<f64, String> {
    let err = || format!("{s:?} is not a size like \"10 MiB\", \"500 KB\" or \"-1 B\" (unlimited)");
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_end);
    let n: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim_start_matches([' ', '\t', '\n', '\r']);
    if unit == "bit" {
        return match n.fract() {
            0.0 => Ok(n),
            _ => Err(format!("{s:?}: a number of bits must be whole")),
        };
    }
    let (prefix, bits) = match (unit.strip_suffix('b'), unit.strip_suffix('B')) {
        (Some(prefix), _) => (prefix, 1.0),
        (_, Some(prefix)) => (prefix, 8.0),
        _ => return Err(err()),
    };
    let factor = match prefix {
        "" => 1.0,
        "K" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return Err(err()),
    };
    Ok(n * factor * bits)
}

/// A syslog facility name, as zrepl's `SyslogFacility` takes it.
pub fn facility(s: &str) -> Result<(), String> {
    const NAMES: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
        "local7",
    ];
    if NAMES.contains(&s) {
        Ok(())
    } else {
        Err(format!("invalid syslog facility {s:?}"))
    }
}

/// Shape check of a cron line (5 fields, or 6 with seconds first). zrepl
/// uses robfig/cron; we check the shape, not every range.
pub fn check_cron(s: &str) -> Result<(), String> {
    if s.starts_with('@') {
        return Err(format!(
            "{s:?}: descriptors like @daily are disabled in zrepl"
        ));
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(format!(
            "{s:?} has {} fields; expected 5 (min hour dom month dow) or 6 (with seconds first)",
            fields.len()
        ));
    }
    let bad = |f: &&&str| {
        !f.chars()
            .all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c))
    };
    match fields.iter().find(bad) {
        Some(f) => Err(format!(
            "{s:?}: field {f:?} has characters cron does not accept"
        )),
        None => Ok(()),
    }
}

/// Booleans as go-yaml v2 (zrepl's parser) reads them: YAML 1.1 spellings.
pub fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zrepl_durations() {
        assert_eq!(zrepl_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(zrepl_duration(" 2 d "), Ok(Duration::from_secs(172_800)));
        assert_eq!(zrepl_duration("1w"), Ok(Duration::from_secs(604_800)));
        for bad in [
            "10 minutes",
            "10x",
            "1m30s",
            "10",
            "0m",
            "-5m",
            "",
            "m",
            "1.5h",
        ] {
            assert!(zrepl_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(
            zrepl_duration("10x")
                .unwrap_err()
                .contains("unknown time unit")
        );
    }

    #[test]
    fn zrepl_duration_format() {
        assert_eq!(
            format_zrepl_duration(Duration::from_secs(600)).as_deref(),
            Ok("10m")
        );
        assert_eq!(
            format_zrepl_duration(Duration::from_secs(90)).as_deref(),
            Ok("90s")
        );
        assert_eq!(
            format_zrepl_duration(Duration::from_secs(86_400)).as_deref(),
            Ok("1d")
        );
        assert!(format_zrepl_duration(Duration::from_millis(1500)).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10s"), Ok(10_000_000_000));
        assert_eq!(go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("-2s"), Ok(-2_000_000_000));
        for bad in ["10", "10d", "s", "", "1m30", "ten seconds"] {
            assert!(go_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn hostports() {
        for ok in ["backup:8888", "127.0.0.1:8888", "[::1]:8888"] {
            assert!(check_hostport(ok, true).is_ok(), "{ok}");
        }
        assert!(check_hostport(":8888", false).is_ok());
        assert!(check_hostport(":8888", true).is_err());
        for bad in [
            "backup",
            "backup:",
            "backup:http",
            "::1:8888",
            "[::1]",
            "h:70000",
            "h:0",
        ] {
            assert!(
                check_hostport(bad, false).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn go_split_host_port() {
        assert_eq!(split_host_port("h:"), Ok(("h", "")));
        assert_eq!(split_host_port("[fe80::1]:http"), Ok(("fe80::1", "http")));
        for bad in ["h", "fe80::1:8888", "[::1]", "[::1]x:1", "h]:1"] {
            assert!(split_host_port(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn client_entries() {
        assert!(check_client_entry("192.168.1.10", "primary").is_ok());
        assert!(check_client_entry("10.0.0.0/24", "net-*").is_ok());
        assert!(check_client_entry("fe80::1%eth0", "ll").is_ok());
        assert!(check_client_entry("10.0.0.0/24", "fixed").is_err());
        assert!(check_client_entry("10.0.0.1", "a-*").is_err());
        assert!(check_client_entry("backup-host", "x").is_err());
        assert!(check_client_entry("10.0.0.1", "a/b").is_err());
    }

    #[test]
    fn grids() {
        assert!(check_grid("1x1h(keep=all) | 24x1h | 14x1d").is_ok());
        assert!(check_grid("1x1h(keep=all) | 24x1h | 35x1d | 6x30d").is_ok());
        assert!(check_grid("24x1h|1x10m").is_err(), "decreasing lengths");
        assert!(check_grid("1x1h(keep=all)|1x10m(keep=all)|1x1h").is_ok());
        for bad in [
            "",
            "24h",
            "0x1h",
            "24x1hour",
            "1x1h(keep=some)",
            "1x1h(count=2)",
            "24x1h |",
        ] {
            assert!(check_grid(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_and_cron() {
        for ok in ["23.5 MiB", "100KB", "-1 B", "8 bit", "1 Gb"] {
            assert!(check_datasize(ok).is_ok(), "{ok}");
        }
        for bad in ["10", "10 MB/s", "lots", "100kB"] {
            assert!(check_datasize(bad).is_err(), "{bad}");
        }
        assert_eq!(check_datasize("2 KiB"), Ok(16_384.0));
        for bad in ["1.5 bit", "10 µB", "10 µ"] {
            assert!(check_datasize(bad).is_err(), "{bad}");
        }
        assert!(check_cron("*/15 * * * *").is_ok());
        assert!(check_cron("0 */15 * * * *").is_ok());
        assert!(check_cron("@daily").is_err());
        assert!(check_cron("* * *").is_err());
    }
}
