//! The stored forms both stores share, as JSON: quota rules, amounts, usage events and roll-up
//! sums. Field names are short and stable: they are the file and table formats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{
    Amounts, CounterKey, ErrorCode, EventId, EventKind, LATENCY_BUCKETS_MS, Metric, ModelScope, Money, Period,
    QuotaRule, StoreError, Timestamp, TokenUsage, Totals, UsageEvent, UserId,
};

/// Stored data that cannot be read back.
pub(crate) fn corrupt(what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {why}"))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAmounts {
    #[serde(rename = "t", default)]
    pub(crate) tokens: u64,
    #[serde(rename = "r", default)]
    pub(crate) requests: u64,
    /// Nano-dollars.
    #[serde(rename = "c", default)]
    pub(crate) cost: u64,
}

impl From<Amounts> for StoredAmounts {
    fn from(a: Amounts) -> Self {
        Self { tokens: a.tokens, requests: a.requests, cost: a.cost.nanos() }
    }
}

impl From<StoredAmounts> for Amounts {
    fn from(a: StoredAmounts) -> Self {
        Amounts { tokens: a.tokens, requests: a.requests, cost: Money::from_nanos(a.cost) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredRule {
    metric: Metric,
    period: Period,
    limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

/// A rule list as JSON.
pub(crate) fn encode_rules(rules: &[QuotaRule]) -> String {
    let stored: Vec<StoredRule> = rules
        .iter()
        .map(|rule| {
            let (family, model) = match &rule.model {
                ModelScope::Any => (None, None),
                ModelScope::Family(f) => (Some(f.clone()), None),
                ModelScope::Model(m) => (None, Some(m.clone())),
            };
            StoredRule { metric: rule.metric, period: rule.period, limit: rule.limit, family, model }
        })
        .collect();
    serde_json::to_string(&stored).expect("rules always serialize")
}

pub(crate) fn decode_rules(json: &str) -> Result<Vec<QuotaRule>, StoreError> {
    let stored: Vec<StoredRule> = serde_json::from_str(json).map_err(|e| corrupt("quota rules", e))?;
    Ok(stored
        .into_iter()
        .map(|r| QuotaRule {
            metric: r.metric,
            period: r.period,
            limit: r.limit,
            model: match (r.family, r.model) {
                (Some(family), _) => ModelScope::Family(family),
                (None, Some(model)) => ModelScope::Model(model),
                (None, None) => ModelScope::Any,
            },
        })
        .collect())
}

/// A counter key as one string: `window|scope` (neither part can hold `|`).
pub(crate) fn counter_key(key: &CounterKey) -> String {
    format!("{}|{}", key.window, key.scope)
}

pub(crate) fn parse_counter_key(raw: &str) -> Result<CounterKey, StoreError> {
    let (window, scope) = raw.split_once('|').ok_or_else(|| corrupt("counter key", raw))?;
    Ok(CounterKey { window: window.to_owned(), scope: scope.to_owned() })
}

/// A usage event as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub(crate) id: String,
    pub(crate) at: i64,
    pub(crate) user: String,
    pub(crate) model: String,
    pub(crate) kind: String,
    pub(crate) outcome: String,
    pub(crate) usage: TokenUsage,
    pub(crate) cost: u64,
    pub(crate) latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttft_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) blocked_by: Option<String>,
    pub(crate) expires: i64,
}

impl From<&UsageEvent> for StoredEvent {
    fn from(e: &UsageEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at.millis(),
            user: e.user.to_string(),
            model: e.model.clone(),
            kind: e.kind.as_str().to_owned(),
            outcome: e.outcome_str().to_owned(),
            usage: e.usage,
            cost: e.cost.nanos(),
            latency_ms: e.latency_ms,
            ttft_ms: e.time_to_first_token_ms,
            blocked_by: e.blocked_by.clone(),
            expires: e.expires_at.millis(),
        }
    }
}

impl StoredEvent {
    pub(crate) fn into_event(self) -> Result<UsageEvent, StoreError> {
        let outcome = match self.outcome.as_str() {
            "ok" => None,
            code => Some(
                *ErrorCode::ALL.iter().find(|c| c.as_str() == code).ok_or_else(|| corrupt("event outcome", code))?,
            ),
        };
        Ok(UsageEvent {
            id: EventId::parse(&self.id).ok_or_else(|| corrupt("event id", &self.id))?,
            at: Timestamp::from_millis(self.at),
            user: UserId::parse("userId", &self.user).map_err(|e| corrupt("event user", e))?,
            model: self.model,
            kind: EventKind::parse(&self.kind).ok_or_else(|| corrupt("event kind", &self.kind))?,
            outcome,
            usage: self.usage,
            cost: Money::from_nanos(self.cost),
            latency_ms: self.latency_ms,
            time_to_first_token_ms: self.ttft_ms,
            blocked_by: self.blocked_by,
            expires_at: Timestamp::from_millis(self.expires),
        })
    }
}

/// Roll-up sums as stored (the embedded store keeps them as JSON; DynamoDB as attributes of
/// the same names).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredTotals {
    pub(crate) calls: u64,
    pub(crate) records: u64,
    pub(crate) errors: u64,
    #[serde(default)]
    pub(crate) errors_by_code: BTreeMap<String, u64>,
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) cache_read: u64,
    pub(crate) cache_write: u64,
    pub(crate) cost: u64,
    pub(crate) latency_sum: u64,
    pub(crate) latency: Vec<u64>,
    pub(crate) expires: i64,
}

impl StoredTotals {
    pub(crate) fn from_totals(t: &Totals, expires: Timestamp) -> Self {
        Self {
            calls: t.calls,
            records: t.records,
            errors: t.errors,
            errors_by_code: t.errors_by_code.clone(),
            input: t.input_tokens,
            output: t.output_tokens,
            cache_read: t.cache_read_tokens,
            cache_write: t.cache_write_tokens,
            cost: t.cost.nanos(),
            latency_sum: t.latency_sum_ms,
            latency: t.latency_buckets.to_vec(),
            expires: expires.millis(),
        }
    }

    pub(crate) fn to_totals(&self) -> Totals {
        let mut buckets = [0; LATENCY_BUCKETS_MS.len()];
        for (bucket, n) in buckets.iter_mut().zip(&self.latency) {
            *bucket = *n;
        }
        Totals {
            calls: self.calls,
            records: self.records,
            errors: self.errors,
            errors_by_code: self.errors_by_code.clone(),
            input_tokens: self.input,
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            cost: Money::from_nanos(self.cost),
            latency_sum_ms: self.latency_sum,
            latency_buckets: buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        let rules = vec![
            QuotaRule { metric: Metric::Cost, period: Period::Day, limit: 5, model: ModelScope::Any },
            QuotaRule {
                metric: Metric::Tokens,
                period: Period::Month,
                limit: 7,
                model: ModelScope::Family("f".into()),
            },
            QuotaRule {
                metric: Metric::Requests,
                period: Period::Total,
                limit: 9,
                model: ModelScope::Model("m".into()),
            },
        ];
        assert_eq!(decode_rules(&encode_rules(&rules)).unwrap(), rules);
        assert!(matches!(decode_rules("{"), Err(StoreError::Corrupt(_))));
    }
}
