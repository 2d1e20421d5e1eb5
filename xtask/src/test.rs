//! `cargo xtask test`: every check and every suite, installing what they need. Lints first,
//! then cheap checks, then the suites on the embedded store and again on DynamoDB Local.
//! Suites that need a browser or a container engine never skip here: the run sets
//! `TOKENMETER_REQUIRE_ALL_SUITES`, so a missing tool fails instead.

use std::{process::Command, time::Instant};

use crate::{
    containers, lint,
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

    step("cheap checks: the repository's invariants (tidy), the generated client on wasm32");
    run(cargo().args(["test", "--quiet", "-p", "xtask", "tidy::"]))?;
    run(cargo().args(["check", "--quiet", "-p", "tokenmeter-client", "--target", "wasm32-unknown-unknown"]))?;

    // The browser tests (api/tests/it/browser.rs) drive the app built here.
    build_webapp()?;

    let suite = |cmd: &mut Command| {
        cmd.env("TOKENMETER_REQUIRE_ALL_SUITES", "1");
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

    if docker_host.is_some() {
        containers::remove_test_containers()?;
    }
    all?;
    on_dynamodb?;
    eprintln!("\nall checks and suites passed in {:.0?}", started.elapsed());
    Ok(())
}
