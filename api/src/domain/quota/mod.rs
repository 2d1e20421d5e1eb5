//! Quotas: rules `{metric, period, limit, model?}` that a user's calls must all keep, from the
//! user's lifetime token limit, the user's tier and the user's own extra rules.
//!
//! A rule counts in a *counter*: one per (period window, model scope) per user, keyed by its
//! window (`day:2026-11-30`, `month:2026-11`, `total`), so a new period starts at zero by itself
//! with no job running. A counter holds what was used and what calls in flight hold, for every
//! metric at once, so the rules on one window and scope share it. The lifetime limit's counter
//! (`total`, every model) is the user's own account.

mod admission;

use std::fmt;

pub use admission::{Admission, Blocked, RuleState, ceilings, plan};

use super::{Money, PriceList, Timestamp, TokenLimit, ValidationError};

/// What a rule limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Tokens,
    Requests,
    /// US dollars, kept exact (nano-dollars).
    Cost,
}

/// Over what time a rule counts: a UTC calendar day, a calendar month, or for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
    Total,
}

impl Period {
    /// The window of this period that `at` falls in.
    pub fn window(self, at: Timestamp) -> Window {
        match self {
            Period::Day => Window { key: format!("day:{}", at.day_label()), resets_at: Some(at.next_day_start()) },
            Period::Month => {
                Window { key: format!("month:{}", at.month_label()), resets_at: Some(at.next_month_start()) }
            }
            Period::Total => Window { key: "total".into(), resets_at: None },
        }
    }

    /// How long the window holding `at` lasts (`None` for `total`).
    pub fn length(self, at: Timestamp) -> Option<std::time::Duration> {
        match self {
            Period::Day => Some(std::time::Duration::from_secs(86_400)),
            Period::Month => Some(std::time::Duration::from_secs(86_400 * at.days_in_month() as u64)),
            Period::Total => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
            Period::Total => "total",
        }
    }
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Tokens => "tokens",
            Metric::Requests => "requests",
            Metric::Cost => "cost",
        }
    }
}

/// One window of a period: its key, and when the next one starts (`None` for `total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub key: String,
    pub resets_at: Option<Timestamp>,
}

/// Which calls a rule counts: every call, a model family's, or one model's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelScope {
    Any,
    Family(String),
    Model(String),
}

impl ModelScope {
    /// The scope a client names: a family of the price list (`sonnet`), or a model ID it prices.
    pub fn parse(field: &'static str, raw: &str, prices: &PriceList) -> Result<Self, ValidationError> {
        let lower = raw.to_ascii_lowercase();
        if prices.families().contains(&lower.as_str()) {
            return Ok(ModelScope::Family(lower));
        }
        if prices.price(raw).is_some() {
            return Ok(ModelScope::Model(raw.to_owned()));
        }
        let families = prices.families().join(", ");
        Err(ValidationError::new(
            field,
            format!("must be a model family ({families}) or a model ID: {}", prices.describe_choices()),
        ))
    }

    /// Whether a call to `model` counts under this scope.
    pub fn covers(&self, model: &str, prices: &PriceList) -> bool {
        match self {
            ModelScope::Any => true,
            ModelScope::Family(family) => prices.family_of(model) == Some(family.as_str()),
            ModelScope::Model(id) => id == model || id == prices.base_model_id(model),
        }
    }

    /// `*` for every model, else the family or model ID: the counter key's scope part.
    pub fn key(&self) -> &str {
        match self {
            ModelScope::Any => "*",
            ModelScope::Family(name) | ModelScope::Model(name) => name,
        }
    }

    /// The model the scope names, for answers (`None` for every model).
    pub fn model(&self) -> Option<&str> {
        match self {
            ModelScope::Any => None,
            ModelScope::Family(name) | ModelScope::Model(name) => Some(name),
        }
    }

    /// The scope a stored key part names.
    pub fn from_key(key: &str, prices: &PriceList) -> Self {
        match key {
            "*" => ModelScope::Any,
            family if prices.families().contains(&family) => ModelScope::Family(family.to_owned()),
            model => ModelScope::Model(model.to_owned()),
        }
    }
}

/// A rule's limit, in its metric's unit: tokens, requests, or nano-dollars.
pub type Limit = u64;

/// One quota rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaRule {
    pub metric: Metric,
    pub period: Period,
    /// Tokens, requests, or nano-dollars: at least 1.
    pub limit: Limit,
    pub model: ModelScope,
}

/// Where a rule that applies to a user comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSource {
    /// The user's lifetime token limit (`tokenLimit`), shown as `{tokens, total}`.
    Limit,
    Tier,
    User,
}

impl RuleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::Limit => "limit",
            RuleSource::Tier => "tier",
            RuleSource::User => "user",
        }
    }
}

/// The most tokens or requests a rule may name: 2^53 − 1, as for limits.
pub const MAX_COUNT: u64 = super::MAX_TOKENS;

