//! The administrator's Analytics page: over the last 24 hours, 7 or 30 days, the figures of
//! every model call (invocations, tokens, cost, latency, errors), charts of them over time, by
//! model, the users who cost most, the month's projection, the alerts firing, the log of
//! recent invocations, and the report as CSV.

mod by_model;
mod csv;
mod tables;

use sycamore::prelude::*;
use tokenmeter_client::types::UsageReportView;

use crate::pages::usage_chart::{Measure, Range, RangePicker, chart, follow_report};
use crate::{
    api::now_ms,
    app::Session,
    format,
    ui::{Alert, Button, Card, CardBody, CardHeader, Loading, Size, Stat, Tone, Variant},
};

/// `120 ms`, or a dash without successful calls.
fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{} ms", format::tokens(v)))
}

/// The report's figures as stat cards.
fn stats(r: &UsageReportView, alerts: usize) -> View {
    let invocations = format::tokens(r.invocations);
    let records = format!("{} usage records", format::tokens(r.records));
    let input = format::tokens(r.input_tokens);
    let cache = format!(
        "cache: {} read, {} written",
        format::tokens(r.cache_read_tokens),
        format::tokens(r.cache_write_tokens)
    );
    let output = format::tokens(r.output_tokens);
    let total = format!("{} tokens in all", format::tokens(r.total_tokens));
    let cost = format::money(r.cost);
    let latency = ms(r.latency.p50_ms);
    let p99 = format!("p50 · p99 {}", ms(r.latency.p99_ms));
    let error_rate = format::percent(r.errors.rate * 100.0);
    let errors = format!("{} errors", format::tokens(r.errors.count));
    let error_tone = if r.errors.count > 0 { Tone::Danger } else { Tone::Default };
    let projection = format::money(r.projection.monthly_cost);
    let basis = r.projection.basis.clone();
    let alert_tone = if alerts > 0 { Tone::Warning } else { Tone::Default };
    view! {
        div(class="grid-4") {
            Stat(label="Invocations", value=invocations, note=records, test_id="a-invocations")
            Stat(label="Input tokens", value=input, note=cache, test_id="a-input")
            Stat(label="Output tokens", value=output, note=total, test_id="a-output")
            Stat(label="Cost", value=cost, note="model calls and records (USD)", tone=Tone::Success, test_id="a-cost")
            Stat(label="Latency", value=latency, note=p99, test_id="a-latency")
            Stat(label="Error rate", value=error_rate, note=errors, tone=error_tone, test_id="a-errors")
            Stat(label="Projected this month", value=projection, note=basis, test_id="a-projection")
            Stat(label="Active alerts", value=alerts.to_string(), note="firing now", tone=alert_tone, test_id="a-alerts")
        }
    }
}

#[component]
pub fn Analytics() -> View {
    let session = use_context::<Session>();
    let Some(auth) = session.get() else { return view! {} };
    let range = create_signal(Range::Day);
    let refreshed = create_signal(String::new());
    let report = follow_report(auth.client.clone(), None, range, *refreshed);
    let hours = create_memo(move || range.get().hours());
    // The users (for their lifetime cost) and the alerts firing, with each report.
    let extra = create_signal(None);
    let client = auth.client.clone();
    create_effect(move || {
        refreshed.track();
        let client = client.clone();
        sycamore::futures::spawn_local_scoped(async move {
            let users = client.list_users().await.map(|r| r.into_inner().users).unwrap_or_default();
            let active = client.list_alerts().await.map(|r| r.into_inner().active).unwrap_or_default();
            extra.set(Some((users, active)));
        });
    });
    let csv_link = move || {
        let Some(Ok(r)) = report.get_clone() else { return view! {} };
        let href = csv::data_url(&csv::csv(&r.series));
        let name = format!("tokenmeter-usage-{}-{}.csv", range.get_untracked().slug(), r.to.get(..10).unwrap_or(""));
        view! { a(class="btn btn-sm btn-bordered", href=href, download=name, data-testid="csv") { "Export CSV" } }
    };
    let body = move || {
        let r = match report.get_clone() {
            None => return view! { Loading(what="Loading the report…") },
            Some(Err(err)) => {
                let message = err.to_string();
                return view! { Alert(tone=Tone::Danger, title="The report could not be loaded.", message=message, test_id="load-error") };
            }
            Some(Ok(r)) => r,
        };
        let hourly = range.get_untracked().hourly();
        let (users, active) = extra.get_clone().unwrap_or_default();
        let figures = stats(&r, active.len());
        let charts = [Measure::Invocations, Measure::Tokens, Measure::Cost]
            .into_iter()
            .map(|m| chart(m, &r.series, hourly))
            .collect::<Vec<View>>();
        let model_charts = by_model::charts(&r.series, &r.by_model, hourly);
        let models = tables::by_model(&r.by_model, r.cost);
        let (top, alerts) = (tables::top_users(&users), tables::active_alerts(&active));
        let period = format!("{} to {}", format::timestamp(&r.from), format::timestamp(&r.to));
        view! {
            (figures)
            Card(label="Over time") {
                CardHeader { h2 { "Over time" } span(class="muted", data-testid="period") { (period) } }
                CardBody { div(class="charts") { (charts) } }
            }
            Card(label="By model over time") {
                CardHeader { h2 { "By model over time" } }
                CardBody { div(class="charts") { (model_charts) } }
            }
            (models)
            div(class="grid-2") { (top) (alerts) }
        }
    };
    // The log comes once the first report is shown: before it, it would be pushed down.
    let reported = create_signal(false);
    create_effect(move || {
        if !reported.get_untracked() && report.with(Option::is_some) {
            reported.set(true);
        }
    });
    let client = auth.client.clone();
    let log = move || {
        if !reported.get() {
            return view! {};
        }
        let client = client.clone();
        view! { tables::RecentLog(client=client, hours=hours) }
    };
    view! {
        Card {
            CardBody {
                div(class="row-between") {
                    div {
                        h1 { "Analytics" }
                        p(class="subtitle") { "Every user's model calls: volume, tokens, cost, latency and errors." }
                    }
                    div(class="row") {
                        RangePicker(range=range, options=&[Range::Day, Range::Week, Range::Month])
                        Button(variant=Variant::Flat, size=Size::Small, test_id="refresh",
                               on_click=move || refreshed.set(now_ms().to_string())) { "Refresh" }
                        (csv_link)
                    }
                }
            }
        }
        (body)
        (log)
    }
}
