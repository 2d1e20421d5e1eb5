//! `/reports/usage` and `/events` against figures computed from the events, over ranges that
//! cross hour and day boundaries on a clock the test moves; and `tokenmeter report`.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokenmeter_api::domain::{LATENCY_BUCKETS_MS, ManualClock, Timestamp};

use super::{all_events, is_call, number};
use crate::helpers::{TestApp, ask};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Calls and records spread over 22:xx and 23:xx on the 29th and 00:xx on the 30th, and a
/// refused call; answers the app and its clock (at 00:40 on the 30th).
async fn busy_evening() -> (TestApp, ManualClock) {
    let clock = ManualClock::at(at("2026-11-29T22:30:00.000Z"));
    let app = TestApp::builder().clock(clock.clone()).spawn().await;
    app.create_user("ann", 1_000_000).await;
    app.create_user("bob", 1_000_000).await;
    app.create_user("tiny", 2).await;
    let call = |user: &'static str, prompt: &'static str| {
        let client = app.client.clone();
        async move { client.invoke_model(user, None, &ask(prompt)).await.expect("invoke") }
    };
    call("ann", "first call of the evening").await;
    call("bob", "hello").await;
    app.record("ann", 700).await;
    clock.set(at("2026-11-29T23:59:59.000Z"));
    call("ann", "just before midnight").await;
    clock.set(at("2026-11-30T00:00:00.000Z"));
    call("bob", "exactly at midnight, a new hour and a new day").await;
    clock.set(at("2026-11-30T00:40:00.000Z"));
    call("ann", "a while after").await;
    // Refused: 2 tokens cannot hold a prompt and an answer.
    let refused = app.client.invoke_model("tiny", None, &ask("too big for two tokens")).await;
    assert_eq!(refused.unwrap_err().status().map(|s| s.as_u16()), Some(429));
    (app, clock)
}

/// The figures a report must show, computed from events.
struct Expected {
    invocations: u64,
    errors: u64,
    input: u64,
    output: u64,
    cost: f64,
    mean_ms: f64,
    p99_bound: u64,
}

fn expected(events: &[&Value]) -> Expected {
    let calls: Vec<&&Value> = events.iter().filter(|e| is_call(e)).collect();
    let mut ok_latencies: Vec<u64> =
        calls.iter().filter(|e| e["outcome"] == "ok").map(|e| number(e, "latencyMs")).collect();
    ok_latencies.sort_unstable();
    let rank = ((0.99 * ok_latencies.len() as f64).ceil() as usize).max(1);
    let exact_p99 = ok_latencies[rank - 1];
    Expected {
        invocations: calls.len() as u64,
        errors: calls.iter().filter(|e| e["outcome"] != "ok").count() as u64,
        input: events.iter().map(|e| number(e, "inputTokens")).sum(),
        output: events.iter().map(|e| number(e, "outputTokens")).sum(),
        cost: events.iter().map(|e| e["cost"].as_f64().unwrap()).sum(),
        mean_ms: ok_latencies.iter().sum::<u64>() as f64 / ok_latencies.len() as f64,
        // The report's p99 is the upper bound of the bucket the exact p99 falls in.
        p99_bound: *LATENCY_BUCKETS_MS.iter().find(|bound| exact_p99 <= **bound).unwrap(),
    }
}

