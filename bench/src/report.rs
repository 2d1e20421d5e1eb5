//! What a run writes: its header (command, machine, commit, date), a summary of the headline
//! figures, and each scenario's tables, printed and appended to `BENCHMARKS.md`.

use std::{fmt::Write as _, path::Path, process::Command};

use crate::{
    harness::{Metric, Row},
    stats::{ms, signed_ms, thousands},
};

/// One headline figure of a scenario, side by side; the README's table is made of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Figure {
    pub figure: String,
    pub tokenmeter: String,
    pub peer: String,
    pub standin: String,
    pub goal: String,
}

impl Figure {
    pub(crate) fn new(figure: impl Into<String>, tokenmeter: impl Into<String>, goal: impl Into<String>) -> Self {
        let dash = || "—".to_owned();
        Self { figure: figure.into(), tokenmeter: tokenmeter.into(), peer: dash(), standin: dash(), goal: goal.into() }
    }

    pub(crate) fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }

    pub(crate) fn standin(mut self, standin: impl Into<String>) -> Self {
        self.standin = standin.into();
        self
    }
}

/// What one scenario reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub title: String,
    /// Markdown: what was measured and how, then the tables.
    pub body: String,
    pub figures: Vec<Figure>,
    /// What the scenario found broken (e.g. lost records): the run fails after it is recorded.
    pub failures: Vec<String>,
}

pub(crate) const SUMMARY_HEADER: &str = "| figure | tokenmeter | LiteLLM | stand-in alone | goal |";

/// The summary table of a run.
pub(crate) fn summary_table(figures: &[Figure]) -> String {
    let mut out = format!("{SUMMARY_HEADER}\n| --- | --- | --- | --- | --- |\n");
    for f in figures {
        let _ = writeln!(out, "| {} | {} | {} | {} | {} |", f.figure, f.tokenmeter, f.peer, f.standin, f.goal);
    }
    out
}

/// A table of comparison rows.
pub(crate) fn rows_table(rows: &[Row], metric: Metric) -> String {
    let what = if metric == Metric::FirstByte { "first byte " } else { "" };
    let mut out = format!(
        "| target | load | achieved/s | {what}p50 ms | p90 ms | p99 ms | max ms | added p50 / p99 ms | errors | \
         CPU ms/call | peak RSS MiB | upstream calls/request | generator CPU ms/call |\n"
    );
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |\n");
    let opt = |v: Option<f64>, digits: usize| v.map_or("—".to_owned(), |v| format!("{v:.digits$}"));
    for row in rows {
        let (p50, p90, p99, max) = row.summary.map_or_else(
            || ("—".into(), "—".into(), "—".into(), "—".into()),
            |s| (ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)),
        );
        let added =
            row.added.map_or("—".to_owned(), |a| format!("{} / {}", signed_ms(a.p50_ms), signed_ms(a.p99_ms)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {p50} | {p90} | {p99} | {max} | {added} | {} | {} | {:.0} | {} | {} |",
            row.target,
            row.mode,
            thousands(row.outcome.achieved().round() as u64),
            row.outcome.errors_text(),
            opt(row.cpu_ms_per_call, 2),
            row.peak_rss_mib,
            row.upstream_text(),
            opt(row.generator_ms_per_call, 2),
        );
    }
    out
}

/// Facts about the run that make its figures mean something.
#[derive(Debug, Clone)]
pub(crate) struct RunHeader {
    pub command: String,
    pub machine: String,
    pub commit: String,
    pub date: String,
    pub setup: String,
    pub note: Option<String>,
}

impl RunHeader {
    pub(crate) fn collect(root: &Path, command: &str, setup: String, note: Option<String>) -> Self {
        Self { command: command.to_owned(), machine: machine(), commit: commit(root), date: now(), setup, note }
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = format!("## Run {} · {}\n\n", self.date, self.commit);
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(out, "- machine: {}", self.machine);
        let _ = writeln!(out, "- commit: {}", self.commit);
        let _ = writeln!(out, "- date: {}", self.date);
        let _ = writeln!(out, "- setup: {}", self.setup);
        if let Some(note) = &self.note {
            let _ = writeln!(out, "- note: {note}");
        }
        out
    }
}

/// Cores, CPU model, memory and kernel, from `/proc`.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim()))
        .unwrap_or("unknown CPU");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0.0, |kib| kib as f64 / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {model}, {memory_gib:.0} GiB, Linux {}", kernel.trim())
}

/// The short commit, and whether tracked files differ from it.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short=10", "HEAD"]) else { return "unknown commit".to_owned() };
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (with uncommitted changes)") } else { head }
}

fn now() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc().format(&format).unwrap_or_else(|_| "unknown date".to_owned())
}

/// The whole run as Markdown: header, summary, then each section.
pub(crate) fn run_markdown(header: &RunHeader, sections: &[Section]) -> String {
    let figures: Vec<Figure> = sections.iter().flat_map(|s| s.figures.clone()).collect();
    let mut out = header.markdown();
    let _ = write!(out, "\n### Summary\n\n{}", summary_table(&figures));
    for section in sections {
        let _ = write!(out, "\n### {}\n\n{}", section.title, section.body);
    }
    out
}

/// Appends a run to `BENCHMARKS.md` (creating it with its preamble when missing).
pub(crate) fn append(path: &Path, run: &str) -> anyhow::Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| crate::readme::BENCHMARKS_PREAMBLE.to_owned());
    if !text.ends_with("\n\n") {
        text.push('\n');
    }
    text.push_str(run);
    std::fs::write(path, text)?;
    Ok(())
}
