//! `cargo xtask screenshots`: every view of the web app at 1280, 768 and 390 px, saved as
//! PNGs into docs/screenshots/ (the browser tests take them, checking each with axe-core).

use std::process::Command;

use crate::{
    shell::{apt_install, cargo, has, project_root, run, step},
    tools::ensure_browser,
    web::{build_webapp, ensure_axe},
};

/// Runs the browser tests with `TOKENMETER_SCREENSHOTS` set: each view is saved as a PNG.
pub(crate) fn screenshots() -> anyhow::Result<()> {
    ensure_browser()?;
    ensure_axe()?;
    build_webapp()?;
    let dir = project_root().join("docs/screenshots");
    step(&format!("screenshots of every view into {}", dir.display()));
    run(cargo().args(["test", "--workspace", "--test", "it", "browser::"]).env("TOKENMETER_SCREENSHOTS", &dir))?;
    // Smaller PNGs for the repository (pngquant, from apt, installed when missing).
    if !has("pngquant") {
        apt_install(&["pngquant"])?;
    }
    let mut quantize = Command::new("pngquant");
    quantize.args(["--force", "--skip-if-larger", "--ext", ".png", "--quality", "70-95"]);
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "png") {
            quantize.arg(path);
        }
    }
    run(&mut quantize)?;
    eprintln!("saved {}", dir.display());
    Ok(())
}
