//! `cargo xtask deploy` and `cargo xtask destroy`: tokenmeter on AWS from one CloudFormation
//! template (`deploy/tokenmeter.yaml`), through the AWS SDK for Rust.
//!
//! Its own crate so that the SDK clients it needs (CloudFormation, S3, Bedrock's control plane)
//! build only for these commands: plain `cargo xtask` stays cheap.
//!
//! - [`deploy()`]: uploads the Lambda package and the HTTP API's document ([`spec`]) to a
//!   per-stage artifacts bucket, creates or updates the stack ([`stack`]), uploads the web app
//!   ([`web`]), turns on Bedrock invocation logging ([`logging`]); each step says whether it
//!   changed anything, and a run that changes nothing says so.
//! - [`destroy()`]: turns that logging off, empties the stack's buckets (every version), deletes
//!   the stack and the artifacts bucket, and says what it removed.

pub mod artifacts;
pub mod aws;
mod deploy;
mod destroy;
pub mod logging;
pub mod names;
pub mod spec;
pub mod stack;
pub mod web;

pub use aws::Aws;
pub use deploy::{DEFAULT_MODEL_ID, DeployRequest, Deployed, deploy};
pub use destroy::{Destroyed, destroy};
pub use names::{Names, Stage};

/// Where a command reports what it does, a line at a time (the terminal, or a test's log).
pub type Say<'a> = &'a (dyn Fn(&str) + Sync);
