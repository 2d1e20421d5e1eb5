//! `hot-user`: one user called by 64 connections through four tokenmeter processes sharing one
//! DynamoDB Local table (issue 15 item 4), with leases off and then on. Every store request
//! the services make passes a counting proxy, so store writes per call are measured on the
//! wire. Then the same four processes spend a capped user's budget to the end: usage must stay
//! within the limit and equal what the answered calls consumed.

use serde_json::{Value, json};

use super::{MAX_OUTPUT_TOKENS, PROMPT};
use crate::{
    harness::Bench,
    load::{self, Call, Load, Outcome},
    proc,
    process::{ADMIN_KEY, Tokenmeter},
    report::{Figure, Section},
    stats::{ms, thousands},
    store_proxy::{StoreCalls, StoreProxy},
};

const INSTANCES: usize = 4;
/// The capped user's limit, in tokens.
const CAP: u64 = 60_000;

/// What one setting of `TOKENMETER_LEASES` measured.
struct Measured {
    leases: &'static str,
    outcome: Outcome,
    store: StoreCalls,
    /// Calls admitted from a lease (the services' `tokenmeter_lease_calls_total`).
    lease_calls: u64,
    cpu_ms_per_call: Option<f64>,
    /// The hot user's usage rise against what the answered calls consumed.
    accounting: String,
    /// The capped user: answered calls, usage, and whether it stayed within the limit.
    capped: Capped,
}

struct Capped {
    answered: u64,
    usage: u64,
    consumed: u64,
}

pub(super) async fn run(bench: &Bench, named: bool) -> anyhow::Result<Section> {
    let Some(endpoint) = &bench.dynamodb else {
        let why = "needs DynamoDB Local (`cargo xtask bench` starts it; or pass --dynamodb-endpoint)";
        if named {
            anyhow::bail!("the hot-user scenario {why}");
        }
        let body = format!("Skipped: the scenario {why}.\n");
        return Ok(Section { title: "hot-user".to_owned(), body, ..Section::default() });
    };
    let proxy = StoreProxy::start(endpoint, bench.client.clone()).await?;
    let mut measured = Vec::new();
    for leases in ["off", "on"] {
        measured.push(measure(bench, &proxy, leases).await?);
    }
    let o = &bench.options;
    let mut table =
        "| leases | calls/s | p50 / p99 | errors | from leases | store writes per call | store reads per call | \
                     CPU per call (4 services) | hot user's usage | capped user |\n\
                     | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            .to_owned();
    let mut failures = Vec::new();
    for m in &measured {
        let per = |n: u64| format!("{:.2}", n as f64 / m.outcome.ok.max(1) as f64);
        let latency =
            m.outcome.latencies.summary().map_or("—".to_owned(), |s| format!("{} / {} ms", ms(s.p50), ms(s.p99)));
        let c = &m.capped;
        let capped = format!(
            "{} calls, {} of {} tokens{}",
            thousands(c.answered),
            thousands(c.usage),
            thousands(CAP),
            if c.usage == c.consumed { ", = answered" } else { ", **≠ answered**" }
        );
        if c.usage > CAP {
            failures.push(format!("hot-user (leases {}): usage {} passed the limit {CAP}", m.leases, c.usage));
        }
        if c.usage != c.consumed {
            failures.push(format!("hot-user (leases {}): usage {} ≠ answered {}", m.leases, c.usage, c.consumed));
        }
        table.push_str(&format!(
            "| {} | {} | {latency} | {} | {:.0} % | {} | {} | {} | {} | {capped} |\n",
            m.leases,
            thousands(m.outcome.achieved().round() as u64),
            m.outcome.errors_text(),
            m.lease_calls as f64 * 100.0 / m.outcome.ok.max(1) as f64,
            per(m.store.writes),
            per(m.store.reads),
            m.cpu_ms_per_call.map_or("—".to_owned(), |v| format!("{v:.2} ms")),
            m.accounting,
        ));
    }
    let body = format!(
        "`POST /invoke/{{userId}}` for one user, round robin over {INSTANCES} tokenmeter processes on one DynamoDB Local \
         table (in a container on the same machine), from a closed loop of {} connections for {} s; the stand-in \
         answers after {} ms. Store requests counted by a proxy in front of DynamoDB Local (a `TransactWriteItems` \
         counts once). Then a user with a {} -token limit is called by the same loop for {} s, past its limit.\n\n{table}",
        o.connections,
        o.seconds.as_secs(),
        o.latency.as_millis(),
        thousands(CAP),
        o.seconds.as_secs().min(5),
    );
    let figures = measured
        .iter()
        .map(|m| {
            Figure::new(
                format!("hot-user: one user, {INSTANCES} instances, DynamoDB Local, leases {}", m.leases),
                format!(
                    "{} calls/s, {:.2} store writes per call, capped user {} of {} tokens",
                    thousands(m.outcome.achieved().round() as u64),
                    m.store.writes as f64 / m.outcome.ok.max(1) as f64,
                    thousands(m.capped.usage),
                    thousands(CAP)
                ),
                "≥ 3,000 calls/s, < 0.2 writes per call, 0 overshoot",
            )
        })
        .collect();
    Ok(Section { title: "hot-user".to_owned(), body, figures, failures })
}

