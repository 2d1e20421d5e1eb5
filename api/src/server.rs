//! Turns a [`Config`] into a running service.

use std::{sync::Arc, time::Duration};

use anyhow::Context;

use crate::{
    aws,
    config::{Config, LogFormat, ProviderKind, StoreKind},
    domain::{
        Invocations, InvokeSettings, KeyStore, Keys, ModelProvider, PricingTable, Role, Services, StartupAdminKey,
        Tracker, UserStore,
    },
    http,
    model::{BedrockProvider, BedrockSettings, EchoProvider},
    store::{DynamoDbStore, EmbeddedStore, sdk_config_loader},
};

/// How often holds left by crashed processes are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Builds every domain service from the configuration: the store, the model provider, keys.
pub async fn services(config: &Config) -> anyhow::Result<Services> {
    let (users, keys) = stores(config).await?;
    let provider = provider(config).await?;
    let settings = InvokeSettings {
        default_model: config.model_id.clone(),
        default_max_output_tokens: config.max_output_tokens,
        hold_ttl: Duration::from_secs(config.hold_ttl_secs),
    };
    tracing::info!(provider = provider.name(), model = %config.model_id, "model provider ready");
    Ok(Services::new(users, keys, provider, settings))
}

async fn provider(config: &Config) -> anyhow::Result<Arc<dyn ModelProvider>> {
    if PricingTable.for_model(&config.model_id).is_none() {
        let known = PricingTable::model_ids().collect::<Vec<_>>().join(", ");
        anyhow::bail!(
            "TOKENMETER_MODEL_ID {} has no price; use one of {known} (or a us./eu./global. profile of one)",
            config.model_id
        );
    }
    Ok(match config.model_provider() {
        ProviderKind::Echo => Arc::new(EchoProvider),
        ProviderKind::Bedrock => {
            let settings =
                BedrockSettings { timeout: Duration::from_secs(config.model_timeout_secs), ..Default::default() };
            Arc::new(BedrockProvider::new(&aws::sdk_config().await, &settings))
        }
    })
}

/// Opens the configured store and builds the user and key services on it.
pub async fn tracker(config: &Config) -> anyhow::Result<Tracker> {
    let (users, keys) = stores(config).await?;
    Ok(Tracker::new(users, keys))
}

/// Opens the configured store, which keeps both users and API keys, and the key service on it
/// (with the start-up admin key, if one is configured).
async fn stores(config: &Config) -> anyhow::Result<(Arc<dyn UserStore>, Keys)> {
    let admin = config.admin_key.as_deref().map(StartupAdminKey::new).transpose().map_err(anyhow::Error::msg)?;
    let (users, keys): (Arc<dyn UserStore>, Arc<dyn KeyStore>) = match config.store {
        StoreKind::Embedded => {
            let path = config.embedded_db_path();
            let store = Arc::new(EmbeddedStore::open(&path).with_context(|| format!("opening {}", path.display()))?);
            tracing::info!(path = %path.display(), "embedded store opened");
            (store.clone(), store)
        }
        StoreKind::DynamoDb => {
            let sdk = sdk_config_loader(Duration::from_millis(config.store_timeout_ms)).load().await;
            let store = DynamoDbStore::open(aws_sdk_dynamodb::Config::from(&sdk), &config.table)
                .await
                .with_context(|| format!("opening the DynamoDB table '{}'", config.table))?;
            tracing::info!(table = %config.table, "DynamoDB store opened");
            let store = Arc::new(store);
            (store.clone(), store)
        }
    };
    Ok((users, Keys::new(keys, admin)))
}

/// Serves HTTP on `config.listen` until the process is stopped, or runs as an AWS Lambda
/// function when started by the Lambda runtime.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let services = services(&config).await?;
    let on_lambda = config.lambda_runtime_api.is_some();
    if config.admin_key.is_none() && !on_lambda {
        ensure_admin_key(services.tracker.keys()).await?;
    }
    sweep_expired_holds(services.invocations.clone());
    let app = http::endpoint(services, &config.cors_origins, http::WebApp::new(&config.web_dir));
    if on_lambda {
        return http::run_on_lambda(app, config.lambda_response).await;
    }
    let (acceptor, _) = http::bind(config.listen).await?;
    http::serve(acceptor, app).await
}

/// The OpenAPI document. It depends on neither store nor model: throwaway ones satisfy the types.
pub fn openapi_json() -> anyhow::Result<String> {
    let dir = tempfile_dir()?;
    let store = Arc::new(EmbeddedStore::open(&dir.join("spec.redb"))?);
    let _ = std::fs::remove_dir_all(&dir);
    let settings = InvokeSettings {
        default_model: crate::config::DEFAULT_MODEL_ID.into(),
        default_max_output_tokens: 1,
        hold_ttl: Duration::from_secs(1),
    };
    let services = Services::new(store.clone(), Keys::new(store, None), Arc::new(EchoProvider), settings);
    Ok(http::openapi_json(services))
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tokenmeter-openapi-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Releases holds left by crashed processes, every [`SWEEP_EVERY`], for as long as the service runs.
fn sweep_expired_holds(invocations: Invocations) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            if let Err(err) = invocations.release_expired().await {
                tracing::warn!(error = %err, "could not sweep expired holds; will try again");
            }
        }
    });
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

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,poem=info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
