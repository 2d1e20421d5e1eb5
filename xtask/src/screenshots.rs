//! `cargo xtask screenshots`: every view of the web app, saved as PNGs into docs/screenshots/.

use std::process::Command;

use crate::{
    shell::{cargo, has, project_root, run, step},
    tools::ensure_browser,
    web::build_webapp,
};

/// Runs the browser tests with `TOKENMETER_SCREENSHOTS` set: each view is saved as a PNG.
pub(crate) fn screenshots() -> anyhow::Result<()> {
    ensure_browser()?;
    build_webapp()?;
    let dir = project_root().join("docs/screenshots");
    step(&format!("screenshots of every view into {}", dir.display()));
    run(cargo().args(["test", "--workspace", "--test", "it", "browser::"]).env("TOKENMETER_SCREENSHOTS", &dir))?;
    // Smaller PNGs for the repository when pngquant is there (apt-get install pngquant).
    if !has("pngquant") {
        eprintln!(
            "pngquant not found: screenshots kept as Chromium wrote them (apt-get install pngquant shrinks them)"
        );
        return Ok(());
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
