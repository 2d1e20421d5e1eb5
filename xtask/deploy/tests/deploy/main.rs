//! The deploy tool's integration tests: one binary.
//!
//! - `template`: what deploy/tokenmeter.yaml promises, read as a file: CloudFront sends every
//!   streaming operation of the contract to the Function URL and the rest to the HTTP API, the
//!   saved queries are the files in deploy/queries, the template fits in one request.
//! - `lifecycle`: deploy, deploy again, destroy, against moto's server mode as the AWS
//!   endpoint (started on a free port for each test), checking through the real AWS SDK
//!   clients what moto made, and that nothing is left.

// Test output: notes on what a test could not check are printed for the person running it.
#![allow(clippy::print_stderr)]

mod lifecycle;
mod moto;
mod template;

use std::path::{Path, PathBuf};

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A variable of the test run's environment, unset when empty.
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The template, parsed (CloudFormation's short tags such as `!Ref` are kept as tagged values).
pub(crate) fn template() -> serde_yaml::Value {
    let text = std::fs::read_to_string(root().join("deploy/tokenmeter.yaml")).expect("deploy/tokenmeter.yaml");
    serde_yaml::from_str(&text).expect("the template is YAML")
}
