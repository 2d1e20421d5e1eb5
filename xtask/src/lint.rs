//! `cargo xtask lint`: formatting, clippy and rustdoc with warnings denied, `cargo deny`, and
//! `cargo machete`. `cargo xtask test` runs it first.

use std::process::Command;

use crate::{
    shell::{cargo, project_root, run, shown, step},
    tools::ensure_cargo_tool,
};

const CARGO_DENY: &str = "0.20.2";
const CARGO_MACHETE: &str = "0.9.2";

pub(crate) fn lint() -> anyhow::Result<()> {
    step("lint: formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    step("lint: clippy, warnings denied");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;

    step("lint: rustdoc, warnings denied");
    run(cargo().args(["doc", "--workspace", "--no-deps", "--quiet"]).env("RUSTDOCFLAGS", "-D warnings"))?;

    step("lint: cargo deny (licences, bans and duplicate versions, sources; advisories when reachable)");
    let deny = ensure_cargo_tool("cargo-deny", "cargo-deny", CARGO_DENY)?;
    run(Command::new(&deny).current_dir(project_root()).args(["check", "licenses", "bans", "sources"]))?;
    advisories(&deny)?;

    step("lint: cargo machete (unused dependencies)");
    let machete = ensure_cargo_tool("cargo-machete", "cargo-machete", CARGO_MACHETE)?;
    run(Command::new(machete).current_dir(project_root()))
}

/// The advisory check needs the RustSec database, which cargo-deny fetches from GitHub. Where
/// it cannot be fetched (this kind of machine reaches only the package registries) the check
/// is skipped with a note; a fetched database that finds an advisory fails the lint.
fn advisories(deny: &std::path::Path) -> anyhow::Result<()> {
    let mut check = Command::new(deny);
    check.current_dir(project_root()).args(["check", "advisories"]);
    let command = shown(&check);
    eprintln!("$ {command}");
    let out = check.output()?;
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("advisories: ok");
        return Ok(());
    }
    let unreachable = ["failed to fetch", "failed to open advisory database", "could not resolve", "Could not resolve"]
        .iter()
        .any(|sign| said.contains(sign));
    if unreachable {
        eprintln!(
            "NOTE: advisories skipped: the RustSec advisory database could not be fetched from this machine \
             (no network beyond the package registries). Run `{command}` where GitHub is reachable."
        );
        return Ok(());
    }
    eprintln!("{said}");
    anyhow::bail!("`{command}` found advisories")
}
