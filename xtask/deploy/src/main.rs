//! `tokenmeter-deploy`: run by `cargo xtask deploy` and `cargo xtask destroy`, which build
//! what it needs first (the Lambda package, the web app) and pass their paths.

// A command-line tool: what it prints is its output.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tokenmeter_deploy::{Aws, DeployRequest, Stage, deploy, destroy};

#[derive(Parser)]
#[command(name = "tokenmeter-deploy", about = "tokenmeter on AWS from deploy/tokenmeter.yaml")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Target {
    /// The deployment's name (1 to 12 lower-case letters, digits or hyphens).
    #[arg(long)]
    stage: String,
    /// The AWS region (default: the standard chain's, e.g. AWS_REGION or the profile's).
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    /// Send every AWS call here instead (an emulator such as moto).
    #[arg(long, env = "AWS_ENDPOINT_URL", hide_env_values = true)]
    endpoint_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update the stage.
    Deploy {
        #[command(flatten)]
        target: Target,
        /// An address the alarms mail (it must confirm the subscription).
        #[arg(long)]
        alert_email: Option<String>,
        /// Leave Bedrock invocation logging alone: for a second stage in a region where
        /// another stage already logs invocations (the setting is one per region).
        #[arg(long)]
        no_invocation_logging: bool,
        /// The model or inference profile the service calls.
        #[arg(long, default_value = tokenmeter_deploy::DEFAULT_MODEL_ID)]
        model_id: String,
        #[arg(long)]
        lambda_zip: PathBuf,
        #[arg(long)]
        web_dir: PathBuf,
        #[arg(long)]
        template: PathBuf,
        #[arg(long)]
        openapi: PathBuf,
    },
    /// Remove everything the stage's deploy made.
    Destroy {
        #[command(flatten)]
        target: Target,
    },
}

fn say(line: &str) {
    eprintln!("{line}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Deploy {
            target,
            alert_email,
            no_invocation_logging,
            model_id,
            lambda_zip,
            web_dir,
            template,
            openapi,
        } => {
            let stage = Stage::parse(&target.stage)?;
            let aws = Aws::load(target.region, target.endpoint_url).await?;
            let request = DeployRequest {
                stage,
                alert_email: alert_email.filter(|e| !e.is_empty()),
                invocation_logging: !no_invocation_logging,
                model_id,
                lambda_zip,
                web_dir,
                template,
                openapi,
            };
            let deployed = deploy(&aws, &request, &say).await?;
            println!();
            for line in deployed.summary() {
                println!("{line}");
            }
        }
        Command::Destroy { target } => {
            let stage = Stage::parse(&target.stage)?;
            let aws = Aws::load(target.region, target.endpoint_url).await?;
            let destroyed = destroy(&aws, &stage, &say).await?;
            println!();
            if destroyed.removed.is_empty() {
                println!("nothing removed");
            } else {
                println!(
                    "stage {} is gone from {} in {}",
                    destroyed.names.stage, destroyed.names.account, destroyed.names.region
                );
            }
        }
    }
    Ok(())
}
