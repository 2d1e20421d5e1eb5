//! Turns a [`Config`] into a running service: stores, provider, prices, domain services, the
//! background tasks (sweeping expired holds, forgetting expired data, removing idle guests),
//! and HTTP (locally or on AWS Lambda).

use std::{sync::Arc, time::Duration};

use anyhow::Context;

use crate::{
    aws,
    config::{Config, Leases, LogFormat, OnStoreOutage, ProviderKind, StoreKind, Switch},
    domain::{
        AlertTarget, Bootstrap, FailOpen, GuestSettings, InvokeSettings, KeyLabel, LeaseSettings, ModelProvider,
        MonitoringSettings, OutagePolicy, Parts, PriceList, Role, Services, Settings, StartupAdminKey, Stores,
        SystemClock, TierName, quota::default_tiers,
    },
    http,
    model::{BedrockProvider, BedrockSettings, EchoProvider, default_prices},
    notify::{SnsTarget, WebhookTarget},
    store::{EmbeddedStore, FileOutbox},
};

/// How often holds left by crashed processes are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How often the fail-open outbox is replayed (nothing to do when failing closed).
const REPLAY_EVERY: Duration = Duration::from_secs(2);
/// How often expired data (period counters, claims, events) and idle guests are cleaned up.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// The service's settings from its configuration.
pub fn settings(config: &Config) -> anyhow::Result<Settings> {
    let default_tier =
        config.default_tier.as_deref().map(|t| TierName::parse("TOKENMETER_DEFAULT_TIER", t)).transpose()?;
    Ok(Settings {
        invoke: InvokeSettings {
            default_max_output_tokens: config.max_output_tokens,
            hold_ttl: Duration::from_secs(config.hold_ttl_secs),
            call_timeout: Duration::from_secs(config.model_timeout_secs),
            stream_stall_timeout: Duration::from_secs(config.stream_stall_secs),
            admission_wait: Duration::from_millis(config.admission_wait_ms),
            on_store_outage: outage_policy(config)?,
            leases: LeaseSettings {
                enabled: match config.leases {
                    Leases::On => true,
                    Leases::Off => false,
                    Leases::Auto => config.store == StoreKind::DynamoDb,
                },
                min_rate: config.lease_min_rate,
                linger: Duration::from_millis(config.lease_linger_ms),
                ..LeaseSettings::default()
            },
        },
        default_model: config.model_id.clone(),
        default_tier,
        event_retention: Duration::from_secs(config.event_retention_days * 86_400),
        guests: GuestSettings { enabled: config.guests == Switch::On, ..GuestSettings::default() },
        monitoring: MonitoringSettings { metrics_public: config.metrics_public == Switch::On },
    })
}

/// The store-outage policy; failing open opens the outbox.
fn outage_policy(config: &Config) -> anyhow::Result<OutagePolicy> {
    Ok(match config.on_store_outage {
        OnStoreOutage::FailClosed => OutagePolicy::FailClosed,
        OnStoreOutage::FailOpen => {
            let path = config.outbox_path();
            let outbox = FileOutbox::open(&path).with_context(|| format!("opening the outbox {}", path.display()))?;
            OutagePolicy::FailOpen(FailOpen {
                allowance_tokens: config.outage_allowance_tokens,
                outbox: Arc::new(outbox),
            })
        }
    })
}

