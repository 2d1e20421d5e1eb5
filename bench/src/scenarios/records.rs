//! `records`: usage records (`POST /users/{userId}/usage`) from a closed loop of 64 clients
//! against one user on the embedded store, and a check that nothing acknowledged was lost:
//! the user's total afterwards is exactly what the acknowledged records add up to.

use serde_json::json;

use crate::{
    harness::{Bench, Metric, Mode, Target, phase},
    load::{self, Call, Load},
    process::ADMIN_KEY,
    report::{Figure, Section, rows_table},
    stats::{ms, thousands},
};

/// Tokens per record.
const TOKENS: u64 = 3;
const USER: &str = "records-hot";

pub(super) async fn run(bench: &Bench) -> anyhow::Result<Section> {
    let tokenmeter = bench.start_tokenmeter().await?;
    let client = &bench.client;
    let create = Call::post(
        &tokenmeter.base,
        "/users",
        Some(ADMIN_KEY),
        &json!({ "userId": USER, "tokenLimit": (1u64 << 53) - 1 }),
    )?;
    tokenmeter.expect_ok(client, create, "creating the user").await?;
    let record = Call::post(
        &tokenmeter.base,
        &format!("/users/{USER}/usage"),
        Some(ADMIN_KEY),
        &json!({ "tokensConsumed": TOKENS }),
    )?;
    let target = Target {
        name: "tokenmeter".to_owned(),
        load: Load::new(vec![record], "tokenUsage"),
        pid: tokenmeter.pid(),
        upstream: false,
    };
    let o = &bench.options;
    load::closed_loop(client, &target.load, o.connections, o.warmup, o.timeout).await;

    let read = Call::get(&tokenmeter.base, &format!("/users/{USER}"), Some(ADMIN_KEY))?;
    let usage = |user: serde_json::Value| user["tokenUsage"].as_u64().unwrap_or(0);
    let before = usage(tokenmeter.expect_ok(client, read.clone(), "reading the user").await?);
    let row = phase(bench, &target, Mode::Closed(o.connections), Metric::Whole, None).await?;
    let after = usage(tokenmeter.expect_ok(client, read, "reading the user").await?);

    let acknowledged = row.outcome.ok * TOKENS;
    let stored = after - before;
    let verdict = match stored.cmp(&acknowledged) {
        std::cmp::Ordering::Equal => "0 lost".to_owned(),
        std::cmp::Ordering::Less => format!("**{} tokens LOST**", thousands(acknowledged - stored)),
        // Possible only for records that timed out here but were applied there.
        std::cmp::Ordering::Greater => {
            format!("{} tokens applied but not acknowledged", thousands(stored - acknowledged))
        }
    };
    let body = format!(
        "{} clients (a closed loop: each sends its next record when the last is answered) record {TOKENS} tokens at a \
         time for one user, for {} s, on the embedded store. Stored {} tokens = {} acknowledged records × {TOKENS}: \
         {verdict}.\n\n{}",
        o.connections,
        o.seconds.as_secs(),
        thousands(stored),
        thousands(row.outcome.ok),
        rows_table(std::slice::from_ref(&row), Metric::Whole)
    );
    let p99 = row.summary.map_or("—".to_owned(), |s| ms(s.p99));
    let figures = vec![
        Figure::new(
            format!("records: usage records/s, {} clients, one user", o.connections),
            format!("{}/s, p99 {p99} ms, {verdict}", thousands(row.outcome.achieved().round() as u64)),
            "≥ 30,000/s, 0 lost",
        ),
        Figure::new(
            "records: CPU per record",
            row.cpu_ms_per_call.map_or("—".to_owned(), |ms| format!("{ms:.3} ms")),
            "—",
        ),
    ];
    let failures = if stored < acknowledged {
        vec![format!("records: {verdict} (stored {stored}, acknowledged {acknowledged})")]
    } else {
        Vec::new()
    };
    Ok(Section { title: "records".to_owned(), body, figures, failures })
}
