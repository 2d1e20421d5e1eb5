//! `cargo xtask build-web`: the Sycamore app, built for the browser into `webapp/dist/`.
//!
//! What a browser downloads on a cold load is kept small and cacheable: the wasm is built for
//! size (`opt-level = "z"`, then binaryen's `wasm-opt -Os`, see [`WASM_OPT_PASSES`]), every asset gets a content hash in
//! its name (so the service can tell browsers to keep it for a year), and every file is
//! written precompressed beside itself (`.br`, brotli 11; `.gz`, gzip -9) for the service to
//! answer `Accept-Encoding` with. The app is built twice (see [`BUILDS`]): the user's build, what
//! a cold load downloads, leaves the administrator's pages out; the full one is loaded only by
//! an administrator's session. The build fails when either load is over its budget.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::{
    shell::{apt_install, cargo, has, project_root, run, step, target_dir},
    tools::{ensure_rust_target, ensure_wasm_bindgen},
};

/// Where the built web app goes; the service serves it from there (`TOKENMETER_WEB_DIR`).
pub(crate) fn web_dist() -> PathBuf {
    project_root().join("webapp/dist")
}

/// One build of the app: the cargo arguments that choose its features, the name its files
/// take (`<stem>.js`, `<stem>_bg.wasm`), and the most a browser may download to run it:
/// index.html and every file it loads, as the service sends them to a browser that accepts
/// brotli (every current one does, Chromium over plain-HTTP localhost too: the browser test
/// measures it).
struct Build {
    stem: &'static str,
    cargo_args: &'static [&'static str],
    load: &'static str,
    budget_bytes: u64,
}

impl Build {
    /// The two files of this build, as `index.html` names them before hashing.
    fn files(&self) -> [String; 2] {
        [format!("{}.js", self.stem), format!("{}_bg.wasm", self.stem)]
    }
}

/// The user's build (sign-in, a user's dashboard, chat and snippets; issue 13's 250 KB cold
/// load) and the full one, with the administrator's pages (`webapp/src/bundle.rs` says which a
/// page runs).
const BUILDS: [Build; 2] = [
    Build {
        stem: "tokenmeter_webapp",
        cargo_args: &["--no-default-features"],
        load: "cold load",
        budget_bytes: 250 * 1024,
    },
    Build { stem: "tokenmeter_admin", cargo_args: &[], load: "administrator's load", budget_bytes: 300 * 1024 },
];

/// The files every build's page loads besides its own two.
const SHARED_ASSETS: [&str; 2] = ["style.css", "favicon.svg"];

/// The axe-core version the browser tests inject (npm, into `target/npm`).
const AXE_CORE: &str = "axe-core@4.10.3";

/// Builds the web app: wasm32 in the `release-wasm` profile, `wasm-bindgen --target web`,
/// `wasm-opt`, esbuild's minifier for the JS and CSS, content-hashed names, precompressed copies, and the budget check.
pub(crate) fn build_webapp() -> anyhow::Result<()> {
    step("building the web app (wasm32, release-wasm)");
    ensure_rust_target("wasm32-unknown-unknown")?;
    let bindgen = ensure_wasm_bindgen()?;
    ensure_apt_tool("wasm-opt", "binaryen")?;
    ensure_apt_tool("brotli", "brotli")?;
    ensure_apt_tool("esbuild", "esbuild")?;
    let staging = target_dir().join("webapp-staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    for build in &BUILDS {
        eprintln!("  {} ({}):", build.stem, build.load);
        run(cargo()
            .args(["build", "-p", "tokenmeter-webapp", "--lib", "--target", "wasm32-unknown-unknown"])
            .args(["--profile", "release-wasm"])
            .args(build.cargo_args))?;
        let wasm = target_dir().join("wasm32-unknown-unknown/release-wasm/tokenmeter_webapp.wasm");
        optimize_wasm(&bindgen, &wasm, &staging, build.stem)?;
        let [js, _] = build.files();
        minify(&staging.join(js))?;
    }
    let source = project_root().join("webapp");
    for file in SHARED_ASSETS {
        std::fs::copy(source.join(file), staging.join(file))?;
    }
    minify(&staging.join("style.css"))?;

    let dist = web_dist();
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    let assets = dist.join("assets");
    std::fs::create_dir_all(&assets)?;
    let mut index = std::fs::read_to_string(source.join("index.html")).context("reading webapp/index.html")?;
    // Each file `index.html` loads, by its source name, and where the build put it.
    let mut built = std::collections::HashMap::new();
    for name in BUILDS.iter().flat_map(Build::files).chain(SHARED_ASSETS.map(String::from)) {
        let bytes = std::fs::read(staging.join(&name)).with_context(|| format!("reading the built {name}"))?;
        let hashed = assets.join(hashed_name(&name, &bytes));
        let reference = format!("/assets/{name}");
        anyhow::ensure!(index.contains(&reference), "webapp/index.html does not load {reference}");
        index = index.replace(&reference, &format!("/assets/{}", file_name(&hashed)));
        std::fs::write(&hashed, bytes)?;
        precompress(&hashed)?;
        built.insert(name, hashed);
    }
    std::fs::write(dist.join("index.html"), index)?;
    precompress(&dist.join("index.html"))?;
    for build in &BUILDS {
        let own = build.files();
        let files = own.iter().map(String::as_str).chain(SHARED_ASSETS).map(|name| built[name].clone());
        let load: Vec<PathBuf> = std::iter::once(dist.join("index.html")).chain(files).collect();
        check_budget(build, &load)?;
    }
    eprintln!("built {}", dist.display());
    Ok(())
}

