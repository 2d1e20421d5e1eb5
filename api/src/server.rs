//! Turns a [`Config`] into a running service.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};

use crate::{
    config::{Config, LogFormat, StoreKind},
    domain::{KeyStore, Keys, Role, StartupAdminKey, Tracker, UserStore},
    http,
    store::EmbeddedStore,
};

/// Opens the configured store and builds the domain service on it.
pub async fn tracker(config: &Config) -> anyhow::Result<Tracker> {
    let admin = config.admin_key.as_deref().map(StartupAdminKey::new).transpose().map_err(anyhow::Error::msg)?;
    let (users, keys): (Arc<dyn UserStore>, Arc<dyn KeyStore>) = match config.store {
        StoreKind::Embedded => {
            let path = config.embedded_db_path();
            let store = Arc::new(EmbeddedStore::open(&path).with_context(|| format!("opening {}", path.display()))?);
            tracing::info!(path = %path.display(), "embedded store opened");
            (store.clone(), store)
        }
    };
    Ok(Tracker::new(users, Keys::new(keys, admin)))
}

/// Serves HTTP on `config.listen` until the process is stopped, or runs as an AWS Lambda
/// function when started by the Lambda runtime.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let tracker = tracker(&config).await?;
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if config.admin_key.is_none() && !on_lambda {
        ensure_admin_key(tracker.keys()).await?;
    }
    let app = http::endpoint(tracker, &config.cors_origins, http::WebApp::new(&config.web_dir));
    if on_lambda {
        tracing::info!("running on AWS Lambda");
        return poem_lambda::run(app).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }
    let acceptor = TcpListener::bind(config.listen)
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve(acceptor, app).await
}

/// On a local run without `TOKENMETER_ADMIN_KEY`: generates the first admin key and prints
/// it once. Later runs find it stored (hashed) and say how to get a new one.
async fn ensure_admin_key(keys: &Keys) -> anyhow::Result<()> {
    if keys.has_admin_key().await? {
        tracing::info!(
            "admin key: using the one generated on first start (lost it? stop the service and run `tokenmeter admin-key`)"
        );
        return Ok(());
    }
    let issued = keys.issue_unchecked(Role::Admin, Some("generated at first start".into())).await?;
    tracing::warn!(
        admin_key = %issued.token,
        "generated an admin API key; it is shown only this once. Sign in with it, or send it as `Authorization: Bearer <key>`"
    );
    Ok(())
}

/// Issues a new admin key on the configured store and returns its text.
pub async fn issue_admin_key(config: &Config) -> anyhow::Result<String> {
    let tracker = tracker(config).await?;
    let issued = tracker.keys().issue_unchecked(Role::Admin, Some("issued by `tokenmeter admin-key`".into())).await?;
    Ok(issued.token)
}

/// Serves `app` on an already-bound acceptor (tests bind port 0 and read the address first).
pub async fn serve(acceptor: impl Acceptor + 'static, app: impl poem::Endpoint + 'static) -> anyhow::Result<()> {
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

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,poem=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Binds `addr` (port 0 picks a free port) and returns the acceptor and its address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(impl Acceptor + 'static, SocketAddr)> {
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("listener has no socket address")?;
    Ok((acceptor, local))
}
