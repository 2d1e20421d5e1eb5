//! Serving the application over HTTP/1.1 on a TCP listener, with the limits that keep slow,
//! idle and too many clients from holding the server, and a drain when it is told to stop.
//! (On AWS Lambda the runtime delivers requests instead: see `lambda.rs`.)
//!
//! poem's own server has no header-read timeout and no connection cap, so connections are
//! served here with hyper directly and handed to the poem endpoint one request at a time.

mod connection;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{Endpoint, EndpointExt};
use tokio::{
    net::{TcpListener, TcpSocket},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

/// Connections the kernel may hold established before the server accepts them.
const LISTEN_BACKLOG: u32 = 4_096;

/// Limits on connections that keep slow and idle clients from holding the server. The
/// defaults are far from anything a browser, an SDK or an open event stream reaches.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// The most connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, from its first byte (or from
    /// connecting, for the first request).
    pub header_timeout: Duration,
    /// How long a keep-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// How long requests in flight may take to finish once the server is told to stop.
    pub drain_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(25),
        }
    }
}

/// How long a request's body may take to arrive, for the extractors that read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub(crate) Duration);

/// A bound listener, ready to serve.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    limits: ServerLimits,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port; tests read it with [`HttpServer::local_addr`]).
    pub async fn bind(addr: SocketAddr, limits: ServerLimits) -> anyhow::Result<Self> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
            .context("cannot create a listening socket")?;
        // As `TcpListener::bind` does, with room in the backlog for a burst of connections
        // (tokio's default is 1,024; the kernel caps it at `net.core.somaxconn`).
        socket.set_reuseaddr(true).context("cannot set SO_REUSEADDR")?;
        socket.bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let listener = socket.listen(LISTEN_BACKLOG).with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr().context("the listener has no address")?;
        Ok(Self { listener, addr, limits })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` until `stopping` is cancelled, then drains: stops accepting, closes idle
    /// connections, lets requests in flight finish within the drain timeout, and returns.
    pub async fn serve(self, app: impl Endpoint + 'static, stopping: CancellationToken) -> anyhow::Result<()> {
        let Self { listener, addr, limits } = self;
        tracing::info!(url = %format!("http://{addr}"), docs = %format!("http://{addr}/docs"), "serving");
        let app: connection::App = Arc::new(app.data(BodyTimeout(limits.body_timeout)).map_to_response().boxed());
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let mut connections = JoinSet::new();
        loop {
            let permit = tokio::select! {
                () = stopping.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit.context("the connection permits closed")?,
            };
            let accepted = tokio::select! {
                () = stopping.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            // Reap finished connections so the set holds only open ones.
            while connections.try_join_next().is_some() {}
            match accepted {
                Ok((socket, remote)) => {
                    let conn = connection::Connection { app: app.clone(), local: addr, remote, limits };
                    let stopping = stopping.clone();
                    connections.spawn(async move {
                        conn.serve(socket, stopping).await;
                        drop(permit);
                    });
                }
                Err(err) => {
                    // Out of file descriptors, most likely: wait for some to close rather than spin.
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(listener);
        drain(connections, limits.drain_timeout).await;
        Ok(())
    }
}

/// Waits for open connections to finish their requests, up to `timeout`, then cuts the rest.
async fn drain(mut connections: JoinSet<()>, timeout: Duration) {
    let open = connections.len();
    if open == 0 {
        return;
    }
    tracing::info!(open, ?timeout, "stopping: letting requests in flight finish");
    let drained = tokio::time::timeout(timeout, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(cut = connections.len(), "stopping: the drain timed out; cutting the connections left");
        connections.abort_all();
    }
}

/// Cancels `stopping` on SIGTERM (what Lambda, ECS and Kubernetes send) or Ctrl-C.
pub fn stop_on_signals(stopping: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
            () = terminate => tracing::info!("SIGTERM: stopping"),
        }
        stopping.cancel();
    });
}