impl QuotaRule {
    /// A rule from what a client sent: `limit` is a whole number for tokens and requests, and a
    /// dollar amount with at most 6 decimals for cost.
    pub fn parse(
        metric: Metric,
        period: Period,
        limit: f64,
        model: Option<&str>,
        prices: &PriceList,
    ) -> Result<Self, ValidationError> {
        let limit = match metric {
            Metric::Cost => Money::from_dollars("limit", limit)?.nanos(),
            Metric::Tokens | Metric::Requests => {
                let whole = limit.fract() == 0.0 && limit >= 1.0 && limit <= MAX_COUNT as f64;
                if !whole {
                    return Err(ValidationError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_COUNT} for {} (got {limit})", metric.as_str()),
                    ));
                }
                limit as u64
            }
        };
        let model = match model {
            None => ModelScope::Any,
            Some(raw) => ModelScope::parse("model", raw, prices)?,
        };
        Ok(Self { metric, period, limit, model })
    }

    /// The lifetime token limit as a rule.
    pub fn lifetime(limit: TokenLimit) -> Self {
        Self { metric: Metric::Tokens, period: Period::Total, limit: limit.get(), model: ModelScope::Any }
    }

    /// The limit in the metric's unit for people: tokens, requests, or dollars.
    pub fn limit_display(&self) -> f64 {
        match self.metric {
            Metric::Cost => Money::from_nanos(self.limit).dollars(),
            Metric::Tokens | Metric::Requests => self.limit as f64,
        }
    }

    pub fn counter_key(&self, at: Timestamp) -> CounterKey {
        CounterKey { window: self.period.window(at).key, scope: self.model.key().to_owned() }
    }
}

impl fmt::Display for QuotaRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = match self.period {
            Period::Day => " per day",
            Period::Month => " per month",
            Period::Total => " in total",
        };
        let on = self.model.model().map(|m| format!(" on {m}")).unwrap_or_default();
        match self.metric {
            Metric::Tokens => write!(f, "{} tokens{per}{on}", self.limit),
            Metric::Requests => write!(f, "{} requests{per}{on}", self.limit),
            Metric::Cost => write!(f, "${:.2}{per}{on}", Money::from_nanos(self.limit).dollars()),
        }
    }
}

/// A counter's identity within one user: its window and its model scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CounterKey {
    /// `total`, `day:2026-11-30` or `month:2026-11`.
    pub window: String,
    /// `*` (every model), a family, or a model ID.
    pub scope: String,
}

impl CounterKey {
    /// The user's own account: the lifetime counter of every model.
    pub fn account() -> Self {
        Self { window: "total".into(), scope: "*".into() }
    }

    pub fn is_account(&self) -> bool {
        self.window == "total" && self.scope == "*"
    }

    /// When a counter of this window can be forgotten: a while after its period ended (kept
    /// for reports of the last period), never for `total`.
    pub fn expires_at(&self, at: Timestamp) -> Option<Timestamp> {
        const KEEP: std::time::Duration = std::time::Duration::from_secs(35 * 24 * 3600);
        if self.window.starts_with("day:") {
            Some(at.next_day_start().plus(KEEP))
        } else if self.window.starts_with("month:") {
            Some(at.next_month_start().plus(KEEP))
        } else {
            None
        }
    }
}

/// A named set of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub name: super::TierName,
    pub rules: Vec<QuotaRule>,
}

/// The tiers a new store starts with, from the quotas seed: `free` — per day 500 requests,
/// 100,000 tokens, $5; per month 5,000 requests, 1,000,000 tokens, $50. `pro` — ten times each.
/// `guest` — 50 requests per day.
pub fn default_tiers() -> Vec<Tier> {
    let rules = |scale: u64| {
        let rule = |metric, period, limit| QuotaRule { metric, period, limit, model: ModelScope::Any };
        let dollars = |d: u64| d * 1_000_000_000;
        vec![
            rule(Metric::Requests, Period::Day, 500 * scale),
            rule(Metric::Tokens, Period::Day, 100_000 * scale),
            rule(Metric::Cost, Period::Day, dollars(5) * scale),
            rule(Metric::Requests, Period::Month, 5_000 * scale),
            rule(Metric::Tokens, Period::Month, 1_000_000 * scale),
            rule(Metric::Cost, Period::Month, dollars(50) * scale),
        ]
    };
    let name = |n: &str| super::TierName::parse("tier", n).expect("a valid default tier name");
    vec![
        Tier { name: name("free"), rules: rules(1) },
        Tier { name: name("pro"), rules: rules(10) },
        Tier {
            name: name(GUEST_TIER),
            rules: vec![QuotaRule { metric: Metric::Requests, period: Period::Day, limit: 50, model: ModelScope::Any }],
        },
    ]
}

/// The rules that apply to a call to `model` (or, for usage recorded without a model, to
/// `None`: then only rules on every model), with where each comes from: the lifetime limit
/// first, then the tier's, then the user's own.
pub fn applicable<'a>(
    limit: TokenLimit,
    tier: &'a [QuotaRule],
    own: &'a [QuotaRule],
    model: Option<&str>,
    prices: &PriceList,
) -> Vec<(QuotaRule, RuleSource)> {
    let covers = |rule: &QuotaRule| match model {
        Some(model) => rule.model.covers(model, prices),
        None => rule.model == ModelScope::Any,
    };
    let mut rules = vec![(QuotaRule::lifetime(limit), RuleSource::Limit)];
    rules.extend(tier.iter().filter(|r| covers(r)).map(|r| (r.clone(), RuleSource::Tier)));
    rules.extend(own.iter().filter(|r| covers(r)).map(|r| (r.clone(), RuleSource::User)));
    rules
}

/// The tier guests are put on.
pub const GUEST_TIER: &str = "guest";

/// The rules a user's rule set may hold at most (each may need a counter in a reservation).
pub const MAX_RULES: usize = 20;

/// Checks a rule list as a client sent it: not too many, no rule twice.
pub fn check_rules(rules: &[QuotaRule]) -> Result<(), ValidationError> {
    if rules.len() > MAX_RULES {
        return Err(ValidationError::new(
            "quotas",
            format!("may hold at most {MAX_RULES} rules (got {})", rules.len()),
        ));
    }
    // Two rules on the same metric, period and models are allowed: all must hold, so the
    // tighter one binds (as when a user's own rule overlaps the tier's).
    Ok(())
}

#[cfg(test)]
mod tests;
