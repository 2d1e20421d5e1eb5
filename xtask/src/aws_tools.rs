//! The Python tools the deploy checks use, pinned, in a virtual environment under `target/`:
//! cfn-lint (the template's linter) and moto's server mode (the AWS emulator the deploy tests
//! run against; `xtask/deploy/tests/moto_server.py` starts it).

use std::{path::PathBuf, process::Command};

use crate::shell::{project_root, run};

/// The pins; changing them reinstalls the environment.
const PACKAGES: &[&str] = &["moto[server]==5.2.5", "cfn-lint==1.58.0"];

/// Creates the environment with the pinned packages unless it has them; answers its directory
/// (`TOKENMETER_AWS_TOOLS` for the tests).
pub(crate) fn ensure_aws_tools() -> anyhow::Result<PathBuf> {
    crate::python::ensure_venv("aws-tools", PACKAGES)
}

/// Lints the template; fails on any error or warning cfn-lint reports.
pub(crate) fn cfn_lint(tools: &std::path::Path) -> anyhow::Result<()> {
    let template = project_root().join("deploy/tokenmeter.yaml");
    run(Command::new(tools.join("bin/cfn-lint")).arg("--").arg(&template))?;
    eprintln!("cfn-lint: {} has no errors or warnings", template.display());
    Ok(())
}
