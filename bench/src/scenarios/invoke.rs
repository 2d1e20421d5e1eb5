//! `invoke` and `stream`: model calls through tokenmeter (and the peer) next to the same calls
//! made to the stand-in directly, at each open-loop rate and with a closed loop; for `stream`,
//! the time to the first byte of the answer.

use serde_json::json;

use super::{MAX_OUTPUT_TOKENS, MODEL_PATH, PROMPT};
use crate::{
    harness::{Bench, Metric, Row, Target, compare},
    litellm::{self, LiteLlm},
    load::{Call, Load},
    process::Tokenmeter,
    report::{Figure, Section, rows_table},
    stats::{signed_ms, thousands},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `POST /invoke/{userId}` (Converse).
    OneShot,
    /// `POST /invoke/{userId}/stream` (ConverseStream), timed to its first byte.
    Stream,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::OneShot => "invoke",
            Kind::Stream => "stream",
        }
    }

    fn metric(self) -> Metric {
        match self {
            Kind::OneShot => Metric::Whole,
            Kind::Stream => Metric::FirstByte,
        }
    }
}

pub(super) async fn run(bench: &Bench, kind: Kind) -> anyhow::Result<Section> {
    let tokenmeter = bench.start_tokenmeter().await?;
    let users = super::create_users(bench, &tokenmeter, kind.name(), bench.options.users, &json!({})).await?;
    let (baseline, mut targets) = targets(bench, &tokenmeter, &users, kind, "tokenmeter")?;
    if let Some(peer) = &bench.peer {
        targets.push(peer_target(peer, kind)?);
    }
    let rows = compare(bench, &baseline, &targets, kind.metric()).await?;
    let o = &bench.options;
    let about = match kind {
        Kind::OneShot => format!(
            "`POST /invoke/{{userId}}` round robin over {} users (each with its own key), a {}-byte prompt, \
             `maxOutputTokens` {MAX_OUTPUT_TOKENS}; the stand-in's Converse answers after {} ms. Open loop at \
             each rate for {} s, then a closed loop of {} connections. Latency to the last byte of the answer.",
            o.users,
            PROMPT.len(),
            o.latency.as_millis(),
            o.seconds.as_secs(),
            o.connections
        ),
        Kind::Stream => format!(
            "`POST /invoke/{{userId}}/stream` (server-sent events) round robin over {} users; the stand-in's \
             ConverseStream sends its first event after {} ms. Latency to the first byte of the answer's body \
             (time to first token); the answer must end complete. Open loop at each rate for {} s, then a \
             closed loop of {} connections.",
            o.users,
            o.latency.as_millis(),
            o.seconds.as_secs(),
            o.connections
        ),
    };
    let body = format!("{about}\n\n{}", rows_table(&rows, kind.metric()));
    Ok(Section {
        title: kind.name().to_owned(),
        body,
        figures: figures(bench, &rows, kind.name(), "tokenmeter"),
        ..Section::default()
    })
}

/// The stand-in alone and tokenmeter (named `name`), making the same model calls as `users`.
pub(super) fn targets(
    bench: &Bench,
    tokenmeter: &Tokenmeter,
    users: &[(String, String)],
    kind: Kind,
    name: &str,
) -> anyhow::Result<(Target, Vec<Target>)> {
    let (operation, marker) = match kind {
        Kind::OneShot => ("converse", "stopReason"),
        Kind::Stream => ("converse-stream", "metadata"),
    };
    let converse = json!({
        "messages": [{ "role": "user", "content": [{ "text": PROMPT }] }],
        "inferenceConfig": { "maxTokens": MAX_OUTPUT_TOKENS },
    });
    let direct = Call::post(&bench.standin.base(), &format!("{MODEL_PATH}/{operation}"), None, &converse)?;
    let baseline = Target {
        name: "stand-in alone".to_owned(),
        load: Load::new(vec![direct], marker),
        pid: bench.standin.process.pid(),
        upstream: false,
    };
    let (suffix, done) = match kind {
        Kind::OneShot => ("", "\"stopReason\""),
        Kind::Stream => ("/stream", "event: done"),
    };
    let invoke = json!({ "prompt": PROMPT, "maxOutputTokens": MAX_OUTPUT_TOKENS });
    let calls = users
        .iter()
        .map(|(user, key)| Call::post(&tokenmeter.base, &format!("/invoke/{user}{suffix}"), Some(key), &invoke))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let target = Target { name: name.to_owned(), load: Load::new(calls, done), pid: tokenmeter.pid(), upstream: true };
    Ok((baseline, vec![target]))
}

