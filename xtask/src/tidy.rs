//! The repository's invariants, checked as tests (`cargo test -p xtask tidy`), after
//! rust-analyzer's `xtask/src/tidy.rs`: what ARCHITECTURE.md promises about where things live
//! is enforced here, not only written down.
//!
//! - only `api/src/http` names poem (`poem`, `poem_openapi`, `poem_lambda`);
//! - `api/src/domain` names no AWS SDK, no redb, no HTTP stack, and no Bedrock model ID;
//! - `webapp/src/ui` (the component library) knows nothing of the API or the pages;
//! - only `xtask/deploy` names the AWS control-plane SDKs (CloudFormation, S3, Bedrock, …);
//! - every test that ARCHITECTURE.md or the README names as enforcing something exists;
//! - every `TOKENMETER_…` variable the service reads is in the README's configuration;
//! - no test is `#[ignore]`d, and no source file grows past 400 lines unless listed below
//!   with its reason.

#![cfg(test)]

use std::path::{Path, PathBuf};

use crate::shell::project_root;

/// Files allowed past [`MAX_LINES`], each with the reason it is one file.
const LONG_FILES: &[(&str, &str)] = &[];

const MAX_LINES: usize = 400;

/// Every `.rs` file under `dir` (relative to the root), with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![project_root().join(dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                found.push((path.strip_prefix(project_root()).expect("under the root").to_owned(), text));
            }
        }
    }
    found.sort();
    found
}

/// Lines of `text` (1-based numbers) that contain any of `words`, outside comments.
fn mentions(text: &str, words: &[&str]) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or_default();
            words.iter().any(|word| code.contains(word))
        })
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

/// Fails listing every line of a file under `dir` (but not under `except`) that mentions one of `words`.
fn forbid(dir: &str, except: Option<&str>, words: &[&str], rule: &str) {
    let mut violations = Vec::new();
    for (path, text) in sources(dir) {
        if except.is_some_and(|except| path.starts_with(except)) {
            continue;
        }
        for (line, code) in mentions(&text, words) {
            violations.push(format!("  {}:{line}: {code}", path.display()));
        }
    }
    assert!(violations.is_empty(), "{rule}; found:\n{}", violations.join("\n"));
}

#[test]
fn only_the_http_module_knows_poem() {
    forbid(
        "api/src",
        Some("api/src/http"),
        &["poem::", "poem_openapi", "poem_lambda", "use poem"],
        "only api/src/http may name poem, poem_openapi or poem_lambda (ARCHITECTURE.md: the HTTP edge)",
    );
}

#[test]
fn the_domain_knows_no_store_provider_or_transport() {
    forbid(
        "api/src/domain",
        None,
        &["aws_sdk", "aws_config", "aws_smithy", "redb", "poem", "reqwest", "anthropic.", "claude-"],
        "api/src/domain names no AWS SDK, redb, HTTP stack or Bedrock model ID (those live in store/, \
         model/ and the price data)",
    );
}

#[test]
fn only_the_deploy_tool_talks_to_aws_control_planes() {
    for dir in ["api", "client", "webapp", "xtask/src"] {
        forbid(
            dir,
            Some("xtask/src/tidy.rs"),
            &[
                "aws_sdk_cloudformation",
                "aws_sdk_s3",
                "aws_sdk_bedrock::",
                "aws_sdk_iam",
                "aws_sdk_lambda",
                "aws_sdk_sts",
            ],
            "only xtask/deploy makes or removes infrastructure (ARCHITECTURE.md): its SDK clients build only for \
             `cargo xtask deploy|destroy`",
        );
    }
}

#[test]
fn the_component_library_knows_nothing_of_the_api() {
    forbid(
        "webapp/src/ui",
        None,
        &["crate::api", "tokenmeter_client", "crate::pages"],
        "webapp/src/ui is the component library: it may not import the API layer or the pages",
    );
}

#[test]
fn no_test_is_ignored() {
    for dir in ["api", "bench/src", "client", "webapp", "xtask/src", "xtask/deploy"] {
        forbid(dir, Some("xtask/src/tidy.rs"), &["#[ignore"], "tests are never #[ignore]d to get green");
    }
}

#[test]
fn source_files_stay_small_or_say_why() {
    let mut long = Vec::new();
    for dir in ["api", "bench/src", "client/src", "webapp/src", "xtask/src", "xtask/deploy"] {
        for (path, text) in sources(dir) {
            let lines = text.lines().count();
            let listed = LONG_FILES.iter().any(|(file, _)| Path::new(file) == path);
            if lines > MAX_LINES && !listed {
                long.push(format!("  {} ({lines} lines)", path.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: split them, or list them in LONG_FILES (xtask/src/tidy.rs) with the reason:\n{}",
        long.join("\n")
    );
}

/// Test names the docs cite as `` test `module::name` ``.
fn cited_tests(doc: &str) -> Vec<String> {
    doc.split("test `")
        .skip(1)
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| name.contains("::") && !name.contains(' '))
        .map(str::to_owned)
        .collect()
}

/// Whether a test function `name` exists in a file whose path ends with the module before it.
fn test_exists(cited: &str, tests: &[(PathBuf, String)]) -> bool {
    let mut segments: Vec<&str> = cited.split("::").collect();
    let name = segments.pop().expect("split yields one segment");
    let module = segments.iter().rev().find(|s| **s != "tests").copied().unwrap_or_default();
    tests.iter().any(|(path, text)| {
        let in_module = path.file_stem().is_some_and(|stem| stem == module)
            || path.parent().and_then(Path::file_name).is_some_and(|dir| dir == module);
        let lines: Vec<&str> = text.lines().collect();
        in_module
            && lines.iter().enumerate().any(|(i, line)| {
                let line = line.trim_start();
                let defines =
                    line.starts_with(&format!("fn {name}(")) || line.starts_with(&format!("async fn {name}("));
                defines && lines[i.saturating_sub(3)..i].iter().any(|l| l.contains("test"))
            })
    })
}

#[test]
fn every_test_the_docs_cite_exists() {
    let tests: Vec<(PathBuf, String)> =
        ["api", "client", "webapp/src", "xtask/src", "xtask/deploy"].iter().flat_map(|dir| sources(dir)).collect();
    let mut missing = Vec::new();
    for doc in ["ARCHITECTURE.md", "README.md"] {
        let text = std::fs::read_to_string(project_root().join(doc)).expect("the doc exists");
        let cited = cited_tests(&text);
        assert!(doc != "ARCHITECTURE.md" || !cited.is_empty(), "ARCHITECTURE.md cites no test at all");
        missing.extend(cited.into_iter().filter(|t| !test_exists(t, &tests)).map(|t| format!("  {doc}: {t}")));
    }
    assert!(missing.is_empty(), "the docs cite tests that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn every_configuration_variable_is_documented() {
    let config = std::fs::read_to_string(project_root().join("api/src/config.rs")).expect("config.rs");
    let readme = std::fs::read_to_string(project_root().join("README.md")).expect("README.md");
    let missing: Vec<&str> = config
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.starts_with("TOKENMETER_") && !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "README.md does not document {missing:?}");
}
