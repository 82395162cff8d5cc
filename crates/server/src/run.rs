//! Running the server: bind (or take the socket systemd passes), open the
//! store, announce, serve, shut down cleanly.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::ServeConfig;
use crate::http::{self, App, AppState, ForwardGate, Forwarder, Limiter, ReadCache};
use crate::limits;
use crate::listen::Listener;
use crate::metrics::Metrics;
use crate::replication::position::Positions;
use crate::replication::replica::Replica;
use crate::replication::{self, writer};
use crate::store::Store;
use crate::store::heartbeat::Heartbeat;

/// How long blocking work (an upload being aborted, say) may take to wind
/// down once the server has stopped.
const RUNTIME_DRAIN: Duration = Duration::from_secs(10);

/// Run the server until SIGTERM/SIGINT. Returns a message on failure.
pub fn run(cfg: ServeConfig) -> Result<(), String> {
    // Flushes the log when dropped, after the runtime has stopped.
    let _log = crate::logging::init(&cfg.log)?;
    let open_files = limits::raise_open_files();
    let max_depth = cfg.store.limits.max_depth;
    let budget = limits::FdBudget::new(&cfg.limits, max_depth);
    budget.fits(&cfg.limits, max_depth, open_files)?;
    tracing::debug!(
        open_files,
        needed = budget.total(),
        "open-file limit covers the configured limits"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(cfg.limits.blocking_threads)
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let result = runtime.block_on(serve(cfg));
    // Tasks still running (uploads cut off by the shutdown deadline) are
    // dropped here; their blocking halves remove their temp files.
    runtime.shutdown_timeout(RUNTIME_DRAIN);
    result
}

async fn serve(cfg: ServeConfig) -> Result<(), String> {
    // First: a server that cannot listen must not create or lock its root.
    let Listener {
        listener,
        inherited,
    } = crate::listen::listen(&cfg.listen).await?;
    let metrics = Arc::new(Metrics::new());
    metrics.read_only.set(i64::from(cfg.store.read_only));
    let root = cfg.store.root.clone();
    // A writable store holds the root's writer lock from here until exit.
    let store = Store::open(cfg.store.clone(), metrics.store.clone()).map_err(|e| e.to_string())?;
    let store = Arc::new(store);
    if !store.read_only() {
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            let n = s.remove_orphan_temps();
            if n > 0 {
                tracing::info!(
                    removed = n,
                    "removed temp files orphaned by an earlier crash"
                );
            }
        });
    }
    let forward = match &cfg.http.forward_writes_to {
        Some(url) => Some(Forwarder::new(
            url,
            cfg.http.forward_secret.clone(),
            cfg.http.max_forward_spool_bytes,
        )?),
        None => None,
    };
    announce_forwarding(&cfg);
    let forward_gate = Arc::new(ForwardGate::new(cfg.http.forward_secret.clone(), &metrics));
    let mut ready_checks: Vec<http::ReadyCheck> = Vec::new();
    let (replica, positions) = start_replication(&cfg, &store, &metrics);
    if let Some(r) = &replica {
        let r = r.clone();
        ready_checks.push(Arc::new(move || r.check_ready()));
    }
    let limiter = Arc::new(Limiter::new(
        cfg.limits.max_requests,
        cfg.limits.max_uploads,
        metrics.clone(),
    ));
    let app = App::new(AppState {
        store,
        cfg: cfg.http.clone(),
        metrics: metrics.clone(),
        forward,
        forward_gate,
        ready_checks,
        replica,
        positions,
        limiter,
        read_cache: ReadCache::new(cfg.http.read_cache_bytes, metrics.read_cache_hits.clone()),
    });

    // The S3 listener: bound, and its keys read, before anything is served.
    let s3_listener = match &cfg.s3 {
        Some(s3cfg) => {
            let router = crate::s3::router(app.clone(), s3cfg)?;
            let l = crate::listen::bind(&s3cfg.listen, "--s3-listen").await?;
            Some((l, router))
        }
        None => None,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| format!("reading the bound address: {e}"))?;
    metrics.listener_inherited.set(i64::from(inherited));
    if inherited {
        tracing::info!(
            %addr,
            "serving on the listening socket the service manager passed (LISTEN_FDS): \
             connections wait in its queue across restarts and promotions, none is refused; \
             --listen is not used"
        );
    }
    // Handlers first: a SIGTERM that follows the announcement at once must
    // drain, not kill with the default action.
    let stop = CancellationToken::new();
    let signals = signals(stop.clone())?;
    tokio::spawn(signals);
    tracing::info!(%addr, root = %root.display(), read_only = cfg.store.read_only, "serving");
    // The one line tests and scripts wait for. A stdout that has gone
    // (`putfs serve | head -1`) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "putfs listening on http://{addr}").and_then(|()| out.flush());
    drop(out);

    let s3 = match s3_listener {
        Some((listener, router)) => {
            let addr = listener
                .local_addr()
                .map_err(|e| format!("reading the S3 listener's address: {e}"))?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "putfs s3 listening on http://{addr}").and_then(|()| out.flush());
            drop(out);
            let (limits, metrics, stop) = (cfg.limits.clone(), metrics.clone(), stop.clone());
            Some(tokio::spawn(async move {
                http::serve::serve(listener, router, &limits, metrics, stop).await;
            }))
        }
        None => None,
    };
    let server = http::serve::serve(
        listener,
        http::router(app),
        &cfg.limits,
        metrics,
        stop.clone(),
    );
    let server = async {
        server.await;
        if let Some(s3) = s3 {
            let _ = s3.await;
        }
    };
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(cfg.shutdown_timeout).await;
    };
    tokio::select! {
        _ = server => {}
        _ = deadline => tracing::warn!(
            timeout = ?cfg.shutdown_timeout,
            "requests still in flight at the shutdown deadline; aborting them"
        ),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Say at start how writes between nodes are authenticated: a replica
/// forwarding without a secret is the case to notice.
fn announce_forwarding(cfg: &ServeConfig) {
    let secret = cfg.http.forward_secret.as_ref().map(|s| s.path().display());
    match (&cfg.http.forward_writes_to, secret, cfg.store.read_only) {
        (Some(to), None, _) => tracing::warn!(
            %to,
            "writes forwarded to the primary are unauthenticated between nodes: \
             anyone who reaches this replica writes as it does; give this node and \
             the primary the same --forward-secret-file"
        ),
        (Some(to), Some(path), _) => tracing::info!(
            %to,
            secret = %path,
            "forwarded writes are signed"
        ),
        (None, Some(path), false) => tracing::info!(
            secret = %path,
            "signed forwarded writes are verified; unsigned writes are clients' own"
        ),
        _ => {}
    }
}

/// The primary hands out write positions and writes heartbeats; a
/// read-only node follows the replicated heartbeat.
fn start_replication(
    cfg: &ServeConfig,
    store: &Arc<Store>,
    metrics: &Metrics,
) -> (Option<Arc<Replica>>, Option<Arc<Positions>>) {
    let rc = &cfg.replication;
    if store.read_only() {
        let r = Replica::new(store.clone(), metrics, rc.max_lag);
        replication::watch::spawn(r.clone(), cfg.store.root.clone(), rc.poll);
        if let Some(url) = &rc.primary_url
            && let Err(e) = replication::primary::spawn(r.clone(), url, rc.primary_poll)
        {
            tracing::warn!(error = %e, "lag in writes will be unknown");
        }
        return (Some(r), None);
    }
    let (floor, writes) = last_heartbeat(store).map_or((0, 0), |h| (h.position, h.writes));
    let positions = Arc::new(Positions::new(floor, writes, metrics));
    if rc.max_lag.is_some() {
        // One environment file may serve both roles (promotion = starting
        // the primary unit with it), so this is not an error.
        tracing::info!("--max-lag is ignored on a writable node");
    }
    if let Some(interval) = rc.heartbeat_interval {
        let node = rc.node_name.clone().unwrap_or_else(writer::hostname);
        writer::spawn(store.clone(), positions.clone(), metrics, interval, node);
    }
    (None, Some(positions))
}

/// The heartbeat under the root (this primary's last, or the one a
/// promoted replica received): positions begin above its position, the
/// write count at its count.
fn last_heartbeat(store: &Store) -> Option<Heartbeat> {
    match replication::read_heartbeat(store) {
        Ok(hb) => hb,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "cannot read the heartbeat; positions start from the clock, the write count from 0"
            );
            None
        }
    }
}

/// Install the SIGTERM/SIGINT handlers now; the future cancels `stop` on
/// the first of them.
fn signals(
    stop: CancellationToken,
) -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let installed =
        |kind, name| signal(kind).map_err(|e| format!("installing the {name} handler: {e}"));
    let mut term = installed(SignalKind::terminate(), "SIGTERM")?;
    let mut int = installed(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        // Stop first: nothing, not even logging, comes between a signal
        // and the shutdown.
        stop.cancel();
        tracing::info!("{which}: finishing in-flight requests");
    })
}
