//! The IETF `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers):
//! the tightest rule of a user's call, its quota, window, what is left and when it resets.

use crate::domain::{Limits, Metric};

/// The rule's name in the headers: `<period>-<metric>` (`day-tokens`), with the model when it
/// counts only one.
fn name(limits: &Limits) -> String {
    let rule = &limits.rule;
    match rule.model.model() {
        Some(model) => format!("{}-{}-{model}", rule.period.as_str(), rule.metric.as_str()),
        None => format!("{}-{}", rule.period.as_str(), rule.metric.as_str()),
    }
}

/// Amounts in the headers' unit: tokens, requests, or micro-dollars (`qu="usd-micros"`).
fn scaled(metric: Metric, amount: u64) -> u64 {
    match metric {
        Metric::Cost => amount / 1_000,
        Metric::Tokens | Metric::Requests => amount,
    }
}

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Tokens => "tokens",
        Metric::Requests => "requests",
        Metric::Cost => "usd-micros",
    }
}

/// `RateLimit-Policy`: `"day-tokens";q=100000;w=86400;qu="tokens"`.
pub(crate) fn policy(limits: &Limits) -> String {
    let rule = &limits.rule;
    let window = limits.window.map(|w| format!(";w={}", w.as_secs())).unwrap_or_default();
    format!("\"{}\";q={}{window};qu=\"{}\"", name(limits), scaled(rule.metric, rule.limit), unit(rule.metric))
}

/// `RateLimit`: `"day-tokens";r=4000;t=3600`.
pub(crate) fn remaining(limits: &Limits) -> String {
    let reset = limits.resets_in.map(|d| format!(";t={}", d.as_millis().div_ceil(1000))).unwrap_or_default();
    format!("\"{}\";r={}{reset}", name(limits), scaled(limits.rule.metric, limits.remaining))
}
