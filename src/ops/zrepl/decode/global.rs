//! The `global` section: logging, monitoring, control socket, stdinserver.

use serde_yaml_ng::Value;

use super::{Decoder, Fields, kind, one_of};
use crate::ops::zrepl::model::*;

const LEVELS: &[&str] = &["debug", "info", "warn", "error"];
const FORMATS: &[&str] = &["human", "logfmt", "json"];

pub(crate) fn decode_global(d: &mut Decoder, v: &Value, path: &str) -> Option<Global> {
    if v.is_null() {
        return None;
    }
    let f = d.object(
        v,
        path,
        "global",
        &["logging", "monitoring", "control", "serve"],
    )?;
    let logging = f
        .get("logging")
        .map(|v| list(d, v, &f.at("logging"), "logging", outlet));
    let monitoring = f
        .get("monitoring")
        .map(|v| list(d, v, &f.at("monitoring"), "monitoring", monitor));
    let control = f.get("control").and_then(|v| {
        let c = d.object(v, &f.at("control"), "control", &["sockpath"])?;
        Some(Control {
            sockpath: d.opt_str(&c, "sockpath"),
        })
    });
    let serve = f.get("serve").and_then(|v| {
        let s = d.object(v, &f.at("serve"), "global serve", &["stdinserver"])?;
        let stdinserver = s.get("stdinserver").and_then(|v| {
            let i = d.object(v, &s.at("stdinserver"), "stdinserver", &["sockdir"])?;
            Some(GlobalStdinserver {
                sockdir: d.opt_str(&i, "sockdir"),
            })
        });
        Some(GlobalServe { stdinserver })
    });
    Some(Global {
        logging,
        monitoring,
        control,
        serve,
    })
}

fn list<T>(
    d: &mut Decoder,
    v: &Value,
    path: &str,
    what: &str,
    item: fn(&mut Decoder, &Value, &str) -> Option<T>,
) -> Vec<T> {
    let Value::Sequence(items) = v else {
        d.error(path, format!("{what} must be a list, found {}", kind(v)));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| item(d, v, &format!("{path}[{i}]")))
        .collect()
}

fn monitor(d: &mut Decoder, v: &Value, path: &str) -> Option<Monitoring> {
    d.type_tag(v, path, "monitoring", &["prometheus"])?;
    let f = d.object(
        v,
        path,
        "prometheus monitoring",
        &["type", "listen", "listen_freebind"],
    )?;
    Some(Monitoring::Prometheus(PrometheusMonitoring {
        listen: d.hostport(&f, "listen", false),
        listen_freebind: d.opt_bool(&f, "listen_freebind"),
    }))
}

fn outlet(d: &mut Decoder, v: &Value, path: &str) -> Option<LoggingOutlet> {
    let t = d.type_tag(v, path, "logging outlet", &["stdout", "syslog", "tcp"])?;
    Some(match t.as_str() {
        "stdout" => {
            let f = d.object(
                v,
                path,
                "stdout outlet",
                &["type", "level", "format", "time", "color"],
            )?;
            let (level, format) = common(d, &f);
            LoggingOutlet::Stdout(StdoutOutlet {
                level,
                format,
                time: d.opt_bool(&f, "time"),
                color: d.opt_bool(&f, "color"),
            })
        }
        "syslog" => {
            let allowed = &["type", "level", "format", "facility", "retry_interval"];
            let f = d.object(v, path, "syslog outlet", allowed)?;
            let (level, format) = common(d, &f);
            let facility = d.opt_str(&f, "facility");
            let facilities = &[
                "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5",
                "local6", "local7",
            ];
            one_of(d, &f, "facility", facility.as_deref(), facilities);
            LoggingOutlet::Syslog(SyslogOutlet {
                level,
                format,
                facility,
                retry_interval: d.opt_go_duration(&f, "retry_interval", 1),
            })
        }
        _ => {
            let allowed = &[
                "type",
                "level",
                "format",
                "address",
                "net",
                "retry_interval",
                "tls",
            ];
            let f = d.object(v, path, "tcp outlet", allowed)?;
            let (level, format) = common(d, &f);
            let tls = f.get("tls").and_then(|v| {
                let t = d.object(v, &f.at("tls"), "tcp outlet tls", &["ca", "cert", "key"])?;
                Some(TcpOutletTls {
                    ca: d.req_str(&t, "ca"),
                    cert: d.req_str(&t, "cert"),
                    key: d.req_str(&t, "key"),
                })
            });
            LoggingOutlet::Tcp(TcpOutlet {
                level,
                format,
                address: d.hostport(&f, "address", true),
                net: d.opt_str(&f, "net"),
                retry_interval: d.opt_go_duration(&f, "retry_interval", 1),
                tls,
            })
        }
    })
}

fn common(d: &mut Decoder, f: &Fields<'_>) -> (String, String) {
    let level = d.req_str(f, "level");
    one_of(d, f, "level", Some(&level), LEVELS);
    let format = d.req_str(f, "format");
    one_of(d, f, "format", Some(&format), FORMATS);
    (level, format)
}
