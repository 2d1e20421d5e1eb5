//! Alerts: rules as data (admin-editable, in the store), evaluated over aligned windows, with a
//! firing recorded once per rule, subject and window by a conditional write, so that of several
//! instances exactly one notifies. A firing is `resolved` (and notified again) once its
//! condition clears.
//!
//! A window of `windowSeconds` starts at a multiple of its length since the Unix epoch (an
//! hour's window at :00). Windows of whole hours are computed from the hourly roll-ups; shorter
//! ones from the events since the window started. `quotaPercent` rules look at every user (or
//! the one named): the fullest quota rule of each, a firing per user.

mod evaluate;
mod notify;

use std::time::Duration;

pub use evaluate::Alerts;
pub use notify::{AlertTarget, Notification, NotificationState};

use super::{Timestamp, UserId, ValidationError, quota::ModelScope};

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertMetric {
    InputTokens,
    OutputTokens,
    Invocations,
    Errors,
    MeanLatencyMs,
    /// US dollars.
    Cost,
    /// The fullest quota of a user, in percent.
    QuotaPercent,
}

impl AlertMetric {
    pub const ALL: [AlertMetric; 7] = [
        AlertMetric::InputTokens,
        AlertMetric::OutputTokens,
        AlertMetric::Invocations,
        AlertMetric::Errors,
        AlertMetric::MeanLatencyMs,
        AlertMetric::Cost,
        AlertMetric::QuotaPercent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertMetric::InputTokens => "inputTokens",
            AlertMetric::OutputTokens => "outputTokens",
            AlertMetric::Invocations => "invocations",
            AlertMetric::Errors => "errors",
            AlertMetric::MeanLatencyMs => "meanLatencyMs",
            AlertMetric::Cost => "cost",
            AlertMetric::QuotaPercent => "quotaPercent",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == raw)
    }
}

/// How a value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Gte,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => "gt",
            Comparison::Gte => "gte",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Comparison::Gt, Comparison::Gte].into_iter().find(|c| c.as_str() == raw)
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Gte => value >= threshold,
        }
    }
}

/// A rule: fires when `metric` over a window of `window` compares with `threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub metric: AlertMetric,
    pub window: Duration,
    pub threshold: f64,
    pub comparison: Comparison,
    /// Only this user's usage (for `quotaPercent`: only this user).
    pub user: Option<UserId>,
    /// Only calls to this model or family (not for `quotaPercent`).
    pub model: Option<ModelScope>,
}

impl AlertRule {
    pub const NAME_PATTERN: &'static str = "^[a-z0-9][a-z0-9_-]{0,63}$";
    pub const MIN_WINDOW_SECS: u64 = 60;
    pub const MAX_WINDOW_SECS: u64 = 31 * 86_400;