/// The price list: the file `TOKENMETER_PRICES` names, or the built-in one.
pub fn prices(config: &Config) -> anyhow::Result<PriceList> {
    let Some(path) = &config.prices else { return Ok(default_prices()) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading TOKENMETER_PRICES {}", path.display()))?;
    PriceList::from_json(&text).map_err(|e| anyhow::anyhow!("TOKENMETER_PRICES {}: {e}", path.display()))
}

/// The store the configuration names, serving every port.
pub(crate) enum OpenedStore {
    Embedded(Arc<EmbeddedStore>),
    DynamoDb(Arc<crate::store::DynamoDbStore>),
}

impl OpenedStore {
    pub(crate) fn stores(&self) -> Stores {
        match self {
            OpenedStore::Embedded(store) => Stores::of(store.clone()),
            OpenedStore::DynamoDb(store) => Stores::of(store.clone()),
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<OpenedStore> {
    match config.store {
        StoreKind::Embedded => {
            let path = config.embedded_db_path();
            let store = EmbeddedStore::open(&path).with_context(|| format!("opening {}", path.display()))?;
            tracing::info!(path = %path.display(), "embedded store opened");
            Ok(OpenedStore::Embedded(Arc::new(store)))
        }
        StoreKind::DynamoDb => {
            let sdk = crate::store::sdk_config_loader(Duration::from_millis(config.store_timeout_ms)).load().await;
            let store = crate::store::DynamoDbStore::open(aws_sdk_dynamodb::Config::from(&sdk), &config.table)
                .await
                .with_context(|| format!("opening the DynamoDB table '{}'", config.table))?;
            tracing::info!(table = %config.table, "DynamoDB store opened");
            Ok(OpenedStore::DynamoDb(Arc::new(store)))
        }
    }
}

async fn provider(config: &Config, prices: &PriceList) -> anyhow::Result<Arc<dyn ModelProvider>> {
    if prices.price(&config.model_id).is_none() {
        anyhow::bail!("TOKENMETER_MODEL_ID {} has no price; use one of {}", config.model_id, prices.describe_choices());
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

/// Builds every domain service from the configuration, on `store`.
pub(crate) async fn services(config: &Config, store: &OpenedStore) -> anyhow::Result<Services> {
    let prices = prices(config)?;
    let provider = provider(config, &prices).await?;
    tracing::info!(provider = provider.name(), model = %config.model_id, "model provider ready");
    let startup_admin =
        config.admin_key.as_deref().map(StartupAdminKey::new).transpose().map_err(anyhow::Error::msg)?;
    let stores = store.stores();
    stores.tiers.seed_tiers(&default_tiers()).await.context("creating the default tiers")?;
    let services = Services::new(Parts {
        stores,
        provider,
        prices,
        clock: Arc::new(SystemClock),
        startup_admin,
        settings: settings(config)?,
        alert_targets: alert_targets(config).await?,
    });
    services.alerts.seed().await.context("creating the default alert rules")?;
    Ok(services)
}

/// The targets of alert notifications the configuration names.
async fn alert_targets(config: &Config) -> anyhow::Result<Vec<Arc<dyn AlertTarget>>> {
    let mut targets: Vec<Arc<dyn AlertTarget>> = Vec::new();
    if let Some(url) = &config.alert_webhook_url {
        targets.push(Arc::new(WebhookTarget::new(url)?));
    }
    if let Some(topic) = &config.alert_sns_topic_arn {
        targets.push(Arc::new(SnsTarget::new(&aws::sdk_config().await, topic)));
    }
    Ok(targets)
}

/// Serves HTTP on `config.listen` until the process is stopped, or runs as an AWS Lambda
/// function when started by the Lambda runtime.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let services = services(&config, &store).await?;
    let on_lambda = config.lambda_runtime_api.is_some();
    if config.admin_key.is_none() && !on_lambda {
        ensure_admin_key(&services).await?;
    }
    background_tasks(&services, &store);
    services.alerts.clone().run_every(Duration::from_secs(config.alert_eval_secs));
    let stopping = services.core.stopping().clone();
    let metrics = services.core.metrics().clone();
    let app = http::endpoint(services, &config.cors_origins, http::WebApp::new(&config.web_dir));
    if on_lambda {
        return http::run_on_lambda(app, config.lambda_response, metrics).await;
    }
    let server = http::HttpServer::bind(config.listen, server_limits(&config)).await?;
    http::stop_on_signals(stopping.clone());
    server.serve(app, stopping).await
}

/// The server's connection limits from the configuration, the connection cap lowered to what
/// the process's file descriptors allow (after raising their soft limit as far as it may go).
pub fn server_limits(config: &Config) -> http::ServerLimits {
    let wanted = config.max_connections;
    // Descriptors beside connections: the store, logs, outbound HTTPS to AWS.
    const SPARE: u64 = 64;
    let allowed = match rlimit::increase_nofile_limit(wanted + SPARE) {
        Ok(limit) => limit.saturating_sub(SPARE).max(16),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the file descriptor limit");
            wanted
        }
    };
    if allowed < wanted {
        tracing::warn!(
            wanted,
            allowed,
            "TOKENMETER_MAX_CONNECTIONS is above what the file descriptor limit (ulimit -n) allows; using the lower"
        );
    }
    http::ServerLimits {
        max_connections: usize::try_from(wanted.min(allowed)).unwrap_or(usize::MAX),
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        idle_timeout: Duration::from_secs(config.idle_timeout_secs),
        body_timeout: Duration::from_secs(config.body_timeout_secs),
        drain_timeout: Duration::from_secs(config.drain_secs),
    }
}

/// The OpenAPI document. It depends on neither store nor model: throwaway ones satisfy the types.
pub fn openapi_json() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("tokenmeter-openapi-{}-{}", std::process::id(), rand::random::<u32>()));
    let store = Arc::new(EmbeddedStore::open(&dir.join("spec.redb"))?);
    let _ = std::fs::remove_dir_all(&dir);
    let config_free = Settings {
        invoke: InvokeSettings::default(),
        default_model: crate::config::DEFAULT_MODEL_ID.into(),
        default_tier: None,
        event_retention: Duration::from_secs(86_400),
        guests: GuestSettings::default(),
        monitoring: MonitoringSettings::default(),
    };
    let services = Services::new(Parts {
        stores: Stores::of(store),
        provider: Arc::new(EchoProvider),
        prices: default_prices(),
        clock: Arc::new(SystemClock),
        startup_admin: None,
        settings: config_free,
        alert_targets: Vec::new(),
    });
    Ok(http::openapi_json(services))
}

/// Runs the service's background work for as long as it runs: releasing holds left by
/// crashed processes, and forgetting expired data and idle guests.
fn background_tasks(services: &Services, store: &OpenedStore) {
    let invocations = services.invocations.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            if let Err(err) = invocations.release_expired().await {
                tracing::warn!(error = %err, "could not sweep expired holds; will try again");
            }
        }
    });
    let replaying = services.invocations.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(REPLAY_EVERY);
        loop {
            every.tick().await;
            match replaying.replay_outbox().await {
                Ok(0) => {}
                Ok(replayed) => tracing::info!(replayed, "replayed calls made while the store was unavailable"),
                Err(err) => tracing::debug!(error = %err, "the outbox waits for the store"),
            }
        }
    });
    let guests = services.guests.clone();
    let clock_now = services.core.clone();
    let embedded = match store {
        OpenedStore::Embedded(store) => Some(store.clone()),
        OpenedStore::DynamoDb(_) => None,
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CLEANUP_EVERY);
        loop {
            every.tick().await;
            if let Err(err) = guests.remove_idle(Bootstrap::for_the_service_itself()).await {
                tracing::warn!(error = %err, "could not remove idle guests; will try again");
            }
            // DynamoDB forgets expired items by itself (TTL); the embedded store is swept.
            if let Some(store) = &embedded
                && let Err(err) = store.sweep(clock_now.now()).await
            {
                tracing::warn!(error = %err, "could not forget expired data; will try again");
            }
        }
    });
}

