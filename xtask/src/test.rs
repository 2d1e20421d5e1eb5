//! `cargo xtask test`: every check and every suite, installing what they need. Lints first,
//! then cheap checks, then the suites on the embedded store and again on DynamoDB Local, then
//! schemathesis against the running service.
//! Suites that need a browser or a container engine never skip here: the run sets
//! `TOKENMETER_REQUIRE_ALL_SUITES`, so a missing tool fails instead.

use std::{process::Command, time::Instant};

use crate::{
    aws_tools::{cfn_lint, ensure_aws_tools},
    containers, fuzz, image, lambda, lint,
    shell::{cargo, run, step},
    tools::{ensure_browser, ensure_rust_target},
    web::{build_webapp, ensure_axe},
};

pub(crate) fn test() -> anyhow::Result<()> {
    let started = Instant::now();
    lint::lint()?;

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
    ensure_axe()?;
    let aws_tools = timed("the AWS tools (moto, cfn-lint)", ensure_aws_tools)?;

    step(
        "cheap checks: the repository's invariants (tidy), the web app's user build and the generated client on wasm32, the template",
    );
    run(cargo().args(["test", "--quiet", "-p", "xtask", "tidy::"]))?;
    // `cargo xtask lint` sees the web app with every feature; its user build (no administrator's
    // pages) must be as clean.
    run(cargo().args(["clippy", "--quiet", "-p", "tokenmeter-webapp", "--target", "wasm32-unknown-unknown"]).args([
        "--no-default-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    timed("cfn-lint", || cfn_lint(&aws_tools))?;

    // The browser tests (api/tests/it/browser.rs) drive the app built here.
    build_webapp()?;

    // What a deploy ships, tested as shipped: the Lambda tests run the package's `bootstrap`,
    // the image test runs the image (xtask/src/image.rs).
    let zip = timed("the Lambda package", lambda::build_lambda)?;
    let bootstrap = lambda::package_dir().join("bootstrap");
    lambda::extract_bootstrap(&zip, &bootstrap)?;
    let image = timed("the container image", || image::build_image(&lambda::static_binary()))?;

    let suite = |cmd: &mut Command| {
        cmd.env("TOKENMETER_REQUIRE_ALL_SUITES", "1");
        cmd.env("TOKENMETER_TEST_LAMBDA_BOOTSTRAP", &bootstrap);
        cmd.env("TOKENMETER_TEST_IMAGE", image);
        cmd.env("TOKENMETER_AWS_TOOLS", &aws_tools);
        if let Some(host) = &docker_host {
            cmd.env("DOCKER_HOST", host);
        }
    };
    step("unit and integration tests (spec drift and the store conformance suite included)");
    let mut all = cargo();
    all.args(["test", "--workspace", "--no-fail-fast"]);
    suite(&mut all);
    let all = run(&mut all);

    step("the HTTP integration tests again, on the DynamoDB store");
    let mut on_dynamodb = cargo();
    on_dynamodb
        // `--workspace`, as above, so the same feature set is reused instead of rebuilt.
        .args(["test", "--workspace", "--test", "it", "--"])
        // Store-level suites and the spec check do not depend on the app's store: run once.
        .args(["--skip", "store_conformance::", "--skip", "dynamodb::", "--skip", "openapi::"])
        .env("TOKENMETER_TEST_STORE", "dynamodb");
    suite(&mut on_dynamodb);
    let on_dynamodb = run(&mut on_dynamodb);

    let fuzzed = timed("schemathesis", fuzz::fuzz_spec);

    if docker_host.is_some() {
        containers::remove_test_containers()?;
    }
    image::remove_test_containers()?;
    all?;
    on_dynamodb?;
    fuzzed?;
    eprintln!("\nall checks and suites passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs a step and says how long it took (the new deploy steps' share of a run).
fn timed<T>(what: &str, step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let started = Instant::now();
    let done = step()?;
    eprintln!("{what}: {:.1?}", started.elapsed());
    Ok(done)
}
