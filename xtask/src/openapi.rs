//! `cargo xtask openapi`: regenerates the committed spec from the service's code.

use crate::shell::{cargo, project_root, run, step};

pub(crate) fn openapi() -> anyhow::Result<()> {
    step("regenerating openapi/openapi.json");
    run(cargo().args([
        "run",
        "--quiet",
        "-p",
        "tokenmeter-api",
        "--no-default-features",
        "--",
        "openapi",
        "--out",
        "openapi/openapi.json",
    ]))?;
    eprintln!("wrote {}", project_root().join("openapi/openapi.json").display());
    Ok(())
}
