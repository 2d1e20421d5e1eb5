use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

mod containers;

/// The workspace root, whatever directory `cargo xtask` was started from.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// Runs `cmd`, echoing it first, and fails if it fails.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    );
    eprintln!("$ {shown}");
    let status = cmd.status().with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n== {what}");
}

pub fn openapi() -> anyhow::Result<()> {
    step("regenerating openapi/openapi.json");
    run(cargo().args(["run", "--quiet", "-p", "tokenmeter-api", "--", "openapi", "--out", "openapi/openapi.json"]))?;
    eprintln!("wrote {}", project_root().join("openapi/openapi.json").display());
    Ok(())
}

pub fn dev(listen: &str) -> anyhow::Result<()> {
    build_webapp()?;
    step(&format!(
        "serving the web app and the API on http://{listen} (docs at http://{listen}/docs), data in .tokenmeter/"
    ));
    run(cargo()
        .args(["run", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--", "serve"])
        .env("TOKENMETER_LISTEN", listen)
        .env("TOKENMETER_WEB_DIR", web_dist())
        .env_remove("TOKENMETER_DATA_DIR")
        .env("TOKENMETER_DATA_DIR", project_root().join(".tokenmeter")))
}

pub fn test() -> anyhow::Result<()> {
    step("installing what the tests need");
    ensure_rust_target("wasm32-unknown-unknown")?;
    let docker_host = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.is_empty() => {
            eprintln!("DynamoDB: using AWS_ENDPOINT_URL_DYNAMODB={endpoint}, starting no container");
            None
        }
        _ => Some(containers::prepare()?),
    };
    ensure_browser()?;

    step("formatting");
    run(cargo().args(["fmt", "--all", "--check"]))?;

    // The browser tests (api/tests/it/browser.rs) drive the app built here.
    build_webapp()?;

    let with_containers = |cmd: &mut Command| {
        if let Some(host) = &docker_host {
            cmd.env("DOCKER_HOST", host);
        }
    };
    step("unit and integration tests (spec drift and the store conformance suite included)");
    let mut all = cargo();
    all.args(["test", "--workspace", "--no-fail-fast"]);
    with_containers(&mut all);
    let all = run(&mut all);

    step("the HTTP integration tests again, on the DynamoDB store");
    let mut on_dynamodb = cargo();
    on_dynamodb
        // `--workspace`, as above, so the same feature set is reused instead of rebuilt.
        .args(["test", "--workspace", "--test", "it", "--"])
        // Store-level suites and the spec check do not depend on the app's store: run once.
        .args(["--skip", "store_conformance::", "--skip", "dynamodb::", "--skip", "openapi::"])
        .env("TOKENMETER_TEST_STORE", "dynamodb");
    with_containers(&mut on_dynamodb);
    let on_dynamodb = run(&mut on_dynamodb);

    if docker_host.is_some() {
        containers::remove_test_containers()?;
    }
    all?;
    on_dynamodb?;

    step("the generated client compiles for the browser");
    run(cargo().args(["check", "-p", "tokenmeter-client", "--target", "wasm32-unknown-unknown"]))?;
    Ok(())
}

pub fn build() -> anyhow::Result<()> {
    build_webapp()?;
    step("building the service (release)");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter"]))?;
    eprintln!("built {}", target_dir().join("release/tokenmeter").display());
    eprintln!("serve the web app from {} (TOKENMETER_WEB_DIR)", web_dist().display());
    Ok(())
}

pub fn bench(seconds: u64, scenarios: &[String]) -> anyhow::Result<()> {
    step("building the release binary and the bench");
    run(cargo().args(["build", "--release", "-p", "tokenmeter-api", "--bin", "tokenmeter", "--example", "bench"]))?;
    step("measuring");
    run(cargo()
        .args(["run", "--release", "--quiet", "-p", "tokenmeter-api", "--example", "bench", "--", &seconds.to_string()])
        .args(scenarios))
}

/// Runs the browser tests with `TOKENMETER_SCREENSHOTS` set: each view is saved as a PNG.
pub fn screenshots() -> anyhow::Result<()> {
    ensure_browser()?;
    build_webapp()?;
    let dir = project_root().join("docs/screenshots");
    step(&format!("screenshots of every view into {}", dir.display()));
    run(cargo().args(["test", "--workspace", "--test", "it", "browser::"]).env("TOKENMETER_SCREENSHOTS", &dir))?;
    // Smaller PNGs for the repository when pngquant is there (apt-get install pngquant).
    if Command::new("pngquant").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let mut quantize = Command::new("pngquant");
        quantize.args(["--force", "--skip-if-larger", "--ext", ".png", "--quality", "70-95"]);
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "png") {
                quantize.arg(path);
            }
        }
        run(&mut quantize)?;
    } else {
        eprintln!(
            "pngquant not found: screenshots kept as Chromium wrote them (apt-get install pngquant shrinks them)"
        );
    }
    eprintln!("saved {}", dir.display());
    Ok(())
}

