//! Running commands and finding the project's places: the helpers every task uses.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The workspace root, whatever directory `cargo xtask` was started from.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Where cargo builds (`CARGO_TARGET_DIR`, or `target/`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// Cargo, run from the workspace root.
///
/// This is the `cargo` on `PATH` (rustup's proxy, which honours `rust-toolchain.toml`) rather
/// than `$CARGO`: the toolchain's own binary sets up a different environment for rustc, and
/// builds started through it do not reuse what `cargo` on the command line built.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(project_root());
    cmd
}

/// How `cmd` reads on a command line.
pub(crate) fn shown(cmd: &Command) -> String {
    let args = cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    format!("{} {args}", cmd.get_program().to_string_lossy())
}

/// Runs `cmd`, echoing it first, and fails if it fails.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = shown(cmd);
    eprintln!("$ {shown}");
    let status = cmd.status().with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Whether `tool --version` runs and succeeds.
pub(crate) fn has(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Announces the next step of a task.
pub(crate) fn step(what: &str) {
    eprintln!("\n== {what}");
}

pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs Debian `packages` with apt when run as root (or with sudo), or fails naming the
/// command that does.
pub(crate) fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let list = packages.join(" ");
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("install {list} with your package manager (on Debian: `apt-get install -y {list}`)");
    }
    let sudo = if is_root() { "" } else { "sudo " };
    run(Command::new("sh").arg("-c").arg(format!(
        "{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {list}"
    )))
}