async fn fetch_report(app: &TestApp, query: &str) -> Value {
    let (status, report) = app.send_raw(Method::GET, &format!("/reports/usage?{query}"), None).await;
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test]
async fn reports_equal_what_the_events_add_up_to_across_hours_and_days() {
    let (app, _clock) = busy_evening().await;
    let events = all_events(&app).await;
    assert_eq!(events.len(), 7, "6 calls (one refused) and a record: {events:#?}");

    let report = fetch_report(&app, "hours=3").await;
    assert_eq!(report["from"], "2026-11-29T22:00:00.000Z");
    assert_eq!(report["to"], "2026-11-30T00:40:00.000Z");
    let all: Vec<&Value> = events.iter().collect();
    let want = expected(&all);
    assert_eq!(report["invocations"], want.invocations);
    assert_eq!(report["records"], 1);
    assert_eq!(report["errors"]["count"], want.errors);
    assert_eq!(report["errors"]["byCode"]["token_limit_exceeded"], 1);
    assert_eq!(report["inputTokens"], want.input);
    assert_eq!(report["outputTokens"], want.output);
    assert_eq!(report["totalTokens"], want.input + want.output);
    assert!((report["cost"].as_f64().unwrap() - want.cost).abs() < 1e-9, "{report}");
    assert!((report["latency"]["meanMs"].as_f64().unwrap() - want.mean_ms).abs() < 1e-9);
    assert_eq!(report["latency"]["p99Ms"], want.p99_bound);
    assert_eq!(
        report["byModel"].as_array().unwrap().iter().map(|m| m["invocations"].as_u64().unwrap()).sum::<u64>(),
        want.invocations
    );

    // Hourly series: each hour holds exactly its events.
    let series = report["series"].as_array().unwrap();
    let starts: Vec<&str> = series.iter().map(|p| p["start"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2026-11-29T22:00:00.000Z", "2026-11-29T23:00:00.000Z", "2026-11-30T00:00:00.000Z"]);
    for point in series {
        let hour = &point["start"].as_str().unwrap()[..13];
        let in_hour: Vec<&Value> = events.iter().filter(|e| e["at"].as_str().unwrap().starts_with(hour)).collect();
        let want = expected_counts(&in_hour);
        assert_eq!((point["invocations"].as_u64().unwrap(), point["inputTokens"].as_u64().unwrap()), want, "{hour}");
        // And each model's part of the hour holds exactly that model's events.
        let parts = point["byModel"].as_array().unwrap();
        let mut models: Vec<&str> = in_hour.iter().map(|e| e["model"].as_str().unwrap()).collect();
        models.sort_unstable();
        models.dedup();
        assert_eq!(parts.iter().map(|m| m["model"].as_str().unwrap()).collect::<Vec<_>>(), models, "{hour}");
        for part in parts {
            let of_model: Vec<&Value> = in_hour.iter().copied().filter(|e| e["model"] == part["model"]).collect();
            let got = (part["invocations"].as_u64().unwrap(), part["inputTokens"].as_u64().unwrap());
            assert_eq!(got, expected_counts(&of_model), "{hour} {}", part["model"]);
        }
    }

    // Daily series over the same range: the 29th and the 30th.
    let daily = fetch_report(&app, "hours=3&granularity=day").await;
    let days: Vec<(&str, u64)> = daily["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_str().unwrap(), p["invocations"].as_u64().unwrap()))
        .collect();
    assert_eq!(days, [("2026-11-29T00:00:00.000Z", 3), ("2026-11-30T00:00:00.000Z", 3)]);

    // One hour back: only 00:xx.
    let last_hour = fetch_report(&app, "hours=1").await;
    assert_eq!(last_hour["invocations"], 3);
}

fn expected_counts(events: &[&Value]) -> (u64, u64) {
    (events.iter().filter(|e| is_call(e)).count() as u64, events.iter().map(|e| number(e, "inputTokens")).sum())
}

#[tokio::test]
async fn a_user_key_sees_its_own_report_and_events_and_filters_apply() {
    let (app, _clock) = busy_evening().await;
    let ann = app.user_key("ann").await;
    let (status, own) = app.send_as(Some(&ann), Method::GET, "/reports/usage?hours=3", None).await;
    assert_eq!(status, 200);
    assert_eq!(own["invocations"], 3, "ann made three calls: {own}");
    let (status, other) = app.send_as(Some(&ann), Method::GET, "/reports/usage?userId=bob", None).await;
    assert_eq!((status, other["error"].as_str()), (404, Some("user_not_found")));
    let (_, events) = app.send_as(Some(&ann), Method::GET, "/events", None).await;
    let users: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["userId"].as_str().unwrap()).collect();
    assert_eq!(users, ["ann"; 4], "three calls and a record, newest first");

    let opus = fetch_report(&app, "hours=3&model=opus").await;
    assert_eq!(opus["invocations"], 0);
    let sonnet = fetch_report(&app, "hours=3&model=sonnet").await;
    assert_eq!(sonnet["invocations"], 6);

    let (status, bad) = app.send_raw(Method::GET, "/reports/usage?hours=0", None).await;
    assert_eq!((status, bad["details"]["field"].as_str()), (400, Some("hours")), "{bad}");
    let (status, bad) = app.send_raw(Method::GET, "/reports/usage?model=gpt", None).await;
    assert_eq!((status, bad["details"]["field"].as_str()), (400, Some("model")), "{bad}");
    let (status, bad) = app.send_raw(Method::GET, "/events?before=zz", None).await;
    assert_eq!(status, 400, "{bad}");
}

#[tokio::test]
async fn the_log_pages_back_and_sorts_by_cost() {
    let (app, _clock) = busy_evening().await;
    let (_, first) = app.send_raw(Method::GET, "/events?limit=4", None).await;
    let before = first["nextBefore"].as_str().expect("a full page has a next one").to_owned();
    let (_, second) = app.send_raw(Method::GET, &format!("/events?limit=4&before={before}"), None).await;
    let ids = |page: &Value| -> Vec<String> {
        page["events"].as_array().unwrap().iter().map(|e| e["eventId"].as_str().unwrap().to_owned()).collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!((a.len(), b.len()), (4, 3));
    assert!(a.iter().all(|id| b.iter().all(|older| older < id)), "pages are newest first and do not overlap");
    assert!(second["nextBefore"].is_null());

    let (_, by_cost) = app.send_raw(Method::GET, "/events?sort=cost&hours=3&limit=2", None).await;
    let costs: Vec<f64> = by_cost["events"].as_array().unwrap().iter().map(|e| e["cost"].as_f64().unwrap()).collect();
    let mut all: Vec<f64> = all_events(&app).await.iter().map(|e| e["cost"].as_f64().unwrap()).collect();
    all.sort_by(|x, y| y.total_cmp(x));
    assert_eq!(costs, all[..2]);
}

#[tokio::test]
async fn the_month_projection_extends_the_rate_to_the_end_of_the_month() {
    let (app, clock) = busy_evening().await;
    clock.advance(Duration::from_secs(20 * 60));
    // At 01:00 on the 30th: 4 h of range (from 22:00, 3 h elapsed), 23 h left in November.
    let report = fetch_report(&app, "hours=4").await;
    let cost = report["cost"].as_f64().unwrap();
    let projected = report["projection"]["monthlyCost"].as_f64().unwrap();
    let want = cost + cost / 3.0 * 23.0;
    assert!((projected - want).abs() < 1e-8, "{projected} vs {want}: {}", report["projection"]["basis"]);
    assert!(report["projection"]["basis"].as_str().unwrap().contains("23.0 h left"));
}

#[tokio::test]
async fn tokenmeter_report_prints_the_table_against_a_running_service() {
    let (app, _clock) = busy_evening().await;
    let args = tokenmeter_api::report::ReportArgs {
        hours: 3,
        user: None,
        model: None,
        daily: false,
        format: tokenmeter_api::report::ReportFormat::Table,
        url: app.url(""),
        api_key: crate::helpers::ADMIN_KEY.into(),
    };
    let table = tokenmeter_api::report::run(&args).await.expect("report");
    assert!(table.contains("Invocations      6 (1 errors, 16.7 %)"), "{table}");
    assert!(table.contains("2026-11-30T00:00:00.000Z"), "{table}");
    let csv = tokenmeter_api::report::run(&tokenmeter_api::report::ReportArgs {
        format: tokenmeter_api::report::ReportFormat::Csv,
        ..args
    })
    .await
    .unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three hours:\n{csv}");
}