/// Where the built web app goes; the service serves it from there (`TOKENMETER_WEB_DIR`).
fn web_dist() -> PathBuf {
    project_root().join("webapp/dist")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// The compressed size of the web app the budget is about (wasm + js, gzip -9), in bytes.
const WEB_BUDGET_BYTES: u64 = 400 * 1024;

/// Builds the web app: wasm32 in the `release-wasm` profile, then `wasm-bindgen --target web`
/// into `webapp/dist/assets/`, next to `index.html` and the style sheet. Reports the gzip
/// size of wasm + js against the budget.
pub fn build_webapp() -> anyhow::Result<()> {
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
    eprintln!(
        "web app: wasm + js = {} KB gzipped (budget {} KB){}",
        total / 1024,
        WEB_BUDGET_BYTES / 1024,
        if total <= WEB_BUDGET_BYTES { "" } else { "  <-- OVER BUDGET" }
    );
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

/// The wasm-bindgen CLI must match the `wasm-bindgen` crate in Cargo.lock exactly; installs
/// that version when it is missing (about 2 minutes). Answers the command to run.
fn ensure_wasm_bindgen() -> anyhow::Result<PathBuf> {
    let lock = std::fs::read_to_string(project_root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .context("Cargo.lock has no wasm-bindgen package")?;
    let installed = || -> Option<PathBuf> {
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .map(|home| home.join("bin/wasm-bindgen"));
        cargo_bin.into_iter().chain([PathBuf::from("wasm-bindgen")]).find(|candidate| {
            Command::new(candidate).arg("--version").output().is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1) == Some(version.as_str())
            })
        })
    };
    if let Some(found) = installed() {
        eprintln!("wasm-bindgen {version}: installed");
        return Ok(found);
    }
    // No --locked: the CLI's own lockfile pins a crate version the registry here lacks.
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
    ]))?;
    installed()
        .with_context(|| format!("wasm-bindgen {version} was installed but cannot be found; is ~/.cargo/bin on PATH?"))
}

/// The browser tests need Chromium and its WebDriver server; installs them with apt when
/// missing (Debian/Ubuntu), or names the command.
fn ensure_browser() -> anyhow::Result<()> {
    let has = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if has("chromium") && has("chromedriver") {
        eprintln!("chromium and chromedriver: installed");
        return Ok(());
    }
    let install = "apt-get update && apt-get install -y chromium chromium-driver";
    if !has("apt-get") {
        bail!("the browser tests need Chromium and chromedriver; install them (on Debian: `{install}`)");
    }
    let sudo = if std::env::var("USER").as_deref() == Ok("root") || is_root() { "" } else { "sudo " };
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver")))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs a rustup target if it is missing (rustup is the one toolchain manager here).
fn ensure_rust_target(target: &str) -> anyhow::Result<()> {
    let installed =
        Command::new("rustup").args(["target", "list", "--installed"]).output().context("rustup is required")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|t| t.trim() == target) {
        eprintln!("rust target {target}: installed");
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]))
}
