//! `tokenmeter-bench`: the benchmark of the real thing (`cargo xtask bench` runs it).
//!
//! - `run [scenarios…]`: starts a stand-in Bedrock (its own process), the release `tokenmeter`
//!   binary (its own process, fresh embedded store per scenario, Bedrock pointed at the
//!   stand-in) and, with `--peer litellm`, LiteLLM proxy against the same stand-in; loads each
//!   the same way; prints the tables, appends them to `BENCHMARKS.md` and regenerates the
//!   README's performance table.
//! - `stand-in`: only the stand-in Bedrock, e.g. to point a service at by hand.
//! - `readme`: only regenerate the README's table from `BENCHMARKS.md`.

mod frames;
mod harness;
mod litellm;
mod load;
mod output;
mod proc;
mod process;
mod readme;
mod report;
mod scenarios;
mod schedule;
mod standin;
mod stats;
mod store_proxy;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    harness::{Bench, Options},
    litellm::LiteLlm,
    output::{line, note},
    process::StandIn,
    report::RunHeader,
};

#[derive(Parser)]
#[command(name = "tokenmeter-bench", about = "The benchmark of the real tokenmeter process")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure scenarios and record them in BENCHMARKS.md.
    Run(Box<RunArgs>),
    /// Serve only the stand-in Bedrock (prints `listening on <address>`).
    StandIn {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[command(flatten)]
        stand_in: StandInArgs,
    },
    /// Regenerate README.md's performance table from BENCHMARKS.md.
    Readme,
}

#[derive(clap::Args, Clone, Copy)]
struct StandInArgs {
    /// Milliseconds the stand-in takes to answer Converse (and to start a ConverseStream).
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Output tokens of every stand-in answer (fewer when a call caps them lower).
    #[arg(long, default_value_t = 32)]
    output_tokens: u64,
    /// Milliseconds between a stream's deltas.
    #[arg(long, default_value_t = 2)]
    stream_gap_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// LiteLLM proxy, from PyPI, pinned (bench/src/litellm.rs).
    Litellm,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenarios to run (invoke, stream, records, startup, quota, hot-user); all when none is named.
    scenarios: Vec<String>,
    /// Seconds each measured phase lasts.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of unmeasured load before a scenario's first phase, per target.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Open-loop rates, requests per second.
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
    rates: Vec<u32>,
    /// Connections of the closed loop (and clients of `records`).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Users the model calls go round robin over.
    #[arg(long, default_value_t = 64)]
    users: usize,
    /// Seconds a request may take, from when it was due, before it counts as a timeout.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Also measure a peer in the same run.
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// Worker processes of the peer (default: one per core).
    #[arg(long)]
    peer_workers: Option<usize>,
    #[command(flatten)]
    stand_in: StandInArgs,
    /// The release `tokenmeter` binary to measure.
    #[arg(long)]
    tokenmeter: PathBuf,
    /// Extra environment for the service, `NAME=value`, repeatable (for A/B runs, e.g. `RUST_LOG=warn`).
    #[arg(long = "service-env", value_parser = parse_env)]
    service_env: Vec<(String, String)>,
    /// How this run was started, as recorded (default: this program's command line).
    #[arg(long)]
    command: Option<String>,
    /// A remark recorded with the run (e.g. "machine busy: figures are noise").
    #[arg(long)]
    note: Option<String>,
    /// DynamoDB Local for the `hot-user` scenario (`cargo xtask bench` starts one and passes it).
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Print only: do not append to BENCHMARKS.md nor touch the README.
    #[arg(long)]
    no_record: bool,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("expected NAME=value, got {text:?}"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// The workspace root (BENCHMARKS.md, README.md, target/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ lives in the workspace").to_path_buf()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        // Interrupted, the run is dropped, and with it every process it started (LiteLLM leads
        // its own process group, which a Ctrl-C in the terminal would not reach).
        Command::Run(args) => {
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                done = run(*args) => done,
                _ = tokio::signal::ctrl_c() => bail!("interrupted; stopped what the bench started"),
                _ = terminate.recv() => bail!("terminated; stopped what the bench started"),
            }
        }
        Command::StandIn { listen, stand_in } => standin::run(listen, standin_settings(stand_in)).await,
        Command::Readme => readme::regenerate(&root()),
    }
}

