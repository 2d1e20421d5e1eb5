use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

mod containers;

/// The workspace root, whatever directory `cargo xtask` was started from.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs `cmd`, echoing it first, and fails if it fails.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    );
    eprintln!("$ {shown}");
    let status = cmd.status().with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n== {what}");
}

pub fn openapi() -> anyhow::Result<()> {
    step("regenerating openapi/openapi.json");
    run(cargo().args(["run", "--quiet", "-p", "tokenmeter-api", "--", "openapi", "--out", "openapi/openapi.json"]))?;
    eprintln!("wrote {}", project_root().join("openapi/openapi.json").display());
    Ok(())
}

pub fn dev(listen: &str) -> anyhow::Result<()> {
    step(&format!("serving the API on http://{listen} (docs at http://{listen}/docs), data in .tokenmeter/"));
    run(cargo()
        .args(["run", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--", "serve"])
        .env("TOKENMETER_LISTEN", listen)
        .env_remove("TOKENMETER_DATA_DIR")
        .env("TOKENMETER_DATA_DIR", project_root().join(".tokenmeter")))
}

pub fn test() -> anyhow::Result<()> {
    step("installing what the tests need");
    ensure_rust_target("wasm32-unknown-unknown")?;
    let docker_host = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.is_empty() => {
            eprintln!("DynamoDB: using AWS_ENDPOINT_URL_DYNAMODB={endpoint}, starting no container");
            None
        }
        _ => Some(containers::prepare()?),
    };

    step("formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    let with_containers = |cmd: &mut Command| {
        if let Some(host) = &docker_host {
            cmd.env("DOCKER_HOST", host);
        }
    };
    step("unit and integration tests (spec drift and the store conformance suite included)");
    let mut all = cargo();
    all.args(["test", "--workspace", "--no-fail-fast"]);
    with_containers(&mut all);
    let all = run(&mut all);

    step("the HTTP integration tests again, on the DynamoDB store");
    let mut on_dynamodb = cargo();
    on_dynamodb
        .args(["test", "-p", "tokenmeter-api", "--test", "it", "--"])
        // Store-level suites and the spec check do not depend on the app's store: run once.
        .args(["--skip", "store_conformance::", "--skip", "dynamodb::", "--skip", "openapi::"])
        .env("TOKENMETER_TEST_STORE", "dynamodb");
    with_containers(&mut on_dynamodb);
    let on_dynamodb = run(&mut on_dynamodb);

    if docker_host.is_some() {
        containers::remove_test_containers()?;
    }
    all?;
    on_dynamodb?;

    step("the generated client compiles for the browser");
    run(cargo().args(["check", "-p", "tokenmeter-client", "--target", "wasm32-unknown-unknown"]))?;
    Ok(())
}

pub fn build() -> anyhow::Result<()> {
    step("building the service (release)");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    eprintln!("built {}", project_root().join("target/release/tokenmeter").display());
    Ok(())
}

pub fn bench(seconds: u64) -> anyhow::Result<()> {
    step("building the release binary and the bench");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--example", "bench"]))?;
    step("measuring");
    run(cargo().args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "tokenmeter-api",
        "--example",
        "bench",
        "--",
        &seconds.to_string(),
    ]))
}

/// Installs a rustup target if it is missing (rustup is the one toolchain manager here).
fn ensure_rust_target(target: &str) -> anyhow::Result<()> {
    let installed =
        Command::new("rustup").args(["target", "list", "--installed"]).output().context("rustup is required")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|t| t.trim() == target) {
        eprintln!("rust target {target}: installed");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]))
}
