use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tempfile::TempDir;
use tokenmeter_api::{
    domain::{
        Invocations, InvokeSettings, KeyStore, Keys, ModelProvider, Services, StartupAdminKey, UserId, UserStore,
    },
    http,
    model::EchoProvider,
    store::EmbeddedStore,
};
use tokenmeter_client::{Client, types};

/// The start-up admin key every test app is given.
pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789";

use crate::dynamodb_local;

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

/// A running service on its own port and its own store, and clients for it.
pub(crate) struct TestApp {
    pub addr: SocketAddr,
    /// The generated client with the admin key, as an administrator's integration uses it.
    pub client: Client,
    /// Raw HTTP, for requests the generated client would refuse to build.
    pub http: reqwest::Client,
    /// The store behind the service, for checks no API exposes (holds), and for a second
    /// instance sharing it (see [`TestApp::second_instance`]).
    pub store: Arc<dyn UserStore>,
    pub keys: Arc<dyn KeyStore>,
    pub invocations: Invocations,
    _data: Option<TempDir>,
    server: tokio::task::JoinHandle<()>,
    /// Stops the server, dropping every open connection (see [`TestApp::stop`]).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    web_dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// How a test app differs from the default: echo model, no CORS origins, no web app.
pub(crate) struct AppOptions {
    pub cors_origins: Vec<String>,
    pub provider: Arc<dyn ModelProvider>,
    pub default_max_output_tokens: u32,
    /// The built web app to serve at `/`, if any.
    pub web_dir: Option<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            provider: Arc::new(EchoProvider),
            default_max_output_tokens: 1024,
            web_dir: None,
        }
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub(crate) async fn spawn_app_with_cors(cors_origins: &[&str]) -> TestApp {
    let cors_origins = cors_origins.iter().map(|o| o.to_string()).collect();
    spawn_app_with(AppOptions { cors_origins, ..AppOptions::default() }).await
}

/// A service that serves the web app from `web_dir`.
pub(crate) async fn spawn_app_with_web(web_dir: &Path) -> TestApp {
    spawn_app_with(AppOptions { web_dir: Some(web_dir.to_owned()), ..AppOptions::default() }).await
}

/// The service on a fresh store of the kind `TOKENMETER_TEST_STORE` selects.
pub(crate) async fn spawn_app_with(options: AppOptions) -> TestApp {
    let (users, keys, data) = fresh_store().await;
    spawn_app_on(users, keys, data, options).await
}

/// A fresh store of the kind `TOKENMETER_TEST_STORE` selects, and the directory of its data
/// (to be kept as long as the store).
pub(crate) async fn fresh_store() -> (Arc<dyn UserStore>, Arc<dyn KeyStore>, Option<TempDir>) {
    match TestStore::from_env() {
        TestStore::Embedded => {
            let data = tempfile::tempdir().expect("temp dir");
            let store = Arc::new(EmbeddedStore::open(&data.path().join("tokenmeter.redb")).expect("open store"));
            (store.clone(), store, Some(data))
        }
        TestStore::DynamoDb => {
            let store = Arc::new(dynamodb_local::fresh_store().await);
            (store.clone(), store, None)
        }
    }
}

/// The environment that puts the `tokenmeter` binary on a fresh store of the kind
/// `TOKENMETER_TEST_STORE` selects: a data directory under `data`, or a new DynamoDB Local
/// table (which the binary creates).
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

/// Sends the service's warnings and errors (or what `RUST_LOG` selects) to the test's
/// captured output, so a failing test shows the cause behind a 5xx (a store's timeout, say).
fn show_service_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    // Only the first call installs it; the others find it set.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// The service on the given stores; `data` is kept alive as long as the app.
pub(crate) async fn spawn_app_on(
    store: Arc<dyn UserStore>,
    keys: Arc<dyn KeyStore>,
    data: Option<TempDir>,
    options: AppOptions,
) -> TestApp {
    show_service_logs();
    let admin = StartupAdminKey::new(ADMIN_KEY).expect("admin key");
    let settings = InvokeSettings {
        default_model: tokenmeter_api::config::DEFAULT_MODEL_ID.into(),
        default_max_output_tokens: options.default_max_output_tokens,
        hold_ttl: Duration::from_secs(900),
    };
    let services = Services::new(store.clone(), Keys::new(keys.clone(), Some(admin)), options.provider, settings);
    let invocations = services.invocations.clone();
    // Without a built app, a directory that does not exist: the API then serves no pages.
    let web_dir = options.web_dir.unwrap_or_else(|| std::env::temp_dir().join("tokenmeter-no-web-app"));
    let app = http::endpoint(services, &options.cors_origins, http::WebApp::new(&web_dir));
    let (addr, server, stop) = serve("127.0.0.1:0".parse().unwrap(), app).await;
    let client = Client::with_api_key(&format!("http://{addr}"), ADMIN_KEY).unwrap();
    TestApp {
        addr,
        client,
        http: reqwest::Client::new(),
        store,
        keys,
        invocations,
        _data: data,
        server,
        stop: Some(stop),
        web_dir,
    }
}

/// Serves `app` on `addr` until told to stop; stopping closes every open connection at once
/// (event streams included), as a process that exits does.
async fn serve(
    addr: SocketAddr,
    app: impl poem::Endpoint + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<()>, tokio::sync::oneshot::Sender<()>) {
    let (acceptor, addr) = http::bind(addr).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { drop(stopped.await) }, Some(Duration::ZERO))
            .await
            .expect("server");
    });
    (addr, server, stop)
}

