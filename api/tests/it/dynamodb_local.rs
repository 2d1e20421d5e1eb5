//! DynamoDB Local for the tests.
//!
//! With `AWS_ENDPOINT_URL_DYNAMODB` set, tests use that endpoint and start nothing. Otherwise
//! one container of the real DynamoDB Local (`amazon/dynamodb-local`, which `cargo xtask test`
//! builds locally when no registry can be reached) is started once per test binary and shared;
//! each test gets its own table. A test that needs to break the store starts its own container.
//!
//! Three details make testcontainers work over podman as well as Docker: the port is bound
//! explicitly to 127.0.0.1 (podman reports an empty `HostIp` for publish-all bindings), the
//! tests connect to 127.0.0.1 rather than `get_host()` (in a container that answers the bridge
//! gateway), and readiness is an HTTP answer on the port (DynamoDB Local logs its start-up
//! line about 2 s before it accepts connections).

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use aws_config::Region;
use aws_sdk_dynamodb::config::Credentials;
use testcontainers::{
    ContainerAsync, GenericImage, ImageExt,
    bollard::models::PortBinding,
    core::{IntoContainerPort, WaitFor},
    runners::AsyncRunner,
};
use tokenmeter_api::store::{DEFAULT_OPERATION_TIMEOUT, DynamoDbStore, sdk_config_loader};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::OnceCell,
};

use crate::helpers::test_env;

pub(crate) const IMAGE: &str = "amazon/dynamodb-local";
/// The DynamoDB Local version; `cargo xtask test` builds this tag when it is missing.
pub(crate) const TAG: &str = "3.3.0";
/// Every container the tests start carries this label, so `cargo xtask test` can remove the
/// shared one (a static is never dropped) when the run ends.
pub(crate) const LABEL: (&str, &str) = ("tokenmeter.test", "dynamodb-local");
const PORT: u16 = 8000;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// testcontainers' Docker client is shared by the process, so every container call runs on
/// one runtime that outlives each test's own runtime.
fn containers_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("testcontainers")
            .enable_all()
            .build()
            .expect("containers runtime")
    })
}

async fn on_containers_runtime<T: Send + 'static>(task: impl Future<Output = T> + Send + 'static) -> T {
    containers_runtime().spawn(task).await.expect("container task panicked")
}

/// True when the tests use `AWS_ENDPOINT_URL_DYNAMODB` and start no container.
pub(crate) fn uses_external_endpoint() -> bool {
    test_env("AWS_ENDPOINT_URL_DYNAMODB").is_some()
}

/// The endpoint every test shares: `AWS_ENDPOINT_URL_DYNAMODB`, or the one container.
pub(crate) async fn shared_endpoint() -> String {
    if let Some(url) = test_env("AWS_ENDPOINT_URL_DYNAMODB") {
        return url;
    }
    static SHARED: OnceCell<String> = OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            let (container, endpoint) = on_containers_runtime(start(None, 0)).await;
            // Kept for the whole run; removed by label when the run ends.
            Box::leak(Box::new(container));
            endpoint
        })
        .await
        .clone()
}

/// A DynamoDB Local container of one test's own, removed when dropped. Its data lives in a
/// file and its host port is fixed, so it can be stopped and started again with its data and
/// at the same address, like a store that goes down and comes back.
///
/// (Not `podman pause`: on this machine freezing a container's cgroup stalled the whole VM's
/// process supervisor, and every session's processes were killed.)
pub(crate) struct OwnedDynamoDb {
    pub endpoint: String,
    port: u16,
    container: Option<Arc<ContainerAsync<GenericImage>>>,
}

impl OwnedDynamoDb {
    pub(crate) async fn start_durable() -> Self {
        // A port that is free now; the container keeps it across restarts.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        const ARGS: &[&str] = &["-jar", "DynamoDBLocal.jar", "-sharedDb", "-dbPath", "."];
        let (container, endpoint) = on_containers_runtime(start(Some(ARGS), port)).await;
        Self { endpoint, port, container: Some(Arc::new(container)) }
    }

    /// Stops the container (DynamoDB Local exits; connections are refused).
    pub(crate) async fn stop(&self) {
        let container = self.container();
        on_containers_runtime(async move { container.stop().await }).await.expect("stop the container");
    }

    /// Starts the stopped container again and waits until it answers.
    pub(crate) async fn restart(&self) {
        let container = self.container();
        on_containers_runtime(async move { container.start().await }).await.expect("start the container");
        wait_until_answering(self.port).await;
    }

    fn container(&self) -> Arc<ContainerAsync<GenericImage>> {
        Arc::clone(self.container.as_ref().expect("container"))
    }
}

