//! `quota`: model calls by 64 users on a tier with several rules (issue 11: per day and month,
//! on requests, tokens and cost, one of them per model), so every call reserves and settles
//! against all of them; limits high enough that none is reached, so what is measured is the
//! cost of enforcing them. Also how often the service still asks CountTokens (issue 15 item 2).
//!
//! Written against issue 11's API (`PUT /tiers/{tier}`, `POST /users` with `tier`); until the
//! service has it (`GET /tiers` answers 404), the scenario says so.

use hyper::StatusCode;
use serde_json::{Value, json};

use super::invoke::{self, Kind};
use crate::{
    harness::{Bench, Metric, compare},
    load::Call,
    process::{ADMIN_KEY, Tokenmeter},
    report::{Figure, Section, rows_table},
};

const TIER: &str = "bench";

/// The tier's rules: every metric and period, one per model; limits no run reaches.
fn rules() -> Value {
    json!([
        { "metric": "requests", "period": "day", "limit": 1_000_000_000u64 },
        { "metric": "tokens", "period": "day", "limit": 1_000_000_000_000u64 },
        { "metric": "tokens", "period": "month", "limit": 1_000_000_000_000u64 },
        { "metric": "cost", "period": "month", "limit": 1_000_000 },
        { "metric": "tokens", "period": "day", "limit": 1_000_000_000_000u64, "model": "sonnet" },
    ])
}

pub(super) async fn run(bench: &Bench, named: bool) -> anyhow::Result<Section> {
    let tokenmeter = bench.start_tokenmeter().await?;
    if !has_quotas(bench, &tokenmeter).await? {
        let why = "needs quotas (issue 11): this tokenmeter answers 404 to `GET /tiers`";
        if named {
            anyhow::bail!("the quota scenario {why}");
        }
        let body = format!("Skipped: the scenario {why}.\n");
        return Ok(Section { title: "quota".to_owned(), body, ..Section::default() });
    }
    let tier = Call::put(&tokenmeter.base, &format!("/tiers/{TIER}"), Some(ADMIN_KEY), &json!({ "quotas": rules() }))?;
    tokenmeter.expect_ok(&bench.client, tier, "creating the tier").await?;
    let users = super::create_users(bench, &tokenmeter, "quota", bench.options.users, &json!({ "tier": TIER })).await?;
    let (baseline, targets) = invoke::targets(bench, &tokenmeter, &users, Kind::OneShot, "tokenmeter (quotas)")?;
    let rows = compare(bench, &baseline, &targets, Metric::Whole).await?;
    let rule_count = rules().as_array().map_or(0, Vec::len);
    let body = format!(
        "As `invoke`, but each of the {} users is on a tier of {rule_count} rules (requests per day; tokens per day, \
         per month, and per day for `sonnet`; cost per month) besides its lifetime limit, so every call reserves and \
         settles against {} limits. No limit is reached. LiteLLM enforces budgets only with a database, so it is not \
         in this table.\n\n{}",
        bench.options.users,
        rule_count + 1,
        rows_table(&rows, Metric::Whole)
    );
    let mut figures = invoke::figures(bench, &rows, "quota", "tokenmeter");
    figures.retain(|f| !f.figure.contains("peak RSS"));
    figures.push(Figure::new("quota: rules checked per call", (rule_count + 1).to_string(), "—"));
    Ok(Section { title: "quota".to_owned(), body, figures, ..Section::default() })
}

/// Whether this tokenmeter serves the tiers of issue 11.
async fn has_quotas(bench: &Bench, tokenmeter: &Tokenmeter) -> anyhow::Result<bool> {
    let (status, _) = Call::get(&tokenmeter.base, "/tiers", Some(ADMIN_KEY))?.json(&bench.client).await?;
    Ok(status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED)
}
