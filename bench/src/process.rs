//! The processes under test: the stand-in Bedrock (this program, `stand-in`), the release
//! `tokenmeter` binary, each started fresh and stopped when dropped.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::load::{Call, Client};

/// The admin key every tokenmeter the bench starts is configured with.
pub(crate) const ADMIN_KEY: &str = "bench-admin-key-0123456789";

/// A process the bench started; killed (with every process in its group, when it leads one)
/// and reaped when dropped.
pub(crate) struct Process {
    child: Child,
    leads_group: bool,
    log: Option<PathBuf>,
}

impl Process {
    pub(crate) fn spawn(command: &mut Command, log: Option<PathBuf>, leads_group: bool) -> anyhow::Result<Self> {
        if leads_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().with_context(|| format!("starting {:?}", command.get_program()))?;
        Ok(Self { child, leads_group, log })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the process logged, for an error message.
    pub(crate) fn log_tail(&self) -> String {
        let Some(text) = self.log.as_ref().and_then(|log| std::fs::read_to_string(log).ok()) else {
            return String::new();
        };
        let lines: Vec<&str> = text.lines().collect();
        format!("\n--- its log ---\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Polls `GET base + path` until it answers 200: how long that took from `spawned`.
    pub(crate) async fn wait_ready(
        &mut self,
        client: &Client,
        url: &str,
        spawned: Instant,
        patience: Duration,
    ) -> anyhow::Result<Duration> {
        let probe = Call::get(url, "", None)?;
        loop {
            if let Ok((status, _)) = probe.json(client).await
                && status.is_success()
            {
                return Ok(spawned.elapsed());
            }
            if let Some(status) = self.exited() {
                bail!("the process ended ({status}) before answering {url}{}", self.log_tail());
            }
            if spawned.elapsed() > patience {
                bail!("{url} did not answer 200 within {patience:?}{}", self.log_tail());
            }
            // tokio's timer rounds this up to its 1 ms resolution: the start-up figure's too.
            tokio::time::sleep(Duration::from_micros(250)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.leads_group {
            // The group this process leads holds only what it started (e.g. uvicorn's workers).
            // SAFETY: kill(2) with the negated id of a process group this program created.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on loopback that was free a moment ago.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The stand-in Bedrock, in its own process.
pub(crate) struct StandIn {
    pub process: Process,
    pub addr: SocketAddr,
}

/// What the stand-in was asked, counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UpstreamCalls {
    pub converse: u64,
    pub converse_stream: u64,
    pub count_tokens: u64,
    pub other: u64,
    pub in_flight: u64,
}

impl UpstreamCalls {
    pub(crate) fn total(&self) -> u64 {
        self.converse + self.converse_stream + self.count_tokens + self.other
    }

    pub(crate) fn since(&self, before: &Self) -> Self {
        Self {
            converse: self.converse - before.converse,
            converse_stream: self.converse_stream - before.converse_stream,
            count_tokens: self.count_tokens - before.count_tokens,
            other: self.other - before.other,
            in_flight: self.in_flight,
        }
    }
}

impl StandIn {
    /// Starts `exe stand-in …` and reads the address it bound from its first line.
    pub(crate) fn start(
        exe: &Path,
        latency: Duration,
        output_tokens: u64,
        stream_gap: Duration,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["stand-in", "--listen", "127.0.0.1:0"])
            .args(["--latency-ms", &latency.as_millis().to_string()])
            .args(["--output-tokens", &output_tokens.to_string()])
            .args(["--stream-gap-ms", &stream_gap.as_millis().to_string()])
            .stdout(Stdio::piped());
        let mut process = Process::spawn(&mut command, None, false)?;
        let stdout = process.child.stdout.take().context("the stand-in's output")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("the stand-in said {first:?} instead of its address"))?;
        Ok(Self { process, addr })
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn calls(&self, client: &Client) -> anyhow::Result<UpstreamCalls> {
        let (_, stats) = Call::get(&self.base(), "/_bench/stats", None)?.json(client).await?;
        let n = |field: &str| stats[field].as_u64().unwrap_or(0);
        Ok(UpstreamCalls {
            converse: n("converse"),
            converse_stream: n("converseStream"),
            count_tokens: n("countTokens"),
            other: n("other"),
            in_flight: n("inFlight"),
        })
    }

    /// Waits until nothing is in flight at the stand-in and nothing new arrived for 100 ms, so
    /// that a target still working off an earlier phase (a saturated peer) does not load the next.
    pub(crate) async fn settle(&self, client: &Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = self.calls(client).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.calls(client).await?;
            if now.in_flight == 0 && now.total() == last.total() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the stand-in still had {} calls in flight after 2 minutes", now.in_flight);
            }
            last = now;
        }
    }
}

/// A tokenmeter release binary started as its own process on a fresh embedded store, with
/// Bedrock pointed at the stand-in.
pub(crate) struct Tokenmeter {
    pub process: Process,
    pub base: String,
    /// How long from spawn to its first answered `GET /health`.
    pub startup: Duration,
    _data: tempfile::TempDir,
}

impl Tokenmeter {
    pub(crate) async fn start(
        binary: &Path,
        standin: SocketAddr,
        extra_env: &[(String, String)],
        client: &Client,
    ) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new().prefix("tokenmeter-bench-").tempdir()?;
        let port = free_port()?;
        let log = data.path().join("tokenmeter.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("HOME", data.path())
            .env("TOKENMETER_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKENMETER_DATA_DIR", data.path())
            .env("TOKENMETER_WEB_DIR", data.path().join("no-web-app"))
            .env("TOKENMETER_ADMIN_KEY", ADMIN_KEY)
            .env("TOKENMETER_MODEL_PROVIDER", "bedrock")
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{standin}"))
            .env("AWS_ACCESS_KEY_ID", "AKIDTOKENMETERBENCH")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret-not-checked")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let spawned = Instant::now();
        let mut process = Process::spawn(&mut command, Some(log), false)?;
        let base = format!("http://127.0.0.1:{port}");
        let startup = process.wait_ready(client, &format!("{base}/health"), spawned, Duration::from_secs(30)).await?;
        Ok(Self { process, base, startup, _data: data })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends `call` as set-up (creating users, reading totals): it must answer 2xx.
    pub(crate) async fn expect_ok(&self, client: &Client, call: Call, what: &str) -> anyhow::Result<Value> {
        let (status, body) = call.json(client).await.with_context(|| what.to_owned())?;
        if !status.is_success() {
            bail!("{what}: tokenmeter answered {status} {body}{}", self.process.log_tail());
        }
        Ok(body)
    }
}