impl TestApp {
    /// Stops the service as a crash or a deploy does: no new connections, and every open one
    /// (an event stream, a call in flight) is closed. The store stays.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await.expect("the server stopped cleanly");
    }

    /// Starts the service again on the same address and the same store, as a new process
    /// would: no state but the store's (live views and caches start empty).
    pub(crate) async fn start_again(&mut self) {
        let admin = StartupAdminKey::new(ADMIN_KEY).expect("admin key");
        let settings = InvokeSettings {
            default_model: tokenmeter_api::config::DEFAULT_MODEL_ID.into(),
            default_max_output_tokens: 1024,
            hold_ttl: Duration::from_secs(900),
        };
        let provider: Arc<dyn ModelProvider> = Arc::new(EchoProvider);
        let services = Services::new(self.store.clone(), Keys::new(self.keys.clone(), Some(admin)), provider, settings);
        self.invocations = services.invocations.clone();
        let app = http::endpoint(services, &[], http::WebApp::new(&self.web_dir));
        let (addr, server, stop) = serve(self.addr, app).await;
        assert_eq!(addr, self.addr, "started again on the same address");
        (self.server, self.stop) = (server, Some(stop));
    }

    /// Another instance of the service on the same store, as behind a load balancer: its
    /// own process state (live views, caches), the same data.
    pub(crate) async fn second_instance(&self) -> TestApp {
        spawn_app_on(self.store.clone(), self.keys.clone(), None, AppOptions::default()).await
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
        let request = types::CreateUserRequest { user_id: id.into(), token_limit: limit, issue_key: None };
        self.client.create_user(&request).await.expect("create user").into_inner()
    }

    /// Issues a user key for `user` and returns its text.
    pub(crate) async fn user_key(&self, user: &str) -> String {
        let request = types::IssueKeyRequest { role: types::KeyRole::User, user_id: Some(user.into()), label: None };
        self.client.issue_key(&request).await.expect("issue key").into_inner().api_key
    }

    pub(crate) async fn record(&self, id: &str, tokens: u64) -> types::UserResult {
        self.client
            .record_usage(id, &types::RecordUsageRequest { tokens_consumed: tokens })
            .await
            .expect("record usage")
            .into_inner()
    }

    /// Tokens held for calls in flight, straight from the store.
    pub(crate) async fn reserved(&self, user: &str) -> u64 {
        let id = UserId::parse("userId", user).unwrap();
        self.store.get(&id).await.unwrap().expect("user exists").token_reserved
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

    /// Opens an event stream with `key` (or none): a success answers its status and
    /// `null` once the stream has started as `text/event-stream`; a failure, status and JSON.
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

/// The error body of a failed client call.
pub(crate) fn error_of<T: std::fmt::Debug>(
    result: Result<T, tokenmeter_client::Error<types::ErrorBody>>,
) -> (u16, types::ErrorBody) {
    match result {
        Err(tokenmeter_client::Error::ErrorResponse(response)) => (response.status().as_u16(), response.into_inner()),
        other => panic!("expected an error response, got {other:?}"),
    }
}
