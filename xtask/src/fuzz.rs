//! The spec fuzzed against the real service: schemathesis (pinned, from PyPI) runs its examples,
//! coverage, fuzzing and stateful phases with every check against the binary on a fresh
//! embedded store, and fails on any failure, error, or a panic in the service's log.
//! `openapi/schemathesis.toml` holds the only departures, each with its reason.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::{
    python::ensure_venv,
    shell::{cargo, project_root, run, step, target_dir},
};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const ADMIN_KEY: &str = "schemathesis-admin-key-0123456789";
/// How long the fuzzing and stateful phases may run (examples and coverage always finish).
const MAX_SECONDS: &str = "90";
/// A fixed seed: a failure in CI is reproduced by the same command. One worker: with two,
/// hypothesis 6.x races in its lambda-source cache ("AST constructor recursion depth mismatch").
const SEED: &str = "20261130";

/// The service, stopped when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn fuzz_spec() -> anyhow::Result<()> {
    let venv = ensure_venv("schemathesis", &[SCHEMATHESIS])?;
    step("schemathesis: the spec fuzzed against the service (examples, coverage, fuzzing, stateful)");
    run(cargo().args(["build", "--quiet", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    let work = target_dir().join("schemathesis-run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log_path = work.join("service.log");
    let log = std::fs::File::create(&log_path)?;
    let service = Service(
        Command::new(target_dir().join("debug/tokenmeter"))
            .env("TOKENMETER_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOKENMETER_DATA_DIR", work.join("data"))
            .env("TOKENMETER_ADMIN_KEY", ADMIN_KEY)
            .env("TOKENMETER_MODEL_PROVIDER", "echo")
            .env("TOKENMETER_GUESTS", "on")
            .env("TOKENMETER_WEB_DIR", work.join("no-web-app"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the service")?,
    );
    wait_for_health(port)?;

    let spec = project_root().join("openapi/openapi.json");
    let mut schemathesis = Command::new(venv.join("bin/schemathesis"));
    schemathesis
        .current_dir(&work)
        .arg("--config-file")
        .arg(project_root().join("openapi/schemathesis.toml"))
        .arg("run")
        .arg(&spec)
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_KEY}")])
        .args(["--checks", "all", "--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-time", MAX_SECONDS, "--seed", SEED, "--workers", "1"])
        .args(["--generation-database", "none", "--no-color"]);
    let fuzzed = run(&mut schemathesis);
    drop(service);
    let panics: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("panicked"))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(panics.is_empty(), "the service panicked under schemathesis:\n{}", panics.join("\n"));
    fuzzed.context("schemathesis found failures (its summary is above)")
}

/// Waits until the service answers `GET /health`, at most 30 s.
fn wait_for_health(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let answered = TcpStream::connect(("127.0.0.1", port)).and_then(|mut socket| {
            socket.write_all(b"GET /health HTTP/1.0\r\nHost: tokenmeter\r\n\r\n")?;
            let mut answer = String::new();
            socket.read_to_string(&mut answer)?;
            Ok(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"))
        });
        if answered.unwrap_or(false) {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the service did not answer /health in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}
