//! `GET /metrics`: this instance's counters in Prometheus' text exposition format (0.0.4),
//! named by Prometheus' conventions (`_total` counters, `_seconds` histograms, base units).

use std::fmt::Write as _;

use poem_openapi::{ApiResponse, OpenApi, payload::PlainText};

use super::{
    ApiTags,
    auth::MaybeCaller,
    error::{ADMIN, AUTH, ApiResult, codes},
};
use crate::domain::{Histogram, MetricsSnapshot, Reports, SECONDS_BUCKETS};

pub(super) struct MetricsApi {
    pub(super) reports: Reports,
}

#[derive(ApiResponse)]
pub(super) enum MetricsText {
    /// The metrics, as Prometheus scrapes them.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4; charset=utf-8")]
    Ok(PlainText<String>),
}

codes!(GetMetrics: AUTH, ADMIN);

#[OpenApi(tag = "ApiTags::Monitoring")]
impl MetricsApi {
    /// Prometheus metrics
    ///
    /// This instance's requests, model calls, tokens, cost, latency (ours and the model's),
    /// holds in flight, store operations, settlement losses, alerts sent and outage figures,
    /// in Prometheus' text format. Admin key, or no key at all when the service runs with
    /// `TOKENMETER_METRICS_PUBLIC=on`.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, caller: MaybeCaller) -> ApiResult<MetricsText, GetMetrics> {
        let snapshot = self.reports.metrics(caller.0.as_ref())?;
        Ok(MetricsText::Ok(PlainText(render(&snapshot))))
    }
}

/// Writes one metric family: its help, type and samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape(text));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        for (bound, count) in SECONDS_BUCKETS.iter().zip(h.buckets) {
            cumulative += count;
            let le = bound.to_string();
            self.sample(&format!("{name}_bucket"), &[labels, &[("le", &le)]].concat(), cumulative);
        }
        self.sample(&format!("{name}_bucket"), &[labels, &[("le", "+Inf")]].concat(), h.count);
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count);
    }
}

/// A label value as the format writes it: backslash, quote and newline escaped.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The snapshot in Prometheus' text format.
pub(super) fn render(m: &MetricsSnapshot) -> String {
    let mut out = Exposition(String::new());
    out.family("tokenmeter_http_requests_total", "counter", "HTTP requests answered, by operation and status.");
    for ((route, status), n) in &m.http_requests {
        out.sample("tokenmeter_http_requests_total", &[("route", route), ("status", &status.to_string())], n);
    }
    out.family("tokenmeter_model_calls_total", "counter", "Model calls that ended, by model and outcome.");
    for ((model, outcome), n) in &m.model_calls {
        out.sample("tokenmeter_model_calls_total", &[("model", model), ("outcome", outcome)], n);
    }
    out.family("tokenmeter_tokens_total", "counter", "Tokens charged for model calls, by model and direction.");
    for ((model, direction), n) in &m.tokens {
        out.sample("tokenmeter_tokens_total", &[("model", model), ("direction", direction)], n);
    }
    out.family("tokenmeter_cost_dollars_total", "counter", "US dollars charged for model calls, by model.");
    for (model, nanos) in &m.cost_nanos {
        out.sample("tokenmeter_cost_dollars_total", &[("model", model)], *nanos as f64 / 1e9);
    }
    out.family(
        "tokenmeter_added_latency_seconds",
        "histogram",
        "Time a call spent in tokenmeter, model time excluded.",
    );
    out.histogram("tokenmeter_added_latency_seconds", &[], &m.added_latency);
    out.family("tokenmeter_model_latency_seconds", "histogram", "Time the model took to answer or fail, by model.");
    for (model, h) in &m.model_latency {
        out.histogram("tokenmeter_model_latency_seconds", &[("model", model)], h);
    }
    out.family("tokenmeter_store_operation_seconds", "histogram", "Store operations on the call path, by result.");
    for ((operation, result), h) in &m.store_ops {
        out.histogram("tokenmeter_store_operation_seconds", &[("operation", operation), ("result", result)], h);
    }
    out.family("tokenmeter_store_errors_total", "counter", "Store operations on the call path that failed.");
    for ((operation, result), h) in &m.store_ops {
        if *result == "error" {
            out.sample("tokenmeter_store_errors_total", &[("operation", operation)], h.count);
        }
    }
    out.family("tokenmeter_holds_in_flight", "gauge", "Holds taken by calls still running on this instance.");
    out.sample("tokenmeter_holds_in_flight", &[], m.holds_in_flight);
    out.counter(
        "tokenmeter_settlement_losses_total",
        "Calls charged less than they used because their hold was lost.",
        m.settlement_losses,
    );
    out.counter(
        "tokenmeter_settlement_lost_tokens_total",
        "Tokens those calls used beyond their charge.",
        m.lost_tokens,
    );
    out.counter(
        "tokenmeter_count_tokens_calls_total",
        "Calls to the provider's token counter before a call.",
        m.count_tokens_calls,
    );
    out.counter("tokenmeter_leases_opened_total", "Leases taken for hot users' calls.", m.leases_opened);
    out.counter(
        "tokenmeter_lease_calls_total",
        "Calls admitted from a lease, with no store step of their own.",
        m.lease_calls,
    );
    out.counter(
        "tokenmeter_lease_settlements_total",
        "Settlements that charged a batch of a lease's calls in one step.",
        m.lease_settlements,
    );
    out.family("tokenmeter_alerts_sent_total", "counter", "Alert notifications delivered, by alert and target.");
    for ((alert, target), n) in &m.alerts_sent {
        out.sample("tokenmeter_alerts_sent_total", &[("alert", alert), ("target", target)], n);
    }
    out.counter(
        "tokenmeter_outage_admissions_total",
        "Calls admitted from a user's last known state while the store was unavailable.",
        m.outage_admissions,
    );
    out.counter(
        "tokenmeter_outbox_written_total",
        "Settlements written to the outbox during an outage.",
        m.outbox_written,
    );
    out.counter("tokenmeter_outbox_replayed_total", "Outbox settlements replayed into the store.", m.outbox_replayed);
    out.counter(
        "tokenmeter_outage_overshoot_tokens_total",
        "Tokens replayed past a user's limit after an outage.",
        m.outage_overshoot_tokens,
    );
    out.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::Metrics;

    #[test]
    fn label_values_are_escaped_and_histograms_cumulative() {
        let metrics = Metrics::default();
        metrics.http_request("say \"hi\"\\\n", 200);
        metrics.added_latency(Duration::from_millis(3));
        metrics.added_latency(Duration::from_secs(1_000));
        let text = render(&metrics.snapshot());
        assert!(text.contains(r#"tokenmeter_http_requests_total{route="say \"hi\"\\\n",status="200"} 1"#), "{text}");
        assert!(text.contains("tokenmeter_added_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("tokenmeter_added_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("tokenmeter_added_latency_seconds_bucket{le=\"300\"} 1\n"), "{text}");
        assert!(text.contains("tokenmeter_added_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("tokenmeter_added_latency_seconds_count 2\n"));
    }
}
