//! The Analytics page's tables: usage by model, the users who cost most, the alerts firing,
//! and the log of recent invocations (paged with `nextBefore`).

use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{AlertMetric, EventView, FiringView, ModelUsageView, User},
};

use crate::{
    api::ApiError,
    format,
    ui::{Alert, Button, Card, CardHeader, Loading, Size, Table, Tone, Variant},
};

/// Events per page of the log.
const PAGE: u64 = 10;

/// A table's empty state, as one row across its columns.
fn empty(columns: &'static str, text: &'static str) -> View {
    view! { tr { td(class="empty", colspan=columns) { (text) } } }
}

/// Usage by model, most expensive first, with each model's share of the cost.
pub(super) fn by_model(models: &[ModelUsageView], total_cost: f64) -> View {
    let rows = models
        .iter()
        .map(|m| {
            let share = if total_cost > 0.0 { m.cost * 100.0 / total_cost } else { 0.0 };
            let (model, calls, input, output, cost) = (
                m.model.clone(),
                format::tokens(m.invocations),
                format::tokens(m.input_tokens),
                format::tokens(m.output_tokens),
                format::money(m.cost),
            );
            let (width, pct, row) = (format!("width: {share:.1}%"), format::percent(share), model.clone());
            view! {
                tr(data-model=row) {
                    td(class="cell-title mono", data-label="Model") { (model) }
                    td(class="num", data-label="Invocations") { (calls) }
                    td(class="num", data-label="Input tokens") { (input) }
                    td(class="num", data-label="Output tokens") { (output) }
                    td(class="num", data-label="Cost") { (cost) }
                    td(data-label="Share of cost") {
                        div(class="pct-cell") {
                            div(class="share", aria-hidden="true") { div(class="share-fill", style=width) }
                            span { (pct) }
                        }
                    }
                }
            }
        })
        .collect::<Vec<View>>();
    let rows = if rows.is_empty() { empty("6", "No model was called in this range.") } else { View::from(rows) };
    view! {
        Card(label="By model") {
            CardHeader { h2 { "By model" } }
            Table(label="Usage by model", test_id="by-model", cards=true) {
                thead { tr {
                    th(scope="col") { "Model" }
                    th(scope="col", class="num") { "Invocations" }
                    th(scope="col", class="num") { "Input tokens" }
                    th(scope="col", class="num") { "Output tokens" }
                    th(scope="col", class="num") { "Cost" }
                    th(scope="col") { "Share of cost" }
                } }
                tbody { (rows) }
            }
        }
    }
}

/// The five users whose usage has cost the most (lifetime).
pub(super) fn top_users(users: &[User]) -> View {
    let mut users = users.iter().filter(|u| u.total_cost > 0.0).collect::<Vec<_>>();
    users.sort_by(|a, b| b.total_cost.total_cmp(&a.total_cost).then_with(|| a.user_id.cmp(&b.user_id)));
    let rows = users
        .into_iter()
        .take(5)
        .map(|u| {
            let (href, id, row) = (format!("/admin/users/{}", u.user_id), u.user_id.clone(), u.user_id.clone());
            let (cost, tokens, calls) =
                (format::money(u.total_cost), format::tokens(u.token_usage), format::tokens(u.request_count));
            view! {
                tr(data-user=row) {
                    td(class="cell-title", data-label="User") { a(href=href) { (id) } }
                    td(class="num", data-label="Cost") { (cost) }
                    td(class="num", data-label="Tokens") { (tokens) }
                    td(class="num", data-label="Requests") { (calls) }
                }
            }
        })
        .collect::<Vec<View>>();
    let rows = if rows.is_empty() { empty("4", "No user has spent anything yet.") } else { View::from(rows) };
    view! {
        Card(label="Top users by cost") {
            CardHeader { h2 { "Top users by cost" } span(class="muted") { "lifetime" } }
            Table(label="Top users by cost", test_id="top-users", cards=true) {
                thead { tr {
                    th(scope="col") { "User" }
                    th(scope="col", class="num") { "Cost" }
                    th(scope="col", class="num") { "Tokens" }
                    th(scope="col", class="num") { "Requests" }
                } }
                tbody { (rows) }
            }
        }
    }
}

/// A metric's value as it reads.
fn metric_value(metric: AlertMetric, v: f64) -> String {
    match metric {
        AlertMetric::Cost => format::money(v),
        AlertMetric::MeanLatencyMs => format!("{v:.0} ms"),
        AlertMetric::QuotaPercent => format::percent(v),
        _ => format::tokens(v as u64),
    }
}

