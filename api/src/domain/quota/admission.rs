//! Admission: how much a model call may hold so that no rule that applies can pass its limit,
//! whatever the model then does within its output cap.
//!
//! A call holds 1 request, its input plus its output cap in tokens, and its worst-case cost
//! (input at the dearest input rate plus the cap at the output rate). The cap is what the call
//! asked for, lowered to what every rule still has room for; the store then adds the hold only
//! if every counter is still within its ceiling, in one atomic step. Pure and property-tested.

use super::{CounterKey, Metric, QuotaRule, RuleSource, Window};
use crate::domain::{Amounts, Ceiling, Counter, Money, TokenPrices};

/// A rule that applies to a call, with its counter as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleState {
    pub rule: QuotaRule,
    pub source: RuleSource,
    pub key: CounterKey,
    pub window: Window,
    pub counter: Counter,
}

impl RuleState {
    /// What `amounts` come to in the rule's unit (tokens, requests, nano-dollars).
    pub fn amount(&self, amounts: Amounts) -> u64 {
        match self.rule.metric {
            Metric::Tokens => amounts.tokens,
            Metric::Requests => amounts.requests,
            Metric::Cost => amounts.cost.nanos(),
        }
    }

    /// What the rule has left, in its unit (tokens, requests, nano-dollars), counting holds.
    pub fn remaining(&self) -> u64 {
        self.rule.limit.saturating_sub(self.amount(self.counter.committed()))
    }

    /// What calls in flight hold of it, in its unit.
    pub fn held(&self) -> u64 {
        self.amount(self.counter.held)
    }

    /// What was used, in its unit.
    pub fn used(&self) -> u64 {
        self.amount(self.counter.used)
    }

    /// `used / limit × 100`.
    pub fn percentage_used(&self) -> f64 {
        self.used() as f64 * 100.0 / self.rule.limit as f64
    }

    /// How tight the rule is: the share of its limit still free (0 = nothing left).
    pub fn headroom(&self) -> f64 {
        self.remaining() as f64 / self.rule.limit as f64
    }

    /// The most output tokens a call with `input` tokens may be given under this rule, or
    /// `None` when not even one fits.
    fn output_room(&self, input: u64, prices: &TokenPrices) -> Option<u64> {
        let room = self.remaining();
        let out = match self.rule.metric {
            Metric::Tokens => room.checked_sub(input)?,
            Metric::Requests => (room >= 1).then_some(u64::MAX)?,
            Metric::Cost => {
                let left = Money::from_nanos(room).checked_sub(prices.worst_case(input, 0))?;
                left.units_of(prices.output)
            }
        };
        (out >= 1).then_some(out)
    }
}

/// What an admitted call holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub max_output_tokens: u32,
    /// 1 request, input + cap tokens, the worst-case cost.
    pub hold: Amounts,
    /// Per counter, the most it may commit once the hold is added (the tightest limit per metric).
    pub ceilings: Vec<(CounterKey, Ceiling)>,
}

/// Why a call cannot start: the rule with the least room (index into the rules given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub rule: usize,
    /// What the rule has left, in its unit.
    pub remaining: u64,
    /// What the call needs of it at least (input + 1 output token, 1 request, or their cost).
    pub needed: u64,
    /// What calls in flight hold of it: a wait may free it.
    pub held: u64,
}

/// The ceilings the rules set on their counters: per counter and metric, the tightest limit.
pub fn ceilings(rules: &[RuleState]) -> Vec<(CounterKey, Ceiling)> {
    let mut ceilings: Vec<(CounterKey, Ceiling)> = Vec::new();
    for state in rules {
        let at = match ceilings.iter().position(|(key, _)| *key == state.key) {
            Some(at) => at,
            None => {
                ceilings.push((state.key.clone(), Ceiling::default()));
                ceilings.len() - 1
            }
        };
        let ceiling = &mut ceilings[at].1;
        let limit = state.rule.limit;
        match state.rule.metric {
            Metric::Tokens => ceiling.tokens = Some(ceiling.tokens.map_or(limit, |c| c.min(limit))),
            Metric::Requests => ceiling.requests = Some(ceiling.requests.map_or(limit, |c| c.min(limit))),
            Metric::Cost => {
                let limit = Money::from_nanos(limit);
                ceiling.cost = Some(ceiling.cost.map_or(limit, |c| c.min(limit)));
            }
        }
    }
    ceilings
}

