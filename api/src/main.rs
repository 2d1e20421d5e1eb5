use std::path::PathBuf;

use clap::{Parser, Subcommand};
#[cfg(feature = "report")]
use tokenmeter_api::report;
use tokenmeter_api::{config::Config, server};

/// mimalloc: glibc's allocator cost a third of the usage-record throughput (`cargo xtask bench`
/// records: 15,000/s with it, 23,000–24,800/s with mimalloc, on 2 cores).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// tokenmeter: track and enforce LLM token usage per user.
#[derive(Parser)]
#[command(name = "tokenmeter", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Issue a new admin API key on the configured store and print it (stop the service first
    /// when it uses the embedded store).
    AdminKey,
    /// Print the usage report of a running service (`--hours 24 [--user ID] [--format table|json|csv]`).
    #[cfg(feature = "report")]
    Report(report::ReportArgs),
    /// Print the OpenAPI document (or write it to --out).
    Openapi {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            server::init_logging(cli.config.log_format);
            server::run(cli.config).await
        }
        Command::AdminKey => {
            let key = server::issue_admin_key(&cli.config).await?;
            print_output(&format!("{key}\n"));
            Ok(())
        }
        #[cfg(feature = "report")]
        Command::Report(args) => {
            print_output(&report::run(&args).await?);
            Ok(())
        }
        Command::Openapi { out } => {
            let spec = server::openapi_json()?;
            match out {
                Some(path) => std::fs::write(&path, spec)?,
                None => print_output(&spec),
            }
            Ok(())
        }
    }
}

/// What a command answers (a key, the spec), on standard output; logs go to standard error.
#[allow(clippy::print_stdout)]
fn print_output(text: &str) {
    print!("{text}");
}
