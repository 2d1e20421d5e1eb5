//! Turns a [`Config`] into a running service.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};

use crate::{
    config::{Config, LogFormat, StoreKind},
    domain::{Tracker, UserStore},
    http,
    store::{DynamoDbStore, EmbeddedStore, sdk_config_loader},
};

/// Opens the configured store and builds the domain service on it.
pub async fn tracker(config: &Config) -> anyhow::Result<Tracker> {
    let store: Arc<dyn UserStore> = match config.store {
        StoreKind::Embedded => {
            let path = config.embedded_db_path();
            let store = EmbeddedStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            tracing::info!(path = %path.display(), "embedded store opened");
            Arc::new(store)
        }
        StoreKind::DynamoDb => {
            let sdk = sdk_config_loader().load().await;
            let store = DynamoDbStore::open(aws_sdk_dynamodb::Config::from(&sdk), &config.table)
                .await
                .with_context(|| format!("opening the DynamoDB table '{}'", config.table))?;
            tracing::info!(table = %config.table, "DynamoDB store opened");
            Arc::new(store)
        }
    };
    Ok(Tracker::new(store))
}

/// Serves HTTP on `config.listen` until the process is stopped, or runs as an AWS Lambda
/// function when started by the Lambda runtime.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let tracker = tracker(&config).await?;
    let app = http::endpoint(tracker);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!("running on AWS Lambda");
        return poem_lambda::run(app).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }
    let acceptor = TcpListener::bind(config.listen)
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    serve(acceptor, app).await
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
