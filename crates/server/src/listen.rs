//! The listening socket: the one a service manager passes, or a new one
//! bound to `--listen`.
//!
//! It is taken before anything else happens, so a server that cannot
//! listen (a port in use, a typo) creates no data root and takes no lock.
//!
//! `--listen` is `HOST:PORT`. A host name is resolved, and putfs listens on
//! the first of its addresses that binds, IPv4 ones first: one socket, one
//! port (port 0 picks a free one), so the one address it announces is the
//! whole truth (`localhost:0` is 127.0.0.1 on a free port, as Go's
//! `net.Listen` does). To serve IPv4 and IPv6 at once, name `[::]:PORT`,
//! which takes both where the system maps IPv4 into IPv6 sockets.

use std::io::ErrorKind;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A bound listener, and whether a service manager passed it.
pub struct Listener {
    pub listener: TcpListener,
    pub inherited: bool,
}

/// The socket a service manager passed (systemd socket activation:
/// `LISTEN_FDS`/`LISTEN_PID`, fd 3), which outlives this process, so the
/// next one (a restart, or a replica's promotion to primary) takes over
/// the same queue of connections; else a new one bound to `listen`.
pub async fn listen(listen: &str) -> Result<Listener, String> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() > 0 {
        let std_listener = fds
            .take_tcp_listener(0)
            .map_err(|e| format!("the socket passed in LISTEN_FDS is not usable: {e}"))?
            .ok_or("LISTEN_FDS passes no TCP listening socket as its first descriptor")?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| format!("the socket passed in LISTEN_FDS: {e}"))?;
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| format!("the socket passed in LISTEN_FDS: {e}"))?;
        return Ok(Listener {
            listener,
            inherited: true,
        });
    }
    Ok(Listener {
        listener: bind(listen, "--listen").await?,
        inherited: false,
    })
}

/// A new socket bound to the first address `listen` resolves to that
/// binds; `flag` names the option in errors.
pub async fn bind(listen: &str, flag: &str) -> Result<TcpListener, String> {
    let mut failures = Vec::new();
    for addr in resolve(listen, flag).await? {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => failures.push((addr, e)),
        }
    }
    let why = failures
        .iter()
        .map(|(addr, e)| {
            if addr.to_string() == listen {
                bind_error(e)
            } else {
                format!("{addr}: {}", bind_error(e))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!("cannot listen on {listen}: {why}"))
}

/// The addresses `listen` names, IPv4 ones first.
async fn resolve(listen: &str, flag: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs = tokio::net::lookup_host(listen).await.map_err(|e| {
        if e.kind() == ErrorKind::InvalidInput {
            format!(
                "{flag} {listen}: expected HOST:PORT with a numeric port, e.g. \
                 127.0.0.1:8000, [::1]:8000 or localhost:8000 (port 0 picks a free one)"
            )
        } else {
            format!("{flag} {listen}: cannot resolve the host name: {e}")
        }
    })?;
    let mut addrs: Vec<SocketAddr> = addrs.collect();
    addrs.sort_by_key(SocketAddr::is_ipv6);
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{flag} {listen}: the host name has no address"));
    }
    Ok(addrs)
}

/// Why a bind failed, for the person at the terminal.
fn bind_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::AddrInUse => "the address is already in use: another process listens \
                                 there (stop it, or choose another --listen)"
            .into(),
        ErrorKind::AddrNotAvailable => {
            "it is not an address of this machine (use 127.0.0.1 for this machine only, \
             0.0.0.0 for every interface)"
                .into()
        }
        ErrorKind::PermissionDenied => "permission denied: ports below 1024 need root or \
                                        CAP_NET_BIND_SERVICE"
            .into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv4_comes_first_and_literals_stay_as_they_are() {
        let a = resolve("[::1]:0", "--listen").await.unwrap();
        assert_eq!(a, ["[::1]:0".parse::<SocketAddr>().unwrap()]);
        let a = resolve("localhost:0", "--listen").await.unwrap();
        assert!(a[0].is_ipv4() && a[0].ip().is_loopback(), "{a:?}");
    }

    #[tokio::test]
    async fn malformed_values_say_what_is_expected() {
        for v in ["localhost", "localhost:http", "127.0.0.1:65536", ":"] {
            let e = resolve(v, "--listen").await.unwrap_err();
            assert!(e.contains(v) && e.contains("HOST:PORT"), "{v}: {e}");
        }
    }
}
