//! Every quota that applies to a user (`GET /users/{id}/quotas`), as bars: used / limit, and
//! when it resets. The lifetime limit is the `{tokens, total}` rule. Loaded again whenever the
//! user's figures change and when a period ends.

use sycamore::prelude::*;
use tokenmeter_client::{
    Client,
    types::{MetricName, PeriodName, QuotaState, UserQuotas},
};

use super::chat_fit::rule_name;
use crate::{
    api::ApiError,
    format::{self, Level},
    ui::{Card, CardBody, CardHeader, Chip, Progress},
};

/// A user's quotas as last loaded, and the service's refusal if the last load failed.
#[derive(Clone, Copy)]
pub(super) struct Quotas {
    pub(super) value: Signal<Option<UserQuotas>>,
    pub(super) error: Signal<Option<ApiError>>,
    #[cfg_attr(
        not(feature = "admin"),
        expect(dead_code, reason = "only the administrator's pages change a user's rules")
    )]
    load: Signal<u32>,
}

impl Quotas {
    /// Loads `id`'s quotas now and each time `changed` changes (the user's figures), and once
    /// more when the earliest period shown ends (`now`: the browser clock, ms).
    pub(super) fn follow(client: Client, id: String, changed: impl Fn() -> String + 'static, now: Signal<f64>) -> Self {
        let load = create_signal(0u32);
        let quotas = Self { value: create_signal(None), error: create_signal(None), load };
        create_effect(move || {
            changed();
            load.update(|n| *n += 1);
        });
        // A period ended: its counter starts again at zero (once per reset, a second late so
        // that the service's clock has passed it too).
        let reloaded_for = create_signal(0.0);
        create_effect(move || {
            let next = quotas.value.with(|q| next_reset_ms(q.as_ref()));
            if let Some(at) = next
                && at + 1000.0 <= now.get()
                && reloaded_for.get_untracked() != at
            {
                reloaded_for.set(at);
                load.update(|n| *n += 1);
            }
        });
        create_effect(move || {
            load.track();
            let (client, id) = (client.clone(), id.clone());
            sycamore::futures::spawn_local_scoped(async move {
                match client.get_user_quotas(&id).await {
                    Ok(answer) => {
                        quotas.value.set(Some(answer.into_inner()));
                        quotas.error.set(None);
                    }
                    Err(err) => quotas.error.set(Some(err.into())),
                }
            });
        });
        quotas
    }

    /// Loads them again (after a change of tier or rules).
    #[cfg(feature = "admin")]
    pub(super) fn reload(self) {
        self.load.update(|n| *n += 1);
    }
}

/// When the earliest period shown ends (browser clock, ms).
fn next_reset_ms(quotas: Option<&UserQuotas>) -> Option<f64> {
    quotas?.quotas.iter().filter_map(|q| q.resets_at.as_deref()).map(js_sys::Date::parse).reduce(f64::min)
}

/// `Daily request quota`, `Lifetime token limit`.
pub(super) fn quota_name(q: &QuotaState) -> String {
    let name = rule_name(&q.metric.to_string(), &q.period.to_string(), q.model.as_deref());
    let name = if q.source == "limit" { name.replace("quota", "limit") } else { name };
    // ASCII only: Unicode case tables would add kilobytes to the app.
    let mut name = name;
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    name
}

/// A figure of a quota's metric without its unit: `1,234`, `$0.50`.
fn figure(metric: MetricName, value: f64) -> String {
    match metric {
        MetricName::Cost => format::money(value),
        MetricName::Tokens | MetricName::Requests => format::tokens(value as u64),
    }
}

/// A figure of a quota's metric: `1,234 tokens`, `12 requests`, `$0.50`.
pub(super) fn amount(metric: MetricName, value: f64) -> String {
    match metric {
        MetricName::Tokens => format!("{} tokens", figure(metric, value)),
        MetricName::Requests => format!("{} requests", figure(metric, value)),
        MetricName::Cost => figure(metric, value),
    }
}

/// `resets in 5 h 12 min`, or `never resets` for a lifetime rule.
fn resets(q: &QuotaState, now_ms: f64) -> String {
    match (q.period, q.resets_at.as_deref()) {
        (PeriodName::Total, _) | (_, None) => "never resets".into(),
        (_, Some(at)) => {
            let secs = ((js_sys::Date::parse(at) - now_ms) / 1000.0).max(0.0) as u64;
            format!("resets in {}", format::resets_in(secs))
        }
    }
}

fn source(q: &QuotaState, tier: Option<&str>) -> String {
    match (q.source.as_str(), tier) {
        ("tier", Some(tier)) => format!("tier {tier}"),
        ("user", _) => "own rule".into(),
        ("limit", _) => "token limit".into(),
        (other, _) => other.to_owned(),
    }
}

/// The card of bars, one per quota, with what is used of what limit and when it resets.
#[component(inline_props)]
pub(super) fn QuotaBars(quotas: Quotas, now: Signal<f64>) -> View {
    let bars = move || {
        let Some(q) = quotas.value.get_clone() else {
            return match quotas.error.get_clone() {
                Some(err) => view! { p(class="field-error") { (err.to_string()) } },
                None => view! { p(class="muted") { "Loading…" } },
            };
        };
        let tier = q.tier.clone();
        q.quotas
            .into_iter()
            .map(|state| {
                let level = Level::of(state.percentage_used);
                let name = quota_name(&state);
                let used = format!("{} / {}", figure(state.metric, state.used), amount(state.metric, state.limit));
                let key = format!("{}-{}-{}", state.metric, state.period, state.model.clone().unwrap_or_default());
                let origin = source(&state, tier.as_deref());
                let pct = format::percent(state.percentage_used);
                let (label, value) = (format!("{name}: {pct} used"), state.percentage_used);
                view! {
                    div(class="quota", data-testid="quota", data-quota=key) {
                        div(class="row-between") {
                            strong { (name) }
                            Chip(text=origin)
                        }
                        Progress(label=label, value=value, tone=level.tone(), small=true)
                        div(class="progress-labels") {
                            span(data-testid="quota-used") { (used) " · " (pct) }
                            span(data-testid="quota-resets") { (move || resets(&state, now.get())) }
                        }
                    }
                }
            })
            .collect::<Vec<View>>()
            .into()
    };
    view! {
        Card(label="Quotas") {
            CardHeader { h2 { "Quotas" } }
            CardBody { div(class="quotas", data-testid="quotas") { (bars) } }
        }
    }
}