impl Drop for OwnedDynamoDb {
    fn drop(&mut self) {
        let Some(container) = self.container.take().and_then(|c| Arc::try_unwrap(c).ok()) else {
            return;
        };
        // Removed on the runtime the container was made on, from a thread outside any runtime.
        let removed = std::thread::spawn(move || containers_runtime().block_on(container.rm())).join();
        if !matches!(removed, Ok(Ok(()))) {
            eprintln!("could not remove a DynamoDB Local container; `cargo xtask test` removes it by its label");
        }
    }
}

/// Starts DynamoDB Local (with `args` instead of the image's default command, and on
/// `host_port`, 0 for any) and waits until it answers HTTP on 127.0.0.1.
async fn start(args: Option<&'static [&'static str]>, host_port: u16) -> (ContainerAsync<GenericImage>, String) {
    let request = GenericImage::new(IMAGE, TAG)
        .with_exposed_port(PORT.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_label(LABEL.0, LABEL.1)
        .with_startup_timeout(READY_TIMEOUT)
        .with_host_config_modifier(move |host| {
            let host_port = if host_port == 0 { String::new() } else { host_port.to_string() };
            let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(host_port) };
            host.publish_all_ports = Some(false);
            host.port_bindings = Some(HashMap::from([(format!("{PORT}/tcp"), Some(vec![binding]))]));
        });
    let request = match args {
        Some(args) => request.with_cmd(args.iter().copied()),
        None => request.with_cmd(Vec::<String>::new()),
    };
    let container = request.start().await.unwrap_or_else(|e| {
        panic!(
            "cannot start {IMAGE}:{TAG} ({e}). Run the tests with `cargo xtask test`, which sets up podman and \
             the image, or set AWS_ENDPOINT_URL_DYNAMODB to a running DynamoDB Local"
        )
    });
    let port = container.get_host_port_ipv4(PORT.tcp()).await.expect("mapped port");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_answering(port).await;
    (container, endpoint)
}

/// Polls until the port answers an HTTP request (any status), within [`READY_TIMEOUT`].
async fn wait_until_answering(port: u16) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if answers_http(port).await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "DynamoDB Local did not answer on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn answers_http(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").await.ok()?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).await.ok()?;
        (&head == b"HTTP/").then_some(())
    };
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Some(())))
}

/// How long one store operation may take in the tests that are not about outages. DynamoDB
/// Local (a JVM, cold at first) on a 2-core machine shared with Chromium and another test can
/// take longer than the service's 3 s to answer 64 writers of one item; those tests check
/// answers, not speed.
pub(crate) const PATIENT_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// The SDK configuration tests use: the service's own HTTP client, timeouts
/// ([`DEFAULT_OPERATION_TIMEOUT`], which the outage tests hold the service to) and retries,
/// with dummy credentials and a fixed region set here (never in the process environment).
pub(crate) async fn sdk_config(endpoint: &str) -> aws_sdk_dynamodb::Config {
    sdk_config_with(endpoint, DEFAULT_OPERATION_TIMEOUT).await
}

async fn sdk_config_with(endpoint: &str, operation_timeout: Duration) -> aws_sdk_dynamodb::Config {
    let sdk = sdk_config_loader(operation_timeout)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tokenmeter-tests"))
        .load()
        .await;
    aws_sdk_dynamodb::config::Builder::from(&sdk).endpoint_url(endpoint).build()
}

/// A table name no other test (or earlier run against the same endpoint) uses.
pub(crate) fn unique_table() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "tokenmeter-test-{}-{}-{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// A store on a fresh table of the shared DynamoDB Local.
pub(crate) async fn fresh_store() -> DynamoDbStore {
    let endpoint = shared_endpoint().await;
    let config = sdk_config_with(&endpoint, PATIENT_OPERATION_TIMEOUT).await;
    DynamoDbStore::open(config, &unique_table()).await.expect("open a fresh DynamoDB table")
}

/// What a [`FlakyProxy`] does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Passes everything on.
    Up,
    /// Accepts connections and takes in bytes but passes nothing on, in either direction,
    /// until it is up again: a store that hangs (held bytes flow on when it comes back).
    Hung,
    /// Closes every connection: a store that is gone.
    Down,
}

/// A TCP proxy in front of a DynamoDB endpoint whose link a test can break.
pub(crate) struct FlakyProxy {
    pub endpoint: String,
    link: tokio::sync::watch::Sender<Link>,
    accept: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    pub(crate) async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (link, _) = tokio::sync::watch::channel(Link::Up);
        let state = link.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *state.borrow() == Link::Down {
                    continue; // dropped: closed at once
                }
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, state.subscribe()));
                tokio::spawn(pump(server_read, client_write, state.subscribe()));
            }
        });
        Self { endpoint, link, accept }
    }

    pub(crate) fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to` while the link is up, holds bytes while it hangs, and closes both
/// when it goes down.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: tokio::sync::watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match link.wait_for(|l| *l != Link::Hung).await.map(|l| *l) {
            Ok(Link::Up) => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
