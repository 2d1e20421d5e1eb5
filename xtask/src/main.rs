//! `cargo xtask <command>`: the project's automation, in Rust.
//!
//! Cheap to compile on purpose (clap + anyhow): heavy work is delegated to `cargo` itself.
//! Every command is idempotent and installs what it needs, or names the command that does.

mod tasks;

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
    /// Run every test, installing what the tests need first.
    Test,
    /// Build release artifacts: the web app (webapp/dist) and the service binary.
    Build,
    /// Measure throughput, latency and start-up (release build, real embedded store).
    Bench {
        /// Seconds per scenario.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Scenarios to run (`records`, `invoke`, `startup`); all of them when none is named.
        scenarios: Vec<String>,
    },
    /// Build only the web app into webapp/dist and report its compressed size.
    BuildWeb,
    /// Drive every view in headless Chromium and save screenshots at 1280 and 768 px into
    /// docs/screenshots/.
    Screenshots,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Openapi => tasks::openapi(),
        Command::Dev { listen } => tasks::dev(&listen),
        Command::Test => tasks::test(),
        Command::Build => tasks::build(),
        Command::Bench { seconds, scenarios } => tasks::bench(seconds, &scenarios),
        Command::BuildWeb => tasks::build_webapp(),
        Command::Screenshots => tasks::screenshots(),
    }
}
