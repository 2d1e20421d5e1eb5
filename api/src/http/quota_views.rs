//! The shapes quota answers take: tiers, a user's rules with their state, the pre-request check.

use poem_openapi::Object;
use serde::Deserialize;

use super::{
    body,
    quantity::Quantity,
    quotas::{MetricName, PeriodName, RuleBody, metric_name, period_name},
    strings::{ModelIdText, TierNameText},
};
use crate::domain::{Metric, Money, QuotaCheck, QuotaStatus, RuleState, StoredTier};

/// A tier: a named set of rules.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct TierView {
    name: String,
    quotas: Vec<RuleBody>,
    /// How many users are on the tier.
    users: u64,
}

impl From<&StoredTier> for TierView {
    fn from(stored: &StoredTier) -> Self {
        Self {
            name: stored.tier.name.to_string(),
            quotas: stored.tier.rules.iter().map(RuleBody::from).collect(),
            users: stored.members,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct TierList {
    /// Every tier, ordered by name.
    pub(super) tiers: Vec<TierView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct DeletedTier {
    /// Always `true`.
    pub(super) success: bool,
    pub(super) name: String,
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SetTierBody {
    // The tier, or `null` to take the user off tiers.
    pub(super) tier: Option<TierNameText>,
}

/// One rule of a user, with how much of it is used.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct QuotaState {
    metric: MetricName,
    period: PeriodName,
    /// The model family or ID the rule counts; absent for every model.
    #[oai(skip_serializing_if_is_none)]
    model: Option<String>,
    /// In the metric's unit: tokens, requests, or US dollars.
    limit: Quantity,
    used: Quantity,
    /// Held by calls in flight.
    reserved: Quantity,
    /// `limit − used − reserved`, at least 0.
    remaining: Quantity,
    /// `used / limit × 100`.
    percentage_used: f64,
    /// When the period resets (ISO-8601 UTC); `null` for `total`.
    resets_at: Option<String>,
    /// `limit` (the lifetime limit), `tier` or `user`.
    source: String,
}

pub(super) fn in_unit(metric: Metric, amount: u64) -> Quantity {
    Quantity(match metric {
        Metric::Cost => Money::from_nanos(amount).dollars(),
        Metric::Tokens | Metric::Requests => amount as f64,
    })
}

impl From<&RuleState> for QuotaState {
    fn from(state: &RuleState) -> Self {
        let metric = state.rule.metric;
        Self {
            metric: metric_name(metric),
            period: period_name(state.rule.period),
            model: state.rule.model.model().map(str::to_owned),
            limit: Quantity(state.rule.limit_display()),
            used: in_unit(metric, state.used()),
            reserved: in_unit(metric, state.held()),
            remaining: in_unit(metric, state.remaining()),
            percentage_used: state.percentage_used(),
            resets_at: state.window.resets_at.map(|at| at.to_string()),
            source: state.source.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct UserQuotas {
    user_id: String,
    /// The user's tier, `null` when none.
    tier: Option<String>,
    /// Every rule that applies to the user: the lifetime limit, the tier's, the user's own.
    quotas: Vec<QuotaState>,
}

impl From<&QuotaStatus> for UserQuotas {
    fn from(status: &QuotaStatus) -> Self {
        Self {
            user_id: status.user.id.to_string(),
            tier: status.user.tier.as_ref().map(ToString::to_string),
            quotas: status.rules.iter().map(QuotaState::from).collect(),
        }
    }
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct QuotaCheckBody {
    /// The tokens the request will need (input and output).
    #[oai(validator(minimum(value = "0"), maximum(value = "9007199254740991")))]
    #[serde(deserialize_with = "body::whole_number")]
    pub(super) estimated_tokens: u64,
    /// What it will cost, in US dollars, with at most 6 decimals (default: the tokens at the
    /// model's output price). At most $1,000,000,000.
    #[oai(validator(minimum(value = "0", exclusive), maximum(value = "1000000000"), multiple_of = "0.000001"))]
    #[serde(default, deserialize_with = "body::optional_number")]
    pub(super) estimated_cost: Option<f64>,
    /// The model it will call (default: the service's model).
    #[serde(default)]
    pub(super) model: Option<ModelIdText>,
}

/// A rule that would refuse the request.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct QuotaReason {
    metric: MetricName,
    period: PeriodName,
    #[oai(skip_serializing_if_is_none)]
    model: Option<String>,
    /// What is left, in the metric's unit.
    remaining: Quantity,
    /// When it resets; `null` for `total`.
    resets_at: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct QuotaCheckAnswer {
    /// Whether every rule that applies has room for the request.
    can_proceed: bool,
    /// The rules that would refuse it.
    reasons: Vec<QuotaReason>,
    /// Every rule of the user, with its state.
    quotas: Vec<QuotaState>,
}

impl From<&QuotaCheck> for QuotaCheckAnswer {
    fn from(check: &QuotaCheck) -> Self {
        Self {
            can_proceed: check.can_proceed,
            reasons: check
                .reasons
                .iter()
                .map(|state| QuotaReason {
                    metric: metric_name(state.rule.metric),
                    period: period_name(state.rule.period),
                    model: state.rule.model.model().map(str::to_owned),
                    remaining: in_unit(state.rule.metric, state.remaining()),
                    resets_at: state.window.resets_at.map(|at| at.to_string()),
                })
                .collect(),
            quotas: check.status.rules.iter().map(QuotaState::from).collect(),
        }
    }
}
