//! The tightest rule for a call: what its `RateLimit` headers describe.

use std::time::Duration;

use crate::domain::{Amounts, QuotaRule, RuleSource, RuleState, Timestamp};

/// The tightest rule for a user's call: what the `RateLimit` headers describe.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub rule: QuotaRule,
    pub source: RuleSource,
    /// What is left, in the rule's unit.
    pub remaining: u64,
    /// How long until the rule's window resets (`None` for `total`).
    pub resets_in: Option<Duration>,
    /// How long the rule's window is (`None` for `total`).
    pub window: Option<Duration>,
}

impl Limits {
    /// The rule with the smallest share of its limit left once `extra` is added to each counter.
    pub fn tightest(states: &[RuleState], extra: Amounts, now: Timestamp) -> Option<Limits> {
        states
            .iter()
            .map(|state| {
                let remaining = state.remaining().saturating_sub(state.amount(extra));
                (remaining as f64 / state.rule.limit as f64, state, remaining)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, state, remaining)| Limits {
                rule: state.rule.clone(),
                source: state.source,
                remaining,
                resets_in: state.window.resets_at.map(|at| now.until(at)),
                window: state.rule.period.length(now),
            })
    }
}
