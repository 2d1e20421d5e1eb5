//! `cargo xtask build`: release artifacts, the web app and the service binary.

use crate::{
    shell::{cargo, run, step, target_dir},
    web::{build_webapp, web_dist},
};

pub(crate) fn build() -> anyhow::Result<()> {
    build_webapp()?;
    step("building the service (release)");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    eprintln!("built {}", target_dir().join("release/tokenmeter").display());
    eprintln!("serve the web app from {} (TOKENMETER_WEB_DIR)", web_dist().display());
    Ok(())
}