/// On a local run without `TOKENMETER_ADMIN_KEY`: generates the first admin key and prints
/// it once. Later runs find it stored (hashed) and say how to get a new one.
async fn ensure_admin_key(services: &Services) -> anyhow::Result<()> {
    let keys = services.tracker.keys();
    if keys.has_admin_key(Bootstrap::for_the_service_itself()).await? {
        tracing::info!(
            "admin key: using the one generated on first start (lost it? stop the service and run `tokenmeter admin-key`)"
        );
        return Ok(());
    }
    let label = KeyLabel::parse("label", "generated at first start")?;
    let issued = keys.issue_at_startup(Bootstrap::for_the_service_itself(), Role::Admin, label).await?;
    tracing::warn!(
        admin_key = %issued.token,
        "generated an admin API key; it is shown only this once. Sign in with it, or send it as `Authorization: Bearer <key>`"
    );
    Ok(())
}

/// Issues a new admin key on the configured store and returns its text.
pub async fn issue_admin_key(config: &Config) -> anyhow::Result<String> {
    let store = open_store(config).await?;
    let services = services(config, &store).await?;
    let label = KeyLabel::parse("label", "issued by `tokenmeter admin-key`")?;
    let issued =
        services.tracker.keys().issue_at_startup(Bootstrap::for_the_service_itself(), Role::Admin, label).await?;
    Ok(issued.token)
}

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
