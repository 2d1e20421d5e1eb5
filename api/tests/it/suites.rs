//! Suites that need a tool a machine may lack: a container engine for DynamoDB Local, and
//! Chromium with the built web app for the browser tests. Plain `cargo test` skips them with a
//! note naming the command that runs them; `cargo xtask test` sets
//! `TOKENMETER_REQUIRE_ALL_SUITES`, so there a missing tool fails the run instead of skipping.

use std::{io::Write, os::unix::net::UnixStream, path::PathBuf, process::Command, sync::Once};

use crate::helpers::test_env;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Suite {
    DynamoDb,
    Browser,
}

/// Whether `suite` can run here; when it cannot, says so (or fails, when every suite must run).
pub(crate) fn available(suite: Suite) -> bool {
    let missing = match suite {
        Suite::DynamoDb => dynamodb_missing(),
        Suite::Browser => browser_missing(),
    };
    let Some(why) = missing else { return true };
    assert!(test_env("TOKENMETER_REQUIRE_ALL_SUITES").is_none(), "the {suite:?} suite cannot run: {why}");
    // Once per suite, and past libtest's capture (which takes only `print!`-style output), so
    // the person running `cargo test` sees it.
    static SAID: [Once; 2] = [Once::new(), Once::new()];
    SAID[suite as usize].call_once(|| {
        let note =
            format!("note: skipping the {suite:?} suite: {why}; `cargo xtask test` installs what it needs and runs it");
        let _ = writeln!(std::io::stderr(), "{note}");
    });
    false
}

fn dynamodb_missing() -> Option<String> {
    if test_env("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        return None;
    }
    let host = test_env("DOCKER_HOST").unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let socket = host.strip_prefix("unix://").unwrap_or(&host);
    match UnixStream::connect(socket) {
        Ok(_) => None,
        Err(e) => Some(format!("no container engine answers at {host} ({e})")),
    }
}

fn browser_missing() -> Option<String> {
    let chromedriver = test_env("TOKENMETER_CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into());
    if Command::new(&chromedriver).arg("--version").output().is_err() {
        return Some(format!("{chromedriver} is not installed"));
    }
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../webapp/dist/index.html");
    if !dist.is_file() {
        return Some("the web app is not built (`cargo xtask build-web`)".into());
    }
    None
}
