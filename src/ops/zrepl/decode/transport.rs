//! `connect` (active side) and `serve` (passive side) blocks.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::{Decoder, Fields, kind};
use crate::ops::zrepl::model::{
    Connect, LocalConnect, LocalServe, Serve, SshConnect, StdinserverServe, TcpConnect, TcpServe,
    TlsConnect, TlsServe,
};
use crate::ops::zrepl::{names, syntax};

pub(crate) fn decode_connect(d: &mut Decoder, v: &Value, path: &str) -> Option<Connect> {
    let t = d.type_tag(
        v,
        path,
        "connect",
        &["tcp", "tls", "ssh+stdinserver", "local"],
    )?;
    Some(match t.as_str() {
        "tcp" => {
            let f = d.object(v, path, "tcp connect", &["type", "address", "dial_timeout"])?;
            Connect::Tcp(TcpConnect {
                address: d.hostport(&f, "address", true),
                dial_timeout: d.opt_go_duration(&f, "dial_timeout", 0),
            })
        }
        "tls" => {
            let allowed = &[
                "type",
                "address",
                "ca",
                "cert",
                "key",
                "server_cn",
                "dial_timeout",
            ];
            let f = d.object(v, path, "tls connect", allowed)?;
            Connect::Tls(TlsConnect {
                address: d.hostport(&f, "address", true),
                ca: d.req_str(&f, "ca"),
                cert: d.req_str(&f, "cert"),
                key: d.req_str(&f, "key"),
                server_cn: d.req_str(&f, "server_cn"),
                dial_timeout: d.opt_go_duration(&f, "dial_timeout", 0),
            })
        }
        "ssh+stdinserver" => Connect::SshStdinserver(ssh(d, v, path)?),
        _ => {
            let allowed = &["type", "listener_name", "client_identity", "dial_timeout"];
            let f = d.object(v, path, "local connect", allowed)?;
            let client_identity = d.req_str(&f, "client_identity");
            identity(d, &f.at("client_identity"), &client_identity);
            Connect::Local(LocalConnect {
                listener_name: d.req_str(&f, "listener_name"),
                client_identity,
                dial_timeout: d.opt_go_duration(&f, "dial_timeout", 0),
            })
        }
    })
}

fn ssh(d: &mut Decoder, v: &Value, path: &str) -> Option<SshConnect> {
    let allowed = &[
        "type",
        "host",
        "user",
        "port",
        "identity_file",
        "transport_open_command",
        "ssh_command",
        "options",
        "dial_timeout",
    ];
    let f = d.object(v, path, "ssh+stdinserver connect", allowed)?;
    let port = match f.get("port") {
        None => {
            d.error(&f.at("port"), "missing required field port");
            0
        }
        Some(p) => match p.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(n) if n > 0 => n,
            _ => {
                d.error(&f.at("port"), "port must be a number from 1 to 65535");
                0
            }
        },
    };
    Some(SshConnect {
        host: d.req_str(&f, "host"),
        user: d.req_str(&f, "user"),
        port,
        identity_file: d.req_str(&f, "identity_file"),
        transport_open_command: f
            .get("transport_open_command")
            .map(|v| d.str_list(v, &f.at("transport_open_command"), "transport_open_command")),
        ssh_command: d.opt_str(&f, "ssh_command"),
        options: f
            .get("options")
            .map(|v| d.str_list(v, &f.at("options"), "options")),
        dial_timeout: d.opt_go_duration(&f, "dial_timeout", 0),
    })
}

pub(crate) fn decode_serve(d: &mut Decoder, v: &Value, path: &str) -> Option<Serve> {
    let t = d.type_tag(v, path, "serve", &["tcp", "tls", "stdinserver", "local"])?;
    Some(match t.as_str() {
        "tcp" => {
            let f = d.object(
                v,
                path,
                "tcp serve",
                &["type", "listen", "listen_freebind", "clients"],
            )?;
            Serve::Tcp(TcpServe {
                listen: d.hostport(&f, "listen", false),
                listen_freebind: d.opt_bool(&f, "listen_freebind"),
                clients: clients(d, &f),
            })
        }
        "tls" => {
            let allowed = &[
                "type",
                "listen",
                "listen_freebind",
                "ca",
                "cert",
                "key",
                "client_cns",
                "handshake_timeout",
            ];
            let f = d.object(v, path, "tls serve", allowed)?;
            Serve::Tls(TlsServe {
                listen: d.hostport(&f, "listen", false),
                listen_freebind: d.opt_bool(&f, "listen_freebind"),
                ca: d.req_str(&f, "ca"),
                cert: d.req_str(&f, "cert"),
                key: d.req_str(&f, "key"),
                client_cns: identities(d, &f, "client_cns"),
                handshake_timeout: d.opt_go_duration(&f, "handshake_timeout", 0),
            })
        }
        "stdinserver" => {
            let f = d.object(v, path, "stdinserver serve", &["type", "client_identities"])?;
            Serve::Stdinserver(StdinserverServe {
                client_identities: identities(d, &f, "client_identities"),
            })
        }
        _ => {
            let f = d.object(v, path, "local serve", &["type", "listener_name"])?;
            Serve::Local(LocalServe {
                listener_name: d.req_str(&f, "listener_name"),
            })
        }
    })
}

/// tcp `clients`: IP or CIDR → identity. The identity names the dataset
/// under `root_fs` that this client's data lands in.
fn clients(d: &mut Decoder, f: &Fields<'_>) -> BTreeMap<String, String> {
    let path = f.at("clients");
    let mut out = BTreeMap::new();
    let Some(v) = f.get("clients") else {
        d.error(
            &path,
            "missing required field clients (client IP or CIDR → identity)",
        );
        return out;
    };
    let Value::Mapping(m) = v else {
        d.error(
            &path,
            format!(
                "clients must be a mapping of IP or CIDR to identity, found {}",
                kind(v)
            ),
        );
        return out;
    };
    if m.is_empty() {
        d.error(&path, "clients must not be empty: no client could connect");
    }
    for (k, id) in m {
        let Some(addr) = k.as_str() else {
            d.error(&path, format!("clients has a non-text key {}", kind(k)));
            continue;
        };
        let epath = format!("{path}[{addr:?}]");
        let id = d.nonempty_str(id, &epath, "client identity");
        if !id.is_empty()
            && let Err(e) = syntax::check_client_entry(addr, &id)
        {
            d.error(&epath, e);
        }
        out.insert(addr.to_string(), id);
    }
    out
}

fn identities(d: &mut Decoder, f: &Fields<'_>, key: &str) -> Vec<String> {
    let Some(v) = f.get(key) else {
        d.error(&f.at(key), format!("missing required field {key}"));
        return Vec::new();
    };
    let list = d.str_list(v, &f.at(key), key);
    for (i, id) in list.iter().enumerate() {
        identity(d, &format!("{}[{i}]", f.at(key)), id);
    }
    list
}

fn identity(d: &mut Decoder, path: &str, id: &str) {
    if !id.is_empty()
        && let Err(e) = names::check_identity(id)
    {
        d.error(path, e);
    }
}
