//! `cargo xtask bench`: the service's figures on this machine (see `api/examples/bench.rs`).

use crate::shell::{cargo, run, step};

pub(crate) fn bench(seconds: u64, scenarios: &[String]) -> anyhow::Result<()> {
    step("building the release binary and the bench");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--example", "bench"]))?;
    step("measuring");
    run(cargo()
        .args(["run", "--release", "--quiet", "-p", "tokenmeter-api", "--example", "bench", "--", &seconds.to_string()])
        .args(scenarios))
}
