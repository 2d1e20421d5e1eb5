//! `cargo xtask bench`: the benchmark of the real thing. Builds the release `tokenmeter`
//! binary, then runs the bench crate (`bench/`, package `tokenmeter-bench`), which starts that
//! binary as its own process next to a stand-in Bedrock (and, with `--peer litellm`, LiteLLM
//! proxy), loads them, prints the tables, appends them to BENCHMARKS.md and regenerates the
//! README's performance table. The work is in the bench crate; this stays cheap. For the
//! `hot-user` scenario it also starts DynamoDB Local (the tests' image, under podman).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{
    containers,
    shell::{cargo, run, step, target_dir},
};

/// The label of the DynamoDB Local container a bench run starts (a run killed before removing
/// it leaves it behind; the next run removes it).
const BENCH_LABEL: &str = "tokenmeter.bench=dynamodb-local";

/// What `cargo xtask bench` was asked.
pub(crate) struct BenchArgs {
    pub scenarios: Vec<String>,
    pub seconds: u64,
    pub rates: Option<String>,
    pub peer: Option<String>,
    /// Passed on to `tokenmeter-bench run` as they are (after `--`).
    pub more: Vec<String>,
}

pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    step("building the release binary");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    step("measuring (tokenmeter-bench)");
    let binary = target_dir().join("release").join("tokenmeter");
    // The command as typed (quoted where a shell needs it), recorded with the figures.
    let typed: Vec<String> = std::env::args().skip(1).map(|arg| quoted(&arg)).collect();
    let mut bench = cargo();
    bench
        .args(["run", "--release", "--quiet", "-p", "tokenmeter-bench", "--", "run"])
        .arg("--tokenmeter")
        .arg(&binary)
        .args(["--command", &format!("cargo xtask {}", typed.join(" "))])
        .args(["--seconds", &args.seconds.to_string()]);
    if let Some(rates) = &args.rates {
        bench.args(["--rates", rates]);
    }
    if let Some(peer) = &args.peer {
        bench.args(["--peer", peer]);
    }
    let wants_store = args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == "hot-user");
    let store = if wants_store && !args.more.iter().any(|a| a.starts_with("--dynamodb-endpoint")) {
        Some(DynamoDbLocal::start()?)
    } else {
        None
    };
    if let Some(store) = &store {
        bench.args(["--dynamodb-endpoint", &store.endpoint]);
    }
    run(bench.args(&args.more).args(&args.scenarios))
}

/// A DynamoDB Local container for the run, removed when dropped.
struct DynamoDbLocal {
    name: String,
    endpoint: String,
}

impl DynamoDbLocal {
    fn start() -> anyhow::Result<Self> {
        containers::prepare()?;
        remove_bench_containers()?;
        step("starting DynamoDB Local for the hot-user scenario");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let name = format!("tokenmeter-bench-dynamodb-{}", std::process::id());
        run(containers::podman()
            .args(["run", "--detach", "--name", &name, "--label", BENCH_LABEL])
            .args(["--publish", &format!("127.0.0.1:{port}:8000")])
            .arg(containers::image_tag()))?;
        let store = Self { name, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers_http(port) {
            if Instant::now() > deadline {
                bail!("DynamoDB Local did not answer on port {port} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("DynamoDB Local: answering at {}", store.endpoint);
        Ok(store)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = containers::podman().args(["rm", "--force", &self.name]).output();
    }
}

/// Whether something answers HTTP on the port (DynamoDB Local accepts connections about 2 s
/// after it logs that it started).
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

/// Removes DynamoDB Local containers an interrupted bench run left.
fn remove_bench_containers() -> anyhow::Result<()> {
    let out = containers::podman()
        .args(["ps", "--all", "--quiet", "--filter", &format!("label={BENCH_LABEL}")])
        .output()
        .context("listing bench containers")?;
    for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let _ = containers::podman().args(["rm", "--force", id]).output();
    }
    Ok(())
}

/// `arg` as a shell would need it typed: as it is when plain, else in single quotes.
fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) { arg.to_owned() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn arguments_are_recorded_as_they_would_be_typed() {
        assert_eq!(quoted("--rates"), "--rates");
        assert_eq!(quoted("100,500,1000"), "100,500,1000");
        assert_eq!(quoted("a busy machine"), "'a busy machine'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }
}
