//! The Python tools the deploy checks use, pinned, in a virtual environment under `target/`:
//! cfn-lint (the template's linter) and moto's server mode (the AWS emulator the deploy tests
//! run against; `xtask/deploy/tests/moto_server.py` starts it).

use std::{path::PathBuf, process::Command};

use anyhow::Context;

use crate::shell::{apt_install, project_root, run, step, target_dir};

/// The pins; changing them reinstalls the environment.
const PACKAGES: &[&str] = &["moto[server]==5.2.5", "cfn-lint==1.58.0"];

/// The environment's directory (`TOKENMETER_AWS_TOOLS` for the tests).
pub(crate) fn aws_tools_dir() -> PathBuf {
    target_dir().join("aws-tools")
}

/// Creates the environment with the pinned packages unless it has them; answers its directory.
pub(crate) fn ensure_aws_tools() -> anyhow::Result<PathBuf> {
    let dir = aws_tools_dir();
    let marker = dir.join("tokenmeter-pins.txt");
    let pins = PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|installed| installed == pins) && dir.join("bin/python").is_file() {
        eprintln!("{}: installed in {}", PACKAGES.join(", "), dir.display());
        return Ok(dir);
    }
    step(&format!("installing {} into {}", PACKAGES.join(", "), dir.display()));
    let venv = |dir: &PathBuf| Command::new("python3").args(["-m", "venv", "--clear"]).arg(dir).status();
    if !venv(&dir).is_ok_and(|s| s.success()) {
        // Debian's Python makes environments only with its venv package.
        apt_install(&["python3-venv"])?;
        run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir))?;
    }
    run(Command::new(dir.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(PACKAGES))?;
    std::fs::write(&marker, pins).with_context(|| format!("writing {}", marker.display()))?;
    Ok(dir)
}

/// Lints the template; fails on any error or warning cfn-lint reports.
pub(crate) fn cfn_lint(tools: &std::path::Path) -> anyhow::Result<()> {
    let template = project_root().join("deploy/tokenmeter.yaml");
    run(Command::new(tools.join("bin/cfn-lint")).arg("--").arg(&template))?;
    eprintln!("cfn-lint: {} has no errors or warnings", template.display());
    Ok(())
}