    /// A rule, validated: a name of 1–64 lowercase letters, digits, `-` or `_`; a window of 60 s
    /// to 31 days that is a whole number of minutes; a finite threshold of at least 0; no model
    /// on a `quotaPercent` rule.
    pub fn new(
        name: &str,
        metric: AlertMetric,
        window_secs: u64,
        threshold: f64,
        comparison: Comparison,
        user: Option<UserId>,
        model: Option<ModelScope>,
    ) -> Result<Self, ValidationError> {
        let name = Self::name(name)?;
        if !(Self::MIN_WINDOW_SECS..=Self::MAX_WINDOW_SECS).contains(&window_secs) || !window_secs.is_multiple_of(60) {
            let reason = format!(
                "must be a whole number of minutes from {} to {} seconds (got {window_secs})",
                Self::MIN_WINDOW_SECS,
                Self::MAX_WINDOW_SECS
            );
            return Err(ValidationError::new("windowSeconds", reason));
        }
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(ValidationError::new("threshold", format!("must be a number of at least 0 (got {threshold})")));
        }
        if metric == AlertMetric::QuotaPercent && model.is_some() {
            return Err(ValidationError::new("model", "does not apply to `quotaPercent`, which watches every quota"));
        }
        Ok(Self { name, metric, window: Duration::from_secs(window_secs), threshold, comparison, user, model })
    }

    /// A rule's name, validated.
    pub fn name(raw: &str) -> Result<String, ValidationError> {
        let valid = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_')));
        if valid {
            Ok(raw.to_owned())
        } else {
            Err(ValidationError::new(
                "name",
                "must be 1–64 lowercase letters, digits, `-` or `_`, starting with a letter or digit",
            ))
        }
    }

    /// The start of the window holding `at`.
    pub fn window_start(&self, at: Timestamp) -> Timestamp {
        let length = self.window.as_millis() as i64;
        Timestamp::from_millis(at.millis().div_euclid(length) * length)
    }

    /// The rules a new store starts with: the monitoring seed's four alarms, and every user at
    /// 80 % and 100 % of any quota.
    pub fn defaults() -> Vec<AlertRule> {
        use AlertMetric::*;
        use Comparison::*;
        let rule = |name: &str, metric, window_secs, threshold, comparison| {
            AlertRule::new(name, metric, window_secs, threshold, comparison, None, None).expect("valid default rule")
        };
        vec![
            rule("input-tokens-per-hour", InputTokens, 3_600, 100_000.0, Gt),
            rule("errors-per-5-minutes", Errors, 300, 10.0, Gt),
            rule("invocations-per-hour", Invocations, 3_600, 1_000.0, Gt),
            rule("mean-latency-5-minutes", MeanLatencyMs, 300, 10_000.0, Gt),
            rule("quota-80-percent", QuotaPercent, 3_600, 80.0, Gte),
            rule("quota-100-percent", QuotaPercent, 3_600, 100.0, Gte),
        ]
    }
}

/// Whether a firing is still on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiringState {
    Firing,
    Resolved,
}

/// A rule that fired for a subject (a user, or everyone) in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub rule: String,
    pub metric: AlertMetric,
    pub user: Option<UserId>,
    pub model: Option<String>,
    pub window_start: Timestamp,
    pub window: Duration,
    pub value: f64,
    pub threshold: f64,
    pub fired_at: Timestamp,
    pub state: FiringState,
    pub resolved_at: Option<Timestamp>,
}

impl Firing {
    /// What makes a firing unique: its rule, subject and window.
    pub fn id(&self) -> String {
        let subject = self.user.as_ref().map_or("*", UserId::as_str);
        format!("{}|{subject}|{}", self.rule, self.window_start.millis())
    }

    /// Whether `other` is about the same rule and subject.
    pub fn same_subject(&self, rule: &str, user: Option<&UserId>) -> bool {
        self.rule == rule && self.user.as_ref() == user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_validated_with_the_field_named() {
        let new = |name: &str, window, threshold, metric| {
            AlertRule::new(name, metric, window, threshold, Comparison::Gt, None, None).map_err(|e| e.field)
        };
        assert_eq!(new("Bad Name", 60, 1.0, AlertMetric::Errors).unwrap_err(), "name");
        assert_eq!(new("-dash-first", 60, 1.0, AlertMetric::Errors).unwrap_err(), "name");
        assert_eq!(new("ok", 59, 1.0, AlertMetric::Errors).unwrap_err(), "windowSeconds");
        assert_eq!(new("ok", 90, 1.0, AlertMetric::Errors).unwrap_err(), "windowSeconds");
        assert_eq!(new("ok", 60, -1.0, AlertMetric::Errors).unwrap_err(), "threshold");
        assert_eq!(new("ok", 60, f64::NAN, AlertMetric::Errors).unwrap_err(), "threshold");
        assert!(new("ok_1-b", 120, 0.0, AlertMetric::Cost).is_ok());
        assert_eq!(AlertRule::defaults().len(), 6);
    }

    #[test]
    fn windows_align_to_their_length() {
        let rule = AlertRule::new("r", AlertMetric::Errors, 300, 1.0, Comparison::Gt, None, None).unwrap();
        let at: Timestamp = "2026-11-30T10:07:59.000Z".parse().unwrap();
        assert_eq!(rule.window_start(at), "2026-11-30T10:05:00.000Z".parse().unwrap());
        assert!(Comparison::Gte.holds(1.0, 1.0) && !Comparison::Gt.holds(1.0, 1.0));
    }
}
