use std::{net::SocketAddr, sync::Arc};

use tempfile::TempDir;
use tokenmeter_api::{
    domain::{Tracker, UserStore},
    http, server,
    store::EmbeddedStore,
};
use tokenmeter_client::{Client, types};

use crate::dynamodb_local;

/// The store the HTTP tests run on: `TOKENMETER_TEST_STORE` = `embedded` (default) or
/// `dynamodb` (`cargo xtask test` runs this binary once with each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    Embedded,
    DynamoDb,
}

impl TestStore {
    pub fn from_env() -> Self {
        match std::env::var("TOKENMETER_TEST_STORE").as_deref() {
            Err(_) | Ok("" | "embedded") => Self::Embedded,
            Ok("dynamodb") => Self::DynamoDb,
            Ok(other) => panic!("TOKENMETER_TEST_STORE must be `embedded` or `dynamodb`, not `{other}`"),
        }
    }

    /// The name `/health` reports for this store.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::DynamoDb => "dynamodb",
        }
    }
}

/// A running service on its own port and its own store, and clients for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The generated client, as integrators use it.
    pub client: Client,
    /// Raw HTTP, for requests the generated client would refuse to build.
    pub http: reqwest::Client,
    _data: Option<TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The service on a fresh store of the kind `TOKENMETER_TEST_STORE` selects.
pub async fn spawn_app() -> TestApp {
    match TestStore::from_env() {
        TestStore::Embedded => {
            let data = tempfile::tempdir().expect("temp dir");
            let store = EmbeddedStore::open(&data.path().join("tokenmeter.redb")).expect("open store");
            spawn_app_on(Arc::new(store), Some(data)).await
        }
        TestStore::DynamoDb => spawn_app_on(Arc::new(dynamodb_local::fresh_store().await), None).await,
    }
}

/// The service on `store`; `data` is kept alive as long as the app.
pub async fn spawn_app_on(store: Arc<dyn UserStore>, data: Option<TempDir>) -> TestApp {
    let app = http::endpoint(Tracker::new(store));
    let (acceptor, addr) = server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let server = tokio::spawn(async move {
        server::serve(acceptor, app).await.expect("server");
    });
    TestApp { addr, client: Client::new(&format!("http://{addr}")), http: reqwest::Client::new(), _data: data, server }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn create_user(&self, id: &str, limit: u64) -> types::UserResult {
        self.client
            .create_user(&types::CreateUserRequest { user_id: id.into(), token_limit: limit })
            .await
            .expect("create user")
            .into_inner()
    }

    pub async fn record(&self, id: &str, tokens: u64) -> types::UserResult {
        self.client
            .record_usage(id, &types::RecordUsageRequest { tokens_consumed: tokens })
            .await
            .expect("record usage")
            .into_inner()
    }

    /// Sends `body` raw and returns the status and the JSON answer.
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = self.http.request(method, self.url(path)).header("content-type", "application/json");
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

/// The error body of a failed client call.
pub fn error_of<T: std::fmt::Debug>(
    result: Result<T, tokenmeter_client::Error<types::ErrorBody>>,
) -> (u16, types::ErrorBody) {
    match result {
        Err(tokenmeter_client::Error::ErrorResponse(response)) => (response.status().as_u16(), response.into_inner()),
        other => panic!("expected an error response, got {other:?}"),
    }
}
