//! Serving the application: on a TCP listener, or as an AWS Lambda function.

use std::net::SocketAddr;

use anyhow::Context;
use poem::{
    Endpoint, Server,
    listener::{Acceptor, Listener, TcpListener},
};

/// Limits on connections that keep slow and idle clients from holding the server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// The most connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: std::time::Duration,
    /// How long an idle keep-alive connection stays open.
    pub idle_timeout: std::time::Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(75),
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and returns the acceptor and its address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(impl Acceptor + 'static, SocketAddr)> {
    let acceptor = TcpListener::bind(addr).into_acceptor().await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    Ok((acceptor, local))
}

/// Serves `app` on an already-bound acceptor until Ctrl-C (tests bind port 0 and read the
/// address first).
pub async fn serve(acceptor: impl Acceptor + 'static, app: impl Endpoint + 'static) -> anyhow::Result<()> {
    if let Some(addr) = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()) {
        tracing::info!(url = %format!("http://{addr}"), docs = %format!("http://{addr}/docs"), "serving");
    }
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, shutdown_signal(), None)
        .await
        .context("server failed")
}

/// Answers the events the Lambda runtime hands this process, until it is stopped.
pub async fn run_on_lambda(app: impl Endpoint + 'static) -> anyhow::Result<()> {
    tracing::info!("running on AWS Lambda");
    poem_lambda::run(app).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
