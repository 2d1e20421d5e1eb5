//! On AWS Lambda, the figures of `/metrics` as CloudWatch embedded-metric-format (EMF) log
//! lines: after each invocation, what changed since the last one (CloudWatch sums the lines).
//! Namespace `tokenmeter`; model figures by `Model`, request counts by `Route` and `Status`.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::domain::{Metrics, MetricsSnapshot};

const NAMESPACE: &str = "tokenmeter";

/// Writes what changed in `metrics` since the previous call.
pub(super) struct EmfReporter {
    metrics: Metrics,
    last: Mutex<MetricsSnapshot>,
}

impl EmfReporter {
    pub(super) fn new(metrics: Metrics) -> Self {
        let last = Mutex::new(metrics.snapshot());
        Self { metrics, last }
    }

    /// Prints one EMF line per dimension set whose figures changed.
    #[allow(clippy::print_stdout, reason = "EMF lines go to standard output, which Lambda sends to CloudWatch Logs")]
    pub(super) fn flush(&self, at_millis: i64) {
        let now = self.metrics.snapshot();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in lines(&last, &now, at_millis) {
            println!("{line}");
        }
        *last = now;
    }
}

fn delta<K: PartialEq>(before: &[(K, u64)], key: &K, now: u64) -> u64 {
    now.saturating_sub(before.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v))
}

/// One EMF document: `dimensions` name its dimension values; `values` its metrics.
fn document(at_millis: i64, dimensions: &[(&str, &str)], values: &[(&str, &str, f64)]) -> Value {
    let mut doc = json!({
        "_aws": {
            "Timestamp": at_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": values.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        },
    });
    for (name, value) in dimensions {
        doc[*name] = json!(value);
    }
    for (name, _, value) in values {
        doc[*name] = json!(value);
    }
    doc
}

/// The EMF lines of what changed from `before` to `now`.
pub(super) fn lines(before: &MetricsSnapshot, now: &MetricsSnapshot, at_millis: i64) -> Vec<String> {
    let mut out = Vec::new();
    for ((model, outcome), calls) in &now.model_calls {
        let calls = delta(&before.model_calls, &(model.clone(), outcome.clone()), *calls);
        if calls > 0 {
            let dims = [("Model", model.as_str()), ("Outcome", outcome.as_str())];
            out.push(document(at_millis, &dims, &[("ModelCalls", "Count", calls as f64)]));
        }
    }
    for ((model, direction), tokens) in &now.tokens {
        let tokens = delta(&before.tokens, &(model.clone(), *direction), *tokens);
        if tokens > 0 {
            let name = if *direction == "input" { "InputTokens" } else { "OutputTokens" };
            out.push(document(at_millis, &[("Model", model)], &[(name, "Count", tokens as f64)]));
        }
    }
    for (model, nanos) in &now.cost_nanos {
        let nanos = delta(&before.cost_nanos, model, *nanos);
        if nanos > 0 {
            out.push(document(at_millis, &[("Model", model)], &[("CostDollars", "None", nanos as f64 / 1e9)]));
        }
    }
    for ((route, status), n) in &now.http_requests {
        let n = delta(&before.http_requests, &(route.clone(), *status), *n);
        if n > 0 {
            let status = status.to_string();
            out.push(document(at_millis, &[("Route", route), ("Status", &status)], &[("Requests", "Count", n as f64)]));
        }
    }
    let added = now.added_latency.count.saturating_sub(before.added_latency.count);
    if added > 0 {
        let mean_ms = (now.added_latency.sum_seconds - before.added_latency.sum_seconds) / added as f64 * 1_000.0;
        out.push(document(at_millis, &[], &[("AddedLatencyMs", "Milliseconds", mean_ms)]));
    }
    out.into_iter().map(|doc| doc.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lines_carry_what_changed_in_embedded_metric_format() {
        let metrics = Metrics::default();
        metrics.model_call("m", "ok", 10, 5, 2_000);
        let before = metrics.snapshot();
        metrics.model_call("m", "ok", 3, 4, 1_000);
        metrics.added_latency(Duration::from_millis(2));
        let lines: Vec<Value> = lines(&before, &metrics.snapshot(), 1_700_000_000_000)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let calls = lines.iter().find(|l| l.get("ModelCalls").is_some()).expect("a calls line");
        assert_eq!(calls["ModelCalls"], 1.0);
        assert_eq!(calls["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Model", "Outcome"]]));
        assert_eq!(calls["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let input = lines.iter().find(|l| l.get("InputTokens").is_some()).expect("an input line");
        assert_eq!(input["InputTokens"], 3.0);
        let cost = lines.iter().find(|l| l.get("CostDollars").is_some()).expect("a cost line");
        assert_eq!(cost["CostDollars"], 1e-6);
        assert!(lines.iter().any(|l| l.get("AddedLatencyMs").is_some()));
        assert!(
            super::lines(&metrics.snapshot(), &metrics.snapshot(), 0).is_empty(),
            "nothing changed, nothing written"
        );
    }
}
