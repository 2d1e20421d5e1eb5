//! `tokenmeter report`: the usage report of a running service, through the generated client,
//! as a table (for people), JSON (the API's answer as is) or CSV (the series, for a
//! spreadsheet).

use std::fmt::Write as _;

use tokenmeter_client::{
    Client,
    figures::{grouped, money},
    types::{GranularityName, UsageReportView},
};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

/// What `tokenmeter report` was asked.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Hours covered, the current one included.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8_784))]
    pub hours: u64,
    /// Only this user's usage.
    #[arg(long)]
    pub user: Option<String>,
    /// Only calls to this model family or model ID.
    #[arg(long)]
    pub model: Option<String>,
    /// One series row per day instead of per hour.
    #[arg(long)]
    pub daily: bool,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// The service's URL.
    #[arg(long, env = "TOKENMETER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key: an admin's for everyone's usage, a user's for its own.
    #[arg(long, env = "TOKENMETER_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// Fetches the report and renders it as `args.format` says.
pub async fn run(args: &ReportArgs) -> anyhow::Result<String> {
    let client = Client::with_api_key(args.url.trim_end_matches('/'), &args.api_key)?;
    let granularity = if args.daily { GranularityName::Day } else { GranularityName::Hour };
    let hours = std::num::NonZeroU64::new(args.hours).ok_or_else(|| anyhow::anyhow!("--hours must be at least 1"))?;
    let report = client
        .usage_report(Some(granularity), Some(hours), args.model.as_ref(), args.user.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("the service refused the report: {}", describe(e)))?
        .into_inner();
    Ok(match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Csv => csv(&report),
        ReportFormat::Table => table(&report, args),
    })
}

/// An error's answer from the service (its message), or what went wrong in transit.
fn describe(error: tokenmeter_client::Error<tokenmeter_client::types::ErrorBody>) -> String {
    match error {
        tokenmeter_client::Error::ErrorResponse(answer) => {
            format!("{} {}: {}", answer.status(), answer.error, answer.message)
        }
        other => other.to_string(),
    }
}

fn millis(ms: Option<impl std::fmt::Display>) -> String {
    ms.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))
}

fn table(r: &UsageReportView, args: &ReportArgs) -> String {
    let mut out = String::new();
    let scope = args.user.as_deref().map_or_else(|| "every user".to_owned(), |u| format!("user {u}"));
    let _ = writeln!(out, "Usage of {scope}, last {} h ({} to {})", args.hours, r.from, r.to);
    let error_share = r.errors.rate * 100.0;
    let rows = [
        ("Invocations", format!("{} ({} errors, {error_share:.1} %)", grouped(r.invocations), grouped(r.errors.count))),
        ("Usage records", grouped(r.records)),
        ("Input tokens", grouped(r.input_tokens)),
        ("Output tokens", grouped(r.output_tokens)),
        ("Total tokens", grouped(r.total_tokens)),
        ("Cost", money(r.cost)),
        (
            "Latency",
            format!(
                "mean {} · p50 {} · p99 {}",
                millis(r.latency.mean_ms.map(|m| format!("{m:.1}"))),
                millis(r.latency.p50_ms),
                millis(r.latency.p99_ms)
            ),
        ),
        ("Month projected", format!("{} ({})", money(r.projection.monthly_cost), r.projection.basis)),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<16} {value}");
    }
    if !r.errors.by_code.is_empty() {
        let codes: Vec<String> = r.errors.by_code.iter().map(|(code, n)| format!("{code} {n}")).collect();
        let _ = writeln!(out, "  {:<16} {}", "Errors by code", codes.join(", "));
    }
    let _ = writeln!(out, "\nBy model");
    let _ = writeln!(
        out,
        "  {:<52} {:<8} {:>8} {:>12} {:>12} {:>12}",
        "MODEL", "FAMILY", "CALLS", "INPUT", "OUTPUT", "COST"
    );
    for m in &r.by_model {
        let family = m.family.as_deref().unwrap_or("—");
        let _ = writeln!(
            out,
            "  {:<52} {family:<8} {:>8} {:>12} {:>12} {:>12}",
            m.model,
            grouped(m.invocations),
            grouped(m.input_tokens),
            grouped(m.output_tokens),
            money(m.cost)
        );
    }
    let unit = if args.daily { "day" } else { "hour" };
    let _ = writeln!(out, "\nBy {unit} (rows with activity)");
    let _ = writeln!(
        out,
        "  {:<26} {:>8} {:>12} {:>12} {:>12} {:>7}",
        "START", "CALLS", "INPUT", "OUTPUT", "COST", "ERRORS"
    );
    for p in r.series.iter().filter(|p| p.invocations > 0 || p.input_tokens > 0 || p.output_tokens > 0) {
        let _ = writeln!(
            out,
            "  {:<26} {:>8} {:>12} {:>12} {:>12} {:>7}",
            p.start,
            grouped(p.invocations),
            grouped(p.input_tokens),
            grouped(p.output_tokens),
            money(p.cost),
            grouped(p.errors)
        );
    }
    out
}

fn csv(r: &UsageReportView) -> String {
    let mut out = String::from("start,invocations,input_tokens,output_tokens,cost_usd,errors\n");
    for p in &r.series {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            p.start, p.invocations, p.input_tokens, p.output_tokens, p.cost, p.errors
        );
    }
    out
}
