//! Python tools from PyPI, pinned, each in a virtual environment of its own under `target/`.

use std::{path::PathBuf, process::Command};

use anyhow::Context;

use crate::shell::{apt_install, run, step, target_dir};

/// The environment `target/<name>` with exactly `packages` (pinned `name==version`): made or
/// remade when the pins change, reused otherwise. Answers its directory.
pub(crate) fn ensure_venv(name: &str, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let dir = target_dir().join(name);
    let marker = dir.join("tokenmeter-pins.txt");
    let pins = packages.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == pins) && dir.join("bin/python").is_file() {
        eprintln!("{}: installed in {}", packages.join(", "), dir.display());
        return Ok(dir);
    }
    step(&format!("installing {} into {}", packages.join(", "), dir.display()));
    let venv = |dir: &PathBuf| Command::new("python3").args(["-m", "venv", "--clear"]).arg(dir).status();
    if !venv(&dir).is_ok_and(|s| s.success()) {
        // Debian's Python makes environments only with its venv package.
        apt_install(&["python3-venv"])?;
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir))?;
    }
    run(Command::new(dir.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(packages))?;
    std::fs::write(&marker, pins).with_context(|| format!("writing {}", marker.display()))?;
    Ok(dir)
}
