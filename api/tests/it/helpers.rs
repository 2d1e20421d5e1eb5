use std::{net::SocketAddr, path::Path, sync::Arc};

use tempfile::TempDir;
use tokenmeter_api::{
    domain::{Keys, StartupAdminKey, Tracker},
    http, server,
    store::EmbeddedStore,
};
use tokenmeter_client::{Client, types};

/// The start-up admin key every test app is given.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A running service on its own port and its own store, and clients for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The generated client with the admin key, as an administrator's integration uses it.
    pub client: Client,
    /// Raw HTTP, for requests the generated client would refuse to build.
    pub http: reqwest::Client,
    /// The store, for a second instance sharing it (see [`TestApp::second_instance`]).
    pub store: Arc<EmbeddedStore>,
    _data: TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_cors(&[]).await
}

pub async fn spawn_app_with_cors(cors_origins: &[&str]) -> TestApp {
    let origins: Vec<String> = cors_origins.iter().map(|o| o.to_string()).collect();
    let data = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(&data.path().join("tokenmeter.redb")).expect("open store"));
    let web = data.path().join("no-web-app");
    start(store, &origins, &web, data).await
}

/// A service that serves the web app from `web_dir`.
pub async fn spawn_app_with_web(web_dir: &Path) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(&data.path().join("tokenmeter.redb")).expect("open store"));
    start(store, &[], web_dir, data).await
}

async fn start(store: Arc<EmbeddedStore>, origins: &[String], web_dir: &Path, data: TempDir) -> TestApp {
    let admin = StartupAdminKey::new(ADMIN_KEY).expect("admin key");
    let tracker = Tracker::new(store.clone(), Keys::new(store.clone(), Some(admin)));
    let app = http::endpoint(tracker, origins, http::WebApp::new(web_dir));
    let (acceptor, addr) = server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let server = tokio::spawn(async move {
        server::serve(acceptor, app).await.expect("server");
    });
    let client = Client::with_api_key(&format!("http://{addr}"), ADMIN_KEY).unwrap();
    TestApp { addr, client, http: reqwest::Client::new(), store, _data: data, server }
}

impl TestApp {
    /// Another instance of the service on the same store, as behind a load balancer: its
    /// own process state (live views, caches), the same data.
    pub async fn second_instance(&self) -> TestApp {
        let data = tempfile::tempdir().expect("temp dir");
        start(self.store.clone(), &[], &data.path().join("no-web-app"), data).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The generated client, sending `key` on every request.
    pub fn client_with(&self, key: &str) -> Client {
        Client::with_api_key(&self.url(""), key).unwrap()
    }

    /// The generated client with no key at all.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url(""))
    }

    pub async fn create_user(&self, id: &str, limit: u64) -> types::CreatedUser {
        let request = types::CreateUserRequest { user_id: id.into(), token_limit: limit, issue_key: None };
        self.client.create_user(&request).await.expect("create user").into_inner()
    }

    /// Issues a user key for `user` and returns its text.
    pub async fn user_key(&self, user: &str) -> String {
        let request = types::IssueKeyRequest { role: types::KeyRole::User, user_id: Some(user.into()), label: None };
        self.client.issue_key(&request).await.expect("issue key").into_inner().api_key
    }

    pub async fn record(&self, id: &str, tokens: u64) -> types::UserResult {
        self.client
            .record_usage(id, &types::RecordUsageRequest { tokens_consumed: tokens })
            .await
            .expect("record usage")
            .into_inner()
    }

    /// Sends `body` raw with the admin key and returns the status and the JSON answer.
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        self.send_as(Some(ADMIN_KEY), method, path, body).await
    }

    /// Sends `body` raw with `key` as a bearer token (or none) and returns status and JSON.
    pub async fn send_as(
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
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }
}

impl TestApp {
    /// Opens an event stream with `key` (or none): a success answers its status and
    /// `null` once the stream has started as `text/event-stream`; a failure, status and JSON.
    pub async fn open_stream_as(&self, key: Option<&str>, path: &str) -> (u16, serde_json::Value) {
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
pub fn error_of<T: std::fmt::Debug>(
    result: Result<T, tokenmeter_client::Error<types::ErrorBody>>,
) -> (u16, types::ErrorBody) {
    match result {
        Err(tokenmeter_client::Error::ErrorResponse(response)) => (response.status().as_u16(), response.into_inner()),
        other => panic!("expected an error response, got {other:?}"),
    }
}
