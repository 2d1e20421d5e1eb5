//! `cargo xtask build-web`: the Sycamore app, built for the browser into `webapp/dist/`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

use crate::{
    shell::{cargo, project_root, run, step, target_dir},
    tools::{ensure_rust_target, ensure_wasm_bindgen},
};

/// Where the built web app goes; the service serves it from there (`TOKENMETER_WEB_DIR`).
pub(crate) fn web_dist() -> PathBuf {
    project_root().join("webapp/dist")
}

/// The most a browser may download on a cold load (wasm + js, gzip -9); the build fails above it.
const WEB_BUDGET_BYTES: u64 = 400 * 1024;

/// Builds the web app: wasm32 in the `release-wasm` profile, then `wasm-bindgen --target web`
/// into `webapp/dist/assets/`, next to `index.html` and the style sheet. Fails when the gzip
/// size of wasm + js is over the budget.
pub(crate) fn build_webapp() -> anyhow::Result<()> {
    step("building the web app (wasm32, release-wasm)");
    ensure_rust_target("wasm32-unknown-unknown")?;
    let bindgen = ensure_wasm_bindgen()?;
    run(cargo().args([
        "build",
        "-p",
        "tokenmeter-webapp",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "release-wasm",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release-wasm/tokenmeter_webapp.wasm");
    let dist = web_dist();
    let assets = dist.join("assets");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    std::fs::create_dir_all(&assets)?;
    run(Command::new(bindgen)
        .args(["--target", "web", "--no-typescript", "--out-name", "tokenmeter_webapp", "--out-dir"])
        .arg(&assets)
        .arg(&wasm))?;
    let source = project_root().join("webapp");
    std::fs::copy(source.join("index.html"), dist.join("index.html"))?;
    for file in ["style.css", "favicon.svg"] {
        std::fs::copy(source.join(file), assets.join(file))?;
    }
    let mut total = 0;
    for file in ["tokenmeter_webapp_bg.wasm", "tokenmeter_webapp.js"] {
        let path = assets.join(file);
        let raw = std::fs::metadata(&path)?.len();
        let gzipped = gzip_size(&path)?;
        eprintln!("  {file}: {} KB, {} KB gzipped", raw / 1024, gzipped / 1024);
        total += gzipped;
    }
    eprintln!("web app: wasm + js = {} KB gzipped (budget {} KB)", total / 1024, WEB_BUDGET_BYTES / 1024);
    if total > WEB_BUDGET_BYTES {
        bail!("the web app is over its budget: {} KB gzipped > {} KB", total / 1024, WEB_BUDGET_BYTES / 1024);
    }
    eprintln!("built {}", dist.display());
    Ok(())
}

fn gzip_size(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("gzip is needed to measure the web app (apt-get install gzip)")?;
    if !out.status.success() {
        bail!("gzip failed on {}", path.display());
    }
    Ok(out.stdout.len() as u64)
}
