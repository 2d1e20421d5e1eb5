//! Serving the application on a TCP listener (on AWS Lambda: `lambda.rs`).

use std::net::SocketAddr;

use anyhow::Context;
use poem::{
    Endpoint, Server,
    listener::{Acceptor, Listener, TcpListener},
};

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

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