/// `tokenmeter_webapp_bg.wasm` → `tokenmeter_webapp_bg-<first 16 hex digits of SHA-256>.wasm`.
fn hashed_name(name: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hash = digest.iter().take(8).fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash}.{ext}"),
        None => format!("{name}-{hash}"),
    }
}

/// The wasm-opt passes: `-Os` with functions that have one caller inlined only when they are
/// small (`-ocimfs 20`; by default every one is). Measured on this app with binaryen 108
/// (brotli of the wasm, run after wasm-bindgen at web3): rustc's `opt-level = "z"` alone
/// 254.6 KB (`"s"`: 271.4 KB); `-Oz` 280.0 KB (inlining every one-caller function makes code
/// brotli cannot share: 286.6 KB with that pass alone); `-Oz -ocimfs 20` 250.2 KB; `-Os -ocimfs
/// 20` 248.2 KB; `--converge` saves 0.2 KB more for twice the time. Run before wasm-bindgen (as
/// it must be, see [`optimize_wasm`]) `-Os -ocimfs 20` saves less: 252.2 → 248.4 KB.
const WASM_OPT_PASSES: &[&str] = &["-Os", "--one-caller-inline-max-function-size", "20"];

/// wasm-bindgen into `staging`, on rustc's wasm or on `wasm-opt` [`WASM_OPT_PASSES`]'s, whichever
/// is smaller over the wire (brotli): wasm-opt always shrinks the raw file, but its output can
/// compress worse. Reports both.
///
/// wasm-opt runs before wasm-bindgen, not after: binaryen 108 (Debian's) reads the `externref`
/// table wasm-bindgen adds as `anyref` and writes it so, and a browser then refuses every JS
/// value put in it (`WebAssembly.Table.set(): … must be … a Wasm function object`): the app
/// never starts.
fn optimize_wasm(bindgen: &Path, wasm: &Path, staging: &Path, stem: &str) -> anyhow::Result<()> {
    let optimized = staging.join("wasm-opt.wasm");
    // The features rustc's wasm32 target enables by default, so wasm-opt accepts the module.
    run(Command::new("wasm-opt")
        .args(WASM_OPT_PASSES)
        .args(["--strip-debug", "--strip-producers"])
        .args([
            "--enable-bulk-memory",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-reference-types",
            "--enable-multivalue",
        ])
        .arg(wasm)
        .arg("-o")
        .arg(&optimized))?;
    let (plain, opt) = (staging.join(format!("{stem}-rustc")), staging.join(format!("{stem}-wasm-opt")));
    let bind = |input: &Path, out: &Path| {
        run(Command::new(bindgen)
            .args(["--target", "web", "--no-typescript", "--out-name", stem, "--out-dir"])
            .arg(out)
            .arg(input))
    };
    bind(wasm, &plain)?;
    // wasm-bindgen reads its descriptions by running functions of the module; an optimizer that
    // reshapes them (`-Oz` does, here) makes it fail: rustc's wasm is then the one.
    if let Err(err) = bind(&optimized, &opt) {
        eprintln!("  wasm-bindgen cannot read wasm-opt's output ({err:#}): keeping rustc's");
        return move_built(&plain, staging, stem);
    }
    let built = |dir: &Path| dir.join(format!("{stem}_bg.wasm"));
    let (before, after) = (std::fs::metadata(built(&plain))?.len(), std::fs::metadata(built(&opt))?.len());
    let (before_br, after_br) = (brotli_size(&built(&plain))?, brotli_size(&built(&opt))?);
    eprintln!(
        "  wasm: rustc {:.1} KB ({:.1} KB brotli); with wasm-opt {} {:.1} KB ({:.1} KB brotli)",
        kb(before),
        kb(before_br),
        WASM_OPT_PASSES.join(" "),
        kb(after),
        kb(after_br)
    );
    let kept = if after_br < before_br {
        eprintln!("  keeping wasm-opt's output (smaller over the wire)");
        opt
    } else {
        eprintln!("  keeping rustc's output: wasm-opt's compresses worse");
        plain
    };
    move_built(&kept, staging, stem)
}

