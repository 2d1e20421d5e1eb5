//! The scenarios: each starts what it needs, measures, and answers a [`Section`] of the report.
//!
//! To add one: a module here with `pub(super) async fn run(bench: &Bench) -> anyhow::Result<Section>`,
//! its name in [`ALL`] and a line in [`run`].

mod hot_user;
mod invoke;
mod quota;
mod records;
mod startup;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{
    harness::Bench,
    load::Call,
    process::{ADMIN_KEY, Tokenmeter},
    report::Section,
};

/// Every scenario, in the order a full run measures them.
pub(crate) const ALL: &[&str] = &["invoke", "stream", "records", "startup", "quota", "hot-user"];

/// Runs one scenario. `named` says whether it was asked for by name (a scenario whose service
/// feature is missing fails then; in a run of all of them it reports itself skipped).
pub(crate) async fn run(name: &str, bench: &Bench, named: bool) -> anyhow::Result<Section> {
    match name {
        "invoke" => invoke::run(bench, invoke::Kind::OneShot).await,
        "stream" => invoke::run(bench, invoke::Kind::Stream).await,
        "records" => records::run(bench).await,
        "startup" => startup::run(bench).await,
        "quota" => quota::run(bench, named).await,
        "hot-user" => hot_user::run(bench, named).await,
        other => bail!("no scenario '{other}'; the scenarios are {}", ALL.join(", ")),
    }
}

/// The model as the SDK puts it in a Bedrock path: the service's default, URL-encoded.
pub(crate) const MODEL_PATH: &str = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0";

/// The prompt of every model call (about 30 tokens).
pub(crate) const PROMPT: &str =
    "In two sentences: why should a load test time each request from when it was scheduled to be sent?";

/// The output cap every model call asks for.
pub(crate) const MAX_OUTPUT_TOKENS: u64 = 64;

/// Users `prefix-0` … with (nearly) unlimited tokens and their own API keys: `(user, key)`.
/// `extra` adds fields to each `POST /users` body (e.g. a tier).
pub(crate) async fn create_users(
    bench: &Bench,
    tokenmeter: &Tokenmeter,
    prefix: &str,
    count: usize,
    extra: &Value,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut users = Vec::new();
    for i in 0..count {
        let user = format!("{prefix}-{i}");
        let mut body = json!({ "userId": user, "tokenLimit": (1u64 << 53) - 1, "issueKey": true });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let call = Call::post(&tokenmeter.base, "/users", Some(ADMIN_KEY), &body)?;
        let created = tokenmeter.expect_ok(&bench.client, call, &format!("creating user {user}")).await?;
        let key = created["apiKey"]
            .as_str()
            .or_else(|| created["apiKey"]["apiKey"].as_str())
            .with_context(|| format!("POST /users answered no apiKey: {created}"))?;
        users.push((user, key.to_owned()));
    }
    Ok(users)
}
