//! Monitoring: reports and the event log (`reports`), Prometheus metrics (`metrics`), alert
//! rules, firings and their delivery (`alerts`). Every figure is checked against what the
//! test computes itself from the events its own calls caused.

mod alerts;
mod metrics;
mod reports;

use serde_json::Value;

use crate::helpers::TestApp;

/// Every event the service logged, newest first (admin view).
async fn all_events(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.send_raw(reqwest::Method::GET, "/events?limit=500", None).await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().expect("events").clone()
}

fn is_call(event: &Value) -> bool {
    event["kind"] != "record"
}

fn number(event: &Value, field: &str) -> u64 {
    event[field].as_u64().unwrap_or_else(|| panic!("{field} of {event}"))
}
