//! Alert rules over HTTP, and firings: once per rule and window with two instances on one
//! store, retried when the webhook fails, `resolved` when the condition clears, and never in
//! the way of a model call.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::Value;
use tokenmeter_api::{
    domain::{AlertTarget, ManualClock, Timestamp},
    notify::WebhookTarget,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::{TestApp, ask, eventually};

/// Fires when a user makes more than 2 calls in an hour.
const BUSY_RULE: &str = r#"{"metric": "invocations", "windowSeconds": 3600, "threshold": 2, "userId": "ann"}"#;

async fn webhook() -> (MockServer, Vec<Arc<dyn AlertTarget>>) {
    let server = MockServer::start().await;
    let target: Arc<dyn AlertTarget> = Arc::new(WebhookTarget::new(&format!("{}/hook", server.uri())).unwrap());
    (server, vec![target])
}

async fn hooks(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().map(|r| serde_json::from_slice(&r.body).expect("JSON notification")).collect()
}

async fn busy_ann(app: &TestApp) {
    app.create_user("ann", 1_000_000).await;
    assert_eq!(app.send_raw(Method::PUT, "/alerts/rules/ann-busy", Some(BUSY_RULE)).await.0, 200);
    for prompt in ["one", "two", "three"] {
        app.client.invoke_model("ann", None, &ask(prompt)).await.unwrap();
    }
}

#[tokio::test]
async fn a_firing_is_sent_once_per_window_by_one_of_two_instances_then_resolved() {
    let (hook, targets) = webhook().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(204)).mount(&hook).await;
    let clock = ManualClock::at("2026-11-30T10:15:00.000Z".parse::<Timestamp>().unwrap());
    let first = TestApp::builder().clock(clock.clone()).alert_targets(targets).spawn().await;
    let second = first.second_instance().await;
    busy_ann(&first).await;

    let (a, b) = tokio::join!(first.services.alerts.evaluate(), second.services.alerts.evaluate());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "exactly one instance claims the firing");
    let (a, b) = tokio::join!(first.services.alerts.evaluate(), second.services.alerts.evaluate());
    assert_eq!(a.unwrap() + b.unwrap(), 0, "the same window does not fire again");
    eventually("the webhook hears of the firing", Duration::from_secs(10), || async { hooks(&hook).await.len() == 1 })
        .await;
    let fired = &hooks(&hook).await[0];
    assert_eq!(fired["alert"], "ann-busy");
    assert_eq!(fired["state"], "firing");
    assert_eq!(
        (fired["metric"].as_str(), fired["value"].as_f64(), fired["threshold"].as_f64()),
        (Some("invocations"), Some(3.0), Some(2.0))
    );
    assert_eq!((fired["windowSeconds"].as_u64(), fired["userId"].as_str()), (Some(3600), Some("ann")));
    let (_, listed) = first.send_raw(Method::GET, "/alerts", None).await;
    assert_eq!(listed["active"][0]["alert"], "ann-busy", "{listed}");

    // The next hour's window starts empty: the condition clears.
    clock.set("2026-11-30T11:00:01.000Z".parse().unwrap());
    let (a, b) = tokio::join!(first.services.alerts.evaluate(), second.services.alerts.evaluate());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one instance resolves it");
    eventually("the webhook hears it resolved", Duration::from_secs(10), || async { hooks(&hook).await.len() == 2 })
        .await;
    assert_eq!(hooks(&hook).await[1]["state"], "resolved");
    let (_, listed) = second.send_raw(Method::GET, "/alerts", None).await;
    assert_eq!(listed["active"].as_array().map(Vec::len), Some(0), "{listed}");
    assert_eq!(listed["recent"][0]["state"], "resolved");
    assert_eq!(listed["recent"][0]["resolvedAt"], "2026-11-30T11:00:01.000Z");
}

