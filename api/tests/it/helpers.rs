//! The test app: the real server on port 0, on a fresh store of the kind
//! `TOKENMETER_TEST_STORE` selects, driven through the generated client. One builder for every
//! variation (model provider, clock, CORS, web app, settings, a store shared with another
//! instance).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tempfile::TempDir;
use tokenmeter_api::{
    domain::{
        AlertTarget, Clock, GuestSettings, InvokeSettings, ManualClock, ModelProvider, MonitoringSettings, Parts,
        Services, Settings, StartupAdminKey, Stores, SystemClock, UserId, quota::default_tiers,
    },
    http,
    model::{EchoProvider, default_prices},
    store::EmbeddedStore,
};
use tokenmeter_client::{Client, types};

use crate::dynamodb_local;

mod requests;
mod restart;

pub(crate) use requests::{ask, error_of, new_limit, new_user, usage};

/// The start-up admin key every test app is given.
pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A variable of the test run's environment (`TOKENMETER_TEST_STORE`, `DOCKER_HOST`, …),
/// unset when empty. Tests are configured by their environment, like the service by clap.
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The store the HTTP tests run on: `TOKENMETER_TEST_STORE` = `embedded` (default) or
/// `dynamodb` (`cargo xtask test` runs this binary once with each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestStore {
    Embedded,
    DynamoDb,
}

impl TestStore {
    pub(crate) fn from_env() -> Self {
        match test_env("TOKENMETER_TEST_STORE").as_deref() {
            None | Some("embedded") => Self::Embedded,
            Some("dynamodb") => Self::DynamoDb,
            Some(other) => panic!("TOKENMETER_TEST_STORE must be `embedded` or `dynamodb`, not `{other}`"),
        }
    }

    /// The name `/health` reports for this store.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::DynamoDb => "dynamodb",
        }
    }
}

/// A fresh store of the kind `TOKENMETER_TEST_STORE` selects, with the default tiers, and the
/// directory of its data (to be kept as long as the store).
pub(crate) async fn fresh_stores() -> (Stores, Option<Arc<TempDir>>) {
    let (stores, data) = match TestStore::from_env() {
        TestStore::Embedded => {
            let data = tempfile::tempdir().expect("temp dir");
            let store = Arc::new(EmbeddedStore::open(&data.path().join("tokenmeter.redb")).expect("open store"));
            (Stores::of(store), Some(Arc::new(data)))
        }
        TestStore::DynamoDb => (Stores::of(Arc::new(dynamodb_local::fresh_store().await)), None),
    };
    stores.tiers.seed_tiers(&default_tiers()).await.expect("seed tiers");
    (stores, data)
}

/// The settings a test app runs with unless a test changes them.
pub(crate) fn test_settings() -> Settings {
    Settings {
        invoke: InvokeSettings::default(),
        default_model: tokenmeter_api::config::DEFAULT_MODEL_ID.into(),
        default_tier: None,
        event_retention: Duration::from_secs(90 * 86_400),
        guests: GuestSettings::default(),
        monitoring: MonitoringSettings::default(),
    }
}

/// Sends the service's warnings and errors (or what `RUST_LOG` selects) to the test's
/// captured output, so a failing test shows the cause behind a 5xx (a store's timeout, say).
fn show_service_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    // Only the first call installs it; the others find it set.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// How a test app differs from the default one.
pub(crate) struct AppBuilder {
    provider: Arc<dyn ModelProvider>,
    cors_origins: Vec<String>,
    web_dir: Option<PathBuf>,
    clock: Option<ManualClock>,
    store: Option<(Stores, Option<Arc<TempDir>>)>,
    settings: Settings,
    limits: http::ServerLimits,
    alert_targets: Vec<Arc<dyn AlertTarget>>,
}

/// A running service on its own port and its own store, and clients for it.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    /// The generated client with the admin key, as an administrator's integration uses it.
    pub(crate) client: Client,
    /// Raw HTTP, for requests the generated client would refuse to build.
    pub(crate) http: reqwest::Client,
    /// The stores behind the service, for checks no API exposes (holds), and for a second
    /// instance sharing them.
    pub(crate) stores: Stores,
    pub(crate) services: Services,
    /// The clock the service reads, when the test controls it.
    pub(crate) clock: Option<ManualClock>,
    settings: Settings,
    alert_targets: Vec<Arc<dyn AlertTarget>>,
    data: Option<Arc<TempDir>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl AppBuilder {
    /// The model provider (default: the echo model).
    pub(crate) fn provider(mut self, provider: Arc<dyn ModelProvider>) -> Self {
        self.provider = provider;
        self
    }

    pub(crate) fn cors(mut self, origins: &[&str]) -> Self {
        self.cors_origins = origins.iter().map(|o| (*o).to_owned()).collect();
        self
    }

    /// Serves the built web app from `dir`.
    pub(crate) fn web(mut self, dir: &Path) -> Self {
        self.web_dir = Some(dir.to_owned());
        self
    }

    /// A clock the test moves (default: the machine's).
    pub(crate) fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Runs on these stores instead of fresh ones.
    pub(crate) fn on(mut self, stores: Stores, data: Option<Arc<TempDir>>) -> Self {
        self.store = Some((stores, data));
        self
    }

    pub(crate) fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Where alert notifications go (default: nowhere; they are only listed).
    pub(crate) fn alert_targets(mut self, targets: Vec<Arc<dyn AlertTarget>>) -> Self {
        self.alert_targets = targets;
        self
    }

    /// The server's connection limits (default: the service's defaults).
    pub(crate) fn limits(mut self, change: impl FnOnce(&mut http::ServerLimits)) -> Self {
        change(&mut self.limits);
        self
    }

    pub(crate) async fn spawn(self) -> TestApp {
        show_service_logs();
        let (stores, data) = match self.store {
            Some(store) => store,
            None => fresh_stores().await,
        };
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(clock) => Arc::new(clock.clone()),
            None => Arc::new(SystemClock),
        };
        let services = Services::new(Parts {
            stores: stores.clone(),
            provider: self.provider,
            prices: default_prices(),
            clock,
            startup_admin: Some(StartupAdminKey::new(ADMIN_KEY).expect("admin key")),
            settings: self.settings.clone(),
            alert_targets: self.alert_targets.clone(),
        });
        services.alerts.seed().await.expect("seed alert rules");
        // Without a built app, a directory that does not exist: the API then serves no pages.
        let web_dir = self.web_dir.unwrap_or_else(|| std::env::temp_dir().join("tokenmeter-no-web-app"));
        let app = http::endpoint(services.clone(), &self.cors_origins, http::WebApp::new(&web_dir));
        let server = http::HttpServer::bind("127.0.0.1:0".parse().unwrap(), self.limits).await.expect("bind");
        let addr = server.local_addr();
        let stopping = services.core.stopping().clone();
        let server = tokio::spawn(async move {
            server.serve(app, stopping).await.expect("server");
        });
        let client = Client::with_api_key(&format!("http://{addr}"), ADMIN_KEY).unwrap();
        TestApp {
            addr,
            client,
            http: reqwest::Client::new(),
            stores,
            services,
            clock: self.clock,
            settings: self.settings,
            alert_targets: self.alert_targets,
            data,
            server: Some(server),
        }
    }
}

