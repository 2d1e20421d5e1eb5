//! The tools tasks need, installed when missing (or named with the command that installs them).

use std::{path::PathBuf, process::Command};

use anyhow::Context;

use crate::shell::{apt_install, cargo, has, project_root, run};

/// Installs a rustup target if it is missing (rustup is the one toolchain manager here).
pub(crate) fn ensure_rust_target(target: &str) -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(project_root())
        .output()
        .context("rustup is required")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|t| t.trim() == target) {
        eprintln!("rust target {target}: installed");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]).current_dir(project_root()))
}

/// `cargo install`s `krate` at `version` unless `binary --version` already reports it.
/// `--locked` first (the crate's own tested lockfile); without it if the registry here lacks
/// a version that lockfile pins.
pub(crate) fn ensure_cargo_tool(krate: &str, binary: &str, version: &str) -> anyhow::Result<PathBuf> {
    let path = cargo_bin(binary);
    let reports = |candidate: &PathBuf| {
        Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).split_whitespace().any(|word| word == version))
    };
    if reports(&path) {
        eprintln!("{binary} {version}: installed");
        return Ok(path);
    }
    let install = |locked: bool| {
        let mut cmd = cargo();
        cmd.args(["install", krate, "--version", version]);
        if locked {
            cmd.arg("--locked");
        }
        run(&mut cmd)
    };
    install(true).or_else(|_| install(false))?;
    anyhow::ensure!(reports(&path), "{krate} {version} was installed but {} does not report it", path.display());
    Ok(path)
}

/// Where `cargo install` puts `binary`.
fn cargo_bin(binary: &str) -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
        .join(binary)
}

/// The wasm-bindgen CLI must match the `wasm-bindgen` crate in Cargo.lock exactly; installs
/// that version when it is missing (about 2 minutes). Answers the command to run.
pub(crate) fn ensure_wasm_bindgen() -> anyhow::Result<PathBuf> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .context("Cargo.lock has no wasm-bindgen package")?;
    // No --locked first: the CLI's own lockfile pins a crate version the registry here lacks.
    let path = cargo_bin("wasm-bindgen");
    let reports = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1) == Some(version.as_str()));
    if reports {
        eprintln!("wasm-bindgen {version}: installed");
        return Ok(path);
    }
    run(cargo().args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    Ok(path)
}

/// The browser tests need Chromium and its WebDriver server; installs them with apt when missing.
pub(crate) fn ensure_browser() -> anyhow::Result<()> {
    if has("chromium") && has("chromedriver") {
        eprintln!("chromium and chromedriver: installed");
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}