#[tokio::test]
async fn a_failing_webhook_is_retried_until_it_answers() {
    let (hook, targets) = webhook().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&hook)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).with_priority(2).mount(&hook).await;
    let app = TestApp::builder().alert_targets(targets).spawn().await;
    busy_ann(&app).await;
    assert_eq!(app.services.alerts.evaluate().await.unwrap(), 1);
    eventually("two failures, then a delivery", Duration::from_secs(10), || async { hooks(&hook).await.len() == 3 })
        .await;
    let sent = hooks(&hook).await;
    assert!(sent.iter().all(|h| h == &sent[0]), "each attempt sends the same notification");
    let app_ref = &app;
    eventually("the delivery is counted", Duration::from_secs(5), || async move {
        let (_, text) = app_ref.send_raw(Method::GET, "/metrics", None).await;
        text.as_str()
            .is_some_and(|t| t.contains(r#"tokenmeter_alerts_sent_total{alert="ann-busy",target="webhook"} 1"#))
    })
    .await;
}

#[tokio::test]
async fn a_slow_webhook_never_slows_a_model_call() {
    let (hook, targets) = webhook().await;
    let slow = ResponseTemplate::new(200).set_delay(Duration::from_secs(60));
    Mock::given(method("POST")).respond_with(slow).mount(&hook).await;
    let app = TestApp::builder().alert_targets(targets).spawn().await;
    busy_ann(&app).await;
    let evaluated = tokio::time::timeout(Duration::from_secs(10), app.services.alerts.evaluate()).await;
    assert_eq!(evaluated.expect("evaluation does not wait for deliveries").unwrap(), 1);
    eventually("the webhook is being called", Duration::from_secs(10), || async { !hooks(&hook).await.is_empty() })
        .await;
    let prompt = ask("still fast");
    let call = tokio::time::timeout(Duration::from_secs(10), app.client.invoke_model("ann", None, &prompt));
    assert!(call.await.expect("a call while the webhook hangs finishes").is_ok());
}

#[tokio::test]
async fn rules_are_data_admins_edit_with_clear_errors() {
    let app = TestApp::spawn().await;
    let (status, rules) = app.send_raw(Method::GET, "/alerts/rules", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = rules["rules"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "errors-per-5-minutes",
            "input-tokens-per-hour",
            "invocations-per-hour",
            "mean-latency-5-minutes",
            "quota-100-percent",
            "quota-80-percent"
        ]
    );
    let spend =
        r#"{"metric": "cost", "windowSeconds": 86400, "threshold": 25.5, "comparison": "gte", "model": "opus"}"#;
    let (status, rule) = app.send_raw(Method::PUT, "/alerts/rules/opus-spend", Some(spend)).await;
    assert_eq!(status, 200, "{rule}");
    assert_eq!((rule["comparison"].as_str(), rule["model"].as_str()), (Some("gte"), Some("opus")));

    for (body, field) in [
        (r#"{"metric": "vibes", "windowSeconds": 60, "threshold": 1}"#, "metric"),
        (r#"{"metric": "errors", "windowSeconds": 90, "threshold": 1}"#, "windowSeconds"),
        (r#"{"metric": "errors", "windowSeconds": 60, "threshold": -1}"#, "threshold"),
        (r#"{"metric": "quotaPercent", "windowSeconds": 60, "threshold": 80, "model": "opus"}"#, "model"),
        (r#"{"metric": "errors", "windowSeconds": 60, "threshold": 1, "extra": true}"#, "extra"),
    ] {
        let (status, error) = app.send_raw(Method::PUT, "/alerts/rules/bad", Some(body)).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error.to_string().contains(field), "{body}: {error}");
    }
    let (status, _) = app.send_raw(Method::PUT, "/alerts/rules/Bad%20Name", Some(BUSY_RULE)).await;
    assert_eq!(status, 400);
    assert_eq!(app.send_raw(Method::DELETE, "/alerts/rules/opus-spend", None).await.0, 200);
    let (status, gone) = app.send_raw(Method::DELETE, "/alerts/rules/opus-spend", None).await;
    assert_eq!((status, gone["error"].as_str()), (404, Some("alert_rule_not_found")));
}

#[tokio::test]
async fn quota_rules_fire_per_user_at_their_percentage() {
    let app = TestApp::spawn().await;
    app.create_user("full", 100).await;
    app.create_user("idle", 100).await;
    app.record("full", 85).await;
    assert!(app.services.alerts.evaluate().await.unwrap() >= 1);
    let (_, listed) = app.send_raw(Method::GET, "/alerts", None).await;
    let active: Vec<(&str, &str)> = listed["active"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["alert"].as_str().unwrap(), f["userId"].as_str().unwrap()))
        .collect();
    assert_eq!(active, [("quota-80-percent", "full")], "{listed}");
}
