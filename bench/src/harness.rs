//! What every scenario shares: the options, the stand-in, the peer, and the comparison of
//! targets under the same load phase by phase (each phase charged its CPU, memory and upstream
//! calls from `/proc` and the stand-in's counters).

use std::{path::PathBuf, time::Duration};

use crate::{
    litellm::LiteLlm,
    load::{self, Client, Load, Outcome},
    output::note,
    proc,
    process::{StandIn, Tokenmeter, UpstreamCalls},
    stats::{Added, Summary},
};

/// The knobs of a run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub seconds: Duration,
    pub warmup: Duration,
    pub rates: Vec<u32>,
    pub connections: usize,
    pub users: usize,
    pub timeout: Duration,
    pub latency: Duration,
}

/// A run in progress.
pub(crate) struct Bench {
    pub options: Options,
    pub client: Client,
    pub standin: StandIn,
    pub tokenmeter_binary: PathBuf,
    /// Extra environment for every tokenmeter started (`--service-env`), for A/B runs.
    pub service_env: Vec<(String, String)>,
    pub peer: Option<LiteLlm>,
    /// Where the peer is installed (to start more of it, e.g. for its start-up time).
    pub peer_venv: Option<PathBuf>,
    pub peer_workers: usize,
    /// DynamoDB Local's endpoint, for the scenarios on DynamoDB (`hot-user`).
    pub dynamodb: Option<String>,
}

impl Bench {
    /// A fresh tokenmeter (new process, empty store) for one scenario.
    pub(crate) async fn start_tokenmeter(&self) -> anyhow::Result<Tokenmeter> {
        Tokenmeter::start(&self.tokenmeter_binary, self.standin.addr, &self.service_env, &self.client).await
    }
}

/// One system under load.
pub(crate) struct Target {
    pub name: String,
    pub load: Load,
    /// The process (and its children) charged with CPU and memory.
    pub pid: u32,
    /// Whether what it asks the stand-in is counted (not for the stand-in itself).
    pub upstream: bool,
}

/// How a phase loads its target.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Requests a second, timed from when each was due.
    Open(u32),
    /// Connections, each sending as soon as it has its answer.
    Closed(usize),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::Open(rate) => format!("{} req/s", crate::stats::thousands(u64::from(rate))),
            Mode::Closed(connections) => format!("closed, {connections} conns"),
        }
    }
}

/// Which latency a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// To the answer's last byte.
    Whole,
    /// To the answer's first body byte (time to first token of a stream).
    FirstByte,
}

/// One target under one load.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub target: String,
    pub mode: String,
    pub outcome: Outcome,
    pub summary: Option<Summary>,
    pub added: Option<Added>,
    pub cpu_ms_per_call: Option<f64>,
    pub peak_rss_mib: f64,
    pub upstream: Option<UpstreamCalls>,
    pub generator_ms_per_call: Option<f64>,
}

impl Row {
    /// Upstream calls per request sent (answered or not), e.g. `2.00 (CountTokens 1.00, Converse 1.00)`.
    pub(crate) fn upstream_text(&self) -> String {
        let sent = self.outcome.ok + self.outcome.error_count();
        let Some(calls) = self.upstream.filter(|_| sent > 0) else { return "—".to_owned() };
        let per = |n: u64| n as f64 / sent as f64;
        let parts: Vec<String> = [
            ("CountTokens", calls.count_tokens),
            ("Converse", calls.converse),
            ("ConverseStream", calls.converse_stream),
            ("other", calls.other),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {:.2}", per(*n)))
        .collect();
        format!("{:.2} ({})", per(calls.total()), parts.join(", "))
    }
}

/// Warms up, then measures `baseline` (the stand-in alone) and each target at every rate of
/// the options, then with a closed loop; each target's added latency is against the baseline
/// measured just before it, under the same load.
pub(crate) async fn compare(
    bench: &Bench,
    baseline: &Target,
    targets: &[Target],
    metric: Metric,
) -> anyhow::Result<Vec<Row>> {
    let options = &bench.options;
    let first_rate = options.rates.first().copied().unwrap_or(100);
    for target in std::iter::once(baseline).chain(targets) {
        note(&format!("   warming up {} ({:?})", target.name, options.warmup));
        load::open_loop(&bench.client, &target.load, first_rate, options.warmup, options.timeout).await;
    }
    let mut rows = Vec::new();
    let modes = options.rates.iter().map(|&r| Mode::Open(r)).chain([Mode::Closed(options.connections)]);
    for mode in modes {
        let base = phase(bench, baseline, mode, metric, None).await?;
        let base_summary = base.summary;
        rows.push(base);
        for target in targets {
            rows.push(phase(bench, target, mode, metric, base_summary).await?);
        }
    }
    Ok(rows)
}

/// Measures one target under one load, after the stand-in has gone quiet.
pub(crate) async fn phase(
    bench: &Bench,
    target: &Target,
    mode: Mode,
    metric: Metric,
    baseline: Option<Summary>,
) -> anyhow::Result<Row> {
    note(&format!("   {} at {}", target.name, mode.label()));
    bench.standin.settle(&bench.client).await?;
    let (usage_before, calls_before, own_before) =
        (proc::usage(target.pid), bench.standin.calls(&bench.client).await?, proc::own_cpu());
    let options = &bench.options;
    let outcome = match mode {
        Mode::Open(rate) => load::open_loop(&bench.client, &target.load, rate, options.seconds, options.timeout).await,
        Mode::Closed(n) => load::closed_loop(&bench.client, &target.load, n, options.seconds, options.timeout).await,
    };
    let own_after = proc::own_cpu();
    // A target may still be working off requests that timed out here: their upstream calls
    // and CPU belong to this phase.
    bench.standin.settle(&bench.client).await?;
    let (usage_after, calls_after) = (proc::usage(target.pid), bench.standin.calls(&bench.client).await?);
    let per_call = |cpu: Duration| (outcome.ok > 0).then(|| cpu.as_secs_f64() * 1000.0 / outcome.ok as f64);
    let latencies = match metric {
        Metric::Whole => &outcome.latencies,
        Metric::FirstByte => &outcome.first_byte,
    };
    let summary = latencies.summary();
    Ok(Row {
        target: target.name.clone(),
        mode: mode.label(),
        summary,
        added: summary.zip(baseline).map(|(s, b)| s.added_over(&b)),
        cpu_ms_per_call: per_call(usage_after.cpu.saturating_sub(usage_before.cpu)),
        peak_rss_mib: usage_after.peak_rss_kib as f64 / 1024.0,
        upstream: target.upstream.then(|| calls_after.since(&calls_before)),
        generator_ms_per_call: per_call(own_after.saturating_sub(own_before)),
        outcome,
    })
}