fn standin_settings(args: StandInArgs) -> standin::Settings {
    standin::Settings {
        latency: Duration::from_millis(args.latency_ms),
        output_tokens: args.output_tokens,
        stream_gap: Duration::from_millis(args.stream_gap_ms),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let scenarios: Vec<String> = if args.scenarios.is_empty() {
        scenarios::ALL.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.scenarios.clone()
    };
    if let Some(unknown) = scenarios.iter().find(|s| !scenarios::ALL.contains(&s.as_str())) {
        bail!("no scenario '{unknown}'; the scenarios are {}", scenarios::ALL.join(", "));
    }
    if args.rates.is_empty() || args.rates.contains(&0) {
        bail!("--rates needs one or more positive rates, e.g. 100,500,1000");
    }
    if !args.tokenmeter.is_file() {
        bail!("no tokenmeter binary at {} (cargo build --release -p tokenmeter-api)", args.tokenmeter.display());
    }
    let root = root();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peer_workers = args.peer_workers.unwrap_or(cores);
    let command = args.command.clone().unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    let s = args.stand_in;
    let setup = format!(
        "stand-in Bedrock answers after {} ms with {} output tokens (stream: first event after {} ms, deltas {} ms \
         apart); {} s per phase after {} s of warm-up; timeout {} s{}",
        s.latency_ms,
        s.output_tokens,
        s.latency_ms,
        s.stream_gap_ms,
        args.seconds,
        args.warmup,
        args.timeout,
        if args.service_env.is_empty() {
            String::new()
        } else {
            let env: Vec<String> = args.service_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("; service environment {}", env.join(" "))
        }
    );
    let header = RunHeader::collect(&root, &command, setup, args.note.clone());
    line(&header.markdown());

    let client = load::client();
    let exe = std::env::current_exe()?;
    let settings = standin_settings(s);
    let standin = StandIn::start(&exe, settings.latency, settings.output_tokens, settings.stream_gap)?;
    let (peer, peer_venv) = match args.peer {
        None => (None, None),
        Some(Peer::Litellm) => {
            let install_root = root.clone();
            let venv = tokio::task::spawn_blocking(move || litellm::ensure_installed(&install_root)).await??;
            note(&format!("== starting {} ({peer_workers} workers)", LiteLlm::name()));
            let peer = LiteLlm::start(&venv, standin.addr, peer_workers, &client).await?;
            note(&format!("   ready after {:.1} s", peer.startup.as_secs_f64()));
            (Some(peer), Some(venv))
        }
    };
    let bench = Bench {
        options: Options {
            seconds: Duration::from_secs(args.seconds),
            warmup: Duration::from_secs(args.warmup),
            rates: args.rates.clone(),
            connections: args.connections,
            users: args.users.max(1),
            timeout: Duration::from_secs(args.timeout),
            latency: settings.latency,
        },
        client,
        standin,
        tokenmeter_binary: args.tokenmeter.clone(),
        service_env: args.service_env.clone(),
        peer,
        peer_venv,
        peer_workers,
        dynamodb: args.dynamodb_endpoint.clone(),
    };

    let mut sections = Vec::new();
    for scenario in &scenarios {
        note(&format!("== {scenario}"));
        let section = scenarios::run(scenario, &bench, !args.scenarios.is_empty()).await?;
        line(&format!("### {}\n\n{}", section.title, section.body));
        sections.push(section);
    }
    let figures: Vec<_> = sections.iter().flat_map(|s| s.figures.clone()).collect();
    line(&format!("### Summary\n\n{}", report::summary_table(&figures)));
    if args.no_record {
        note("(--no-record: BENCHMARKS.md and README.md left as they were)");
    } else {
        report::append(&root.join("BENCHMARKS.md"), &report::run_markdown(&header, &sections))?;
        readme::regenerate(&root)?;
        note("appended to BENCHMARKS.md; README.md's performance table regenerated");
    }
    let failures: Vec<String> = sections.iter().flat_map(|s| s.failures.clone()).collect();
    if !failures.is_empty() {
        bail!("the run found faults:\n{}", failures.join("\n"));
    }
    Ok(())
}
