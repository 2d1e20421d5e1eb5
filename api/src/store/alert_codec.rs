//! Alert rules and firings as both stores keep them (JSON). Field names are short and stable:
//! they are the file and table formats.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::codec::corrupt;
use crate::domain::{
    AlertMetric, AlertRule, Comparison, Firing, FiringState, ModelScope, StoreError, Timestamp, UserId,
};

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredAlertRule {
    name: String,
    metric: String,
    window_s: u64,
    threshold: f64,
    comparison: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

impl From<&AlertRule> for StoredAlertRule {
    fn from(rule: &AlertRule) -> Self {
        Self {
            name: rule.name.clone(),
            metric: rule.metric.as_str().to_owned(),
            window_s: rule.window.as_secs(),
            threshold: rule.threshold,
            comparison: rule.comparison.as_str().to_owned(),
            user: rule.user.as_ref().map(UserId::to_string),
            family: match &rule.model {
                Some(ModelScope::Family(family)) => Some(family.clone()),
                _ => None,
            },
            model: match &rule.model {
                Some(ModelScope::Model(model)) => Some(model.clone()),
                _ => None,
            },
        }
    }
}

impl StoredAlertRule {
    pub(crate) fn into_rule(self) -> Result<AlertRule, StoreError> {
        let bad = |why: &str| corrupt("alert rule", format!("{}: {why}", self.name));
        let metric = AlertMetric::parse(&self.metric).ok_or_else(|| bad("unknown metric"))?;
        let comparison = Comparison::parse(&self.comparison).ok_or_else(|| bad("unknown comparison"))?;
        let user = self.user.as_deref().map(|u| UserId::parse("user", u).map_err(|e| bad(&e.reason))).transpose()?;
        let model = match (self.family, self.model) {
            (Some(family), _) => Some(ModelScope::Family(family)),
            (None, Some(model)) => Some(ModelScope::Model(model)),
            (None, None) => None,
        };
        AlertRule::new(&self.name, metric, self.window_s, self.threshold, comparison, user, model)
            .map_err(|e| bad(&e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct StoredFiring {
    rule: String,
    metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    window_start_ms: i64,
    window_s: u64,
    value: f64,
    threshold: f64,
    fired_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resolved_ms: Option<i64>,
}

impl From<&Firing> for StoredFiring {
    fn from(f: &Firing) -> Self {
        Self {
            rule: f.rule.clone(),
            metric: f.metric.as_str().to_owned(),
            user: f.user.as_ref().map(UserId::to_string),
            model: f.model.clone(),
            window_start_ms: f.window_start.millis(),
            window_s: f.window.as_secs(),
            value: f.value,
            threshold: f.threshold,
            fired_ms: f.fired_at.millis(),
            resolved_ms: f.resolved_at.map(Timestamp::millis),
        }
    }
}

impl StoredFiring {
    pub(crate) fn fired_ms(&self) -> i64 {
        self.fired_ms
    }

    pub(crate) fn into_firing(self) -> Result<Firing, StoreError> {
        let bad = |why: &str| corrupt("alert firing", format!("{}: {why}", self.rule));
        let user = self.user.as_deref().map(|u| UserId::parse("user", u).map_err(|e| bad(&e.reason))).transpose()?;
        Ok(Firing {
            metric: AlertMetric::parse(&self.metric).ok_or_else(|| bad("unknown metric"))?,
            user,
            model: self.model,
            window_start: Timestamp::from_millis(self.window_start_ms),
            window: Duration::from_secs(self.window_s),
            value: self.value,
            threshold: self.threshold,
            fired_at: Timestamp::from_millis(self.fired_ms),
            state: if self.resolved_ms.is_some() { FiringState::Resolved } else { FiringState::Firing },
            resolved_at: self.resolved_ms.map(Timestamp::from_millis),
            rule: self.rule,
        })
    }
}
