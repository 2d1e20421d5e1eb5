//! `cargo xtask <command>`: the project's automation, in Rust.
//!
//! Cheap to compile on purpose (clap + anyhow): heavy work is delegated to `cargo` itself.
//! Every command is idempotent and installs what it needs, or names the command that does.
//! One module per command; `shell` and `tools` hold what they share.

// A command-line tool: what it prints is its output.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod aws_tools;
mod bench;
mod build;
mod containers;
mod deploy;
mod dev;
mod fuzz;
mod image;
mod lambda;
mod lint;
mod openapi;
mod python;
mod screenshots;
mod shell;
mod test;
mod tidy;
mod tools;
mod web;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and release tokenmeter")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate openapi/openapi.json from the service's code.
    Openapi,
    /// Run the product locally: the web app and the API on one URL, on the embedded store.
    Dev {
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Run every check and test, installing what they need first (lints first).
    Test,
    /// Formatting, clippy and rustdoc with warnings denied, cargo deny, cargo machete.
    Lint,
    /// Build release artifacts: the web app (webapp/dist) and the service binary; or the
    /// Lambda package, or the container image.
    Build {
        #[command(subcommand)]
        artifact: Option<Artifact>,
    },
    /// Benchmark the real service process against a stand-in Bedrock (and a peer), appending
    /// to BENCHMARKS.md and regenerating the README's performance table.
    Bench {
        /// Scenarios to run (`invoke`, `stream`, `records`, `startup`, `quota`); all of them when none is named.
        scenarios: Vec<String>,
        /// Seconds each measured phase lasts.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Open-loop rates in requests per second (default 100,500,1000).
        #[arg(long)]
        rates: Option<String>,
        /// Measure a peer in the same run: `litellm` (LiteLLM proxy from PyPI, in a venv under target/).
        #[arg(long)]
        peer: Option<String>,
        /// More options for `tokenmeter-bench run`, after `--` (e.g. `-- --no-record --note "…"`;
        /// `cargo run -p tokenmeter-bench -- run --help` lists them).
        #[arg(last = true)]
        more: Vec<String>,
    },
    /// Build only the web app into webapp/dist and report its compressed size.
    BuildWeb,
    /// Drive every view in headless Chromium and save screenshots into docs/screenshots/.
    Screenshots,
    /// Fuzz the spec against the service with schemathesis, as `cargo xtask test` does last.
    Fuzz,
    /// Create or update a stage on AWS (credentials and region from the standard chain).
    Deploy {
        /// The stage's name (1 to 12 lower-case letters, digits or hyphens).
        #[arg(long)]
        stage: String,
        /// The AWS region (default: the standard chain's).
        #[arg(long)]
        region: Option<String>,
        /// An address the alarms mail (it must confirm the subscription).
        #[arg(long)]
        alert_email: Option<String>,
        /// Leave Bedrock invocation logging alone (one setting per region: for a second stage
        /// in a region where another stage already logs invocations).
        #[arg(long)]
        no_invocation_logging: bool,
    },
    /// Remove everything a stage's deploy made.
    Destroy {
        #[arg(long)]
        stage: String,
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Subcommand)]
enum Artifact {
    /// The Lambda package: a static x86_64-unknown-linux-musl `bootstrap` in a zip.
    Lambda,
    /// An OCI image FROM scratch (podman): the same binary and the web app.
    Container,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Openapi => openapi::openapi(),
        Command::Dev { listen } => dev::dev(&listen),
        Command::Test => test::test(),
        Command::Lint => lint::lint(),
        Command::Build { artifact: None } => build::build(),
        Command::Build { artifact: Some(Artifact::Lambda) } => lambda::build_lambda().map(drop),
        Command::Build { artifact: Some(Artifact::Container) } => image::build_container().map(drop),
        Command::Bench { scenarios, seconds, rates, peer, more } => {
            bench::bench(&bench::BenchArgs { scenarios, seconds, rates, peer, more })
        }
        Command::BuildWeb => web::build_webapp(),
        Command::Screenshots => screenshots::screenshots(),
        Command::Fuzz => fuzz::fuzz_spec(),
        Command::Deploy { stage, region, alert_email, no_invocation_logging } => deploy::deploy(
            &deploy::Target { stage: &stage, region: region.as_deref() },
            alert_email.as_deref(),
            no_invocation_logging,
        ),
        Command::Destroy { stage, region } => {
            deploy::destroy(&deploy::Target { stage: &stage, region: region.as_deref() })
        }
    }
}