impl TestApp {
    pub(crate) fn builder() -> AppBuilder {
        AppBuilder {
            provider: Arc::new(EchoProvider),
            cors_origins: Vec::new(),
            web_dir: None,
            clock: None,
            store: None,
            settings: test_settings(),
            limits: http::ServerLimits::default(),
            alert_targets: Vec::new(),
        }
    }

    /// The default app: echo model, system clock, a fresh store.
    pub(crate) async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    /// Another instance of the service on the same store and clock, as behind a load balancer:
    /// its own process state (live views, caches), the same data.
    pub(crate) async fn second_instance(&self) -> TestApp {
        let mut builder = Self::builder().on(self.stores.clone(), self.data.clone());
        builder.settings = self.settings.clone();
        builder.clock = self.clock.clone();
        builder.alert_targets = self.alert_targets.clone();
        builder.spawn().await
    }

    /// Tells the service to stop, as SIGTERM does, and waits until the server has drained.
    pub(crate) async fn stop(&mut self) {
        self.services.core.stopping().cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("the server stopped cleanly");
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The generated client, sending `key` on every request.
    pub(crate) fn client_with(&self, key: &str) -> Client {
        Client::with_api_key(&self.url(""), key).unwrap()
    }

    /// The generated client with no key at all.
    pub(crate) fn anonymous(&self) -> Client {
        Client::new(&self.url(""))
    }

    pub(crate) async fn create_user(&self, id: &str, limit: u64) -> types::CreatedUser {
        self.client.create_user(None, &new_user(id, limit)).await.expect("create user").into_inner()
    }

    /// Issues a user key for `user` and returns its text.
    pub(crate) async fn user_key(&self, user: &str) -> String {
        let request = types::IssueKeyRequest::User { user_id: user.into(), label: None };
        self.client.issue_key(&request).await.expect("issue key").into_inner().api_key
    }

    pub(crate) async fn record(&self, id: &str, tokens: u64) -> types::UserResult {
        self.client.record_usage(id, None, &usage(tokens)).await.expect("record usage").into_inner()
    }

    /// Tokens held for calls in flight, straight from the store.
    pub(crate) async fn reserved(&self, user: &str) -> u64 {
        let id = UserId::parse("userId", user).unwrap();
        self.stores.accounts.user(&id).await.unwrap().expect("user exists").token_reserved()
    }

    /// Sends `body` raw with the admin key and returns the status and the JSON answer.
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        self.send_as(Some(ADMIN_KEY), method, path, body).await
    }

    /// Sends `body` raw with `key` as a bearer token (or none) and returns status and JSON.
    pub(crate) async fn send_as(
        &self,
        key: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.http.request(method, self.url(path)).header("content-type", "application/json");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        // Server-sent events are not JSON: they come back as one string.
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// Opens an event stream with `key` (or none): a success answers its status and `null`
    /// once the stream has started as `text/event-stream`; a failure, status and JSON.
    pub(crate) async fn open_stream_as(&self, key: Option<&str>, path: &str) -> (u16, serde_json::Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        if response.status().is_success() {
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(content_type.starts_with("text/event-stream"), "{path} answered {content_type}");
            return (status, serde_json::Value::Null);
        }
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    }
}

/// Waits until `check` holds, looking every 20 ms; fails naming `what` after `within`.
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The binary's environment for a fresh store of the kind `TOKENMETER_TEST_STORE` selects: a
/// data directory under `data`, or a new DynamoDB Local table (which the binary creates).
pub(crate) async fn binary_store_env(data: &Path) -> Vec<(&'static str, String)> {
    match TestStore::from_env() {
        TestStore::Embedded => vec![("TOKENMETER_DATA_DIR", data.display().to_string())],
        // Dummy credentials and a fixed region for the child only, never for this process.
        TestStore::DynamoDb => vec![
            ("TOKENMETER_STORE", "dynamodb".to_owned()),
            ("TOKENMETER_TABLE", dynamodb_local::unique_table()),
            ("TOKENMETER_STORE_TIMEOUT_MS", dynamodb_local::PATIENT_OPERATION_TIMEOUT.as_millis().to_string()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local::shared_endpoint().await),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ],
    }
}