/// Plans a call of `input` tokens asking for `requested` output tokens at `prices`, under
/// every rule in `rules`. The cap is `requested` when it fits, else the most that fits.
pub fn plan(rules: &[RuleState], input: u64, requested: u32, prices: &TokenPrices) -> Result<Admission, Blocked> {
    let requested = u64::from(requested.max(1));
    let mut cap = requested;
    for (index, state) in rules.iter().enumerate() {
        match state.output_room(input, prices) {
            Some(room) => cap = cap.min(room),
            None => {
                let needed = match state.rule.metric {
                    Metric::Tokens => input.saturating_add(1),
                    Metric::Requests => 1,
                    Metric::Cost => prices.worst_case(input, 1).nanos(),
                };
                return Err(Blocked { rule: index, remaining: state.remaining(), needed, held: state.held() });
            }
        }
    }
    let cap = cap.min(u64::from(u32::MAX)) as u32;
    Ok(Admission {
        max_output_tokens: cap,
        hold: Amounts {
            tokens: input.saturating_add(u64::from(cap)),
            requests: 1,
            cost: prices.worst_case(input, u64::from(cap)),
        },
        ceilings: ceilings(rules),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::quota::{ModelScope, Period};

    const PRICES: TokenPrices = TokenPrices { input: 3_000, output: 15_000, cache_read: 300, cache_write: 3_750 };

    fn state(metric: Metric, limit: u64, used: Amounts, held: Amounts) -> RuleState {
        let rule = QuotaRule { metric, period: Period::Day, limit, model: ModelScope::Any };
        RuleState {
            key: CounterKey { window: "day:2026-11-30".into(), scope: "*".into() },
            window: Period::Day.window(crate::domain::Timestamp::from_millis(0)),
            source: RuleSource::Tier,
            counter: Counter { used, held },
            rule,
        }
    }

    fn tokens(n: u64) -> Amounts {
        Amounts { tokens: n, ..Amounts::ZERO }
    }

    #[test]
    fn the_cap_is_what_was_asked_when_it_fits_else_what_remains() {
        let rules = [state(Metric::Tokens, 1_000, Amounts::ZERO, Amounts::ZERO)];
        let fits = plan(&rules, 12, 100, &PRICES).unwrap();
        assert_eq!((fits.max_output_tokens, fits.hold.tokens, fits.hold.requests), (100, 112, 1));
        assert_eq!(plan(&rules, 12, 5_000, &PRICES).unwrap().max_output_tokens, 988);
        let full = [state(Metric::Tokens, 1_000, tokens(900), tokens(88))];
        let blocked = plan(&full, 12, 100, &PRICES).unwrap_err();
        assert_eq!(blocked, Blocked { rule: 0, remaining: 12, needed: 13, held: 88 });
    }

    #[test]
    fn a_cost_rule_caps_output_by_its_price() {
        // $0.0100 left; 100 input tokens at the dearest input rate cost $0.000375, leaving
        // $0.009625: 641 output tokens at $15 per million.
        let rules = [state(Metric::Cost, 10_000_000, Amounts::ZERO, Amounts::ZERO)];
        let admitted = plan(&rules, 100, 5_000, &PRICES).unwrap();
        assert_eq!(admitted.max_output_tokens, 641);
        assert!(admitted.hold.cost <= Money::from_nanos(10_000_000));
    }

    #[test]
    fn a_request_rule_blocks_the_request_past_its_limit() {
        let used = Amounts { requests: 9, ..Amounts::ZERO };
        let rules = [state(Metric::Requests, 10, used, Amounts { requests: 1, ..Amounts::ZERO })];
        assert_eq!(plan(&rules, 1, 10, &PRICES).unwrap_err().held, 1);
    }

    fn metric() -> impl Strategy<Value = Metric> {
        prop_oneof![Just(Metric::Tokens), Just(Metric::Requests), Just(Metric::Cost)]
    }

    fn amounts() -> impl Strategy<Value = Amounts> {
        (0u64..5_000, 0u64..20, 0u64..50_000_000).prop_map(|(tokens, requests, cost)| Amounts {
            tokens,
            requests,
            cost: Money::from_nanos(cost),
        })
    }

    /// Rules on counters of their own (rules sharing a counter share its state, which the
    /// ceilings test covers).
    fn rule_states() -> impl Strategy<Value = Vec<RuleState>> {
        prop::collection::vec(
            (metric(), 1u64..60_000_000, amounts(), amounts()).prop_map(|(metric, limit, used, held)| {
                let limit = match metric {
                    Metric::Tokens => limit % 6_000 + 1,
                    Metric::Requests => limit % 25 + 1,
                    Metric::Cost => limit,
                };
                state(metric, limit, used, held)
            }),
            1..6,
        )
        .prop_map(|mut states| {
            for (i, state) in states.iter_mut().enumerate() {
                state.key.scope = format!("scope-{i}");
            }
            states
        })
    }

    #[test]
    fn rules_sharing_a_counter_set_its_tightest_ceiling_per_metric() {
        let shared = |metric, limit| state(metric, limit, tokens(100), Amounts::ZERO);
        let rules = [shared(Metric::Tokens, 500), shared(Metric::Tokens, 300), shared(Metric::Requests, 9)];
        let admitted = plan(&rules, 10, 1_000, &PRICES).unwrap();
        assert_eq!(admitted.max_output_tokens, 190);
        let expected = Ceiling { tokens: Some(300), requests: Some(9), cost: None };
        assert_eq!(admitted.ceilings, vec![(rules[0].key.clone(), expected)]);
    }

    proptest! {
        /// Whatever the model then uses within its cap, no rule passes its limit; the cap never
        /// exceeds what fits, nor what was asked; a refusal names a rule where nothing fits.
        #[test]
        fn a_planned_call_never_passes_any_rule(
            rules in rule_states(),
            input in 0u64..3_000,
            requested in 1u32..4_000,
        ) {
            match plan(&rules, input, requested, &PRICES) {
                Ok(admitted) => {
                    let cap = u64::from(admitted.max_output_tokens);
                    prop_assert!(cap >= 1 && cap <= u64::from(requested));
                    let after = |state: &RuleState, hold: Amounts| state.counter.committed().saturating_add(hold);
                    for state in &rules {
                        prop_assert!(state.amount(after(state, admitted.hold)) <= state.rule.limit, "{state:?}");
                    }
                    if cap < u64::from(requested) {
                        let one_more = Amounts {
                            tokens: admitted.hold.tokens + 1,
                            requests: 1,
                            cost: PRICES.worst_case(input, cap + 1),
                        };
                        let some_rule_overflows = rules.iter()
                            .any(|s| s.amount(after(s, one_more)) > s.rule.limit);
                        prop_assert!(some_rule_overflows, "the cap {cap} could have been larger");
                    }
                    for (key, ceiling) in &admitted.ceilings {
                        for state in rules.iter().filter(|s| &s.key == key) {
                            prop_assert!(ceiling.admits(after(state, admitted.hold)));
                        }
                    }
                }
                Err(blocked) => {
                    let state = &rules[blocked.rule];
                    let one = Amounts { tokens: input + 1, requests: 1, cost: PRICES.worst_case(input, 1) };
                    prop_assert!(state.amount(state.counter.committed().saturating_add(one)) > state.rule.limit);
                }
            }
        }
    }
}