async fn measure(bench: &Bench, proxy: &StoreProxy, leases: &'static str) -> anyhow::Result<Measured> {
    crate::output::note(&format!("   {INSTANCES} instances on DynamoDB Local, leases {leases}"));
    let mut env = bench.service_env.clone();
    env.extend([
        ("TOKENMETER_STORE".to_owned(), "dynamodb".to_owned()),
        ("TOKENMETER_TABLE".to_owned(), format!("bench-hot-{leases}-{}", std::process::id())),
        ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), format!("http://{}", proxy.addr)),
        ("TOKENMETER_LEASES".to_owned(), leases.to_owned()),
    ]);
    // The first creates the table; the others find it.
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(Tokenmeter::start(&bench.tokenmeter_binary, bench.standin.addr, &env, &bench.client).await?);
    }
    let client = &bench.client;
    let first = &instances[0];
    let mut users = super::create_users(bench, first, "hot", 1, &json!({})).await?;
    users.extend(super::create_users(bench, first, "capped", 1, &json!({ "tokenLimit": CAP })).await?);
    let [(hot_user, hot), (capped_user, capped_key)] = <[_; 2]>::try_from(users).expect("two users");
    let invoke = json!({ "prompt": PROMPT, "maxOutputTokens": MAX_OUTPUT_TOKENS });
    let load_for = |user: &str, key: &str| -> anyhow::Result<Load> {
        let calls = instances
            .iter()
            .map(|i| Call::post(&i.base, &format!("/invoke/{user}"), Some(key), &invoke))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Load::new(calls, "\"stopReason\""))
    };
    let o = &bench.options;
    let per_call = tokens_of(&first.expect_ok(client, load_for(&hot_user, &hot)?.calls[0].clone(), "one call").await?);

    let hot_load = load_for(&hot_user, &hot)?;
    load::closed_loop(client, &hot_load, o.connections, o.warmup, o.timeout).await;
    bench.standin.settle(client).await?;
    let usage_before = usage(bench, first, &hot_user).await?;
    let (store_before, cpu_before, leased_before) = (proxy.calls(), cpu(&instances), leased(bench, &instances).await?);
    let outcome = load::closed_loop(client, &hot_load, o.connections, o.seconds, o.timeout).await;
    let cpu_after = cpu(&instances);
    bench.standin.settle(client).await?;
    let store = proxy.calls().since(&store_before);
    let lease_calls = leased(bench, &instances).await? - leased_before;
    let risen = usage(bench, first, &hot_user).await? - usage_before;
    let answered = outcome.ok * per_call;
    let accounting = match risen.cmp(&answered) {
        std::cmp::Ordering::Equal => "= answered".to_owned(),
        std::cmp::Ordering::Greater => {
            format!("answered + {} (calls that timed out here)", thousands(risen - answered))
        }
        std::cmp::Ordering::Less => format!("**{} tokens LOST**", thousands(answered - risen)),
    };
    let cpu_ms_per_call =
        (outcome.ok > 0).then(|| cpu_after.saturating_sub(cpu_before).as_secs_f64() * 1e3 / outcome.ok as f64);

    let capped_run = load::closed_loop(
        client,
        &load_for(&capped_user, &capped_key)?,
        o.connections,
        o.seconds.min(std::time::Duration::from_secs(5)),
        o.timeout,
    )
    .await;
    bench.standin.settle(client).await?;
    let capped = Capped {
        answered: capped_run.ok,
        usage: usage(bench, first, &capped_user).await?,
        consumed: capped_run.ok * per_call,
    };
    Ok(Measured { leases, outcome, store, lease_calls, cpu_ms_per_call, accounting, capped })
}

async fn usage(bench: &Bench, tokenmeter: &Tokenmeter, user: &str) -> anyhow::Result<u64> {
    let read = Call::get(&tokenmeter.base, &format!("/users/{user}"), Some(ADMIN_KEY))?;
    Ok(tokens_of_user(&tokenmeter.expect_ok(&bench.client, read, "reading the user").await?))
}

fn tokens_of(answer: &Value) -> u64 {
    answer["tokensConsumed"].as_u64().unwrap_or(0)
}

fn tokens_of_user(user: &Value) -> u64 {
    user["tokenUsage"].as_u64().unwrap_or(0)
}

/// Calls the instances admitted from leases so far, from their `/metrics`.
async fn leased(bench: &Bench, instances: &[Tokenmeter]) -> anyhow::Result<u64> {
    let mut total = 0;
    for instance in instances {
        let request = Call::get(&instance.base, "/metrics", Some(ADMIN_KEY))?;
        let text = request.text(&bench.client).await?;
        let count = text
            .lines()
            .find_map(|line| line.strip_prefix("tokenmeter_lease_calls_total "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        total += count.ok_or_else(|| anyhow::anyhow!("/metrics has no tokenmeter_lease_calls_total"))?;
    }
    Ok(total)
}

/// The CPU time of every instance so far.
fn cpu(instances: &[Tokenmeter]) -> std::time::Duration {
    instances.iter().map(|i| proc::usage(i.pid()).cpu).sum()
}