fn move_built(from: &Path, staging: &Path, stem: &str) -> anyhow::Result<()> {
    for file in [format!("{stem}.js"), format!("{stem}_bg.wasm")] {
        std::fs::rename(from.join(&file), staging.join(&file))?;
    }
    Ok(())
}

/// esbuild's `--minify`, in place: wasm-bindgen's glue is written to be read (7.4 KB brotli,
/// 5.7 KB minified) and so is the stylesheet (4.5 KB, 4.1 KB).
fn minify(file: &Path) -> anyhow::Result<()> {
    let mut outfile = std::ffi::OsString::from("--outfile=");
    outfile.push(file);
    run(Command::new("esbuild").arg(file).args(["--minify", "--log-level=warning", "--allow-overwrite"]).arg(outfile))
}

fn brotli_size(file: &Path) -> anyhow::Result<u64> {
    let out = Command::new("brotli").args(["--quality=11", "--stdout"]).arg(file).output().context("brotli")?;
    anyhow::ensure!(out.status.success(), "brotli failed on {}", file.display());
    Ok(out.stdout.len() as u64)
}

/// Writes `file.br` (brotli, quality 11) and `file.gz` (gzip -9, no name or time stamp).
fn precompress(file: &Path) -> anyhow::Result<()> {
    let brotli = file.with_file_name(format!("{}.br", file_name(file)));
    run(Command::new("brotli").args(["--quality=11", "--force", "-o"]).arg(&brotli).arg(file))?;
    let gzip = Command::new("gzip").args(["-9", "--no-name", "--stdout"]).arg(file).output().context("gzip")?;
    if !gzip.status.success() {
        bail!("gzip failed on {}", file.display());
    }
    std::fs::write(file.with_file_name(format!("{}.gz", file_name(file))), gzip.stdout)?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reports each file of `build`'s load (raw, gzip, brotli) and fails when the brotli total is
/// over its budget.
fn check_budget(build: &Build, load: &[PathBuf]) -> anyhow::Result<()> {
    let size = |path: PathBuf| std::fs::metadata(&path).map(|m| m.len()).with_context(|| path.display().to_string());
    let (mut raw_total, mut gz_total, mut br_total) = (0, 0, 0);
    for file in load {
        let name = file_name(file);
        let raw = size(file.clone())?;
        let gz = size(file.with_file_name(format!("{name}.gz")))?;
        let br = size(file.with_file_name(format!("{name}.br")))?;
        eprintln!("  {name}: {:.1} KB, gzip {:.1} KB, brotli {:.1} KB", kb(raw), kb(gz), kb(br));
        (raw_total, gz_total, br_total) = (raw_total + raw, gz_total + gz, br_total + br);
    }
    let budget = build.budget_bytes / 1024;
    eprintln!(
        "web app {}: {:.1} KB raw, {:.1} KB gzip, {:.1} KB brotli (budget {budget} KB over the wire, brotli)",
        build.load,
        kb(raw_total),
        kb(gz_total),
        kb(br_total),
    );
    if br_total > build.budget_bytes {
        bail!("the web app's {} is over its budget: {:.1} KB brotli > {budget} KB", build.load, kb(br_total));
    }
    Ok(())
}

fn kb(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// Installs the Debian package `package` when `tool` is missing.
fn ensure_apt_tool(tool: &str, package: &str) -> anyhow::Result<()> {
    if has(tool) {
        return Ok(());
    }
    apt_install(&[package])
}

/// axe-core for the browser tests' accessibility checks, installed with npm into
/// `target/npm` when missing. Answers the script the tests inject.
pub(crate) fn ensure_axe() -> anyhow::Result<PathBuf> {
    let prefix = target_dir().join("npm");
    let script = prefix.join("node_modules/axe-core/axe.min.js");
    let version = AXE_CORE.trim_start_matches("axe-core@");
    let installed = std::fs::read_to_string(prefix.join("node_modules/axe-core/package.json"))
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{version}\"")));
    if installed && script.is_file() {
        eprintln!("{AXE_CORE}: installed");
        return Ok(script);
    }
    if !has("npm") {
        apt_install(&["npm"])?;
    }
    std::fs::create_dir_all(&prefix)?;
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(AXE_CORE))?;
    anyhow::ensure!(script.is_file(), "npm installed {AXE_CORE} but {} is missing", script.display());
    Ok(script)
}
