//! `/metrics`: parsed by a Prometheus text-format parser, its counters agree with the events.

use std::collections::HashMap;

use prometheus_parse::{Scrape, Value as Sample};
use reqwest::Method;

use super::{all_events, is_call, number};
use crate::helpers::{ADMIN_KEY, TestApp, ask};

async fn scrape(app: &TestApp, key: Option<&str>) -> (u16, String) {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text format")
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found =
        scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)));
    match found.map(|s| &s.value) {
        Some(Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v)) => *v,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_parse_and_their_counters_agree_with_the_events() {
    let app = TestApp::spawn().await;
    app.create_user("ann", 100_000).await;
    app.create_user("tiny", 2).await;
    for prompt in ["one", "two words", "three little words"] {
        app.client.invoke_model("ann", None, &ask(prompt)).await.unwrap();
    }
    let refused = app.client.invoke_model("tiny", None, &ask("does not fit")).await;
    assert!(refused.is_err());

    let (status, text) = scrape(&app, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{text}");
    let metrics = parse(&text);
    let events = all_events(&app).await;
    let mut calls: HashMap<(String, String), u64> = HashMap::new();
    let (mut input, mut output) = (0, 0);
    for event in events.iter().filter(|e| is_call(e)) {
        let key = (event["model"].as_str().unwrap().to_owned(), event["outcome"].as_str().unwrap().to_owned());
        *calls.entry(key).or_default() += 1;
        input += number(event, "inputTokens");
        output += number(event, "outputTokens");
    }
    assert_eq!(calls.values().sum::<u64>(), 4);
    for ((model, outcome), count) in &calls {
        let counted = value(&metrics, "tokenmeter_model_calls_total", &[("model", model), ("outcome", outcome)]);
        assert_eq!(counted, *count as f64, "{model} {outcome}");
    }
    let model = events[0]["model"].as_str().unwrap();
    assert_eq!(value(&metrics, "tokenmeter_tokens_total", &[("model", model), ("direction", "input")]), input as f64);
    assert_eq!(value(&metrics, "tokenmeter_tokens_total", &[("model", model), ("direction", "output")]), output as f64);
    let cost: f64 = events.iter().map(|e| e["cost"].as_f64().unwrap()).sum();
    let counted_cost = value(&metrics, "tokenmeter_cost_dollars_total", &[("model", model)]);
    assert!((counted_cost - cost).abs() < 1e-9, "{counted_cost} vs {cost}");
    assert_eq!(value(&metrics, "tokenmeter_holds_in_flight", &[]), 0.0);
    assert_eq!(value(&metrics, "tokenmeter_http_requests_total", &[("route", "invokeModel"), ("status", "200")]), 3.0);
    assert_eq!(value(&metrics, "tokenmeter_http_requests_total", &[("route", "invokeModel"), ("status", "429")]), 1.0);
    let histogram = metrics.samples.iter().find(|s| s.metric == "tokenmeter_added_latency_seconds");
    match histogram.map(|s| &s.value) {
        Some(Sample::Histogram(buckets)) => {
            assert_eq!(buckets.last().map(|b| b.count), Some(3.0), "three calls reached the model: {buckets:?}");
        }
        other => panic!("tokenmeter_added_latency_seconds: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_need_an_admin_key_unless_made_public() {
    let app = TestApp::spawn().await;
    assert_eq!(scrape(&app, None).await.0, 401);
    app.create_user("ann", 100).await;
    let ann = app.user_key("ann").await;
    assert_eq!(scrape(&app, Some(&ann)).await.0, 403);

    let public = TestApp::builder().settings(|s| s.monitoring.metrics_public = true).spawn().await;
    let (status, text) = scrape(&public, None).await;
    assert_eq!(status, 200);
    assert!(parse(&text).samples.iter().any(|s| s.metric == "tokenmeter_holds_in_flight"));
    // A key that is sent must still be a valid one.
    assert_eq!(public.send_as(Some("tmk_nope_nope"), Method::GET, "/metrics", None).await.0, 401);
}
