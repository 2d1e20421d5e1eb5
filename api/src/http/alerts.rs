//! Alerts: rules as data (`/alerts/rules…`) and the firings (`/alerts`). Admin only.

use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{
    ApiTags,
    auth::Caller,
    body,
    error::{ADMIN, AUTH, ApiResult, INPUT, codes},
    params::user_id,
    strings::{AlertNamePath, ModelScopeText, UserIdText},
};
use crate::domain::{AlertMetric, AlertRule, Alerts, Comparison, Firing, FiringState, ModelScope};

pub(super) struct AlertsApi {
    pub(super) alerts: Alerts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename = "AlertMetric")]
pub(super) enum MetricName {
    #[oai(rename = "inputTokens")]
    #[serde(rename = "inputTokens")]
    InputTokens,
    #[oai(rename = "outputTokens")]
    #[serde(rename = "outputTokens")]
    OutputTokens,
    #[oai(rename = "invocations")]
    #[serde(rename = "invocations")]
    Invocations,
    #[oai(rename = "errors")]
    #[serde(rename = "errors")]
    Errors,
    #[oai(rename = "meanLatencyMs")]
    #[serde(rename = "meanLatencyMs")]
    MeanLatencyMs,
    #[oai(rename = "cost")]
    #[serde(rename = "cost")]
    Cost,
    #[oai(rename = "quotaPercent")]
    #[serde(rename = "quotaPercent")]
    QuotaPercent,
}

fn metric_of(name: MetricName) -> AlertMetric {
    match name {
        MetricName::InputTokens => AlertMetric::InputTokens,
        MetricName::OutputTokens => AlertMetric::OutputTokens,
        MetricName::Invocations => AlertMetric::Invocations,
        MetricName::Errors => AlertMetric::Errors,
        MetricName::MeanLatencyMs => AlertMetric::MeanLatencyMs,
        MetricName::Cost => AlertMetric::Cost,
        MetricName::QuotaPercent => AlertMetric::QuotaPercent,
    }
}

fn name_of(metric: AlertMetric) -> MetricName {
    match metric {
        AlertMetric::InputTokens => MetricName::InputTokens,
        AlertMetric::OutputTokens => MetricName::OutputTokens,
        AlertMetric::Invocations => MetricName::Invocations,
        AlertMetric::Errors => MetricName::Errors,
        AlertMetric::MeanLatencyMs => MetricName::MeanLatencyMs,
        AlertMetric::Cost => MetricName::Cost,
        AlertMetric::QuotaPercent => MetricName::QuotaPercent,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename = "AlertComparison", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(super) enum ComparisonName {
    Gt,
    Gte,
}

/// A rule as sent: fires when `metric` over a window of `windowSeconds` is above (`gt`) or
/// at least (`gte`) `threshold`.
#[derive(Debug, Object, Deserialize)]
#[oai(rename_all = "camelCase")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AlertRuleBody {
    /// `inputTokens`, `outputTokens`, `invocations`, `errors`, `meanLatencyMs`, `cost` (US
    /// dollars) or `quotaPercent` (a user's fullest quota, in percent).
    metric: MetricName,
    /// The window's length: a whole number of minutes, 60 to 2,678,400 seconds. Windows start
    /// at multiples of their length (an hour's at :00).
    #[oai(validator(minimum(value = "60"), maximum(value = "2678400"), multiple_of = "60"))]
    #[serde(deserialize_with = "body::whole_number")]
    window_seconds: u64,
    #[oai(validator(minimum(value = "0")))]
    #[serde(deserialize_with = "body::number")]
    threshold: f64,
    /// `gt` (the default) or `gte`.
    #[serde(default)]
    comparison: Option<ComparisonName>,
    /// Only this user's usage (for `quotaPercent`: only this user).
    #[serde(default)]
    user_id: Option<UserIdText>,
    /// Only calls to this model family or model (not for `quotaPercent`).
    #[serde(default)]
    model: Option<ModelScopeText>,
}

/// A rule.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct AlertRuleView {
    name: String,
    metric: MetricName,
    window_seconds: u64,
    threshold: f64,
    comparison: ComparisonName,
    user_id: Option<String>,
    model: Option<String>,
}

