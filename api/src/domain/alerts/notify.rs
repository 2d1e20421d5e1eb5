//! Notifications of firings and resolutions, delivered to every configured target (a webhook,
//! an SNS topic) on tasks of their own: a slow or failing target never slows a model call or
//! another target. Each delivery is retried with exponential backoff.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{Firing, FiringState};
use crate::domain::Metrics;

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    Firing,
    Resolved,
}

impl NotificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Firing => "firing",
            NotificationState::Resolved => "resolved",
        }
    }
}

/// What a target is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub state: NotificationState,
    pub firing: Firing,
}

impl Notification {
    /// The JSON every target receives: `{alert, state, metric, value, threshold, windowSeconds,
    /// userId?, model?, at}`.
    pub fn to_json(&self) -> serde_json::Value {
        let f = &self.firing;
        let at = match (self.state, f.resolved_at) {
            (NotificationState::Resolved, Some(at)) => at,
            _ => f.fired_at,
        };
        let mut body = serde_json::json!({
            "alert": f.rule,
            "state": self.state.as_str(),
            "metric": f.metric.as_str(),
            "value": f.value,
            "threshold": f.threshold,
            "windowSeconds": f.window.as_secs(),
            "windowStart": f.window_start.to_string(),
            "at": at.to_string(),
        });
        if let Some(user) = &f.user {
            body["userId"] = user.to_string().into();
        }
        if let Some(model) = &f.model {
            body["model"] = model.clone().into();
        }
        body
    }

    pub(super) fn of(firing: &Firing) -> Self {
        let state = match firing.state {
            FiringState::Firing => NotificationState::Firing,
            FiringState::Resolved => NotificationState::Resolved,
        };
        Self { state, firing: firing.clone() }
    }
}

/// Where notifications go.
#[async_trait]
pub trait AlertTarget: Send + Sync + 'static {
    /// `webhook`, `sns`: for metrics and logs.
    fn kind(&self) -> &'static str;

    /// Delivers one notification once; the error is for logs.
    async fn send(&self, notification: &Notification) -> Result<(), String>;
}

/// How many times a delivery is tried, and the wait before the first retry (doubling).
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Sends `notification` to every target, each on its own task, retrying with backoff.
pub(super) fn deliver(targets: &[Arc<dyn AlertTarget>], notification: Notification, metrics: &Metrics) {
    for target in targets {
        let (target, notification, metrics) = (Arc::clone(target), notification.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=ATTEMPTS {
                match target.send(&notification).await {
                    Ok(()) => {
                        metrics.alert_sent(&notification.firing.rule, target.kind());
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(target = target.kind(), alert = %notification.firing.rule, attempt, %error, "alert delivery failed");
                    }
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
            tracing::error!(target = target.kind(), alert = %notification.firing.rule, "alert not delivered: gave up");
        });
    }
}
