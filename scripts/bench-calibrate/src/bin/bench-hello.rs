//! bench-hello ADDR: answer every request with the same 4 KiB body from
//! memory, over hyper 1 on a multi-threaded tokio runtime with hyper-util's
//! HTTP/1 + HTTP/2 builder (what putfs serves with). No file system, no
//! routing, no headers beyond hyper's own: the ceiling the framework allows
//! on this machine. Prints `bench-hello listening on http://ADDR` when ready.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

static BODY: [u8; 4096] = [b'x'; 4096];

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bench-hello listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(&BODY))))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
