//! Usage over time (`GET /reports/usage`), as charts: the range picker and the charts of a
//! report's series, shared by a user's dashboard and the administrator's Analytics page.

use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{GranularityName, SeriesPoint, UsageReportView},
};

use crate::{
    api::ApiError,
    format,
    ui::{Alert, BarChart, Bucket, Card, CardBody, CardHeader, Loading, Series, Tone},
};

/// The ranges a report covers: 24 hours by the hour, 7 or 30 days by the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Range {
    Day,
    Week,
    Month,
}

impl Range {
    pub(super) fn hours(self) -> u64 {
        match self {
            Range::Day => 24,
            Range::Week => 7 * 24,
            Range::Month => 30 * 24,
        }
    }

    pub(super) fn hourly(self) -> bool {
        self == Range::Day
    }

    /// `24 h`, `7 d`, `30 d`.
    pub(super) fn label(self) -> &'static str {
        match self {
            Range::Day => "24 h",
            Range::Week => "7 d",
            Range::Month => "30 d",
        }
    }

    /// The range in a file name: `24h`, `7d`, `30d`.
    pub(super) fn slug(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }
}

/// The report on `user` (everyone's for `None`, an administrator's call) over `range`.
pub(super) async fn fetch_report(
    client: &Client,
    range: Range,
    user: Option<&str>,
) -> Result<UsageReportView, ApiError> {
    let granularity = if range.hourly() { GranularityName::Hour } else { GranularityName::Day };
    let hours = std::num::NonZeroU64::new(range.hours());
    Ok(client.usage_report(Some(granularity), hours, None, user).await?.into_inner())
}

/// A segmented control choosing the range; the current one is `aria-pressed`.
#[component(inline_props)]
pub(super) fn RangePicker(range: Signal<Range>, options: &'static [Range]) -> View {
    let buttons = options
        .iter()
        .map(|&r| {
            view! {
                button(r#type="button", class="segment", data-range=r.slug(),
                       aria-pressed=move || (range.get() == r).to_string(),
                       on:click=move |_| range.set(r)) { (r.label()) }
            }
        })
        .collect::<Vec<View>>();
    view! { div(class="segments", role="group", aria-label="Range") { (buttons) } }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The axis label and the full label of the bucket starting at `start` (ISO-8601 UTC):
/// `14:00` and `2026-01-19 14:00` by the hour, `19 Jan` and `2026-01-19` by the day.
pub(super) fn bucket(start: &str, hourly: bool) -> Bucket {
    let date = start.get(..10).unwrap_or(start);
    let time = start.get(11..16).unwrap_or("");
    if hourly {
        Bucket { axis: time.to_owned(), full: format!("{date} {time}") }
    } else {
        let month = date.get(5..7).and_then(|m| m.parse::<usize>().ok()).and_then(|m| MONTHS.get(m.wrapping_sub(1)));
        let day = date.get(8..10).map(|d| d.trim_start_matches('0')).unwrap_or("");
        Bucket { axis: format!("{day} {}", month.unwrap_or(&"")), full: date.to_owned() }
    }
}

/// What a chart of a report's series shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// Calls, answered and failed.
    #[cfg_attr(not(feature = "admin"), expect(dead_code, reason = "a user's dashboard charts tokens and cost"))]
    Invocations,
    /// Tokens, in and out.
    Tokens,
    /// US dollars.
    Cost,
}

pub(super) fn whole(v: f64) -> String {
    format::tokens(v as u64)
}

/// The chart of `measure` over `points`.
pub(super) fn chart(measure: Measure, points: &[SeriesPoint], hourly: bool) -> View {
    let buckets = points.iter().map(|p| bucket(&p.start, hourly)).collect();
    let values = |f: fn(&SeriesPoint) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let (label, unit, series, fmt, test_id): (_, _, _, fn(f64) -> String, _) = match measure {
        Measure::Invocations => (
            "Invocations",
            "calls",
            vec![
                Series { name: "Answered".into(), values: values(|p| p.invocations.saturating_sub(p.errors) as f64) },
                Series { name: "Errors".into(), values: values(|p| p.errors as f64) },
            ],
            whole,
            "chart-invocations",
        ),
        Measure::Tokens => (
            "Tokens",
            "tokens",
            vec![
                Series { name: "Input".into(), values: values(|p| p.input_tokens as f64) },
                Series { name: "Output".into(), values: values(|p| p.output_tokens as f64) },
            ],
            whole,
            "chart-tokens",
        ),
        Measure::Cost => (
            "Cost",
            "USD",
            vec![Series { name: "Cost".into(), values: values(|p| p.cost) }],
            format::money,
            "chart-cost",
        ),
    };
    view! { BarChart(label=label, unit=unit, buckets=buckets, series=series, fmt=fmt, test_id=test_id) }
}

/// A report loaded again whenever `range` or `changed` changes (the latest request wins).
pub(super) fn follow_report(
    client: Client,
    user: Option<String>,
    range: Signal<Range>,
    changed: ReadSignal<String>,
) -> Signal<Option<Result<UsageReportView, ApiError>>> {
    let report = create_signal(None);
    let asked = create_signal(0u32);
    create_effect(move || {
        let r = range.get();
        changed.track();
        let n = asked.get_untracked().wrapping_add(1);
        asked.set_silent(n);
        let (client, user) = (client.clone(), user.clone());
        sycamore::futures::spawn_local_scoped(async move {
            let answer = fetch_report(&client, r, user.as_deref()).await;
            if asked.get_untracked() == n {
                report.set(Some(answer));
            }
        });
    });
    report
}

/// A user's own usage over the last 24 hours, 7 or 30 days, on their dashboard: tokens and cost.
#[component(inline_props)]
pub(super) fn OwnUsage(client: Client, id: String, changed: ReadSignal<String>) -> View {
    let range = create_signal(Range::Day);
    let report = follow_report(client, Some(id), range, changed);
    let body = move || match report.get_clone() {
        None => view! { Loading(what="Loading your usage over time…") },
        Some(Err(err)) => {
            view! { Alert(tone=Tone::Danger, title="Your usage over time could not be loaded.", message=err.to_string()) }
        }
        Some(Ok(r)) => {
            let hourly = range.get_untracked().hourly();
            let (tokens, cost) = (chart(Measure::Tokens, &r.series, hourly), chart(Measure::Cost, &r.series, hourly));
            let totals = format!(
                "{} calls · {} tokens in, {} out · {}",
                format::tokens(r.invocations),
                format::tokens(r.input_tokens),
                format::tokens(r.output_tokens),
                format::money(r.cost)
            );
            view! {
                p(class="muted", data-testid="own-usage-totals") { (totals) }
                div(class="charts") {
                    (tokens)
                    (cost)
                }
            }
        }
    };
    view! {
        Card(label="Usage over time") {
            CardHeader {
                h2 { "Usage over time" }
                RangePicker(range=range, options=&[Range::Day, Range::Week, Range::Month])
            }
            CardBody { (body) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_read_as_hours_or_days() {
        let b = bucket("2026-01-19T14:00:00Z", true);
        assert_eq!((b.axis.as_str(), b.full.as_str()), ("14:00", "2026-01-19 14:00"));
        let b = bucket("2026-01-09T00:00:00Z", false);
        assert_eq!((b.axis.as_str(), b.full.as_str()), ("9 Jan", "2026-01-09"));
    }
}
