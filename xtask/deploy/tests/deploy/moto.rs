//! moto's server mode as the AWS endpoint: a fresh server on a free port for each test,
//! started from the Python environment `cargo xtask test` installs (`target/aws-tools`, or
//! `TOKENMETER_AWS_TOOLS`) through `tests/moto_server.py`.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::{root, test_env};

pub(crate) struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("moto's last words:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has moto, or `None` (with the reason) when it is not installed.
fn python() -> Result<PathBuf, String> {
    let tools = test_env("TOKENMETER_AWS_TOOLS").map(PathBuf::from).unwrap_or_else(|| root().join("target/aws-tools"));
    let python = tools.join("bin/python");
    if python.is_file() {
        Ok(python)
    } else {
        Err(format!("no moto at {} (run `cargo xtask test`, which installs it)", tools.display()))
    }
}

impl Moto {
    /// A moto server, or `None` when moto is not installed and the run does not require every
    /// suite (`cargo xtask test` does: then a missing moto fails the test).
    pub(crate) async fn start() -> Option<Self> {
        let python = match python() {
            Ok(python) => python,
            Err(why) if test_env("TOKENMETER_REQUIRE_ALL_SUITES").is_some() => panic!("{why}"),
            Err(why) => {
                eprintln!("SKIPPED: the moto tests: {why}");
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        // A port that was free a moment ago; another process may take it first, so try again.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(&python)
                .arg(root().join("xtask/deploy/tests/moto_server.py"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start moto");
            if answers(&mut child, port).await {
                return Some(Moto { child, endpoint: format!("http://127.0.0.1:{port}"), log, _dir: dir });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// An SDK configuration for moto: its endpoint, us-east-1, dummy credentials.
    pub(crate) fn sdk(&self) -> SdkConfig {
        let credentials = Credentials::new("AKIDTOKENMETERTEST", "secret", None, None, "moto");
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .behavior_version(BehaviorVersion::latest())
            .http_client(https)
            .build()
    }
}

/// Polls moto's own API until it answers (its imports take a few seconds), or it exits.
async fn answers(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        // A blocking ping with short timeouts: on loopback it answers or fails at once.
        let ping = || -> std::io::Result<bool> {
            let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer)?;
            Ok(answer.starts_with(b"HTTP/1.") && String::from_utf8_lossy(&answer).contains(" 200 "))
        };
        if ping().unwrap_or(false) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