/// LiteLLM's OpenAI-compatible chat completion, the same prompt and cap.
fn peer_target(peer: &LiteLlm, kind: Kind) -> anyhow::Result<Target> {
    let stream = kind == Kind::Stream;
    let body = json!({
        "model": litellm::MODEL,
        "messages": [{ "role": "user", "content": PROMPT }],
        "max_tokens": MAX_OUTPUT_TOKENS,
        "stream": stream,
    });
    let call = Call::post(&peer.base, "/v1/chat/completions", Some(litellm::MASTER_KEY), &body)?;
    let done = if stream { "[DONE]" } else { "\"choices\"" };
    Ok(Target { name: LiteLlm::name(), load: Load::new(vec![call], done), pid: peer.pid(), upstream: true })
}

fn find<'a>(rows: &'a [Row], target: &str, mode: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.target.starts_with(target) && r.mode == mode)
}

fn added_text(row: Option<&Row>) -> String {
    let Some(row) = row else { return "—".to_owned() };
    let Some(added) = row.added else { return format!("no answer ({} errors)", row.outcome.error_count()) };
    let errors = row.outcome.error_count();
    let errors = if errors > 0 { format!(", {} errors", thousands(errors)) } else { String::new() };
    format!("{} / {} ms{errors}", signed_ms(added.p50_ms), signed_ms(added.p99_ms))
}

/// The headline figures of a model-call comparison: added latency at each rate, the closed
/// loop, CPU and memory at the top rate, upstream calls per model call.
pub(super) fn figures(bench: &Bench, rows: &[Row], scenario: &str, name: &str) -> Vec<Figure> {
    let o = &bench.options;
    let what = if scenario == "stream" { "added time to first byte" } else { "added latency" };
    let mut figures = Vec::new();
    for rate in &o.rates {
        let mode = format!("{} req/s", thousands(u64::from(*rate)));
        let base = find(rows, "stand-in", &mode).and_then(|r| r.summary);
        let goal = if *rate == 1000 && scenario != "stream" { "≤ +1 / ≤ +5 ms, 0 errors" } else { "—" };
        figures.push(
            Figure::new(format!("{scenario}: {what} at {mode}, p50 / p99"), added_text(find(rows, name, &mode)), goal)
                .peer(if bench.peer.is_some() { added_text(find(rows, "LiteLLM", &mode)) } else { "—".to_owned() })
                .standin(base.map_or("—".to_owned(), |b| {
                    format!("{} / {} ms", crate::stats::ms(b.p50), crate::stats::ms(b.p99))
                })),
        );
    }
    let closed = format!("closed, {} conns", o.connections);
    let achieved = |target: &str| {
        find(rows, target, &closed)
            .map_or("—".to_owned(), |r| format!("{} req/s", thousands(r.outcome.achieved().round() as u64)))
    };
    figures.push(
        Figure::new(
            format!("{scenario}: closed loop, {} connections", o.connections),
            achieved(name),
            "≥ 95 % of the stand-in's",
        )
        .peer(achieved("LiteLLM"))
        .standin(achieved("stand-in")),
    );
    let top = format!("{} req/s", thousands(u64::from(o.rates.iter().copied().max().unwrap_or(0))));
    let cpu = |target: &str| {
        find(rows, target, &top).and_then(|r| r.cpu_ms_per_call).map_or("—".to_owned(), |ms| format!("{ms:.2} ms"))
    };
    figures.push(
        Figure::new(format!("{scenario}: CPU per call at {top}"), cpu(name), "≤ 0.3 ms")
            .peer(cpu("LiteLLM"))
            .standin(cpu("stand-in")),
    );
    let rss = |target: &str| {
        rows.iter()
            .filter(|r| r.target.starts_with(target))
            .map(|r| r.peak_rss_mib)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .map_or("—".to_owned(), |mib| format!("{mib:.0} MiB"))
    };
    figures.push(
        Figure::new(format!("{scenario}: peak RSS"), rss(name), "—").peer(rss("LiteLLM")).standin(rss("stand-in")),
    );
    let upstream = |target: &str| find(rows, target, &top).map_or("—".to_owned(), Row::upstream_text);
    figures.push(
        Figure::new(format!("{scenario}: upstream calls per model call"), upstream(name), "1")
            .peer(upstream("LiteLLM")),
    );
    figures
}
