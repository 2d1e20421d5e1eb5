//! Quotas: tiers (`/tiers…`), a user's tier and own rules, the state of every rule that applies
//! to a user, and the pre-request check.

use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body::JsonBody,
    error::{ADMIN, AUTH, ApiResult, INPUT, ONE_USER, codes},
    params::user_id,
    quantity::Quantity,
    quota_views::{DeletedTier, QuotaCheckAnswer, QuotaCheckBody, SetTierBody, TierList, TierView, UserQuotas},
    strings::{ModelScopeText, TierNamePath, UserIdPath},
    users::UserReply,
};
use crate::domain::{self, Metric, Money, Period, QuotaRule, Quotas, Tier, TierName, ValidationError};

pub(super) struct QuotasApi {
    pub(super) quotas: Quotas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(super) enum MetricName {
    Tokens,
    Requests,
    Cost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(super) enum PeriodName {
    Day,
    Month,
    Total,
}

impl From<MetricName> for Metric {
    fn from(m: MetricName) -> Self {
        match m {
            MetricName::Tokens => Metric::Tokens,
            MetricName::Requests => Metric::Requests,
            MetricName::Cost => Metric::Cost,
        }
    }
}

impl From<PeriodName> for Period {
    fn from(p: PeriodName) -> Self {
        match p {
            PeriodName::Day => Period::Day,
            PeriodName::Month => Period::Month,
            PeriodName::Total => Period::Total,
        }
    }
}

pub(super) fn metric_name(m: Metric) -> MetricName {
    match m {
        Metric::Tokens => MetricName::Tokens,
        Metric::Requests => MetricName::Requests,
        Metric::Cost => MetricName::Cost,
    }
}

pub(super) fn period_name(p: Period) -> PeriodName {
    match p {
        Period::Day => PeriodName::Day,
        Period::Month => PeriodName::Month,
        Period::Total => PeriodName::Total,
    }
}

/// A quota rule: at most `limit` of `metric` per `period`, on every model or on one `model`.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename = "QuotaRule", rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RuleBody {
    /// `tokens`, `requests`, or `cost` (US dollars).
    metric: MetricName,
    /// `day` (UTC calendar day), `month` (UTC calendar month) or `total`.
    period: PeriodName,
    /// A positive whole number for tokens and requests; a positive amount of dollars with at
    /// most 6 decimals for cost.
    limit: Quantity,
    /// A model family (`sonnet`, `haiku`, `opus`) or a model ID: the rule then counts only
    /// calls to that model. Absent: every model.
    #[oai(skip_serializing_if_is_none)]
    #[serde(default)]
    model: Option<ModelScopeText>,
}

impl RuleBody {
    fn parse(self, prices: &domain::PriceList) -> Result<QuotaRule, ValidationError> {
        QuotaRule::parse(self.metric.into(), self.period.into(), self.limit.0, self.model.as_deref(), prices)
    }
}

impl From<&QuotaRule> for RuleBody {
    fn from(rule: &QuotaRule) -> Self {
        Self {
            metric: metric_name(rule.metric),
            period: period_name(rule.period),
            limit: Quantity(rule.limit_display()),
            model: rule.model.model().map(|m| ModelScopeText(m.to_owned())),
        }
    }
}

fn parse_rules(rules: Vec<RuleBody>, prices: &domain::PriceList) -> Result<Vec<QuotaRule>, ValidationError> {
    rules.into_iter().map(|rule| rule.parse(prices)).collect()
}

#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RulesBody {
    /// The rules, at most 20; no two with the same metric, period and model.
    #[oai(validator(max_items = 20))]
    quotas: Vec<RuleBody>,
}

fn tier_name(raw: &str) -> Result<TierName, ValidationError> {
    TierName::parse("tier", raw)
}

codes!(ListTiers: AUTH, ADMIN);
codes!(PutTier: AUTH, ADMIN, INPUT);
codes!(DeleteTier: AUTH, ADMIN, INPUT; TierNotFound, TierInUse);
codes!(SetUserTier: AUTH, ADMIN, INPUT, ONE_USER; TierNotFound);
codes!(SetUserQuotas: AUTH, ADMIN, INPUT, ONE_USER);
codes!(GetUserQuotas: AUTH, ONE_USER);
codes!(CheckQuota: AUTH, INPUT, ONE_USER);