impl From<&AlertRule> for AlertRuleView {
    fn from(rule: &AlertRule) -> Self {
        Self {
            name: rule.name.clone(),
            metric: name_of(rule.metric),
            window_seconds: rule.window.as_secs(),
            threshold: rule.threshold,
            comparison: match rule.comparison {
                Comparison::Gt => ComparisonName::Gt,
                Comparison::Gte => ComparisonName::Gte,
            },
            user_id: rule.user.as_ref().map(ToString::to_string),
            model: rule.model.as_ref().and_then(ModelScope::model).map(str::to_owned),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct AlertRuleList {
    /// Every rule, ordered by name.
    rules: Vec<AlertRuleView>,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct DeletedAlertRule {
    /// Always `true`.
    success: bool,
    name: String,
}

/// A rule that fired for a user (or everyone) in one window.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct FiringView {
    alert: String,
    /// `firing` or `resolved`.
    state: String,
    metric: MetricName,
    /// The metric's value when it fired.
    value: f64,
    threshold: f64,
    window_seconds: u64,
    window_start: String,
    user_id: Option<String>,
    model: Option<String>,
    /// When it fired.
    at: String,
    resolved_at: Option<String>,
}

impl From<&Firing> for FiringView {
    fn from(f: &Firing) -> Self {
        Self {
            alert: f.rule.clone(),
            state: match f.state {
                FiringState::Firing => "firing",
                FiringState::Resolved => "resolved",
            }
            .to_owned(),
            metric: name_of(f.metric),
            value: f.value,
            threshold: f.threshold,
            window_seconds: f.window.as_secs(),
            window_start: f.window_start.to_string(),
            user_id: f.user.as_ref().map(ToString::to_string),
            model: f.model.clone(),
            at: f.fired_at.to_string(),
            resolved_at: f.resolved_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub(super) struct AlertList {
    /// Firings still on, newest first.
    active: Vec<FiringView>,
    /// The latest 50 firings, on or resolved, newest first.
    recent: Vec<FiringView>,
}

codes!(ListAlertRules: AUTH, ADMIN);
codes!(PutAlertRule: AUTH, ADMIN, INPUT);
codes!(DeleteAlertRule: AUTH, ADMIN, INPUT; AlertRuleNotFound);
codes!(ListAlerts: AUTH, ADMIN);

#[OpenApi(tag = "ApiTags::Monitoring")]
impl AlertsApi {
    /// List alert rules
    ///
    /// Admin only. New stores start with the monitoring seed's alarms (input tokens > 100,000
    /// per hour, errors > 10 per 5 minutes, invocations > 1,000 per hour, mean latency > 10 s
    /// over 5 minutes) and every user at 80 % and 100 % of any quota.
    #[oai(path = "/alerts/rules", method = "get", operation_id = "listAlertRules")]
    async fn rules(&self, caller: Caller) -> ApiResult<Json<AlertRuleList>, ListAlertRules> {
        let rules = self.alerts.rules(&caller.0).await?;
        Ok(Json(AlertRuleList { rules: rules.iter().map(AlertRuleView::from).collect() }))
    }

    /// Create or replace an alert rule
    ///
    /// Admin only. Every instance evaluates the rules every `TOKENMETER_ALERT_EVAL_SECS`.
    #[oai(path = "/alerts/rules/:name", method = "put", operation_id = "putAlertRule")]
    async fn put_rule(
        &self,
        caller: Caller,
        name: Path<AlertNamePath>,
        body: body::JsonBody<AlertRuleBody>,
    ) -> ApiResult<Json<AlertRuleView>, PutAlertRule> {
        let body = body.0;
        let user = body.user_id.as_deref().map(user_id).transpose()?;
        let prices = self.alerts.prices();
        let model = body.model.as_deref().map(|m| ModelScope::parse("model", m, prices)).transpose()?;
        let comparison = match body.comparison {
            Some(ComparisonName::Gte) => Comparison::Gte,
            Some(ComparisonName::Gt) | None => Comparison::Gt,
        };
        let metric = metric_of(body.metric);
        let rule = AlertRule::new(&name, metric, body.window_seconds, body.threshold, comparison, user, model)?;
        let rule = self.alerts.put_rule(&caller.0, rule).await?;
        Ok(Json((&rule).into()))
    }

    /// Delete an alert rule
    ///
    /// Admin only. Its past firings stay listed.
    #[oai(path = "/alerts/rules/:name", method = "delete", operation_id = "deleteAlertRule")]
    async fn delete_rule(
        &self,
        caller: Caller,
        name: Path<AlertNamePath>,
    ) -> ApiResult<Json<DeletedAlertRule>, DeleteAlertRule> {
        let name = AlertRule::name(&name)?;
        self.alerts.delete_rule(&caller.0, &name).await?;
        Ok(Json(DeletedAlertRule { success: true, name }))
    }

    /// List alerts
    ///
    /// Admin only. The firings still on, and the latest 50.
    #[oai(path = "/alerts", method = "get", operation_id = "listAlerts")]
    async fn alerts(&self, caller: Caller) -> ApiResult<Json<AlertList>, ListAlerts> {
        let (active, recent) = self.alerts.firings(&caller.0, 50).await?;
        Ok(Json(AlertList {
            active: active.iter().map(FiringView::from).collect(),
            recent: recent.iter().map(FiringView::from).collect(),
        }))
    }
}