/// The alerts firing now.
pub(super) fn active_alerts(active: &[FiringView]) -> View {
    let rows = active
        .iter()
        .map(|f| {
            let who = f.user_id.clone().unwrap_or_else(|| "everyone".into());
            let (name, metric, since) = (f.alert.clone(), f.metric.to_string(), format::timestamp(&f.at));
            let value = format!("{} ≥ {}", metric_value(f.metric, f.value), metric_value(f.metric, f.threshold));
            let row = name.clone();
            view! {
                tr(data-alert=row) {
                    td(class="cell-title", data-label="Alert") { (name) }
                    td(data-label="Metric") { (metric) }
                    td(data-label="For") { (who) }
                    td(class="num", data-label="Value") { (value) }
                    td(class="num", data-label="Since") { (since) }
                }
            }
        })
        .collect::<Vec<View>>();
    let rows = if rows.is_empty() { empty("5", "No alert is firing.") } else { View::from(rows) };
    view! {
        Card(label="Active alerts") {
            CardHeader { h2 { "Active alerts" } }
            Table(label="Active alerts", test_id="alerts", cards=true) {
                thead { tr {
                    th(scope="col") { "Alert" }
                    th(scope="col") { "Metric" }
                    th(scope="col") { "For" }
                    th(scope="col", class="num") { "Value / threshold" }
                    th(scope="col", class="num") { "Since" }
                } }
                tbody { (rows) }
            }
        }
    }
}

fn event_row(e: EventView) -> View {
    let (id, when, user, model, kind) = (e.event_id, format::timestamp(&e.at), e.user_id, e.model, e.kind);
    let tokens = format!("{} / {}", format::tokens(e.input_tokens), format::tokens(e.output_tokens));
    let (cost, latency) = (format::money(e.cost), format!("{} ms", format::tokens(e.latency_ms)));
    let ok = e.outcome == "ok";
    let outcome_class = if ok { "chip chip-success" } else { "chip chip-danger" };
    let outcome = e.outcome;
    view! {
        tr(data-event=id) {
            td(class="num", data-label="Time") { (when) }
            td(class="cell-title", data-label="User") { (user) }
            td(class="mono", data-label="Model") { (model) }
            td(data-label="Kind") { (kind) }
            td(data-label="Outcome") { span(class=outcome_class) { (outcome) } }
            td(class="num", data-label="Tokens in / out") { (tokens) }
            td(class="num", data-label="Cost") { (cost) }
            td(class="num", data-label="Latency") { (latency) }
        }
    }
}

/// The latest invocations, newest first, a page at a time: "Older" follows `nextBefore`,
/// "Newest" goes back to the first page.
#[component(inline_props)]
pub(super) fn RecentLog(client: Client, hours: ReadSignal<u64>) -> View {
    let before = create_signal(None::<String>);
    let page = create_signal(None::<Result<(Vec<EventView>, Option<String>), ApiError>>);
    // A new range starts again from the newest.
    let shown_hours = create_signal(0u64);
    create_effect(move || {
        let h = hours.get();
        if shown_hours.get_untracked() != h {
            shown_hours.set_silent(h);
            before.set_silent(None);
        }
        let (b, client) = (before.get_clone(), client.clone());
        sycamore::futures::spawn_local_scoped(async move {
            let answer = client
                .list_events(b.as_deref(), std::num::NonZeroU64::new(h), std::num::NonZeroU64::new(PAGE), None, None)
                .await
                .map(|r| {
                    let r = r.into_inner();
                    (r.events, r.next_before)
                })
                .map_err(ApiError::from);
            page.set(Some(answer));
        });
    });
    let rows = move || match page.get_clone() {
        None => view! { tr { td(colspan="8") { Loading(what="Loading the log…") } } },
        Some(Err(err)) => {
            let message = err.to_string();
            view! { tr { td(colspan="8") { Alert(tone=Tone::Danger, title="The log could not be loaded.", message=message) } } }
        }
        Some(Ok((events, _))) if events.is_empty() => empty("8", "No invocation in this range."),
        Some(Ok((events, _))) => View::from(events.into_iter().map(event_row).collect::<Vec<View>>()),
    };
    let next = move || page.with(|p| p.as_ref().and_then(|p| p.as_ref().ok()).and_then(|(_, n)| n.clone()));
    let at_start = move || before.with(Option::is_none);
    view! {
        Card(label="Recent invocations") {
            CardHeader {
                h2 { "Recent invocations" }
                div(class="row") {
                    Button(variant=Variant::Flat, size=Size::Small, test_id="log-newest", disabled=at_start,
                           on_click=move || before.set(None)) { "Newest" }
                    Button(variant=Variant::Flat, size=Size::Small, test_id="log-older", disabled=move || next().is_none(),
                           on_click=move || if let Some(n) = next() { before.set(Some(n)) }) { "Older" }
                }
            }
            Table(label="Recent invocations", test_id="log", cards=true) {
                thead { tr {
                    th(scope="col", class="num") { "Time" }
                    th(scope="col") { "User" }
                    th(scope="col") { "Model" }
                    th(scope="col") { "Kind" }
                    th(scope="col") { "Outcome" }
                    th(scope="col", class="num") { "Tokens in / out" }
                    th(scope="col", class="num") { "Cost" }
                    th(scope="col", class="num") { "Latency" }
                } }
                tbody { (rows) }
            }
        }
    }
}