#[OpenApi(tag = "ApiTags::Quotas")]
impl QuotasApi {
    /// List tiers
    ///
    /// Admin only. Every tier with its rules and how many users are on it.
    #[oai(path = "/tiers", method = "get", operation_id = "listTiers")]
    async fn list_tiers(&self, caller: Caller) -> ApiResult<Json<TierList>, ListTiers> {
        let tiers = self.quotas.tiers(&caller.0).await?;
        Ok(Json(TierList { tiers: tiers.iter().map(TierView::from).collect() }))
    }

    /// Create or replace a tier
    ///
    /// Admin only. The tier's rules are replaced; its users' next calls follow them.
    #[oai(path = "/tiers/:tier", method = "put", operation_id = "putTier")]
    async fn put_tier(
        &self,
        caller: Caller,
        tier: Path<TierNamePath>,
        body: JsonBody<RulesBody>,
    ) -> ApiResult<Json<TierView>, PutTier> {
        let name = tier_name(&tier)?;
        let rules = parse_rules(body.0.quotas, self.quotas.prices())?;
        let stored = self.quotas.put_tier(&caller.0, Tier { name, rules }).await?;
        Ok(Json((&stored).into()))
    }

    /// Delete a tier
    ///
    /// Admin only. Answers 409 `tier_in_use` while users are on it.
    #[oai(path = "/tiers/:tier", method = "delete", operation_id = "deleteTier")]
    async fn delete_tier(&self, caller: Caller, tier: Path<TierNamePath>) -> ApiResult<Json<DeletedTier>, DeleteTier> {
        let name = tier_name(&tier)?;
        self.quotas.delete_tier(&caller.0, &name).await?;
        Ok(Json(DeletedTier { success: true, name: name.to_string() }))
    }

    /// Set a user's tier
    ///
    /// Admin only. `{"tier": null}` takes the user off tiers.
    #[oai(path = "/users/:userId/tier", method = "put", operation_id = "setUserTier")]
    async fn set_tier(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<SetTierBody>,
    ) -> ApiResult<UserReply, SetUserTier> {
        let id = user_id(&id)?;
        let tier = body.0.tier.as_deref().map(tier_name).transpose()?;
        Ok(UserReply::of(&self.quotas.set_tier(&caller.0, &id, tier).await?, false))
    }

    /// Set a user's own rules
    ///
    /// Admin only. Replaces the user's own rules (besides the lifetime limit and the tier's).
    #[oai(path = "/users/:userId/quotas", method = "put", operation_id = "setUserQuotas")]
    async fn set_quotas(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<RulesBody>,
    ) -> ApiResult<UserReply, SetUserQuotas> {
        let id = user_id(&id)?;
        let rules = parse_rules(body.0.quotas, self.quotas.prices())?;
        Ok(UserReply::of(&self.quotas.set_quotas(&caller.0, &id, rules).await?, false))
    }

    /// Get a user's quotas
    ///
    /// Every rule that applies to the user (the lifetime limit as `{tokens, total}`, the tier's,
    /// the user's own), each with what is used, held by calls in flight and left, and when it
    /// resets. Admins, or the user's own key.
    #[oai(path = "/users/:userId/quotas", method = "get", operation_id = "getUserQuotas")]
    async fn user_quotas(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
    ) -> ApiResult<Json<UserQuotas>, GetUserQuotas> {
        let status = self.quotas.status(&caller.0, &user_id(&id)?).await?;
        Ok(Json((&status).into()))
    }

    /// Check a request against the quotas
    ///
    /// Whether a request needing `estimatedTokens` (and `estimatedCost`) would pass every rule
    /// that applies, and which would refuse it. Changes nothing. Admins, or the user's own key.
    #[oai(path = "/users/:userId/quota-check", method = "post", operation_id = "checkQuota")]
    async fn check(
        &self,
        caller: Caller,
        #[oai(name = "userId")] id: Path<UserIdPath>,
        body: JsonBody<QuotaCheckBody>,
    ) -> ApiResult<Json<QuotaCheckAnswer>, CheckQuota> {
        let id = user_id(&id)?;
        let request = body.0;
        let cost = request.estimated_cost.map(|c| Money::from_dollars("estimatedCost", c)).transpose()?;
        let tokens = domain::TokenCount::new("estimatedTokens", request.estimated_tokens)?.get();
        let check = self.quotas.check(&caller.0, &id, tokens, cost, request.model.as_deref()).await?;
        Ok(Json((&check).into()))
    }
}
