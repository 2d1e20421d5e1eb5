//! `cargo xtask bench`: the benchmark of the real thing. Builds the release `tokenmeter`
//! binary, then runs the bench crate (`bench/`, package `tokenmeter-bench`), which starts that
//! binary as its own process next to a stand-in Bedrock (and, with `--peer litellm`, LiteLLM
//! proxy), loads them, prints the tables, appends them to BENCHMARKS.md and regenerates the
//! README's performance table. The work is in the bench crate; this stays cheap.

use crate::shell::{cargo, run, step, target_dir};

/// What `cargo xtask bench` was asked.
pub(crate) struct BenchArgs {
    pub scenarios: Vec<String>,
    pub seconds: u64,
    pub rates: Option<String>,
    pub peer: Option<String>,
    /// Passed on to `tokenmeter-bench run` as they are (after `--`).
    pub more: Vec<String>,
}

pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    step("building the release binary");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    step("measuring (tokenmeter-bench)");
    let binary = target_dir().join("release").join("tokenmeter");
    // The command as typed (quoted where a shell needs it), recorded with the figures.
    let typed: Vec<String> = std::env::args().skip(1).map(|arg| quoted(&arg)).collect();
    let mut bench = cargo();
    bench
        .args(["run", "--release", "--quiet", "-p", "tokenmeter-bench", "--", "run"])
        .arg("--tokenmeter")
        .arg(&binary)
        .args(["--command", &format!("cargo xtask {}", typed.join(" "))])
        .args(["--seconds", &args.seconds.to_string()]);
    if let Some(rates) = &args.rates {
        bench.args(["--rates", rates]);
    }
    if let Some(peer) = &args.peer {
        bench.args(["--peer", peer]);
    }
    run(bench.args(&args.more).args(&args.scenarios))
}

/// `arg` as a shell would need it typed: as it is when plain, else in single quotes.
fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) { arg.to_owned() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn arguments_are_recorded_as_they_would_be_typed() {
        assert_eq!(quoted("--rates"), "--rates");
        assert_eq!(quoted("100,500,1000"), "100,500,1000");
        assert_eq!(quoted("a busy machine"), "'a busy machine'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }
}
